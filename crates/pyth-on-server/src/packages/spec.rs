//! [`PackageSpec`]: a validated package spec of one language, parsed once at the edge.

use crate::domain::Language;

use super::{npm_spec, pep508, PackageError};

/// A spec that names a registry package and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSpec {
    language: Language,
    name: String,
    spec: String,
}

impl PackageSpec {
    /// Parses `raw` with the language's parser; the error is 400 `invalid_package` naming it.
    pub fn parse(language: Language, raw: &str) -> Result<Self, PackageError> {
        let invalid = |reason: &str| PackageError::InvalidSpec {
            spec: raw.to_string(),
            reason: reason.to_string(),
        };
        match language {
            Language::Python => {
                let req = pep508::parse(raw).map_err(invalid)?;
                Ok(Self {
                    language,
                    spec: req.canonical(),
                    name: req.name,
                })
            }
            Language::Javascript => {
                let req = npm_spec::parse(raw).map_err(invalid)?;
                Ok(Self {
                    language,
                    spec: req.canonical(),
                    name: req.name,
                })
            }
        }
    }

    /// Parses a whole list: at most `max` entries, no two with the same normalized name.
    pub fn parse_list(
        language: Language,
        raw: &[String],
        max: usize,
    ) -> Result<Vec<Self>, PackageError> {
        if raw.len() > max {
            return Err(PackageError::TooMany { max });
        }
        let mut specs = raw
            .iter()
            .map(|r| Self::parse(language, r))
            .collect::<Result<Vec<_>, _>>()?;
        specs.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(pair) = specs.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(PackageError::Duplicate {
                name: pair[0].name.clone(),
            });
        }
        Ok(specs)
    }

    /// A spec read back from the store (already validated when written).
    pub fn from_stored(language: Language, spec: &str) -> Result<Self, PackageError> {
        Self::parse(language, spec)
    }

    /// The language.
    pub fn language(&self) -> Language {
        self.language
    }

    /// Normalized name (PEP 503 for Python; the lowercase npm name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Canonical spec text, what the installer gets.
    pub fn spec(&self) -> &str {
        &self.spec
    }
}

/// A name in a `DELETE` path, normalized like the specs' names; `None` if it cannot exist.
pub fn normalize_name(language: Language, raw: &str) -> Option<String> {
    match language {
        Language::Python => pep508::normalize_name(raw),
        Language::Javascript => npm_spec::parse(raw)
            .ok()
            .filter(|r| r.range.is_none())
            .map(|r| r.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_with_the_same_name_twice_after_normalization_is_refused() {
        let raw = vec![
            "Typing_Extensions".to_string(),
            "typing-extensions>=4".into(),
        ];
        let err = PackageSpec::parse_list(Language::Python, &raw, 50).unwrap_err();
        assert!(matches!(err, PackageError::Duplicate { name } if name == "typing-extensions"));
    }

    #[test]
    fn a_list_longer_than_the_bound_is_refused() {
        let raw: Vec<String> = (0..51).map(|i| format!("pkg{i}")).collect();
        assert!(matches!(
            PackageSpec::parse_list(Language::Python, &raw, 50),
            Err(PackageError::TooMany { max: 50 })
        ));
        assert!(PackageSpec::parse_list(Language::Python, &raw[..50], 50).is_ok());
    }

    #[test]
    fn a_refusal_names_the_offending_spec() {
        let err = PackageSpec::parse(Language::Javascript, "git+https://x/y").unwrap_err();
        assert!(err.to_string().contains("git+https://x/y"), "{err}");
    }

    #[test]
    fn delete_names_normalize_like_specs() {
        assert_eq!(
            normalize_name(Language::Python, "Typing_Extensions").as_deref(),
            Some("typing-extensions")
        );
        assert_eq!(
            normalize_name(Language::Javascript, "@types/node").as_deref(),
            Some("@types/node")
        );
        assert_eq!(normalize_name(Language::Javascript, "a@1"), None);
        assert_eq!(normalize_name(Language::Python, "../x"), None);
    }
}
