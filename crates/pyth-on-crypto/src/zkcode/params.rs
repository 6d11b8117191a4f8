//! Argon2id parameters of a zkcode payload and the bounds every party enforces.

use super::ZkError;

/// Smallest memory cost, KiB.
pub const M_MIN: u32 = 19_456;
/// Largest memory cost, KiB.
pub const M_MAX: u32 = 262_144;
/// Fewest passes.
pub const T_MIN: u32 = 1;
/// Most passes.
pub const T_MAX: u32 = 10;
/// Smallest `m * t`.
pub const MT_MIN: u64 = 65_536;
/// Argon2 version 0x13.
pub const ARGON2_VERSION: u32 = 19;

/// Argon2id cost parameters: memory `m` in KiB, passes `t`, lanes `p` (always 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory, KiB.
    pub m: u32,
    /// Passes.
    pub t: u32,
    /// Lanes; only 1 is accepted.
    pub p: u32,
}

impl Default for KdfParams {
    /// The default parameters of `docs/ZKCODE.md`: m = 65536 KiB, t = 3, p = 1.
    fn default() -> Self {
        KdfParams {
            m: 65_536,
            t: 3,
            p: 1,
        }
    }
}

impl KdfParams {
    /// Checks `p == 1`, `19456 <= m <= 262144`, `1 <= t <= 10`, `m * t >= 65536`.
    pub fn validate(&self) -> Result<(), ZkError> {
        if self.p != 1 {
            return Err(ZkError::invalid("kdf.p must be 1"));
        }
        if !(M_MIN..=M_MAX).contains(&self.m) {
            return Err(ZkError::invalid(format!(
                "kdf.m must be between {M_MIN} and {M_MAX}"
            )));
        }
        if !(T_MIN..=T_MAX).contains(&self.t) {
            return Err(ZkError::invalid(format!(
                "kdf.t must be between {T_MIN} and {T_MAX}"
            )));
        }
        if u64::from(self.m) * u64::from(self.t) < MT_MIN {
            return Err(ZkError::invalid(format!(
                "kdf.m * kdf.t must be at least {MT_MIN}"
            )));
        }
        Ok(())
    }
}
