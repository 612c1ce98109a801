//! The HTTP conformance suite both framework adapters pass: real requests over 127.0.0.1 to a
//! real server, checking every row of the spec's response table.
//!
//! An adapter's test provides one function: given a [`Receiver`](kirim_verify::Receiver) and a [`Probe`], start a server
//! with `POST /webhooks/kirim` wired through the adapter, whose handler calls
//! [`Probe::handle`] with the verified delivery and answers as the returned [`Outcome`] says.
//! Then [`http_conformance!`](crate::http_conformance) generates one `#[tokio::test]` per case.

mod client;
mod probe;
mod request;
mod suite;

pub mod cases;
pub mod fixtures;
pub mod load;

pub use client::{Answer, send, send_chunked, send_slowly, send_stalled, send_then_hang_up};
pub use probe::{Call, Outcome, Probe, Serve, TestServer};
pub use request::{SignedRequest, unique_id};
pub use suite::{receiver, verifier};

/// The route every adapter under test serves.
pub const ROUTE: &str = "/webhooks/kirim";

/// Test-only request header telling the handler how to behave: `fail`, `panic` or
/// `sleep-<ms>`. Not part of the Kirim protocol (and not signed, which does not matter here).
pub const BEHAVIOUR_HEADER: &str = "x-test-behaviour";

/// The body limit the suite configures.
pub const LIMIT: usize = 64 * 1024;

/// The current secret (index 0, label `current`).
pub const SECRET: &str = "whsec_test";
/// The secret being rotated in (index 1, label `next`).
pub const NEXT_SECRET: &str = "whsec_rotating";

/// Generates the two store-failure cases: `$down_store` is an `async fn() -> (store, guard)`
/// returning a real store whose backend is down (and whatever keeps it so); or, with
/// `redis: $spawn`, against a real Redis killed after the store connected.
#[macro_export]
macro_rules! http_store_down_conformance {
    // The store-down cases against a real Redis killed after the store connected; the calling
    // crate depends on `kirim-dedup-redis` (both adapters' tests do).
    (redis: $spawn:expr) => {
        async fn redis_down() -> (
            ::kirim_dedup_redis::RedisStore,
            ::std::boxed::Box<dyn ::std::any::Any + ::std::marker::Send>,
        ) {
            let mut server = $crate::redis_server::RedisServer::start();
            let store = ::kirim_dedup_redis::RedisStore::connect(server.url())
                .await
                .unwrap_or_else(|e| panic!("connect to the test redis: {e}"));
            server.kill();
            (store, ::std::boxed::Box::new(server))
        }

        $crate::http_store_down_conformance!($spawn, redis_down);
    };
    ($spawn:expr, $down_store:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn store_down_fails_closed() {
            $crate::http::cases::store_down_fails_closed($spawn, $down_store).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn store_down_fails_open() {
            $crate::http::cases::store_down_fails_open($spawn, $down_store).await;
        }
    };
}

/// Generates one `#[tokio::test]` per conformance case, each calling `$spawn`, an
/// `async fn(Receiver, Probe) -> TestServer` (or a closure returning such a future).
#[macro_export]
macro_rules! http_conformance {
    ($spawn:expr) => {
        $crate::http_conformance!(@cases $spawn;
            first_delivery_is_processed,
            retry_is_a_duplicate,
            replayed_signature_is_a_duplicate,
            slow_replay_past_the_tolerance_is_refused,
            stalled_body_is_408_at_the_body_timeout,
            rotation_is_accepted,
            message_status_changes_are_distinct,
            unknown_event_and_odd_bodies_are_acknowledged,
            bad_headers_are_400,
            bad_signatures_are_401,
            oversized_bodies_are_413,
            concurrent_identical_deliveries_run_once,
            failed_handler_is_retried,
            panicking_handler_is_retried,
            in_progress_is_503_with_retry_after,
            without_dedup_every_delivery_runs,
        );
    };
    (@cases $spawn:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::http::cases::$case($spawn).await;
            }
        )*
    };
}
