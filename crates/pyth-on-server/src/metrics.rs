//! Prometheus text-format metrics for operators (`GET /metrics`, on when `PYTH_ON_METRICS` is
//! set): requests by status class, runs by outcome and their durations, run admission, the
//! sandbox pool's state, the network-namespace pool's counts, and sessions (open, busy, ended
//! by reason; cells by outcome).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters updated on the request and run paths (relaxed atomics: cheap, eventually exact).
#[derive(Debug, Default)]
pub struct Metrics {
    requests_2xx: AtomicU64,
    requests_4xx: AtomicU64,
    requests_5xx: AtomicU64,
    runs_ok: AtomicU64,
    runs_timed_out: AtomicU64,
    runs_memory_exceeded: AtomicU64,
    runs_failed: AtomicU64,
    runs_refused_busy: AtomicU64,
    run_ms_sum: AtomicU64,
    /// By [`CellKind`], in its order.
    cells: [AtomicU64; 4],
    cell_ms_sum: AtomicU64,
    /// By [`SESSION_END_REASONS`], in their order.
    sessions_ended: [AtomicU64; 6],
}

/// What a finished session cell was.
#[derive(Debug, Clone, Copy)]
pub enum CellKind {
    /// Ran to its end (its result, or the exception it raised).
    Completed,
    /// Interrupted at its time limit.
    TimedOut,
    /// Ended the session (the kernel exited, was killed, or its sandbox failed).
    EndedSession,
    /// Refused for lack of an execution slot.
    RefusedBusy,
}

const CELL_OUTCOMES: [&str; 4] = ["completed", "timed_out", "ended_session", "refused_busy"];

/// The reasons a session ends, as the `reason` label (and `session.end`'s details) name them.
pub const SESSION_END_REASONS: [&str; 6] = [
    "deleted",
    "idle",
    "lifetime",
    "exited",
    "shutdown",
    "node_gone",
];

/// A value sampled at render time: a gauge, or a counter kept elsewhere (the launcher's).
#[derive(Debug, Clone)]
pub struct Gauge {
    /// Metric name (a counter's ends in `_total`).
    pub name: &'static str,
    /// `# HELP` text.
    pub help: &'static str,
    /// Label pairs.
    pub labels: Vec<(&'static str, String)>,
    /// Value.
    pub value: f64,
    /// It only ever grows (since start): `# TYPE ... counter`, so `rate()` works on it.
    pub counter: bool,
}

impl Gauge {
    /// A gauge without labels.
    pub fn new(name: &'static str, help: &'static str, value: f64) -> Self {
        Self {
            name,
            help,
            labels: Vec::new(),
            value,
            counter: false,
        }
    }

    /// A counter without labels, sampled from where it is kept.
    pub fn counter(name: &'static str, help: &'static str, value: f64) -> Self {
        Self {
            counter: true,
            ..Self::new(name, help, value)
        }
    }
}

/// What a finished run was.
#[derive(Debug, Clone, Copy)]
pub enum RunKind {
    /// Ran to completion (any exit code).
    Completed,
    /// Hit the wall clock.
    TimedOut,
    /// Hit the memory limit.
    MemoryExceeded,
    /// The sandbox failed.
    Failed,
}

impl Metrics {
    /// Counts a response.
    pub fn request(&self, status: u16) {
        let counter = match status {
            500.. => &self.requests_5xx,
            400.. => &self.requests_4xx,
            _ => &self.requests_2xx,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a run and its duration.
    pub fn run(&self, kind: RunKind, duration_ms: u64) {
        let counter = match kind {
            RunKind::Completed => &self.runs_ok,
            RunKind::TimedOut => &self.runs_timed_out,
            RunKind::MemoryExceeded => &self.runs_memory_exceeded,
            RunKind::Failed => &self.runs_failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.run_ms_sum.fetch_add(duration_ms, Ordering::Relaxed);
    }

    /// Counts a session cell and its duration.
    pub fn cell(&self, kind: CellKind, duration_ms: u64) {
        self.cells[kind as usize].fetch_add(1, Ordering::Relaxed);
        self.cell_ms_sum.fetch_add(duration_ms, Ordering::Relaxed);
    }

    /// Counts a session's end by its reason (one of [`SESSION_END_REASONS`]).
    pub fn session_ended(&self, reason: &str) {
        if let Some(i) = SESSION_END_REASONS.iter().position(|r| *r == reason) {
            self.sessions_ended[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a run refused with 503.
    pub fn refused_busy(&self) {
        self.runs_refused_busy.fetch_add(1, Ordering::Relaxed);
    }

    /// Renders the text exposition format, with gauges supplied by the caller.
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let mut out = String::new();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP pyth_on_http_responses_total HTTP responses by status class."
        );
        let _ = writeln!(out, "# TYPE pyth_on_http_responses_total counter");
        for (class, c) in [
            ("2xx", &self.requests_2xx),
            ("4xx", &self.requests_4xx),
            ("5xx", &self.requests_5xx),
        ] {
            let _ = writeln!(
                out,
                "pyth_on_http_responses_total{{class=\"{class}\"}} {}",
                get(c)
            );
        }
        let _ = writeln!(out, "# HELP pyth_on_runs_total Sandbox runs by outcome.");
        let _ = writeln!(out, "# TYPE pyth_on_runs_total counter");
        for (outcome, c) in [
            ("completed", &self.runs_ok),
            ("timed_out", &self.runs_timed_out),
            ("memory_exceeded", &self.runs_memory_exceeded),
            ("sandbox_failed", &self.runs_failed),
            ("refused_busy", &self.runs_refused_busy),
        ] {
            let _ = writeln!(
                out,
                "pyth_on_runs_total{{outcome=\"{outcome}\"}} {}",
                get(c)
            );
        }
        let _ = writeln!(
            out,
            "# HELP pyth_on_run_duration_ms_sum Total run wall-clock time in milliseconds."
        );
        let _ = writeln!(out, "# TYPE pyth_on_run_duration_ms_sum counter");
        let _ = writeln!(out, "pyth_on_run_duration_ms_sum {}", get(&self.run_ms_sum));
        self.render_sessions(&mut out);
        render_gauges(&mut out, gauges);
        out
    }

    fn render_sessions(&self, out: &mut String) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let cells = CELL_OUTCOMES.iter().zip(&self.cells);
        counter_family(
            out,
            ("pyth_on_session_cells_total", "Session cells by outcome."),
            "outcome",
            cells.map(|(label, c)| (*label, get(c))),
        );
        let _ = writeln!(
            out,
            "# HELP pyth_on_session_cell_duration_ms_sum Total cell wall-clock time in milliseconds."
        );
        let _ = writeln!(out, "# TYPE pyth_on_session_cell_duration_ms_sum counter");
        let cell_ms = get(&self.cell_ms_sum);
        let _ = writeln!(out, "pyth_on_session_cell_duration_ms_sum {cell_ms}");
        let ended = SESSION_END_REASONS.iter().zip(&self.sessions_ended);
        counter_family(
            out,
            ("pyth_on_sessions_ended_total", "Sessions ended, by reason."),
            "reason",
            ended.map(|(label, c)| (*label, get(c))),
        );
    }
}

/// One counter with one label, every value of the label.
fn counter_family<'a>(
    out: &mut String,
    (name, help): (&str, &str),
    label: &str,
    samples: impl Iterator<Item = (&'a str, u64)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    for (value, count) in samples {
        let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {count}");
    }
}

/// Gauges, `# HELP` and `# TYPE` once per name.
fn render_gauges(out: &mut String, gauges: &[Gauge]) {
    let mut last = "";
    for Gauge {
        name,
        help,
        labels,
        value,
        counter,
    } in gauges
    {
        if *name != last {
            let kind = if *counter { "counter" } else { "gauge" };
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            last = name;
        }
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{}}} {value}", labels.join(","));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_format_has_help_type_and_samples() {
        let m = Metrics::default();
        m.request(200);
        m.request(404);
        m.run(RunKind::TimedOut, 500);
        let text = m.render(&[
            Gauge {
                labels: vec![("language", "python".into())],
                ..Gauge::new("pyth_on_pool_ready", "Warm runners ready.", 3.0)
            },
            Gauge::counter("pyth_on_pool_taken_total", "Runs that took one.", 7.0),
        ]);
        assert!(text.contains("pyth_on_http_responses_total{class=\"2xx\"} 1"));
        assert!(text.contains("pyth_on_http_responses_total{class=\"4xx\"} 1"));
        assert!(text.contains("pyth_on_runs_total{outcome=\"timed_out\"} 1"));
        assert!(text.contains("# TYPE pyth_on_pool_ready gauge"));
        assert!(text.contains("pyth_on_pool_ready{language=\"python\"} 3"));
        assert!(text.contains("# TYPE pyth_on_pool_taken_total counter"));
        assert!(text.contains("pyth_on_pool_taken_total 7"));
    }

    #[test]
    fn session_cells_and_ends_are_counted_by_outcome_and_reason() {
        let m = Metrics::default();
        m.cell(CellKind::Completed, 3);
        m.cell(CellKind::TimedOut, 100);
        m.session_ended("idle");
        m.session_ended("not a reason");
        let text = m.render(&[]);
        assert!(text.contains("pyth_on_session_cells_total{outcome=\"completed\"} 1"));
        assert!(text.contains("pyth_on_session_cells_total{outcome=\"timed_out\"} 1"));
        assert!(text.contains("pyth_on_session_cell_duration_ms_sum 103"));
        assert!(text.contains("pyth_on_sessions_ended_total{reason=\"idle\"} 1"));
        assert!(text.contains("pyth_on_sessions_ended_total{reason=\"deleted\"} 0"));
    }
}
