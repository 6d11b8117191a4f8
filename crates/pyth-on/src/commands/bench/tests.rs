//! The bench's arithmetic (the warm share, the summary's percentiles) and its timed processes.

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

#[test]
fn the_floor_times_each_start_of_true_to_its_exit() {
    let s = floor(20).unwrap();
    assert_eq!(s.n, 20);
    assert!(s.p50 > 0.0 && s.p50 <= s.p99, "{s:?}");
}

#[test]
fn a_process_that_prints_something_else_than_expected_fails_the_measurement() {
    let err = time_processes(Path::new("/bin/echo"), &["hi"], b"hello\n", 1).unwrap_err();
    assert!(err.to_string().contains("printed \"hi\\n\""), "{err}");
}
