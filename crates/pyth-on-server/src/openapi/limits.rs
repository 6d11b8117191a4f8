//! This server's limits and the rules the wire types' attributes cannot state, written into the
//! document: settings (code size, timeouts, memory, package counts, prompt and secret sizes),
//! the constants of the request parsers, variable names without the reserved ones, host
//! patterns, and the key-derivation cost rule of zkcode payloads.

use serde_json::{json, Value};

use crate::allow_list::MAX_ALLOW_HOSTS;
use crate::domain::VarName;
use crate::execution::{MAX_ARGS, MAX_ARG_BYTES, MAX_ENV};
use crate::settings::{Settings, MIN_MEMORY_MB};

/// A string without NUL characters.
const NO_NUL: &str = "^[^\\x00]*$";
/// A stored-code name.
const CODE_NAME: &str = "^[A-Za-z0-9._-]{1,128}$";
/// One DNS label as the egress policy accepts it.
const LABEL: &str = "[A-Za-z0-9_-]{1,63}";
/// The textual IPv6 forms without an embedded IPv4 address.
const IPV6: &str = "(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:|(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,5}(?::[0-9A-Fa-f]{1,4}){1,2}|(?:[0-9A-Fa-f]{1,4}:){1,4}(?::[0-9A-Fa-f]{1,4}){1,3}|(?:[0-9A-Fa-f]{1,4}:){1,3}(?::[0-9A-Fa-f]{1,4}){1,4}|(?:[0-9A-Fa-f]{1,4}:){1,2}(?::[0-9A-Fa-f]{1,4}){1,5}|[0-9A-Fa-f]{1,4}:(?::[0-9A-Fa-f]{1,4}){1,6}|:(?:(?::[0-9A-Fa-f]{1,4}){1,7}|:))";

/// Sets `doc[pointer] = value` when the parent exists.
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let Some((parent, key)) = pointer.rsplit_once('/') else {
        return;
    };
    if let Some(Value::Object(map)) = doc.pointer_mut(parent) {
        map.insert(key.to_string(), value);
    }
}

fn schema(name: &str) -> String {
    format!("/components/schemas/{name}/properties")
}

/// The egress host-pattern rule of `pyth_on_egress::HostPattern::parse`: surrounding space,
/// trailing dots and case ignored, brackets allowed around the whole; `*.` may not precede an
/// IP address.
fn host_pattern() -> String {
    let name = format!("(?:\\*\\.)?{LABEL}(?:\\.{LABEL})*");
    let not_below_ip = "(?!\\[?\\*\\.[0-9]{1,3}(?:\\.[0-9]{1,3}){3}\\]?\\.*\\s*$)";
    format!("^\\s*{not_below_ip}(?:\\*|(?:{name}|\\[{name}\\]|{IPV6}|\\[{IPV6}\\])\\.*)\\s*$")
}

/// Writes the limits of `settings` and the code-defined rules into `doc`.
pub fn apply(doc: &mut Value, settings: &Settings, egress: bool) {
    run_settings(doc, settings, egress);
    execute_inputs(doc, settings);
    other_bounds(doc, settings);
    zk_payload(doc, settings);
    session_bounds(doc, settings);
    path_names(doc);
}

/// A session's limits and environment, and a cell's code and time.
fn session_bounds(doc: &mut Value, settings: &Settings) {
    let p = schema("CreateSessionRequest");
    let s = &settings.sessions;
    set(doc, &format!("{p}/memoryMb/minimum"), json!(MIN_MEMORY_MB));
    set(
        doc,
        &format!("{p}/memoryMb/maximum"),
        json!(settings.max_memory_mb),
    );
    set(
        doc,
        &format!("{p}/idleTimeoutSec/maximum"),
        json!(s.session_idle_timeout_secs),
    );
    set(
        doc,
        &format!("{p}/maxLifetimeSec/maximum"),
        json!(s.session_max_lifetime_secs),
    );
    let text = json!({"type": "string", "maxLength": MAX_ARG_BYTES, "pattern": NO_NUL});
    set(doc, &format!("{p}/env/maxProperties"), json!(MAX_ENV));
    set(
        doc,
        &format!("{p}/env/propertyNames"),
        json!({"pattern": VarName::pattern()}),
    );
    set(doc, &format!("{p}/env/additionalProperties"), text);
    let c = schema("CellRequest");
    set(
        doc,
        &format!("{c}/code/maxLength"),
        json!(settings.max_code_bytes),
    );
    set(
        doc,
        &format!("{c}/timeoutMs/maximum"),
        json!(settings.max_timeout_ms),
    );
}

/// What every way of running code shares: network, time, memory and package bounds.
fn run_settings(doc: &mut Value, settings: &Settings, egress: bool) {
    for name in ["ExecuteRequest", "GenerateRequest", "ZkExecuteRequest"] {
        let p = schema(name);
        if !egress {
            set(doc, &format!("{p}/network/enum"), json!([false, null]));
            set(
                doc,
                &format!("{p}/network/description"),
                json!("Egress is off on this server: `true` is refused (400 network_disabled)."),
            );
        }
        set(doc, &format!("{p}/timeoutMs/minimum"), json!(1));
        set(
            doc,
            &format!("{p}/timeoutMs/maximum"),
            json!(settings.max_timeout_ms),
        );
        set(doc, &format!("{p}/memoryMb/minimum"), json!(MIN_MEMORY_MB));
        set(
            doc,
            &format!("{p}/memoryMb/maximum"),
            json!(settings.max_memory_mb),
        );
        set(
            doc,
            &format!("{p}/packages/maxItems"),
            json!(settings.packages.max_packages),
        );
    }
}

/// Arguments, the code and the environment of `/execute` (arguments of ZK runs too).
fn execute_inputs(doc: &mut Value, settings: &Settings) {
    let text = json!({"type": "string", "maxLength": MAX_ARG_BYTES, "pattern": NO_NUL});
    for name in ["ExecuteRequest", "ZkExecuteRequest"] {
        let p = schema(name);
        set(doc, &format!("{p}/args/maxItems"), json!(MAX_ARGS));
        set(doc, &format!("{p}/args/items"), text.clone());
    }
    let p = schema("ExecuteRequest");
    set(
        doc,
        &format!("{p}/code/maxLength"),
        json!(settings.max_code_bytes),
    );
    set(doc, &format!("{p}/env/maxProperties"), json!(MAX_ENV));
    set(
        doc,
        &format!("{p}/env/propertyNames"),
        json!({"pattern": VarName::pattern()}),
    );
    set(doc, &format!("{p}/env/additionalProperties"), text);
}

/// Sizes of the other bodies: encrypted code, prompts, secrets, package lists, allow-lists.
fn other_bounds(doc: &mut Value, settings: &Settings) {
    set(
        doc,
        &format!("{}/code/maxLength", schema("ZkEncryptRequest")),
        json!(settings.max_code_bytes),
    );
    set(
        doc,
        &format!("{}/prompt/maxLength", schema("GenerateRequest")),
        json!(settings.max_prompt_bytes),
    );
    set(
        doc,
        &format!("{}/value/maxLength", schema("SecretInput")),
        json!(settings.max_secret_bytes),
    );
    set(
        doc,
        &format!("{}/packages/maxItems", schema("SetPackagesRequest")),
        json!(settings.packages.max_packages),
    );
    let hosts = schema("SetEgressAllowRequest");
    set(
        doc,
        &format!("{hosts}/hosts/maxItems"),
        json!(MAX_ALLOW_HOSTS),
    );
    set(
        doc,
        &format!("{hosts}/hosts/items"),
        json!({"type": "string", "pattern": host_pattern()}),
    );
}

/// The payload's ciphertext bound and the cost rule `m * t >= 65536`, as one branch per
/// number of passes that needs a higher memory floor than 19456 KiB.
fn zk_payload(doc: &mut Value, settings: &Settings) {
    let ct_bytes = settings.max_code_bytes.saturating_add(16);
    set(
        doc,
        &format!("{}/ct/maxLength", schema("ZkPayload")),
        json!(ct_bytes.div_ceil(3) * 4),
    );
    set(
        doc,
        "/components/schemas/ZkKdf/anyOf",
        json!([
            {"properties": {"t": {"type": "integer", "const": 1}, "m": {"type": "integer", "minimum": 65536}}},
            {"properties": {"t": {"type": "integer", "const": 2}, "m": {"type": "integer", "minimum": 32768}}},
            {"properties": {"t": {"type": "integer", "const": 3}, "m": {"type": "integer", "minimum": 21846}}},
            {"properties": {"t": {"type": "integer", "minimum": 4}}}
        ]),
    );
}

/// What a pattern can say of a session file's path (relative, and no control character or
/// backslash; `..`, depth and byte length are checked by the server: 400 invalid_path).
const FILE_PATH: &str = r"^[^/\u0000-\u001f\u007f-\u009f\\][^\u0000-\u001f\u007f-\u009f\\]*$";

/// The rules of the `{name}` path parameters and of session files' `{path}` and `dir`.
fn path_names(doc: &mut Value) {
    let rules = [
        ("/api/v1/secrets/{name}", "name", VarName::pattern()),
        ("/api/v1/zk/code/{name}", "name", CODE_NAME.to_string()),
        ("/api/v1/zk/execute/{name}", "name", CODE_NAME.to_string()),
        (
            "/api/v1/sessions/{id}/files/{path}",
            "path",
            FILE_PATH.to_string(),
        ),
    ];
    for (path, name, pattern) in rules {
        let Some(Value::Object(item)) = doc.pointer_mut(&format!("/paths/{}", escape(path))) else {
            continue;
        };
        for op in item.values_mut() {
            let Some(Value::Array(params)) = op.get_mut("parameters") else {
                continue;
            };
            for param in params.iter_mut().filter(|p| p["name"] == name) {
                param["schema"] = json!({"type": "string", "pattern": pattern});
            }
        }
    }
}

/// A path as one JSON-pointer token.
fn escape(path: &str) -> String {
    path.replace('~', "~0").replace('/', "~1")
}
