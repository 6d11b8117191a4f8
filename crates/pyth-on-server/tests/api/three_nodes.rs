//! Scale-out as deployed: three `pyth-on serve` processes on one throwaway PostgreSQL and one
//! key directory, behind a round-robin load balancer ([`crate::proxy`]), each keeping its own
//! package environments. An access token issued by one node works on the others; a per-user
//! rate limit holds across the nodes; concurrent clients drive a workload
//! ([`crate::three_nodes_workload`]) during which one node is killed with `SIGKILL`; afterwards
//! every acknowledged write is there, the audit chain verifies, and the requests the kill cut
//! are few and were never acknowledged.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

use crate::node_process::{Deployment, NodeProcess};
use crate::proxy::Proxy;
use crate::three_nodes_workload::{self as workload, Account, Ledger};

/// Concurrent clients of the workload.
const CLIENTS: usize = 4;
/// The per-user limit of every node (requests per minute, also the burst).
const RATE_LIMIT: u32 = 60;
/// The node killed, and after how many acknowledged requests of the workload.
const KILLED: usize = 1;
const KILL_AFTER: usize = 30;

#[tokio::test]
async fn a_node_killed_behind_the_balancer_loses_no_acknowledged_write_and_limits_stay_global() {
    let began = Instant::now();
    let index = crate::package_index::start_index().await;
    let shared = tempfile::tempdir().unwrap();
    let deployment = Deployment {
        database_url: pyth_on_store::testing::test_postgres_url().await,
        key_dir: shared.path().join("keys"),
        pypi_index_url: format!("{}/simple/", index.url),
        rate_limit_per_minute: RATE_LIMIT,
    };
    let mut nodes = Vec::new();
    for i in 0..3 {
        // One at a time: the first creates the key directory the others load.
        nodes.push(NodeProcess::start(&deployment, 1_650_900_000 + 100 * i).await);
    }
    let backends: Vec<_> = nodes.iter().map(|n| n.addr).collect();
    let proxy = Proxy::start(&backends).await;
    let from_the_killed_node = tokens_of_each_node_work_on_the_others(&nodes).await;
    the_rate_limit_holds_across_the_nodes(&proxy).await;
    let url = proxy.url();
    let accounts = futures::future::join_all((0..CLIENTS).map(|_| workload::prepare(&url))).await;

    let (ledgers, kill) = drive_and_kill(&proxy, &mut nodes[KILLED], accounts).await;

    let mut unfinished = 0;
    for (account, ledger) in &ledgers {
        unfinished +=
            workload::every_acknowledged_write_is_there(&proxy.url(), account, ledger).await;
    }
    let lost: usize = ledgers.iter().map(|(_, l)| l.lost.len()).sum();
    assert!(
        lost <= CLIENTS,
        "at most one request in flight per client was cut: {lost}"
    );
    assert!(
        unfinished <= lost,
        "{unfinished} runs without an outcome, {lost} requests lost"
    );
    the_balancer_routed_around_the_dead_node(&proxy, &kill, &from_the_killed_node).await;
    let interrupted =
        the_restarted_node_closes_the_runs_it_left_open(&mut nodes[KILLED], &deployment, &ledgers)
            .await;
    assert_eq!(interrupted, unfinished);
    each_surviving_node_keeps_its_own_copy_of_the_package_environment(&nodes);
    report(&proxy, &kill, (lost, unfinished), began.elapsed());
}

/// After the kill nothing reached the dead node, the others took its share, and the access
/// token the dead node issued still works through the balancer.
async fn the_balancer_routed_around_the_dead_node(proxy: &Proxy, kill: &Kill, issued: &Account) {
    for _ in 0..4 {
        let me = workload::with_token(&proxy.url(), &issued.token).me().await;
        assert_eq!(me.unwrap().id, issued.user_id);
    }
    let after = proxy.stats();
    assert_eq!(
        after[KILLED].served, kill.served_by_the_dead,
        "nothing went to the dead node"
    );
    for (i, stats) in after.iter().enumerate().filter(|(i, _)| *i != KILLED) {
        assert!(
            stats.served > kill.stats[i].served,
            "node {i} took over: {after:?}"
        );
    }
}

/// What the kill left: the balancer's counters just before it, when it happened, what the
/// dead node had served, and how many requests the workload had acknowledged.
struct Kill {
    stats: Vec<crate::proxy::BackendStats>,
    at: Instant,
    served_by_the_dead: usize,
    acked_before: usize,
    acked_total: usize,
}

/// Runs the workload of every account at once through `proxy` and kills `victim` once
/// [`KILL_AFTER`] requests were acknowledged.
async fn drive_and_kill(
    proxy: &Proxy,
    victim: &mut NodeProcess,
    accounts: Vec<Account>,
) -> (Vec<(Account, Ledger)>, Kill) {
    let acks = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = accounts
        .into_iter()
        .map(|account| {
            let (url, acks) = (proxy.url(), Arc::clone(&acks));
            tokio::spawn(async move {
                let ledger = workload::drive(url, &account, &acks).await;
                (account, ledger)
            })
        })
        .collect();
    // Killed while it serves a request, once the workload is well under way.
    while acks.load(Ordering::SeqCst) < KILL_AFTER || proxy.stats()[KILLED].open == 0 {
        assert!(
            !clients.iter().all(|c| c.is_finished()),
            "the workload ended before the kill"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stats = proxy.stats();
    victim.kill();
    let at = Instant::now();
    let (served_by_the_dead, acked_before) =
        (proxy.stats()[KILLED].served, acks.load(Ordering::SeqCst));
    let mut ledgers = Vec::new();
    for client in clients {
        ledgers.push(client.await.unwrap());
    }
    let acked_total = acks.load(Ordering::SeqCst);
    assert!(
        acked_total > acked_before + 20,
        "the workload went on after the kill: {acked_total}"
    );
    let kill = Kill {
        stats,
        at,
        served_by_the_dead,
        acked_before,
        acked_total,
    };
    (ledgers, kill)
}

/// An account registered directly on each node; its access token is accepted by each other
/// node. Returns the account made on the node the test kills.
async fn tokens_of_each_node_work_on_the_others(nodes: &[NodeProcess]) -> Account {
    let mut made_on_the_victim = None;
    for (i, issuer) in nodes.iter().enumerate() {
        let email = format!("issuer-{i}-{}@example.com", uuid::Uuid::now_v7().simple());
        let auth = issuer
            .client
            .register(&email, "correct horse battery staple")
            .await
            .unwrap();
        for other in nodes.iter().filter(|n| n.addr != issuer.addr) {
            let me = other.client.with_token(&auth.token).me().await;
            assert_eq!(me.unwrap().id, auth.user.id, "node {i}'s token elsewhere");
        }
        if i == KILLED {
            made_on_the_victim = Some(Account {
                user_id: auth.user.id,
                key: auth.api_key.unwrap(),
                token: auth.token,
            });
        }
    }
    made_on_the_victim.unwrap()
}

/// Three times the limit in requests at once, spread over every node by the balancer: the
/// nodes together accept the burst (the limit) plus what refilled meanwhile, no more.
async fn the_rate_limit_holds_across_the_nodes(proxy: &Proxy) {
    let account = workload::register(&proxy.url()).await;
    let before = proxy.stats();
    let started = Instant::now();
    let burst = (0..3 * RATE_LIMIT).map(|_| async {
        let client = workload::with_key(&proxy.url(), &account.key);
        let response = client
            .request(Method::GET, "/api/v1/secrets")
            .send()
            .await
            .unwrap();
        response.status()
    });
    let statuses = futures::future::join_all(burst).await;
    let took = started.elapsed();
    let accepted = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(accepted + refused, statuses.len(), "{statuses:?}");
    let interval = Duration::from_millis(60_000 / u64::from(RATE_LIMIT));
    let refilled = usize::try_from(took.as_millis() / interval.as_millis()).unwrap() + 1;
    let limit = RATE_LIMIT as usize;
    assert!(
        (limit..=limit + refilled).contains(&accepted),
        "{accepted} accepted of {} in {took:?} (limit {limit}, {refilled} refilled)",
        statuses.len()
    );
    let after = proxy.stats();
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        assert!(
            a.served >= b.served + 50,
            "node {i} took part in the burst: {after:?}"
        );
    }
    eprintln!(
        "rate limit: {accepted} accepted, {refused} refused (429) of a burst of {} in {took:?}",
        statuses.len()
    );
}

/// Starts the killed node again in place: before it serves, it closes as `interrupted` the
/// runs it died during, so no run is left without an outcome. Returns how many it closed.
async fn the_restarted_node_closes_the_runs_it_left_open(
    node: &mut NodeProcess,
    deployment: &Deployment,
    ledgers: &[(Account, Ledger)],
) -> usize {
    node.restart(deployment).await;
    let mut interrupted = 0;
    for (account, _) in ledgers {
        let url = format!("http://{}", node.addr);
        let (open, closed) = workload::runs_left_open_and_interrupted(&url, account).await;
        assert_eq!(open, 0, "every run has an outcome");
        interrupted += closed;
    }
    interrupted
}

/// Package environments are not shared: each node that ran the stored set built it into its
/// own data directory (the set's list and build state are shared through the database).
fn each_surviving_node_keeps_its_own_copy_of_the_package_environment(nodes: &[NodeProcess]) {
    let survivors: Vec<&NodeProcess> = nodes
        .iter()
        .filter(|n| n.addr != nodes[KILLED].addr)
        .collect();
    let envs: Vec<Vec<String>> = survivors.iter().map(|n| n.environments()).collect();
    assert_eq!(envs[0].len(), 1, "{envs:?}");
    assert_eq!(envs[0], envs[1], "one set, one key, a copy on each node");
}

/// What the test measured, for `--nocapture`.
fn report(proxy: &Proxy, kill: &Kill, (lost, unfinished): (usize, usize), took: Duration) {
    let failovers = proxy.failovers();
    let slowest = failovers.iter().max().copied().unwrap_or_default();
    let first_refusal_after = failovers.len();
    eprintln!(
        "kill: {} requests acknowledged before, {} in all; {} connections open on the killed node; \
         {lost} requests cut (no answer), {unfinished} runs left without an outcome (closed as interrupted by its restart)",
        kill.acked_before, kill.acked_total, kill.stats[KILLED].open
    );
    eprintln!(
        "balancer: {} connection attempts refused by the dead node; {first_refusal_after} client \
         connections routed around it, the slowest in {slowest:?}; {:?} since the kill",
        proxy.stats()[KILLED].refused,
        kill.at.elapsed()
    );
    eprintln!("served per node: {:?}; whole test {took:?}", proxy.stats());
}
