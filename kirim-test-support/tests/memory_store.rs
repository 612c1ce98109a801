//! The dedup store conformance suite against the in-memory store.

use std::sync::Arc;

use kirim_verify::MemoryStore;

kirim_test_support::dedup_store_conformance!(each_case, Arc::new(MemoryStore::new()));

#[tokio::test]
async fn all_cases_at_once_on_one_store() {
    kirim_test_support::store::run_all(Arc::new(MemoryStore::new())).await;
}
