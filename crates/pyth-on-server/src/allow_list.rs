//! A user's own egress allow-list: read, replaced and deleted for its owner, each change
//! audited in the same transaction (`egress.allow.set`, `egress.allow.delete`). The list
//! narrows the server's egress policy for the owner's runs; it can never widen it.

use pyth_on_egress::HostPattern;
use pyth_on_store::StoreError;
use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{self, Action, Outcome};
use crate::caller::Caller;
use crate::domain::Invalid;
use crate::state::AppState;

/// Most patterns in one user's list.
pub const MAX_ALLOW_HOSTS: usize = 100;

/// A checked list: at most [`MAX_ALLOW_HOSTS`] host patterns, normalised, without repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList(Vec<String>);

impl AllowList {
    /// Parses the patterns as given (`too_many_items`, `invalid_host_pattern` naming it).
    pub fn parse(raw: &[String]) -> Result<Self, Invalid> {
        if raw.len() > MAX_ALLOW_HOSTS {
            return Err(Invalid::code(
                "too_many_items",
                format!("an allow-list holds at most {MAX_ALLOW_HOSTS} patterns"),
            ));
        }
        let mut hosts = Vec::with_capacity(raw.len());
        for pattern in raw {
            let pattern = HostPattern::parse(pattern)
                .map_err(|e| Invalid::code("invalid_host_pattern", e.to_string()))?
                .to_string();
            if !hosts.contains(&pattern) {
                hosts.push(pattern);
            }
        }
        Ok(Self(hosts))
    }

    /// The normalised patterns.
    pub fn hosts(&self) -> &[String] {
        &self.0
    }
}

/// Why an allow-list operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AllowError {
    /// The owner has no list.
    #[error("no egress allow-list is set")]
    NotFound,
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The owner's list; `None` when none is set.
pub async fn get(state: &AppState, user: &Caller) -> Result<Option<Vec<String>>, AllowError> {
    Ok(state.store().get_egress_allow(user.user_id).await?)
}

/// Replaces the owner's list.
pub async fn set(state: &AppState, user: &Caller, list: &AllowList) -> Result<(), AllowError> {
    let event = audit::by(
        user,
        Action::EgressAllowSet,
        None,
        Outcome::Success,
        json!({ "hosts": list.hosts() }),
    );
    let now = OffsetDateTime::now_utc();
    state
        .store()
        .set_egress_allow(user.user_id, list.hosts(), now, &event)
        .await?;
    Ok(())
}

/// Deletes the owner's list (the server's policy alone applies again).
pub async fn delete(state: &AppState, user: &Caller) -> Result<(), AllowError> {
    let event = audit::by(
        user,
        Action::EgressAllowDelete,
        None,
        Outcome::Success,
        json!({}),
    );
    match state
        .store()
        .delete_egress_allow(user.user_id, &event)
        .await?
    {
        true => Ok(()),
        false => Err(AllowError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_normalised_and_deduplicated() {
        let raw = vec![
            "PyPI.org".to_string(),
            "pypi.org".into(),
            "*.github.com".into(),
        ];
        let list = AllowList::parse(&raw).unwrap();
        assert_eq!(list.hosts(), ["pypi.org", "*.github.com"]);
    }

    #[test]
    fn a_bad_pattern_or_too_many_are_refused_with_their_codes() {
        let bad = AllowList::parse(&["exa mple.com".to_string()]).unwrap_err();
        assert_eq!(bad.code, "invalid_host_pattern");
        let many: Vec<String> = (0..=MAX_ALLOW_HOSTS).map(|i| format!("h{i}.com")).collect();
        assert_eq!(AllowList::parse(&many).unwrap_err().code, "too_many_items");
    }
}
