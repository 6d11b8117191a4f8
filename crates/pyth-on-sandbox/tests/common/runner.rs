//! The runner under test: exec'd, or, with `PYTH_ON_TEST_SPAWNER=1`, forked by one runner
//! spawner shared by the test process (what the server does by default), so that the suites
//! run through both (scripts/test).

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use pyth_on_sandbox::netns::{NetnsLease, NetnsPool, PoolSizes};
use pyth_on_sandbox::spawner::{self, Answer};

const RUNNER: &str = env!("CARGO_BIN_EXE_pyth-on-runner");

/// A runner and this process's ends of its stdin and stdout.
pub struct Runner {
    pub stdin: Option<File>,
    pub stdout: Option<File>,
    process: Process,
    /// With `PYTH_ON_TEST_NETNS=1`: the network namespace leased to its sandbox, given back
    /// once the runner exited.
    netns: Option<NetnsLease>,
}

enum Process {
    Exec(Child),
    /// Forked by the spawner: a child of this process, by pid.
    Forked(i32),
}

impl Runner {
    /// A runner with an empty environment, forked in the spawner mode.
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// A runner forked by the test process's runner spawner, whatever the mode.
    pub fn start_forked() -> Self {
        forked()
    }

    /// A runner with `extra_env` (always exec'd then: a forked runner has the spawner's empty
    /// environment).
    pub fn start_with_env(extra_env: &[(&str, &str)]) -> Self {
        if extra_env.is_empty() && spawner_mode() {
            return forked();
        }
        let mut child = Command::new(RUNNER)
            .env_clear()
            .envs(extra_env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn runner");
        Runner {
            stdin: child.stdin.take().map(|s| File::from(OwnedFd::from(s))),
            stdout: child.stdout.take().map(|s| File::from(OwnedFd::from(s))),
            process: Process::Exec(child),
            netns: None,
        }
    }

    /// Waits for the runner to exit (and gives its network namespace back, as the launcher
    /// does after a clean teardown).
    pub fn wait(&mut self) {
        let clean = match &mut self.process {
            Process::Exec(child) => child.wait().unwrap().success(),
            Process::Forked(pid) => spawner::reap(*pid, false).unwrap() == Some(0),
        };
        if let Some(netns) = self.netns.take().filter(|_| clean) {
            netns.give_back();
        }
    }

    /// With `PYTH_ON_TEST_NETNS=1`, leases `spec` a network namespace from the test process's
    /// pool (what the launcher does by default), so that the suites run in reused namespaces.
    pub fn lease_netns(&mut self, spec: &mut pyth_on_sandbox::JobSpec) {
        if !netns_mode() {
            return;
        }
        let lease = netns_pool()
            .lease()
            .expect("a namespace ready in the test pool");
        spec.netns = Some(lease.reference());
        self.netns = Some(lease);
    }
}

/// Whether `PYTH_ON_TEST_NETNS=1` asks for leased network namespaces.
pub fn netns_mode() -> bool {
    std::env::var("PYTH_ON_TEST_NETNS").is_ok_and(|v| v == "1")
}

/// The test process's namespace pool, as large as the tests that run at once could need.
fn netns_pool() -> &'static NetnsPool {
    static POOL: OnceLock<NetnsPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let sizes = PoolSizes {
            ready: 64,
            max: 512,
        };
        let pool = NetnsPool::start(sizes, true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool.ready() < 64 {
            assert!(Instant::now() < deadline, "the namespace pool did not fill");
            std::thread::sleep(Duration::from_millis(5));
        }
        pool
    })
}

/// Whether `PYTH_ON_TEST_SPAWNER=1` asks for forked runners.
pub fn spawner_mode() -> bool {
    std::env::var("PYTH_ON_TEST_SPAWNER").is_ok_and(|v| v == "1")
}

fn forked() -> Runner {
    let control = shared_spawner().lock().unwrap_or_else(|e| e.into_inner());
    let requested = spawner::send_request(control.as_fd()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let pid = loop {
        match spawner::read_answer(control.as_fd()).unwrap() {
            Some(Answer::Spawned { pid, pidfd: _ }) => break pid,
            Some(Answer::Ready) => panic!("`ready` to a request"),
            None => {
                assert!(Instant::now() < deadline, "the spawner did not answer");
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    };
    Runner {
        stdin: Some(File::from(requested.stdin)),
        stdout: Some(File::from(requested.stdout)),
        process: Process::Forked(pid),
        netns: None,
    }
}

/// The control socket of the test process's spawner, started once from a thread that lives
/// as long as the process: the runners' parent thread, whose end would kill them
/// (`PR_SET_PDEATHSIG` follows the thread).
fn shared_spawner() -> &'static Mutex<OwnedFd> {
    static SPAWNER: OnceLock<Mutex<OwnedFd>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (control, theirs) = spawner::control_pair().unwrap();
            let spawner = Command::new(RUNNER)
                .arg(spawner::SPAWNER_ARG)
                .env_clear()
                .stdin(Stdio::from(theirs))
                .spawn()
                .expect("spawn the spawner");
            let deadline = Instant::now() + Duration::from_secs(10);
            while !matches!(
                spawner::read_answer(control.as_fd()).unwrap(),
                Some(Answer::Ready)
            ) {
                assert!(Instant::now() < deadline, "the spawner did not start");
                std::thread::sleep(Duration::from_millis(1));
            }
            tx.send(control).unwrap();
            let _serving = spawner;
            loop {
                std::thread::park();
            }
        });
        Mutex::new(rx.recv().unwrap())
    })
}
