//! `pyth-on run --local FILE`: the same sandbox as the server's, on this machine, without a
//! server or an account (it needs root, for the namespaces and cgroups). The program's output
//! is written when it ends; its exit code becomes this command's. What needs a server
//! (secrets, packages, network, files in and out) is refused with this flag.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use pyth_on_launcher::{Job, Language, Launcher, LauncherConfig, RuntimeConfig, Runtimes};
use pyth_on_types::ExecuteRequest;

/// Runs `request` in a single-use sandbox here.
pub async fn run(request: ExecuteRequest) -> anyhow::Result<ExitCode> {
    let name = request.language.as_deref().unwrap_or("python");
    let language =
        Language::from_name(name).ok_or_else(|| anyhow!("no language called {name:?}"))?;
    let runtimes = Runtimes::detect(&RuntimeConfig::default()).await;
    let mut config = LauncherConfig::new(runtimes);
    // One run: a fork server, a runner spawner or a pool of network namespaces would only be
    // started to be stopped (and a fork server stopped while it starts would leave a broken
    // pipe's traceback on stderr; the namespace pool would make a dozen for the one run).
    config.fork_server.enabled = false;
    config.spawner = false;
    config.reuse_netns = false;
    let launcher = Launcher::new(config).context(
        "preparing the sandbox (run --local needs root and pyth-on-runner beside pyth-on)",
    )?;
    let mut job = Job::new(language, request.code);
    job.stdin = request.stdin.unwrap_or_default();
    job.args = request.args.unwrap_or_default();
    job.timeout_ms = request.timeout_ms;
    job.memory_mb = request.memory_mb;
    let ran = launcher.run(job).await;
    launcher.shutdown().await;
    let result = ran
        .map_err(|e| anyhow!("the sandbox did not run it: {e} (run --local needs root)"))?
        .result;
    std::io::stdout()
        .lock()
        .write_all(result.stdout.as_bytes())?;
    std::io::stderr()
        .lock()
        .write_all(result.stderr.as_bytes())?;
    if result.timed_out {
        eprintln!("pyth-on: the run hit its time limit");
    }
    if result.memory_exceeded {
        eprintln!("pyth-on: the run hit its memory limit");
    }
    Ok(ExitCode::from(
        u8::try_from(result.exit_code.clamp(0, 255)).unwrap_or(1),
    ))
}
