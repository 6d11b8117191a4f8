//! The sandbox a package build runs in: the same runner, namespaces, seccomp filter and
//! cgroup limits as a user's run (built by `pyth_on_launcher` from the same code), with
//! what an installer needs and nothing more:
//!
//! - one **writable** bind, the environment being built (`/build/env`), owned by the build's
//!   own uid; the rest of the host it sees is the runtime, read-only;
//! - a `/tmp` large enough for downloads and sdist builds (counted in the build's memory);
//! - network only through its own egress proxy, allowed to the index or registry of the
//!   build's language and nothing else ([`super::hosts`]): no loopback, no private ranges,
//!   no metadata address, not this server's API;
//! - the operator's CA bundle bound at [`CA_BUNDLE_PATH`] and named to uv, pip and npm.
//!
//! The installer is started by a two-line driver in the sandbox's interpreter (Python
//! `os.execve`, Node `spawnSync`), so the sandbox's own command line stays what it is for
//! every run. When the runner ends, its teardown kills whatever the build left (the cgroup
//! is empty afterwards) and the proxy stops.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pyth_on_egress::{Bounds, Policy, RunListener, RunProxy};
use pyth_on_launcher::ids::{IdLease, IdPool};
use pyth_on_launcher::{Bind, EgressSpec, Job, JobResult, JobSpec, Language as SandboxLanguage};
use pyth_on_launcher::{LaunchError, Launcher};

use super::config::{PackageConfig, BUILD_IDS};
use super::hosts::build_reach;
use super::installer::{Invocation, CA_BUNDLE_PATH, ENV_PATH};
use crate::domain::Language;
use crate::runs::Slot as FairSlot;

/// Per-stream output cap of a build (the installer's log).
const BUILD_OUTPUT_BYTES: u64 = 4 << 20;

/// Runs installers in sandboxes; cheap to clone.
#[derive(Debug, Clone)]
pub struct BuildSandbox(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    launcher: Launcher,
    /// One uid per live build ([`BUILD_IDS`]).
    ids: IdPool,
    socket_dir: PathBuf,
    deny: String,
    listen: Vec<SocketAddr>,
    host_ips: Vec<IpAddr>,
}

/// One build to run: who, what, where.
#[derive(Debug)]
pub struct BuildJob<'a> {
    /// The language of the environment.
    pub language: Language,
    /// The installer's command line and variables (sandbox paths).
    pub invocation: &'a Invocation,
    /// The host directory bound writable at [`ENV_PATH`].
    pub env_dir: &'a Path,
    /// The build's own uid (= gid).
    pub uid: u32,
}

impl BuildSandbox {
    /// A sandbox for builds on the server's `launcher`; proxy sockets go to `socket_dir`,
    /// `deny` is the operator's `PYTH_ON_EGRESS_DENY`, `listen` the API's address (refused).
    pub fn new(
        launcher: Launcher,
        socket_dir: PathBuf,
        deny: String,
        listen: SocketAddr,
    ) -> Result<Self, String> {
        pyth_on_egress::prepare_dir(&socket_dir).map_err(|e| e.to_string())?;
        Policy::parse("", &deny, "").map_err(|e| e.to_string())?;
        let (listen, host_ips) = crate::egress::server_addresses(listen);
        let (start, count) = BUILD_IDS;
        Ok(Self(Arc::new(Inner {
            launcher,
            ids: IdPool::new(start, count),
            socket_dir,
            deny,
            listen,
            host_ips,
        })))
    }

    /// The launcher builds run on (its `shutdown` waits for builds too).
    pub fn launcher(&self) -> &Launcher {
        &self.0.launcher
    }

    /// A uid for one build, no other live build's.
    pub fn lease_uid(&self) -> Result<IdLease, String> {
        self.0
            .ids
            .lease()
            .ok_or_else(|| "every build identity is in use; retry shortly".to_string())
    }

    /// Runs one build to its end and returns **once its sandbox is gone** (the runner exited:
    /// nothing the build started is alive), holding `permit` (a build slot) until then.
    /// `Err` is a message for the user (no host paths).
    pub async fn run(
        &self,
        cfg: &PackageConfig,
        job: BuildJob<'_>,
        permit: FairSlot,
    ) -> Result<JobResult, String> {
        let listener = self.proxy(cfg, job.language)?;
        let mut spec = self.spec(cfg, &job)?;
        spec.egress = Some(EgressSpec {
            socket: listener.path().to_owned(),
        });
        let (gone_tx, gone) = tokio::sync::oneshot::channel::<()>();
        let held = TornDown {
            _permit: permit,
            _gone: gone_tx,
        };
        let result = self.0.launcher.run_spec(spec, held).await;
        // The launcher drops `held` once the runner has exited (or was killed).
        let _ = gone.await;
        let stats = listener.finish().await;
        tracing::debug!(
            requests = stats.requests,
            bytes = stats.bytes,
            denied = stats.denied,
            "package build egress"
        );
        result.map_err(|e| match e {
            LaunchError::RuntimeMissing(_) => "no interpreter for this language".to_string(),
            other => {
                tracing::error!(error = %other, "package build sandbox failed");
                "the build sandbox failed; retry shortly".to_string()
            }
        })
    }

    /// The build's proxy: the language's index hosts only, the server itself refused.
    fn proxy(&self, cfg: &PackageConfig, language: Language) -> Result<RunListener, String> {
        let index = match language {
            Language::Python => cfg.pypi_index_url.as_deref(),
            Language::Javascript => cfg.npm_registry.as_deref(),
        };
        let reach = build_reach(language, index, &cfg.extra_hosts, &cfg.egress_exempt)?;
        let policy = Policy::parse(&reach.allow, &self.0.deny, &reach.exempt)
            .map_err(|e| format!("the build's network policy: {e}"))?
            .with_server(self.0.listen.clone(), self.0.host_ips.clone());
        let policy = if cfg.trust_index_dns {
            policy.trusting_names(reach.trusted)
        } else {
            policy
        };
        let bounds = Bounds {
            max_connections: 1024,
            max_requests: 16_384,
            max_bytes: cfg.build_max_bytes,
            max_duration: cfg.build_timeout,
        };
        // CONNECT (TLS) to 443 and to the port of an https:// index or registry.
        let mut ports = vec![443];
        if let Some(url) = index.filter(|u| u.starts_with("https://")) {
            ports.extend(super::hosts::index_host(url).map(|(_, port)| port));
        }
        // Plain http:// only to read, and only on 80, 443 and the index's own port.
        let mut read_ports = vec![80, 443];
        read_ports.extend(
            index
                .and_then(|u| super::hosts::index_host(u).ok())
                .map(|(_, p)| p),
        );
        let proxy = RunProxy::new(Arc::new(policy), bounds)
            .with_connect_ports(ports)
            .read_only(read_ports);
        let name = format!("build-{}", uuid::Uuid::now_v7().simple());
        RunListener::bind(&self.0.socket_dir, &name, proxy).map_err(|e| {
            tracing::error!(error = %e, "package build proxy");
            "the build's network proxy could not start".to_string()
        })
    }

    /// The job description: the driver for the language, then the build's own limits,
    /// identity and mounts.
    fn spec(&self, cfg: &PackageConfig, job: &BuildJob<'_>) -> Result<JobSpec, String> {
        let (language, code) = driver(job.language, job.invocation)?;
        let mut base = Job::new(language, code);
        base.env = job.invocation.env.clone();
        let mut spec = self
            .0
            .launcher
            .spec_for(&base)
            .map_err(|_| "no interpreter for this language".to_string())?;
        let limits = &mut spec.limits;
        limits.timeout_ms = u64::try_from(cfg.build_timeout.as_millis()).unwrap_or(u64::MAX);
        limits.memory_mb = cfg.build_memory_mb;
        limits.max_output_bytes = BUILD_OUTPUT_BYTES;
        limits.pids_max = 512;
        limits.tmpfs_size_mb = cfg.build_tmp_mb;
        limits.tmpfs_inodes = 1 << 18;
        limits.nofile = 4096;
        // No single file larger than the environment or the build's /tmp may hold.
        limits.fsize_bytes = cfg.max_env_bytes.max(cfg.build_tmp_mb << 20);
        spec.sandbox.uid = job.uid;
        spec.sandbox.gid = job.uid;
        spec.sandbox.hostname = "pyth-on-build".into();
        if let Some(program) = outside_mounts(&spec.ro_mounts, &job.invocation.program) {
            spec.ro_mounts.push(program);
        }
        spec.binds = vec![Bind {
            host_src: job.env_dir.to_owned(),
            sandbox_dst: PathBuf::from(ENV_PATH),
            writable: true,
        }];
        if let Some(ca) = &cfg.ca_bundle {
            spec.binds.push(Bind::read_only(ca.clone(), CA_BUNDLE_PATH));
        }
        Ok(spec)
    }
}

/// Held by the launcher until a build's runner has exited; dropping it tells [`BuildSandbox::run`].
struct TornDown {
    _permit: FairSlot,
    _gone: tokio::sync::oneshot::Sender<()>,
}

/// The installer's real path when no read-only mount of the runtime covers it (an installer
/// outside `/usr`): it is then bound read-only on its own.
fn outside_mounts(mounts: &[PathBuf], program: &Path) -> Option<PathBuf> {
    let real = std::fs::canonicalize(program).ok()?;
    let covered = |p: &Path| mounts.iter().any(|m| p.starts_with(m));
    (!covered(program) || !covered(&real)).then_some(real)
}

/// The sandbox program that starts the installer with the job's environment: Python replaces
/// itself with it (`execve`); Node runs it and exits with its status.
fn driver(language: Language, inv: &Invocation) -> Result<(SandboxLanguage, String), String> {
    let mut argv = vec![inv.program.to_string_lossy().into_owned()];
    for arg in &inv.args {
        argv.push(
            arg.to_str()
                .ok_or("an installer argument is not UTF-8")?
                .to_string(),
        );
    }
    let argv = serde_json::to_string(&argv).map_err(|e| e.to_string())?;
    // A JSON string literal is a valid Python string literal too.
    let literal = serde_json::to_string(&argv).map_err(|e| e.to_string())?;
    Ok(match language {
        Language::Python => (
            SandboxLanguage::Python,
            format!(
                "import json, os\nargv = json.loads({literal})\n\
                 env = {{k: v for k, v in os.environ.items() if not k.startswith('PYTHON')}}\n\
                 os.execve(argv[0], argv, env)\n"
            ),
        ),
        Language::Javascript => (
            SandboxLanguage::Javascript,
            format!(
                "const argv = {argv};\n\
                 const r = require('child_process').spawnSync(argv[0], argv.slice(1), {{ stdio: 'inherit' }});\n\
                 process.exit(r.status === null ? 1 : r.status);\n"
            ),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> Invocation {
        Invocation {
            program: "/usr/local/bin/uv".into(),
            args: vec!["pip".into(), "install".into(), "--".into(), "six\"x".into()],
            env: vec![],
        }
    }

    #[test]
    fn the_python_driver_execs_the_installer_with_its_arguments_as_json() {
        let (lang, code) = driver(Language::Python, &inv()).unwrap();
        assert_eq!(lang, SandboxLanguage::Python);
        assert!(code.contains("os.execve(argv[0], argv, env)"), "{code}");
        let line = code.lines().nth(1).unwrap();
        let literal = line
            .trim_start_matches("argv = json.loads(")
            .trim_end_matches(')');
        let json: String = serde_json::from_str(literal).unwrap();
        let argv: Vec<String> = serde_json::from_str(&json).unwrap();
        assert_eq!(
            argv,
            ["/usr/local/bin/uv", "pip", "install", "--", "six\"x"]
        );
    }

    #[test]
    fn the_node_driver_spawns_the_installer_and_exits_with_its_status() {
        let (lang, code) = driver(Language::Javascript, &inv()).unwrap();
        assert_eq!(lang, SandboxLanguage::Javascript);
        assert!(code.contains("spawnSync(argv[0], argv.slice(1)"), "{code}");
        assert!(code.contains("process.exit(r.status"), "{code}");
    }

    #[test]
    fn an_installer_outside_the_runtime_mounts_is_bound_on_its_own() {
        let mounts = vec![PathBuf::from("/usr")];
        assert_eq!(outside_mounts(&mounts, Path::new("/usr/bin/env")), None);
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("uv");
        std::fs::write(&tool, b"").unwrap();
        assert_eq!(
            outside_mounts(&mounts, &tool),
            Some(std::fs::canonicalize(&tool).unwrap())
        );
    }
}
