//! Access tokens: HS256 JWTs, nothing else accepted.
//!
//! Claims: `sub` (user id), `iss` = `pyth-on`, `aud` = `pyth-on-api`, `iat`, `nbf` (= `iat`),
//! `exp`, `jti` (random UUID), all seven required on verification; and `sid` (the sign-in, a
//! refresh-token family) when the token was issued to one. Lifetimes are at most
//! [`MAX_LIFETIME`] (15 minutes), enforced when issuing and again when verifying.
//!
//! Clock rules (one server signs and verifies, so there is no skew to absorb on `exp`):
//! a token is expired from the second `now >= exp` (zero leeway). `iat`/`nbf` may be at most
//! [`CLOCK_SKEW_SECONDS`] in the future, to tolerate a clock step between issue and use.
//!
//! `jsonwebtoken` keeps its own copies of the secret in key types that are not zeroized on
//! drop; `JwtKeys` lives for the whole process, so this only matters at exit.

use std::fmt;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::error::CryptoError;

/// Issuer claim.
pub const ISSUER: &str = "pyth-on";
/// Audience claim.
pub const AUDIENCE: &str = "pyth-on-api";
/// Longest access token lifetime.
pub const MAX_LIFETIME: Duration = Duration::minutes(15);
/// How far in the future `iat`/`nbf` may be.
pub const CLOCK_SKEW_SECONDS: i64 = 5;
/// Shortest signing secret, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

const ALGORITHM: Algorithm = Algorithm::HS256;

/// The claims as they travel.
#[derive(Debug, Serialize, Deserialize)]
struct WireClaims {
    sub: Uuid,
    iss: String,
    aud: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: Uuid,
    /// The sign-in (refresh-token family) the token was issued to, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<Uuid>,
}

/// A freshly signed access token.
pub struct IssuedToken {
    /// The compact JWS, to hand to the client.
    pub token: String,
    /// When it stops being accepted.
    pub expires_at: OffsetDateTime,
    /// Its unique id (`jti`).
    pub jti: Uuid,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("jti", &self.jti)
            .finish()
    }
}

/// The verified contents of an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// Expiry.
    pub exp: OffsetDateTime,
    /// Issue time.
    pub iat: OffsetDateTime,
    /// Token id.
    pub jti: Uuid,
    /// The sign-in it was issued to (`sid`), if any: revoking the sign-in revokes the token.
    pub sid: Option<Uuid>,
}

/// Signing and verification keys for HS256 access tokens.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtKeys([redacted])")
    }
}

impl JwtKeys {
    /// Builds keys from a secret of at least 32 bytes that is not all zero.
    pub fn new(secret: &[u8]) -> Result<Self, CryptoError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(CryptoError::JwtSecretTooShort {
                len: secret.len(),
                min: MIN_SECRET_LEN,
            });
        }
        if secret.iter().all(|&b| b == 0) {
            return Err(CryptoError::JwtSecretAllZero);
        }
        let mut validation = Validation::new(ALGORITHM);
        validation.algorithms = vec![ALGORITHM];
        validation.set_required_spec_claims(&["exp", "iat", "nbf", "sub", "iss", "aud"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        // Time claims are checked by `verify_at` against the caller's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        })
    }

    /// Signs a token for `user_id`, valid from `now` for `lifetime` (whole seconds, at most
    /// 15 minutes, more than zero).
    pub fn issue(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
        lifetime: Duration,
    ) -> Result<IssuedToken, CryptoError> {
        self.issue_for_sign_in(user_id, None, now, lifetime)
    }

    /// Like [`JwtKeys::issue`], naming the sign-in (`sid`) the token belongs to.
    pub fn issue_for_sign_in(
        &self,
        user_id: Uuid,
        sid: Option<Uuid>,
        now: OffsetDateTime,
        lifetime: Duration,
    ) -> Result<IssuedToken, CryptoError> {
        let seconds = lifetime.whole_seconds();
        if seconds <= 0 || lifetime > MAX_LIFETIME {
            return Err(CryptoError::TokenLifetime {
                seconds,
                max_seconds: MAX_LIFETIME.whole_seconds(),
            });
        }
        let iat = now.unix_timestamp();
        let exp = iat + seconds;
        let jti = random_uuid();
        let claims = WireClaims {
            sub: user_id,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat,
            nbf: iat,
            exp,
            jti,
            sid,
        };
        let token = jsonwebtoken::encode(&Header::new(ALGORITHM), &claims, &self.encoding)
            .map_err(CryptoError::JwtSign)?;
        Ok(IssuedToken {
            token,
            expires_at: timestamp(exp)?,
            jti,
        })
    }

    /// Verifies `token` against the system clock.
    pub fn verify(&self, token: &str) -> Result<Claims, CryptoError> {
        self.verify_at(token, OffsetDateTime::now_utc())
    }

    /// Verifies `token` as of `now`: HS256 signature, required claims, issuer, audience,
    /// expiry and lifetime.
    pub fn verify_at(&self, token: &str, now: OffsetDateTime) -> Result<Claims, CryptoError> {
        let data = jsonwebtoken::decode::<WireClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| CryptoError::InvalidToken {
                reason: reason(e.kind()),
            })?;
        let c = data.claims;
        let bad = |reason| Err(CryptoError::InvalidToken { reason });
        let now = now.unix_timestamp();
        if c.iat > now + CLOCK_SKEW_SECONDS || c.nbf > now + CLOCK_SKEW_SECONDS {
            return bad("issued in the future");
        }
        if c.exp <= c.iat || c.exp - c.iat > MAX_LIFETIME.whole_seconds() {
            return bad("lifetime out of bounds");
        }
        if now >= c.exp {
            return Err(CryptoError::TokenExpired);
        }
        Ok(Claims {
            sub: c.sub,
            exp: timestamp(c.exp)?,
            iat: timestamp(c.iat)?,
            jti: c.jti,
            sid: c.sid,
        })
    }
}

fn timestamp(secs: i64) -> Result<OffsetDateTime, CryptoError> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(|_| CryptoError::InvalidToken {
        reason: "timestamp out of range",
    })
}

fn random_uuid() -> Uuid {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => "algorithm not allowed",
        ErrorKind::MissingRequiredClaim(_) => "missing a required claim",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::Json(_) => "malformed header or claims",
        _ => "malformed token",
    }
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
