//! Account passwords: Argon2id PHC strings (m = 19456 KiB, t = 2, p = 1, random 16-byte salt).
//!
//! All functions here are CPU-heavy and blocking: call them from `spawn_blocking` behind a
//! concurrency bound. [`dummy_verify`] spends the same work as a real verification so a login
//! for an unknown email costs as much as one with a wrong password.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;

use crate::error::CryptoError;

/// Memory cost in KiB.
pub const M_COST_KIB: u32 = 19_456;
/// Number of passes.
pub const T_COST: u32 = 2;
/// Lanes.
pub const P_COST: u32 = 1;

fn hasher() -> Argon2<'static> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None)
        .expect("the constant Argon2 parameters are within argon2's bounds");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` into an Argon2id PHC string with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, CryptoError> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(CryptoError::PasswordHash)?;
    let hash = hasher()
        .hash_password(password.as_bytes(), &salt)
        .map_err(CryptoError::PasswordHash)?;
    Ok(hash.to_string())
}

/// Checks `password` against a stored PHC string; `false` also when `phc` does not parse.
///
/// The final comparison is constant-time (argon2's `verify_password`). Parameters are read
/// from the PHC string, so hashes made with older parameters keep verifying; see
/// [`needs_rehash`].
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Whether a stored PHC string was made with other parameters than the current ones and
/// should be replaced by a fresh [`hash_password`] after the next successful login.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return true;
    };
    parsed.algorithm.as_str() != "argon2id"
        || parsed.version != Some(Version::V0x13.into())
        || params.m_cost() != M_COST_KIB
        || params.t_cost() != T_COST
        || params.p_cost() != P_COST
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password("pyth-on dummy password for unknown accounts")
            .expect("hashing a constant with constant parameters cannot fail")
    })
}

/// Spends the same work as [`verify_password`] against a fixed hash and throws the result
/// away. Call it when the account does not exist.
pub fn dummy_verify(password: &str) {
    let _ = verify_password(password, dummy_hash());
}

/// Computes the fixed hash behind [`dummy_verify`] now, so the first unknown-email login is
/// not slower than later ones. Optional; call once at startup.
pub fn warm_up() {
    let _ = dummy_hash();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_password_verifies_and_another_does_not() {
        // Arrange
        let phc = hash_password("hunter2 but longer").unwrap();
        // Act / Assert
        assert!(verify_password("hunter2 but longer", &phc));
        assert!(!verify_password("hunter3 but longer", &phc));
    }

    #[test]
    fn hashes_use_argon2id_with_the_house_parameters_and_a_fresh_salt() {
        let a = hash_password("same").unwrap();
        let b = hash_password("same").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b);
        assert!(!needs_rehash(&a));
    }

    #[test]
    fn a_garbage_phc_string_never_verifies() {
        assert!(!verify_password("x", "not a phc string"));
        assert!(!verify_password("x", ""));
        assert!(needs_rehash("not a phc string"));
    }

    #[test]
    fn a_hash_with_weaker_parameters_needs_a_rehash() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8, 1, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let phc = weak.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(verify_password("pw", &phc));
        assert!(needs_rehash(&phc));
    }

    #[test]
    fn dummy_verify_runs_without_panicking() {
        warm_up();
        dummy_verify("anything");
    }
}
