//! The workload [`crate::three_nodes`] drives through the load balancer: what one client does
//! (API keys, secrets used in Python and JavaScript runs, a run with a stored package, audit
//! reads), the ledger of what the service acknowledged, and the check that every
//! acknowledged write is there afterwards. Every request opens a connection of its own, so
//! the balancer spreads them over the nodes (a pooled connection would stay on one).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use pyth_on_client::{Client, ClientError};
use pyth_on_types::{AuditEntry, CreatedKey, ExecuteRequest};
use uuid::Uuid;

/// Rounds of the workload each client runs.
pub const ROUNDS: usize = 4;

/// The greeting of the test index's `pythonhello`.
const GREETING: &str = "hello from pythonhello 1.0\n";

/// A registered account: its first API key and an access token.
pub struct Account {
    pub user_id: Uuid,
    pub key: String,
    pub token: String,
}

/// What the service acknowledged (answered 2xx) to one client, and what it lost.
#[derive(Default)]
pub struct Ledger {
    pub keys: Vec<CreatedKey>,
    pub secrets: Vec<String>,
    pub runs: Vec<Uuid>,
    /// Requests that got no answer (their connection was cut), by operation.
    pub lost: Vec<&'static str>,
}

/// A client of `url` with a connection of its own, authenticated with `key`.
pub fn with_key(url: &str, key: &str) -> Client {
    Client::new(url).unwrap().with_api_key(key)
}

/// A client of `url` with a connection of its own, authenticated with `token`.
pub fn with_token(url: &str, token: &str) -> Client {
    Client::new(url).unwrap().with_token(token)
}

/// Registers an account through `url`.
pub async fn register(url: &str) -> Account {
    let email = format!("user-{}@example.com", Uuid::now_v7().simple());
    let auth = Client::new(url)
        .unwrap()
        .register(&email, "correct horse battery staple")
        .await
        .unwrap();
    Account {
        user_id: auth.user.id,
        key: auth.api_key.unwrap(),
        token: auth.token,
    }
}

/// [`register`], then `pythonhello` stored as the account's Python package (the answer waits
/// for the environment: built on the node that took the request, or built again there when
/// another node built the same set).
pub async fn prepare(url: &str) -> Account {
    let account = register(url).await;
    with_key(url, &account.key)
        .add_package("pythonhello", Some("python"))
        .await
        .unwrap();
    account
}

impl Ledger {
    /// Notes the outcome of `op`: an answer is counted in `acks`; a request whose connection
    /// was cut is lost; any refusal or server error fails the test.
    fn settle<T>(
        &mut self,
        op: &'static str,
        acks: &AtomicUsize,
        r: Result<T, ClientError>,
    ) -> Option<T> {
        match r {
            Ok(value) => {
                acks.fetch_add(1, Ordering::SeqCst);
                Some(value)
            }
            Err(ClientError::Http(err)) => {
                eprintln!("{op}: no answer ({err})");
                self.lost.push(op);
                None
            }
            Err(other) => panic!("{op} was refused: {other:?}"),
        }
    }
}

/// One client's workload through `url`: each round creates an API key, stores a secret,
/// uses it in a Python run (its value redacted from the output), runs JavaScript and a
/// Python program importing the stored package, and reads the audit log, which must already
/// show the secret written through whichever node took it.
pub async fn drive(url: String, account: &Account, acks: &AtomicUsize) -> Ledger {
    let mut ledger = Ledger::default();
    let mut secret: Option<String> = None;
    for round in 0..ROUNDS {
        let key = with_token(&url, &account.token)
            .create_key(&format!("k{round}"))
            .await;
        if let Some(key) = ledger.settle("create key", acks, key) {
            ledger.keys.push(key);
        }
        let me = with_key(&url, &account.key);
        let (name, value) = (format!("S{round}"), format!("value-{}", Uuid::now_v7()));
        if ledger
            .settle("put secret", acks, me.put_secret(&name, &value).await)
            .is_some()
        {
            ledger.secrets.push(name.clone());
            secret = Some(name);
        }
        runs(&url, account, secret.as_deref(), acks, &mut ledger).await;
        let page = me.audit(Some(20), None, None).await;
        if let (Some(page), Some(name)) = (ledger.settle("audit", acks, page), &secret) {
            let seen = page
                .entries
                .iter()
                .any(|e| e.resource.as_deref() == Some(name));
            assert!(
                seen,
                "the audit log shows {name}'s write: {:?}",
                page.entries
            );
        }
    }
    ledger
}

/// The three runs of a round, each checked and recorded.
async fn runs(
    url: &str,
    account: &Account,
    secret: Option<&str>,
    acks: &AtomicUsize,
    ledger: &mut Ledger,
) {
    let (python, expected) = match secret {
        Some(name) => (
            format!("import os\nv = os.environ['{name}']\nprint(v)\nprint(len(v))"),
            "***\n42\n".to_owned(),
        ),
        None => (
            "print('no secret yet')".to_owned(),
            "no secret yet\n".to_owned(),
        ),
    };
    let package = "import time, pythonhello\ntime.sleep(0.3)\nprint(pythonhello.GREETING)";
    let jobs = [
        (python.as_str(), "python", expected.as_str()),
        ("console.log(21 * 2)", "javascript", "42\n"),
        (package, "python", GREETING),
    ];
    for (code, language, expected) in jobs {
        let request = ExecuteRequest {
            code: code.into(),
            language: Some(language.into()),
            ..Default::default()
        };
        let answer = with_key(url, &account.key).execute(&request).await;
        if let Some(run) = ledger.settle("run", acks, answer) {
            assert_eq!(
                (run.exit_code, run.output.as_str()),
                (0, expected),
                "{run:?}"
            );
            ledger.runs.push(run.execution_id);
        }
    }
}

/// Every write `ledger` says was acknowledged is there, read through `url`: the keys listed
/// and working, the secrets listed, each run's outcome on the audit log, the chain valid.
/// Returns how many runs are on the log without an outcome (lost with the killed node).
pub async fn every_acknowledged_write_is_there(
    url: &str,
    account: &Account,
    ledger: &Ledger,
) -> usize {
    let listed = with_token(url, &account.token).list_keys().await.unwrap();
    let listed: HashSet<Uuid> = listed.keys.iter().map(|k| k.id).collect();
    for key in &ledger.keys {
        assert!(listed.contains(&key.id), "key {} is listed", key.id);
        let me = with_key(url, &key.api_key).me().await.unwrap();
        assert_eq!(me.id, account.user_id);
    }
    let me = with_key(url, &account.key);
    let secrets = me.list_secrets().await.unwrap().secrets;
    for name in &ledger.secrets {
        assert!(secrets.iter().any(|s| &s.name == name), "{name} is stored");
    }
    let entries = whole_audit_log(&me).await;
    for run in &ledger.runs {
        // Its `started` entry and its outcome both name the run (its id) as resource.
        let run = Some(run.to_string());
        let mut entries = entries.iter().filter(|e| e.action == "execute");
        let ended = entries.find(|e| e.resource == run && e.outcome != "started");
        let outcome = ended.map(|e| e.outcome.as_str());
        assert_eq!(outcome, Some("success"), "run {run:?}");
    }
    let verification = me.verify_audit().await.unwrap();
    assert!(verification.valid, "{verification:?}");
    assert_eq!(verification.entries, entries.len() as u64);
    run_tally(&entries).0
}

/// The account's runs on the audit log that have no outcome yet, and those closed as
/// `interrupted` (their node died during them).
pub async fn runs_left_open_and_interrupted(url: &str, account: &Account) -> (usize, usize) {
    run_tally(&whole_audit_log(&with_key(url, &account.key)).await)
}

fn run_tally(entries: &[AuditEntry]) -> (usize, usize) {
    let runs = entries.iter().filter(|e| e.action == "execute");
    let (started, ended): (Vec<&AuditEntry>, Vec<&AuditEntry>) =
        runs.partition(|e| e.outcome == "started");
    let has_outcome = |run: &Option<String>| ended.iter().any(|e| &e.resource == run);
    let open = started.iter().filter(|e| !has_outcome(&e.resource)).count();
    let interrupted = ended.iter().filter(|e| e.outcome == "interrupted").count();
    (open, interrupted)
}

/// Every entry of the caller's audit log, newest first.
async fn whole_audit_log(me: &Client) -> Vec<AuditEntry> {
    let mut entries = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = me.audit(Some(100), before.as_deref(), None).await.unwrap();
        entries.extend(page.entries);
        match page.next_cursor {
            Some(cursor) => before = Some(cursor),
            None => return entries,
        }
    }
}
