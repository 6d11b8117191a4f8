//! Test harness (cargo feature `testing`): database URLs for tests of this crate and of the
//! server, on both backends.
//!
//! - SQLite: [`sqlite_url`] in a caller-owned temporary directory.
//! - PostgreSQL: [`test_postgres_url`] creates a fresh `test_<uuid>` database and returns its
//!   URL. The server is `PYTH_ON_TEST_POSTGRES` when set (any database URL on it with rights to
//!   `create database`); otherwise a throwaway server is started once per test process:
//!   `initdb` + `pg_ctl` (binaries from `PYTH_ON_PG_BIN`, else the newest
//!   `/usr/lib/postgresql/*/bin`, else `PATH`), as the `postgres` OS user when running as root
//!   (initdb refuses root), in a temporary directory, on a free loopback port, trust auth,
//!   fsync off. A watchdog process stops it and deletes the directory when the test process
//!   exits, however it exits (it waits for EOF on a pipe only this process holds).
//!
//! With `PYTH_ON_TEST_POSTGRES` the `test_*` databases are left on that server (drop them
//! with the server); the throwaway server takes its databases with it.
//!
//! These helpers panic on failure: they are for tests only.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use sqlx::Connection;
use uuid::Uuid;

use crate::Store;

/// Environment variable naming an existing PostgreSQL server to test against.
pub const POSTGRES_URL_ENV: &str = "PYTH_ON_TEST_POSTGRES";
/// Environment variable naming the directory holding `initdb` and `pg_ctl`.
pub const PG_BIN_ENV: &str = "PYTH_ON_PG_BIN";

/// A SQLite URL for a new database file inside `dir` (created on first connect).
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("pyth-on.db").display())
}

/// A migrated SQLite store in `dir` (keep the directory alive as long as the store).
pub async fn sqlite_store(dir: &Path) -> Arc<dyn Store> {
    crate::connect(&sqlite_url(dir))
        .await
        .unwrap_or_else(|e| panic!("opening the test SQLite store: {e:#}"))
}

/// A migrated PostgreSQL store on a fresh database (see [`test_postgres_url`]).
pub async fn postgres_store() -> Arc<dyn Store> {
    crate::connect(&test_postgres_url().await)
        .await
        .unwrap_or_else(|e| panic!("opening the test PostgreSQL store: {e:#}"))
}

/// The URL of a fresh, empty PostgreSQL database (migrations not yet applied), on
/// `PYTH_ON_TEST_POSTGRES` or on this process's throwaway server.
pub async fn test_postgres_url() -> String {
    let admin = postgres_admin_url().await;
    let name = format!("test_{}", Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test PostgreSQL server: {e}"));
    sqlx::query(&format!("create database {name}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
    // Best effort: the database stays usable whatever happens to this connection.
    let _ = conn.close().await;
    with_database(&admin, &name)
}

/// A URL of the test server itself (its maintenance database), for tests that need to create
/// or inspect databases. Starts the throwaway server if needed.
pub async fn postgres_admin_url() -> String {
    if let Ok(url) = std::env::var(POSTGRES_URL_ENV) {
        if !url.trim().is_empty() {
            return url;
        }
    }
    tokio::task::spawn_blocking(|| throwaway_server().admin_url.clone())
        .await
        .unwrap_or_else(|e| panic!("starting the throwaway PostgreSQL server: {e}"))
}

/// `url` with its database name replaced by `database` (query string kept).
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{database}?{query}"),
        None => format!("{root}/{database}"),
    }
}

struct ThrowawayServer {
    admin_url: String,
    /// Its data directory (`postmaster.pid` names the server process).
    data: PathBuf,
    /// Held open for the life of the process; the watchdog cleans up when it closes.
    _watchdog: Mutex<ChildStdin>,
}

fn throwaway_server() -> &'static ThrowawayServer {
    static SERVER: OnceLock<Result<ThrowawayServer, String>> = OnceLock::new();
    match SERVER.get_or_init(start_server) {
        Ok(server) => server,
        Err(e) => panic!("cannot start a throwaway PostgreSQL server: {e}"),
    }
}

fn start_server() -> Result<ThrowawayServer, String> {
    let bin = pg_bin_dir()?;
    // Under /tmp rather than $TMPDIR: the postgres user must be able to reach it, and the
    // socket path inside it must stay under the ~107-byte unix socket limit.
    let parent = Path::new("/tmp");
    let parent = if parent.is_dir() {
        parent.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = tempfile::Builder::new()
        .prefix("pyth-on-pg-")
        .tempdir_in(parent)
        .map_err(|e| format!("creating a temporary directory: {e}"))?
        .keep();
    let as_root = std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    if as_root {
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir))?;
    }
    let data = dir.join("data");
    let pg = |tool: &str| -> Command {
        let program = bin.join(tool);
        if as_root {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        }
    };

    // The watchdog first, so the directory goes even if initdb or start fails.
    let mut stop = pg("pg_ctl");
    stop.arg("-D").arg(&data).args(["-m", "immediate", "stop"]);
    let mut watchdog = Command::new("sh");
    watchdog
        .arg("-c")
        .arg(r#"cat >/dev/null; "$@" >/dev/null 2>&1; rm -rf "$0""#)
        .arg(&dir)
        .arg(stop.get_program())
        .args(stop.get_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = watchdog
        .spawn()
        .map_err(|e| format!("spawning the watchdog: {e}"))?;
    let stdin = child.stdin.take().ok_or("watchdog has no stdin")?;

    run(pg("initdb").arg("-D").arg(&data).args([
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--no-locale",
        "-N",
    ]))?;

    let mut last_error = String::new();
    for _ in 0..3 {
        let port = free_port()?;
        let options = format!(
            "-F -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c listen_addresses=127.0.0.1 -c max_connections=300 -p {port} -k {}",
            dir.display()
        );
        let started = run(pg("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"]));
        match started {
            Ok(()) => {
                return Ok(ThrowawayServer {
                    admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
                    data,
                    _watchdog: Mutex::new(stdin),
                });
            }
            // Most likely another process took the port between probe and bind.
            Err(e) => last_error = e,
        }
    }
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    Err(format!("{last_error}\nserver log:\n{log}"))
}

/// A PostgreSQL server of the caller's own (not the shared throwaway one), for tests that
/// freeze or stop it. Stopped and deleted on drop.
pub struct PrivatePostgres {
    server: ThrowawayServer,
}

impl std::fmt::Debug for PrivatePostgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivatePostgres")
            .field("data", &self.server.data)
            .finish_non_exhaustive()
    }
}

impl PrivatePostgres {
    /// Starts one (`initdb` + `pg_ctl`, as for the throwaway server).
    pub fn start() -> Self {
        match start_server() {
            Ok(server) => Self { server },
            Err(e) => panic!("cannot start a private PostgreSQL server: {e}"),
        }
    }

    /// A URL of a fresh, empty database on it.
    pub async fn fresh_database_url(&self) -> String {
        let admin = &self.server.admin_url;
        let name = format!("test_{}", Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(admin)
            .await
            .unwrap_or_else(|e| panic!("connecting to the private PostgreSQL server: {e}"));
        sqlx::query(&format!("create database {name}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
        let _ = conn.close().await;
        with_database(admin, &name)
    }

    /// Sends `signal` (`STOP` freezes, `CONT` thaws) to the server and every process of it:
    /// connections stay open, nothing answers.
    pub fn signal(&self, signal: &str) {
        let pid_file = self.server.data.join("postmaster.pid");
        let text = std::fs::read_to_string(&pid_file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", pid_file.display()));
        let postmaster = text.lines().next().unwrap_or_default().trim().to_owned();
        let mut pids = vec![postmaster.clone()];
        pids.extend(children_of(&postmaster));
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .args(&pids)
            .status()
            .unwrap_or_else(|e| panic!("kill -{signal}: {e}"));
        assert!(status.success(), "kill -{signal} {pids:?} failed");
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // A frozen server could not stop: thaw it first (harmless when running).
        let _ = std::panic::catch_unwind(|| self.signal("CONT"));
    }
}

/// The pids whose parent is `pid`.
fn children_of(pid: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let child = entry.file_name().to_str()?.to_owned();
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`: comm may hold spaces, so split after its ')'.
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .to_owned();
            (ppid == pid).then_some(child)
        })
        .collect()
}

/// Where `initdb` and `pg_ctl` live.
fn pg_bin_dir() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var(PG_BIN_ENV) {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|dir| dir.join("initdb").exists())
        .ok_or_else(|| {
            format!(
                "no initdb found (install PostgreSQL, e.g. apt-get install postgresql, set \
                 {PG_BIN_ENV}, or point {POSTGRES_URL_ENV} at a server)"
            )
        })
}

fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("probing a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("probing a free port: {e}"))
}

/// Runs `cmd` to completion; a failure carries its output.
fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{:?}", cmd);
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => format!("{shown}: program not found"),
            _ => format!("{shown}: {e}"),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{shown} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_the_query_kept() {
        assert_eq!(
            with_database("postgres://u:p@h:5/postgres?sslmode=disable", "test_1"),
            "postgres://u:p@h:5/test_1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:5", "t"), "postgres://h:5/t");
        assert_eq!(with_database("postgres://h/db", "t"), "postgres://h/t");
    }
}
