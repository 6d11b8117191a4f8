//! Python requirement specs: the part of PEP 508 a package list needs, and nothing that
//! reaches outside the index.
//!
//! Accepted: `name`, `name[extra,extra]`, and either followed by comma-separated PEP 440
//! version specifiers (`==`, `!=`, `<=`, `>=`, `<`, `>`, `~=`, `===`). Refused: URLs
//! (`name @ https://...`), environment markers (`; python_version < "3"`), paths, whitespace
//! inside the spec, anything starting with `-` (an installer option such as `-r file` or
//! `--index-url`), more than [`MAX_EXTRAS`] extras, and specs over [`MAX_LEN`] bytes.

/// Longest accepted spec, in bytes.
pub const MAX_LEN: usize = 200;
/// Most extras in one spec.
pub const MAX_EXTRAS: usize = 5;

/// A parsed Python requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonRequirement {
    /// PEP 503 normalized name: lowercase, runs of `-`, `_`, `.` folded to one `-`.
    pub name: String,
    /// Normalized extras, sorted and deduplicated.
    pub extras: Vec<String>,
    /// Specifiers as `(operator, version)`, in the order given.
    pub specifiers: Vec<(&'static str, String)>,
}

impl PythonRequirement {
    /// Canonical text: `name[a,b]>=1,<2`.
    pub fn canonical(&self) -> String {
        let mut out = self.name.clone();
        if !self.extras.is_empty() {
            out.push('[');
            out.push_str(&self.extras.join(","));
            out.push(']');
        }
        let specs: Vec<String> = self
            .specifiers
            .iter()
            .map(|(op, v)| format!("{op}{v}"))
            .collect();
        out.push_str(&specs.join(","));
        out
    }
}

/// Parses one spec; the error is a short reason.
pub fn parse(raw: &str) -> Result<PythonRequirement, &'static str> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("empty spec");
    }
    if s.len() > MAX_LEN {
        return Err("longer than 200 characters");
    }
    if s.starts_with('-') {
        return Err("looks like an installer option");
    }
    if !s.is_ascii() {
        return Err("non-ASCII characters");
    }
    if s.bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err("whitespace or control characters inside the spec");
    }
    if s.contains("://") || s.contains('@') {
        return Err("URLs are not allowed; name a package on the index");
    }
    if s.contains(';') {
        return Err("environment markers are not allowed");
    }
    if s.contains('/') || s.contains('\\') || s.starts_with('.') || s.starts_with('~') {
        return Err("local paths are not allowed");
    }
    let name_end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .unwrap_or(s.len());
    let name = normalize_name(&s[..name_end]).ok_or("invalid package name")?;
    let mut rest = &s[name_end..];
    let mut extras = Vec::new();
    if let Some(after) = rest.strip_prefix('[') {
        let close = after.find(']').ok_or("unclosed extras bracket")?;
        let list = &after[..close];
        rest = &after[close + 1..];
        for extra in list.split(',') {
            extras.push(normalize_name(extra).ok_or("invalid extra name")?);
        }
        if extras.len() > MAX_EXTRAS {
            return Err("more than 5 extras");
        }
        extras.sort();
        extras.dedup();
    }
    let mut specifiers = Vec::new();
    if !rest.is_empty() {
        for clause in rest.split(',') {
            specifiers.push(parse_specifier(clause)?);
        }
    }
    Ok(PythonRequirement {
        name,
        extras,
        specifiers,
    })
}

/// PEP 503 normalization of a valid name (`^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$`i), else
/// `None`.
pub fn normalize_name(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let (first, last) = (bytes.first()?, bytes.last()?);
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return None;
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return None;
    }
    let mut out = String::with_capacity(raw.len());
    let mut in_sep = false;
    for c in raw.chars() {
        if matches!(c, '.' | '_' | '-') {
            if !in_sep {
                out.push('-');
            }
            in_sep = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_sep = false;
        }
    }
    Some(out)
}

const OPERATORS: [&str; 8] = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"];

fn parse_specifier(clause: &str) -> Result<(&'static str, String), &'static str> {
    let op = OPERATORS
        .iter()
        .find(|op| clause.starts_with(**op))
        .ok_or("expected a version specifier such as ==1.2 or >=2")?;
    let version = &clause[op.len()..];
    if version.is_empty() {
        return Err("missing version after the operator");
    }
    if *op == "===" {
        // Arbitrary equality: any version-like token, still no punctuation beyond PEP 440's.
        if !version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+' | b'!'))
        {
            return Err("invalid version");
        }
        return Ok((op, version.to_ascii_lowercase()));
    }
    let (body, wildcard) = match version.strip_suffix(".*") {
        Some(body) => (body, true),
        None => (version, false),
    };
    if wildcard && !matches!(*op, "==" | "!=") {
        return Err("a .* wildcard is only allowed with == and !=");
    }
    let parsed = parse_version(body).ok_or("invalid PEP 440 version")?;
    if wildcard && (parsed.has_suffix || parsed.has_local) {
        return Err("a .* wildcard follows a plain release number");
    }
    if parsed.has_local && !matches!(*op, "==" | "!=") {
        return Err("a local version (+...) is only allowed with == and !=");
    }
    if *op == "~=" && parsed.release_parts < 2 {
        return Err("~= needs at least two release numbers (~=1.4)");
    }
    Ok((op, version.to_ascii_lowercase()))
}

struct Version {
    release_parts: usize,
    has_suffix: bool,
    has_local: bool,
}

/// PEP 440 public version with optional local label, case-insensitive:
/// `[v][N!]N(.N)*[{a|b|rc|alpha|beta|c|pre|preview}[N]][.postN|-N][.devN][+local]`.
fn parse_version(raw: &str) -> Option<Version> {
    let s = raw.to_ascii_lowercase();
    let (public, local) = match s.split_once('+') {
        Some((p, l)) => (p, Some(l)),
        None => (s.as_str(), None),
    };
    if let Some(local) = local {
        let ok = local
            .split(['.', '-', '_'])
            .all(|seg| !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !ok {
            return None;
        }
    }
    let mut cur = public.strip_prefix('v').unwrap_or(public);
    if let Some((epoch, rest)) = cur.split_once('!') {
        if epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        cur = rest;
    }
    let mut release_parts = 0;
    loop {
        let digits = cur.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        release_parts += 1;
        cur = &cur[digits..];
        match cur.strip_prefix('.') {
            Some(next) if next.starts_with(|c: char| c.is_ascii_digit()) => cur = next,
            _ => break,
        }
    }
    let start_len = cur.len();
    cur = suffix(
        cur,
        &["alpha", "beta", "preview", "pre", "rc", "a", "b", "c"],
    );
    // Implicit post release: `1.0-1`.
    if let Some(rest) = cur.strip_prefix('-') {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            cur = &rest[digits..];
        }
    }
    cur = suffix(cur, &["post", "rev", "r"]);
    cur = suffix(cur, &["dev"]);
    if !cur.is_empty() {
        return None;
    }
    Some(Version {
        release_parts,
        has_suffix: start_len > 0,
        has_local: local.is_some(),
    })
}

/// Strips `[sep]word[sep][digits]` for the first matching word, else returns `s` unchanged.
fn suffix<'a>(s: &'a str, words: &[&str]) -> &'a str {
    let body = s.strip_prefix(['.', '-', '_']).unwrap_or(s);
    for word in words {
        if let Some(rest) = body.strip_prefix(word) {
            let rest = rest.strip_prefix(['.', '-', '_']).unwrap_or(rest);
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            return &rest[digits..];
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_specs_parse_to_their_canonical_form() {
        let cases = [
            ("requests", "requests"),
            ("Requests", "requests"),
            ("  six  ", "six"),
            ("typing_extensions", "typing-extensions"),
            ("Zope.Interface", "zope-interface"),
            ("a", "a"),
            ("a__b--c..d", "a-b-c-d"),
            ("requests==2.32.3", "requests==2.32.3"),
            ("numpy>=2", "numpy>=2"),
            ("numpy>=1.20,<2", "numpy>=1.20,<2"),
            ("django~=4.2", "django~=4.2"),
            ("django~=4.2.1", "django~=4.2.1"),
            ("flask!=2.0.*", "flask!=2.0.*"),
            ("flask==2.*", "flask==2.*"),
            ("pkg===1.0-custom", "pkg===1.0-custom"),
            ("pkg==1.0a1", "pkg==1.0a1"),
            ("pkg==1.0.0rc2", "pkg==1.0.0rc2"),
            ("pkg==1.0.post1", "pkg==1.0.post1"),
            ("pkg==1.0-1", "pkg==1.0-1"),
            ("pkg==1.0.dev3", "pkg==1.0.dev3"),
            ("pkg==1!2.0", "pkg==1!2.0"),
            ("pkg==v1.0", "pkg==v1.0"),
            ("pkg==1.0+ubuntu.1", "pkg==1.0+ubuntu.1"),
            ("pkg<3,>1", "pkg<3,>1"),
            ("requests[security]", "requests[security]"),
            ("requests[socks,Security]>=2", "requests[security,socks]>=2"),
            ("requests[a,b,c,d,e]", "requests[a,b,c,d,e]"),
            ("pkg==1.0RC1", "pkg==1.0rc1"),
        ];
        for (raw, canonical) in cases {
            let parsed = parse(raw).unwrap_or_else(|e| panic!("{raw:?} refused: {e}"));
            assert_eq!(parsed.canonical(), canonical, "{raw:?}");
        }
    }

    #[test]
    fn dangerous_or_malformed_specs_are_refused() {
        let cases = [
            "",
            "   ",
            "-r requirements.txt",
            "-rrequirements.txt",
            "--index-url=http://evil",
            "--index-url",
            "-e .",
            "--pre",
            "pkg @ https://example.com/pkg.whl",
            "pkg@https://example.com/pkg.whl",
            "https://example.com/pkg.whl",
            "git+https://github.com/x/y",
            "file:///etc/passwd",
            "./local",
            "../local",
            "/abs/path",
            "dir/pkg",
            "C:\\pkg",
            "~/pkg",
            "pkg; python_version<'3'",
            "pkg;os_name=='nt'",
            "pkg >=1",
            "pkg\t==1",
            "pkg\n-r x",
            "requests[a,b,c,d,e,f]",
            "requests[",
            "requests[]",
            "requests[-x]",
            "requests[a]x",
            "_pkg",
            "pkg_",
            "pkg.",
            "pk g",
            "pkg==",
            "pkg=1.0",
            "pkg>=1.0.*",
            "pkg~=1",
            "pkg~=1.*",
            "pkg==1.0a1.*",
            "pkg>=1.0+local",
            "pkg==1.0foo",
            "pkg==1..0",
            "pkg==.1",
            "pkg==1.0,",
            "pkg,pkg2",
            "pkg==1.0||2.0",
            "pkg(>=1)",
            "pkg==1.0;",
            "pkg$(id)",
            "pkg`id`",
            "pkg*",
            "pkg===1.0/../../x",
            "pkgé",
        ];
        for raw in cases {
            assert!(
                parse(raw).is_err(),
                "{raw:?} was accepted: {:?}",
                parse(raw)
            );
        }
        let long = "a".repeat(201);
        assert_eq!(parse(&long), Err("longer than 200 characters"));
        assert!(parse(&"a".repeat(200)).is_ok());
    }

    #[test]
    fn names_normalize_as_pep_503_says() {
        assert_eq!(
            normalize_name("Friendly-Bard").as_deref(),
            Some("friendly-bard")
        );
        assert_eq!(
            normalize_name("FRIENDLY.BARD").as_deref(),
            Some("friendly-bard")
        );
        assert_eq!(
            normalize_name("friendly_bard").as_deref(),
            Some("friendly-bard")
        );
        assert_eq!(
            normalize_name("friendly--._bard").as_deref(),
            Some("friendly-bard")
        );
        assert_eq!(normalize_name("-bard"), None);
        assert_eq!(normalize_name(""), None);
    }
}
