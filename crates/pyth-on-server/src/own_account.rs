//! A user's own account: its settings, password, sign-ins, and its deletion. Changes that
//! could lock the owner out (password, deletion) need the current password again, so a stolen
//! access token alone cannot do them.

use std::sync::Arc;

use pyth_on_store::{SecretsDefault, SignIn, User};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::accounts::{self, AccountError};
use crate::audit::{self, Action, Outcome};
use crate::caller::Caller;
use crate::domain::Password;
use crate::sessions::{self, EndReason};
use crate::state::AppState;

/// Sets which secrets a request naming none receives.
pub async fn set_secrets_default(
    state: &AppState,
    caller: &Caller,
    value: SecretsDefault,
) -> Result<User, AccountError> {
    let details = json!({ "secretsDefault": value.as_str() });
    let event = audit::by(
        caller,
        Action::AccountSettings,
        None,
        Outcome::Success,
        details,
    );
    let now = OffsetDateTime::now_utc();
    let store = state.store();
    if !store
        .set_secrets_default(caller.user_id, value, now, &event)
        .await?
    {
        return Err(AccountError::Unauthorized);
    }
    accounts::me(state, caller.user_id).await
}

/// Checks `password` against the caller's; `WrongPassword` when it does not match.
async fn confirm_password(
    state: &AppState,
    caller: &Caller,
    password: String,
) -> Result<User, AccountError> {
    let user = accounts::me(state, caller.user_id).await?;
    let phc = user.password_hash.clone();
    let ok = state
        .password_work(move || pyth_on_crypto::verify_password(&password, &phc))
        .await?;
    if ok {
        Ok(user)
    } else {
        Err(AccountError::WrongPassword)
    }
}

/// Changes the password; every other sign-in ends (the caller's own, when it used a token
/// with a sign-in, stays).
pub async fn change_password(
    state: &AppState,
    caller: &Caller,
    current: String,
    new: Password,
) -> Result<(), AccountError> {
    confirm_password(state, caller, current).await?;
    let hash = state
        .password_work(move || pyth_on_crypto::hash_password(&new.into_inner()))
        .await?
        .map_err(|e| AccountError::Internal(e.into()))?;
    let event = audit::by(
        caller,
        Action::AuthPasswordChange,
        None,
        Outcome::Success,
        json!({ "otherSignInsEnded": true }),
    );
    let now = OffsetDateTime::now_utc();
    let store = state.store();
    store
        .set_password(caller.user_id, &hash, caller.sign_in, now, &event)
        .await?;
    Ok(())
}

/// The caller's live sign-ins, newest first.
pub async fn sign_ins(state: &AppState, caller: &Caller) -> Result<Vec<SignIn>, AccountError> {
    let now = OffsetDateTime::now_utc();
    Ok(state.store().sign_ins(caller.user_id, now).await?)
}

/// Ends one of the caller's sign-ins: its refresh token stops working, and so do the access
/// tokens it issued.
pub async fn revoke_sign_in(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<(), AccountError> {
    let event = audit::by(
        caller,
        Action::AuthSignInRevoke,
        Some(id.to_string()),
        Outcome::Success,
        json!({ "current": caller.sign_in == Some(id) }),
    );
    let now = OffsetDateTime::now_utc();
    let store = state.store();
    if store
        .revoke_sign_in(caller.user_id, id, now, &event)
        .await?
    {
        Ok(())
    } else {
        Err(AccountError::SignInNotFound)
    }
}

/// Deletes the caller's account and everything of it (see `AccountStore::delete_user`), after
/// checking the password; then its sessions on this node end.
pub async fn delete_account(
    state: &AppState,
    caller: &Caller,
    password: String,
) -> Result<(), AccountError> {
    confirm_password(state, caller, password).await?;
    match state.store().delete_user(caller.user_id, &[]).await {
        Ok(true) => {}
        Ok(false) => return Err(AccountError::Unauthorized),
        Err(err) if err.is_conflict_on(pyth_on_store::Constraint::LastAdmin) => {
            return Err(AccountError::LastAdmin)
        }
        Err(err) => return Err(err.into()),
    }
    // After the rows are gone: a refusal ends nothing, and the ends write nothing for it.
    end_sessions_of(state, caller.user_id, EndReason::Deleted).await;
    tracing::info!(user.id = %caller.user_id, "account deleted by its owner");
    Ok(())
}

/// Ends every session `user_id` holds on this node, for `reason` (the account is being
/// disabled or deleted); sessions on other nodes are refused from the next request and end
/// with their timeouts.
pub async fn end_sessions_of(state: &AppState, user_id: Uuid, reason: EndReason) {
    let open = state.sessions().of(user_id);
    let ends = open.into_iter().filter_map(|entry| {
        let entry: Arc<sessions::Entry> = state.sessions().remove(user_id, entry.id)?;
        let by = entry.opener;
        Some(async move {
            sessions::end(state, &by, &entry, reason, json!({})).await;
        })
    });
    futures::future::join_all(ends).await;
}
