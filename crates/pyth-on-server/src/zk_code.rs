//! Encrypted programs stored for their owner (zkcode v1 payloads, opaque to the server):
//! checked and stored or replaced ([`put`]), listed, read for a run ([`get`]) and deleted, each
//! change audited in the same transaction. The server never decrypts a stored payload.

use crate::quotas::{QuotaError, QuotaExceeded};
use pyth_on_crypto::zkcode::{self, ZkPayload};
use pyth_on_store::{Constraint, PutOutcome, StoreError, ZkCodeRow};
use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{self, Action, Outcome};
use crate::caller::Caller;
use crate::domain::{parse_language, Invalid};
use crate::state::AppState;

/// The rule a stored name follows.
const NAME_RULE: &str =
    "must be 1 to 128 letters, digits, dots, dashes and underscores (like report-v2.py)";

/// The name a program is stored under: `^[A-Za-z0-9._-]{1,128}$`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkName(String);

impl ZkName {
    /// Parses a name (400 `invalid_name` naming the rule).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let ok = !raw.is_empty()
            && raw.len() <= 128
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !ok {
            return Err(Invalid {
                code: "invalid_name",
                message: format!("name {NAME_RULE}"),
                details: Some(json!({ "name": NAME_RULE })),
            });
        }
        Ok(Self(raw.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a stored program was not written, found or deleted.
#[derive(Debug, thiserror::Error)]
pub enum ZkCodeError {
    /// The name or the payload's language.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The payload breaks a zkcode v1 rule (the error names itself: "invalid zkcode
    /// payload: ...").
    #[error(transparent)]
    Payload(#[from] zkcode::ZkError),
    /// The owner stores `--max-zk-code-per-user` programs already.
    #[error("an account stores at most {0} encrypted programs")]
    TooMany(u32),
    /// No program of the owner has this name.
    #[error("no encrypted code is stored under this name")]
    NotFound,
    /// The owner's storage quota would be exceeded.
    #[error(transparent)]
    Quota(QuotaExceeded),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<QuotaError> for ZkCodeError {
    fn from(err: QuotaError) -> Self {
        match err {
            QuotaError::Exceeded(exceeded) => Self::Quota(exceeded),
            QuotaError::Store(err) => Self::Store(err),
            QuotaError::UserNotFound => Self::Store(StoreError::NotFound),
        }
    }
}

/// Checks `wire` (a zkcode v1 payload) and stores it under `name`, replacing what was there.
pub async fn put(
    state: &AppState,
    user: &Caller,
    name: &ZkName,
    wire: &[u8],
) -> Result<(PutOutcome, ZkCodeRow), ZkCodeError> {
    let limit = usize::try_from(state.settings().max_code_bytes).unwrap_or(usize::MAX);
    let payload = ZkPayload::from_json(wire, limit)?;
    let row = row(user, name, &payload)?;
    let event = audit::by(
        user,
        Action::ZkStore,
        Some(name.0.clone()),
        Outcome::Success,
        json!({
            "language": row.language, "size": row.size,
            "kdf": {"m": row.kdf_m, "t": row.kdf_t, "p": row.kdf_p},
        }),
    );
    let quota = state.settings().max_zk_code_per_user;
    let stored = crate::packages::storage::put_zk_code(state, &row, quota, &event).await;
    let outcome = match stored {
        Ok(outcome) => outcome,
        Err(QuotaError::Store(StoreError::Conflict {
            constraint: Constraint::ZkCodeQuota,
        })) => return Err(ZkCodeError::TooMany(quota)),
        Err(err) => return Err(err.into()),
    };
    // Read back: a replacement keeps its creation time.
    let stored = get(state, user, name).await?;
    Ok((outcome, stored))
}

/// The row for `payload` stored under `name` by `user`.
fn row(user: &Caller, name: &ZkName, payload: &ZkPayload) -> Result<ZkCodeRow, Invalid> {
    let language = parse_language(Some(payload.language()))?;
    let kdf = payload.kdf();
    let now = OffsetDateTime::now_utc();
    Ok(ZkCodeRow {
        user_id: user.user_id,
        name: name.0.clone(),
        language: language.as_str().to_string(),
        payload: payload.to_json().to_string(),
        size: i64::try_from(payload.code_len()).unwrap_or(i64::MAX),
        kdf_m: i64::from(kdf.m),
        kdf_t: i64::from(kdf.t),
        kdf_p: i64::from(kdf.p),
        created_at: now,
        updated_at: now,
    })
}

/// The owner's program `name`.
pub async fn get(state: &AppState, user: &Caller, name: &ZkName) -> Result<ZkCodeRow, ZkCodeError> {
    state
        .store()
        .get_zk_code(user.user_id, &name.0)
        .await?
        .ok_or(ZkCodeError::NotFound)
}

/// The owner's programs.
pub async fn list(state: &AppState, user: &Caller) -> Result<Vec<ZkCodeRow>, ZkCodeError> {
    Ok(state.store().list_zk_code(user.user_id).await?)
}

/// Deletes the owner's program `name`.
pub async fn delete(state: &AppState, user: &Caller, name: &ZkName) -> Result<(), ZkCodeError> {
    let event = audit::by(
        user,
        Action::ZkDelete,
        Some(name.0.clone()),
        Outcome::Success,
        json!({}),
    );
    match state
        .store()
        .delete_zk_code(user.user_id, &name.0, &event)
        .await?
    {
        true => Ok(()),
        false => Err(ZkCodeError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_name_is_ascii_letters_digits_dot_dash_or_underscore() {
        assert_eq!(
            ZkName::parse("etl-v1.2_final").unwrap().as_str(),
            "etl-v1.2_final"
        );
        for bad in ["", "a b", "ü", "a/b", &"x".repeat(129)] {
            let err = ZkName::parse(bad).unwrap_err();
            assert_eq!(err.code, "invalid_name", "{bad:?}");
            assert!(err.details.is_some());
        }
    }
}
