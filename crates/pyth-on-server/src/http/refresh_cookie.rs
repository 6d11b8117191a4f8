//! The refresh cookie: a browser (the console) can keep its refresh token where scripts cannot
//! read it. A request to `/api/register`, `/api/login` or `/api/refresh` with the header
//! `X-Pyth-On-Cookie: refresh` gets the refresh token in an `HttpOnly; Secure;
//! SameSite=Strict; Path=/api` cookie instead of the JSON body (whose `refreshToken` is then
//! empty); `/api/refresh` and `/api/logout` read the cookie only when the same header comes
//! with it. The header is the CSRF guard: a cross-site page cannot send a custom header
//! without a CORS preflight, which this server never grants, and `SameSite=Strict` keeps the
//! cookie off cross-site requests anyway.

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};

/// The header that asks for (and allows reading) the refresh cookie.
pub const OPT_IN_HEADER: &str = "x-pyth-on-cookie";

/// The cookie's name.
pub const COOKIE_NAME: &str = "pyth_on_refresh";

/// Whether the request carries `X-Pyth-On-Cookie: refresh`.
pub fn wants_cookie(headers: &HeaderMap) -> bool {
    headers
        .get(OPT_IN_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("refresh"))
}

/// The refresh token of the cookie, when the request opted in and has one.
pub fn from_cookie(headers: &HeaderMap) -> Option<String> {
    if !wants_cookie(headers) {
        return None;
    }
    let cookies = headers.get_all(COOKIE).into_iter();
    let pairs = cookies
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'));
    pairs
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

/// Adds the cookie holding `token` for `max_age_secs` to `headers`.
pub fn set(headers: &mut HeaderMap, token: &str, max_age_secs: u64) {
    let value = format!(
        "{COOKIE_NAME}={token}; HttpOnly; Secure; SameSite=Strict; Path=/api; Max-Age={max_age_secs}"
    );
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.append(SET_COOKIE, value);
    }
}

/// Adds a cookie that deletes the refresh cookie to `headers`.
pub fn clear(headers: &mut HeaderMap) {
    let value = format!("{COOKIE_NAME}=; HttpOnly; Secure; SameSite=Strict; Path=/api; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.append(SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_cookie_is_read_only_with_the_opt_in_header() {
        let cookie = ("cookie", "a=1; pyth_on_refresh=tok123; b=2");
        assert_eq!(
            from_cookie(&headers(&[cookie])),
            None,
            "no header: a CSRF attempt"
        );
        let with = headers(&[cookie, ("x-pyth-on-cookie", "refresh")]);
        assert_eq!(from_cookie(&with).as_deref(), Some("tok123"));
        let empty = headers(&[
            ("cookie", "pyth_on_refresh="),
            ("x-pyth-on-cookie", "refresh"),
        ]);
        assert_eq!(from_cookie(&empty), None);
    }

    #[test]
    fn the_cookie_is_http_only_secure_strict_and_scoped_to_the_api() {
        let mut h = HeaderMap::new();
        set(&mut h, "tok", 60);
        clear(&mut h);
        let all: Vec<&str> = h
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            all,
            [
                "pyth_on_refresh=tok; HttpOnly; Secure; SameSite=Strict; Path=/api; Max-Age=60",
                "pyth_on_refresh=; HttpOnly; Secure; SameSite=Strict; Path=/api; Max-Age=0",
            ]
        );
    }
}
