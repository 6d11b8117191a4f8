//! What a request's work carries with it wherever it runs: its id (a task-local set by the
//! request middleware), so errors and tasks spawned on the request's behalf can name it.

use std::future::Future;

tokio::task_local! {
    /// The current request's id (set by `http::request_id`'s middleware).
    pub(crate) static REQUEST_ID: String;
}

/// The current request's id, or `-` outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".to_string())
}

/// `work` run with the current request's id: for a task spawned on the request's behalf.
pub fn carry<F: Future>(work: F) -> impl Future<Output = F::Output> {
    REQUEST_ID.scope(current_request_id(), work)
}
