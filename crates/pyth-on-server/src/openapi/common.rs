//! What every operation shares and so is written once, here, rather than in each handler's
//! annotation: the answers of the layers in front of the handlers (authentication, rate
//! limits, JSON bodies, the database) and the response headers (`x-request-id` on every
//! answer, `RateLimit-*` where a limit applies, `Retry-After` on 429 and 503).

use serde_json::{json, Map, Value};

/// The routes behind the per-client-IP limit ([`crate::http::auth::auth_ip_rate_limit`]).
const IP_LIMITED: &[&str] = &["/api/register", "/api/login", "/api/refresh", "/api/logout"];
/// The routes that never answer `database_unavailable`: they do not touch the database, or
/// (readiness) report it in their own body.
const NO_STORE: &[&str] = &["/api/health", "/api/health/live", "/api/info"];
const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

/// What the layers in front of a handler can answer for one operation.
struct Route {
    /// Behind `require_auth` (401, the per-user limit).
    authenticated: bool,
    /// Behind a rate limit (per user or per IP).
    limited: bool,
    /// Reads a JSON body.
    body: bool,
    /// Has path or query parameters.
    params: bool,
    /// Reads or writes the database.
    store: bool,
}

impl Route {
    fn of(path: &str, op: &Value) -> Self {
        let authenticated = path.starts_with("/api/v1/");
        Self {
            authenticated,
            limited: authenticated || IP_LIMITED.contains(&path),
            body: op.get("requestBody").is_some(),
            params: op
                .get("parameters")
                .and_then(Value::as_array)
                .is_some_and(|p| !p.is_empty()),
            store: !NO_STORE.contains(&path),
        }
    }

    /// (status, error codes and when) the layers add.
    fn shared_answers(&self) -> Vec<(&'static str, &'static str)> {
        let mut out = Vec::new();
        if self.body {
            out.push(("400", "invalid_json (not JSON, or not UTF-8), invalid_request (a missing, unknown or mistyped field), invalid_content_type (not `application/json`)"));
            out.push((
                "408",
                "request_timeout: the body did not arrive in time (`--http-body-timeout-secs`)",
            ));
            out.push((
                "413",
                "payload_too_large: the body is over `--max-body-bytes`",
            ));
        }
        if self.params {
            out.push((
                "400",
                "invalid_request: a malformed path or query parameter",
            ));
        }
        if self.authenticated {
            out.push((
                "401",
                "unauthorized: no credentials, or an invalid or revoked key or token",
            ));
        }
        if self.limited {
            out.push(("429", "rate_limited: over the rate limit (per user on `/api/v1`, per client IP on register, login and refresh); `Retry-After` says when to retry"));
        }
        if self.store {
            out.push((
                "503",
                "database_unavailable: the database did not answer (`Retry-After`)",
            ));
        }
        out
    }
}

/// Adds the shared answers and headers to every operation of the document.
pub fn apply(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let route = Route::of(path, op);
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            for (status, codes) in route.shared_answers() {
                add_answer(responses, status, codes);
            }
            for (status, response) in responses.iter_mut() {
                add_headers(&route, status, response);
            }
        }
    }
}

/// Adds `codes` to the response for `status`, making it (with the error body) if missing.
fn add_answer(responses: &mut Map<String, Value>, status: &str, codes: &str) {
    let response = responses.entry(status.to_string()).or_insert_with(|| {
        json!({
            "description": "",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        })
    });
    let Some(description) = response.get_mut("description") else {
        return;
    };
    let current = description.as_str().unwrap_or_default();
    let first_code = codes.split([':', ' ', ',']).next().unwrap_or(codes);
    if current.contains(first_code) {
        return;
    }
    *description = Value::String(if current.is_empty() {
        codes.to_string()
    } else {
        format!("{current}; {codes}")
    });
}

fn header(description: &str, schema: Value, required: bool) -> Value {
    json!({"description": description, "required": required, "schema": schema})
}

/// The headers of one response.
fn add_headers(route: &Route, status: &str, response: &mut Value) {
    let Some(response) = response.as_object_mut() else {
        return;
    };
    if response.get("description").and_then(Value::as_str) == Some("") {
        response.insert("description".into(), Value::String(reason(status).into()));
    }
    let description = response
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let headers = response
        .entry("headers")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(headers) = headers else {
        return;
    };
    headers.insert(
        "x-request-id".into(),
        header(
            "The request's id: the caller's own `x-request-id` when it is 1 to 128 characters of `A-Z a-z 0-9 - _ . :`, else a new UUIDv7. Also in every error body.",
            json!({"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9._:-]+$"}),
            true,
        ),
    );
    // A refused credential is answered before the per-user limit is looked at.
    if route.limited && !(route.authenticated && status == "401") {
        let count = json!({"type": "integer", "minimum": 0});
        headers.insert(
            "RateLimit-Limit".into(),
            header("Requests allowed per minute.", count.clone(), false),
        );
        headers.insert(
            "RateLimit-Remaining".into(),
            header("Requests left now.", count.clone(), false),
        );
        headers.insert(
            "RateLimit-Reset".into(),
            header("Seconds until the allowance is full again.", count, false),
        );
    }
    if status == "429" || status == "503" {
        // A sessions or storage quota frees up by the caller's action, not with time.
        let untimed = status == "429" && description.contains("without `Retry-After`");
        let says = if untimed {
            "Seconds to wait before retrying (on 429 but for `quota_exceeded` of `sessions` or `storageBytes`; on 503 when the wait is known)."
        } else {
            "Seconds to wait before retrying (always on 429; on 503 when the wait is known)."
        };
        headers.insert(
            "Retry-After".into(),
            header(
                says,
                json!({"type": "integer", "minimum": 1}),
                status == "429" && !untimed,
            ),
        );
    }
}

fn reason(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "204" => "No Content",
        "400" => "Bad Request",
        "401" => "Unauthorized",
        "403" => "Forbidden",
        "404" => "Not Found",
        "409" => "Conflict",
        "413" => "Payload Too Large",
        "422" => "Unprocessable Content",
        "429" => "Too Many Requests",
        "502" => "Bad Gateway",
        "503" => "Service Unavailable",
        _ => "Answer",
    }
}
