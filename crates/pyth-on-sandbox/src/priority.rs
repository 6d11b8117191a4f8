//! The priority of background work: preparing a sandbox ahead of time, tearing one down after
//! its result, and what is left of a run once its end was reported.

/// Nice value of a runner while it prepares a sandbox ahead of time (a warm pool's refill),
/// restored to 0 for the whole sandbox when the job is released, and again of the runner and
/// init for the teardown after the result. The lowest: measured side by side with 10, it gave
/// the request path its CPU sooner at every load (1 client p50 4.84 → 4.53 ms, 16 clients
/// 244 → 256 runs/s); `SCHED_IDLE` was better still with 1 client and starved the refills
/// with 16 (221 → 196 runs/s).
pub const PREPARE_NICE: i32 = 19;
