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
    /// A uniqueness or business constraint refused the change. `constraint` is a stable name:
    /// `user_email`, `user_pkey`, `api_key_hash`, `api_key_pkey`, `api_key_quota`,
    /// `refresh_token_hash`, `refresh_token_pkey`, `secret_version`, `secret_quota`,
    /// `audit_entry_user_seq`, `audit_entry_pkey`, `rate_limit_pkey`, `zk_code_pkey`,
    /// `zk_code_quota`, `package_pkey`, `package_quota`, `package_env_pkey`.
    #[error("conflict on {constraint}")]
    Conflict {
        /// Stable constraint name (see the variant's documentation).
        constraint: String,
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

impl StoreError {
    /// A `Conflict` on the named constraint.
    pub fn conflict(constraint: impl Into<String>) -> Self {
        Self::Conflict {
            constraint: constraint.into(),
        }
    }

    /// True when this is a `Conflict` on `constraint`.
    pub fn is_conflict_on(&self, constraint: &str) -> bool {
        matches!(self, Self::Conflict { constraint: c } if c == constraint)
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
                        Some(name) => name.to_owned(),
                        // SQLite only says "UNIQUE constraint failed: table.col, ...".
                        None => sqlite_constraint_name(db.message()),
                    };
                    return Self::Conflict { constraint };
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

/// Maps SQLite's column list in a unique-violation message to the constraint names the
/// PostgreSQL migrations declare, so callers see the same `Conflict` on both backends.
fn sqlite_constraint_name(message: &str) -> String {
    let columns = message
        .split_once("constraint failed: ")
        .map_or(message, |(_, cols)| cols)
        .trim();
    let name = match columns {
        "app_user.email" => "user_email",
        "app_user.user_id" => "user_pkey",
        "api_key.key_hash" => "api_key_hash",
        "api_key.api_key_id" => "api_key_pkey",
        "refresh_token.token_hash" => "refresh_token_hash",
        "refresh_token.refresh_token_id" => "refresh_token_pkey",
        "secret.user_id, secret.name" => "secret_version",
        "audit_entry.user_id, audit_entry.seq" => "audit_entry_user_seq",
        "audit_entry.audit_entry_id" => "audit_entry_pkey",
        "rate_limit.rate_limit_key" => "rate_limit_pkey",
        "zk_code.user_id, zk_code.name" => "zk_code_pkey",
        "package.user_id, package.language, package.name" => "package_pkey",
        "package_env.env_key" => "package_env_pkey",
        other => return other.to_owned(),
    };
    name.to_owned()
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
    fn sqlite_unique_messages_map_to_postgres_constraint_names() {
        assert_eq!(
            sqlite_constraint_name("UNIQUE constraint failed: app_user.email"),
            "user_email"
        );
        assert_eq!(
            sqlite_constraint_name(
                "UNIQUE constraint failed: audit_entry.user_id, audit_entry.seq"
            ),
            "audit_entry_user_seq"
        );
        assert_eq!(
            sqlite_constraint_name(
                "UNIQUE constraint failed: package.user_id, package.language, package.name"
            ),
            "package_pkey"
        );
        assert_eq!(
            sqlite_constraint_name("UNIQUE constraint failed: x.y"),
            "x.y"
        );
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
