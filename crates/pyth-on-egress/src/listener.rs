//! The server's end of one run's egress: a Unix socket in a root-only directory that the
//! run's sandbox relay connects to, one connection per program connection. Whoever can
//! connect here speaks as this run, so the socket lives in a `0700` directory of the server's
//! user and is removed when the run ends.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::UnixListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::meter::EgressStats;
use crate::proxy::RunProxy;

/// Errors setting up a run's socket.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    /// Creating or securing the socket directory failed.
    #[error("egress socket directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Binding the socket failed.
    #[error("binding egress socket {path}: {source}")]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Creates `dir` (and parents) and makes it `0700`.
pub fn prepare_dir(dir: &Path) -> Result<(), ListenerError> {
    let err = |source| ListenerError::Dir {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)
}

/// One run's proxy, serving its socket until [`RunListener::finish`].
#[derive(Debug)]
pub struct RunListener {
    path: PathBuf,
    proxy: Arc<RunProxy>,
    /// `None` once finished.
    task: Option<JoinHandle<()>>,
}

impl RunListener {
    /// Binds `dir/<name>.sock` (the directory must exist, see [`prepare_dir`]) and starts
    /// serving it with `proxy`.
    pub fn bind(dir: &Path, name: &str, proxy: RunProxy) -> Result<Self, ListenerError> {
        let path = dir.join(format!("{name}.sock"));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|source| ListenerError::Bind {
            path: path.clone(),
            source,
        })?;
        let proxy = Arc::new(proxy);
        let serving = proxy.clone();
        let task = tokio::spawn(async move {
            // Dropping the set (when this task is aborted) aborts every connection.
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            let proxy = serving.clone();
                            conns.spawn(async move { proxy.serve(stream).await });
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "egress accept failed");
                            return;
                        }
                    },
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Self {
            path,
            proxy,
            task: Some(task),
        })
    }

    /// The socket path to hand to the sandbox.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops serving (cutting any open connection), removes the socket and returns the
    /// run's counters.
    pub async fn finish(mut self) -> EgressStats {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        let _ = std::fs::remove_file(&self.path);
        self.proxy.stats()
    }
}

impl Drop for RunListener {
    /// A run that ended without [`RunListener::finish`] (an error path) still stops serving
    /// and leaves no socket behind.
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
