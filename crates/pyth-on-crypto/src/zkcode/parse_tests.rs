//! Strict parsing of the wire JSON: every refusal `docs/ZKCODE.md` lists, without the KDF.

use proptest::prelude::*;
use rstest::rstest;
use serde_json::{json, Value};

use super::golden_tests::spec_json;
use super::*;

const LIMIT: usize = 64 * 1024;

fn spec() -> Value {
    serde_json::from_str(&spec_json()).unwrap()
}

/// The spec JSON with `pointer` set to `value` (or removed when `value` is null).
fn with(pointer: &str, value: Value) -> Vec<u8> {
    let mut doc = spec();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let obj = doc.pointer_mut(parent).unwrap().as_object_mut().unwrap();
    if value.is_null() {
        obj.remove(key);
    } else {
        obj.insert(key.to_owned(), value);
    }
    serde_json::to_vec(&doc).unwrap()
}

fn b64(n: usize) -> Value {
    use base64::Engine as _;
    Value::String(base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]))
}

#[test]
fn the_spec_json_is_accepted() {
    let p = ZkPayload::from_json(spec_json().as_bytes(), LIMIT).unwrap();
    assert_eq!(p.kdf(), KdfParams::default());
    assert_eq!(p.salt()[15], 15);
    assert_eq!(p.nonce()[0], 0x40);
}

#[rstest]
// versions and algorithms
#[case::v_2(with("/v", json!(2)))]
#[case::v_0(with("/v", json!(0)))]
#[case::other_alg(with("/alg", json!("chacha20poly1305-ietf")))]
#[case::other_kdf_alg(with("/kdf/alg", json!("argon2i")))]
#[case::argon2_version_16(with("/kdf/ver", json!(16)))]
// bounds
#[case::p_4(with("/kdf/p", json!(4)))]
#[case::p_0(with("/kdf/p", json!(0)))]
#[case::m_below_minimum(with("/kdf/m", json!(19_455)))]
#[case::m_above_maximum(with("/kdf/m", json!(262_145)))]
#[case::m_beyond_u32(with("/kdf/m", json!(4_294_967_296u64 + 65_536)))]
#[case::t_0(with("/kdf/t", json!(0)))]
#[case::t_11(with("/kdf/t", json!(11)))]
#[case::m_times_t_too_small({
    let mut d = spec();
    d["kdf"]["m"] = json!(19_456);
    d["kdf"]["t"] = json!(3);
    serde_json::to_vec(&d).unwrap()
})]
// non-integer numbers
#[case::v_float(with("/v", json!(1.0)))]
#[case::m_float(String::from_utf8(with("/kdf/m", json!(65536))).unwrap().replace("\"m\":65536", "\"m\":65536.0").into_bytes())]
#[case::t_exponent(String::from_utf8(with("/kdf/t", json!(3))).unwrap().replace("\"t\":3", "\"t\":3e0").into_bytes())]
#[case::t_string(with("/kdf/t", json!("3")))]
#[case::p_bool(with("/kdf/p", json!(true)))]
#[case::t_negative(with("/kdf/t", json!(-3)))]
#[case::v_null(with("/v", json!({})))]
// keys
#[case::unknown_top_level_key(with("/extra", json!(1)))]
#[case::unknown_kdf_key(with("/kdf/secret", json!("")))]
#[case::missing_language(with("/language", Value::Null))]
#[case::missing_salt(with("/kdf/salt", Value::Null))]
#[case::duplicate_key(spec_json().replacen("\"language\": \"python\"", "\"language\": \"python\", \"language\": \"python\"", 1).into_bytes())]
// base64
#[case::salt_unpadded(with("/kdf/salt", json!("AAECAwQFBgcICQoLDA0ODw")))]
#[case::salt_with_space(with("/kdf/salt", json!("AAECAwQF BgcICQoLDA0ODw==")))]
#[case::salt_with_newline(with("/kdf/salt", json!("AAECAwQFBgcICQoLDA0ODw==\n")))]
#[case::salt_trailing_bits(with("/kdf/salt", json!("AAECAwQFBgcICQoLDA0ODx==")))]
#[case::kc_url_safe_alphabet(with("/kc", json!(spec()["kc"].as_str().unwrap().replace('+', "-").replace('/', "_"))))]
#[case::nonce_not_base64(with("/nonce", json!("not base64 at all!!!!!!!!!!!!!!!")))]
// lengths
#[case::salt_15_bytes(with("/kdf/salt", b64(15)))]
#[case::salt_17_bytes(with("/kdf/salt", b64(17)))]
#[case::nonce_12_bytes(with("/nonce", b64(12)))]
#[case::nonce_23_bytes(with("/nonce", b64(23)))]
#[case::kc_31_bytes(with("/kc", b64(31)))]
#[case::kc_64_bytes(with("/kc", b64(64)))]
#[case::ct_only_a_tag(with("/ct", b64(16)))]
#[case::ct_empty(with("/ct", json!("")))]
#[case::ct_over_the_limit(with("/ct", b64(16 + LIMIT + 1)))]
// language and shape
#[case::empty_language(with("/language", json!("")))]
#[case::uppercase_language(with("/language", json!("Python")))]
#[case::not_an_object(b"[1,2,3]".to_vec())]
#[case::trailing_garbage([spec_json().as_bytes(), b"x"].concat())]
#[case::not_json(b"\xff\xfe".to_vec())]
fn payloads_outside_the_spec_are_refused(#[case] input: Vec<u8>) {
    let err = ZkPayload::from_json(&input, LIMIT).unwrap_err();
    assert!(matches!(err, ZkError::Invalid(_)), "{err:?}");
}

#[test]
fn ciphertext_lengths_at_the_limits_are_accepted() {
    assert!(ZkPayload::from_json(&with("/ct", b64(17)), LIMIT).is_ok());
    assert!(ZkPayload::from_json(&with("/ct", b64(16 + LIMIT)), LIMIT).is_ok());
}

#[test]
fn bounds_at_their_edges_are_accepted() {
    for (m, t) in [
        (19_456, 4),
        (262_144, 1),
        (65_536, 1),
        (32_768, 2),
        (19_456, 10),
    ] {
        let mut d = spec();
        d["kdf"]["m"] = json!(m);
        d["kdf"]["t"] = json!(t);
        let bytes = serde_json::to_vec(&d).unwrap();
        assert!(ZkPayload::from_json(&bytes, LIMIT).is_ok(), "m={m} t={t}");
    }
}

#[test]
fn error_messages_name_the_field() {
    let err = ZkPayload::from_json(&with("/kc", b64(31)), LIMIT).unwrap_err();
    assert!(err.to_string().contains("kc"), "{err}");
    let err = ZkPayload::from_json(&with("/kdf/p", json!(4)), LIMIT).unwrap_err();
    assert!(err.to_string().contains("kdf.p"), "{err}");
}

proptest! {
    #[test]
    fn parsing_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = ZkPayload::from_json(&bytes, LIMIT);
    }

    #[test]
    fn any_valid_payload_survives_a_json_round_trip(
        salt in any::<[u8; 16]>(),
        nonce in any::<[u8; 24]>(),
        kc in any::<[u8; 32]>(),
        ct in proptest::collection::vec(any::<u8>(), 17..300),
        m in 19_456u32..=262_144,
        t in 1u32..=10,
    ) {
        prop_assume!(u64::from(m) * u64::from(t) >= 65_536);
        let payload = ZkPayload {
            kdf: KdfParams { m, t, p: 1 }, salt, nonce, kc, ct, language: "python".into(),
        };
        let bytes = serde_json::to_vec(&payload.to_json()).unwrap();
        prop_assert_eq!(ZkPayload::from_json(&bytes, LIMIT).unwrap(), payload);
    }
}
