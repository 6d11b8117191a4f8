//! `SessionRecordStore` scenarios: a session is on the record from its opening until it ends,
//! a user's records on every node are listed, a restarted node clears what its earlier run
//! left, and records past their expiry are cleared by anyone.

use std::sync::Arc;

use pyth_on_store::{Constraint, SessionRecord, Store};
use time::Duration;
use uuid::Uuid;

use crate::support::{now, registered};

fn record(user_id: Uuid, node_url: &str, instance: Uuid) -> SessionRecord {
    let created_at = now();
    SessionRecord {
        session_id: Uuid::now_v7(),
        user_id,
        node_url: node_url.to_owned(),
        node_instance: instance,
        language: "python".to_owned(),
        memory_mb: 256,
        idle_timeout_secs: 600,
        max_lifetime_secs: 3600,
        created_at,
        last_used_at: created_at,
        expires_at: created_at + Duration::minutes(10),
    }
}

pub async fn a_session_is_on_record_from_its_opening_until_it_ends(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let opened = record(user.id, "http://10.0.0.5:8080", Uuid::now_v7());

    // Act
    store.put_session_record(&opened).await.unwrap();
    let while_open = store.session_record(opened.session_id).await.unwrap();
    let used_at = now() + Duration::seconds(5);
    let expires_at = used_at + Duration::minutes(10);
    store
        .touch_session_record(opened.session_id, used_at, expires_at)
        .await
        .unwrap();
    let after_a_cell = store.session_record(opened.session_id).await.unwrap();
    let ended = store
        .delete_session_record(opened.session_id)
        .await
        .unwrap();

    // Assert
    assert_eq!(while_open, Some(opened.clone()));
    let touched = after_a_cell.unwrap();
    assert_eq!(
        (touched.last_used_at, touched.expires_at),
        (used_at, expires_at)
    );
    assert_eq!(touched.created_at, opened.created_at);
    assert!(ended);
    assert_eq!(store.session_record(opened.session_id).await.unwrap(), None);
    assert!(!store
        .delete_session_record(opened.session_id)
        .await
        .unwrap());
}

pub async fn a_session_id_on_the_record_twice_is_a_conflict(store: Arc<dyn Store>) {
    let user = registered(&store, "ada@example.com").await;
    let opened = record(user.id, "http://a:8080", Uuid::now_v7());
    store.put_session_record(&opened).await.unwrap();

    let again = store.put_session_record(&opened).await.unwrap_err();

    assert!(
        again.is_conflict_on(Constraint::SessionRecordPkey),
        "{again:?}"
    );
}

pub async fn a_users_records_on_every_node_are_listed_oldest_first_and_no_one_elses(
    store: Arc<dyn Store>,
) {
    let ada = registered(&store, "ada@example.com").await;
    let bob = registered(&store, "bob@example.com").await;
    let mut first = record(ada.id, "http://a:8080", Uuid::now_v7());
    first.created_at -= Duration::minutes(1);
    let second = record(ada.id, "http://b:8080", Uuid::now_v7());
    let bobs = record(bob.id, "http://a:8080", Uuid::now_v7());
    for r in [&second, &bobs, &first] {
        store.put_session_record(r).await.unwrap();
    }

    let adas = store.session_records_of(ada.id).await.unwrap();

    assert_eq!(adas, vec![first, second]);
    assert_eq!(store.session_records_of(bob.id).await.unwrap(), vec![bobs]);
    assert!(store
        .session_records_of(Uuid::now_v7())
        .await
        .unwrap()
        .is_empty());
}

pub async fn a_restarted_node_clears_only_the_records_its_earlier_runs_left(store: Arc<dyn Store>) {
    let user = registered(&store, "ada@example.com").await;
    let (earlier, now_running) = (Uuid::now_v7(), Uuid::now_v7());
    let left_behind = record(user.id, "http://a:8080", earlier);
    let current = record(user.id, "http://a:8080", now_running);
    let elsewhere = record(user.id, "http://b:8080", earlier);
    for r in [&left_behind, &current, &elsewhere] {
        store.put_session_record(r).await.unwrap();
    }

    let cleared = store
        .delete_session_records_left_by("http://a:8080", now_running)
        .await
        .unwrap();

    assert_eq!(cleared, vec![left_behind]);
    let kept = store.session_records_of(user.id).await.unwrap();
    assert_eq!(kept, vec![current, elsewhere]);
}

pub async fn records_past_their_expiry_are_cleared_on_every_node_and_live_ones_kept(
    store: Arc<dyn Store>,
) {
    let user = registered(&store, "ada@example.com").await;
    let mut overdue = record(user.id, "http://a:8080", Uuid::now_v7());
    overdue.expires_at = now() - Duration::minutes(1);
    let live = record(user.id, "http://b:8080", Uuid::now_v7());
    for r in [&overdue, &live] {
        store.put_session_record(r).await.unwrap();
    }

    let cleared = store.delete_session_records_expired(now()).await.unwrap();

    assert_eq!(cleared, vec![overdue]);
    assert_eq!(store.session_records_of(user.id).await.unwrap(), vec![live]);
}
