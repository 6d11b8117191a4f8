//! `StoreError`, the one error type of every store method, and its single conversion from
//! `sqlx::Error` so implementations only ever write `?`.

use sqlx::error::ErrorKind;

/// Result of every store method.
pub type StoreResult<T> = Result<T, StoreError>;

/// What can go wrong in a store call, classified for the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row the caller asked for does not exist (`sqlx::Error::RowNotFound`).
    #[error("not found")]
    NotFound,
    /// A uniqueness or business constraint refused the change.
    #[error("conflict on {}", constraint.name())]
    Conflict {
        /// Which one.
        constraint: Constraint,
    },
    /// The database cannot be reached right now (pool timeout, closed pool, I/O, busy): a 503.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// A call did not finish within the store's time limit (the database is frozen,
    /// overloaded or unreachable): a 503, like `Unavailable`.
    #[error("database call {operation} did not finish within {after:?}")]
    TimedOut {
        /// The store method.
        operation: &'static str,
        /// The limit it ran into.
        after: std::time::Duration,
    },
    /// Anything else: a bug, corrupt data or an unexpected database error: a 500.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The constraints a change can run into: the closed set the migrations name (uniqueness)
/// and the store enforces (quotas, versions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// Two users with one email. (`user_email`)
    UserEmail,
    /// A user id twice. (`user_pkey`)
    UserPkey,
    /// Two keys with one hash. (`api_key_hash`)
    ApiKeyHash,
    /// An API key id twice. (`api_key_pkey`)
    ApiKeyPkey,
    /// The owner holds the most API keys allowed. (`api_key_quota`)
    ApiKeyQuota,
    /// Two refresh tokens with one hash. (`refresh_token_hash`)
    RefreshTokenHash,
    /// A refresh token id twice. (`refresh_token_pkey`)
    RefreshTokenPkey,
    /// A secret's current version is not the one the write expected (or a second create). (`secret_version`)
    SecretVersion,
    /// The owner holds the most secrets allowed. (`secret_quota`)
    SecretQuota,
    /// Two audit entries at one position of a user's chain. (`audit_entry_user_seq`)
    AuditEntryUserSeq,
    /// An audit entry id twice. (`audit_entry_pkey`)
    AuditEntryPkey,
    /// A rate-limit bucket twice. (`rate_limit_pkey`)
    RateLimitPkey,
    /// Two stored programs of one user under one name. (`zk_code_pkey`)
    ZkCodePkey,
    /// The owner holds the most stored programs allowed. (`zk_code_quota`)
    ZkCodeQuota,
    /// A package twice in one user's list for one language. (`package_pkey`)
    PackagePkey,
    /// The owner's list holds the most packages allowed. (`package_quota`)
    PackageQuota,
    /// A package environment key twice. (`package_env_pkey`)
    PackageEnvPkey,
    /// A user's egress allow-list twice. (`egress_allow_pkey`)
    EgressAllowPkey,
    /// A run on the record twice. (`run_record_pkey`)
    RunRecordPkey,
    /// A session on the record twice. (`session_record_pkey`)
    SessionRecordPkey,
    /// The change would leave no enabled admin. (`last_admin`)
    LastAdmin,
    /// No unused, unexpired invitation has this code. (`invitation_unusable`)
    InvitationUnusable,
    /// An invitation code twice. (`invitation_code`)
    InvitationCode,
    /// An invitation id twice. (`invitation_pkey`)
    InvitationPkey,
    /// A user's quota overrides twice. (`user_quota_pkey`)
    UserQuotaPkey,
    /// A user's usage of one day twice. (`usage_day_pkey`)
    UsageDayPkey,
    /// The owner holds the most sessions their quota allows, on every node. (`session_quota`)
    SessionQuota,
    /// The owner's stored bytes would pass their storage quota. (`storage_quota`)
    StorageQuota,
}

impl Constraint {
    /// Every constraint.
    pub const ALL: [Constraint; 28] = [
        Constraint::UserEmail,
        Constraint::UserPkey,
        Constraint::ApiKeyHash,
        Constraint::ApiKeyPkey,
        Constraint::ApiKeyQuota,
        Constraint::RefreshTokenHash,
        Constraint::RefreshTokenPkey,
        Constraint::SecretVersion,
        Constraint::SecretQuota,
        Constraint::AuditEntryUserSeq,
        Constraint::AuditEntryPkey,
        Constraint::RateLimitPkey,
        Constraint::ZkCodePkey,
        Constraint::ZkCodeQuota,
        Constraint::PackagePkey,
        Constraint::PackageQuota,
        Constraint::PackageEnvPkey,
        Constraint::EgressAllowPkey,
        Constraint::RunRecordPkey,
        Constraint::SessionRecordPkey,
        Constraint::LastAdmin,
        Constraint::InvitationUnusable,
        Constraint::InvitationCode,
        Constraint::InvitationPkey,
        Constraint::UserQuotaPkey,
        Constraint::UsageDayPkey,
        Constraint::SessionQuota,
        Constraint::StorageQuota,
    ];

    /// Its name in the migrations.
    pub fn name(self) -> &'static str {
        match self {
            Self::UserEmail => "user_email",
            Self::UserPkey => "user_pkey",
            Self::ApiKeyHash => "api_key_hash",
            Self::ApiKeyPkey => "api_key_pkey",
            Self::ApiKeyQuota => "api_key_quota",
            Self::RefreshTokenHash => "refresh_token_hash",
            Self::RefreshTokenPkey => "refresh_token_pkey",
            Self::SecretVersion => "secret_version",
            Self::SecretQuota => "secret_quota",
            Self::AuditEntryUserSeq => "audit_entry_user_seq",
            Self::AuditEntryPkey => "audit_entry_pkey",
            Self::RateLimitPkey => "rate_limit_pkey",
            Self::ZkCodePkey => "zk_code_pkey",
            Self::ZkCodeQuota => "zk_code_quota",
            Self::PackagePkey => "package_pkey",
            Self::PackageQuota => "package_quota",
            Self::PackageEnvPkey => "package_env_pkey",
            Self::EgressAllowPkey => "egress_allow_pkey",
            Self::RunRecordPkey => "run_record_pkey",
            Self::SessionRecordPkey => "session_record_pkey",
            Self::LastAdmin => "last_admin",
            Self::InvitationUnusable => "invitation_unusable",
            Self::InvitationCode => "invitation_code",
            Self::InvitationPkey => "invitation_pkey",
            Self::UserQuotaPkey => "user_quota_pkey",
            Self::UsageDayPkey => "usage_day_pkey",
            Self::SessionQuota => "session_quota",
            Self::StorageQuota => "storage_quota",
        }
    }

    /// The constraint the database named, if it is one of ours.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl StoreError {
    /// A `Conflict` on `constraint`.
    pub fn conflict(constraint: Constraint) -> Self {
        Self::Conflict { constraint }
    }

    /// True when this is a `Conflict` on `constraint`.
    pub fn is_conflict_on(&self, constraint: Constraint) -> bool {
        matches!(self, Self::Conflict { constraint: c } if *c == constraint)
    }

    /// Wraps a decoding problem (bad UUID, bad timestamp, bad JSON in a row) as `Other`.
    pub(crate) fn corrupt(what: &str, err: impl std::fmt::Display) -> Self {
        Self::Other(anyhow::anyhow!("corrupt {what} in database: {err}"))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(err),
            sqlx::Error::Database(db) => {
                if db.kind() == ErrorKind::UniqueViolation {
                    let constraint = match db.constraint() {
                        // PostgreSQL names the constraint; our migrations name them all.
                        Some(name) => Constraint::from_name(name),
                        // SQLite only says "UNIQUE constraint failed: table.col, ...".
                        None => sqlite_constraint(db.message()),
                    };
                    if let Some(constraint) = constraint {
                        return Self::Conflict { constraint };
                    }
                }
                let is_sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
                if is_unavailable_code(is_sqlite, db.code().as_deref()) {
                    return Self::Unavailable(err);
                }
                Self::Other(anyhow::Error::new(err))
            }
            _ => Self::Other(anyhow::Error::new(err)),
        }
    }
}

/// Maps SQLite's column list in a unique-violation message to the constraint the PostgreSQL
/// migrations declare, so callers see the same `Conflict` on both backends.
fn sqlite_constraint(message: &str) -> Option<Constraint> {
    let columns = message
        .split_once("constraint failed: ")
        .map_or(message, |(_, cols)| cols)
        .trim();
    Some(match columns {
        "app_user.email" => Constraint::UserEmail,
        "app_user.user_id" => Constraint::UserPkey,
        "api_key.key_hash" => Constraint::ApiKeyHash,
        "api_key.api_key_id" => Constraint::ApiKeyPkey,
        "refresh_token.token_hash" => Constraint::RefreshTokenHash,
        "refresh_token.refresh_token_id" => Constraint::RefreshTokenPkey,
        "secret.user_id, secret.name" => Constraint::SecretVersion,
        "audit_entry.user_id, audit_entry.seq" => Constraint::AuditEntryUserSeq,
        "audit_entry.audit_entry_id" => Constraint::AuditEntryPkey,
        "rate_limit.rate_limit_key" => Constraint::RateLimitPkey,
        "zk_code.user_id, zk_code.name" => Constraint::ZkCodePkey,
        "package.user_id, package.language, package.name" => Constraint::PackagePkey,
        "package_env.env_key" => Constraint::PackageEnvPkey,
        "session_record.session_id" => Constraint::SessionRecordPkey,
        "invitation.code_hash" => Constraint::InvitationCode,
        "invitation.invitation_id" => Constraint::InvitationPkey,
        "user_quota.user_id" => Constraint::UserQuotaPkey,
        "usage_day.user_id, usage_day.day" => Constraint::UsageDayPkey,
        _ => return None,
    })
}

/// Error codes that mean "try again later" rather than "bug": SQLite BUSY/LOCKED (primary
/// and extended codes); PostgreSQL connection exceptions, shutdowns, too many connections,
/// serialization failures and deadlocks.
fn is_unavailable_code(is_sqlite: bool, code: Option<&str>) -> bool {
    let Some(code) = code else { return false };
    if is_sqlite {
        // The primary result code is the low byte; 5 = SQLITE_BUSY, 6 = SQLITE_LOCKED.
        return code.parse::<i32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6));
    }
    code.starts_with("08")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_unique_messages_map_to_the_postgres_constraints() {
        let of = |cols: &str| sqlite_constraint(&format!("UNIQUE constraint failed: {cols}"));
        assert_eq!(of("app_user.email"), Some(Constraint::UserEmail));
        assert_eq!(
            of("audit_entry.user_id, audit_entry.seq"),
            Some(Constraint::AuditEntryUserSeq)
        );
        assert_eq!(
            of("package.user_id, package.language, package.name"),
            Some(Constraint::PackagePkey)
        );
        assert_eq!(of("x.y"), None);
    }

    #[test]
    fn every_constraint_is_found_by_its_name() {
        for constraint in Constraint::ALL {
            assert_eq!(Constraint::from_name(constraint.name()), Some(constraint));
        }
        assert_eq!(Constraint::from_name("no_such_constraint"), None);
    }

    #[test]
    fn every_constraint_the_postgres_migrations_name_is_a_known_constraint() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
        let mut named = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let sql = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let words: Vec<&str> = sql.split_whitespace().collect();
            for pair in words.windows(2) {
                if matches!(pair[0], "constraint" | "index") && pair[1] != "if" {
                    let name = pair[1].trim_end_matches(['(', ',', ';']);
                    if pair[0] == "index" && !sql.contains(&format!("unique index {name}")) {
                        continue;
                    }
                    assert!(Constraint::from_name(name).is_some(), "{name}");
                    named += 1;
                }
            }
        }
        assert!(named >= 15, "only {named} constraints found in {dir}");
    }

    #[test]
    fn busy_and_connection_codes_are_unavailable() {
        assert!(is_unavailable_code(true, Some("5")));
        assert!(is_unavailable_code(true, Some("517")));
        assert!(!is_unavailable_code(true, Some("19")));
        assert!(is_unavailable_code(false, Some("08006")));
        assert!(is_unavailable_code(false, Some("57P01")));
        assert!(!is_unavailable_code(false, Some("23505")));
        assert!(!is_unavailable_code(false, Some("22021")));
        assert!(!is_unavailable_code(false, None));
    }
}
