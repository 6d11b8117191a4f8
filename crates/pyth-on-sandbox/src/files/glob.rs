//! The glob patterns of [`OutputSpec::patterns`](crate::files::OutputSpec::patterns), matched
//! against relative paths component by component: `*` (any run of characters) and `?` (one
//! character) stay within a component, `[abc]`, `[a-z]` and `[!abc]` (or `[^abc]`) match one
//! character of a set, and a component that is exactly `**` matches any number of components
//! (none included). Everything else is literal; a `[` without its `]` is a literal `[`. Names
//! starting with `.` are matched like any other.
//!
//! Small on purpose (no regex engine in the runner): patterns and paths are at most
//! [`MAX_PATH_BYTES`](crate::files::MAX_PATH_BYTES) long and
//! [`MAX_PATH_DEPTH`](crate::files::MAX_PATH_DEPTH) deep, and a component is matched in
//! O(pattern × name) steps (one backtrack point per `*`).

use crate::files::{check_relative_path, PathError};

/// One compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// `**`: any number of components.
    AnyDepth,
    /// One component.
    Component(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`
    One,
    /// `*`
    Star,
    /// `[...]`: inclusive ranges (a single character is a range of one).
    Set {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Pattern {
    /// Compiles `pattern`, a relative path under the rules of [`check_relative_path`].
    pub(crate) fn new(pattern: &str) -> Result<Self, PathError> {
        let normal = check_relative_path(pattern)?;
        let mut parts: Vec<Part> = Vec::new();
        for component in normal.split('/') {
            if component == "**" {
                if parts.last() != Some(&Part::AnyDepth) {
                    parts.push(Part::AnyDepth);
                }
            } else {
                parts.push(Part::Component(tokens(component)));
            }
        }
        Ok(Self { parts })
    }

    /// Does the relative path (components joined by `/`) match?
    pub(crate) fn matches(&self, path: &str) -> bool {
        let components: Vec<&str> = path.split('/').collect();
        match_parts(&self.parts, &components)
    }

    /// Could a path below the directory `dir` (its components) match? `false` means the
    /// directory need not be walked for this pattern.
    pub(crate) fn may_match_below(&self, dir: &[&str]) -> bool {
        below(&self.parts, dir)
    }
}

fn tokens(component: &str) -> Vec<Token> {
    let chars: Vec<char> = component.chars().collect();
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                if out.last() != Some(&Token::Star) {
                    out.push(Token::Star);
                }
            }
            '?' => out.push(Token::One),
            '[' => {
                if let Some((set, next)) = parse_set(&chars, i) {
                    out.push(set);
                    i = next;
                    continue;
                }
                out.push(Token::Literal('['));
            }
            c => out.push(Token::Literal(c)),
        }
        i += 1;
    }
    out
}

/// Parses the set starting at `chars[open] == '['`; returns it and the index after its `]`.
fn parse_set(chars: &[char], open: usize) -> Option<(Token, usize)> {
    let mut i = open + 1;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *chars.get(i)?;
        if c == ']' && !first {
            return Some((Token::Set { negated, ranges }, i + 1));
        }
        first = false;
        match (chars.get(i + 1), chars.get(i + 2)) {
            (Some('-'), Some(&hi)) if hi != ']' => {
                ranges.push((c, hi));
                i += 3;
            }
            _ => {
                ranges.push((c, c));
                i += 1;
            }
        }
    }
}

fn match_parts(parts: &[Part], components: &[&str]) -> bool {
    match parts.split_first() {
        None => components.is_empty(),
        Some((Part::AnyDepth, rest)) => {
            (0..=components.len()).any(|skip| match_parts(rest, &components[skip..]))
        }
        Some((Part::Component(tokens), rest)) => match components.split_first() {
            Some((first, others)) => match_component(tokens, first) && match_parts(rest, others),
            None => false,
        },
    }
}

fn below(parts: &[Part], dir: &[&str]) -> bool {
    match (parts.split_first(), dir.split_first()) {
        (Some((Part::AnyDepth, _)), _) => true,
        (Some(_), None) => true,
        (None, _) => false,
        (Some((Part::Component(tokens), rest)), Some((first, others))) => {
            match_component(tokens, first) && below(rest, others)
        }
    }
}

fn token_matches(token: &Token, c: char) -> bool {
    match token {
        Token::Literal(l) => *l == c,
        Token::One => true,
        Token::Star => false,
        Token::Set { negated, ranges } => {
            ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
        }
    }
}

/// Classic wildcard matching with one backtrack point: on a mismatch, the last `*` takes one
/// more character.
fn match_component(tokens: &[Token], name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let (mut t, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match tokens.get(t) {
            Some(Token::Star) => {
                star = Some((t, n));
                t += 1;
            }
            Some(token) if token_matches(token, name[n]) => {
                t += 1;
                n += 1;
            }
            _ => match star {
                Some((st, sn)) => {
                    star = Some((st, sn + 1));
                    t = st + 1;
                    n = sn + 1;
                }
                None => return false,
            },
        }
    }
    tokens[t..].iter().all(|tok| *tok == Token::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        Pattern::new(pattern).unwrap().matches(path)
    }

    #[test]
    fn a_star_and_a_question_mark_stay_within_one_component() {
        assert!(m("*.txt", "a.txt"));
        assert!(m("*.txt", ".hidden.txt"));
        assert!(!m("*.txt", "dir/a.txt"));
        assert!(m("out/*", "out/x"));
        assert!(!m("out/*", "out/x/y"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*a*b*", "xxaxxbxx"));
        assert!(!m("*a*b", "xxaxxbxx"));
        assert!(m("é*", "été"));
    }

    #[test]
    fn a_double_star_matches_any_number_of_components() {
        assert!(m("**", "a"));
        assert!(m("**", "a/b/c"));
        assert!(m("**/*.py", "main.py"));
        assert!(m("**/*.py", "pkg/sub/x.py"));
        assert!(m("out/**/*.txt", "out/a.txt"));
        assert!(m("out/**/*.txt", "out/x/y/a.txt"));
        assert!(!m("out/**/*.txt", "other/a.txt"));
        assert!(m("a/**/**/b", "a/b"));
        assert!(m("a/**", "a/x/y"));
        assert!(!m("a/**", "b/x"));
    }

    #[test]
    fn sets_match_one_character_of_a_set_or_range() {
        assert!(m("[abc].txt", "b.txt"));
        assert!(!m("[abc].txt", "d.txt"));
        assert!(m("f[0-9][0-9]", "f42"));
        assert!(!m("f[0-9]", "fx"));
        assert!(m("[!a]*", "b"));
        assert!(m("[^a]*", "b"));
        assert!(!m("[!a]*", "a"));
        assert!(m("[]]", "]"));
        assert!(m("[a-]", "-"));
        assert!(m("x[", "x["), "an unclosed set is literal");
    }

    #[test]
    fn patterns_follow_the_path_rules() {
        assert!(Pattern::new("/etc/*").is_err());
        assert!(Pattern::new("../*").is_err());
        assert!(Pattern::new("a\0b").is_err());
        assert_eq!(
            Pattern::new("./a//b").unwrap(),
            Pattern::new("a/b").unwrap()
        );
    }

    #[test]
    fn a_directory_is_walked_only_when_a_path_below_it_may_match() {
        let p = Pattern::new("out/*.txt").unwrap();
        assert!(p.may_match_below(&[]));
        assert!(p.may_match_below(&["out"]));
        assert!(!p.may_match_below(&["other"]));
        assert!(!p.may_match_below(&["out", "sub"]));
        let p = Pattern::new("out/**/x").unwrap();
        assert!(p.may_match_below(&["out", "a", "b"]));
        assert!(!p.may_match_below(&["in", "a"]));
    }
}
