//! The OpenAPI 3.1 document: the paths come from the router itself (split off it by
//! utoipa-axum, see [`crate::routes::router`]), the operations from the handlers' annotations, the
//! schemas from the wire types; then [`common`] adds what every route shares (statuses,
//! headers) and [`limits`] writes in this server's configured limits and the rules the wire
//! types' attributes cannot say.

mod common;
mod limits;

use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};

use crate::settings::Settings;

#[derive(OpenApi)]
#[openapi(
    info(title = "Pyth-On API", description = "Run untrusted Python and JavaScript in single-use isolated sandboxes, with sealed secrets and a hash-chained audit log. Limits that are settings (code size, timeouts, memory, counts) are stated as this server has them configured."),
    components(schemas(
        pyth_on_types::ErrorBody, pyth_on_types::AuthRequest, pyth_on_types::AuthResponse,
        pyth_on_types::UserInfo, pyth_on_types::VerifyRequest, pyth_on_types::VerifyResponse,
        pyth_on_types::RefreshRequest, pyth_on_types::CreateKeyRequest, pyth_on_types::CreatedKey,
        pyth_on_types::KeyInfo, pyth_on_types::KeyList, pyth_on_types::ExecuteRequest,
        pyth_on_types::LanguageName, pyth_on_types::InputFile, pyth_on_types::OutputFile,
        pyth_on_types::FileEncoding, pyth_on_types::RunStartEvent, pyth_on_types::RunOutputEvent, pyth_on_types::CellStartEvent,
        pyth_on_types::ExecuteResponse, pyth_on_types::EgressUsage, pyth_on_types::EgressAllowList, pyth_on_types::SetEgressAllowRequest, pyth_on_types::GenerateRequest, pyth_on_types::GenerateResponse, pyth_on_types::SecretInput, pyth_on_types::SecretMetadata,
        pyth_on_types::SecretList, pyth_on_types::AuditEntry, pyth_on_types::AuditPage,
        pyth_on_types::AuditVerification, pyth_on_types::HealthResponse, pyth_on_types::InfoResponse,
        pyth_on_types::LanguageInfo, pyth_on_types::ZkPayload, pyth_on_types::ZkKdf, pyth_on_types::ZkEncryptRequest, pyth_on_types::ZkExecuteRequest, pyth_on_types::EncryptedCodeMetadata, pyth_on_types::EncryptedCodeList, pyth_on_types::KdfSummary, pyth_on_types::LimitsInfo, pyth_on_types::FeaturesInfo,
        pyth_on_types::Usage, pyth_on_types::QuotaUse, pyth_on_types::QuotaOverrides, pyth_on_types::UserQuota,
        pyth_on_types::CreateSessionRequest, pyth_on_types::SessionInfo, pyth_on_types::SessionList, pyth_on_types::CellRequest, pyth_on_types::CellResponse, pyth_on_types::CellOutput, pyth_on_types::CellFailure,
    )),
    modifiers(&Security),
    tags(
        (name = "Auth", description = "Accounts and tokens"),
        (name = "Keys", description = "API keys (JWT only)"),
        (name = "Execute", description = "Single-use sandboxed runs"),
        (name = "Secrets", description = "Sealed environment variables"),
        (name = "Generate", description = "Programs written by a model, then run"),
        (name = "Zero-Knowledge", description = "Client-encrypted code, decrypted only inside the sandbox"),
        (name = "Packages", description = "Persistent PyPI and npm packages"),
        (name = "Egress", description = "The caller's own egress allow-list"),
        (name = "Sessions", description = "Live interpreters that keep their state between cells"),
        (name = "Audit", description = "The hash-chained audit log"),
        (name = "Usage", description = "The caller's quotas and their use"),
        (name = "System", description = "Health and info"),
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document of the router's documented routes: their paths (and
/// the schemas its handlers name), with what every route shares and `settings`' limits
/// (`egress`: whether runs may ask for the network here). It is JSON, as served: the
/// additions use JSON Schema words utoipa's model does not have.
pub fn document_with(routes: Document, settings: &Settings, egress: bool) -> Value {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc.paths = routes.paths;
    if let Some(found) = routes.components {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, schema) in found.schemas {
            components.schemas.entry(name).or_insert(schema);
        }
    }
    // The model only holds strings, maps and numbers: it always serializes.
    let mut value = serde_json::to_value(&doc).unwrap_or(Value::Null);
    common::apply(&mut value);
    limits::apply(&mut value, settings, egress);
    value
}
