//! A run's record in one round trip, where the node remembers the head of the user's audit
//! chain ([`crate::audit_heads`]; SQLite only: `remembered_heads` is `None` on PostgreSQL).
//!
//! An audit entry's hash needs the chain's head, so the two-statement path of
//! `sql/runs.rs` reads the head with the record's first statement and inserts the entry in
//! the second. Here the head is the one this node last wrote for the user, and every change in
//! the one statement list holds only while that is still the chain's newest entry
//! ([`audit::HEAD_IS_PREVIOUS`], checked inside the transaction, under the write lock). So
//! either all of it is written or none of it is, and then the caller takes the
//! two-statement path. The remembered head only ever saves a round trip: the chain never
//! depends on it.
//!
//! One copy for both backends: compiled in `sqlite` and in `postgres`, `super` being the
//! backend and its dialect (see "The store code" in the crate README).

use std::sync::LazyLock;

use uuid::Uuid;

use super::{
    audit, commit_after, id, quotas, BackendStore, WriteTx, BEGIN_IN_STATEMENT, COMMIT_IN_STATEMENT,
};
use crate::audit_chain::{AuditEntry, AuditEvent};
use crate::audit_heads::AuditHeads;
use crate::error::{StoreError, StoreResult};
use crate::model::{to_unix_ms, CpuCharge, OpenRun};

impl BackendStore {
    /// Puts `run` on the record with its `started` entry in one round trip: `true` when it
    /// did, `false` when it wrote nothing (no head remembered for the user, or no longer the
    /// head).
    pub(super) async fn begin_run_after_remembered(
        &self,
        run: &OpenRun,
        started: &AuditEvent,
    ) -> StoreResult<bool> {
        let Some(heads) = self.remembered_heads() else {
            return Ok(false);
        };
        if heads.get(run.user_id).is_none() {
            return Ok(false);
        }
        // The entry's parameters are $1 to $13 (`audit::entry_query`), the run's from $14.
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "{BEGIN_IN_STATEMENT}insert into run_record (execution_id, user_id, node, \
                 action, resource, ip, auth_method, api_key_id, started_at, deadline_at, \
                 created_at, updated_at) \
                 select $14, $2, $15, $16, $17, $18, $19, $20, $21, $22, $21, $21 where {}; {}",
                audit::HEAD_IS_PREVIOUS,
                audit::insert_if_head_sql(COMMIT_IN_STATEMENT)
            )
        });
        let tx = self.begin_write_in_statement().await?;
        let head = heads.get(run.user_id);
        let (query, entry) = audit::entry_query(SQL.as_str(), started, head)?;
        let query = query
            .bind(id(run.execution_id))
            .bind(&run.node)
            .bind(&run.action)
            .bind(&run.resource)
            .bind(&run.ip)
            .bind(&run.auth_method)
            .bind(run.api_key_id.map(id))
            .bind(to_unix_ms(run.started_at))
            .bind(to_unix_ms(run.deadline_at));
        send_in_one(heads, tx, query, &entry).await
    }

    /// Takes run `execution_id` off the record with its `outcome` entry and `cpu` charge in
    /// one round trip: `true` when it did, `false` when it wrote nothing (as
    /// [`Self::begin_run_after_remembered`]). A run already off the record (closed as
    /// interrupted) still gets its outcome, as on the two-statement path.
    pub(super) async fn end_run_after_remembered(
        &self,
        execution_id: Uuid,
        outcome: &AuditEvent,
        cpu: Option<CpuCharge>,
    ) -> StoreResult<bool> {
        let Some(heads) = self.remembered_heads() else {
            return Ok(false);
        };
        if heads.get(outcome.user_id).is_none() {
            return Ok(false);
        }
        // The entry's parameters are $1 to $13, the run's id $14, the charge's day and CPU
        // time $15 and $16.
        static WITHOUT_CHARGE: LazyLock<String> = LazyLock::new(|| end_sql(""));
        static WITH_CHARGE: LazyLock<String> = LazyLock::new(|| {
            end_sql(&quotas::charge_sql_if(
                ["$2", "$15", "$16", "$4"],
                audit::HEAD_IS_PREVIOUS,
            ))
        });
        let tx = self.begin_write_in_statement().await?;
        let head = heads.get(outcome.user_id);
        let (query, entry) = match cpu {
            Some(charge) => {
                let (query, entry) = audit::entry_query(WITH_CHARGE.as_str(), outcome, head)?;
                let query = query.bind(id(execution_id)).bind(charge.day);
                (query.bind(charge.cpu_ms.max(0)), entry)
            }
            None => {
                let (query, entry) = audit::entry_query(WITHOUT_CHARGE.as_str(), outcome, head)?;
                (query.bind(id(execution_id)), entry)
            }
        };
        send_in_one(heads, tx, query, &entry).await
    }

    /// Remembers `entry` as its user's newest, where this backend remembers heads.
    pub(super) fn remember_head(&self, entry: &AuditEntry) -> StoreResult<()> {
        if let Some(heads) = self.remembered_heads() {
            heads.set(entry.user_id, (entry.seq, raw_hash(entry)?));
        }
        Ok(())
    }

    /// Forgets `user`'s remembered head.
    pub(super) fn forget_head(&self, user: Uuid) {
        if let Some(heads) = self.remembered_heads() {
            heads.forget(user);
        }
    }
}

/// Sends a one-round-trip record (`query`, which returns the `seq` of `entry` if it was
/// inserted) on `tx`: `true` when it was written. The head is remembered, or forgotten when
/// stale, while the writing connection is still held, so the next one-round-trip writer reads
/// the head this one left (the other paths remember theirs after letting go: a race there
/// costs a miss, nothing else).
async fn send_in_one(
    heads: &AuditHeads,
    mut tx: WriteTx,
    query: audit::Change<'_>,
    entry: &AuditEntry,
) -> StoreResult<bool> {
    // Before anything is written: a record that lands is never reported as an error.
    let head = (entry.seq, raw_hash(entry)?);
    let inserted = !query.fetch_all(&mut *tx).await?.is_empty();
    if inserted {
        heads.set(entry.user_id, head);
    } else {
        heads.forget(entry.user_id);
    }
    commit_after(tx).await?;
    Ok(inserted)
}

/// `entry`'s hash as stored (raw bytes).
fn raw_hash(entry: &AuditEntry) -> StoreResult<Vec<u8>> {
    hex::decode(&entry.hash).map_err(|e| StoreError::corrupt("audit hash", e))
}

/// The outcome's statement list: the run off the record, then `charge` (a statement, or
/// nothing), then the entry, each only while the remembered head is the head.
fn end_sql(charge: &str) -> String {
    let charge = match charge {
        "" => String::new(),
        charge => format!("{charge}; "),
    };
    format!(
        "{BEGIN_IN_STATEMENT}delete from run_record where execution_id = $14 and {}; \
         {charge}{}",
        audit::HEAD_IS_PREVIOUS,
        audit::insert_if_head_sql(COMMIT_IN_STATEMENT)
    )
}
