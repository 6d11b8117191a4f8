//! Secrets: sealed and written for their owner ([`put`]), decrypted just in time for the
//! owner's runs ([`open_for_run`]: those the run names, else the account's default, all or
//! none), and redacted from what a run prints.

use pyth_on_crypto::SealedSecret;
use pyth_on_store::{Constraint, PutOutcome, SealedSecretRow, SecretsDefault, StoreError};
use serde_json::json;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::audit::{self, Action, Outcome};
use crate::caller::Caller;
use crate::domain::{Invalid, VarName};
use crate::state::AppState;

/// How often a write is tried again when a concurrent write bumped the version first.
const PUT_ATTEMPTS: usize = 3;

/// A secret's value: not empty, at most `--max-secret-bytes`, no NUL; wiped on drop.
pub struct SecretValue(Zeroizing<String>);

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue([redacted])")
    }
}

/// Why a secret was not written.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// The value is empty or holds NUL.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The value is over `--max-secret-bytes`.
    #[error("a secret value is at most {0} bytes")]
    TooLarge(u64),
    /// The owner holds `--max-secrets-per-user` secrets already.
    #[error("an account holds at most {0} secrets")]
    TooMany(u32),
    /// Concurrent writes kept changing the secret.
    #[error("the secret changed while it was being written; retry")]
    Concurrent,
    /// It could not be sealed.
    #[error("sealing the secret")]
    Seal(#[source] anyhow::Error),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SecretValue {
    /// Checks `raw` against the configured limit.
    pub fn parse(state: &AppState, raw: String) -> Result<Self, PutError> {
        let value = Zeroizing::new(raw);
        if value.is_empty() {
            return Err(Invalid::field("value", "must not be empty").into());
        }
        let limit = state.settings().max_secret_bytes;
        if value.len() as u64 > limit {
            return Err(PutError::TooLarge(limit));
        }
        if value.contains('\0') {
            return Err(Invalid::field("value", "must not contain NUL characters").into());
        }
        Ok(Self(value))
    }
}

/// Seals `value` as the next version of `user`'s secret `name` and writes it with its audit
/// entry (optimistic concurrency: a write that lost the race to another is tried again).
/// Answers what this call wrote, not a read-back that could see a later writer's version.
pub async fn put(
    state: &AppState,
    user: &Caller,
    name: &VarName,
    value: &SecretValue,
) -> Result<(PutOutcome, SealedSecretRow), PutError> {
    let max = state.settings().max_secrets_per_user;
    for _ in 0..PUT_ATTEMPTS {
        let current = state
            .store()
            .get_secret(user.user_id, name.as_str())
            .await?;
        let expected = current.as_ref().map(|c| c.version);
        let created_at = current.as_ref().map(|c| c.created_at);
        let row = sealed_row(state, user, name, value, expected, created_at)?;
        let details = json!({ "version": row.version });
        let resource = Some(row.name.clone());
        let event = audit::by(user, Action::SecretPut, resource, Outcome::Success, details);
        match state.store().put_secret(&row, expected, max, &event).await {
            Ok(outcome) => return Ok((outcome, row)),
            Err(StoreError::Conflict {
                constraint: Constraint::SecretQuota,
            }) => return Err(PutError::TooMany(max)),
            Err(StoreError::Conflict {
                constraint: Constraint::SecretVersion,
            }) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(PutError::Concurrent)
}

/// The row of the version after `expected`, sealed under the newest key.
fn sealed_row(
    state: &AppState,
    user: &Caller,
    name: &VarName,
    value: &SecretValue,
    expected: Option<i64>,
    created_at: Option<OffsetDateTime>,
) -> Result<SealedSecretRow, PutError> {
    let version = expected.map_or(1, |v| v + 1);
    let sealed = pyth_on_crypto::seal_secret(
        &state.keyring_for_sealing(),
        user.user_id,
        name.as_str(),
        version,
        value.0.as_bytes(),
    )
    .map_err(|e| PutError::Seal(e.into()))?;
    // Milliseconds: what both databases keep, so the answer equals what a later read sees.
    let now = OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(now);
    Ok(SealedSecretRow {
        user_id: user.user_id,
        name: name.as_str().to_string(),
        version,
        key_version: sealed.key_version,
        wrapped_key: sealed.wrapped_key,
        nonce: sealed.nonce,
        ciphertext: sealed.ciphertext,
        created_at: created_at.unwrap_or(now),
        updated_at: now,
    })
}

pub use crate::redact::OpenSecrets;

/// The owner's secrets' names, versions and times (never values).
pub async fn list(
    state: &AppState,
    user: &Caller,
) -> Result<Vec<pyth_on_store::SecretMeta>, StoreError> {
    state.store().list_secrets(user.user_id).await
}

/// Deletes the owner's secret `name` (audited); `false` when there is none.
pub async fn delete(state: &AppState, user: &Caller, name: &VarName) -> Result<bool, StoreError> {
    let event = audit::by(
        user,
        Action::SecretDelete,
        Some(name.as_str().to_string()),
        Outcome::Success,
        json!({}),
    );
    state
        .store()
        .delete_secret(user.user_id, name.as_str(), &event)
        .await
}

/// Most secret names one request may give.
pub const MAX_NAMED_SECRETS: usize = 100;

/// Which of the owner's secrets a run receives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SecretSelection {
    /// The account's `secretsDefault`: all of them, or none.
    #[default]
    AccountDefault,
    /// Exactly these (sorted, without repeats).
    Named(Vec<VarName>),
}

impl SecretSelection {
    /// The `secrets` field of a request: absent is the account's default; each name must be
    /// a valid secret name, at most [`MAX_NAMED_SECRETS`] of them.
    pub fn parse(raw: Option<Vec<String>>) -> Result<Self, Invalid> {
        let Some(raw) = raw else {
            return Ok(Self::AccountDefault);
        };
        if raw.len() > MAX_NAMED_SECRETS {
            return Err(Invalid::field("secrets", "must name at most 100 secrets"));
        }
        let mut names = raw
            .iter()
            .map(|name| VarName::parse(name, "secrets"))
            .collect::<Result<Vec<_>, _>>()?;
        names.sort();
        names.dedup();
        Ok(Self::Named(names))
    }
}

/// Why the owner's secrets could not be opened for a run.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The run names secrets the account does not have.
    #[error("no secret named {}: set it first, or leave it out of `secrets`", .0.join(", "))]
    Unknown(Vec<String>),
    /// The store.
    #[error(transparent)]
    Store(#[from] pyth_on_store::StoreError),
    /// A secret does not open with this node's keyring (or is not UTF-8).
    #[error("secret {name} cannot be opened")]
    Unopenable {
        /// The secret.
        name: String,
        /// Why.
        #[source]
        source: anyhow::Error,
    },
}

/// Decrypts the secrets of one of `owner`'s runs: those it names (every one must exist), or
/// with none named, all of them or none as the account says.
pub async fn open_for_run(
    state: &AppState,
    owner: &Caller,
    selection: &SecretSelection,
) -> Result<OpenSecrets, OpenError> {
    let rows = sealed_for_run(state, owner, selection).await?;
    open_rows(state, owner, rows)
}

/// The sealed rows [`open_for_run`] would decrypt, read but not opened: a run reads them
/// beside its quota reservation and opens them ([`open_rows`]) once it is admitted.
pub async fn sealed_for_run(
    state: &AppState,
    owner: &Caller,
    selection: &SecretSelection,
) -> Result<Vec<SealedSecretRow>, OpenError> {
    Ok(match selection {
        SecretSelection::AccountDefault if owner.secrets_default == SecretsDefault::None => {
            Vec::new()
        }
        SecretSelection::AccountDefault => state.store().sealed_secrets_for(owner.user_id).await?,
        SecretSelection::Named(names) if names.is_empty() => Vec::new(),
        SecretSelection::Named(names) => {
            let all = state.store().sealed_secrets_for(owner.user_id).await?;
            named(all, names)?
        }
    })
}

/// Decrypts `rows` of `owner`'s ([`sealed_for_run`]).
pub fn open_rows(
    state: &AppState,
    owner: &Caller,
    rows: Vec<SealedSecretRow>,
) -> Result<OpenSecrets, OpenError> {
    let owner = owner.user_id;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let sealed = SealedSecret {
            key_version: row.key_version,
            wrapped_key: row.wrapped_key,
            nonce: row.nonce,
            ciphertext: row.ciphertext,
        };
        let mut keyring = state.keyring();
        if !keyring.versions().contains(&sealed.key_version) {
            // Sealed under a key another node (or `keys rotate`) added since we loaded ours.
            keyring = state.reload_keyring();
        }
        let value = pyth_on_crypto::open_secret(&keyring, owner, &row.name, row.version, &sealed)
            .map_err(|e| OpenError::Unopenable {
            name: row.name.clone(),
            source: anyhow::Error::new(e),
        })?;
        let value = String::from_utf8(value.to_vec()).map_err(|_| OpenError::Unopenable {
            name: row.name.clone(),
            source: anyhow::anyhow!("not UTF-8"),
        })?;
        out.push((row.name, Zeroizing::new(value)));
    }
    Ok(out)
}

/// The rows of `names`; `Unknown` listing those missing.
fn named(all: Vec<SealedSecretRow>, names: &[VarName]) -> Result<Vec<SealedSecretRow>, OpenError> {
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !all.iter().any(|row| row.name == n.as_str()))
        .map(|n| n.as_str().to_string())
        .collect();
    if !missing.is_empty() {
        return Err(OpenError::Unknown(missing));
    }
    let wanted = |row: &SealedSecretRow| names.iter().any(|n| n.as_str() == row.name);
    Ok(all.into_iter().filter(wanted).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_field_is_the_account_default_and_names_are_sorted_without_repeats() {
        let absent = SecretSelection::parse(None).unwrap();
        let named = SecretSelection::parse(Some(vec!["B".into(), "A".into(), "B".into()]));

        assert_eq!(absent, SecretSelection::AccountDefault);
        let names = match named.unwrap() {
            SecretSelection::Named(names) => names,
            other => panic!("{other:?}"),
        };
        let names: Vec<&str> = names.iter().map(VarName::as_str).collect();
        assert_eq!(names, ["A", "B"]);
    }

    #[test]
    fn bad_names_and_too_many_names_are_refused() {
        let lower = SecretSelection::parse(Some(vec!["lower".into()]));
        let many = SecretSelection::parse(Some(vec!["A".into(); MAX_NAMED_SECRETS + 1]));

        assert_eq!(lower.unwrap_err().code, "invalid_name");
        assert_eq!(many.unwrap_err().code, "validation_failed");
    }
}
