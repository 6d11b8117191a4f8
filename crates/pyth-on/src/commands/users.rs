//! `pyth-on users`: the operator's accounts commands, run on the server's machine against its
//! database (no server needed): create the first administrator, list, disable, enable, change
//! a role, set quotas, delete. Each change is in the affected user's audit log with
//! `auth_method` `cli`.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use pyth_on_server::admin::{self, Actor};
use pyth_on_server::domain::{Email, Password};
use pyth_on_server::quotas;
use pyth_on_store::{NewUser, Role, Store};
use pyth_on_types::QuotaOverrides;
use time::OffsetDateTime;
use uuid::Uuid;

/// Manage accounts on this machine's database.
#[derive(Debug, clap::Args)]
pub struct Cmd {
    #[command(subcommand)]
    action: Action,
    /// Data directory of the server.
    #[arg(
        long,
        env = "PYTH_ON_DATA_DIR",
        default_value = "./pyth-on-data",
        global = true
    )]
    data_dir: PathBuf,
    /// Database; default SQLite in the data directory.
    #[arg(long, env = "PYTH_ON_DATABASE_URL", global = true)]
    database_url: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Create an account. The password is read from standard input (one line) when it is
    /// not a terminal; otherwise one is generated and printed once.
    Create {
        /// Its email.
        email: String,
        /// Make it an administrator.
        #[arg(long)]
        admin: bool,
    },
    /// List accounts (id, email, role, state).
    List,
    /// Disable an account: its keys and tokens are refused from their next request.
    Disable {
        /// Email or id.
        user: String,
    },
    /// Enable a disabled account.
    Enable {
        /// Email or id.
        user: String,
    },
    /// Set an account's role (`user` or `admin`).
    SetRole {
        /// Email or id.
        user: String,
        /// `user` or `admin`.
        #[arg(value_parser = ["user", "admin"])]
        role: String,
    },
    /// Delete an account and everything of it.
    Delete {
        /// Email or id.
        user: String,
    },
    /// Show an account's quota overrides, or change them: each flag given replaces that
    /// override (`0`: unlimited); `--reset` goes back to the server's defaults.
    Quota(QuotaArgs),
}

#[derive(Debug, clap::Args)]
struct QuotaArgs {
    /// Email or id.
    user: String,
    /// Runs per UTC day.
    #[arg(long)]
    runs_per_day: Option<u64>,
    /// CPU seconds per UTC day.
    #[arg(long)]
    cpu_seconds_per_day: Option<u64>,
    /// Sessions open at once, on every node.
    #[arg(long)]
    sessions: Option<u64>,
    /// MiB of encrypted code and package environments.
    #[arg(long)]
    storage_mb: Option<u64>,
    /// Remove every override first.
    #[arg(long)]
    reset: bool,
}

impl QuotaArgs {
    fn changes(&self) -> bool {
        self.reset
            || self.runs_per_day.is_some()
            || self.cpu_seconds_per_day.is_some()
            || self.sessions.is_some()
            || self.storage_mb.is_some()
    }

    /// `current` with the flags given applied.
    fn apply(&self, current: QuotaOverrides) -> QuotaOverrides {
        let base = if self.reset {
            QuotaOverrides::default()
        } else {
            current
        };
        QuotaOverrides {
            runs_per_day: self.runs_per_day.or(base.runs_per_day),
            cpu_seconds_per_day: self.cpu_seconds_per_day.or(base.cpu_seconds_per_day),
            sessions: self.sessions.or(base.sessions),
            storage_bytes: self
                .storage_mb
                .map(|mb| mb.saturating_mul(1024 * 1024))
                .or(base.storage_bytes),
        }
    }
}

impl Cmd {
    /// The SQLite database in the data directory. Only `create` makes one (the first
    /// administrator may be made before the server ever started), in a directory of mode
    /// 0700 as the server would, and says so; every other action needs the server's.
    fn sqlite_url(&self) -> anyhow::Result<String> {
        let db = self.data_dir.join("pyth-on.db");
        let exists = db.try_exists().unwrap_or(false);
        if exists {
            return Ok(format!("sqlite://{}?mode=rw", db.display()));
        }
        if !matches!(self.action, Action::Create { .. }) {
            bail!(
                "no database at {}: give the server's --data-dir (or PYTH_ON_DATABASE_URL)",
                db.display()
            );
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))?;
        eprintln!(
            "pyth-on: made a new database at {} (the server must use the same --data-dir)",
            db.display()
        );
        Ok(format!("sqlite://{}?mode=rwc", db.display()))
    }

    /// Runs the subcommand.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let url = match &self.database_url {
            Some(url) => url.clone(),
            None => self.sqlite_url()?,
        };
        let store = pyth_on_store::connect(&url)
            .await
            .context("opening the database")?;
        let store = store.as_ref();
        let actor = Actor::Operator;
        let mut out = std::io::stdout().lock();
        match self.action {
            Action::Create { email, admin } => create(store, &email, admin, &mut out).await?,
            Action::List => list(store, &mut out).await?,
            Action::Disable { user } => {
                let id = find(store, &user).await?;
                admin::set_disabled(store, &actor, id, true).await?;
                writeln!(out, "{user} is disabled")?;
            }
            Action::Enable { user } => {
                let id = find(store, &user).await?;
                admin::set_disabled(store, &actor, id, false).await?;
                writeln!(out, "{user} is enabled")?;
            }
            Action::SetRole { user, role } => {
                let id = find(store, &user).await?;
                let role = if role == "admin" {
                    Role::Admin
                } else {
                    Role::User
                };
                admin::set_role(store, &actor, id, role).await?;
                writeln!(out, "{user} is now {}", role.as_str())?;
            }
            Action::Delete { user } => {
                let id = find(store, &user).await?;
                admin::delete_user(store, &actor, id).await?;
                writeln!(out, "{user} is deleted")?;
            }
            Action::Quota(args) => quota(store, &args, &mut out).await?,
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The id of the account named by `user` (an id or an email).
async fn find(store: &dyn Store, user: &str) -> anyhow::Result<Uuid> {
    let found = match Uuid::parse_str(user.trim()) {
        Ok(id) => store.user_by_id(id).await?,
        Err(_) => {
            let email = Email::parse(user).map_err(|e| anyhow!("{user:?}: {}", e.message))?;
            store.user_by_email(email.as_str()).await?
        }
    };
    found
        .map(|u| u.id)
        .ok_or_else(|| anyhow!("no account {user:?}"))
}

/// The password from standard input (one line), or a generated one (then printed).
fn password() -> anyhow::Result<(String, bool)> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok((admin::generated_password(), true));
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    if line.is_empty() {
        return Ok((admin::generated_password(), true));
    }
    Ok((line, false))
}

async fn create(
    store: &dyn Store,
    email: &str,
    is_admin: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow!("{email:?}: {}", e.message))?;
    let (raw, generated) = password()?;
    let checked = Password::parse(raw.clone()).map_err(|e| anyhow!("{}", e.message))?;
    let hash = pyth_on_crypto::hash_password(&checked.into_inner())?;
    let role = if is_admin { Role::Admin } else { Role::User };
    let user = NewUser {
        id: Uuid::now_v7(),
        email: email.as_str().to_string(),
        password_hash: hash,
        created_at: OffsetDateTime::now_utc(),
        role,
    };
    let created = admin::create_user(store, &Actor::Operator, user).await?;
    writeln!(
        out,
        "created {} {} ({})",
        created.role.as_str(),
        created.email,
        created.id
    )?;
    if generated {
        writeln!(out, "password (shown once): {raw}")?;
    }
    Ok(())
}

async fn quota(store: &dyn Store, args: &QuotaArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let id = find(store, &args.user).await?;
    let mut overrides = quotas::from_row(&store.quota_overrides(id).await?);
    if args.changes() {
        overrides = args.apply(overrides);
        admin::set_quota(store, &Actor::Operator, id, &overrides).await?;
    }
    let shown = |v: Option<u64>| v.map_or_else(|| "default".to_string(), |v| v.to_string());
    writeln!(
        out,
        "runs per day:        {}",
        shown(overrides.runs_per_day)
    )?;
    writeln!(
        out,
        "CPU seconds per day: {}",
        shown(overrides.cpu_seconds_per_day)
    )?;
    writeln!(out, "sessions:            {}", shown(overrides.sessions))?;
    writeln!(
        out,
        "storage bytes:       {}",
        shown(overrides.storage_bytes)
    )?;
    Ok(())
}

async fn list(store: &dyn Store, out: &mut impl Write) -> anyhow::Result<()> {
    let mut after = None;
    loop {
        let page = store.list_users(after, 500).await?;
        for user in &page {
            let state = if user.disabled_at.is_some() {
                "disabled"
            } else {
                "enabled"
            };
            let role = user.role.as_str();
            writeln!(
                out,
                "{}  {:<5}  {:<8}  {}",
                user.id, role, state, user.email
            )?;
        }
        match page.last() {
            Some(last) if page.len() == 500 => after = Some(last.id),
            _ => return Ok(()),
        }
    }
}
