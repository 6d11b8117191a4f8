//! Connection-level behaviour.

use std::sync::Arc;

use pyth_on_store::Store;

pub async fn a_store_answers_ping_and_names_its_backend(store: Arc<dyn Store>) {
    // Act
    store.ping().await.expect("ping");

    // Assert
    assert!(["sqlite", "postgres"].contains(&store.backend()));
}
