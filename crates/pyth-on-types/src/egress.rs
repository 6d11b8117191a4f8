//! `/api/v1/egress/allow`: a user's own egress allow-list, which narrows the server's policy.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The caller's allow-list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EgressAllowList {
    /// Host patterns (`pypi.org`, `*.github.com`, `*`) a run may reach, on top of the server's
    /// own policy; `null` when the caller never set one (no narrowing). An empty list allows
    /// nothing.
    pub hosts: Option<Vec<String>>,
}

/// `PUT /api/v1/egress/allow`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetEgressAllowRequest {
    /// The new list (at most 100 patterns), replacing the old one. Each is a host name
    /// (letters, digits, `-`, `_`, dot-separated labels of at most 63), `*.` and a host name,
    /// `*`, or an IP address; case and a trailing dot are ignored.
    #[schema(max_items = 100)]
    pub hosts: Vec<String>,
}
