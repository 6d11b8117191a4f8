//! The per-user audit hash chain: the event and entry types, the canonical serialisation that
//! is hashed, `audit_hash`, and `verify_chain` (used by the server's `/audit/verify`).
//!
//! `hash = hex(SHA-256(prev_hash_hex || canonical_json(event)))`, where `prev_hash_hex` is the
//! previous entry's hash as 64 lowercase hex characters ([`GENESIS_HASH`] for the first entry)
//! and `canonical_json` is compact JSON of a fixed field set with object keys sorted by their
//! UTF-8 bytes at every depth:
//!
//! ```text
//! {"action":..,"apiKeyId":uuid|null,"authMethod":..|null,"details":..,"id":uuid,
//!  "ip":..|null,"outcome":..,"resource":..|null,"timestamp":"2025-01-02T03:04:05.678Z",
//!  "userId":uuid}
//! ```
//!
//! UUIDs are lowercase hyphenated; the timestamp is UTC, RFC 3339, truncated to milliseconds
//! (the precision the store keeps). Numbers and string escapes are serde_json's.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::{macros::format_description, OffsetDateTime, UtcOffset};
use uuid::Uuid;

/// `prev_hash` of the first entry of every user's chain: 64 `'0'`s.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An audit event to append, usually in the same transaction as the change it records.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Entry id (UUID v7 by convention).
    pub id: Uuid,
    /// Whose chain this goes into (for refresh rotation the store replaces it).
    pub user_id: Uuid,
    /// When it happened (stored at millisecond precision).
    pub at: OffsetDateTime,
    /// Action, e.g. `auth.register`, `secret.put`.
    pub action: String,
    /// Target, e.g. a key id or secret name.
    pub resource: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// Client IP.
    pub ip: Option<String>,
    /// `jwt` or `api_key`.
    pub auth_method: Option<String>,
    /// API key used, if any.
    pub api_key_id: Option<Uuid>,
    /// Free-form details; never secrets, tokens or code.
    pub details: Value,
}

/// A stored audit entry: the event plus its chain position and hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Entry id.
    pub id: Uuid,
    /// Chain owner.
    pub user_id: Uuid,
    /// Position in the user's chain: 1, 2, 3, ... without gaps.
    pub seq: i64,
    /// When it happened (millisecond precision, UTC).
    pub at: OffsetDateTime,
    /// Action.
    pub action: String,
    /// Target.
    pub resource: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// Client IP.
    pub ip: Option<String>,
    /// `jwt` or `api_key`.
    pub auth_method: Option<String>,
    /// API key used, if any.
    pub api_key_id: Option<Uuid>,
    /// Details.
    pub details: Value,
    /// Hash of the previous entry (hex), [`GENESIS_HASH`] for seq 1.
    pub prev_hash: String,
    /// This entry's hash (hex).
    pub hash: String,
}

impl AuditEntry {
    /// The event this entry records, for recomputing its hash.
    pub fn event(&self) -> AuditEvent {
        AuditEvent {
            id: self.id,
            user_id: self.user_id,
            at: self.at,
            action: self.action.clone(),
            resource: self.resource.clone(),
            outcome: self.outcome.clone(),
            ip: self.ip.clone(),
            auth_method: self.auth_method.clone(),
            api_key_id: self.api_key_id,
            details: self.details.clone(),
        }
    }
}

/// `hex(SHA-256(prev_hash_hex || canonical_json(event)))`.
pub fn audit_hash(prev_hash_hex: &str, event: &AuditEvent) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash_hex.as_bytes());
    hasher.update(canonical_event_json(event).as_bytes());
    hex::encode(hasher.finalize())
}

/// The canonical JSON of an event, exactly the bytes [`audit_hash`] hashes after the
/// previous hash.
pub fn canonical_event_json(event: &AuditEvent) -> String {
    let value = json!({
        "id": event.id.hyphenated().to_string(),
        "userId": event.user_id.hyphenated().to_string(),
        "timestamp": rfc3339_millis(event.at),
        "action": event.action,
        "resource": event.resource,
        "outcome": event.outcome,
        "ip": event.ip,
        "authMethod": event.auth_method,
        "apiKeyId": event.api_key_id.map(|id| id.hyphenated().to_string()),
        "details": event.details,
    });
    canonical_json(&value)
}

/// Compact JSON with object keys sorted (by UTF-8 bytes) at every depth, independent of
/// serde_json's `preserve_order` feature.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        // Scalars have one compact serialisation already.
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// `2025-01-02T03:04:05.678Z`: UTC, milliseconds truncated.
pub fn rfc3339_millis(at: OffsetDateTime) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    at.to_offset(UtcOffset::UTC)
        .format(&format)
        .expect("an OffsetDateTime has every component this format names")
}

/// Outcome of [`verify_chain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainVerification {
    /// True when every entry links to its predecessor and its hash recomputes.
    pub valid: bool,
    /// How many entries were checked.
    pub entries: usize,
    /// Hash of the last entry ([`GENESIS_HASH`] for an empty chain).
    pub head: String,
    /// The seq of the first entry that failed, if any.
    pub first_invalid_seq: Option<i64>,
}

/// Recomputes a chain given oldest first (as [`crate::AuditStore::audit_chain`] returns it):
/// seqs must run 1, 2, 3, ..., each `prev_hash` must be the previous `hash`, and each `hash`
/// must equal [`audit_hash`] of its event.
pub fn verify_chain(entries: &[AuditEntry]) -> ChainVerification {
    let mut prev = GENESIS_HASH.to_owned();
    for (i, entry) in entries.iter().enumerate() {
        let expected_seq = i64::try_from(i).map_or(i64::MAX, |i| i + 1);
        let ok = entry.seq == expected_seq
            && entry.prev_hash == prev
            && entry.hash == audit_hash(&prev, &entry.event());
        if !ok {
            return ChainVerification {
                valid: false,
                entries: entries.len(),
                head: entries.last().map_or(prev, |e| e.hash.clone()),
                first_invalid_seq: Some(entry.seq),
            };
        }
        prev.clone_from(&entry.hash);
    }
    ChainVerification {
        valid: true,
        entries: entries.len(),
        head: prev,
        first_invalid_seq: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn event() -> AuditEvent {
        AuditEvent {
            id: Uuid::parse_str("0192f0c1-0000-7000-8000-000000000001").unwrap(),
            user_id: Uuid::parse_str("0192f0c1-0000-7000-8000-0000000000aa").unwrap(),
            at: datetime!(2025-01-02 03:04:05.678_9 UTC),
            action: "secret.put".into(),
            resource: Some("DB_URL".into()),
            outcome: "success".into(),
            ip: Some("127.0.0.1".into()),
            auth_method: Some("api_key".into()),
            api_key_id: None,
            details: json!({"z": 1, "a": {"y": [true, null], "b": "x\"y"}}),
        }
    }

    fn entry_after(prev: &str, seq: i64, event: AuditEvent) -> AuditEntry {
        AuditEntry {
            id: event.id,
            user_id: event.user_id,
            seq,
            at: event.at,
            action: event.action.clone(),
            resource: event.resource.clone(),
            outcome: event.outcome.clone(),
            ip: event.ip.clone(),
            auth_method: event.auth_method.clone(),
            api_key_id: event.api_key_id,
            details: event.details.clone(),
            prev_hash: prev.to_owned(),
            hash: audit_hash(prev, &event),
        }
    }

    #[test]
    fn canonical_json_has_sorted_keys_at_every_depth_and_millisecond_utc_time() {
        assert_eq!(
            canonical_event_json(&event()),
            concat!(
                r#"{"action":"secret.put","apiKeyId":null,"authMethod":"api_key","#,
                r#""details":{"a":{"b":"x\"y","y":[true,null]},"z":1},"#,
                r#""id":"0192f0c1-0000-7000-8000-000000000001","ip":"127.0.0.1","#,
                r#""outcome":"success","resource":"DB_URL","#,
                r#""timestamp":"2025-01-02T03:04:05.678Z","#,
                r#""userId":"0192f0c1-0000-7000-8000-0000000000aa"}"#
            )
        );
    }

    #[test]
    fn the_hash_is_sha256_of_the_previous_hex_then_the_canonical_json() {
        let e = event();
        let mut hasher = Sha256::new();
        hasher.update(GENESIS_HASH.as_bytes());
        hasher.update(canonical_event_json(&e).as_bytes());
        assert_eq!(audit_hash(GENESIS_HASH, &e), hex::encode(hasher.finalize()));
        assert_eq!(audit_hash(GENESIS_HASH, &e).len(), 64);
    }

    #[test]
    fn the_hash_ignores_the_offset_and_sub_millisecond_digits_of_the_time() {
        let a = event();
        let mut b = event();
        b.at = datetime!(2025-01-02 04:04:05.678 +01:00);
        assert_eq!(audit_hash(GENESIS_HASH, &a), audit_hash(GENESIS_HASH, &b));
    }

    #[test]
    fn changing_any_field_or_the_previous_hash_changes_the_hash() {
        let base = audit_hash(GENESIS_HASH, &event());
        let mut changed = event();
        changed.outcome = "failure".into();
        assert_ne!(audit_hash(GENESIS_HASH, &changed), base);
        let mut changed = event();
        changed.details = json!({"z": 2});
        assert_ne!(audit_hash(GENESIS_HASH, &changed), base);
        assert_ne!(audit_hash(&"1".repeat(64), &event()), base);
    }

    #[test]
    fn a_well_linked_chain_verifies_and_a_tampered_one_does_not() {
        let first = entry_after(GENESIS_HASH, 1, event());
        let mut second_event = event();
        second_event.id = Uuid::nil();
        let second = entry_after(&first.hash, 2, second_event);
        let chain = vec![first, second];

        let ok = verify_chain(&chain);
        assert!(ok.valid);
        assert_eq!(ok.entries, 2);
        assert_eq!(ok.head, chain[1].hash);

        let mut tampered = chain.clone();
        tampered[0].action = "secret.delete".into();
        let bad = verify_chain(&tampered);
        assert!(!bad.valid);
        assert_eq!(bad.first_invalid_seq, Some(1));

        let mut gap = chain;
        gap[1].seq = 3;
        assert_eq!(verify_chain(&gap).first_invalid_seq, Some(3));
    }

    #[test]
    fn an_empty_chain_is_valid_with_the_genesis_head() {
        let v = verify_chain(&[]);
        assert!(v.valid);
        assert_eq!(v.head, GENESIS_HASH);
    }
}
