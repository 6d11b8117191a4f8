//! Refresh tokens: `pyr_` + 43 base64url characters (32 random bytes), opaque to clients.
//!
//! Only [`RefreshToken::hash`] is stored; the server rotates the token on every use.

use std::fmt;

use zeroize::Zeroizing;

use crate::error::CryptoError;
use crate::key_hash::KeyHash;
use crate::token::{is_canonical_body, random_body, BODY_LEN};

/// Prefix of every refresh token.
pub const PREFIX: &str = "pyr_";
/// Total length of a token.
pub const TOKEN_LEN: usize = PREFIX.len() + BODY_LEN;

/// A refresh token. Its `Debug` is redacted; the string is wiped on drop.
pub struct RefreshToken(Zeroizing<String>);

impl RefreshToken {
    /// A new token from 32 fresh random bytes.
    pub fn generate() -> RefreshToken {
        let body = random_body();
        let mut token = Zeroizing::new(String::with_capacity(TOKEN_LEN));
        token.push_str(PREFIX);
        token.push_str(&body);
        RefreshToken(token)
    }

    /// Checks prefix, length and canonical encoding.
    pub fn parse(s: &str) -> Result<RefreshToken, CryptoError> {
        let bad = |reason| Err(CryptoError::InvalidRefreshToken { reason });
        let Some(body) = s.strip_prefix(PREFIX) else {
            return bad("missing the pyr_ prefix");
        };
        if s.len() != TOKEN_LEN {
            return bad("wrong length");
        }
        if !is_canonical_body(body) {
            return bad("characters outside the token alphabet");
        }
        Ok(RefreshToken(Zeroizing::new(s.to_owned())))
    }

    /// The token, to hand to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the full token: the only form to store.
    pub fn hash(&self) -> KeyHash {
        KeyHash::of(&self.0)
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn a_generated_token_parses_back_to_the_same_hash() {
        let t = RefreshToken::generate();
        assert_eq!(t.expose().len(), 47);
        assert!(t.expose().starts_with("pyr_"));
        assert_eq!(RefreshToken::parse(t.expose()).unwrap().hash(), t.hash());
    }

    #[test]
    fn debug_output_never_contains_the_token() {
        let t = RefreshToken::generate();
        assert!(!format!("{t:?}").contains(&t.expose()[4..]));
    }

    #[rstest]
    #[case::empty("")]
    #[case::api_key_prefix("pyo_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    #[case::short("pyr_AAAA")]
    #[case::long("pyr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    #[case::bad_char("pyr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+")]
    #[case::trailing_bits("pyr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB")]
    fn malformed_tokens_are_refused(#[case] input: &str) {
        assert!(matches!(
            RefreshToken::parse(input),
            Err(CryptoError::InvalidRefreshToken { .. })
        ));
    }

    #[test]
    fn a_well_formed_token_is_accepted() {
        assert!(RefreshToken::parse("pyr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").is_ok());
    }
}
