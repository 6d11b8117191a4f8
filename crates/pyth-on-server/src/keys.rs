//! API keys: listed, created (the value shown once) and revoked for their owner, each change
//! audited in the same transaction. Managing keys needs an access token, never a key.

use pyth_on_crypto::ApiKey;
use pyth_on_store::{ApiKeyRecord, Constraint, NewApiKey, StoreError};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{self, Action, Outcome};
use crate::caller::Caller;
use crate::domain::Invalid;
use crate::state::AppState;

/// Keys a user may hold at once (the store counts and inserts atomically).
pub const MAX_KEYS_PER_USER: u32 = 50;

/// A key's name: 1 to 64 printable characters, surrounding blanks dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

impl KeyName {
    /// Parses a name as given.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(Invalid::field(
                "name",
                "must be 1 to 64 printable characters",
            ));
        }
        Ok(Self(name.to_string()))
    }
}

/// Why a key operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The owner holds [`MAX_KEYS_PER_USER`] keys already.
    #[error("an account holds at most {MAX_KEYS_PER_USER} API keys; revoke one first")]
    TooMany,
    /// No live key of the owner has this id.
    #[error("no such API key")]
    NotFound,
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A key just created: its row, and its value (shown once, never stored).
#[derive(Debug)]
pub struct Created {
    /// The stored row (its hash, never its value).
    pub row: NewApiKey,
    /// The key itself.
    pub key: ApiKey,
}

/// The owner's live keys.
pub async fn list(state: &AppState, user: &Caller) -> Result<Vec<ApiKeyRecord>, KeyError> {
    Ok(state.store().list_api_keys(user.user_id).await?)
}

/// Creates a key named `name` for the caller.
pub async fn create(state: &AppState, user: &Caller, name: KeyName) -> Result<Created, KeyError> {
    let key = ApiKey::generate();
    let row = NewApiKey {
        id: Uuid::now_v7(),
        user_id: user.user_id,
        name: name.0,
        prefix: key.display_prefix(),
        key_hash: key.hash().to_vec(),
        created_at: OffsetDateTime::now_utc(),
    };
    let event = audit::by(
        user,
        Action::KeyCreate,
        Some(row.id.to_string()),
        Outcome::Success,
        json!({ "name": row.name }),
    );
    let created = state
        .store()
        .create_api_key(&row, MAX_KEYS_PER_USER, Some(&event))
        .await;
    match created {
        Ok(()) => Ok(Created { row, key }),
        Err(StoreError::Conflict {
            constraint: Constraint::ApiKeyQuota,
        }) => Err(KeyError::TooMany),
        Err(err) => Err(err.into()),
    }
}

/// Revokes the caller's key `id`; it stops working at once.
pub async fn revoke(state: &AppState, user: &Caller, id: Uuid) -> Result<(), KeyError> {
    let event = audit::by(
        user,
        Action::KeyRevoke,
        Some(id.to_string()),
        Outcome::Success,
        json!({}),
    );
    let now = OffsetDateTime::now_utc();
    match state
        .store()
        .revoke_api_key(user.user_id, id, now, &event)
        .await?
    {
        true => Ok(()),
        false => Err(KeyError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_name_is_trimmed_printable_and_at_most_64_characters() {
        assert_eq!(KeyName::parse("  ci  ").unwrap(), KeyName("ci".into()));
        assert!(KeyName::parse(&"é".repeat(64)).is_ok());
        for bad in ["", "   ", "a\nb", &"x".repeat(65)] {
            assert_eq!(KeyName::parse(bad).unwrap_err().code, "validation_failed");
        }
    }
}
