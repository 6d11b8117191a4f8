//! The OpenAPI 3.1 document, generated from the handlers' annotations and the wire types.

use std::sync::OnceLock;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};

use crate::routes::{
    audit_log, auth, egress, execute, generate, keys, packages, secrets, system, zk,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Pyth-On API", description = "Run untrusted Python and JavaScript in single-use isolated sandboxes, with sealed secrets and a hash-chained audit log."),
    paths(
        system::health, system::live, system::info,
        auth::register, auth::login, auth::verify, auth::refresh, auth::me,
        keys::list_keys, keys::create_key, keys::revoke_key,
        execute::execute, generate::generate,
        secrets::put_secret, secrets::delete_secret, secrets::list_secrets,
        audit_log::list_audit, audit_log::verify_audit,
        packages::list_packages, packages::set_packages, packages::add_package, packages::delete_package,
        zk::encrypt, zk::put_code, zk::list_code, zk::delete_code, zk::execute,
        egress::get_allow, egress::set_allow, egress::delete_allow,
    ),
    components(schemas(
        pyth_on_types::ErrorBody, pyth_on_types::AuthRequest, pyth_on_types::AuthResponse,
        pyth_on_types::UserInfo, pyth_on_types::VerifyRequest, pyth_on_types::VerifyResponse,
        pyth_on_types::RefreshRequest, pyth_on_types::CreateKeyRequest, pyth_on_types::CreatedKey,
        pyth_on_types::KeyInfo, pyth_on_types::KeyList, pyth_on_types::ExecuteRequest,
        pyth_on_types::ExecuteResponse, pyth_on_types::EgressUsage, pyth_on_types::EgressAllowList, pyth_on_types::SetEgressAllowRequest, pyth_on_types::GenerateRequest, pyth_on_types::GenerateResponse, pyth_on_types::SecretInput, pyth_on_types::SecretMetadata,
        pyth_on_types::SecretList, pyth_on_types::AuditEntry, pyth_on_types::AuditPage,
        pyth_on_types::AuditVerification, pyth_on_types::HealthResponse, pyth_on_types::InfoResponse,
        pyth_on_types::LanguageInfo, pyth_on_types::ZkPayload, pyth_on_types::ZkKdf, pyth_on_types::ZkEncryptRequest, pyth_on_types::ZkExecuteRequest, pyth_on_types::EncryptedCodeMetadata, pyth_on_types::EncryptedCodeList, pyth_on_types::KdfSummary, pyth_on_types::LimitsInfo, pyth_on_types::FeaturesInfo,
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
        (name = "Audit", description = "The hash-chained audit log"),
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

/// The document (built once).
pub fn document() -> Document {
    static DOC: OnceLock<Document> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_string();
        doc
    })
    .clone()
}
