//! How the services' errors are answered: each one's status and stable code, in one place
//! (the services know no HTTP).

use crate::accounts::AccountError;
use crate::allow_list::AllowError;
use crate::domain::Invalid;
use crate::error::ApiError;
use crate::execution::RunError;
use crate::generation::GenerateError;
use crate::keys::KeyError;
use crate::packages::PackageError;
use crate::quotas::QuotaError;
use crate::secrets::{OpenError, PutError};
use crate::sessions::files::FileError;
use crate::sessions::SessionError;
use crate::zk_code::ZkCodeError;

impl From<RunError> for ApiError {
    fn from(err: RunError) -> Self {
        let message = err.to_string();
        match err {
            RunError::Invalid(invalid) => invalid.into(),
            RunError::CodeTooLarge { .. } | RunError::FilesTooLarge(_) => Self::TooLarge(message),
            RunError::NodeFull => Self::sandbox_busy(1),
            RunError::UserFull(n) => Self::too_many_runs(n),
            RunError::RuntimeMissing(_) => Invalid::code("unsupported_language", message).into(),
            RunError::SandboxFailed => Self::Unavailable {
                code: "sandbox_unavailable",
                message,
                retry_after_secs: Some(1),
            },
            RunError::Packages(err) => err.into(),
            RunError::Secrets(err) => err.into(),
            RunError::ZkWrongPassword => Self::Forbidden {
                code: "zk_wrong_password",
                message,
            },
            RunError::ZkIntegrity => Self::Unprocessable {
                code: "zk_integrity",
                message,
                details: None,
            },
            RunError::GuessesSpent { retry_after_ms } => Self::RateLimited {
                retry_after_secs: crate::http::rate_limit::ceil_secs(retry_after_ms),
            },
            RunError::Quota(exceeded) => Self::QuotaExceeded(exceeded),
            RunError::Store(err) => err.into(),
            RunError::Internal(err) => Self::Internal(err),
        }
    }
}

impl From<QuotaError> for ApiError {
    fn from(err: QuotaError) -> Self {
        match err {
            QuotaError::UserNotFound => Self::NotFound("user"),
            QuotaError::Exceeded(exceeded) => Self::QuotaExceeded(exceeded),
            QuotaError::Store(err) => err.into(),
        }
    }
}

impl From<GenerateError> for ApiError {
    fn from(err: GenerateError) -> Self {
        let message = err.to_string();
        match err {
            GenerateError::Invalid(invalid) => invalid.into(),
            GenerateError::PromptTooLarge(_) => Self::TooLarge(message),
            GenerateError::NotConfigured => Self::Unavailable {
                code: "generate_not_configured",
                message,
                retry_after_secs: None,
            },
            GenerateError::RateLimited { retry_after_ms } => Self::RateLimited {
                retry_after_secs: crate::http::rate_limit::ceil_secs(retry_after_ms),
            },
            GenerateError::Upstream(said) => Self::Upstream(said),
            GenerateError::Run(err) => err.into(),
            GenerateError::Store(err) => err.into(),
        }
    }
}

impl From<PutError> for ApiError {
    fn from(err: PutError) -> Self {
        let message = err.to_string();
        match err {
            PutError::Invalid(invalid) => invalid.into(),
            PutError::TooLarge(_) => Self::TooLarge(message),
            PutError::TooMany(_) => Invalid::code("too_many_secrets", message).into(),
            PutError::Concurrent => Self::Conflict {
                code: "concurrent_update",
                message,
            },
            PutError::Seal(err) => Self::Internal(err),
            PutError::Store(err) => err.into(),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> Self {
        let message = err.to_string();
        match err {
            AccountError::EmailTaken => Self::Conflict {
                code: "email_taken",
                message,
            },
            AccountError::InvalidCredentials => Self::Unauthorized {
                code: "invalid_credentials",
                message,
            },
            AccountError::Unauthorized => Self::unauthorized(),
            AccountError::RegistrationClosed => forbidden("registration_closed", message),
            AccountError::InvitationRequired => forbidden("invitation_required", message),
            AccountError::InvitationInvalid => forbidden("invitation_invalid", message),
            AccountError::AccountDisabled => forbidden("account_disabled", message),
            AccountError::AdminRequired => forbidden("admin_required", message),
            AccountError::WrongPassword => forbidden("wrong_password", message),
            AccountError::LastAdmin => Self::Conflict {
                code: "last_admin",
                message,
            },
            AccountError::UserNotFound => Self::NotFound("user"),
            AccountError::InvitationNotFound => Self::NotFound("invitation"),
            AccountError::SignInNotFound => Self::NotFound("sign-in"),
            AccountError::Store(err) => err.into(),
            AccountError::Internal(err) => Self::Internal(err),
        }
    }
}

fn forbidden(code: &'static str, message: String) -> ApiError {
    ApiError::Forbidden { code, message }
}

impl From<AllowError> for ApiError {
    fn from(err: AllowError) -> Self {
        match err {
            AllowError::NotFound => Self::NotFound("egress allow-list"),
            AllowError::Store(err) => err.into(),
        }
    }
}

impl From<ZkCodeError> for ApiError {
    fn from(err: ZkCodeError) -> Self {
        let message = err.to_string();
        match err {
            ZkCodeError::Invalid(invalid) => invalid.into(),
            ZkCodeError::Payload(_) => Self::bad_request_code("invalid_payload", message),
            ZkCodeError::TooMany(_) => Self::bad_request_code("too_many_items", message),
            ZkCodeError::NotFound => Self::NotFound("encrypted code"),
            ZkCodeError::Quota(exceeded) => Self::QuotaExceeded(exceeded),
            ZkCodeError::Store(err) => err.into(),
        }
    }
}

impl From<KeyError> for ApiError {
    fn from(err: KeyError) -> Self {
        let message = err.to_string();
        match err {
            KeyError::TooMany => Self::Conflict {
                code: "too_many_keys",
                message,
            },
            KeyError::NotFound => Self::NotFound("API key"),
            KeyError::Store(err) => err.into(),
        }
    }
}

impl From<OpenError> for ApiError {
    fn from(err: OpenError) -> Self {
        let message = err.to_string();
        match err {
            OpenError::Store(err) => err.into(),
            OpenError::Unknown(names) => Self::BadRequest {
                code: "unknown_secret",
                message,
                details: Some(serde_json::json!({ "secrets": names })),
            },
            other => Self::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<PackageError> for ApiError {
    fn from(err: PackageError) -> Self {
        match err {
            PackageError::InvalidSpec {
                ref spec,
                ref reason,
            } => Self::BadRequest {
                code: "invalid_package",
                message: err.to_string(),
                details: Some(serde_json::json!({ "package": spec, "reason": reason })),
            },
            PackageError::TooMany { .. } => {
                Self::bad_request_code("too_many_packages", err.to_string())
            }
            PackageError::Duplicate { ref name } => Self::BadRequest {
                code: "duplicate_package",
                message: err.to_string(),
                details: Some(serde_json::json!({ "package": name })),
            },
            PackageError::InstallFailed {
                ref message,
                ref packages,
            } => Self::Unprocessable {
                code: "package_install_failed",
                message: err.to_string(),
                details: Some(serde_json::json!({ "packages": packages, "log": message })),
            },
            PackageError::TooManyBuilds { .. } => Self::TooMany {
                code: "too_many_builds",
                message: err.to_string(),
                retry_after_secs: 5,
            },
            PackageError::BuildsBusy { .. } => Self::Unavailable {
                code: "package_builds_busy",
                message: err.to_string(),
                retry_after_secs: Some(5),
            },
            PackageError::Unavailable { .. } => Self::Unavailable {
                code: "packages_unavailable",
                message: err.to_string(),
                retry_after_secs: None,
            },
            PackageError::Quota(exceeded) => Self::QuotaExceeded(exceeded),
            PackageError::Store(store) => store.into(),
            PackageError::Io { .. } => Self::Internal(anyhow::Error::new(err)),
        }
    }
}

impl From<FileError> for ApiError {
    fn from(err: FileError) -> Self {
        let message = err.to_string();
        let unprocessable = |code| Self::Unprocessable {
            code,
            message: message.clone(),
            details: None,
        };
        match err {
            FileError::InvalidPath { .. } => Invalid::code("invalid_path", message).into(),
            FileError::NotFound => Self::FileNotFound(message),
            FileError::UploadTooLarge { .. } => Self::TooLarge(message),
            FileError::WrongKind(_) => unprocessable("wrong_file_type"),
            FileError::TooLarge(_) => unprocessable("file_too_large"),
            FileError::NoSpace(_) => unprocessable("no_space"),
            FileError::Failed(_) => unprocessable("file_operation_failed"),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(err: SessionError) -> Self {
        let message = err.to_string();
        match err {
            SessionError::Invalid(invalid) => invalid.into(),
            SessionError::CodeTooLarge { .. } => Self::TooLarge(message),
            SessionError::NotFound => Self::NotFound("session"),
            SessionError::Busy => Self::Conflict {
                code: "session_busy",
                message,
            },
            SessionError::UserFull(_) => Self::TooMany {
                code: "too_many_sessions",
                message,
                retry_after_secs: 5,
            },
            SessionError::NodeFull | SessionError::MemoryFull(..) => Self::Unavailable {
                code: "sessions_full",
                message,
                retry_after_secs: Some(5),
            },
            SessionError::RuntimeMissing(_) => {
                Invalid::code("unsupported_language", message).into()
            }
            SessionError::SandboxFailed => Self::Unavailable {
                code: "sandbox_unavailable",
                message,
                retry_after_secs: Some(1),
            },
            SessionError::File(err) => err.into(),
            SessionError::Run(err) => err.into(),
            SessionError::Secrets(err) => err.into(),
            SessionError::Store(err) => err.into(),
            SessionError::Internal(err) => Self::Internal(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn answer(err: RunError) -> (StatusCode, &'static str) {
        let api = ApiError::from(err);
        (api.status_code(), api.code())
    }

    #[test]
    fn each_way_a_run_is_refused_has_its_own_status_and_code() {
        let cases = [
            (
                RunError::CodeTooLarge { size: 2, limit: 1 },
                413,
                "payload_too_large",
            ),
            (
                RunError::FilesTooLarge("a run takes at most 1 files".into()),
                413,
                "payload_too_large",
            ),
            (RunError::NodeFull, 503, "sandbox_unavailable"),
            (RunError::UserFull(4), 429, "too_many_runs"),
            (
                RunError::RuntimeMissing("javascript"),
                400,
                "unsupported_language",
            ),
            (RunError::SandboxFailed, 503, "sandbox_unavailable"),
            (RunError::ZkWrongPassword, 403, "zk_wrong_password"),
            (RunError::ZkIntegrity, 422, "zk_integrity"),
            (
                RunError::GuessesSpent {
                    retry_after_ms: 1500,
                },
                429,
                "rate_limited",
            ),
            (
                RunError::Invalid(Invalid::field("memoryMb", "too big")),
                400,
                "validation_failed",
            ),
            (
                RunError::Internal(anyhow::anyhow!("bug")),
                500,
                "internal_error",
            ),
        ];
        for (err, status, code) in cases {
            assert_eq!(answer(err), (StatusCode::from_u16(status).unwrap(), code));
        }
    }

    #[test]
    fn each_way_a_secret_write_is_refused_has_its_own_status_and_code() {
        let cases = [
            (PutError::TooLarge(10), 413, "payload_too_large"),
            (PutError::TooMany(100), 400, "too_many_secrets"),
            (PutError::Concurrent, 409, "concurrent_update"),
            (
                PutError::Invalid(Invalid::field("value", "empty")),
                400,
                "validation_failed",
            ),
        ];
        for (err, status, code) in cases {
            let api = ApiError::from(err);
            let expected = (StatusCode::from_u16(status).unwrap(), code);
            assert_eq!((api.status_code(), api.code()), expected);
        }
    }

    #[test]
    fn every_quota_refusal_is_a_429_quota_exceeded_and_an_unknown_user_not_found() {
        use crate::quotas::{Quota, QuotaError, QuotaExceeded};
        let over = |quota| QuotaExceeded {
            quota,
            limit: 1,
            used: 1.0,
            reset_at: None,
        };
        let refusals = [
            ApiError::from(RunError::Quota(over(Quota::RunsPerDay))),
            ApiError::from(ZkCodeError::Quota(over(Quota::StorageBytes))),
            ApiError::from(PackageError::Quota(over(Quota::StorageBytes))),
            ApiError::from(SessionError::Run(RunError::Quota(over(Quota::Sessions)))),
            ApiError::from(QuotaError::Exceeded(over(Quota::CpuSecondsPerDay))),
        ];
        for api in refusals {
            assert_eq!(
                (api.status_code().as_u16(), api.code()),
                (429, "quota_exceeded")
            );
            assert!(api.body("r".into()).details.is_some(), "{api:?}");
        }
        let unknown = ApiError::from(QuotaError::UserNotFound);
        assert_eq!(
            (unknown.status_code().as_u16(), unknown.code()),
            (404, "not_found")
        );
    }

    #[test]
    fn a_key_past_the_quota_is_a_conflict_and_an_unknown_one_not_found() {
        let too_many = ApiError::from(KeyError::TooMany);
        assert_eq!(
            (too_many.status_code().as_u16(), too_many.code()),
            (409, "too_many_keys")
        );
        let missing = ApiError::from(KeyError::NotFound);
        assert_eq!(
            (missing.status_code().as_u16(), missing.code()),
            (404, "not_found")
        );
    }

    #[test]
    fn a_database_that_does_not_answer_in_time_is_a_503_for_a_run_too() {
        let timed_out = pyth_on_store::StoreError::TimedOut {
            operation: "begin_run",
            after: std::time::Duration::from_secs(5),
        };
        assert_eq!(
            answer(RunError::Store(timed_out)),
            (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable")
        );
    }
}
