//! `pyth-on bench`: start three servers on temporary data directories (the default: warm pool
//! and the Python fork server; warm pool with pre-started interpreters and the fork server off;
//! pool and fork server off) and measure hello-world runs through the HTTP API (one client, 4
//! and 16 concurrent clients, the cold path) with the whole machine's CPU time per run, next to
//! a bare subprocess baseline and the machine's floor (fork and exec of `true`) measured in the
//! same run; then sessions: opening one, and the round trip of a small cell in one.

mod server;
mod sessions;

use std::io::Write;
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use pyth_on_types::ExecuteRequest;
use server::{Running, Switches};

/// Measure execution latency and throughput.
#[derive(Debug, clap::Args)]
pub struct Cmd {
    /// Runs per measurement.
    #[arg(long, default_value_t = 100)]
    runs: usize,
    /// Warm-up runs before each measurement (not counted).
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    /// Languages to measure.
    #[arg(long, value_delimiter = ',', default_value = "python,javascript")]
    languages: Vec<String>,
    /// Concurrency levels for the throughput runs.
    #[arg(long, value_delimiter = ',', default_value = "4,16")]
    concurrency: Vec<usize>,
    /// Warm runners per language for the warm measurements (0 measures the cold path only).
    #[arg(long, default_value_t = 4)]
    pool_size: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Measure only the subprocess baseline and the sessions (no single-use runs).
    #[arg(long)]
    sessions_only: bool,
    /// Fork runners from the runner spawner on all three servers (`false`: exec each, to
    /// compare; docs/PERFORMANCE.md).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    runner_spawner: bool,
    /// Lease runs network namespaces reused when untouched, on all three servers (`false`:
    /// a new one per run, to compare; docs/PERFORMANCE.md).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    reuse_netns: bool,
    /// CPUs the servers' own threads keep to (`auto`, a count, `0` for none kept apart), on
    /// all three servers (docs/OPERATIONS.md, `--control-cpus`).
    #[arg(long, default_value = "auto")]
    control_cpus: pyth_on_server::placement::ControlCpus,
}

/// The three servers the runs are measured on.
struct Servers {
    /// Warm pool and fork server (the defaults).
    warm: Running,
    /// Warm pool with pre-started interpreters, no fork server.
    exec: Running,
    /// No pool, no fork server: an interpreter started per run on the request path.
    cold: Running,
}

/// Latency summary in milliseconds.
#[derive(Debug, Clone, serde::Serialize)]
struct Summary {
    n: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    mean: f64,
    per_sec: f64,
    /// Busy CPU time of the whole machine (every process, `/proc/stat`) over the measurement,
    /// per run.
    cpu_ms_per_run: f64,
    /// Of the runs that could take a warm runner, the share that found one ready (the others
    /// prepared their sandbox on their path); NaN without a pool.
    warm_share: f64,
}

fn summarize(mut ms: Vec<f64>, wall: Duration) -> Summary {
    ms.sort_by(f64::total_cmp);
    let pick = |q: f64| -> f64 {
        if ms.is_empty() {
            return f64::NAN;
        }
        let idx = ((ms.len() as f64 - 1.0) * q).round() as usize;
        ms[idx.min(ms.len() - 1)]
    };
    let n = ms.len();
    Summary {
        n,
        p50: pick(0.5),
        p90: pick(0.9),
        p99: pick(0.99),
        mean: ms.iter().sum::<f64>() / n.max(1) as f64,
        per_sec: n as f64 / wall.as_secs_f64().max(1e-9),
        cpu_ms_per_run: f64::NAN,
        warm_share: f64::NAN,
    }
}

/// Of the runs between two readings of the pool's counts, the share that took a warm runner
/// (NaN when none could).
fn warm_share(before: pyth_on_launcher::PoolStats, after: pyth_on_launcher::PoolStats) -> f64 {
    let taken = after.taken.saturating_sub(before.taken);
    let missed = after.missed.saturating_sub(before.missed);
    if taken + missed == 0 {
        return f64::NAN;
    }
    taken as f64 / (taken + missed) as f64
}

/// Busy CPU time of the whole machine since boot in milliseconds (`/proc/stat`: every field
/// but idle and iowait, in clock ticks of 10 ms); NaN where unreadable.
fn machine_busy_ms() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return f64::NAN;
    };
    let Some(cpu) = stat.lines().next() else {
        return f64::NAN;
    };
    let ticks: Vec<f64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let busy: f64 = ticks
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    busy * 10.0
}

fn hello(language: &str) -> (&'static str, &'static str) {
    match language {
        "javascript" => ("javascript", "console.log('hello')"),
        _ => ("python", "print('hello')"),
    }
}

async fn api_runs(
    server: &Running,
    language: &str,
    runs: usize,
    concurrency: usize,
) -> anyhow::Result<Summary> {
    let client = &server.client;
    let pool = server.launcher.pool_stats();
    let (lang, code) = hello(language);
    let started = Instant::now();
    let busy = machine_busy_ms();
    let mut tasks = Vec::new();
    let per_task = runs.div_ceil(concurrency);
    for _ in 0..concurrency {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(per_task);
            for _ in 0..per_task {
                let t = Instant::now();
                let r = client
                    .execute(&ExecuteRequest {
                        code: code.into(),
                        language: Some(lang.into()),
                        ..Default::default()
                    })
                    .await?;
                if r.output != "hello\n" {
                    bail!("unexpected output {:?} (stderr {:?})", r.output, r.error);
                }
                out.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let mut summary = summarize(all, started.elapsed());
    summary.cpu_ms_per_run = (machine_busy_ms() - busy) / summary.n.max(1) as f64;
    summary.warm_share = warm_share(pool, server.launcher.pool_stats());
    Ok(summary)
}

fn baseline(interpreter: &Path, language: &str, runs: usize) -> anyhow::Result<Summary> {
    let (_, code) = hello(language);
    let flag = if language == "javascript" { "-e" } else { "-c" };
    time_processes(interpreter, &[flag, code], b"hello\n", runs)
}

/// The machine's floor for anything that starts a process: fork and exec of `true`, timed the
/// same way as the baseline. Its drift between two bench runs is the host's, not the code's.
fn floor(runs: usize) -> anyhow::Result<Summary> {
    time_processes(Path::new("/bin/true"), &[], b"", runs)
}

/// Starts `program` with `args` (a scrubbed environment, stdin closed) `runs` times, one after
/// the other, and times each to its exit; each must print `expected`.
fn time_processes(
    program: &Path,
    args: &[&str],
    expected: &[u8],
    runs: usize,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let mut all = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let out = std::process::Command::new(program)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", program.display()))?;
        if out.stdout != expected {
            bail!(
                "{} printed {:?}",
                program.display(),
                String::from_utf8_lossy(&out.stdout)
            );
        }
        all.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(summarize(all, started.elapsed()))
}

async fn spaced_runs(
    server: &Running,
    lang: &str,
    n: usize,
    gap: Duration,
) -> anyhow::Result<Summary> {
    let pool = server.launcher.pool_stats();
    let mut ms = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        tokio::time::sleep(gap).await;
        ms.push(api_runs(server, lang, 1, 1).await?.p50);
    }
    let mut summary = summarize(ms, started.elapsed());
    summary.warm_share = warm_share(pool, server.launcher.pool_stats());
    Ok(summary)
}

impl Cmd {
    fn switches(&self) -> Switches {
        Switches {
            runner_spawner: self.runner_spawner,
            reuse_netns: self.reuse_netns,
            control_cpus: self.control_cpus,
        }
    }

    /// Runs the benchmark.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let servers = Servers {
            warm: Running::start(0, self.pool_size, true, self.switches()).await?,
            exec: Running::start(1, self.pool_size, false, self.switches()).await?,
            cold: Running::start(2, 0, false, self.switches()).await?,
        };
        let mut report = serde_json::Map::new();
        report.insert(
            "cpus".into(),
            std::thread::available_parallelism()
                .map_or(0, |n| n.get())
                .into(),
        );
        report.insert("poolSize".into(), self.pool_size.into());
        report.insert("runnerSpawner".into(), self.runner_spawner.into());
        report.insert("reuseNetns".into(), self.reuse_netns.into());
        report.insert("controlCpus".into(), self.control_cpus.to_string().into());
        report.insert("runs".into(), self.runs.into());
        for language in &self.languages {
            let lang = if language.starts_with('j') || language == "node" {
                "javascript"
            } else {
                "python"
            };
            let runtime = if lang == "python" {
                servers.warm.runtimes.python.clone()
            } else {
                servers.warm.runtimes.javascript.clone()
            };
            let Some(runtime) = runtime else {
                eprintln!("{lang}: not installed, skipped");
                continue;
            };
            let section = self.measure(&servers, lang, &runtime.interpreter).await?;
            report.insert(lang.into(), section.into());
        }
        servers.warm.stop().await?;
        servers.exec.stop().await?;
        servers.cold.stop().await?;
        let report = serde_json::Value::Object(report);
        let mut out = std::io::stdout().lock();
        if self.json {
            writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        } else {
            print_table(&mut out, &report)?;
        }
        Ok(ExitCode::SUCCESS)
    }

    /// One language's figures: the baseline, the single-use runs (unless --sessions-only),
    /// then the sessions.
    async fn measure(
        &self,
        servers: &Servers,
        lang: &str,
        interpreter: &Path,
    ) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
        let mut section = serde_json::Map::new();
        let floor = floor(self.runs)?;
        section.insert("floor_fork_exec_true".into(), serde_json::to_value(&floor)?);
        baseline(interpreter, lang, self.warmup)?;
        let base = baseline(interpreter, lang, self.runs)?;
        section.insert("baseline_subprocess".into(), serde_json::to_value(&base)?);
        if !self.sessions_only {
            self.measure_runs(servers, lang, base.p50, &mut section)
                .await?;
        }
        let client = &servers.warm.client;
        let create = sessions::creation(client, lang, self.runs, self.warmup).await?;
        section.insert("session_create".into(), serde_json::to_value(&create)?);
        let cell = sessions::cells(client, lang, self.runs, self.warmup).await?;
        section.insert("session_cell_x_plus_1".into(), serde_json::to_value(&cell)?);
        Ok(section)
    }

    /// The single-use runs through the API, on the three servers, after their warm-ups.
    async fn measure_runs(
        &self,
        servers: &Servers,
        lang: &str,
        base_p50: f64,
        section: &mut serde_json::Map<String, serde_json::Value>,
    ) -> anyhow::Result<()> {
        let Servers { warm, exec, cold } = servers;
        api_runs(warm, lang, self.warmup, 1).await?;
        api_runs(cold, lang, self.warmup, 1).await?;
        api_runs(exec, lang, self.warmup, 1).await?;
        let one = api_runs(warm, lang, self.runs, 1).await?;
        let cold_one = api_runs(cold, lang, self.runs, 1).await?;
        let exec_one = api_runs(exec, lang, self.runs, 1).await?;
        let gap = Duration::from_millis(100);
        let n_spaced = (self.runs / 4).max(5);
        let warm_spaced = spaced_runs(warm, lang, n_spaced, gap).await?;
        let exec_spaced = spaced_runs(exec, lang, n_spaced, gap).await?;
        let cold_spaced = spaced_runs(cold, lang, n_spaced, gap).await?;
        let mut put = |name: &str, s: &Summary| -> anyhow::Result<()> {
            section.insert(name.into(), serde_json::to_value(s)?);
            Ok(())
        };
        put("api_1_client", &one)?;
        put("api_1_client_cold", &cold_one)?;
        put("api_1_client_no_fork_server", &exec_one)?;
        put("api_spaced_100ms", &warm_spaced)?;
        put("api_spaced_100ms_no_fork_server", &exec_spaced)?;
        put("api_spaced_100ms_cold", &cold_spaced)?;
        for &c in &self.concurrency {
            let s = api_runs(warm, lang, self.runs.max(c * 4), c).await?;
            put(&format!("api_{c}_clients"), &s)?;
            let s = api_runs(exec, lang, self.runs.max(c * 4), c).await?;
            put(&format!("api_{c}_clients_no_fork_server"), &s)?;
            let s = api_runs(cold, lang, self.runs.max(c * 4), c).await?;
            put(&format!("api_{c}_clients_cold"), &s)?;
        }
        section.insert(
            "ratio_p50_api_over_baseline".into(),
            (one.p50 / base_p50).into(),
        );
        let cold_ratio = cold_one.p50 / base_p50;
        section.insert("ratio_p50_cold_over_baseline".into(), cold_ratio.into());
        Ok(())
    }
}

fn print_table(out: &mut impl Write, report: &serde_json::Value) -> std::io::Result<()> {
    writeln!(
        out,
        "cpus={} pool={} runner_spawner={} reuse_netns={} control_cpus={}",
        report["cpus"],
        report["poolSize"],
        report["runnerSpawner"],
        report["reuseNetns"],
        report["controlCpus"].as_str().unwrap_or("?")
    )?;
    writeln!(
        out,
        "{:<11} {:<36} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8} {:>6}",
        "language",
        "measurement",
        "n",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "mean ms",
        "runs/s",
        "CPU/run",
        "warm %"
    )?;
    let num = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    for lang in ["python", "javascript"] {
        let Some(section) = report.get(lang).and_then(|s| s.as_object()) else {
            continue;
        };
        for (name, s) in section {
            if s.get("p50").is_some() {
                writeln!(
                    out,
                    "{lang:<11} {name:<36} {:>6} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.1} {:>8.2} {:>6.0}",
                    s["n"],
                    num(&s["p50"]),
                    num(&s["p90"]),
                    num(&s["p99"]),
                    num(&s["mean"]),
                    num(&s["per_sec"]),
                    num(&s["cpu_ms_per_run"]),
                    num(&s["warm_share"]) * 100.0
                )?;
            } else {
                writeln!(out, "{lang:<11} {name:<36} {s}")?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
