//! [`Release`]: the part of a job that depends on the user, which the supervisor sends to a
//! payload waiting in its prepared sandbox (the child side reads it, the warm pool encodes it).

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::files::InputFile;
use crate::protocol::{EnvVar, JobSpec};
use crate::zk::ZkSpec;

/// The part of a job that depends on the user, sent to the waiting payload over the release
/// pipe (one frame, see [`crate::protocol::encode_frame`]).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Release {
    /// Plain code (empty for a ZK job).
    pub code: String,
    /// Encrypted code, decrypted by the payload.
    pub zk: Option<ZkSpec>,
    /// Program arguments.
    pub args: Vec<String>,
    /// The job's environment variables.
    pub env: Vec<EnvVar>,
    /// The job's wall-clock limit, for `RLIMIT_CPU`.
    pub timeout_ms: u64,
    /// Files the payload writes under `/work` before exec ([`crate::files`]).
    #[serde(default)]
    pub files: Vec<InputFile>,
}

impl Release {
    /// Moves the user's part out of `spec` (which is left a profile).
    /// A pre-started interpreter with egress gets the proxy's variables here (last, so they
    /// win), as an exec'd one gets them in its environment ([`crate::command`]).
    pub fn take_from(spec: &mut JobSpec) -> Self {
        let mut env = std::mem::take(&mut spec.env);
        if spec.prestart && spec.egress.is_some() {
            let proxy = crate::egress::proxy_env();
            env.retain(|v| !proxy.iter().any(|p| p.name == v.name));
            env.extend(proxy);
        }
        Release {
            code: std::mem::take(&mut spec.code),
            zk: spec.zk.take(),
            args: std::mem::take(&mut spec.args),
            env,
            timeout_ms: spec.limits.timeout_ms,
            files: std::mem::take(&mut spec.files),
        }
    }

    /// Wipes the ZK password and payload of this copy.
    pub fn wipe(&mut self) {
        if let Some(zk) = self.zk.as_mut() {
            zk.password.zeroize();
            zk.payload.zeroize();
        }
    }
}
