//! `RateLimitStore` scenarios, with a simulated clock.

use std::sync::Arc;

use pyth_on_store::Store;

const T: i64 = 1_000; // 60 per minute
const BURST: u32 = 3;

pub async fn a_key_allows_its_burst_then_denies_then_refills(store: Arc<dyn Store>) {
    // Arrange
    let key = "user:ada";
    let start = 1_700_000_000_000;

    // Act + Assert: the burst.
    for remaining in [2, 1, 0] {
        let d = store.rate_limit(key, start, T, BURST).await.unwrap();
        assert!(d.allowed);
        assert_eq!((d.limit, d.remaining), (BURST, remaining));
    }
    // Then a denial that says when to come back.
    let denied = store.rate_limit(key, start + 10, T, BURST).await.unwrap();
    assert!(!denied.allowed);
    assert_eq!(denied.remaining, 0);
    assert_eq!(denied.retry_after_ms, 990);
    assert_eq!(denied.reset_after_ms, 2_990);
    // Still denied just before, allowed exactly at retry-after.
    assert!(
        !store
            .rate_limit(key, start + 999, T, BURST)
            .await
            .unwrap()
            .allowed
    );
    assert!(
        store
            .rate_limit(key, start + 1_000, T, BURST)
            .await
            .unwrap()
            .allowed
    );
    // After a long idle the whole burst is back.
    let later = store
        .rate_limit(key, start + 60_000, T, BURST)
        .await
        .unwrap();
    assert!(later.allowed);
    assert_eq!(later.remaining, 2);
}

pub async fn peeking_does_not_consume_a_cell(store: Arc<dyn Store>) {
    // Arrange
    let now = 5_000;
    store.rate_limit("ip:1", now, T, BURST).await.unwrap();

    // Act
    let peeked = store.rate_limit_peek("ip:1", now, T, BURST).await.unwrap();
    let peeked_again = store.rate_limit_peek("ip:1", now, T, BURST).await.unwrap();
    let unknown = store.rate_limit_peek("ip:2", now, T, BURST).await.unwrap();

    // Assert
    assert_eq!(peeked, peeked_again);
    assert!(peeked.allowed);
    assert_eq!(
        peeked.remaining, 1,
        "what the next real request would leave"
    );
    let taken = store.rate_limit("ip:1", now, T, BURST).await.unwrap();
    assert_eq!(taken, peeked);
    assert_eq!(unknown.remaining, BURST - 1);
}

pub async fn keys_have_independent_buckets(store: Arc<dyn Store>) {
    // Arrange
    for _ in 0..BURST {
        store.rate_limit("login:a", 0, T, BURST).await.unwrap();
    }

    // Act
    let a = store.rate_limit("login:a", 0, T, BURST).await.unwrap();
    let b = store.rate_limit("login:b", 0, T, BURST).await.unwrap();

    // Assert
    assert!(!a.allowed);
    assert!(b.allowed);
}

pub async fn purging_removes_only_keys_whose_tat_has_passed(store: Arc<dyn Store>) {
    // Arrange: "old" has TAT 1_000, "busy" has TAT 10_000 + 3 * T.
    store.rate_limit("old", 0, T, BURST).await.unwrap();
    for _ in 0..3 {
        store.rate_limit("busy", 10_000, T, BURST).await.unwrap();
    }

    // Act
    let purged = store.purge_rate_limits(5_000).await.unwrap();

    // Assert
    assert_eq!(purged, 1);
    assert!(
        !store
            .rate_limit("busy", 10_000, T, BURST)
            .await
            .unwrap()
            .allowed
    );
    let old = store.rate_limit_peek("old", 5_000, T, BURST).await.unwrap();
    assert_eq!(old.remaining, BURST - 1);
    assert_eq!(store.purge_rate_limits(5_000).await.unwrap(), 0);
}

pub async fn a_refund_gives_back_exactly_one_cell(store: Arc<dyn Store>) {
    // Arrange: the burst is spent.
    let now = 1_700_000_000_000;
    for _ in 0..BURST {
        assert!(
            store
                .rate_limit("zkpw", now, T, BURST)
                .await
                .unwrap()
                .allowed
        );
    }
    assert!(
        !store
            .rate_limit("zkpw", now, T, BURST)
            .await
            .unwrap()
            .allowed
    );

    // Act
    store.rate_limit_refund("zkpw", now + 10, T).await.unwrap();

    // Assert
    let peeked = store
        .rate_limit_peek("zkpw", now + 10, T, BURST)
        .await
        .unwrap();
    assert!(peeked.allowed);
    assert_eq!(peeked.remaining, 0);
    assert!(
        store
            .rate_limit("zkpw", now + 10, T, BURST)
            .await
            .unwrap()
            .allowed
    );
    let denied = store.rate_limit("zkpw", now + 10, T, BURST).await.unwrap();
    assert!(!denied.allowed);
    assert_eq!(denied.retry_after_ms, 990);
}

pub async fn a_refund_never_moves_the_tat_below_now(store: Arc<dyn Store>) {
    // Arrange: one cell taken at 0 (TAT 1_000).
    store.rate_limit("k", 0, T, BURST).await.unwrap();

    // Act: three refunds at 400 (one cell would move the TAT to 0; it stops at 400), and a
    // refund of a key that has no bucket.
    for _ in 0..3 {
        store.rate_limit_refund("k", 400, T).await.unwrap();
    }
    store.rate_limit_refund("unknown", 400, T).await.unwrap();

    // Assert: seen from an earlier clock (another node's), the TAT is 400, not below.
    let from_earlier_clock = store.rate_limit_peek("k", 0, T, BURST).await.unwrap();
    assert_eq!(from_earlier_clock.remaining, 1);
    assert_eq!(from_earlier_clock.reset_after_ms, 1_400);
    // At 400 the bucket is full and no fuller.
    let mut taken = 0;
    for _ in 0..=BURST {
        taken += u32::from(store.rate_limit("k", 400, T, BURST).await.unwrap().allowed);
    }
    assert_eq!(taken, BURST);
    // The refund did not create the unknown key (a created one, TAT 400, would be purged).
    assert_eq!(store.purge_rate_limits(401).await.unwrap(), 0);
}
