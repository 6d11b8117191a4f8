//! Quotas and usage: a user's consumption of the day (UTC) against their limits
//! (`GET /api/v1/usage`), and the operator's per-user overrides of the server-wide defaults.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Per-user overrides of the server's default quotas. An absent (or `null`) field is the
/// server's default (its setting); `0` is unlimited, as for the settings.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuotaOverrides {
    /// Runs admitted per UTC day (runs, zero-knowledge runs, generate-and-run, session cells).
    #[serde(default)]
    pub runs_per_day: Option<u64>,
    /// CPU seconds per UTC day.
    #[serde(default)]
    pub cpu_seconds_per_day: Option<u64>,
    /// Sessions open at once, on every server node.
    #[serde(default)]
    pub sessions: Option<u64>,
    /// Bytes of encrypted code and package environments.
    #[serde(default)]
    pub storage_bytes: Option<u64>,
}

/// A user's quotas as they apply: each the override if one is set, else the server's default.
/// `0` is unlimited.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UserQuota {
    /// Runs admitted per UTC day.
    pub runs_per_day: u64,
    /// CPU seconds per UTC day.
    pub cpu_seconds_per_day: u64,
    /// Sessions open at once, on every server node.
    pub sessions: u64,
    /// Bytes of encrypted code and package environments.
    pub storage_bytes: u64,
    /// The overrides set for this user (absent fields: the server's defaults).
    pub overrides: QuotaOverrides,
}

/// One quota's use: how much is used, the limit (`null`: unlimited), and when the use starts
/// again from zero (`null` for what is freed by its owner: sessions, storage).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct QuotaUse {
    /// Used so far (runs, CPU seconds, sessions or bytes); a whole number but for CPU seconds.
    #[serde(serialize_with = "whole_when_integral")]
    pub used: f64,
    /// The limit; `null` when unlimited.
    pub limit: Option<u64>,
    /// When it resets (the next 00:00 UTC) for a daily quota, RFC 3339.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub reset_at: Option<OffsetDateTime>,
}

/// `GET /api/v1/usage`: the caller's use of each quota today (UTC).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// The UTC day counted, `YYYY-MM-DD`.
    pub day: String,
    /// When the daily quotas reset: the next 00:00 UTC, RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    pub reset_at: OffsetDateTime,
    /// Runs admitted today.
    pub runs: QuotaUse,
    /// CPU seconds used today by runs that ended.
    pub cpu_seconds: QuotaUse,
    /// Sessions open now, on every server node.
    pub sessions: QuotaUse,
    /// Bytes of encrypted code and package environments held now.
    pub storage_bytes: QuotaUse,
}

/// Writes a whole `value` as an integer (`12`, not `12.0`), any other as it is.
fn whole_when_integral<S: serde::Serializer>(
    value: &f64,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0 {
        serializer.serialize_i64(*value as i64)
    } else {
        serializer.serialize_f64(*value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_uses_are_written_as_integers_and_cpu_seconds_as_they_are() {
        let whole = QuotaUse {
            used: 12.0,
            limit: Some(2000),
            reset_at: None,
        };
        let cpu = QuotaUse {
            used: 3.25,
            limit: None,
            reset_at: None,
        };
        assert_eq!(
            serde_json::to_string(&whole).unwrap(),
            r#"{"used":12,"limit":2000,"resetAt":null}"#
        );
        assert_eq!(
            serde_json::to_string(&cpu).unwrap(),
            r#"{"used":3.25,"limit":null,"resetAt":null}"#
        );
        let back: QuotaUse =
            serde_json::from_str(r#"{"used":12,"limit":2000,"resetAt":null}"#).unwrap();
        assert_eq!(back, whole);
    }
}
