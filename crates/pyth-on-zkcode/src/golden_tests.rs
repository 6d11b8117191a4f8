//! The golden vector (`docs/zkcode-v1-vector.json`), byte for byte, and the negative cases
//! that need the KDF.

use serde_json::Value;
use uuid::Uuid;

use super::cipher::derive_okm;
use super::*;

/// The one golden vector file of the repository, shared with the Python and JavaScript tests.
const VECTOR: &str = include_str!("../../../docs/zkcode-v1-vector.json");
const LIMIT: usize = 64 * 1024;

fn vector() -> Value {
    serde_json::from_str(VECTOR).unwrap()
}

/// A string of the vector, by JSON pointer.
fn text(pointer: &str) -> String {
    vector()
        .pointer(pointer)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// A hex byte string of the vector, by JSON pointer.
fn unhex(pointer: &str) -> Vec<u8> {
    hex::decode(text(pointer)).unwrap()
}

/// The vector's wire payload, as pretty-printed JSON text.
pub(super) fn spec_json() -> String {
    serde_json::to_string_pretty(&vector()["outputs"]["payload"]).unwrap()
}

fn password() -> String {
    text("/inputs/password")
}

fn name() -> String {
    text("/inputs/name")
}

fn plaintext() -> Vec<u8> {
    text("/inputs/plaintext").into_bytes()
}

fn user() -> Uuid {
    Uuid::parse_str(&text("/inputs/userId")).unwrap()
}

fn salt() -> [u8; 16] {
    unhex("/inputs/salt").try_into().unwrap()
}

fn nonce() -> [u8; 24] {
    unhex("/inputs/nonce").try_into().unwrap()
}

fn params() -> KdfParams {
    let v = vector();
    let n = |k: &str| u32::try_from(v["inputs"]["kdf"][k].as_u64().unwrap()).unwrap();
    KdfParams {
        m: n("m"),
        t: n("t"),
        p: n("p"),
    }
}

fn spec_payload() -> ZkPayload {
    ZkPayload::from_json(spec_json().as_bytes(), LIMIT).unwrap()
}

#[test]
fn the_kdf_output_matches_the_golden_okm() {
    assert_eq!(params(), KdfParams::default());
    let okm = derive_okm(&password(), &salt(), params()).unwrap();
    assert_eq!(okm.to_vec(), unhex("/outputs/okm"));
}

#[test]
fn the_associated_data_matches_the_golden_aad() {
    let p = params();
    assert_eq!(aad(p.m, p.t, p.p, user(), &name()), unhex("/outputs/aad"));
}

#[test]
fn encrypting_the_golden_inputs_gives_the_spec_json_byte_for_byte() {
    // Act
    let payload = encrypt_with(
        &plaintext(),
        &password(),
        user(),
        &name(),
        &text("/inputs/language"),
        params(),
        salt(),
        nonce(),
    )
    .unwrap();
    // Assert
    assert_eq!(payload.ct(), unhex("/outputs/ct").as_slice());
    assert_eq!(payload.kc().as_slice(), &unhex("/outputs/okm")[32..]);
    assert_eq!(payload.to_json(), vector()["outputs"]["payload"]);
    assert_eq!(payload, spec_payload());
}

#[test]
fn the_spec_json_parses_and_decrypts_to_the_golden_plaintext() {
    let payload = spec_payload();
    assert_eq!(payload.language(), text("/inputs/language"));
    assert_eq!(payload.code_len(), 19);
    let code = decrypt(&payload, &password(), user(), &name()).unwrap();
    assert_eq!(code.as_slice(), plaintext());
}

#[test]
fn another_password_is_a_wrong_password() {
    let err = decrypt(
        &spec_payload(),
        &text("/negative/otherPassword"),
        user(),
        &name(),
    );
    assert!(matches!(err, Err(ZkError::WrongPassword)));
}

#[test]
fn another_name_is_an_integrity_failure() {
    let other = text("/negative/otherName");
    let err = decrypt(&spec_payload(), &password(), user(), &other);
    assert!(matches!(err, Err(ZkError::Integrity)));
}

#[test]
fn another_user_is_an_integrity_failure() {
    let other = Uuid::parse_str(&text("/negative/otherUserId")).unwrap();
    let err = decrypt(&spec_payload(), &password(), other, &name());
    assert!(matches!(err, Err(ZkError::Integrity)));
}

#[test]
fn a_tampered_ciphertext_is_an_integrity_failure() {
    let mut payload = spec_payload();
    payload.ct[0] ^= 1;
    let err = decrypt(&payload, &password(), user(), &name());
    assert!(matches!(err, Err(ZkError::Integrity)));
}

#[test]
fn other_kdf_parameters_give_other_keys() {
    // p = 4 is refused on the wire; derive it directly to show it yields another key.
    let p4 = KdfParams {
        m: 19_456,
        t: 4,
        p: 4,
    };
    let p1 = KdfParams {
        m: 19_456,
        t: 4,
        p: 1,
    };
    let a = derive_okm(&password(), &salt(), p4).unwrap();
    let b = derive_okm(&password(), &salt(), p1).unwrap();
    assert_ne!(a.to_vec(), b.to_vec());
}

#[test]
fn an_empty_password_is_refused() {
    assert!(matches!(
        decrypt(&spec_payload(), "", user(), &name()),
        Err(ZkError::EmptyPassword)
    ));
    let err = encrypt(b"x", "", user(), "a.py", "python", KdfParams::default());
    assert!(matches!(err, Err(ZkError::EmptyPassword)));
}

#[test]
fn a_new_payload_needs_a_master_password_of_twelve_characters_counted_after_nfc() {
    let params = KdfParams::default();
    let short = encrypt(b"x", "eleven char", user(), "a.py", "python", params);
    assert!(matches!(short, Err(ZkError::WeakPassword)));
    // Eleven characters NFC, more code points decomposed: still too short.
    let decomposed = "cafe\u{301} xxxxxx";
    assert!(matches!(
        check_new_master_password(decomposed),
        Err(ZkError::WeakPassword)
    ));
    assert!(check_new_master_password("twelve chars").is_ok());
}

#[test]
fn passwords_are_nfc_normalized_before_derivation() {
    // "é" precomposed (U+00E9) and decomposed (e + U+0301) are the same password.
    let params = KdfParams {
        m: 19_456,
        t: 4,
        p: 1,
    };
    let payload = encrypt(
        b"x = 1\n",
        "caf\u{e9} p\u{e4}ssw\u{f6}rd",
        user(),
        "n.py",
        "python",
        params,
    )
    .unwrap();
    let code = decrypt(
        &payload,
        "cafe\u{301} pa\u{308}sswo\u{308}rd",
        user(),
        "n.py",
    )
    .unwrap();
    assert_eq!(code.as_slice(), b"x = 1\n");
}

#[test]
fn encrypt_refuses_parameters_outside_the_bounds_and_empty_code() {
    let weak = KdfParams {
        m: 19_456,
        t: 1,
        p: 1,
    };
    assert!(matches!(
        encrypt(b"x", &password(), user(), "a.py", "python", weak),
        Err(ZkError::Invalid(_))
    ));
    assert!(matches!(
        encrypt(
            b"",
            &password(),
            user(),
            "a.py",
            "python",
            KdfParams::default()
        ),
        Err(ZkError::Invalid(_))
    ));
}

#[test]
fn a_fresh_encryption_round_trips_through_json() {
    let params = KdfParams {
        m: 19_456,
        t: 4,
        p: 1,
    };
    let payload = encrypt(
        b"console.log(1)\n",
        "a pw of twelve+",
        user(),
        "a.js",
        "javascript",
        params,
    )
    .unwrap();
    let bytes = serde_json::to_vec(&payload.to_json()).unwrap();
    let parsed = ZkPayload::from_json(&bytes, LIMIT).unwrap();
    let code = decrypt(&parsed, "a pw of twelve+", user(), "a.js").unwrap();
    assert_eq!(code.as_slice(), b"console.log(1)\n");
    assert_ne!(parsed.salt(), &salt());
}
