//! Health, info, the OpenAPI document and the reference page.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use pyth_on_types::{FeaturesInfo, HealthResponse, InfoResponse, LanguageInfo, LimitsInfo};

use crate::http::json::AppJson;
use crate::settings::MIN_MEMORY_MB;
use crate::state::AppState;

/// Server version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Readiness: the database answers, the key directory holds this node's keys, the sandbox
/// runs a program (cached 30 s), the package directories are usable. 503 `degraded` naming
/// each failing check. What a load balancer should probe.
#[utoipa::path(get, path = "/api/health", tag = "System",
    responses((status = 200, body = HealthResponse, description = "ready: every check ok"),
        (status = 503, body = HealthResponse, description = "degraded: the failing checks say why")))]
pub async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let checks = crate::health::readiness(&state).await;
    let healthy = checks.values().all(|v| v == "ok");
    respond(&state, healthy, checks)
}

/// Liveness: the process answers (no check). For a supervisor deciding on a restart, not for
/// routing traffic.
#[utoipa::path(get, path = "/api/health/live", tag = "System",
    responses((status = 200, body = HealthResponse)))]
pub async fn live(State(state): State<AppState>) -> impl IntoResponse {
    respond(&state, true, BTreeMap::new())
}

fn respond(state: &AppState, healthy: bool, checks: BTreeMap<String, String>) -> impl IntoResponse {
    let body = HealthResponse {
        status: if healthy { "ok" } else { "degraded" }.to_string(),
        version: VERSION.to_string(),
        uptime_seconds: state.uptime_secs(),
        checks,
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, AppJson(body))
}

/// What this server runs, its limits and features.
#[utoipa::path(get, path = "/api/info", tag = "System", responses((status = 200, body = InfoResponse)))]
pub async fn info(State(state): State<AppState>) -> AppJson<InfoResponse> {
    let s = state.settings();
    let languages = state
        .launcher()
        .runtimes()
        .languages()
        .into_iter()
        .map(|l| LanguageInfo {
            name: l.name.to_string(),
            version: l.version,
            aliases: l.aliases.iter().map(|a| (*a).to_string()).collect(),
        })
        .collect();
    AppJson(InfoResponse {
        name: "Pyth-On API".into(),
        version: VERSION.into(),
        languages,
        limits: LimitsInfo {
            max_body_bytes: s.max_body_bytes,
            max_code_bytes: s.max_code_bytes,
            max_output_bytes: s.max_output_bytes,
            default_timeout_ms: s.default_timeout_ms,
            max_timeout_ms: s.max_timeout_ms,
            default_memory_mb: s.default_memory_mb,
            max_memory_mb: s.max_memory_mb,
            min_memory_mb: MIN_MEMORY_MB,
            rate_limit_per_minute: s.rate_limit_per_minute,
            auth_rate_limit_per_minute: s.auth_rate_limit_per_minute,
            max_concurrent_runs_per_user: s.runs.max_concurrent_runs_per_user,
            max_queued_runs: s.runs.max_queued_runs,
            max_secrets_per_user: s.max_secrets_per_user,
            max_secret_bytes: s.max_secret_bytes,
        },
        features: FeaturesInfo {
            console: s.console,
            generate: state.llm().is_some(),
            zero_knowledge: true,
            packages: state.packages().is_some(),
            egress: state.egress().is_some(),
            registration: s.registration.mode(s.listen).wire(),
        },
    })
}

/// Prometheus text-format metrics (served only when `PYTH_ON_METRICS` is on).
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    use crate::metrics::Gauge;
    let mut gauges = Vec::new();
    for language in state.launcher().runtimes().languages() {
        let lang = match language.name {
            "javascript" => pyth_on_launcher::Language::Javascript,
            _ => pyth_on_launcher::Language::Python,
        };
        let ready = state.launcher().pool_stats_for(lang).ready as f64;
        gauges.push(Gauge {
            labels: vec![("language", language.name.to_string())],
            ..Gauge::new(
                "pyth_on_pool_ready",
                "Warm runners ready, per language.",
                ready,
            )
        });
    }
    let stats = state.launcher().pool_stats();
    let missed = "Runs that could have taken a warm runner and found none ready since start \
                  (they ran cold: the pool is too small or refills too slowly for the load).";
    gauges.push(Gauge::new(
        "pyth_on_pool_in_use",
        "Warm runners running a job.",
        stats.in_use as f64,
    ));
    let pool = [
        (
            "pyth_on_pool_created_total",
            "Warm runners prepared since start.",
            stats.created as f64,
        ),
        (
            "pyth_on_pool_failed_total",
            "Warm-runner preparations that failed since start.",
            stats.failed as f64,
        ),
        (
            "pyth_on_pool_taken_total",
            "Runs that took a warm runner since start.",
            stats.taken as f64,
        ),
        ("pyth_on_pool_missed_total", missed, stats.missed as f64),
    ];
    gauges.extend(pool.map(|(name, help, value)| Gauge::counter(name, help, value)));
    gauges.push(Gauge::new(
        "pyth_on_runs_admitted",
        "Runs waiting or running on this node.",
        state.runs().admitted() as f64,
    ));
    session_gauges(&state, &mut gauges);
    netns_gauges(&state, &mut gauges);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics().render(&gauges),
    )
}

/// The network-namespace pool, when on: namespaces made, reused, destroyed, failed since start.
fn netns_gauges(state: &AppState, gauges: &mut Vec<crate::metrics::Gauge>) {
    use crate::metrics::Gauge;
    let Some(stats) = state.launcher().netns_stats() else {
        return;
    };
    for (name, help, value) in [
        (
            "pyth_on_netns_created_total",
            "Network namespaces made ahead of time since start.",
            stats.created,
        ),
        (
            "pyth_on_netns_reused_total",
            "Network namespaces given back untouched and reused since start.",
            stats.reused,
        ),
        (
            "pyth_on_netns_destroyed_total",
            "Leased network namespaces destroyed (a trace left, or not given back) since start.",
            stats.destroyed,
        ),
        (
            "pyth_on_netns_failed_total",
            "Network namespaces the pool failed to make since start (runs made their own).",
            stats.failed,
        ),
    ] {
        gauges.push(Gauge::counter(name, help, value as f64));
    }
}

/// Open sessions per language, and the busy ones.
fn session_gauges(state: &AppState, gauges: &mut Vec<crate::metrics::Gauge>) {
    use crate::metrics::Gauge;
    let (python, javascript, busy) = state.sessions().census();
    for (language, open) in [("python", python), ("javascript", javascript)] {
        gauges.push(Gauge {
            labels: vec![("language", language.to_string())],
            ..Gauge::new(
                "pyth_on_sessions_open",
                "Sessions open on this node, per language.",
                open as f64,
            )
        });
    }
    gauges.push(Gauge::new(
        "pyth_on_sessions_busy",
        "Sessions running a cell or a file operation now.",
        busy as f64,
    ));
}
