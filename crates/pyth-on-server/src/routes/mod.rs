//! The router: public routes, `/api/v1/*` behind authentication and per-user rate limits, and
//! the layers every request passes through.

pub mod audit_log;
pub mod auth;
pub mod egress;
pub mod execute;
pub mod generate;
pub mod keys;
pub mod packages;
pub mod secrets;
pub mod system;
pub mod zk;

use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post, put};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::ApiError;
use crate::http::auth::{auth_ip_rate_limit, require_auth};
use crate::http::request_id::request_id_layer;
use crate::state::AppState;

/// Counts every response by status class for `/metrics`.
async fn count_responses(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let response = next.run(request).await;
    state.metrics().request(response.status().as_u16());
    response
}

/// Builds the whole application.
pub fn router(state: AppState) -> Router {
    let body_limit = usize::try_from(state.settings().max_body_bytes).unwrap_or(usize::MAX);

    let limited_public = Router::new()
        .route("/api/register", post(auth::register))
        .route("/api/login", post(auth::login))
        .route("/api/refresh", post(auth::refresh))
        .route_layer(from_fn_with_state(state.clone(), auth_ip_rate_limit));

    let public = Router::new()
        .route("/api/verify", post(auth::verify))
        .route("/api/health", get(system::health))
        .route("/api/health/live", get(system::live))
        .route("/api/info", get(system::info));
    // The OpenAPI document and an interactive reference (Swagger UI, vendored into the binary:
    // no CDN, works offline).
    let public = public.merge(
        utoipa_swagger_ui::SwaggerUi::new("/docs")
            .url("/api/openapi.json", crate::openapi::document()),
    );

    let v1 = Router::new()
        .route("/api/v1/me", get(auth::me))
        .route("/api/v1/execute", post(execute::execute))
        .route("/api/v1/generate", post(generate::generate))
        .route("/api/v1/secrets", get(secrets::list_secrets))
        .route(
            "/api/v1/secrets/{name}",
            put(secrets::put_secret).delete(secrets::delete_secret),
        )
        .route("/api/v1/keys", get(keys::list_keys).post(keys::create_key))
        .route("/api/v1/keys/{id}", axum::routing::delete(keys::revoke_key))
        .route("/api/v1/zk/encrypt", post(zk::encrypt))
        .route("/api/v1/zk/code", get(zk::list_code))
        .route(
            "/api/v1/zk/code/{name}",
            put(zk::put_code).delete(zk::delete_code),
        )
        .route("/api/v1/zk/execute/{name}", post(zk::execute))
        .route(
            "/api/v1/packages",
            get(packages::list_packages)
                .put(packages::set_packages)
                .post(packages::add_package),
        )
        .route(
            "/api/v1/packages/{name}",
            axum::routing::delete(packages::delete_package),
        )
        .route(
            "/api/v1/egress/allow",
            get(egress::get_allow)
                .put(egress::set_allow)
                .delete(egress::delete_allow),
        )
        .route("/api/v1/audit", get(audit_log::list_audit))
        .route("/api/v1/audit/verify", get(audit_log::verify_audit))
        .route_layer(from_fn_with_state(state.clone(), require_auth));

    let mut public = public;
    if state.settings().console {
        public = public.merge(crate::console::router());
    }
    if state.settings().metrics {
        public = public.route("/metrics", get(system::metrics));
    }
    let mut app = Router::new()
        .merge(limited_public)
        .merge(public)
        .merge(v1)
        .fallback(|| async { ApiError::NotFound("route") });
    if let Some(manager) = state.packages() {
        app = app.layer(axum::Extension(manager.clone()));
    }
    app.layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn_with_state(state.clone(), count_responses))
        .layer(CatchPanicLayer::new())
        .layer(from_fn(request_id_layer))
        .with_state(state)
}
