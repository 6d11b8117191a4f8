//! Shared plumbing for opaque random credentials: 32 random bytes as 43 base64url characters.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use zeroize::Zeroizing;

/// Random bytes in a credential (256 bits).
pub(crate) const RANDOM_BYTES: usize = 32;
/// Length of their base64url-no-pad encoding.
pub(crate) const BODY_LEN: usize = 43;

/// Fresh 32 random bytes from the OS, base64url without padding.
pub(crate) fn random_body() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; RANDOM_BYTES]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_ref()))
}

/// Whether `body` is the canonical base64url-no-pad encoding of exactly 32 bytes.
///
/// The engine refuses non-zero trailing bits, so each 32-byte value has exactly one accepted
/// spelling and a hash of the string is a hash of the value.
pub(crate) fn is_canonical_body(body: &str) -> bool {
    if body.len() != BODY_LEN {
        return false;
    }
    let mut buf = Zeroizing::new([0u8; RANDOM_BYTES + 3]);
    matches!(
        URL_SAFE_NO_PAD.decode_slice(body.as_bytes(), buf.as_mut()),
        Ok(RANDOM_BYTES)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bodies_are_canonical_and_distinct() {
        let a = random_body();
        let b = random_body();
        assert!(is_canonical_body(&a));
        assert_ne!(*a, *b);
    }

    #[test]
    fn a_body_with_non_zero_trailing_bits_is_not_canonical() {
        // 42 'A's then 'B': the last char carries bits beyond the 256th.
        let body = format!("{}B", "A".repeat(42));
        assert!(!is_canonical_body(&body));
        let ok = format!("{}E", "A".repeat(42));
        assert!(is_canonical_body(&ok));
    }
}
