//! The one error envelope every failing response uses.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every 4xx and 5xx body: a human sentence, a stable machine code and the request id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// A sentence for humans. Never holds a secret, a stack trace or submitted code.
    pub error: String,
    /// A stable `snake_case` code clients can branch on, e.g. `rate_limited`.
    pub code: String,
    /// The request id, also sent as the `x-request-id` header.
    pub request_id: String,
    /// Field-level problems for validation errors: field name → message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}
