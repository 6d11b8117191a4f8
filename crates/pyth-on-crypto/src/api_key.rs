//! API keys: `pyo_` + 43 base64url characters (32 random bytes) + `_` + a 6-character checksum.
//!
//! The checksum is the CRC-32 (IEEE, `crc32fast`) of everything before the last `_`
//! (`pyo_` and the 43 random characters), written in base62 (`0-9A-Za-z`), most significant
//! digit first, zero-padded to 6 digits. It only lets a mistyped or truncated key be refused
//! without a database lookup; it is not a security feature. A key is 54 ASCII characters.
//!
//! Only [`ApiKey::hash`] (SHA-256 of the whole key) is stored; the key is shown once.

use std::fmt;

use zeroize::Zeroizing;

use crate::error::CryptoError;
use crate::key_hash::KeyHash;
use crate::token::{is_canonical_body, random_body, BODY_LEN};

/// Prefix of every API key.
pub const PREFIX: &str = "pyo_";
/// Length of the checksum suffix.
pub const CHECKSUM_LEN: usize = 6;
/// Total length of a key.
pub const KEY_LEN: usize = PREFIX.len() + BODY_LEN + 1 + CHECKSUM_LEN;
/// Length of [`ApiKey::display_prefix`].
pub const DISPLAY_PREFIX_LEN: usize = 12;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn checksum(head: &str) -> [u8; CHECKSUM_LEN] {
    let mut n = crc32fast::hash(head.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// A full API key. Its `Debug` shows only the display prefix; the string is wiped on drop.
pub struct ApiKey(Zeroizing<String>);

impl ApiKey {
    /// A new key from 32 fresh random bytes.
    pub fn generate() -> ApiKey {
        let body = random_body();
        let mut key = Zeroizing::new(String::with_capacity(KEY_LEN));
        key.push_str(PREFIX);
        key.push_str(&body);
        let sum = checksum(&key);
        key.push('_');
        key.extend(sum.iter().map(|&b| char::from(b)));
        ApiKey(key)
    }

    /// Checks prefix, length, alphabet, canonical encoding and checksum. Nothing else: whether
    /// the key exists is a lookup of [`ApiKey::hash`].
    pub fn parse(s: &str) -> Result<ApiKey, CryptoError> {
        let bad = |reason| Err(CryptoError::InvalidApiKey { reason });
        if !s.starts_with(PREFIX) {
            return bad("missing the pyo_ prefix");
        }
        if s.len() != KEY_LEN {
            return bad("wrong length");
        }
        if !s.is_ascii() {
            return bad("characters outside the key alphabet");
        }
        let (head, tail) = s.split_at(PREFIX.len() + BODY_LEN);
        let Some(sum) = tail.strip_prefix('_') else {
            return bad("missing the checksum separator");
        };
        if !is_canonical_body(&head[PREFIX.len()..]) {
            return bad("characters outside the key alphabet");
        }
        if sum.as_bytes() != checksum(head) {
            return bad("checksum mismatch");
        }
        Ok(ApiKey(Zeroizing::new(s.to_owned())))
    }

    /// The full key, to show the user once at creation and to send in requests.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the full key: the only form to store.
    pub fn hash(&self) -> KeyHash {
        KeyHash::of(&self.0)
    }

    /// The first 12 characters (`pyo_` + 8), safe to store in clear and list so a user can
    /// tell keys apart. They carry 48 of the 256 random bits.
    pub fn display_prefix(&self) -> String {
        self.0[..DISPLAY_PREFIX_LEN].to_owned()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}…[redacted])", self.display_prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[test]
    fn a_generated_key_has_the_documented_shape_and_parses() {
        let key = ApiKey::generate();
        let s = key.expose();
        assert_eq!(s.len(), 54);
        assert!(s.starts_with("pyo_"));
        assert_eq!(&s[47..48], "_");
        let parsed = ApiKey::parse(s).unwrap();
        assert_eq!(parsed.hash(), key.hash());
        assert_eq!(key.display_prefix(), &s[..12]);
    }

    #[test]
    fn two_generated_keys_differ() {
        assert_ne!(ApiKey::generate().expose(), ApiKey::generate().expose());
    }

    #[test]
    fn debug_output_never_contains_the_key() {
        let key = ApiKey::generate();
        let dbg = format!("{key:?}");
        assert!(!dbg.contains(&key.expose()[12..]));
        assert!(dbg.contains("redacted"));
    }

    fn valid() -> String {
        ApiKey::generate().expose().to_owned()
    }

    fn replace_at(s: &str, i: usize, c: char) -> String {
        let mut out: Vec<char> = s.chars().collect();
        out[i] = if out[i] == c { 'Q' } else { c };
        out.into_iter().collect()
    }

    #[rstest]
    #[case::empty(String::new(), "missing the pyo_ prefix")]
    #[case::wrong_prefix(valid().replacen("pyo_", "pyx_", 1), "missing the pyo_ prefix")]
    #[case::truncated(valid()[..53].to_owned(), "wrong length")]
    #[case::extended(format!("{}0", valid()), "wrong length")]
    #[case::bad_char_in_body(replace_at(&valid(), 10, '+'), "characters outside the key alphabet")]
    #[case::non_ascii(format!("pyo_{}é", "A".repeat(48)), "characters outside the key alphabet")]
    #[case::missing_separator(replace_at(&valid(), 47, 'x'), "missing the checksum separator")]
    #[case::bad_checksum(replace_at(&valid(), 53, '0'), "checksum mismatch")]
    #[case::typo_in_body(replace_at(&valid(), 20, 'z'), "checksum mismatch")]
    fn malformed_keys_are_refused_without_a_lookup(#[case] input: String, #[case] why: &str) {
        let err = ApiKey::parse(&input).unwrap_err();
        assert!(
            matches!(err, CryptoError::InvalidApiKey { reason } if reason == why),
            "{err:?} for {input}"
        );
    }

    #[test]
    fn the_checksum_is_crc32_in_six_base62_digits() {
        let head = format!("pyo_{}", "A".repeat(43));
        let n = crc32fast::hash(head.as_bytes());
        let sum = checksum(&head);
        let back = sum.iter().fold(0u64, |acc, &c| {
            acc * 62 + BASE62.iter().position(|&d| d == c).unwrap() as u64
        });
        assert_eq!(back, u64::from(n));
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_input(s in ".{0,80}") {
            let _ = ApiKey::parse(&s);
        }

        #[test]
        fn any_single_character_change_is_refused(i in 0usize..54, c in "[A-Za-z0-9_-]") {
            let key = valid();
            let c = c.chars().next().unwrap();
            prop_assume!(key.as_bytes()[i] != c as u8);
            let changed = replace_at(&key, i, c);
            prop_assume!(changed != key);
            // CRC-32 detects every single-character substitution.
            prop_assert!(ApiKey::parse(&changed).is_err());
        }
    }
}
