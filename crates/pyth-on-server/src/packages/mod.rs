//! Persistent packages: spec parsers ([`spec`]), content-addressed environments built once per
//! resolved set ([`env`]), and what routes and runs ask of them ([`service`]).
//!
//! A user's list for a language (plus any per-run specs) resolves to an environment keyed by
//! the SHA-256 of the language, the interpreter version, the index URL and the sorted
//! canonical specs. The installer (`uv`, else `pip`; `npm`) runs once per key **inside a build
//! sandbox** ([`sandbox`]: the runs' isolation, its own uid, network only to the index) from
//! the node's build queue ([`queue`]), writing only the environment directory; the result is
//! renamed into `<data-dir>/envs/<key>`, made root-owned and read-only, and mounted into runs.

pub mod build;
pub mod config;
pub mod env;
pub mod files;
pub mod gc;
pub mod hosts;
pub mod installer;
pub mod key;
pub mod lists;
pub mod npm_spec;
pub mod pep508;
pub mod queue;
pub mod sandbox;
pub mod service;
pub mod settings;
pub mod spec;
pub mod storage;

pub use env::{EnvMount, PackageConfig, PackageManager};
pub use gc::{spawn_gc_task, GcReport};
pub use sandbox::BuildSandbox;
pub use service::{build_in_background, environment_status, resolve_with_stored};
pub use settings::PackageSettings;
pub use spec::PackageSpec;

/// What can go wrong with packages.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// 400 `invalid_package`.
    #[error("invalid package spec {spec:?}: {reason}")]
    InvalidSpec {
        /// The spec as given.
        spec: String,
        /// Why it was refused.
        reason: String,
    },
    /// 400 `too_many_packages`.
    #[error("a package list holds at most {max} packages")]
    TooMany {
        /// The bound.
        max: usize,
    },
    /// 400 `duplicate_package`.
    #[error("package {name:?} is listed more than once")]
    Duplicate {
        /// The normalized name.
        name: String,
    },
    /// 422 `package_install_failed`: the installer's message, kept until the set changes.
    #[error("{}", install_failed_text(packages, message))]
    InstallFailed {
        /// The installer's last output, or why the build was stopped.
        message: String,
        /// The packages the failure is about (those the message names, else the whole set).
        packages: Vec<String>,
    },
    /// 429 `too_many_builds`: this user already has their share of the build queue waiting.
    #[error("{max} package builds you asked for are already waiting on this server; retry when one is done")]
    TooManyBuilds {
        /// The per-user bound.
        max: usize,
    },
    /// 503 `package_builds_busy`: the node's build queue is full; nothing was recorded.
    #[error("{max} package builds are already waiting on this server; retry shortly")]
    BuildsBusy {
        /// The queue's bound.
        max: usize,
    },
    /// 503 `packages_unavailable`: no installer or interpreter for the language.
    #[error("packages for {language} are not available on this server: {reason}")]
    Unavailable {
        /// `python` or `javascript`.
        language: &'static str,
        /// What is missing.
        reason: String,
    },
    /// 429 `quota_exceeded`: the owner's storage quota is used up.
    #[error(transparent)]
    Quota(crate::quotas::refusal::QuotaExceeded),
    /// 500: the store failed.
    #[error("package store")]
    Store(#[from] pyth_on_store::StoreError),
    /// 500: a file operation failed.
    #[error("{context}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn install_failed_text(packages: &[String], message: &str) -> String {
    match packages {
        [] => format!("package install failed: {message}"),
        names => format!("package install failed ({}): {message}", names.join(", ")),
    }
}

impl PackageError {
    /// An install failure not yet tied to packages (see [`PackageError::naming`]).
    pub fn install_failed(message: impl Into<String>) -> Self {
        Self::InstallFailed {
            message: message.into(),
            packages: Vec::new(),
        }
    }

    /// Ties an install failure to the packages of `specs` its message names (all of them
    /// when it names none); other errors pass through.
    pub fn naming(self, specs: &[PackageSpec]) -> Self {
        match self {
            Self::InstallFailed { message, packages } if packages.is_empty() => {
                let lower = message.to_ascii_lowercase().replace('_', "-");
                let named: Vec<String> = specs
                    .iter()
                    .map(|s| s.name().to_string())
                    .filter(|n| lower.contains(&n.to_ascii_lowercase().replace('_', "-")))
                    .collect();
                let packages = if named.is_empty() {
                    specs.iter().map(|s| s.name().to_string()).collect()
                } else {
                    named
                };
                Self::InstallFailed { message, packages }
            }
            other => other,
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}

impl From<crate::quotas::refusal::QuotaError> for PackageError {
    fn from(err: crate::quotas::refusal::QuotaError) -> Self {
        match err {
            crate::quotas::refusal::QuotaError::Exceeded(exceeded) => Self::Quota(exceeded),
            crate::quotas::refusal::QuotaError::Store(err) => Self::Store(err),
            crate::quotas::refusal::QuotaError::UserNotFound => {
                Self::Store(pyth_on_store::StoreError::NotFound)
            }
        }
    }
}
