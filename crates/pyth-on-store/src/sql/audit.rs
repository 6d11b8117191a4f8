//! `AuditStore`, both backends, and `append`, which every audited mutation calls inside its
//! own write transaction after [`super::lock_user`]: SQLite's write lock (`BEGIN IMMEDIATE`)
//! or PostgreSQL's per-user advisory lock makes read-previous-then-insert atomic (across
//! nodes on PostgreSQL), so the chain cannot fork.
//!
//! One copy for both backends: compiled in `sqlite` and in `postgres`, `super` being the
//! backend and its dialect (see "The store code" in the crate README).

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::Row;
use uuid::Uuid;

use super::{
    commit_after, id, lock_user, opt_uuid_col, uuid_col, BackendStore, Db, DbConn, DbRow, WriteTx,
    COMMIT_IN_STATEMENT, WRITABLE_WITH,
};
use crate::audit_chain::{audit_hash, canonical_json, AuditEntry, AuditEvent, GENESIS_HASH};
use crate::error::{StoreError, StoreResult};
use crate::model::{from_unix_ms, to_unix_ms, truncate_to_millis};
use crate::traits::AuditStore;

const ENTRY_COLUMNS: &str = "audit_entry_id, user_id, seq, at, action, resource, outcome, ip, \
                             auth_method, api_key_id, details, prev_hash, hash";

/// Appends `event` to its user's chain on `conn`, which must be inside a transaction holding
/// the user's lock.
pub(super) async fn append(conn: &mut DbConn, event: &AuditEvent) -> StoreResult<AuditEntry> {
    static HEAD: LazyLock<String> = LazyLock::new(|| format!("select {}", head_columns("$1")));
    let (seq, hash): (Option<i64>, Option<Vec<u8>>) = sqlx::query_as(HEAD.as_str())
        .bind(id(event.user_id))
        .fetch_one(&mut *conn)
        .await?;
    append_after(conn, event, seq.zip(hash)).await
}

/// The newest entry of a user's chain as two columns of a larger statement's `select` or
/// `returning` (its `seq` and `hash`, both null for an empty chain), so that reading it costs
/// no statement of its own (also [`append`]'s own read); `user` is the parameter naming the user.
pub(super) fn head_columns(user: &str) -> String {
    format!(
        "(select seq from audit_entry where user_id = {user} order by seq desc limit 1), \
         (select hash from audit_entry where user_id = {user} order by seq desc limit 1)"
    )
}

/// [`append`] with the chain's head already read (under the same lock): `(seq, hash)` of its
/// newest entry, `None` for an empty chain.
pub(super) async fn append_after(
    conn: &mut DbConn,
    event: &AuditEvent,
    head: Option<(i64, Vec<u8>)>,
) -> StoreResult<AuditEntry> {
    static INSERT: LazyLock<String> = LazyLock::new(|| insert_sql(""));
    insert_entry(conn, INSERT.as_str(), event, head, &[]).await
}

/// [`append_after`] as the transaction's last statement: commits `tx` (with the insert, one
/// round trip, where the backend can: [`super::COMMIT_IN_STATEMENT`]).
pub(super) async fn append_after_and_commit(
    mut tx: WriteTx,
    event: &AuditEvent,
    head: Option<(i64, Vec<u8>)>,
) -> StoreResult<AuditEntry> {
    static INSERT: LazyLock<String> = LazyLock::new(|| insert_sql(COMMIT_IN_STATEMENT));
    let entry = insert_entry(&mut tx, INSERT.as_str(), event, head, &[]).await?;
    commit_after(tx).await?;
    Ok(entry)
}

/// [`append_after_and_commit`] with another change made in the same round trip: `sql` is
/// [`insert_after_sql`] of it, `extra` its parameters from `$14` on.
pub(super) async fn append_with_and_commit(
    mut tx: WriteTx,
    sql: &str,
    event: &AuditEvent,
    head: Option<(i64, Vec<u8>)>,
    extra: &[i64],
) -> StoreResult<AuditEntry> {
    let entry = insert_entry(&mut tx, sql, event, head, extra).await?;
    commit_after(tx).await?;
    Ok(entry)
}

/// The insert of one entry that commits, after `before`, a write that returns nothing and
/// may use the entry's parameters (`$2` its user, `$4` its time) and its own from `$14` on:
/// first in SQLite's list of statements, a data-modifying `with` in PostgreSQL's one.
pub(super) fn insert_after_sql(before: &str) -> String {
    let insert = insert_sql(COMMIT_IN_STATEMENT);
    if WRITABLE_WITH {
        format!("with before as ({before} returning 1) {insert}")
    } else {
        format!("{before}; {insert}")
    }
}

/// The insert of one entry, followed by `then`.
fn insert_sql(then: &str) -> String {
    format!(
        "insert into audit_entry (audit_entry_id, user_id, seq, at, action, resource, outcome, \
         ip, auth_method, api_key_id, details, prev_hash, hash, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $4, $4){then}"
    )
}

/// Runs `sql` ([`insert_sql`]) for `event` after `head`, `extra` bound from `$14` on.
async fn insert_entry(
    conn: &mut DbConn,
    sql: &str,
    event: &AuditEvent,
    head: Option<(i64, Vec<u8>)>,
    extra: &[i64],
) -> StoreResult<AuditEntry> {
    let (query, entry) = entry_query(sql, event, head)?;
    let query = extra.iter().fold(query, |q, value| q.bind(*value));
    query.execute(&mut *conn).await?;
    Ok(entry)
}

/// The entry `event` makes after `head` (`(seq, hash)` of the chain's newest entry, `None` for
/// an empty chain), and `sql` with the entry's columns bound as `$1` to `$13` in
/// [`insert_sql`]'s order (`$3` its `seq`, `$12` the previous hash, `$13` its own).
pub(super) fn entry_query<'q>(
    sql: &'q str,
    event: &'q AuditEvent,
    head: Option<(i64, Vec<u8>)>,
) -> StoreResult<(Change<'q>, AuditEntry)> {
    let (seq, prev_hash) = match head {
        Some((seq, hash)) => (seq + 1, hex::encode(hash)),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let hash = audit_hash(&prev_hash, event);
    let query = sqlx::query(sql)
        .bind(id(event.id))
        .bind(id(event.user_id))
        .bind(seq)
        .bind(to_unix_ms(event.at))
        .bind(&event.action)
        .bind(&event.resource)
        .bind(&event.outcome)
        .bind(&event.ip)
        .bind(&event.auth_method)
        .bind(event.api_key_id.map(id))
        .bind(canonical_json(&event.details))
        .bind(decode_hash(&prev_hash)?)
        .bind(decode_hash(&hash)?);
    let entry = AuditEntry {
        id: event.id,
        user_id: event.user_id,
        seq,
        at: truncate_to_millis(event.at),
        action: event.action.clone(),
        resource: event.resource.clone(),
        outcome: event.outcome.clone(),
        ip: event.ip.clone(),
        auth_method: event.auth_method.clone(),
        api_key_id: event.api_key_id,
        details: event.details.clone(),
        prev_hash,
        hash,
    };
    Ok((query, entry))
}

/// True in a statement of [`entry_query`]'s parameters while the entry's previous hash (`$12`)
/// is still the newest of its user's (`$2`) chain, as the entry's `seq` (`$3`) supposes.
pub(super) const HEAD_IS_PREVIOUS: &str = "(select seq from audit_entry where user_id = $2 \
     order by seq desc limit 1) = $3 - 1 and (select hash from audit_entry where user_id = $2 \
     order by seq desc limit 1) = $12";

/// [`insert_sql`] that inserts only while [`HEAD_IS_PREVIOUS`] holds, returning the entry's
/// `seq` when it did, followed by `then`.
pub(super) fn insert_if_head_sql(then: &str) -> String {
    format!(
        "insert into audit_entry (audit_entry_id, user_id, seq, at, action, resource, outcome, \
         ip, auth_method, api_key_id, details, prev_hash, hash, created_at, updated_at) \
         select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $4, $4 \
         where {HEAD_IS_PREVIOUS} returning seq{then}"
    )
}

fn decode_hash(hex_hash: &str) -> StoreResult<Vec<u8>> {
    hex::decode(hex_hash).map_err(|e| StoreError::corrupt("audit hash", e))
}

fn entry_from_row(row: &DbRow) -> StoreResult<AuditEntry> {
    let details: String = row.try_get("details")?;
    let prev_hash: Vec<u8> = row.try_get("prev_hash")?;
    let hash: Vec<u8> = row.try_get("hash")?;
    Ok(AuditEntry {
        id: uuid_col(row, "audit_entry_id")?,
        user_id: uuid_col(row, "user_id")?,
        seq: row.try_get("seq")?,
        at: from_unix_ms(row.try_get("at")?)?,
        action: row.try_get("action")?,
        resource: row.try_get("resource")?,
        outcome: row.try_get("outcome")?,
        ip: row.try_get("ip")?,
        auth_method: row.try_get("auth_method")?,
        api_key_id: opt_uuid_col(row, "api_key_id")?,
        details: serde_json::from_str(&details)
            .map_err(|e| StoreError::corrupt("audit details", e))?,
        prev_hash: hex::encode(prev_hash),
        hash: hex::encode(hash),
    })
}

/// A statement that changes one user's rows, its parameters bound.
pub(super) type Change<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>;

impl BackendStore {
    /// Runs `change` in a write transaction under `user_id`'s lock and, when it changed a row,
    /// appends `audit` in the same transaction; `false`, with nothing written, when it changed
    /// none.
    pub(super) async fn change_audited(
        &self,
        user_id: Uuid,
        change: Change<'_>,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        lock_user(&mut tx, user_id).await?;
        let done = change.execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let entry = append(&mut tx, audit).await?;
        tx.commit().await?;
        self.remember_head(&entry)?;
        Ok(true)
    }
}

#[async_trait]
impl AuditStore for BackendStore {
    #[tracing::instrument(skip_all, fields(user.id = %event.user_id, audit.action = %event.action))]
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<AuditEntry> {
        let mut tx = self.begin_write().await?;
        lock_user(&mut tx, event.user_id).await?;
        let entry = append(&mut tx, event).await?;
        tx.commit().await?;
        self.remember_head(&entry)?;
        Ok(entry)
    }

    async fn list_audit(
        &self,
        user_id: Uuid,
        limit: u32,
        before_seq: Option<i64>,
        action_prefix: Option<&str>,
    ) -> StoreResult<Vec<AuditEntry>> {
        // substr() compares literally: a prefix containing '%' or '_' is not a pattern. The
        // casts give PostgreSQL the types of parameters that may be null.
        let sql = format!(
            "select {ENTRY_COLUMNS} from audit_entry where user_id = $1 \
             and (cast($2 as bigint) is null or seq < $2) \
             and (cast($3 as text) is null or substr(action, 1, length($3)) = $3) \
             order by seq desc limit $4"
        );
        let rows = sqlx::query(&sql)
            .bind(id(user_id))
            .bind(before_seq)
            .bind(action_prefix)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.reader().await?)
            .await?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn audit_chain(&self, user_id: Uuid) -> StoreResult<Vec<AuditEntry>> {
        let sql =
            format!("select {ENTRY_COLUMNS} from audit_entry where user_id = $1 order by seq");
        let rows = sqlx::query(&sql)
            .bind(id(user_id))
            .fetch_all(&mut *self.reader().await?)
            .await?;
        rows.iter().map(entry_from_row).collect()
    }
}
