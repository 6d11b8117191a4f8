//! The router: public routes, `/api/v1/*` behind authentication and per-user rate limits, and
//! the layers every request passes through.

pub mod admin;
pub mod audit_log;
pub mod auth;
pub mod egress;
pub mod execute;
pub mod generate;
pub mod keys;
pub mod me;
pub mod packages;
pub mod secrets;
pub mod session_files;
pub mod session_nodes;
pub mod sessions;
pub mod system;
pub mod usage;
pub mod zk;

use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::get;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

/// The auth routes limited per client IP: register, login, refresh.
fn ip_limited_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
}

/// The public routes without a limit.
fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(auth::verify))
        .routes(routes!(system::health))
        .routes(routes!(system::live))
        .routes(routes!(system::info))
}

/// `/api/v1/*`: authenticated, limited per user.
fn v1_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(auth::me, me::delete_me))
        .routes(routes!(me::put_settings))
        .routes(routes!(me::change_password))
        .routes(routes!(me::list_sign_ins))
        .routes(routes!(me::revoke_sign_in))
        .routes(routes!(admin::list_users, admin::create_user))
        .routes(routes!(admin::disable_user))
        .routes(routes!(admin::enable_user))
        .routes(routes!(admin::set_role))
        .routes(routes!(admin::delete_user))
        .routes(routes!(admin::get_quota, admin::set_quota))
        .routes(routes!(admin::list_invitations, admin::create_invitation))
        .routes(routes!(admin::delete_invitation))
        .routes(routes!(execute::execute))
        .routes(routes!(execute::cancel))
        .routes(routes!(generate::generate))
        .routes(routes!(secrets::list_secrets))
        .routes(routes!(secrets::put_secret, secrets::delete_secret))
        .routes(routes!(keys::list_keys, keys::create_key))
        .routes(routes!(keys::revoke_key))
        .routes(routes!(zk::encrypt))
        .routes(routes!(zk::list_code))
        .routes(routes!(zk::put_code, zk::delete_code))
        .routes(routes!(zk::execute))
        .routes(routes!(
            packages::list_packages,
            packages::set_packages,
            packages::add_package
        ))
        .routes(routes!(packages::delete_package))
        .routes(routes!(
            egress::get_allow,
            egress::set_allow,
            egress::delete_allow
        ))
        .routes(routes!(sessions::list_sessions, sessions::create_session))
        .routes(routes!(sessions::get_session, sessions::delete_session))
        .routes(routes!(sessions::execute_cell))
        .routes(routes!(sessions::interrupt_session))
        .routes(routes!(session_files::list_files))
        .route(
            session_files::FILE_ROUTE,
            axum::routing::put(session_files::put_file)
                .get(session_files::get_file)
                .delete(session_files::delete_file),
        )
        .merge(OpenApiRouter::with_openapi(
            <session_files::FileRoutes as utoipa::OpenApi>::openapi(),
        ))
        .routes(routes!(audit_log::list_audit))
        .routes(routes!(audit_log::verify_audit))
        .routes(routes!(usage::get_usage))
}

/// Builds the whole application. The documented routes are registered through utoipa-axum's
/// `routes!`, which adds each handler to the router and its annotation to the OpenAPI paths in
/// one step: the document is split off this very router, so a route and its documentation
/// cannot drift apart.
/// Fails only when the client that forwards requests to other nodes cannot be built.
pub fn router(state: AppState) -> anyhow::Result<Router> {
    let body_limit = usize::try_from(state.settings().max_body_bytes).unwrap_or(usize::MAX);
    // Outside authentication: a request for a session on another node is authenticated there.
    let to_owner = from_fn_with_state(
        session_nodes::SessionNodes::new(state.clone())?,
        session_nodes::forward_to_owner,
    );

    let (api, paths) = OpenApiRouter::new()
        .merge(
            ip_limited_routes().route_layer(from_fn_with_state(state.clone(), auth_ip_rate_limit)),
        )
        .merge(public_routes())
        .merge(
            v1_routes()
                .route_layer(from_fn_with_state(state.clone(), require_auth))
                .route_layer(to_owner),
        )
        .split_for_parts();
    // The OpenAPI document and a reference page rendered from it (reference.rs).
    let document = crate::openapi::document_with(paths, state.settings(), state.egress().is_some());
    let document = serde_json::to_value(document)?;
    let mut public = api.merge(crate::reference::router(&document)).route(
        "/api/openapi.json",
        get(move || std::future::ready(axum::Json(document.clone()))),
    );
    if state.settings().console {
        public = public.merge(crate::console::router());
    }
    if state.settings().metrics {
        public = public.route("/metrics", get(system::metrics));
    }
    let mut app = public.fallback(|| async { ApiError::NotFound("route") });
    if let Some(manager) = state.packages() {
        app = app.layer(axum::Extension(manager.clone()));
    }
    Ok(app
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn_with_state(state.clone(), count_responses))
        .layer(CatchPanicLayer::new())
        .layer(from_fn(request_id_layer))
        .with_state(state))
}
