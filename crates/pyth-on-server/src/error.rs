//! `ApiError`: the one error type of the HTTP layer, rendered as the `Error` envelope.
//!
//! Handlers return `Result<_, ApiError>` and use `?`; the request-id middleware logs the error
//! once, with its cause chain, from the response extensions.

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pyth_on_store::StoreError;
use pyth_on_types::ErrorBody;

use crate::context::current_request_id;
use crate::domain::Invalid;

/// An error answered to the client. Every variant names its status code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or a field is invalid.
    #[error("{message}")]
    BadRequest {
        /// Stable code, e.g. `invalid_request`, `unsupported_language`.
        code: &'static str,
        /// Human sentence.
        message: String,
        /// Field → problem.
        details: Option<serde_json::Value>,
    },
    /// 401: missing or bad credentials.
    #[error("{message}")]
    Unauthorized {
        /// `unauthorized` or `invalid_credentials`.
        code: &'static str,
        /// Human sentence.
        message: String,
    },
    /// 403: authenticated but not allowed.
    #[error("{message}")]
    Forbidden {
        /// Stable code.
        code: &'static str,
        /// Human sentence.
        message: String,
    },
    /// 404: no such resource for this user.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 404 `not_found`, with a sentence saying why: the resource existed and is over (a
    /// session whose node is gone).
    #[error("{0}")]
    Gone(String),
    /// 404 `file_not_found`: the session exists, the file or directory in it does not.
    #[error("{0}")]
    FileNotFound(String),
    /// 408: the client stopped sending the request body.
    #[error("{0}")]
    RequestTimeout(String),
    /// 409: conflicts with existing state.
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// Human sentence.
        message: String,
    },
    /// 413: too large.
    #[error("{0}")]
    TooLarge(String),
    /// 422: understood but cannot be processed.
    #[error("{message}")]
    Unprocessable {
        /// Stable code.
        code: &'static str,
        /// Human sentence.
        message: String,
        /// Structured detail (e.g. the packages of a failed install and the installer's log).
        details: Option<serde_json::Value>,
    },
    /// 429: over a rate limit.
    #[error("rate limit exceeded; retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until a retry can succeed.
        retry_after_secs: u64,
    },
    /// 429: over a per-user share (not a rate): e.g. `too_many_runs`.
    #[error("{message}")]
    TooMany {
        /// Stable code.
        code: &'static str,
        /// Human sentence.
        message: String,
        /// Seconds until a retry can succeed.
        retry_after_secs: u64,
    },
    /// 429 `quota_exceeded`: a quota of the user's (runs or CPU seconds per day, sessions,
    /// storage) refused the request; `details` says which, its limit, the use and `resetAt`;
    /// `Retry-After` only for the daily ones (the others free up by the user's own action).
    #[error("{0}")]
    QuotaExceeded(crate::quotas::QuotaExceeded),
    /// 502: an upstream service failed.
    #[error("{0}")]
    Upstream(String),
    /// 503: cannot serve right now.
    #[error("{message}")]
    Unavailable {
        /// Stable code, e.g. `sandbox_unavailable`.
        code: &'static str,
        /// Human sentence.
        message: String,
        /// Seconds to wait, if known.
        retry_after_secs: Option<u64>,
    },
    /// 500: a bug or an unexpected failure; details are logged, never sent.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// 400 `invalid_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            code: "invalid_request",
            message: message.into(),
            details: None,
        }
    }

    /// 400 with a specific code.
    pub fn bad_request_code(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// 400 `validation_failed` naming one field.
    pub fn invalid_field(field: &str, problem: impl Into<String>) -> Self {
        Invalid::field(field, problem).into()
    }

    /// 401 `unauthorized`.
    pub fn unauthorized() -> Self {
        Self::Unauthorized {
            code: "unauthorized",
            message: "missing or invalid credentials".into(),
        }
    }

    /// 429 `too_many_runs`: the user's share of the node's run queue is full.
    pub fn too_many_runs(admitted: usize) -> Self {
        Self::TooMany {
            code: "too_many_runs",
            message: format!(
                "you already have {admitted} runs waiting or running on this server; retry when one ends"
            ),
            retry_after_secs: 1,
        }
    }

    /// 503 `sandbox_unavailable`.
    pub fn sandbox_busy(retry_after_secs: u64) -> Self {
        Self::Unavailable {
            code: "sandbox_unavailable",
            message: "the server cannot take more runs right now; retry shortly".into(),
            retry_after_secs: Some(retry_after_secs),
        }
    }

    /// The HTTP status.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) | Self::Gone(_) | Self::FileNotFound(_) => StatusCode::NOT_FOUND,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } | Self::TooMany { .. } | Self::QuotaExceeded(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unauthorized { code, .. }
            | Self::Forbidden { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::TooMany { code, .. }
            | Self::Unavailable { code, .. } => code,
            Self::NotFound(_) | Self::Gone(_) => "not_found",
            Self::FileNotFound(_) => "file_not_found",
            Self::RequestTimeout(_) => "request_timeout",
            Self::TooLarge(_) => "payload_too_large",
            Self::RateLimited { .. } => "rate_limited",
            Self::QuotaExceeded(_) => "quota_exceeded",
            Self::Upstream(_) => "upstream_error",
            Self::Internal(_) => "internal_error",
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        Self::BadRequest {
            code: invalid.code,
            message: invalid.message,
            details: invalid.details,
        }
    }
}

/// Kept in the response extensions so the boundary middleware can log the cause chain once.
#[derive(Debug, Clone)]
pub struct LoggedError(pub Arc<ApiError>);

impl ApiError {
    /// The error's body (the `Error` shape), for request `request_id`.
    pub fn body(&self, request_id: String) -> ErrorBody {
        let details = match self {
            Self::BadRequest { details, .. } | Self::Unprocessable { details, .. } => {
                details.clone()
            }
            Self::QuotaExceeded(exceeded) => Some(exceeded.details()),
            _ => None,
        };
        ErrorBody {
            error: self.to_string(),
            code: self.code().to_string(),
            request_id,
            details,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = self.body(current_request_id());
        let retry_after = match &self {
            Self::RateLimited { retry_after_secs }
            | Self::TooMany {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            Self::Unavailable {
                retry_after_secs, ..
            } => *retry_after_secs,
            Self::QuotaExceeded(exceeded) => {
                exceeded.retry_after_secs(time::OffsetDateTime::now_utc())
            }
            _ => None,
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
            .extensions_mut()
            .insert(LoggedError(Arc::new(self)));
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::NotFound("resource"),
            StoreError::Unavailable(_) | StoreError::TimedOut { .. } => Self::Unavailable {
                code: "database_unavailable",
                message: "the database is unavailable; retry shortly".into(),
                retry_after_secs: Some(1),
            },
            other => Self::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::Internal(err)
    }
}
