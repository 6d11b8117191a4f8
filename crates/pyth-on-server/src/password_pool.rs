//! A fixed pool of threads for password hashing (Argon2id, 19 MiB a hash). On tokio's blocking
//! pool every hash could land on another of up to hundreds of threads, and glibc gives each
//! thread its own malloc arena that keeps the freed 19 MiB: a burst of logins left the server at
//! ~600 MB for good. A few long-lived threads (one per core) keep at most that many arenas.

use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};

type Work = Box<dyn FnOnce() + Send>;

/// The pool; cheap to clone.
#[derive(Debug, Clone)]
pub struct PasswordPool {
    jobs: Sender<Work>,
}

/// The pool has no thread left to run the work.
#[derive(Debug, thiserror::Error)]
#[error("the password-hashing threads are gone")]
pub struct PoolGone;

impl PasswordPool {
    /// Starts `threads` (at least 1) workers. A thread that cannot be started is logged; with
    /// none at all, [`PasswordPool::run`] answers [`PoolGone`].
    pub fn new(threads: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Work>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            // On every CPU of the process, not the control CPUs of the thread starting them
            // (`crate::placement`): hashes are long and run side by side.
            let started = pyth_on_sandbox::cpus::on_process_cpus(|| {
                std::thread::Builder::new()
                    .name(format!("pyth-on-password-{i}"))
                    .spawn(move || loop {
                        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        match next {
                            Ok(work) => work(),
                            Err(_) => return,
                        }
                    })
            });
            if let Err(e) = started {
                tracing::error!(error = %e, "a password-hashing thread could not start");
            }
        }
        Self { jobs }
    }

    /// Runs `work` on one of the pool's threads and waits for its result.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolGone> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Work = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs.send(job).map_err(|_| PoolGone)?;
        result.await.map_err(|_| PoolGone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_the_pools_named_threads() {
        let pool = PasswordPool::new(2);
        let names = futures::future::join_all((0..8).map(|_| {
            pool.run(|| {
                std::thread::current()
                    .name()
                    .unwrap_or_default()
                    .to_string()
            })
        }))
        .await;
        assert!(names
            .iter()
            .all(|n| n.as_ref().unwrap().starts_with("pyth-on-password-")));
    }
}
