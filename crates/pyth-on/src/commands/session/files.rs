//! `pyth-on session files ID put|get|ls|rm`: files in a session's working directory. A file
//! fetched is written only at the local target: its remote name is untrusted, so only its last
//! segment is used, and an existing file is replaced only with `--force`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use pyth_on_client::{Client, ClientError};
use pyth_on_types::FileKind;
use uuid::Uuid;

use super::{about_session, parse_id};
use crate::commands::run::output::{write_new, Refusal};

/// Options of `session files`.
#[derive(Debug, clap::Args)]
pub struct Files {
    /// The session's id.
    #[arg(value_name = "ID", value_parser = parse_id)]
    id: Uuid,
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Copy a local file into the session (as REMOTE, default its name).
    Put {
        /// The local file.
        local: PathBuf,
        /// Its path in the session, relative to the working directory.
        remote: Option<String>,
    },
    /// Copy a file out of the session (to LOCAL, default its name here; into LOCAL when it is
    /// a directory; `-` writes it to stdout).
    Get {
        /// Its path in the session.
        remote: String,
        /// Where to write it.
        local: Option<PathBuf>,
        /// Replace a file that exists at LOCAL.
        #[arg(long)]
        force: bool,
    },
    /// List one directory of the session (its working directory by default).
    Ls {
        /// The directory, relative to the working directory.
        dir: Option<String>,
        /// Print the listing as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a file (or a directory with everything in it) from the session.
    Rm {
        /// Its path in the session.
        remote: String,
    },
}

impl Files {
    /// Runs the file action.
    pub async fn run(self, client: &Client) -> anyhow::Result<ExitCode> {
        let id = self.id;
        match self.action {
            Action::Put { local, remote } => put(client, id, &local, remote).await?,
            Action::Get {
                remote,
                local,
                force,
            } => get(client, id, &remote, local.as_deref(), force).await?,
            Action::Ls { dir, json } => list(client, id, dir.as_deref(), json).await?,
            Action::Rm { remote } => client
                .delete_session_file(id, &remote)
                .await
                .map_err(|e| about_file(e, id, &remote))?,
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// An error of a request about file `path` of session `id`, in words.
fn about_file(err: ClientError, id: Uuid, path: &str) -> anyhow::Error {
    let ClientError::Api { body, .. } = &err else {
        return anyhow!("{}", super::with_details(&err));
    };
    let file_missing = body.code == "file_not_found";
    match err.code() {
        _ if file_missing => anyhow!("no file {path:?} in session {id}"),
        Some("not_found" | "session_busy") => about_session(err, id),
        _ => anyhow!("{path:?}: {}", super::with_details(&err)),
    }
}

async fn put(
    client: &Client,
    id: Uuid,
    local: &Path,
    remote: Option<String>,
) -> anyhow::Result<()> {
    let remote = match remote {
        Some(remote) => remote,
        None => local
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("{} has no UTF-8 file name: give REMOTE", local.display()))?,
    };
    let bytes = std::fs::read(local).with_context(|| format!("reading {}", local.display()))?;
    let file = client
        .put_session_file(id, &remote, bytes)
        .await
        .map_err(|e| about_file(e, id, &remote))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}\t{} bytes", file.path, file.size)?;
    Ok(())
}

async fn get(
    client: &Client,
    id: Uuid,
    remote: &str,
    local: Option<&Path>,
    force: bool,
) -> anyhow::Result<()> {
    // Where it goes is settled before anything is fetched.
    let target = match local {
        Some(p) if p == Path::new("-") => None,
        Some(p) if p.is_dir() => Some(p.join(last_segment(remote)?)),
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from(last_segment(remote)?)),
    };
    let bytes = client
        .get_session_file(id, remote)
        .await
        .map_err(|e| about_file(e, id, remote))?;
    let Some(target) = target else {
        let mut out = std::io::stdout().lock();
        out.write_all(&bytes)
            .and_then(|()| out.flush())
            .context("writing to stdout")?;
        return Ok(());
    };
    write_new(&target, &bytes, force).map_err(|why| match why {
        Refusal::Exists => anyhow!("{} exists; --force replaces it", target.display()),
        other => anyhow!("not writing {}: {other}", target.display()),
    })?;
    eprintln!(
        "pyth-on: wrote {} bytes to {}",
        bytes.len(),
        target.display()
    );
    Ok(())
}

/// The last segment of a remote path, as a local file name: one normal component, never
/// `.`, `..`, empty or with a NUL.
fn last_segment(remote: &str) -> anyhow::Result<&str> {
    match remote.rsplit('/').find(|s| !s.is_empty()) {
        Some(name) if name != "." && name != ".." && !name.contains('\0') => Ok(name),
        _ => bail!("{remote:?} does not end in a file name: give LOCAL"),
    }
}

async fn list(client: &Client, id: Uuid, dir: Option<&str>, json: bool) -> anyhow::Result<()> {
    let listing = client
        .list_session_files(id, dir)
        .await
        .map_err(|e| about_file(e, id, dir.unwrap_or("")))?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&listing)?)?;
        return Ok(());
    }
    for entry in &listing.entries {
        let (kind, slash) = match entry.kind {
            FileKind::File => ("file", ""),
            FileKind::Directory => ("dir", "/"),
            FileKind::Other => ("other", ""),
        };
        writeln!(out, "{kind:<5} {:>10}  {}{slash}", entry.size, entry.path)?;
    }
    if listing.truncated {
        eprintln!("pyth-on: the listing stops at the server's bound; more entries exist");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_normal_segment_of_a_remote_name_is_used_locally() {
        assert_eq!(last_segment("out/plot.png").unwrap(), "plot.png");
        assert_eq!(last_segment("dir/").unwrap(), "dir");
        assert_eq!(last_segment("../../etc/passwd").unwrap(), "passwd");
        for bad in ["..", "a/..", ".", "", "/", "a\0b"] {
            assert!(last_segment(bad).is_err(), "{bad:?}");
        }
    }
}
