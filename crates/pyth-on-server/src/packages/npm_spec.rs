//! npm specs: a registry package name with an optional semver range, and nothing that reaches
//! outside the registry.
//!
//! Accepted: `name`, `@scope/name`, either followed by `@<range>` where the range is node-semver
//! (`4.17.21`, `^4`, `~1.2.x`, `>=1 <2`, `1.2.3 - 2.3.4`, `^1 || ^2`, `*`) or the dist-tag
//! `latest`. Refused: URLs, `git+...`, `github:`-style shortcuts, `file:`, `link:`, `npm:`
//! aliases, paths, tarballs, other dist-tags, uppercase names and anything starting with `-`.

/// Longest accepted package name, in bytes (npm's own limit).
pub const MAX_NAME_LEN: usize = 214;
/// Longest accepted range, in bytes.
pub const MAX_RANGE_LEN: usize = 128;

/// A parsed npm spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpmRequirement {
    /// The name, with its scope.
    pub name: String,
    /// The range with its whitespace folded to single spaces, if one was given.
    pub range: Option<String>,
}

impl NpmRequirement {
    /// Canonical text: `name` or `name@range`.
    pub fn canonical(&self) -> String {
        match &self.range {
            Some(range) => format!("{}@{range}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Parses one spec; the error is a short reason.
pub fn parse(raw: &str) -> Result<NpmRequirement, &'static str> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("empty spec");
    }
    if s.starts_with('-') {
        return Err("looks like an installer option");
    }
    if !s.is_ascii() || s.bytes().any(|b| b.is_ascii_control() || b == b'\t') {
        return Err("non-ASCII or control characters");
    }
    if s.contains(':') {
        return Err("URLs, git, file, link and npm: alias specs are not allowed");
    }
    if s.starts_with(['.', '/', '~']) || s.contains('\\') {
        return Err("local paths are not allowed");
    }
    let (name, range) = match s.strip_prefix('@') {
        Some(scoped) => match scoped.split_once('@') {
            Some((name, range)) => (&s[..name.len() + 1], Some(range)),
            None => (s, None),
        },
        None => match s.split_once('@') {
            Some((name, range)) => (name, Some(range)),
            None => (s, None),
        },
    };
    validate_name(name)?;
    let range = match range {
        None => None,
        Some(r) => Some(parse_range(r)?),
    };
    Ok(NpmRequirement {
        name: name.to_string(),
        range,
    })
}

fn validate_name(name: &str) -> Result<(), &'static str> {
    if name.len() > MAX_NAME_LEN {
        return Err("name longer than 214 characters");
    }
    let parts: Vec<&str> = match name.strip_prefix('@') {
        Some(scoped) => {
            let (scope, pkg) = scoped
                .split_once('/')
                .ok_or("a scoped name is @scope/name")?;
            vec![scope, pkg]
        }
        None => {
            if name.contains('/') {
                return Err("GitHub shortcuts and paths are not allowed");
            }
            vec![name]
        }
    };
    for part in parts {
        let ok = part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && part.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'-' | b'.' | b'_' | b'~')
            });
        if !ok {
            return Err("invalid package name (lowercase letters, digits, - . _ ~)");
        }
    }
    if [".tgz", ".tar.gz", ".tar"]
        .iter()
        .any(|ext| name.ends_with(ext))
    {
        return Err("tarballs are not allowed");
    }
    if matches!(name, "node_modules" | "favicon.ico") {
        return Err("reserved package name");
    }
    Ok(())
}

fn parse_range(raw: &str) -> Result<String, &'static str> {
    if raw.is_empty() {
        return Err("empty version range after @");
    }
    if raw.len() > MAX_RANGE_LEN {
        return Err("version range longer than 128 characters");
    }
    if raw == "latest" {
        return Ok(raw.to_string());
    }
    if raw.ends_with(".tgz") || raw.ends_with(".tar.gz") || raw.contains('/') {
        return Err("tarballs and paths are not allowed");
    }
    let mut sets = Vec::new();
    for set in raw.split("||") {
        let words: Vec<&str> = set.split(' ').filter(|w| !w.is_empty()).collect();
        if words.is_empty() {
            return Err("empty alternative in a || range");
        }
        if let [low, "-", high] = words.as_slice() {
            if !is_partial(low) || !is_partial(high) {
                return Err("invalid hyphen range");
            }
        } else {
            for word in &words {
                if !is_comparator(word) {
                    return Err("invalid semver range (or a dist-tag other than latest)");
                }
            }
        }
        sets.push(words.join(" "));
    }
    Ok(sets.join(" || "))
}

/// `[op]partial` with op one of `^ ~ = < > <= >= ~>`, or a bare `*`/`x`.
fn is_comparator(word: &str) -> bool {
    let rest = ["<=", ">=", "~>", "<", ">", "=", "^", "~"]
        .iter()
        .find_map(|op| word.strip_prefix(op))
        .unwrap_or(word);
    is_partial(rest)
}

/// `[v]xr[.xr[.xr[-pre][+build]]]` with `xr` a number or `x`, `X`, `*`.
fn is_partial(word: &str) -> bool {
    let word = word.strip_prefix('v').unwrap_or(word);
    let (core, build) = match word.split_once('+') {
        Some((c, b)) => (c, Some(b)),
        None => (word, None),
    };
    let (core, pre) = match core.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (core, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return false;
    }
    let numbers_ok = parts.iter().all(|p| {
        matches!(*p, "x" | "X" | "*")
            || (!p.is_empty()
                && p.len() <= 16
                && p.bytes().all(|b| b.is_ascii_digit())
                && (*p == "0" || !p.starts_with('0')))
    });
    let ident = |s: &str| {
        s.split('.')
            .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    // A prerelease or build needs a full x.y.z version.
    let qualified = pre.is_some() || build.is_some();
    numbers_ok
        && (!qualified || parts.len() == 3)
        && pre.is_none_or(ident)
        && build.is_none_or(ident)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_specs_parse_to_their_canonical_form() {
        let cases = [
            ("lodash", "lodash"),
            (" lodash ", "lodash"),
            ("lodash@4.17.21", "lodash@4.17.21"),
            ("lodash@^4.17.0", "lodash@^4.17.0"),
            ("lodash@~4.17", "lodash@~4.17"),
            ("lodash@4", "lodash@4"),
            ("lodash@4.x", "lodash@4.x"),
            ("lodash@4.17.X", "lodash@4.17.X"),
            ("lodash@*", "lodash@*"),
            ("lodash@latest", "lodash@latest"),
            ("lodash@>=1.0.0  <2", "lodash@>=1.0.0 <2"),
            ("lodash@1.2.3 - 2.3.4", "lodash@1.2.3 - 2.3.4"),
            ("lodash@^1 || ^2", "lodash@^1 || ^2"),
            ("lodash@^1||^2", "lodash@^1 || ^2"),
            ("lodash@=1.0.0", "lodash@=1.0.0"),
            ("lodash@v1.0.0", "lodash@v1.0.0"),
            ("lodash@1.0.0-beta.1", "lodash@1.0.0-beta.1"),
            ("lodash@1.0.0+build.5", "lodash@1.0.0+build.5"),
            ("@types/node", "@types/node"),
            ("@types/node@20", "@types/node@20"),
            ("@babel/core@^7.0.0", "@babel/core@^7.0.0"),
            ("left-pad", "left-pad"),
            ("lodash.merge", "lodash.merge"),
            ("a_b~c", "a_b~c"),
            ("0x", "0x"),
        ];
        for (raw, canonical) in cases {
            let parsed = parse(raw).unwrap_or_else(|e| panic!("{raw:?} refused: {e}"));
            assert_eq!(parsed.canonical(), canonical, "{raw:?}");
        }
        assert_eq!(parse("@types/node@20").unwrap().name, "@types/node");
    }

    #[test]
    fn dangerous_or_malformed_specs_are_refused() {
        let cases = [
            "",
            "-g",
            "--registry=http://evil",
            "--global",
            "-",
            "https://example.com/x.tgz",
            "http://example.com/x.tgz",
            "git+https://github.com/x/y.git",
            "git://github.com/x/y",
            "github:user/repo",
            "gitlab:user/repo",
            "user/repo",
            "file:../x",
            "link:../x",
            "npm:lodash@4",
            "alias@npm:lodash@4",
            "lodash@npm:evil",
            "lodash@file:../x",
            "lodash@git+ssh://x",
            "./local",
            "../local",
            "/abs/path",
            "~/x",
            "x.tgz",
            "x.tar",
            "x.tar.gz",
            "lodash@./x.tgz",
            "lodash@x.tgz",
            "Lodash",
            "@Types/node",
            "@types",
            "@types/",
            "@/node",
            "_private",
            ".hidden",
            "node_modules",
            "lodash@",
            "lodash@next",
            "lodash@beta",
            "lodash@^1 ||",
            "lodash@1.2.3 -",
            "lodash@01.2.3",
            "lodash@1.2.3.4",
            "lodash@1.2-beta",
            "lodash@\t1",
            "lod ash",
            "lodash@1;rm -rf",
            "lodash@$(id)",
            "lod\\ash",
            "lodash\n--registry=x",
            "lodashé",
        ];
        for raw in cases {
            assert!(
                parse(raw).is_err(),
                "{raw:?} was accepted: {:?}",
                parse(raw)
            );
        }
        assert!(parse(&"a".repeat(215)).is_err());
        assert!(parse(&"a".repeat(214)).is_ok());
    }
}
