//! The conformance suite every [`DedupStore`] passes, written once.
//!
//! Each case is a generic async function taking the store under test. Every case makes its own
//! unique keys, so the cases can run concurrently and several suites can share one server. Run
//! them all with [`run_all`], or generate one `#[tokio::test]` per case with
//! [`dedup_store_conformance!`](crate::dedup_store_conformance).
//!
//! The cases check the store contract (claim, complete, release, leases, retention, stale
//! tokens, concurrency) and the receiving flow built on it ([`Receiver::process`](kirim_verify::Receiver::process)): the replay guard and the default key strategy.
//!
//! Cases panic on a failed check, as tests do.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kirim_verify::store::{DedupKey, DedupStore};

mod contract;
mod flow;

pub use contract::{
    completed_key_is_done, concurrent_claims_acquire_once, expired_lease_frees_the_key,
    expired_retention_frees_the_key, first_claim_acquires,
    late_claim_is_released_with_its_own_token, late_complete_after_reclaim_is_stale,
    released_key_is_free_again, second_claim_is_in_progress, stale_token_changes_nothing,
};
pub use flow::{
    failed_handler_releases_both_claims, lost_claim_answer_does_not_hold_the_retry,
    replay_with_fewer_signatures_is_a_duplicate, replayed_signature_is_a_duplicate,
    status_callbacks_are_distinct_events,
};

/// The short lease the timing cases use: long enough that the check right after a claim sees
/// it on a loaded machine, short enough to wait out.
pub const SHORT: Duration = Duration::from_secs(1);

/// A lease that does not run out during a case.
pub const LONG: Duration = Duration::from_secs(30);

/// How long past [`SHORT`] the timing cases wait, so that expiry has surely happened.
const MARGIN: Duration = Duration::from_millis(300);

/// How many claims [`concurrent_claims_acquire_once`] races.
pub const CONCURRENT_CLAIMS: usize = 64;

/// The secret the flow cases sign with.
const SECRET: &str = "whsec_store_conformance";

/// The secret being rotated out, in the rotation case.
const OLD_SECRET: &str = "whsec_store_conformance_old";

static NEXT_PREFIX: AtomicU64 = AtomicU64::new(0);

/// A key prefix no other case, suite or test process uses: `t:<case>:<pid>.<n>.<nanos>:`.
#[must_use]
pub fn unique_prefix(case: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "t:{case}:{}.{}.{nanos}:",
        std::process::id(),
        NEXT_PREFIX.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh event key for `case`.
#[must_use]
pub fn unique_key(case: &str) -> DedupKey {
    DedupKey::new(
        &unique_prefix(case),
        "evt",
        "evt_01HXYZABCDEFGHJKMNPQRSTVW1",
    )
}

/// One boxed case, as [`cases`] lists them.
pub type Case<S> = fn(S) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Every case by name, for [`run_all`]: the same list as
/// [`dedup_store_conformance!`](crate::dedup_store_conformance)'s, from one place.
#[must_use]
pub fn cases<S: DedupStore + Clone>() -> Vec<(&'static str, Case<S>)> {
    macro_rules! boxed {
        ($($case:ident),* $(,)?) => {
            vec![$((
                stringify!($case),
                (|store: S| -> Pin<Box<dyn Future<Output = ()> + Send>> {
                    Box::pin(async move { $case(&store).await })
                }) as Case<S>,
            )),*]
        };
    }
    crate::__store_cases!([boxed] [])
}

/// Runs every case concurrently on `store`, each on its own task.
///
/// # Panics
///
/// When a case fails, naming it.
pub async fn run_all<S: DedupStore + Clone>(store: S) {
    let running: Vec<_> = cases::<S>()
        .into_iter()
        .map(|(name, case)| (name, tokio::spawn(case(store.clone()))))
        .collect();
    let mut failures = Vec::new();
    for (name, task) in running {
        if let Err(error) = task.await {
            failures.push(format!("{name}: {}", panic_message(error)));
        }
    }
    assert!(
        failures.is_empty(),
        "conformance cases failed:\n{}",
        failures.join("\n")
    );
}

fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| String::from("panicked")),
        Err(error) => error.to_string(),
    }
}

/// Calls `$callback!($args… case, case, …)` with every conformance case: the one list of them.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_cases {
    ([$($callback:tt)+] [$($args:tt)*]) => {
        $($callback)+! {$($args)*
        first_claim_acquires,
        second_claim_is_in_progress,
        completed_key_is_done,
        released_key_is_free_again,
        late_claim_is_released_with_its_own_token,
        lost_claim_answer_does_not_hold_the_retry,
        stale_token_changes_nothing,
        expired_lease_frees_the_key,
        expired_retention_frees_the_key,
        late_complete_after_reclaim_is_stale,
        concurrent_claims_acquire_once,
        replayed_signature_is_a_duplicate,
        replay_with_fewer_signatures_is_a_duplicate,
        failed_handler_releases_both_claims,
        status_callbacks_are_distinct_events,
        }
    };
}

/// Generates one `#[tokio::test]` per conformance case, in a module named `$module`.
/// `$store` is an expression (evaluated in each test, inside the runtime, so it may `.await`)
/// giving a `DedupStore + Clone`, e.g. `Arc::new(MemoryStore::new())`.
///
/// ```
/// use std::sync::Arc;
/// use kirim_verify::MemoryStore;
///
/// kirim_test_support::dedup_store_conformance!(memory_store, Arc::new(MemoryStore::new()));
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! dedup_store_conformance {
    ($module:ident, $store:expr) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            $crate::__store_cases!([$crate::dedup_store_conformance] [@cases $store;]);
        }
    };
    (@cases $store:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store = $store;
                $crate::store::$case(&store).await;
            }
        )*
    };
}
