//! Invitation codes: `pyi_` + 43 base64url characters (32 random bytes), single-use tickets to
//! register on an invite-only server. Only [`InvitationCode::hash`] is stored.

use std::fmt;

use zeroize::Zeroizing;

use crate::key_hash::KeyHash;
use crate::token::{is_canonical_body, random_body};

/// Prefix of every invitation code.
pub const PREFIX: &str = "pyi_";

/// An invitation code. Its `Debug` is redacted; the string is wiped on drop.
pub struct InvitationCode(Zeroizing<String>);

impl InvitationCode {
    /// A new code from 32 fresh random bytes.
    pub fn generate() -> Self {
        Self(Zeroizing::new(format!(
            "{PREFIX}{}",
            random_body().as_str()
        )))
    }

    /// The code, when `s` is one (prefix and canonical body); surrounding spaces ignored.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let body = s.strip_prefix(PREFIX)?;
        is_canonical_body(body).then(|| Self(Zeroizing::new(s.to_owned())))
    }

    /// The code, to hand to the invitee.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the code: the only form to store.
    pub fn hash(&self) -> KeyHash {
        KeyHash::of(&self.0)
    }
}

impl fmt::Debug for InvitationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvitationCode([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_code_parses_back_to_the_same_hash() {
        let code = InvitationCode::generate();
        assert!(code.expose().starts_with("pyi_"));
        let parsed = InvitationCode::parse(&format!(" {} ", code.expose())).unwrap();
        assert_eq!(parsed.hash(), code.hash());
        assert!(!format!("{code:?}").contains(&code.expose()[4..]));
    }

    #[test]
    fn other_credentials_and_junk_are_not_codes() {
        let refresh = crate::RefreshToken::generate();
        for junk in ["", "pyi_", "pyi_short", refresh.expose()] {
            assert!(InvitationCode::parse(junk).is_none(), "{junk}");
        }
    }
}
