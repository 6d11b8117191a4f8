//! Tests for `jwt`: issuing, verifying and every forgery the security model lists.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rstest::rstest;
use time::macros::datetime;

use super::*;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const NOW: OffsetDateTime = datetime!(2025-01-01 12:00 UTC);

fn keys() -> JwtKeys {
    JwtKeys::new(SECRET).unwrap()
}

fn user() -> Uuid {
    Uuid::parse_str("0190a6f2-5b7c-7d2e-8f00-123456789abc").unwrap()
}

fn claims_json(overrides: serde_json::Value) -> serde_json::Value {
    let iat = NOW.unix_timestamp();
    let mut claims = serde_json::json!({
        "sub": user().to_string(), "iss": ISSUER, "aud": AUDIENCE,
        "iat": iat, "nbf": iat, "exp": iat + 600, "jti": Uuid::nil().to_string(),
    });
    let map = claims.as_object_mut().unwrap();
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            map.remove(k);
        } else {
            map.insert(k.clone(), v.clone());
        }
    }
    claims
}

fn sign(alg: Algorithm, claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(SECRET)).unwrap()
}

/// A token whose header is `header` verbatim, with a valid HS256 signature over it.
fn with_header(header: &str) -> String {
    use hmac::{Hmac, Mac};
    let h = URL_SAFE_NO_PAD.encode(header);
    let p = URL_SAFE_NO_PAD.encode(claims_json(serde_json::json!({})).to_string());
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(format!("{h}.{p}").as_bytes());
    let s = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{h}.{p}.{s}")
}

#[test]
fn an_issued_token_verifies_to_its_claims() {
    // Arrange
    let keys = keys();
    // Act
    let issued = keys.issue(user(), NOW, Duration::minutes(15)).unwrap();
    let claims = keys
        .verify_at(&issued.token, NOW + Duration::minutes(14))
        .unwrap();
    // Assert
    assert_eq!(claims.sub, user());
    assert_eq!(claims.jti, issued.jti);
    assert_eq!(claims.iat, NOW);
    assert_eq!(claims.exp, NOW + Duration::minutes(15));
    assert_eq!(issued.expires_at, claims.exp);
}

#[test]
fn the_token_header_pins_hs256() {
    let issued = keys().issue(user(), NOW, Duration::minutes(5)).unwrap();
    let header = jsonwebtoken::decode_header(&issued.token).unwrap();
    assert_eq!(header.alg, Algorithm::HS256);
}

#[test]
fn verify_uses_the_system_clock() {
    let issued = keys()
        .issue(user(), OffsetDateTime::now_utc(), Duration::minutes(1))
        .unwrap();
    assert_eq!(keys().verify(&issued.token).unwrap().sub, user());
}

#[rstest]
#[case::zero(Duration::ZERO)]
#[case::negative(Duration::minutes(-1))]
#[case::sixteen_minutes(Duration::minutes(16))]
#[case::a_second_too_long(Duration::seconds(901))]
fn lifetimes_outside_zero_to_fifteen_minutes_are_refused(#[case] lifetime: Duration) {
    assert!(matches!(
        keys().issue(user(), NOW, lifetime),
        Err(CryptoError::TokenLifetime { .. })
    ));
}

#[test]
fn a_token_is_expired_from_the_second_of_exp() {
    let keys = keys();
    let issued = keys.issue(user(), NOW, Duration::minutes(10)).unwrap();
    assert!(keys
        .verify_at(&issued.token, issued.expires_at - Duration::seconds(1))
        .is_ok());
    assert!(matches!(
        keys.verify_at(&issued.token, issued.expires_at),
        Err(CryptoError::TokenExpired)
    ));
}

#[rstest]
#[case::short(&[1u8; 31][..])]
#[case::empty(&[][..])]
fn short_secrets_are_refused(#[case] secret: &[u8]) {
    assert!(matches!(
        JwtKeys::new(secret),
        Err(CryptoError::JwtSecretTooShort { .. })
    ));
}

#[test]
fn an_all_zero_secret_is_refused() {
    assert!(matches!(
        JwtKeys::new(&[0u8; 64]),
        Err(CryptoError::JwtSecretAllZero)
    ));
}

#[test]
fn debug_output_never_contains_the_secret_or_token() {
    let keys = keys();
    assert!(!format!("{keys:?}").contains("0123"));
    let issued = keys.issue(user(), NOW, Duration::minutes(1)).unwrap();
    assert!(!format!("{issued:?}").contains(&issued.token));
}

#[rstest]
#[case::alg_none_unsigned(format!(
    "{}.{}.",
    URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
    URL_SAFE_NO_PAD.encode(claims_json(serde_json::json!({})).to_string())
))]
#[case::alg_none_with_signature(with_header(r#"{"alg":"none","typ":"JWT"}"#))]
#[case::alg_rs256_header(with_header(r#"{"alg":"RS256","typ":"JWT"}"#))]
#[case::hs384(sign(Algorithm::HS384, &claims_json(serde_json::json!({}))))]
#[case::hs512(sign(Algorithm::HS512, &claims_json(serde_json::json!({}))))]
#[case::wrong_issuer(sign(Algorithm::HS256, &claims_json(serde_json::json!({"iss": "evil"}))))]
#[case::wrong_audience(sign(Algorithm::HS256, &claims_json(serde_json::json!({"aud": "other"}))))]
#[case::no_exp(sign(Algorithm::HS256, &claims_json(serde_json::json!({"exp": null}))))]
#[case::no_iat(sign(Algorithm::HS256, &claims_json(serde_json::json!({"iat": null}))))]
#[case::no_sub(sign(Algorithm::HS256, &claims_json(serde_json::json!({"sub": null}))))]
#[case::no_iss(sign(Algorithm::HS256, &claims_json(serde_json::json!({"iss": null}))))]
#[case::no_aud(sign(Algorithm::HS256, &claims_json(serde_json::json!({"aud": null}))))]
#[case::sub_not_a_uuid(sign(Algorithm::HS256, &claims_json(serde_json::json!({"sub": "root"}))))]
#[case::lifetime_too_long(sign(
    Algorithm::HS256,
    &claims_json(serde_json::json!({"exp": NOW.unix_timestamp() + 3600}))
))]
#[case::issued_in_the_future(sign(
    Algorithm::HS256,
    &claims_json(serde_json::json!({
        "iat": NOW.unix_timestamp() + 60, "nbf": NOW.unix_timestamp() + 60,
        "exp": NOW.unix_timestamp() + 600
    }))
))]
#[case::garbage("not.a.jwt".to_owned())]
#[case::empty(String::new())]
fn forged_or_malformed_tokens_are_refused(#[case] token: String) {
    let err = keys().verify_at(&token, NOW).unwrap_err();
    assert!(matches!(err, CryptoError::InvalidToken { .. }), "{err:?}");
}

#[test]
fn a_token_signed_with_another_secret_is_refused() {
    let other = JwtKeys::new(b"another secret of thirty-two bytes!!").unwrap();
    let issued = other.issue(user(), NOW, Duration::minutes(5)).unwrap();
    assert!(matches!(
        keys().verify_at(&issued.token, NOW),
        Err(CryptoError::InvalidToken {
            reason: "bad signature"
        })
    ));
}

#[test]
fn a_token_with_a_swapped_payload_is_refused() {
    // Arrange: a genuine token, then another user's claims spliced in.
    let keys = keys();
    let issued = keys.issue(user(), NOW, Duration::minutes(5)).unwrap();
    let forged_claims = claims_json(serde_json::json!({"sub": Uuid::max().to_string()}));
    let parts: Vec<&str> = issued.token.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged_claims.to_string()),
        parts[2]
    );
    // Act / Assert
    assert!(keys.verify_at(&forged, NOW).is_err());
}

#[test]
fn a_token_with_a_changed_signature_is_refused() {
    let keys = keys();
    let issued = keys.issue(user(), NOW, Duration::minutes(5)).unwrap();
    let (head, sig) = issued.token.rsplit_once('.').unwrap();
    let mut sig: Vec<u8> = URL_SAFE_NO_PAD.decode(sig).unwrap();
    sig[0] ^= 1;
    let forged = format!("{head}.{}", URL_SAFE_NO_PAD.encode(sig));
    assert!(matches!(
        keys.verify_at(&forged, NOW),
        Err(CryptoError::InvalidToken {
            reason: "bad signature"
        })
    ));
}
