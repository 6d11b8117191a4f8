//! [`Timed`], a [`Store`] that bounds every call: a database that stops answering (a frozen
//! server, a lost network path the kernel still acknowledges) costs a caller at most the limit,
//! then [`StoreError::TimedOut`]. Dropping the call mid-flight is safe: sqlx rolls back an
//! unfinished transaction before the connection is used again.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit_chain::{AuditEntry, AuditEvent};
use crate::error::{StoreError, StoreResult};
use crate::gcra::RateDecision;
use crate::model::{
    ApiKeyRecord, Invitation, NewApiKey, NewInvitation, NewRefreshToken, NewUser, OpenRun,
    PackageEnvRow, PackageRow, PutOutcome, RefreshOutcome, Role, SealedSecretRow, SecretMeta,
    SecretsDefault, SessionRecord, SignIn, User, UserSummary, ZkCodeRow,
};
use crate::model::{CpuCharge, DayUsage, QuotaOverrideRow, RunReservation};
use crate::traits::QuotaStore;
use crate::traits::{
    AccountStore, ApiKeyStore, AuditStore, EgressStore, InvitationStore, PackageStore,
    RateLimitStore, RefreshTokenStore, RunRecordStore, SecretStore, SessionRecordStore, Store,
    UserStore, ZkCodeStore,
};

/// Wraps a store so that no call lasts longer than `limit`.
pub struct Timed {
    inner: Arc<dyn Store>,
    limit: Duration,
}

impl Timed {
    /// `inner`, each of whose calls is given at most `limit`.
    pub fn new(inner: Arc<dyn Store>, limit: Duration) -> Self {
        Self { inner, limit }
    }

    async fn bounded<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = StoreResult<T>> + Send,
    ) -> StoreResult<T> {
        match tokio::time::timeout(self.limit, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::TimedOut {
                operation,
                after: self.limit,
            }),
        }
    }
}

impl std::fmt::Debug for Timed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timed")
            .field("backend", &self.inner.backend())
            .field("limit", &self.limit)
            .finish()
    }
}

/// Implements `$trait` for [`Timed`]: each method calls the inner store's under the limit.
macro_rules! bounded {
    ($trait:ident { $( fn $name:ident(&self $(, $arg:ident : $ty:ty)* $(,)?) -> $ret:ty; )* }) => {
        #[async_trait]
        impl $trait for Timed {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> StoreResult<$ret> {
                    self.bounded(stringify!($name), self.inner.$name($($arg),*)).await
                }
            )*
        }
    };
}

bounded!(UserStore {
    fn create_user(&self, user: &NewUser, audit: &AuditEvent) -> ();
    fn user_by_email(&self, email: &str) -> Option<User>;
    fn user_by_id(&self, id: Uuid) -> Option<User>;
});

bounded!(ApiKeyStore {
    fn create_api_key(&self, key: &NewApiKey, max_live_keys: u32, audit: Option<&AuditEvent>) -> ();
    fn create_user_with_key(&self, user: &NewUser, key: &NewApiKey, audit: &AuditEvent) -> ();
    fn api_key_by_hash(&self, key_hash: &[u8]) -> Option<ApiKeyRecord>;
    fn api_key_with_owner(&self, key_hash: &[u8]) -> Option<(ApiKeyRecord, User)>;
    fn list_api_keys(&self, user_id: Uuid) -> Vec<ApiKeyRecord>;
    fn revoke_api_key(&self, user_id: Uuid, key_id: Uuid, at: OffsetDateTime, audit: &AuditEvent) -> bool;
    fn touch_api_key(&self, key_id: Uuid, at: OffsetDateTime) -> ();
});

bounded!(RefreshTokenStore {
    fn create_refresh_token(&self, t: &NewRefreshToken) -> ();
    fn rotate_refresh_token(&self, presented_hash: &[u8], successor: &NewRefreshToken,
        now: OffsetDateTime, audit_ok: &AuditEvent, audit_reuse: &AuditEvent) -> RefreshOutcome;
    fn revoke_refresh_family(&self, family_id: Uuid) -> ();
    fn sign_out(&self, presented_hash: &[u8], now: OffsetDateTime, audit: &AuditEvent)
        -> Option<Uuid>;
});

bounded!(SecretStore {
    fn put_secret(&self, s: &SealedSecretRow, expected_prev_version: Option<i64>,
        max_secrets: u32, audit: &AuditEvent) -> PutOutcome;
    fn get_secret(&self, user_id: Uuid, name: &str) -> Option<SealedSecretRow>;
    fn list_secrets(&self, user_id: Uuid) -> Vec<SecretMeta>;
    fn sealed_secrets_for(&self, user_id: Uuid) -> Vec<SealedSecretRow>;
    fn delete_secret(&self, user_id: Uuid, name: &str, audit: &AuditEvent) -> bool;
    fn all_sealed_secrets(&self) -> Vec<SealedSecretRow>;
    fn update_wrapped_key(&self, user_id: Uuid, name: &str, version: i64, key_version: u32,
        wrapped_key: &[u8]) -> bool;
});

bounded!(AuditStore {
    fn append_audit(&self, event: &AuditEvent) -> AuditEntry;
    fn list_audit(&self, user_id: Uuid, limit: u32, before_seq: Option<i64>,
        action_prefix: Option<&str>) -> Vec<AuditEntry>;
    fn audit_chain(&self, user_id: Uuid) -> Vec<AuditEntry>;
});

bounded!(RateLimitStore {
    fn rate_limit(&self, key: &str, now_ms: i64, emission_interval_ms: i64, burst: u32)
        -> RateDecision;
    fn rate_limit_refund(&self, key: &str, now_ms: i64, emission_interval_ms: i64) -> ();
    fn rate_limit_peek(&self, key: &str, now_ms: i64, emission_interval_ms: i64, burst: u32)
        -> RateDecision;
    fn purge_rate_limits(&self, now_ms: i64) -> u64;
});

bounded!(ZkCodeStore {
    fn put_zk_code(&self, row: &ZkCodeRow, max_items: u32, audit: &AuditEvent) -> PutOutcome;
    fn get_zk_code(&self, user_id: Uuid, name: &str) -> Option<ZkCodeRow>;
    fn list_zk_code(&self, user_id: Uuid) -> Vec<ZkCodeRow>;
    fn delete_zk_code(&self, user_id: Uuid, name: &str, audit: &AuditEvent) -> bool;
});

bounded!(PackageStore {
    fn list_packages(&self, user_id: Uuid) -> Vec<PackageRow>;
    fn set_packages(&self, user_id: Uuid, language: &str, rows: &[PackageRow], max_items: u32,
        audit: &AuditEvent) -> ();
    fn add_package(&self, row: &PackageRow, max_items: u32, audit: &AuditEvent) -> PutOutcome;
    fn remove_package(&self, user_id: Uuid, language: &str, name: &str, audit: &AuditEvent)
        -> bool;
    fn get_package_env(&self, env_key: &str) -> Option<PackageEnvRow>;
    fn claim_package_env_build(&self, env_key: &str, language: &str, now: OffsetDateTime,
        stale_after_ms: i64) -> bool;
    fn finish_package_env(&self, env_key: &str, status: &str, error: Option<&str>,
        size_bytes: i64, now: OffsetDateTime) -> ();
    fn touch_package_env(&self, env_key: &str, now: OffsetDateTime) -> ();
    fn list_package_envs(&self) -> Vec<PackageEnvRow>;
    fn delete_package_env(&self, env_key: &str) -> bool;
});

bounded!(EgressStore {
    fn get_egress_allow(&self, user_id: Uuid) -> Option<Vec<String>>;
    fn set_egress_allow(&self, user_id: Uuid, hosts: &[String], now: OffsetDateTime,
        audit: &AuditEvent) -> ();
    fn delete_egress_allow(&self, user_id: Uuid, audit: &AuditEvent) -> bool;
});

bounded!(RunRecordStore {
    fn begin_run(&self, run: &OpenRun, started: &AuditEvent) -> ();
    fn end_run(&self, execution_id: Uuid, outcome: &AuditEvent, cpu: Option<CpuCharge>) -> ();
    fn stale_runs(&self, node: Option<&str>, now: OffsetDateTime, limit: u32) -> Vec<OpenRun>;
    fn interrupt_run(&self, execution_id: Uuid, outcome: &AuditEvent) -> bool;
});

bounded!(SessionRecordStore {
    fn put_session_record(&self, record: &SessionRecord) -> ();
    fn session_record(&self, session_id: Uuid) -> Option<SessionRecord>;
    fn session_records_of(&self, user_id: Uuid) -> Vec<SessionRecord>;
    fn touch_session_record(&self, session_id: Uuid, last_used_at: OffsetDateTime,
        expires_at: OffsetDateTime) -> ();
    fn delete_session_record(&self, session_id: Uuid) -> bool;
    fn delete_session_records_left_by(&self, node_url: &str, instance: Uuid)
        -> Vec<SessionRecord>;
    fn delete_session_records_expired(&self, before: OffsetDateTime) -> Vec<SessionRecord>;
});

bounded!(AccountStore {
    fn list_users(&self, after: Option<Uuid>, limit: u32) -> Vec<UserSummary>;
    fn count_admins(&self) -> u64;
    fn set_user_disabled(&self, user_id: Uuid, at: Option<OffsetDateTime>,
        audit: &[AuditEvent]) -> bool;
    fn set_user_role(&self, user_id: Uuid, role: Role, now: OffsetDateTime,
        audit: &[AuditEvent]) -> bool;
    fn set_password(&self, user_id: Uuid, password_hash: &str, keep_family: Option<Uuid>,
        now: OffsetDateTime, audit: &AuditEvent) -> bool;
    fn set_secrets_default(&self, user_id: Uuid, value: SecretsDefault, now: OffsetDateTime,
        audit: &AuditEvent) -> bool;
    fn delete_user(&self, user_id: Uuid, audit: &[AuditEvent]) -> bool;
    fn sign_ins(&self, user_id: Uuid, now: OffsetDateTime) -> Vec<SignIn>;
    fn revoke_sign_in(&self, user_id: Uuid, family_id: Uuid, now: OffsetDateTime,
        audit: &AuditEvent) -> bool;
    fn sign_in_live(&self, user_id: Uuid, family_id: Uuid) -> bool;
});

bounded!(InvitationStore {
    fn create_invitation(&self, inv: &NewInvitation, audit: &AuditEvent) -> ();
    fn list_invitations(&self) -> Vec<Invitation>;
    fn delete_invitation(&self, id: Uuid, audit: &AuditEvent) -> bool;
    fn register_with_invitation(&self, code_hash: &[u8], user: &NewUser, key: &NewApiKey,
        now: OffsetDateTime, audit: &AuditEvent) -> ();
});

bounded!(QuotaStore {
    fn quota_overrides(&self, user_id: Uuid) -> QuotaOverrideRow;
    fn set_quota_overrides(&self, user_id: Uuid, overrides: &QuotaOverrideRow,
        now: OffsetDateTime, audit: &[AuditEvent]) -> ();
    fn reserve_run(&self, user_id: Uuid, day: i64, max_runs: i64, max_cpu_ms: i64,
        now: OffsetDateTime) -> RunReservation;
    fn release_run(&self, user_id: Uuid, day: i64, now: OffsetDateTime) -> ();
    fn add_cpu_ms(&self, user_id: Uuid, day: i64, cpu_ms: i64, now: OffsetDateTime) -> ();
    fn day_usage(&self, user_id: Uuid, day: i64) -> DayUsage;
    fn put_session_record_within(&self, record: &SessionRecord, max_sessions: i64) -> ();
    fn session_record_opened(&self, record: &SessionRecord) -> bool;
    fn zk_code_bytes(&self, user_id: Uuid) -> i64;
    fn put_zk_code_within(&self, row: &ZkCodeRow, max_items: u32, max_bytes: i64,
        audit: &AuditEvent) -> PutOutcome;
});

#[async_trait]
impl Store for Timed {
    async fn ping(&self) -> StoreResult<()> {
        self.bounded("ping", self.inner.ping()).await
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
}
