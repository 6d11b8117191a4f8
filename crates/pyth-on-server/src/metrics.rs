//! Prometheus text-format metrics for operators (`GET /metrics`, on when `PYTH_ON_METRICS` is
//! set): requests by status class, runs by outcome and their durations, run admission, and the
//! sandbox pool's state.

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
}

/// A gauge sampled at render time.
#[derive(Debug, Clone)]
pub struct Gauge {
    /// Metric name.
    pub name: &'static str,
    /// `# HELP` text.
    pub help: &'static str,
    /// Label pairs.
    pub labels: Vec<(&'static str, String)>,
    /// Value.
    pub value: f64,
}

impl Gauge {
    /// A gauge without labels.
    pub fn new(name: &'static str, help: &'static str, value: f64) -> Self {
        Self {
            name,
            help,
            labels: Vec::new(),
            value,
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
        let mut last = "";
        for Gauge {
            name,
            help,
            labels,
            value,
        } in gauges
        {
            if *name != last {
                let _ = writeln!(out, "# HELP {name} {help}");
                let _ = writeln!(out, "# TYPE {name} gauge");
                last = name;
            }
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {value}");
            } else {
                let _ = writeln!(out, "{name}{{{}}} {value}", labels.join(","));
            }
        }
        out
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
        let text = m.render(&[Gauge {
            labels: vec![("language", "python".into())],
            ..Gauge::new("pyth_on_pool_ready", "Warm runners ready.", 3.0)
        }]);
        assert!(text.contains("pyth_on_http_responses_total{class=\"2xx\"} 1"));
        assert!(text.contains("pyth_on_http_responses_total{class=\"4xx\"} 1"));
        assert!(text.contains("pyth_on_runs_total{outcome=\"timed_out\"} 1"));
        assert!(text.contains("# TYPE pyth_on_pool_ready gauge"));
        assert!(text.contains("pyth_on_pool_ready{language=\"python\"} 3"));
    }
}
