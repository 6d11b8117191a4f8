//! The server and API key `pyth-on login` saves, and the connection flags every client command
//! shares ([`ServerArgs`]): a flag or `PYTH_ON_URL` / `PYTH_ON_API_KEY` wins, then the saved
//! login, then (for the URL) `http://127.0.0.1:8080`.
//!
//! The file is `credentials.json` in `$PYTH_ON_CONFIG_DIR`, else `$XDG_CONFIG_HOME/pyth-on`,
//! else `~/.config/pyth-on`; the directory is made 0700 and the file 0600 (it holds a key).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use anyhow::{anyhow, Context};
use pyth_on_client::Client;
use serde::{Deserialize, Serialize};

/// Where a client command connects when nothing says otherwise.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// A saved login.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Saved {
    /// The server.
    pub url: String,
    /// An API key of the account (made for this machine by `pyth-on login`).
    pub api_key: String,
    /// The sign-in's refresh token (with email and password only): what the commands that
    /// need an access token (`pyth-on keys`) spend, saving its successor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for Saved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Saved")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The directory of the credentials file.
pub fn dir() -> anyhow::Result<PathBuf> {
    let var = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("PYTH_ON_CONFIG_DIR") {
        return Ok(dir);
    }
    if let Some(config) = var("XDG_CONFIG_HOME") {
        return Ok(config.join("pyth-on"));
    }
    let home = var("HOME").ok_or_else(|| anyhow!("no HOME: set PYTH_ON_CONFIG_DIR"))?;
    Ok(home.join(".config").join("pyth-on"))
}

/// The saved login, if there is one.
pub fn load() -> anyhow::Result<Option<Saved>> {
    let path = dir()?.join("credentials.json");
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("reading {}", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

/// Saves `saved` (replacing any earlier login), readable by its owner only; answers the path.
pub fn save(saved: &Saved) -> anyhow::Result<PathBuf> {
    let dir = dir()?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("credentials.json");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    // A file made earlier with wider permissions is narrowed too.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(&serde_json::to_vec_pretty(saved)?)?;
    Ok(path)
}

/// Forgets the saved login; `false` when there was none.
pub fn remove() -> anyhow::Result<bool> {
    let path = dir()?.join("credentials.json");
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err).with_context(|| format!("removing {}", path.display())),
    }
}

/// The connection flags of the client commands.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Server URL; default: the one `pyth-on login` saved, else http://127.0.0.1:8080.
    #[arg(long, env = "PYTH_ON_URL", global = true)]
    pub url: Option<String>,
    /// API key; default: the one `pyth-on login` saved.
    #[arg(long, env = "PYTH_ON_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,
}

impl ServerArgs {
    /// A client holding an access token: the saved sign-in's refresh token is spent and its
    /// successor saved (a refresh token is single-use).
    pub async fn token_client(&self) -> anyhow::Result<Client> {
        let mut saved = load()?.ok_or_else(|| anyhow!("this needs `pyth-on login` first"))?;
        let refresh = saved.refresh_token.clone().ok_or_else(|| {
            anyhow!("this needs a sign-in with email and password: `pyth-on login --email ...`")
        })?;
        let url = self.url.clone().unwrap_or_else(|| saved.url.clone());
        let client = Client::new(&url)?;
        let auth = client.refresh(&refresh).await.map_err(|e| {
            anyhow!("the saved sign-in no longer works ({e}): `pyth-on login` again")
        })?;
        saved.refresh_token = Some(auth.refresh_token);
        save(&saved)?;
        Ok(client.with_token(auth.token))
    }

    /// A client of the server with the API key.
    pub fn client(&self) -> anyhow::Result<Client> {
        let saved = load()?;
        let url = match (&self.url, &saved) {
            (Some(url), _) => url.clone(),
            (None, Some(saved)) => saved.url.clone(),
            (None, None) => DEFAULT_URL.to_string(),
        };
        let key = match (&self.api_key, saved) {
            (Some(key), _) => key.clone(),
            (None, Some(saved)) => saved.api_key,
            (None, None) => {
                return Err(anyhow!(
                    "an API key is needed: `pyth-on login`, --api-key or PYTH_ON_API_KEY"
                ))
            }
        };
        Ok(Client::new(&url)?.with_api_key(key))
    }
}
