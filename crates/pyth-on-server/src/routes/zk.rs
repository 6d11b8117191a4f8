//! Zero-knowledge code: store opaque zkcode v1 payloads, list and delete them, and run them in
//! a sandbox whose first stage decrypts them. The server never decrypts a stored payload. Each
//! run reserves one guess of the wrong-password budget before the sandbox sees the password.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use pyth_on_crypto::zkcode::{self, KdfParams};
use pyth_on_store::{PutOutcome, ZkCodeRow};
use pyth_on_types::{
    EncryptedCodeList, EncryptedCodeMetadata, ExecuteResponse, KdfSummary, ZkEncryptRequest,
    ZkExecuteRequest,
};

use crate::caller::Caller;
use crate::error::ApiError;
use crate::execution::files::FileOptions;
use crate::execution::{self, RunOptions, RunSettings};
use crate::http::json::AppJson;
use crate::state::AppState;
use crate::zk_code::{self, ZkCodeError, ZkName};

/// A name that does not parse names nothing stored: 404, as for an unknown name.
fn stored_name(raw: &str) -> Result<ZkName, ApiError> {
    ZkName::parse(raw).map_err(|_| ApiError::NotFound("encrypted code"))
}

fn metadata(row: &ZkCodeRow) -> EncryptedCodeMetadata {
    EncryptedCodeMetadata {
        name: row.name.clone(),
        language: row.language.clone(),
        size: u64::try_from(row.size).unwrap_or(0),
        kdf: KdfSummary {
            m: u32::try_from(row.kdf_m).unwrap_or(0),
            t: u32::try_from(row.kdf_t).unwrap_or(0),
            p: u32::try_from(row.kdf_p).unwrap_or(0),
        },
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// Encrypt code on the server (a testing convenience: the server sees the code here; real
/// clients encrypt locally with the Python or JavaScript client).
#[utoipa::path(post, path = "/api/v1/zk/encrypt", tag = "Zero-Knowledge", request_body = ZkEncryptRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = pyth_on_types::ZkPayload),
        (status = 400, body = pyth_on_types::ErrorBody, description = "invalid_name, unsupported_language, validation_failed (empty code, or a masterPassword under 12 characters after NFC)"),
        (status = 413, body = pyth_on_types::ErrorBody, description = "payload_too_large: the code is over `--max-code-bytes`")))]
pub async fn encrypt(
    State(state): State<AppState>,
    user: Caller,
    AppJson(body): AppJson<ZkEncryptRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let name = ZkName::parse(&body.name)?;
    let language = crate::domain::parse_language(body.language.as_deref())?;
    if body.code.is_empty() {
        return Err(ApiError::invalid_field("code", "must not be empty"));
    }
    if body.code.len() as u64 > state.settings().max_code_bytes {
        return Err(ApiError::TooLarge(
            "code is larger than the code limit".into(),
        ));
    }
    if let Err(weak) = zkcode::check_new_master_password(&body.master_password) {
        return Err(ApiError::invalid_field("masterPassword", weak.to_string()));
    }
    let owner = user.user_id;
    let payload = state
        .password_work(move || {
            zkcode::encrypt(
                body.code.as_bytes(),
                &body.master_password,
                owner,
                name.as_str(),
                language.as_str(),
                KdfParams::default(),
            )
        })
        .await?
        .map_err(ZkCodeError::from)?;
    Ok(AppJson(payload.to_json()))
}

/// Store (or replace) an encrypted payload under a name.
#[utoipa::path(put, path = "/api/v1/zk/code/{name}", tag = "Zero-Knowledge", request_body = pyth_on_types::ZkPayload,
    params(("name" = String, Path, description = "^[A-Za-z0-9._-]{1,128}$ (else 400 invalid_name)")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = EncryptedCodeMetadata), (status = 200, body = EncryptedCodeMetadata),
        (status = 400, body = pyth_on_types::ErrorBody, description = "invalid_name, invalid_payload (a value outside the zkcode v1 rules), unsupported_language, too_many_items (`--max-zk-code-per-user`)"),
        (status = 429, body = pyth_on_types::ErrorBody, description = "quota_exceeded: your storage quota is used up (`details.quota` `storageBytes`; without `Retry-After`: delete something first)")))]
pub async fn put_code(
    State(state): State<AppState>,
    user: Caller,
    Path(name): Path<String>,
    AppJson(wire): AppJson<serde_json::Value>,
) -> Result<impl IntoResponse, ApiError> {
    let name = ZkName::parse(&name)?;
    // The body was read like any other route's (content type, JSON, size); the payload's own
    // strict rules (no unknown key, integers without a fraction, ...) answer invalid_payload.
    let body = serde_json::to_vec(&wire).map_err(|e| ApiError::Internal(e.into()))?;
    let (outcome, stored) = zk_code::put(&state, &user, &name, &body).await?;
    let status = match outcome {
        PutOutcome::Created => StatusCode::CREATED,
        PutOutcome::Replaced => StatusCode::OK,
    };
    Ok((status, AppJson(metadata(&stored))))
}

/// List stored encrypted code (metadata only).
#[utoipa::path(get, path = "/api/v1/zk/code", tag = "Zero-Knowledge", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = EncryptedCodeList)))]
pub async fn list_code(
    State(state): State<AppState>,
    user: Caller,
) -> Result<AppJson<EncryptedCodeList>, ApiError> {
    let rows = zk_code::list(&state, &user).await?;
    Ok(AppJson(EncryptedCodeList {
        items: rows.iter().map(metadata).collect(),
    }))
}

/// Delete stored encrypted code.
#[utoipa::path(delete, path = "/api/v1/zk/code/{name}", tag = "Zero-Knowledge", params(("name" = String, Path, description = "^[A-Za-z0-9._-]{1,128}$; any other name is not found")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = pyth_on_types::ErrorBody, description = "not_found")))]
pub async fn delete_code(
    State(state): State<AppState>,
    user: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    zk_code::delete(&state, &user, &stored_name(&name)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Decrypt and run stored code inside a sandbox.
#[utoipa::path(post, path = "/api/v1/zk/execute/{name}", operation_id = "zk_execute", tag = "Zero-Knowledge", request_body = ZkExecuteRequest,
    params(("name" = String, Path, description = "^[A-Za-z0-9._-]{1,128}$; any other name is not found")), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ExecuteResponse, description = "with zeroKnowledge: true"),
        (status = 400, body = pyth_on_types::ErrorBody, description = "validation_failed (details names the field), unsupported_language, network_disabled, too_many_packages, invalid_package, invalid_name and reserved_name (an env name), packages_unavailable (packages asked for on a server without them)"),
        (status = 403, body = pyth_on_types::ErrorBody, description = "zk_wrong_password"),
        (status = 404, body = pyth_on_types::ErrorBody, description = "not_found: no code stored under this name"),
        (status = 422, body = pyth_on_types::ErrorBody, description = "zk_integrity: the payload does not decrypt with the right key; package_install_failed"),
        (status = 429, body = pyth_on_types::ErrorBody, description = "rate_limited: too many wrong passwords for this name (`--zk-wrong-password-per-hour`); too_many_runs, too_many_builds; quota_exceeded: your runs or CPU seconds of the day (UTC) are used up (`details`: quota, limit, used, resetAt; Retry-After until 00:00 UTC)"),
        (status = 503, body = pyth_on_types::ErrorBody, description = "sandbox_unavailable, package_builds_busy")))]
pub async fn execute(
    State(state): State<AppState>,
    user: Caller,
    Path(name): Path<String>,
    AppJson(body): AppJson<ZkExecuteRequest>,
) -> Result<AppJson<ExecuteResponse>, ApiError> {
    let name = stored_name(&name)?;
    // Any non-empty password may open a payload: the length rule is only for new ones.
    if body.master_password.is_empty() {
        return Err(ApiError::invalid_field(
            "masterPassword",
            "must not be empty",
        ));
    }
    let row = zk_code::get(&state, &user, &name).await?;
    let settings = RunSettings::parse(
        &state,
        RunOptions {
            language: Some(row.language.clone()),
            stdin: body.stdin,
            args: body.args,
            timeout_ms: body.timeout_ms,
            memory_mb: body.memory_mb,
            packages: body.packages,
            network: body.network,
            secrets: body.secrets,
            env: None,
            files: FileOptions {
                files: body.files,
                entry: None,
                output_files: body.output_files,
            },
        },
    )?;
    let response = execution::zk::run(&state, &user, &row, settings, body.master_password);
    Ok(AppJson(response.await?))
}
