//! `QuotaStore` scenarios: overrides read back and audited, a day's runs counted up to a bound
//! (concurrently too) and given back, CPU added, sessions and encrypted-code bytes bounded.

use std::sync::Arc;

use pyth_on_store::{
    Constraint, DayUsage, PutOutcome, QuotaOverrideRow, RunReservation, SessionRecord, Store,
};
use time::Duration;
use uuid::Uuid;

use crate::support::{actions, event, now, registered, zk_code};

const UNBOUNDED: i64 = i64::MAX;

fn session(user_id: Uuid, node_url: &str) -> SessionRecord {
    let created_at = now();
    SessionRecord {
        session_id: Uuid::now_v7(),
        user_id,
        node_url: node_url.to_owned(),
        node_instance: Uuid::now_v7(),
        language: "python".to_owned(),
        memory_mb: 256,
        idle_timeout_secs: 600,
        max_lifetime_secs: 3600,
        created_at,
        last_used_at: created_at,
        expires_at: created_at + Duration::minutes(10),
    }
}

pub async fn overrides_are_absent_until_set_then_replaced_and_removed_with_an_audit_each(
    store: Arc<dyn Store>,
) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let admin = registered(&store, "root@example.com").await;
    let first = QuotaOverrideRow {
        runs_per_day: Some(5),
        storage_bytes: Some(0),
        ..QuotaOverrideRow::default()
    };
    let second = QuotaOverrideRow {
        cpu_seconds_per_day: Some(60),
        sessions: Some(2),
        ..QuotaOverrideRow::default()
    };

    // Act
    let before = store.quota_overrides(user.id).await.unwrap();
    store
        .set_quota_overrides(user.id, &first, now(), &[event(user.id, "quota.set")])
        .await
        .unwrap();
    let after_first = store.quota_overrides(user.id).await.unwrap();
    store
        .set_quota_overrides(user.id, &second, now(), &[event(admin.id, "admin.quota")])
        .await
        .unwrap();
    let after_second = store.quota_overrides(user.id).await.unwrap();
    let cleared = QuotaOverrideRow::default();
    store
        .set_quota_overrides(user.id, &cleared, now(), &[event(user.id, "quota.set")])
        .await
        .unwrap();

    // Assert
    assert_eq!(before, QuotaOverrideRow::default());
    assert_eq!(after_first, first);
    assert_eq!(after_second, second, "a replace sets every column");
    assert_eq!(store.quota_overrides(user.id).await.unwrap(), cleared);
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "quota.set", "quota.set"]
    );
    assert_eq!(
        actions(&store, admin.id).await,
        ["auth.register", "admin.quota"]
    );
}

pub async fn runs_are_counted_per_day_up_to_the_bound_and_a_refusal_counts_nothing(
    store: Arc<dyn Store>,
) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let day = 20_000;

    // Act
    let mut decisions = Vec::new();
    for _ in 0..3 {
        decisions.push(
            store
                .reserve_run(user.id, day, 2, UNBOUNDED, now())
                .await
                .unwrap(),
        );
    }
    let next_day = store
        .reserve_run(user.id, day + 1, 2, UNBOUNDED, now())
        .await
        .unwrap();

    // Assert
    let usage = |runs| DayUsage { runs, cpu_ms: 0 };
    assert_eq!(
        decisions,
        [
            RunReservation::Admitted(usage(1)),
            RunReservation::Admitted(usage(2)),
            RunReservation::Refused(usage(2)),
        ]
    );
    assert_eq!(
        next_day,
        RunReservation::Admitted(usage(1)),
        "a new day starts at zero"
    );
    assert_eq!(store.day_usage(user.id, day).await.unwrap(), usage(2));
}

pub async fn a_bound_of_zero_refuses_even_the_first_run_of_a_day(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;

    // Act
    let refused = store
        .reserve_run(user.id, 7, 0, UNBOUNDED, now())
        .await
        .unwrap();

    // Assert
    assert_eq!(refused, RunReservation::Refused(DayUsage::default()));
    assert_eq!(
        store.day_usage(user.id, 7).await.unwrap(),
        DayUsage::default()
    );
}

pub async fn a_users_overrides_replace_the_defaults_in_the_reservation_and_zero_is_unbounded(
    store: Arc<dyn Store>,
) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let runs = |n| QuotaOverrideRow {
        runs_per_day: Some(n),
        ..QuotaOverrideRow::default()
    };
    let cpu_seconds = |n| QuotaOverrideRow {
        cpu_seconds_per_day: Some(n),
        ..QuotaOverrideRow::default()
    };
    // (overrides, day, default runs, default CPU ms, admitted?); day 3 has 1,000 ms used.
    let cases = [
        (runs(1), 1, 10, UNBOUNDED, true),
        (runs(1), 1, 10, UNBOUNDED, false), // one run a day, whatever the default
        (runs(0), 2, 0, UNBOUNDED, true),   // 0: no bound, though the default refuses all
        (cpu_seconds(1), 3, 10, UNBOUNDED, false), // 1,000 ms, used up
        (cpu_seconds(i64::MAX), 3, 10, 1, true), // past what ms can count: no bound
        (runs(100), 3, 10, 1, false),       // the CPU left at its default, used up
        (QuotaOverrideRow::default(), 3, 10, UNBOUNDED, true), // removed: the defaults
    ];
    store.add_cpu_ms(user.id, 3, 1_000, now()).await.unwrap();

    for (i, (overrides, day, max_runs, max_cpu_ms, expected)) in cases.into_iter().enumerate() {
        // Act
        let audit = [event(user.id, "quota.set")];
        store
            .set_quota_overrides(user.id, &overrides, now(), &audit)
            .await
            .unwrap();
        let decision = store
            .reserve_run(user.id, day, max_runs, max_cpu_ms, now())
            .await
            .unwrap();

        // Assert
        let admitted = matches!(decision, RunReservation::Admitted(_));
        assert_eq!(admitted, expected, "case {i}: {overrides:?} {decision:?}");
    }
}

pub async fn cpu_time_is_added_and_a_used_up_day_refuses_runs(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let day = 20_000;
    store
        .reserve_run(user.id, day, 10, 1_000, now())
        .await
        .unwrap();

    // Act
    store.add_cpu_ms(user.id, day, 600, now()).await.unwrap();
    let under = store
        .reserve_run(user.id, day, 10, 1_000, now())
        .await
        .unwrap();
    store.add_cpu_ms(user.id, day, 500, now()).await.unwrap();
    let over = store
        .reserve_run(user.id, day, 10, 1_000, now())
        .await
        .unwrap();
    store.add_cpu_ms(user.id, day + 1, 42, now()).await.unwrap();

    // Assert
    assert_eq!(
        under,
        RunReservation::Admitted(DayUsage {
            runs: 2,
            cpu_ms: 600
        })
    );
    assert_eq!(
        over,
        RunReservation::Refused(DayUsage {
            runs: 2,
            cpu_ms: 1_100
        }),
        "a run may take the day past its CPU; the next one is refused"
    );
    assert_eq!(
        store.day_usage(user.id, day + 1).await.unwrap(),
        DayUsage {
            runs: 0,
            cpu_ms: 42
        },
        "CPU alone makes a day's row"
    );
}

pub async fn a_released_run_is_given_back_once_and_never_below_zero(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    store
        .reserve_run(user.id, 1, 1, UNBOUNDED, now())
        .await
        .unwrap();

    // Act
    store.release_run(user.id, 1, now()).await.unwrap();
    store.release_run(user.id, 1, now()).await.unwrap();
    store.release_run(user.id, 2, now()).await.unwrap();
    let again = store
        .reserve_run(user.id, 1, 1, UNBOUNDED, now())
        .await
        .unwrap();

    // Assert
    assert_eq!(
        again,
        RunReservation::Admitted(DayUsage { runs: 1, cpu_ms: 0 })
    );
    assert_eq!(
        store.day_usage(user.id, 2).await.unwrap(),
        DayUsage::default()
    );
}

pub async fn twenty_concurrent_reservations_against_five_admit_exactly_five(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;

    // Act
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.reserve_run(user.id, 9, 5, UNBOUNDED, now()).await })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        if let RunReservation::Admitted(_) = task.await.unwrap().unwrap() {
            admitted += 1;
        }
    }

    // Assert
    assert_eq!(admitted, 5);
    assert_eq!(store.day_usage(user.id, 9).await.unwrap().runs, 5);
}

pub async fn sessions_past_the_owners_bound_are_refused_on_every_node(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let other = registered(&store, "bob@example.com").await;
    let first = session(user.id, "http://10.0.0.5:8080");
    store.put_session_record_within(&first, 2).await.unwrap();

    // Act
    let second = store
        .put_session_record_within(&session(user.id, "http://10.0.0.6:8080"), 2)
        .await;
    let third = session(user.id, "http://10.0.0.5:8080");
    let refused = store
        .put_session_record_within(&third, 2)
        .await
        .unwrap_err();
    let others = store
        .put_session_record_within(&session(other.id, "http://10.0.0.5:8080"), 2)
        .await;
    let mut opened = first.clone();
    opened.created_at = first.created_at + Duration::seconds(1);
    opened.last_used_at = opened.created_at;
    opened.expires_at = opened.created_at + Duration::minutes(10);
    let moved = store.session_record_opened(&opened).await.unwrap();
    let read_back = store.session_record(first.session_id).await.unwrap();
    store.delete_session_record(first.session_id).await.unwrap();
    let gone = store.session_record_opened(&opened).await.unwrap();
    let after_an_end = store.put_session_record_within(&third, 2).await;

    // Assert
    second.unwrap();
    assert!(refused.is_conflict_on(Constraint::SessionQuota));
    others.unwrap();
    assert!(moved && !gone);
    assert_eq!(
        read_back,
        Some(opened),
        "the opened session's times replace the opening's"
    );
    after_an_end.unwrap();
    assert_eq!(store.session_records_of(user.id).await.unwrap().len(), 2);
}

pub async fn concurrent_session_records_never_pass_the_bound(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;

    // Act
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = store.clone();
            let record = session(user.id, &format!("http://10.0.0.{i}:8080"));
            tokio::spawn(async move { store.put_session_record_within(&record, 3).await })
        })
        .collect();
    let mut refused = 0;
    for task in tasks {
        if let Err(err) = task.await.unwrap() {
            assert!(err.is_conflict_on(Constraint::SessionQuota), "{err}");
            refused += 1;
        }
    }

    // Assert
    assert_eq!(refused, 7);
    assert_eq!(store.session_records_of(user.id).await.unwrap().len(), 3);
}

pub async fn encrypted_code_bytes_are_bounded_and_a_replace_counts_only_its_new_bytes(
    store: Arc<dyn Store>,
) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let ten = "0123456789";
    store
        .put_zk_code_within(
            &zk_code(user.id, "a", ten),
            100,
            25,
            &event(user.id, "zk.store"),
        )
        .await
        .unwrap();

    // Act
    let second = store
        .put_zk_code_within(
            &zk_code(user.id, "b", ten),
            100,
            25,
            &event(user.id, "zk.store"),
        )
        .await;
    let third = store
        .put_zk_code_within(
            &zk_code(user.id, "c", ten),
            100,
            25,
            &event(user.id, "zk.store"),
        )
        .await
        .unwrap_err();
    let bigger_a = zk_code(user.id, "a", "012345678901234");
    let replaced = store
        .put_zk_code_within(&bigger_a, 100, 25, &event(user.id, "zk.store"))
        .await;

    // Assert
    assert_eq!(second.unwrap(), PutOutcome::Created);
    assert!(third.is_conflict_on(Constraint::StorageQuota));
    assert_eq!(
        replaced.unwrap(),
        PutOutcome::Replaced,
        "15 + 10 bytes fit in 25"
    );
    assert_eq!(store.zk_code_bytes(user.id).await.unwrap(), 25);
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "zk.store", "zk.store", "zk.store"],
        "the refusal wrote no audit entry"
    );
}
