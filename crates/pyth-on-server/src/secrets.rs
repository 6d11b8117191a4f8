//! Secrets for a run: decrypted just in time for their owner, and redacted from what the run
//! prints.

use pyth_on_crypto::SealedSecret;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::state::AppState;

/// The owner's secrets as `(name, value)` pairs; values wiped on drop.
pub type OpenSecrets = Vec<(String, Zeroizing<String>)>;

/// Why the owner's secrets could not be opened for a run.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
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

/// Decrypts every secret of `owner` for one of `owner`'s runs.
pub async fn open_for_run(state: &AppState, owner: Uuid) -> Result<OpenSecrets, OpenError> {
    let rows = state.store().sealed_secrets_for(owner).await?;
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

/// Shortest value that is redacted: shorter ones would mangle ordinary output.
pub const MIN_REDACTED_LEN: usize = 4;

/// Replaces every exact occurrence of a secret value (of 4 bytes or more) with `***`.
/// Longer values go first so a value containing another is replaced whole.
pub fn redact(text: &str, secrets: &OpenSecrets) -> String {
    let mut values: Vec<&str> = secrets
        .iter()
        .map(|(_, v)| v.as_str())
        .filter(|v| v.len() >= MIN_REDACTED_LEN)
        .collect();
    if values.is_empty() {
        return text.to_string();
    }
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let mut out = text.to_string();
    for value in values {
        if out.contains(value) {
            out = out.replace(value, "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(values: &[&str]) -> OpenSecrets {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("S{i}"), Zeroizing::new((*v).to_string())))
            .collect()
    }

    #[test]
    fn every_occurrence_of_a_secret_value_is_replaced() {
        let out = redact("key=hunter22 and again hunter22.", &secrets(&["hunter22"]));
        assert_eq!(out, "key=*** and again ***.");
    }

    #[test]
    fn values_shorter_than_four_bytes_are_left_alone() {
        assert_eq!(redact("abc abc", &secrets(&["abc"])), "abc abc");
    }

    #[test]
    fn a_longer_value_containing_a_shorter_one_is_replaced_whole() {
        let out = redact(
            "tokenXYZ-extended",
            &secrets(&["tokenXYZ", "tokenXYZ-extended"]),
        );
        assert_eq!(out, "***");
    }
}
