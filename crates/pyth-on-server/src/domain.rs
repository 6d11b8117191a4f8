//! Domain types parsed at the edge: emails, passwords, secret and variable names, languages.
//! Past a handler's first lines, invalid values cannot be represented.

use std::fmt;

/// Input that does not parse: answered as 400 with its stable code (`validation_failed` for a
/// field out of bounds), a sentence, and which field is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// Stable code, e.g. `validation_failed`, `invalid_name`, `unsupported_language`.
    pub code: &'static str,
    /// Human sentence.
    pub message: String,
    /// Field → problem.
    pub details: Option<serde_json::Value>,
}

impl Invalid {
    /// `validation_failed` naming one field.
    pub fn field(field: &str, problem: impl Into<String>) -> Self {
        let problem = problem.into();
        Self {
            code: "validation_failed",
            message: format!("{field}: {problem}"),
            details: Some(serde_json::json!({ field: problem })),
        }
    }

    /// A specific code, with no field.
    pub fn code(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
        }
    }
}

/// A lower-cased, plausibly valid email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses and lower-cases an address; refuses what cannot be one. The rules are those of
    /// the document's pattern, on the address as given (less surrounding spaces): at most 254
    /// characters, 1 to 64 before the `@`, a domain of dot-separated non-empty labels, no
    /// space or control character anywhere.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let given = raw.trim();
        let bad = || Invalid::field("email", "must be a valid email address");
        if given.is_empty() || given.chars().count() > 254 {
            return Err(bad());
        }
        let (local, domain) = given.rsplit_once('@').ok_or_else(bad)?;
        let ok_chars = |s: &str| {
            s.chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && c != '@')
        };
        if local.is_empty()
            || local.chars().count() > 64
            || domain.len() < 3
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
            || !ok_chars(local)
            || !ok_chars(domain)
        {
            return Err(bad());
        }
        Ok(Self(given.to_lowercase()))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An account password that meets the length rules. Debug never shows it.
pub struct Password(String);

impl Password {
    /// At least 12 characters and at most 1024 bytes.
    pub fn parse(raw: String) -> Result<Self, Invalid> {
        if raw.chars().count() < 12 {
            return Err(Invalid::field("password", "must be at least 12 characters"));
        }
        if raw.len() > 1024 {
            return Err(Invalid::field("password", "must be at most 1024 bytes"));
        }
        Ok(Self(raw))
    }

    /// Consumes it for hashing.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// A name for a secret or an environment variable: `^[A-Z_][A-Z0-9_]{0,63}$`, not reserved.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct VarName(String);

/// Names a run's environment depends on: setting them could hijack the runtime or the sandbox.
const RESERVED_EXACT: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "PWD",
    "OLDPWD",
    "TMPDIR",
    "TMP",
    "TEMP",
    "LANG",
    "LANGUAGE",
    "TERM",
    "TZ",
    "IFS",
    "ENV",
    "BASH_ENV",
    "CDPATH",
    "GLOBIGNORE",
    "PS4",
    "SHELLOPTS",
    "HOSTNAME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "GCONV_PATH",
    "LOCPATH",
    "MALLOC_CHECK_",
    "MALLOC_PERTURB_",
    "NLSPATH",
    "RESOLV_HOST_CONF",
    "RES_OPTIONS",
    "HOSTALIASES",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "OPENSSL_CONF",
    "VIRTUAL_ENV",
    "UV_INDEX_URL",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "NPM_CONFIG_REGISTRY",
    "UV_TOOL_DIR",
];
const RESERVED_PREFIXES: &[&str] = &[
    "LD_",
    "PYTHON",
    "NODE_",
    "NPM_CONFIG_",
    "PIP_",
    "UV_",
    "LC_",
    "GLIBC_",
    "MALLOC_",
    "BASH_FUNC_",
    "PYTH_ON",
    "PYTHON_",
    "DYLD_",
    "UV8_",
    "V8_",
    "GIO_",
    "GCONV_",
];

impl VarName {
    /// Parses a name; `field` names the field in error messages.
    pub fn parse(raw: &str, field: &str) -> Result<Self, Invalid> {
        let valid = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
            && raw
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            let rule = "must be 1 to 64 capital letters, digits and underscores, not starting \
                        with a digit (like API_TOKEN)";
            return Err(Invalid {
                code: "invalid_name",
                message: format!("{field} {rule}"),
                details: Some(serde_json::json!({ field: rule })),
            });
        }
        if RESERVED_EXACT.contains(&raw) || RESERVED_PREFIXES.iter().any(|p| raw.starts_with(p)) {
            return Err(Invalid {
                code: "reserved_name",
                message: format!("{raw} is reserved: the runtime or the sandbox depends on it"),
                details: Some(serde_json::json!({ field: "reserved" })),
            });
        }
        Ok(Self(raw.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The rule [`VarName::parse`] applies, as one ECMA-262 regular expression (for the OpenAPI
    /// document): the shape, then lookaheads that refuse the reserved names and prefixes.
    pub fn pattern() -> String {
        format!(
            "^(?!(?:{})$)(?!(?:{}))[A-Z_][A-Z0-9_]{{0,63}}$",
            RESERVED_EXACT.join("|"),
            RESERVED_PREFIXES.join("|")
        )
    }
}

/// A language the API knows: one definition for the whole workspace (the sandbox protocol's),
/// with its canonical name and aliases.
pub use pyth_on_sandbox::Language;

/// Parses a request's language: a canonical name or an alias (`GET /api/info` lists them);
/// none means Python.
pub fn parse_language(raw: Option<&str>) -> Result<Language, Invalid> {
    let Some(name) = raw else {
        return Ok(Language::Python);
    };
    Language::from_name(name).ok_or_else(|| {
        let known: Vec<String> = Language::ALL
            .iter()
            .map(|l| format!("{} ({})", l.as_str(), l.aliases().join(", ")))
            .collect();
        Invalid::code(
            "unsupported_language",
            format!("language must be one of: {}", known.join("; ")),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(
            Email::parse(" Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@x.io",
            "ada@x",
            "a da@x.io",
            "ada@.x.io",
            "ada@x..io",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn passwords_must_be_twelve_characters_to_a_kibibyte() {
        assert!(Password::parse("short".into()).is_err());
        assert!(Password::parse("a".repeat(12)).is_ok());
        assert!(Password::parse("a".repeat(1025)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("a".repeat(12)).unwrap()),
            "Password([redacted])"
        );
    }

    #[test]
    fn variable_names_follow_the_pattern_and_reserved_names_are_refused() {
        assert!(VarName::parse("API_KEY", "name").is_ok());
        assert!(VarName::parse("_X1", "name").is_ok());
        for bad in ["", "lower", "1ABC", "A-B", &"A".repeat(65)] {
            assert!(VarName::parse(bad, "name").is_err(), "{bad:?}");
        }
        for reserved in [
            "PATH",
            "HOME",
            "LD_PRELOAD",
            "PYTHONPATH",
            "NODE_OPTIONS",
            "TMPDIR",
            "BASH_ENV",
            "PYTH_ON_X",
        ] {
            let err = VarName::parse(reserved, "name").unwrap_err();
            assert_eq!(err.code, "reserved_name", "{reserved}");
        }
    }

    #[test]
    fn the_variable_name_pattern_lists_every_reserved_name() {
        let pattern = VarName::pattern();
        for name in RESERVED_EXACT.iter().chain(RESERVED_PREFIXES) {
            assert!(pattern.contains(name), "{name} missing from {pattern}");
        }
        assert!(pattern.ends_with("[A-Z_][A-Z0-9_]{0,63}$"), "{pattern}");
    }

    #[test]
    fn languages_accept_their_aliases() {
        assert_eq!(parse_language(None).unwrap(), Language::Python);
        assert_eq!(parse_language(Some("py")).unwrap(), Language::Python);
        assert_eq!(parse_language(Some("node")).unwrap(), Language::Javascript);
        assert_eq!(
            parse_language(Some("ruby")).unwrap_err().code,
            "unsupported_language"
        );
    }

    #[test]
    fn every_advertised_name_and_alias_is_accepted_in_any_case() {
        for language in Language::ALL {
            for name in language.aliases().iter().chain([&language.as_str()]) {
                assert_eq!(parse_language(Some(name)).unwrap(), language);
                let upper = name.to_ascii_uppercase();
                assert_eq!(parse_language(Some(&upper)).unwrap(), language);
            }
        }
    }

    #[test]
    fn the_documents_language_names_are_exactly_the_accepted_ones() {
        use pyth_on_types::LanguageName::*;
        let documented: Vec<String> = [Python, Py, Python3, Javascript, Js, Node, Nodejs]
            .iter()
            .map(|n| {
                serde_json::to_value(n)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let mut accepted: Vec<String> = Language::ALL
            .iter()
            .flat_map(|l| l.aliases().iter().copied().chain([l.as_str()]))
            .map(str::to_string)
            .collect();
        let mut sorted = documented.clone();
        sorted.sort();
        accepted.sort();
        assert_eq!(sorted, accepted);
    }
}
