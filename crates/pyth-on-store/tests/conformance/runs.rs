//! `RunRecordStore` scenarios: a run's start and outcome are audited with its open-run row,
//! a dead node's runs are found as stale (its own at its next start, anyone's past their
//! deadline), and an interrupted run is closed once only.

use std::sync::Arc;

use pyth_on_store::{verify_chain, CpuCharge, OpenRun, Store};
use time::Duration;
use uuid::Uuid;

use crate::support::{actions, event, now, registered};

fn open_run(user_id: Uuid, node: &str, deadline_in: Duration) -> OpenRun {
    let started_at = now();
    OpenRun {
        execution_id: Uuid::now_v7(),
        user_id,
        node: node.to_owned(),
        action: "execute".to_owned(),
        resource: Some("r".to_owned()),
        ip: Some("127.0.0.1".to_owned()),
        auth_method: Some("api_key".to_owned()),
        api_key_id: Some(Uuid::now_v7()),
        started_at,
        deadline_at: started_at + deadline_in,
    }
}

/// A run of `user_id` on "node-a", on the record with its `started` entry.
async fn begun(store: &Arc<dyn Store>, user_id: Uuid) -> OpenRun {
    let run = open_run(user_id, "node-a", Duration::minutes(5));
    store
        .begin_run(&run, &event(user_id, "execute"))
        .await
        .unwrap();
    run
}

pub async fn a_run_is_on_record_from_its_start_until_its_outcome(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let run = open_run(user.id, "node-a", Duration::minutes(5));

    // Act
    store
        .begin_run(&run, &event(user.id, "execute"))
        .await
        .unwrap();
    let while_running = store.stale_runs(Some("node-a"), now(), 10).await.unwrap();
    store
        .end_run(run.execution_id, &event(user.id, "execute"), None)
        .await
        .unwrap();

    // Assert
    assert_eq!(while_running, vec![run]);
    assert!(store
        .stale_runs(Some("node-a"), now(), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "execute", "execute"]
    );
    assert!(verify_chain(&store.audit_chain(user.id).await.unwrap()).valid);
}

pub async fn a_run_put_on_the_record_twice_is_refused_whole_and_the_store_stays_writable(
    store: Arc<dyn Store>,
) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let run = begun(&store, user.id).await;

    // Act: the same run again (its transaction fails at its first statement).
    let again = store.begin_run(&run, &event(user.id, "execute")).await;
    let other = begun(&store, user.id).await;
    store
        .end_run(run.execution_id, &event(user.id, "execute"), None)
        .await
        .unwrap();

    // Assert
    assert!(again.is_err(), "{again:?}");
    assert_eq!(
        store.stale_runs(Some("node-a"), now(), 10).await.unwrap(),
        vec![other]
    );
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "execute", "execute", "execute"]
    );
    assert!(verify_chain(&store.audit_chain(user.id).await.unwrap()).valid);
}

pub async fn another_nodes_runs_are_stale_only_past_their_deadline(store: Arc<dyn Store>) {
    let user = registered(&store, "ada@example.com").await;
    let live = open_run(user.id, "node-b", Duration::minutes(5));
    let overdue = open_run(user.id, "node-b", Duration::minutes(-1));
    for run in [&live, &overdue] {
        store
            .begin_run(run, &event(user.id, "execute"))
            .await
            .unwrap();
    }

    let seen_by_a = store.stale_runs(Some("node-a"), now(), 10).await.unwrap();
    let seen_by_b = store.stale_runs(Some("node-b"), now(), 10).await.unwrap();

    let seen_by_anyone = store.stale_runs(None, now(), 10).await.unwrap();

    assert_eq!(seen_by_a, vec![overdue.clone()]);
    assert_eq!(seen_by_anyone, vec![overdue.clone()]);
    assert_eq!(seen_by_b, vec![live, overdue]);
}

pub async fn an_interrupted_run_is_closed_once_and_its_late_outcome_still_lands(
    store: Arc<dyn Store>,
) {
    let user = registered(&store, "ada@example.com").await;
    let run = begun(&store, user.id).await;

    let first = store
        .interrupt_run(run.execution_id, &event(user.id, "execute"))
        .await
        .unwrap();
    let second = store
        .interrupt_run(run.execution_id, &event(user.id, "execute"))
        .await
        .unwrap();
    store
        .end_run(run.execution_id, &event(user.id, "execute"), None)
        .await
        .unwrap();

    assert!(first);
    assert!(!second);
    assert_eq!(actions(&store, user.id).await.len(), 4);
    assert!(store
        .stale_runs(Some("node-a"), now(), 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn a_runs_cpu_time_is_added_to_its_owners_day_with_its_outcome(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let entries_before = actions(&store, user.id).await.len();
    let (first, second) = (begun(&store, user.id).await, begun(&store, user.id).await);

    // Act
    let charge = |cpu_ms| {
        Some(CpuCharge {
            day: 20_000,
            cpu_ms,
        })
    };
    store
        .end_run(first.execution_id, &event(user.id, "execute"), charge(120))
        .await
        .unwrap();
    store
        .end_run(second.execution_id, &event(user.id, "execute"), charge(-5))
        .await
        .unwrap();

    // Assert
    let usage = store.day_usage(user.id, 20_000).await.unwrap();
    assert_eq!((usage.runs, usage.cpu_ms), (0, 120));
    assert_eq!(actions(&store, user.id).await.len(), entries_before + 4);
}

pub async fn an_outcome_that_cannot_be_appended_charges_nothing_and_leaves_the_run_open(
    store: Arc<dyn Store>,
) {
    // Arrange: the outcome reuses the id of an entry already in the chain.
    let user = registered(&store, "ada@example.com").await;
    let started = event(user.id, "execute");
    let run = open_run(user.id, "node-a", Duration::minutes(5));
    store.begin_run(&run, &started).await.unwrap();
    let outcome = pyth_on_store::AuditEvent {
        id: started.id,
        ..event(user.id, "execute")
    };
    let charge = Some(CpuCharge {
        day: 20_000,
        cpu_ms: 70,
    });

    // Act
    let result = store.end_run(run.execution_id, &outcome, charge).await;

    // Assert
    assert!(result.is_err(), "a duplicate entry id must fail the end");
    let usage = store.day_usage(user.id, 20_000).await.unwrap();
    assert_eq!(usage.cpu_ms, 0, "the charge was kept without its entry");
    let stale = store.stale_runs(Some("node-a"), now(), 10).await.unwrap();
    assert_eq!(
        stale.len(),
        1,
        "the run left the record without its outcome"
    );
    store
        .end_run(run.execution_id, &event(user.id, "execute"), charge)
        .await
        .unwrap();
    assert_eq!(store.day_usage(user.id, 20_000).await.unwrap().cpu_ms, 70);
}

pub async fn a_run_whose_account_was_deleted_ends_without_a_charge_or_an_entry(
    store: Arc<dyn Store>,
) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let run = begun(&store, user.id).await;
    assert!(store
        .delete_user(user.id, &[event(user.id, "account.delete")])
        .await
        .unwrap());
    let entries_after_deletion = store.audit_chain(user.id).await.unwrap().len();

    // Act
    let charge = Some(CpuCharge {
        day: 20_000,
        cpu_ms: 50,
    });
    store
        .end_run(run.execution_id, &event(user.id, "execute"), charge)
        .await
        .unwrap();

    // Assert
    let usage = store.day_usage(user.id, 20_000).await.unwrap();
    assert_eq!((usage.runs, usage.cpu_ms), (0, 0));
    let entries = store.audit_chain(user.id).await.unwrap().len();
    assert_eq!(entries, entries_after_deletion, "the outcome was appended");
}

pub async fn a_run_recorded_after_another_audited_change_extends_the_chain_after_it(
    store: Arc<dyn Store>,
) {
    // Arrange: a first run (a node that remembers heads now knows this user's), then an
    // entry written by another kind of change.
    let user = registered(&store, "ada@example.com").await;
    let first = begun(&store, user.id).await;
    store
        .end_run(first.execution_id, &event(user.id, "execute"), None)
        .await
        .unwrap();
    store
        .append_audit(&event(user.id, "secret.set"))
        .await
        .unwrap();

    // Act
    let second = begun(&store, user.id).await;
    store
        .end_run(second.execution_id, &event(user.id, "execute"), None)
        .await
        .unwrap();

    // Assert
    assert_eq!(
        actions(&store, user.id).await,
        [
            "auth.register",
            "execute",
            "execute",
            "secret.set",
            "execute",
            "execute"
        ]
    );
    assert!(verify_chain(&store.audit_chain(user.id).await.unwrap()).valid);
    assert!(store
        .stale_runs(Some("node-a"), now(), 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn runs_of_one_user_recorded_at_once_keep_one_unbroken_chain(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let warm = begun(&store, user.id).await;
    store
        .end_run(warm.execution_id, &event(user.id, "execute"), None)
        .await
        .unwrap();

    // Act: 16 runs from start to outcome and 4 other changes, all at once.
    let runs = (0..16).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let run = begun(&store, user.id).await;
            let charge = Some(CpuCharge {
                day: 20_000,
                cpu_ms: 1,
            });
            store
                .end_run(run.execution_id, &event(user.id, "execute"), charge)
                .await
                .unwrap();
        })
    });
    let others = (0..4).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .append_audit(&event(user.id, "secret.set"))
                .await
                .unwrap();
        })
    });
    let tasks: Vec<_> = runs.chain(others).collect();
    for task in tasks {
        task.await.unwrap();
    }

    // Assert
    let chain = store.audit_chain(user.id).await.unwrap();
    assert!(verify_chain(&chain).valid);
    assert_eq!(chain.len(), 1 + 2 + 32 + 4);
    assert_eq!(store.day_usage(user.id, 20_000).await.unwrap().cpu_ms, 16);
    assert!(store
        .stale_runs(Some("node-a"), now(), 10)
        .await
        .unwrap()
        .is_empty());
}
