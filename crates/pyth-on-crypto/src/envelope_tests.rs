//! Tests for `envelope`: round trips, binding to (owner, name, version), rotation.

use proptest::prelude::*;
use rstest::rstest;

use super::*;
use crate::keyring::ServerKey;

fn owner() -> Uuid {
    Uuid::parse_str("0190a6f2-5b7c-7d2e-8f00-123456789abc").unwrap()
}

fn ring() -> Keyring {
    Keyring::from_keys(1, [(1, ServerKey::generate())]).unwrap()
}

#[test]
fn a_sealed_secret_opens_to_its_value() {
    // Arrange
    let ring = ring();
    // Act
    let sealed = seal_secret(&ring, owner(), "DB_PASSWORD", 3, b"s3cret").unwrap();
    let opened = open_secret(&ring, owner(), "DB_PASSWORD", 3, &sealed).unwrap();
    // Assert
    assert_eq!(opened.as_slice(), b"s3cret");
    assert_eq!(sealed.key_version, 1);
    assert_eq!(sealed.wrapped_key.len(), WRAPPED_KEY_LEN);
    assert_eq!(sealed.nonce.len(), NONCE_LEN);
    assert_eq!(sealed.ciphertext.len(), 6 + TAG_LEN);
}

#[test]
fn sealing_twice_gives_different_bytes() {
    let ring = ring();
    let a = seal_secret(&ring, owner(), "K", 1, b"v").unwrap();
    let b = seal_secret(&ring, owner(), "K", 1, b"v").unwrap();
    assert_ne!(a.ciphertext, b.ciphertext);
    assert_ne!(a.wrapped_key, b.wrapped_key);
}

#[rstest]
#[case::other_owner(Uuid::max(), "DB_PASSWORD", 3)]
#[case::other_name(owner(), "DB_PASSWORd", 3)]
#[case::other_version(owner(), "DB_PASSWORD", 4)]
fn a_secret_opened_for_another_owner_name_or_version_fails(
    #[case] who: Uuid,
    #[case] name: &str,
    #[case] version: i64,
) {
    let ring = ring();
    let sealed = seal_secret(&ring, owner(), "DB_PASSWORD", 3, b"s3cret").unwrap();
    assert!(matches!(
        open_secret(&ring, who, name, version, &sealed),
        Err(CryptoError::SecretIntegrity)
    ));
}

#[test]
fn tampering_with_any_field_fails() {
    let ring = ring();
    let sealed = seal_secret(&ring, owner(), "K", 1, b"value").unwrap();
    let mut bad_ct = sealed.clone();
    bad_ct.ciphertext[0] ^= 1;
    let mut bad_wrap = sealed.clone();
    bad_wrap.wrapped_key[30] ^= 1;
    let mut bad_nonce = sealed.clone();
    bad_nonce.nonce[0] ^= 1;
    for bad in [bad_ct, bad_wrap, bad_nonce] {
        assert!(open_secret(&ring, owner(), "K", 1, &bad).is_err());
    }
}

#[test]
fn relabelling_the_key_version_fails_even_when_that_key_exists() {
    let key = ServerKey::generate();
    let ring = Keyring::from_keys(1, [(1, key.clone()), (2, key)]).unwrap();
    let mut sealed = seal_secret(&ring, owner(), "K", 1, b"value").unwrap();
    sealed.key_version = 2;
    assert!(matches!(
        open_secret(&ring, owner(), "K", 1, &sealed),
        Err(CryptoError::SecretIntegrity)
    ));
}

#[test]
fn malformed_fields_are_refused_before_decrypting() {
    let ring = ring();
    let sealed = seal_secret(&ring, owner(), "K", 1, b"value").unwrap();
    let mut short_nonce = sealed.clone();
    short_nonce.nonce.pop();
    let mut short_wrap = sealed.clone();
    short_wrap.wrapped_key.pop();
    let mut short_ct = sealed.clone();
    short_ct.ciphertext.truncate(15);
    for bad in [short_nonce, short_wrap, short_ct] {
        assert!(matches!(
            open_secret(&ring, owner(), "K", 1, &bad),
            Err(CryptoError::MalformedSealedSecret { .. })
        ));
    }
}

#[test]
fn rewrapping_keeps_the_value_ciphertext_and_still_opens_after_retiring_the_old_key() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let mut ring = Keyring::load_or_create(dir.path()).unwrap();
    let old = seal_secret(&ring, owner(), "API_TOKEN", 7, b"tok").unwrap();
    ring.rotate(dir.path()).unwrap();
    // Act
    let new = rewrap(&ring, owner(), "API_TOKEN", 7, &old).unwrap();
    ring.retire(dir.path(), 1).unwrap();
    // Assert
    assert_eq!(new.key_version, 2);
    assert_eq!(new.nonce, old.nonce);
    assert_eq!(new.ciphertext, old.ciphertext);
    assert_ne!(new.wrapped_key, old.wrapped_key);
    let opened = open_secret(&ring, owner(), "API_TOKEN", 7, &new).unwrap();
    assert_eq!(opened.as_slice(), b"tok");
}

#[test]
fn a_secret_under_a_retired_key_fails_naming_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut ring = Keyring::load_or_create(dir.path()).unwrap();
    let old = seal_secret(&ring, owner(), "K", 1, b"v").unwrap();
    ring.rotate(dir.path()).unwrap();
    ring.retire(dir.path(), 1).unwrap();
    let err = open_secret(&ring, owner(), "K", 1, &old).unwrap_err();
    assert!(matches!(err, CryptoError::UnknownKeyVersion { version: 1 }));
    assert!(err.to_string().contains("version 1"));
    assert!(rewrap(&ring, owner(), "K", 1, &old).is_err());
}

#[test]
fn rewrap_refuses_a_secret_presented_under_the_wrong_name() {
    let ring = ring();
    let sealed = seal_secret(&ring, owner(), "K", 1, b"v").unwrap();
    assert!(matches!(
        rewrap(&ring, owner(), "J", 1, &sealed),
        Err(CryptoError::SecretIntegrity)
    ));
}

proptest! {
    #[test]
    fn any_value_round_trips(value in proptest::collection::vec(any::<u8>(), 0..512),
                             name in "[A-Z_]{1,16}", version in any::<i64>()) {
        let ring = ring();
        let sealed = seal_secret(&ring, owner(), &name, version, &value).unwrap();
        let opened = open_secret(&ring, owner(), &name, version, &sealed).unwrap();
        prop_assert_eq!(opened.as_slice(), value.as_slice());
    }
}
