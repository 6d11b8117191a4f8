//! Reading and verifying an owner's own audit chain: a page of entries, newest first, under a
//! checked [`AuditFilter`], and the whole chain recomputed.

use pyth_on_store::{verify_chain, AuditEntry, StoreError};
use uuid::Uuid;

use crate::caller::Caller;
use crate::domain::Invalid;
use crate::state::AppState;

/// Entries per page when the caller does not say.
pub const DEFAULT_PAGE: u32 = 50;
/// Most entries per page.
pub const MAX_PAGE: u32 = 200;

/// Which entries a page shows, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFilter {
    limit: u32,
    before: Option<i64>,
    action: Option<String>,
}

impl AuditFilter {
    /// Checks the query's values: `limit` 1 to [`MAX_PAGE`], `before` a `nextCursor` (empty:
    /// the first page), `action` a prefix of at most 64 bytes (empty: every action).
    pub fn parse(
        limit: Option<u32>,
        before: Option<&str>,
        action: Option<String>,
    ) -> Result<Self, Invalid> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            let message = format!("must be between 1 and {MAX_PAGE}");
            return Err(Invalid::field("limit", message));
        }
        let before = match before {
            None | Some("") => None,
            Some(raw) => Some(
                parse_cursor(raw)
                    .ok_or_else(|| Invalid::field("before", "must be a cursor from nextCursor"))?,
            ),
        };
        if action.as_ref().is_some_and(|a| a.len() > 64) {
            return Err(Invalid::field("action", "must be at most 64 characters"));
        }
        let action = action.filter(|a| !a.is_empty());
        Ok(Self {
            limit,
            before,
            action,
        })
    }
}

/// A `nextCursor`: a positive decimal number of at most 18 digits, written as the server
/// writes it (no sign, no leading zero), the rule the document's pattern states.
fn parse_cursor(raw: &str) -> Option<i64> {
    let canonical = (1..=18).contains(&raw.len())
        && !raw.starts_with('0')
        && raw.bytes().all(|b| b.is_ascii_digit());
    canonical.then(|| raw.parse().ok()).flatten()
}

/// One page of entries and the cursor of the next, if there is one.
#[derive(Debug)]
pub struct Page {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next page.
    pub next_cursor: Option<String>,
}

/// The owner's entries under `filter`.
pub async fn page(
    state: &AppState,
    user: &Caller,
    filter: &AuditFilter,
) -> Result<Page, StoreError> {
    // One more than asked tells whether another page exists.
    let mut entries = state
        .store()
        .list_audit(
            user.user_id,
            filter.limit + 1,
            filter.before,
            filter.action.as_deref(),
        )
        .await?;
    let mut next_cursor = None;
    if entries.len() > filter.limit as usize {
        entries.truncate(filter.limit as usize);
        next_cursor = entries.last().map(|r| r.seq.to_string());
    }
    Ok(Page {
        entries,
        next_cursor,
    })
}

/// What recomputing the owner's chain found.
#[derive(Debug)]
pub struct Verification {
    /// Every link holds.
    pub valid: bool,
    /// Entries checked.
    pub entries: u64,
    /// The hash of the newest entry (the chain's start value when there is none).
    pub head: String,
    /// The first entry whose link does not hold.
    pub first_invalid: Option<Uuid>,
}

/// Recomputes the owner's whole chain.
pub async fn verify(state: &AppState, user: &Caller) -> Result<Verification, StoreError> {
    let chain = state.store().audit_chain(user.user_id).await?;
    let result = verify_chain(&chain);
    let first_invalid = result
        .first_invalid_seq
        .and_then(|seq| chain.iter().find(|e| e.seq == seq).map(|e| e.id));
    Ok(Verification {
        valid: result.valid,
        entries: result.entries as u64,
        head: result.head,
        first_invalid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_checks_its_limit_cursor_and_action() {
        let f = AuditFilter::parse(None, Some(""), Some(String::new())).unwrap();
        assert_eq!((f.limit, f.before, f.action), (50, None, None));
        let f = AuditFilter::parse(Some(200), Some("42"), Some("auth.".into())).unwrap();
        assert_eq!(
            (f.limit, f.before, f.action.as_deref()),
            (200, Some(42), Some("auth."))
        );
        for (limit, before, action) in [
            (Some(0), None, None),
            (Some(201), None, None),
            (None, Some("042"), None),
            (None, Some("-1"), None),
            (None, Some("1234567890123456789"), None),
            (None, None, Some("a".repeat(65))),
        ] {
            assert!(AuditFilter::parse(limit, before, action).is_err());
        }
    }
}
