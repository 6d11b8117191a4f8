//! Administration: accounts (create, list, disable, enable, role, delete) and invitations.
//! An action is done by an [`Actor`]: an admin over the API, whose chain and the affected
//! user's both get the entry, or the operator at the server's command line (`pyth-on users`),
//! recorded in the affected user's chain with `auth_method` `cli`.
//!
//! The functions take the store alone, so the command line runs them without a server; the
//! routes add what needs one (ending a disabled user's sessions on this node, the quotas that
//! apply with the server's defaults).

use std::net::IpAddr;

use pyth_on_crypto::InvitationCode;
use pyth_on_store::{
    AuditEvent, Constraint, Invitation, NewInvitation, NewUser, Role, Store, StoreError, User,
    UserSummary,
};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::accounts::{self, AccountError};
use crate::audit::{self, Action, Outcome};
use crate::caller::Caller;
use crate::quotas;
use pyth_on_types::QuotaOverrides;

/// Who does an admin action.
#[derive(Debug, Clone, Copy)]
pub enum Actor {
    /// An admin over the API.
    Admin(Caller),
    /// The operator at the server's command line.
    Operator,
}

/// The entries of `action` on `target`: in the admin's chain and the target's (once when they
/// are the same user); only the target's for the operator.
fn events(actor: &Actor, action: Action, target: Uuid, details: Value) -> Vec<AuditEvent> {
    let resource = Some(target.to_string());
    match actor {
        Actor::Admin(admin) => {
            let own = audit::by(admin, action, resource, Outcome::Success, details);
            let mut events = vec![own.clone()];
            if admin.user_id != target {
                events.push(AuditEvent {
                    id: Uuid::now_v7(),
                    user_id: target,
                    details: json!({ "by": admin.user_id, "details": own.details }),
                    ..own
                });
            }
            events
        }
        Actor::Operator => {
            let ip = IpAddr::from([127, 0, 0, 1]);
            let mut event = audit::public(target, ip, action, Outcome::Success, details);
            event.resource = resource;
            event.ip = None;
            event.auth_method = Some("cli".into());
            vec![event]
        }
    }
}

fn last_admin(err: StoreError) -> AccountError {
    if err.is_conflict_on(Constraint::LastAdmin) {
        AccountError::LastAdmin
    } else {
        err.into()
    }
}

/// A page of accounts in creation order (at most `limit`, after `after`).
pub async fn list_users(
    store: &dyn Store,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<UserSummary>, AccountError> {
    Ok(store.list_users(after, limit).await?)
}

/// Creates an account (its password already hashed, see [`accounts::new_user`]).
pub async fn create_user(
    store: &dyn Store,
    actor: &Actor,
    user: NewUser,
) -> Result<User, AccountError> {
    let details = json!({ "email": user.email, "role": user.role.as_str() });
    let mut all = events(actor, Action::AdminUserCreate, user.id, details);
    // The new user's chain starts with its creation, attributed like the admin's entry.
    let target = all.pop().ok_or(AccountError::UserNotFound)?;
    match store.create_user(&user, &target).await {
        Ok(()) => {}
        Err(err) if err.is_conflict_on(Constraint::UserEmail) => {
            return Err(AccountError::EmailTaken)
        }
        Err(err) => return Err(err.into()),
    }
    for event in &all {
        store.append_audit(event).await?;
    }
    Ok(accounts::stored(user))
}

/// A password for an account created without one: 128 random bits as 32 hex digits.
pub fn generated_password() -> String {
    format!("{}", Uuid::new_v4().simple())
}

/// Disables (`true`) or enables an account. A disabled account's keys and tokens are refused
/// on every node from their next request; it cannot sign in.
pub async fn set_disabled(
    store: &dyn Store,
    actor: &Actor,
    user_id: Uuid,
    disabled: bool,
) -> Result<(), AccountError> {
    let (action, at) = if disabled {
        (Action::AdminUserDisable, Some(OffsetDateTime::now_utc()))
    } else {
        (Action::AdminUserEnable, None)
    };
    let audit = events(actor, action, user_id, json!({}));
    match store.set_user_disabled(user_id, at, &audit).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(AccountError::UserNotFound),
        Err(err) => Err(last_admin(err)),
    }
}

/// Sets an account's role.
pub async fn set_role(
    store: &dyn Store,
    actor: &Actor,
    user_id: Uuid,
    role: Role,
) -> Result<(), AccountError> {
    let details = json!({ "role": role.as_str() });
    let audit = events(actor, Action::AdminUserRole, user_id, details);
    let now = OffsetDateTime::now_utc();
    match store.set_user_role(user_id, role, now, &audit).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(AccountError::UserNotFound),
        Err(err) => Err(last_admin(err)),
    }
}

/// Deletes an account and everything of it. The admin's chain keeps an entry naming the
/// deleted id and email; the account's own chain goes with it.
pub async fn delete_user(
    store: &dyn Store,
    actor: &Actor,
    user_id: Uuid,
) -> Result<(), AccountError> {
    let email = store.user_by_id(user_id).await?.map(|u| u.email);
    let Some(email) = email else {
        return Err(AccountError::UserNotFound);
    };
    let mut audit = events(
        actor,
        Action::AdminUserDelete,
        user_id,
        json!({ "email": email }),
    );
    audit.retain(|event| event.user_id != user_id);
    match store.delete_user(user_id, &audit).await {
        Ok(true) => {
            tracing::info!(user.id = %user_id, "account deleted by an administrator");
            Ok(())
        }
        Ok(false) => Err(AccountError::UserNotFound),
        Err(err) => Err(last_admin(err)),
    }
}

/// Replaces `user_id`'s quota overrides (`None`: the server's default; all `None` removes
/// them), audited like every admin action. They apply from the user's next run, session or
/// write, on every node.
pub async fn set_quota(
    store: &dyn Store,
    actor: &Actor,
    user_id: Uuid,
    overrides: &QuotaOverrides,
) -> Result<(), AccountError> {
    if store.user_by_id(user_id).await?.is_none() {
        return Err(AccountError::UserNotFound);
    }
    let details = json!({ "overrides": overrides });
    let audit = events(actor, Action::AdminUserQuota, user_id, details);
    let now = OffsetDateTime::now_utc();
    let row = quotas::to_row(overrides);
    store
        .set_quota_overrides(user_id, &row, now, &audit)
        .await?;
    Ok(())
}

/// Creates an invitation valid for `ttl_hours`; answers it and its code (shown once).
pub async fn create_invitation(
    store: &dyn Store,
    admin: &Caller,
    note: String,
    ttl_hours: u64,
) -> Result<(Invitation, InvitationCode), AccountError> {
    let code = InvitationCode::generate();
    let now = pyth_on_store::truncate_to_millis(OffsetDateTime::now_utc());
    let hours = i64::try_from(ttl_hours).unwrap_or(i64::MAX);
    let inv = NewInvitation {
        id: Uuid::now_v7(),
        code_hash: code.hash().to_vec(),
        created_by: admin.user_id,
        note,
        created_at: now,
        expires_at: now + Duration::hours(hours),
    };
    let details = json!({ "invitationId": inv.id, "expiresAt": inv.expires_at.unix_timestamp() });
    let resource = Some(inv.id.to_string());
    let event = audit::by(
        admin,
        Action::AdminInvitationCreate,
        resource,
        Outcome::Success,
        details,
    );
    store.create_invitation(&inv, &event).await?;
    let created = Invitation {
        id: inv.id,
        created_by: inv.created_by,
        note: inv.note,
        created_at: inv.created_at,
        expires_at: inv.expires_at,
        used_at: None,
        used_by: None,
    };
    Ok((created, code))
}

/// Every invitation, newest first.
pub async fn list_invitations(store: &dyn Store) -> Result<Vec<Invitation>, AccountError> {
    Ok(store.list_invitations().await?)
}

/// Deletes an invitation (used or not).
pub async fn delete_invitation(
    store: &dyn Store,
    admin: &Caller,
    id: Uuid,
) -> Result<(), AccountError> {
    let resource = Some(id.to_string());
    let event = audit::by(
        admin,
        Action::AdminInvitationDelete,
        resource,
        Outcome::Success,
        json!({}),
    );
    if store.delete_invitation(id, &event).await? {
        Ok(())
    } else {
        Err(AccountError::InvitationNotFound)
    }
}
