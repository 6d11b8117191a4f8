//! A zero-knowledge run: a stored payload run in a sandbox whose first stage decrypts it
//! with the caller's master password. Each run reserves one guess of the user's
//! wrong-password budget for that name before the sandbox sees the password; the guess is
//! kept only when the password was (or may have been) wrong.

use pyth_on_sandbox::ZkOutcome;
use pyth_on_store::ZkCodeRow;
use pyth_on_types::ExecuteResponse;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{Program, RunError, RunRequest, RunSettings, ZkRun};
use crate::caller::Caller;
use crate::clock::now_ms;
use crate::state::AppState;

/// Runs the stored payload `row` of `user` with `settings` (given room for the key
/// derivation) and `password`, within the wrong-password budget.
pub async fn run(
    state: &AppState,
    user: &Caller,
    row: &ZkCodeRow,
    settings: RunSettings,
    password: Zeroizing<String>,
) -> Result<ExecuteResponse, RunError> {
    let request = request(user, row, settings, password);
    let guess = Guess::reserve(state, user.user_id, &row.name).await?;
    let admitted = match super::admit(state, user, request).await {
        Ok(admitted) => admitted,
        Err(err) => {
            // Nothing ran, so the password was never tried.
            guess.give_back(state).await;
            return Err(err);
        }
    };
    let owned = state.clone();
    let mut response = super::detached(state, run_guess(owned, *user, admitted, guess)).await?;
    response.zero_knowledge = Some(true);
    Ok(response)
}

/// Runs an admitted zero-knowledge run and settles its guess: kept when the password was
/// wrong (or the sandbox ended before it said), given back otherwise.
async fn run_guess(
    state: AppState,
    user: Caller,
    admitted: super::Admitted,
    guess: Guess,
) -> Result<ExecuteResponse, RunError> {
    let ran = match super::launch(&state, &user, admitted, super::Live::default()).await {
        Ok(ran) => ran,
        Err(err) => {
            // Nothing ran, so the password was never tried.
            guess.give_back(&state).await;
            return Err(err);
        }
    };
    match ran.zk_outcome() {
        // Wrong: the guess counts. No verdict (the sandbox ended during the key derivation,
        // or its report was lost): it counts too, as it might have been wrong.
        Some(ZkOutcome::WrongPassword) | None => {}
        // Right (the key check matched), or never tried (a malformed payload).
        Some(ZkOutcome::Decrypted | ZkOutcome::Integrity | ZkOutcome::Invalid) => {
            guess.give_back(&state).await;
        }
    }
    super::finish(&state, &user, ran).await
}

/// The run of a stored payload: the caller's settings, with room for the key derivation
/// (which runs inside the sandbox and counts against its memory limit) on top of what the
/// program itself was given.
fn request(
    user: &Caller,
    row: &ZkCodeRow,
    mut settings: RunSettings,
    password: Zeroizing<String>,
) -> RunRequest {
    let kdf_mb = u64::try_from(row.kdf_m).unwrap_or(0).div_ceil(1024);
    settings.memory_mb = settings.memory_mb.max(kdf_mb + 64);
    let program = Program::Zk(ZkRun {
        payload: row.payload.clone(),
        password,
        owner: user.user_id,
        name: row.name.clone(),
        code_size: u64::try_from(row.size).unwrap_or(0),
    });
    RunRequest { settings, program }
}

/// One guess from a user's wrong-password budget for one name
/// (`PYTH_ON_ZK_WRONG_PASSWORD_PER_HOUR`), reserved atomically before the sandbox sees the
/// password, so concurrent guesses never evaluate more than the budget. A wrong password
/// keeps it; [`Guess::give_back`] returns it when the password was right or never tried.
#[must_use = "a reserved guess counts as wrong unless given back"]
struct Guess {
    bucket: String,
    interval_ms: i64,
}

impl Guess {
    /// Takes one guess, or refuses when none is left.
    async fn reserve(state: &AppState, user_id: Uuid, name: &str) -> Result<Self, RunError> {
        let per_hour = state.settings().zk_wrong_password_per_hour;
        let interval_ms = 3_600_000 / i64::from(per_hour.max(1));
        let bucket = format!("zkpw:{user_id}:{name}");
        let decision = state
            .store()
            .rate_limit(&bucket, now_ms(), interval_ms, per_hour)
            .await?;
        if !decision.allowed {
            return Err(RunError::GuessesSpent {
                retry_after_ms: decision.retry_after_ms,
            });
        }
        Ok(Self {
            bucket,
            interval_ms,
        })
    }

    /// Returns the guess to the budget. A failure only costs the user that guess, so it is
    /// logged, not answered.
    async fn give_back(self, state: &AppState) {
        let refund = state
            .store()
            .rate_limit_refund(&self.bucket, now_ms(), self.interval_ms)
            .await;
        if let Err(err) = refund {
            tracing::warn!(error = %err, bucket = %self.bucket, "could not give back a zero-knowledge guess");
        }
    }
}
