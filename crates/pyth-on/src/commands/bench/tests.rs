//! The bench's arithmetic: the warm share and the summary's percentiles.

use super::*;

fn counts(taken: u64, missed: u64) -> pyth_on_launcher::PoolStats {
    pyth_on_launcher::PoolStats {
        taken,
        missed,
        ..Default::default()
    }
}

#[test]
fn the_warm_share_counts_only_the_runs_between_the_two_readings() {
    let share = warm_share(counts(10, 5), counts(13, 6));
    assert!((share - 0.75).abs() < 1e-9, "{share}");
}

#[test]
fn the_warm_share_is_unknown_when_no_run_could_take_a_warm_runner() {
    assert!(warm_share(counts(4, 2), counts(4, 2)).is_nan());
}

#[test]
fn a_summary_picks_its_percentiles_from_the_sorted_latencies() {
    let s = summarize(
        (1..=100).rev().map(f64::from).collect(),
        Duration::from_secs(2),
    );
    assert_eq!((s.n, s.p50, s.p90, s.p99), (100, 51.0, 90.0, 99.0));
    assert!((s.per_sec - 50.0).abs() < 1e-9);
    assert!(s.warm_share.is_nan() && s.cpu_ms_per_run.is_nan());
}
