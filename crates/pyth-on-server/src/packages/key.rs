//! The content address of an environment.

use sha2::{Digest, Sha256};

use super::PackageSpec;
use crate::domain::Language;

/// Hex SHA-256 of the language, the runtime version, the index URL and the sorted, deduplicated
/// canonical specs, each length-prefixed (see [`super::PackageManager::env_key`]).
pub fn env_key(
    language: Language,
    runtime_version: &str,
    index: Option<&str>,
    specs: &[PackageSpec],
) -> String {
    let mut canonical: Vec<&str> = specs.iter().map(PackageSpec::spec).collect();
    canonical.sort_unstable();
    canonical.dedup();
    let mut hasher = Sha256::new();
    for field in [
        "pyth-on-env-v1",
        language.as_str(),
        runtime_version,
        index.unwrap_or("-"),
    ]
    .into_iter()
    .chain(canonical)
    {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(language: Language, raw: &[&str]) -> Vec<PackageSpec> {
        raw.iter()
            .map(|r| PackageSpec::parse(language, r).unwrap())
            .collect()
    }

    #[test]
    fn the_key_ignores_order_and_spelling_of_the_same_set() {
        let a = specs(Language::Python, &["Requests>=2", "six"]);
        let b = specs(Language::Python, &["six", "requests>=2"]);
        let key = env_key(Language::Python, "3.11.2", None, &a);
        assert_eq!(key, env_key(Language::Python, "3.11.2", None, &b));
        assert_eq!(key.len(), 64);
        assert!(key.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn the_key_changes_with_the_set_the_interpreter_the_index_and_the_language() {
        let a = specs(Language::Python, &["six"]);
        let base = env_key(Language::Python, "3.11.2", None, &a);
        let others = [
            env_key(Language::Python, "3.12.0", None, &a),
            env_key(Language::Python, "3.11.2", Some("http://mirror/simple"), &a),
            env_key(
                Language::Python,
                "3.11.2",
                None,
                &specs(Language::Python, &["six==1.16.0"]),
            ),
            env_key(
                Language::Javascript,
                "3.11.2",
                None,
                &specs(Language::Javascript, &["six"]),
            ),
        ];
        for other in others {
            assert_ne!(base, other);
        }
    }
}
