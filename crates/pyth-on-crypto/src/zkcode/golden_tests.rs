//! The golden vector of zk-format.md, byte for byte, and the negative cases that need the KDF.

use uuid::Uuid;

use super::cipher::derive_okm;
use super::*;

const PASSWORD: &str = "correct horse battery staple";
const USER: &str = "0190a6f2-5b7c-7d2e-8f00-123456789abc";
const PLAINTEXT: &[u8] = b"print(\"hello, zk\")\n";
const LIMIT: usize = 64 * 1024;

const OKM: &str = "f583c66eb0c983f6be0f1801d34580dba6ce391a35def61fed043c365dc37c52\
                   f1c2815097615f218797ed574c7084ed21fd2609b8d0b3706bffd4dec7e6aeb8";
const AAD: &str = "0500000000000000 0900000000000000 7a6b636f64652f7631 \
    1600000000000000 786368616368613230706f6c79313330352d69657466 \
    1d00000000000000 6172676f6e32696424763d3139246d3d36353533362c743d332c703d31 \
    2400000000000000 30313930613666322d356237632d376432652d386630302d313233343536373839616263 \
    0800000000000000 68656c6c6f2e7079";
const CT: &str = "1490ff6a0e8921201594fb77d809d3e97567d9c46ce301cb206833278187f5e861a3ca";

pub(super) const SPEC_JSON: &str = r#"{
  "v": 1,
  "alg": "xchacha20poly1305-ietf",
  "kdf": {"alg": "argon2id", "ver": 19, "m": 65536, "t": 3, "p": 1,
          "salt": "AAECAwQFBgcICQoLDA0ODw=="},
  "nonce": "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZX",
  "kc": "8cKBUJdhXyGHl+1XTHCE7SH9Jgm40LNwa//U3sfmrrg=",
  "ct": "FJD/ag6JISAVlPt32AnT6XVn2cRs4wHLIGgzJ4GH9ehho8o=",
  "language": "python"
}"#;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

fn user() -> Uuid {
    Uuid::parse_str(USER).unwrap()
}

fn salt() -> [u8; 16] {
    std::array::from_fn(|i| i as u8)
}

fn nonce() -> [u8; 24] {
    std::array::from_fn(|i| 0x40 + i as u8)
}

fn spec_payload() -> ZkPayload {
    ZkPayload::from_json(SPEC_JSON.as_bytes(), LIMIT).unwrap()
}

#[test]
fn the_kdf_output_matches_the_golden_okm() {
    let okm = derive_okm(PASSWORD, &salt(), KdfParams::default()).unwrap();
    assert_eq!(okm.to_vec(), unhex(OKM));
}

#[test]
fn the_associated_data_matches_the_golden_aad() {
    assert_eq!(aad(65536, 3, 1, user(), "hello.py"), unhex(AAD));
}

#[test]
fn encrypting_the_golden_inputs_gives_the_spec_json_byte_for_byte() {
    // Act
    let payload = encrypt_with(
        PLAINTEXT,
        PASSWORD,
        user(),
        "hello.py",
        "python",
        KdfParams::default(),
        salt(),
        nonce(),
    )
    .unwrap();
    // Assert
    assert_eq!(payload.ct(), unhex(CT).as_slice());
    assert_eq!(payload.kc().as_slice(), &unhex(OKM)[32..]);
    let spec: serde_json::Value = serde_json::from_str(SPEC_JSON).unwrap();
    assert_eq!(payload.to_json(), spec);
    assert_eq!(payload, spec_payload());
}

#[test]
fn the_spec_json_parses_and_decrypts_to_the_golden_plaintext() {
    let payload = spec_payload();
    assert_eq!(payload.language(), "python");
    assert_eq!(payload.code_len(), 19);
    let code = decrypt(&payload, PASSWORD, user(), "hello.py").unwrap();
    assert_eq!(code.as_slice(), PLAINTEXT);
}

#[test]
fn another_password_is_a_wrong_password() {
    let err = decrypt(
        &spec_payload(),
        "correct horse battery stapler",
        user(),
        "hello.py",
    );
    assert!(matches!(err, Err(ZkError::WrongPassword)));
}

#[test]
fn another_name_is_an_integrity_failure() {
    let err = decrypt(&spec_payload(), PASSWORD, user(), "other.py");
    assert!(matches!(err, Err(ZkError::Integrity)));
}

#[test]
fn another_user_is_an_integrity_failure() {
    let other = Uuid::parse_str("0190a6f2-5b7c-7d2e-8f00-123456789abd").unwrap();
    let err = decrypt(&spec_payload(), PASSWORD, other, "hello.py");
    assert!(matches!(err, Err(ZkError::Integrity)));
}

#[test]
fn a_tampered_ciphertext_is_an_integrity_failure() {
    let mut payload = spec_payload();
    payload.ct[0] ^= 1;
    let err = decrypt(&payload, PASSWORD, user(), "hello.py");
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
    let a = derive_okm(PASSWORD, &salt(), p4).unwrap();
    let b = derive_okm(PASSWORD, &salt(), p1).unwrap();
    assert_ne!(a.to_vec(), b.to_vec());
}

#[test]
fn an_empty_password_is_refused() {
    assert!(matches!(
        decrypt(&spec_payload(), "", user(), "hello.py"),
        Err(ZkError::EmptyPassword)
    ));
    let err = encrypt(b"x", "", user(), "a.py", "python", KdfParams::default());
    assert!(matches!(err, Err(ZkError::EmptyPassword)));
}

#[test]
fn passwords_are_nfc_normalized_before_derivation() {
    // "é" precomposed (U+00E9) and decomposed (e + U+0301) are the same password.
    let params = KdfParams {
        m: 19_456,
        t: 4,
        p: 1,
    };
    let payload = encrypt(b"x = 1\n", "caf\u{e9}", user(), "n.py", "python", params).unwrap();
    let code = decrypt(&payload, "cafe\u{301}", user(), "n.py").unwrap();
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
        encrypt(b"x", PASSWORD, user(), "a.py", "python", weak),
        Err(ZkError::Invalid(_))
    ));
    assert!(matches!(
        encrypt(
            b"",
            PASSWORD,
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
        "pw",
        user(),
        "a.js",
        "javascript",
        params,
    )
    .unwrap();
    let bytes = serde_json::to_vec(&payload.to_json()).unwrap();
    let parsed = ZkPayload::from_json(&bytes, LIMIT).unwrap();
    let code = decrypt(&parsed, "pw", user(), "a.js").unwrap();
    assert_eq!(code.as_slice(), b"console.log(1)\n");
    assert_ne!(parsed.salt(), &salt());
}
