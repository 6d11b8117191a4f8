//! The store traits, one per capability, and `Store`, their union that the server holds as
//! `Arc<dyn Store>`. Every audited mutation appends its audit entry in the same transaction
//! as the change: if one fails, neither lands.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit_chain::{AuditEntry, AuditEvent};
use crate::error::StoreResult;
use crate::gcra::RateDecision;
use crate::model::{
    ApiKeyRecord, Invitation, NewApiKey, NewInvitation, NewRefreshToken, NewUser, OpenRun,
    PackageEnvRow, PackageRow, PutOutcome, RefreshOutcome, Role, SealedSecretRow, SecretMeta,
    SecretsDefault, SessionRecord, SignIn, User, UserSummary, ZkCodeRow,
};
use crate::model::{CpuCharge, DayUsage, QuotaOverrideRow, RunReservation};

/// Users.
#[async_trait]
pub trait UserStore {
    /// Inserts a user and appends `audit`. `Conflict` on [`Constraint::UserEmail`] when the
    /// email is taken (nothing is written then, audit included).
    async fn create_user(&self, user: &NewUser, audit: &AuditEvent) -> StoreResult<()>;
    /// Exact (already lowercased) email lookup.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// Id lookup.
    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>>;
}

/// API keys (stored as hashes).
#[async_trait]
pub trait ApiKeyStore {
    /// Inserts a key, appending `audit` (an event of the key's owner) in the same transaction
    /// when given. `Conflict` on [`Constraint::ApiKeyQuota`] when the owner already holds
    /// `max_live_keys` non-revoked keys: the count and the insert are serialised per user,
    /// so concurrent creates never overshoot; nothing is written then, audit included.
    /// `Conflict` on [`Constraint::ApiKeyHash`] on a duplicate hash.
    async fn create_api_key(
        &self,
        key: &NewApiKey,
        max_live_keys: u32,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<()>;
    /// Registration: the user, their first key and `audit`, in one transaction.
    async fn create_user_with_key(
        &self,
        user: &NewUser,
        key: &NewApiKey,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
    /// The non-revoked key with this hash.
    async fn api_key_by_hash(&self, key_hash: &[u8]) -> StoreResult<Option<ApiKeyRecord>>;
    /// The non-revoked key with this hash and its owner, in one query (every request that
    /// authenticates with a key needs both).
    async fn api_key_with_owner(
        &self,
        key_hash: &[u8],
    ) -> StoreResult<Option<(ApiKeyRecord, User)>>;
    /// The user's non-revoked keys, oldest first.
    async fn list_api_keys(&self, user_id: Uuid) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Revokes `key_id` if it belongs to `user_id` and is live, appending `audit`; `false`
    /// (and no audit) when not found, another user's, or already revoked.
    async fn revoke_api_key(
        &self,
        user_id: Uuid,
        key_id: Uuid,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<bool>;
    /// Records a use of the key (`last_used_at`); a single cheap update, no audit.
    async fn touch_api_key(&self, key_id: Uuid, at: OffsetDateTime) -> StoreResult<()>;
}

/// Refresh tokens, rotated in families with reuse detection.
#[async_trait]
pub trait RefreshTokenStore {
    /// Inserts a token (login starts a new family).
    async fn create_refresh_token(&self, t: &NewRefreshToken) -> StoreResult<()>;
    /// Atomically spends the token whose hash is `presented_hash` and stores `successor` in
    /// the same family, in one transaction.
    ///
    /// - live token: marked spent, `successor` inserted with the spent token's `user_id` and
    ///   `family_id` (its own are ignored), `audit_ok` appended → `Rotated`;
    /// - already-spent token (reuse: a stolen token was replayed): every token of the family,
    ///   the successor issued earlier included, is revoked and `audit_reuse` appended →
    ///   `Reused`;
    /// - unknown hash, revoked family, or expired (`expires_at <= now`) → `Invalid`, nothing
    ///   written.
    ///
    /// The caller cannot know the owner beforehand, so the store overwrites the `user_id` of
    /// `audit_ok` / `audit_reuse` with the token's owner before appending.
    async fn rotate_refresh_token(
        &self,
        presented_hash: &[u8],
        successor: &NewRefreshToken,
        now: OffsetDateTime,
        audit_ok: &AuditEvent,
        audit_reuse: &AuditEvent,
    ) -> StoreResult<RefreshOutcome>;
    /// Revokes every token of the family (logout). Idempotent.
    async fn revoke_refresh_family(&self, family_id: Uuid) -> StoreResult<()>;
    /// Signs out the holder of the token whose hash is `presented_hash`: when it is live, its
    /// whole family is revoked and `audit` appended (its `user_id` overwritten with the
    /// token's owner) in one transaction → the owner; otherwise (unknown, spent, revoked or
    /// expired) nothing is written → `None`.
    async fn sign_out(
        &self,
        presented_hash: &[u8],
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<Option<Uuid>>;
}

/// Per-user sealed secrets.
#[async_trait]
pub trait SecretStore {
    /// Creates (`expected_prev_version == None`, stored as version 1) or replaces
    /// (`Some(v)`: only if the current version is `v`, stored as `v + 1`, `created_at` kept)
    /// the secret `(s.user_id, s.name)`, appending `audit`. `s.version` is ignored.
    ///
    /// `Conflict` on [`Constraint::SecretVersion`] when the current version is not the
    /// expected one (it exists while `None` was expected, or is missing or different);
    /// `Conflict` on [`Constraint::SecretQuota`] when creating would exceed `max_secrets`.
    /// On conflict nothing is written.
    async fn put_secret(
        &self,
        s: &SealedSecretRow,
        expected_prev_version: Option<i64>,
        max_secrets: u32,
        audit: &AuditEvent,
    ) -> StoreResult<PutOutcome>;
    /// One secret.
    async fn get_secret(&self, user_id: Uuid, name: &str) -> StoreResult<Option<SealedSecretRow>>;
    /// The user's secrets' metadata, sorted by name.
    async fn list_secrets(&self, user_id: Uuid) -> StoreResult<Vec<SecretMeta>>;
    /// The user's sealed secrets (to inject into a run), sorted by name.
    async fn sealed_secrets_for(&self, user_id: Uuid) -> StoreResult<Vec<SealedSecretRow>>;
    /// Deletes a secret, appending `audit`; `false` (and no audit) when there was none.
    async fn delete_secret(
        &self,
        user_id: Uuid,
        name: &str,
        audit: &AuditEvent,
    ) -> StoreResult<bool>;
    /// Every sealed secret of every user, for master-key rotation.
    async fn all_sealed_secrets(&self) -> StoreResult<Vec<SealedSecretRow>>;
    /// Replaces the wrapped data key if the secret is still at `version` (a concurrent
    /// replace wins); `updated_at` is left alone. Returns whether it was updated.
    async fn update_wrapped_key(
        &self,
        user_id: Uuid,
        name: &str,
        version: i64,
        key_version: u32,
        wrapped_key: &[u8],
    ) -> StoreResult<bool>;
}

/// The per-user, hash-chained, append-only audit log.
#[async_trait]
pub trait AuditStore {
    /// Appends a standalone event (execute, login failures, ...) to `event.user_id`'s chain.
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<AuditEntry>;
    /// A page of the user's entries, newest first: at most `limit`, only `seq < before_seq`
    /// when given, only actions starting with `action_prefix` (literally: no wildcards).
    async fn list_audit(
        &self,
        user_id: Uuid,
        limit: u32,
        before_seq: Option<i64>,
        action_prefix: Option<&str>,
    ) -> StoreResult<Vec<AuditEntry>>;
    /// The user's whole chain, oldest first, for [`crate::verify_chain`].
    async fn audit_chain(&self, user_id: Uuid) -> StoreResult<Vec<AuditEntry>>;
}

/// Shared GCRA rate limiting; the state lives in the database so all nodes agree.
#[async_trait]
pub trait RateLimitStore {
    /// GCRA: one cell per call. `emission_interval` = period/limit, `burst` = limit. Atomic
    /// per key across nodes.
    async fn rate_limit(
        &self,
        key: &str,
        now_ms: i64,
        emission_interval_ms: i64,
        burst: u32,
    ) -> StoreResult<RateDecision>;
    /// Gives back one cell taken by `rate_limit` (a reservation that turned out not to count):
    /// the TAT moves back by one `emission_interval_ms`, never below `now_ms` (a bucket never
    /// holds more than its burst). Atomic per key across nodes; an unknown key, or one whose
    /// TAT has already passed (a full bucket), is left alone.
    async fn rate_limit_refund(
        &self,
        key: &str,
        now_ms: i64,
        emission_interval_ms: i64,
    ) -> StoreResult<()>;
    /// The answer `rate_limit` would give, without consuming a cell.
    async fn rate_limit_peek(
        &self,
        key: &str,
        now_ms: i64,
        emission_interval_ms: i64,
        burst: u32,
    ) -> StoreResult<RateDecision>;
    /// Deletes keys whose TAT is before `now_ms` (they are indistinguishable from unknown
    /// keys); returns how many.
    async fn purge_rate_limits(&self, now_ms: i64) -> StoreResult<u64>;
}

/// Per-user zero-knowledge code: encrypted payloads the server stores but never decrypts.
#[async_trait]
pub trait ZkCodeStore {
    /// Inserts or replaces `(row.user_id, row.name)` (names are case-sensitive), appending
    /// `audit`. A replace overwrites everything but `created_at`, which is kept.
    /// `Conflict` on [`Constraint::ZkCodeQuota`] when inserting would exceed `max_items`
    /// for the user (replacing is always allowed); nothing is written then, audit included.
    async fn put_zk_code(
        &self,
        row: &ZkCodeRow,
        max_items: u32,
        audit: &AuditEvent,
    ) -> StoreResult<PutOutcome>;
    /// One stored program.
    async fn get_zk_code(&self, user_id: Uuid, name: &str) -> StoreResult<Option<ZkCodeRow>>;
    /// The user's programs (payloads included), sorted by name, byte-wise.
    async fn list_zk_code(&self, user_id: Uuid) -> StoreResult<Vec<ZkCodeRow>>;
    /// Deletes a program, appending `audit`; `false` (and no audit) when there was none.
    async fn delete_zk_code(
        &self,
        user_id: Uuid,
        name: &str,
        audit: &AuditEvent,
    ) -> StoreResult<bool>;
}

/// Persistent packages per user and language, and the shared, content-addressed package
/// environments built from them.
///
/// A build is coordinated through its `package_env` row: `claim_package_env_build` lets
/// exactly one caller (on any node) build a key; that caller ends with `finish_package_env`.
/// There is no heartbeat: choose `stale_after_ms` longer than the longest build.
#[async_trait]
pub trait PackageStore {
    /// The user's packages, ordered by language, then name (byte-wise).
    async fn list_packages(&self, user_id: Uuid) -> StoreResult<Vec<PackageRow>>;
    /// Replaces the user's whole list for `language` with `rows` atomically, appending `audit`
    /// (even when nothing changed); other languages are untouched. Each row is stored under
    /// `user_id` and `language` (the rows' own are ignored). More than `max_items` rows is
    /// `Conflict` on [`Constraint::PackageQuota`]; the replacement is serialised with
    /// `add_package` per user, so the two never add up past the quota. The caller removes
    /// duplicate names: a duplicate is `Conflict` on [`Constraint::PackagePkey`]. On conflict
    /// nothing is written.
    async fn set_packages(
        &self,
        user_id: Uuid,
        language: &str,
        rows: &[PackageRow],
        max_items: u32,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
    /// Adds `row`, appending `audit`: `Created`, or `Replaced` when the same
    /// `(user_id, language, name)` existed (its `spec` and `added_at` become the new ones).
    /// `Conflict` on [`Constraint::PackageQuota`] when adding would exceed `max_items` for
    /// that user and language (replacing is always allowed); nothing is written then.
    async fn add_package(
        &self,
        row: &PackageRow,
        max_items: u32,
        audit: &AuditEvent,
    ) -> StoreResult<PutOutcome>;
    /// Removes one package, appending `audit`; `false` (and no audit) when there was none.
    async fn remove_package(
        &self,
        user_id: Uuid,
        language: &str,
        name: &str,
        audit: &AuditEvent,
    ) -> StoreResult<bool>;
    /// One environment.
    async fn get_package_env(&self, env_key: &str) -> StoreResult<Option<PackageEnvRow>>;
    /// Atomically decides who builds `env_key`, across nodes: `true` when the caller must
    /// build it, either because there was no row (one is inserted with status `building` and
    /// every timestamp `now`) or because the row is `building` with an `updated_at` more than
    /// `stale_after_ms` before `now` (its builder is presumed dead: `updated_at` becomes
    /// `now`). `false` otherwise: someone else is building it, or it is `ready` or `failed`
    /// (delete a failed one to retry).
    async fn claim_package_env_build(
        &self,
        env_key: &str,
        language: &str,
        now: OffsetDateTime,
        stale_after_ms: i64,
    ) -> StoreResult<bool>;
    /// Records the end of a build: `status` (`ready` or `failed`), `error`, `size_bytes`,
    /// and `now` as both `updated_at` and `last_used_at`. `StoreError::NotFound` when the
    /// row is gone (deleted while building).
    async fn finish_package_env(
        &self,
        env_key: &str,
        status: &str,
        error: Option<&str>,
        size_bytes: i64,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Records a use (`last_used_at = now`); `updated_at` is left alone, so a use never
    /// keeps a dead build from going stale. Nothing happens for an unknown key.
    async fn touch_package_env(&self, env_key: &str, now: OffsetDateTime) -> StoreResult<()>;
    /// Every environment, least recently used first (ties by key), for garbage collection.
    async fn list_package_envs(&self) -> StoreResult<Vec<PackageEnvRow>>;
    /// Deletes an environment's row; `false` when there was none.
    async fn delete_package_env(&self, env_key: &str) -> StoreResult<bool>;
}

/// Per-user egress allow-lists (host patterns that narrow the operator's policy).
#[async_trait]
pub trait EgressStore {
    /// The user's list; `None` when they never set one (no narrowing).
    async fn get_egress_allow(&self, user_id: Uuid) -> StoreResult<Option<Vec<String>>>;
    /// Replaces the user's list (an empty list allows nothing), appending `audit` in the same
    /// transaction. The caller validates the patterns (none may contain a newline).
    async fn set_egress_allow(
        &self,
        user_id: Uuid,
        hosts: &[String],
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
    /// Removes the list (back to no narrowing); `false`, and no audit entry, when there was
    /// none.
    async fn delete_egress_allow(&self, user_id: Uuid, audit: &AuditEvent) -> StoreResult<bool>;
}

/// Runs on the record: a run's `started` entry and its outcome, and the runs a dead node left
/// without one.
#[async_trait]
pub trait RunRecordStore {
    /// Puts `run` on the record and appends `started` (its first audit entry) in the same
    /// transaction: once this returns, the run is accounted for whatever happens next.
    async fn begin_run(&self, run: &OpenRun, started: &AuditEvent) -> StoreResult<()>;
    /// Appends the run's `outcome`, adds its `cpu` time to its owner's day, and takes it off
    /// the record, in one transaction. The outcome is appended (and the time added) even when
    /// the run was already closed as interrupted, but not when its account was deleted
    /// meanwhile.
    async fn end_run(
        &self,
        execution_id: Uuid,
        outcome: &AuditEvent,
        cpu: Option<CpuCharge>,
    ) -> StoreResult<()>;
    /// Open runs nobody will finish: those of any node whose deadline is before `now`, and
    /// (at its start, before it runs anything) all those of `node`. At most `limit`, oldest
    /// first.
    async fn stale_runs(
        &self,
        node: Option<&str>,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<OpenRun>>;
    /// Closes an open run with `outcome` (its `interrupted` entry): `false`, and nothing
    /// appended, when it is no longer open (it ended, or another node closed it first).
    async fn interrupt_run(&self, execution_id: Uuid, outcome: &AuditEvent) -> StoreResult<bool>;
}

/// Session records: which node holds each open session (sessions live on one node; any node
/// reads these to forward a request to the owner, or to list a user's sessions everywhere).
#[async_trait]
pub trait SessionRecordStore {
    /// Puts an opened session on the record. `Conflict` on a duplicate id.
    async fn put_session_record(&self, record: &SessionRecord) -> StoreResult<()>;
    /// The record of session `session_id`, whoever owns it.
    async fn session_record(&self, session_id: Uuid) -> StoreResult<Option<SessionRecord>>;
    /// `user_id`'s records on every node, oldest first (ties by id).
    async fn session_records_of(&self, user_id: Uuid) -> StoreResult<Vec<SessionRecord>>;
    /// Records a use: `last_used_at` and the new `expires_at`. Nothing happens for an unknown
    /// id.
    async fn touch_session_record(
        &self,
        session_id: Uuid,
        last_used_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Takes a session off the record (it ended); `false` when it was not on it.
    async fn delete_session_record(&self, session_id: Uuid) -> StoreResult<bool>;
    /// At a node's start: removes the records an earlier run of the node at `node_url` left
    /// (those of any other instance than `instance`) and returns them. A record is returned
    /// to one caller only, however many remove at once.
    async fn delete_session_records_left_by(
        &self,
        node_url: &str,
        instance: Uuid,
    ) -> StoreResult<Vec<SessionRecord>>;
    /// Removes the records of every node whose `expires_at` is before `before` (their node
    /// would have ended them: it is gone) and returns them, each to one caller only.
    async fn delete_session_records_expired(
        &self,
        before: OffsetDateTime,
    ) -> StoreResult<Vec<SessionRecord>>;
}

/// Account administration and self-service: roles, disabling, passwords, sign-ins and
/// deletion. A change that could leave the server without an enabled admin (demoting,
/// disabling or deleting the last one) is `Conflict` on [`Constraint::LastAdmin`], decided
/// atomically across nodes; nothing is written then.
///
/// [`Constraint::LastAdmin`]: crate::Constraint::LastAdmin
#[async_trait]
pub trait AccountStore {
    /// Users in creation order (by id), at most `limit`, only those with an id after `after`.
    async fn list_users(&self, after: Option<Uuid>, limit: u32) -> StoreResult<Vec<UserSummary>>;
    /// How many enabled admins there are.
    async fn count_admins(&self) -> StoreResult<u64>;
    /// Disables (`Some(at)`) or enables (`None`) `user_id`, appending `audit` (the admin's
    /// and the user's events); `false`, and nothing written, when there is no such user.
    async fn set_user_disabled(
        &self,
        user_id: Uuid,
        at: Option<OffsetDateTime>,
        audit: &[AuditEvent],
    ) -> StoreResult<bool>;
    /// Sets `user_id`'s role, appending `audit`; `false` when there is no such user.
    async fn set_user_role(
        &self,
        user_id: Uuid,
        role: Role,
        now: OffsetDateTime,
        audit: &[AuditEvent],
    ) -> StoreResult<bool>;
    /// Replaces the password hash and revokes every refresh-token family of the user but
    /// `keep_family` (the sign-in that changed it), appending `audit`; `false` when there is
    /// no such user.
    async fn set_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
        keep_family: Option<Uuid>,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<bool>;
    /// Sets which secrets a run naming none receives, appending `audit`.
    async fn set_secrets_default(
        &self,
        user_id: Uuid,
        value: SecretsDefault,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<bool>;
    /// Deletes `user_id` and everything of theirs: keys, tokens, secrets, packages, encrypted
    /// code, allow-list, run and session records, rate-limit buckets and their own audit
    /// chain; then appends `audit` (events of other users: the admin who deleted them). `false`,
    /// and nothing written, when there is no such user.
    async fn delete_user(&self, user_id: Uuid, audit: &[AuditEvent]) -> StoreResult<bool>;
    /// The user's live sign-ins (refresh-token families neither revoked nor expired at
    /// `now`), newest first.
    async fn sign_ins(&self, user_id: Uuid, now: OffsetDateTime) -> StoreResult<Vec<SignIn>>;
    /// Revokes the sign-in `family_id` if it is `user_id`'s and live, appending `audit`;
    /// `false`, and nothing written, otherwise.
    async fn revoke_sign_in(
        &self,
        user_id: Uuid,
        family_id: Uuid,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<bool>;
    /// Whether the sign-in `family_id` of `user_id` is not revoked (access tokens carry it).
    async fn sign_in_live(&self, user_id: Uuid, family_id: Uuid) -> StoreResult<bool>;
}

/// Single-use invitations for invite-only registration.
#[async_trait]
pub trait InvitationStore {
    /// Inserts an invitation, appending `audit` (the admin's event).
    async fn create_invitation(&self, inv: &NewInvitation, audit: &AuditEvent) -> StoreResult<()>;
    /// Every invitation, newest first.
    async fn list_invitations(&self) -> StoreResult<Vec<Invitation>>;
    /// Deletes an invitation, appending `audit`; `false` (and no audit) when there was none.
    async fn delete_invitation(&self, id: Uuid, audit: &AuditEvent) -> StoreResult<bool>;
    /// Registration by invitation, in one transaction: spends the invitation whose code
    /// hash is `code_hash` (unused and expiring after `now`), creates `user` with `key` and
    /// appends `audit`. `Conflict` on [`Constraint::InvitationUnusable`] when there is no
    /// such invitation (unknown, used or expired); on any conflict nothing is written.
    ///
    /// [`Constraint::InvitationUnusable`]: crate::Constraint::InvitationUnusable
    async fn register_with_invitation(
        &self,
        code_hash: &[u8],
        user: &NewUser,
        key: &NewApiKey,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
}

/// Per-user quotas: the operator's overrides of the server-wide defaults, each user's usage per
/// UTC day (`day`: days since 1970-01-01), and the quota-bounded writes. Every bound is checked
/// in the statement or transaction that writes, so concurrent callers on any node never pass
/// it together. A bound of `i64::MAX` is no bound.
#[async_trait]
pub trait QuotaStore {
    /// The user's overrides (every one `None` when none is set).
    async fn quota_overrides(&self, user_id: Uuid) -> StoreResult<QuotaOverrideRow>;
    /// Replaces the user's overrides (all `None` removes them), appending `audit` in the same
    /// transaction.
    async fn set_quota_overrides(
        &self,
        user_id: Uuid,
        overrides: &QuotaOverrideRow,
        now: OffsetDateTime,
        audit: &[AuditEvent],
    ) -> StoreResult<()>;
    /// Counts one run on `day` in one statement, if the day's runs are below the user's
    /// bound and its CPU milliseconds below theirs; otherwise nothing is counted: `Refused`.
    /// `max_runs` and `max_cpu_ms` are the server's defaults; the user's override of each
    /// ([`QuotaStore::quota_overrides`], CPU in seconds), when set, replaces it in the same
    /// statement, 0 meaning unbounded.
    async fn reserve_run(
        &self,
        user_id: Uuid,
        day: i64,
        max_runs: i64,
        max_cpu_ms: i64,
        now: OffsetDateTime,
    ) -> StoreResult<RunReservation>;
    /// Gives back a run `reserve_run` counted that never started (never below zero).
    async fn release_run(&self, user_id: Uuid, day: i64, now: OffsetDateTime) -> StoreResult<()>;
    /// Adds the CPU time of a run that ended to `day`.
    async fn add_cpu_ms(
        &self,
        user_id: Uuid,
        day: i64,
        cpu_ms: i64,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// The user's usage of `day` (zero when nothing ran).
    async fn day_usage(&self, user_id: Uuid, day: i64) -> StoreResult<DayUsage>;
    /// Puts an opened (or opening) session on the record unless its owner already has
    /// `max_sessions` records, on every node: `Conflict` on [`crate::Constraint::SessionQuota`]
    /// then, nothing written. Serialised per user with the count.
    async fn put_session_record_within(
        &self,
        record: &SessionRecord,
        max_sessions: i64,
    ) -> StoreResult<()>;
    /// Gives a record `put_session_record_within` wrote while its session was opening the
    /// opened session's times (`created_at`, `last_used_at`, `expires_at`); `false` when it is
    /// no longer on the record.
    async fn session_record_opened(&self, record: &SessionRecord) -> StoreResult<bool>;
    /// The bytes of the user's stored encrypted programs (their payloads as stored).
    async fn zk_code_bytes(&self, user_id: Uuid) -> StoreResult<i64>;
    /// [`ZkCodeStore::put_zk_code`], refused with `Conflict` on
    /// [`crate::Constraint::StorageQuota`] (nothing written) when the user's programs would
    /// hold more than `max_bytes` payload bytes after it (a replaced one's bytes not counted).
    async fn put_zk_code_within(
        &self,
        row: &ZkCodeRow,
        max_items: u32,
        max_bytes: i64,
        audit: &AuditEvent,
    ) -> StoreResult<PutOutcome>;
}

/// Everything the server needs, as one object.
#[async_trait]
pub trait Store:
    UserStore
    + ApiKeyStore
    + RefreshTokenStore
    + SecretStore
    + AuditStore
    + RateLimitStore
    + ZkCodeStore
    + PackageStore
    + EgressStore
    + RunRecordStore
    + SessionRecordStore
    + AccountStore
    + InvitationStore
    + QuotaStore
    + Send
    + Sync
    + 'static
{
    /// A round trip to the database (readiness probe).
    async fn ping(&self) -> StoreResult<()>;
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;
}
