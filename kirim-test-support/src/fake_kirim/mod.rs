//! A fake Kirim management API: a real HTTP server on 127.0.0.1 that plays Kirim for the
//! client's and the CLI's tests, built from the spec (`shared/spec/kirim-api.md`).
//!
//! It holds subscriptions, their secrets (plaintext too, so a test can sign as Kirim would),
//! deliveries (seeded by the test) and an idempotency store, answers with Kirim's envelope and
//! `X-Request-Id`, checks the API key, and takes injected [`Fault`]s. Tests read its state
//! back ([`FakeKirim::subscription`], [`FakeKirim::deliveries`], [`FakeKirim::requests`]) to
//! assert what happened on the server, not only what the client said.
//!
//! It runs on its own thread and runtime, so a synchronous test (one that runs the CLI as a
//! process) can use it as well as an async one. It stops when dropped.
//!
//! Where the spec is silent, the fake decides, and the client is built to tolerate more:
//!
//! - the deliveries list answers `{"data": [...], "has_more": bool, "request_id"}`, newest
//!   first, and pages with `starting_after=<id>`; `limit` is 1 to 100 (default 10);
//! - a bulk replay queues the oldest matching deliveries first; `created_after` and
//!   `created_before` are exclusive;
//! - `expires_in_hours` sets the new secret's `expires_at`;
//! - deleting a secret answers `{"id", "object": "webhook_secret", "deleted": true}`;
//! - a disabled subscription answers `409 conflict subscription_disabled` to replays, bulk
//!   replays and any `PATCH` other than `status=active`;
//! - a request in flight under the same idempotency key is answered 409 at once (Kirim may
//!   wait up to 30 s first).
//!
//! Methods panic when the server cannot start: this is test support.
#![allow(clippy::expect_used)]

mod faults;
mod idempotency;
mod routes;
mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

pub use faults::{Fault, FaultRule};
pub use state::{DeliveryRecord, DeliverySeed, RecordedRequest, SecretRecord, SubscriptionRecord};

use state::State;

/// The API key the fake accepts unless another is given.
pub const FAKE_API_KEY: &str = "kdv_test_fake0000000000000000000000";

/// Kirim's cap on one bulk replay.
pub const BULK_REPLAY_CAP: usize = 1000;

pub(crate) struct Shared {
    pub(crate) api_key: String,
    pub(crate) state: Mutex<State>,
}

impl Shared {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves the state usable for its report.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A running fake Kirim API.
pub struct FakeKirim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for FakeKirim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeKirim")
            .field("addr", &self.addr)
            .finish()
    }
}

impl FakeKirim {
    /// Starts the fake on a free 127.0.0.1 port, accepting [`FAKE_API_KEY`].
    #[must_use]
    pub fn start() -> Self {
        Self::start_with_key(FAKE_API_KEY)
    }

    /// Starts the fake accepting `api_key`.
    #[must_use]
    pub fn start_with_key(api_key: &str) -> Self {
        let shared = Arc::new(Shared {
            api_key: api_key.to_owned(),
            state: Mutex::new(State::new()),
        });
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let app = routes::app(shared.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("fake kirim: build a tokio runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
                    .await
                    .expect("fake kirim: bind 127.0.0.1:0");
                let _ = addr_tx.send(listener.local_addr().expect("fake kirim: local address"));
                tokio::select! {
                    result = axum::serve(listener, app) => {
                        if let Err(error) = result {
                            eprintln!("fake kirim: server failed: {error}");
                        }
                    }
                    _ = shutdown_rx => {}
                }
            });
            // Stalled handlers are not waited for.
            runtime.shutdown_background();
        });
        let addr = addr_rx.recv().expect("fake kirim: the server thread died");
        Self {
            shared,
            addr,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        }
    }

    /// The base URL to give the client: `http://127.0.0.1:<port>/v1`.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The API key it accepts.
    #[must_use]
    pub fn api_key(&self) -> &str {
        &self.shared.api_key
    }

    /// The subscription as the server holds it now.
    #[must_use]
    pub fn subscription(&self, id: &str) -> Option<SubscriptionRecord> {
        self.shared.state().subscriptions.get(id).cloned()
    }

    /// Every subscription.
    #[must_use]
    pub fn subscriptions(&self) -> Vec<SubscriptionRecord> {
        self.shared
            .state()
            .subscriptions
            .values()
            .cloned()
            .collect()
    }

    /// A subscription with one secret, made directly (no request recorded).
    #[must_use]
    pub fn seed_subscription(&self, url: &str, events: &[&str]) -> SubscriptionRecord {
        let mut state = self.shared.state();
        let events = events.iter().map(|e| (*e).to_owned()).collect();
        state.create_subscription(url.to_owned(), events, None)
    }

    /// Adds deliveries to a subscription, returns their ids (oldest first).
    ///
    /// # Panics
    ///
    /// When the subscription does not exist.
    pub fn seed_deliveries(&self, subscription_id: &str, seed: &DeliverySeed) -> Vec<String> {
        let mut state = self.shared.state();
        assert!(
            state.subscriptions.contains_key(subscription_id),
            "fake kirim: no subscription {subscription_id}"
        );
        state.seed_deliveries(subscription_id, seed)
    }

    /// Every delivery of a subscription, oldest first.
    #[must_use]
    pub fn deliveries(&self, subscription_id: &str) -> Vec<DeliveryRecord> {
        self.shared.state().deliveries_of(subscription_id)
    }

    /// Disables a subscription as Kirim does after 24 failed deliveries.
    pub fn disable(&self, subscription_id: &str, reason: &str) {
        let mut state = self.shared.state();
        if let Some(subscription) = state.subscriptions.get_mut(subscription_id) {
            subscription.status = "disabled".to_owned();
            subscription.disabled_reason = Some(reason.to_owned());
            subscription.consecutive_failures = 24;
        }
    }

    /// Injects a fault for the requests the rule matches.
    pub fn inject(&self, rule: FaultRule) {
        self.shared.state().faults.push(rule);
    }

    /// Every request received, in order (the `Authorization` header is not kept).
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// Adds unknown fields to every answer object (forward compatibility). Defaults to off.
    pub fn set_extra_fields(&self, on: bool) {
        self.shared.state().extra_fields = on;
    }

    /// The bulk replay cap. Defaults to [`BULK_REPLAY_CAP`].
    pub fn set_bulk_cap(&self, cap: usize) {
        self.shared.state().bulk_cap = cap.max(1);
    }

    /// A signer holding the subscription's active secrets, labelled by their ids: it signs as
    /// Kirim does (one `v1` per active secret).
    ///
    /// # Panics
    ///
    /// When the subscription does not exist or has no secret.
    #[must_use]
    pub fn signer(&self, subscription_id: &str) -> kirim_verify::Signer {
        let subscription = self
            .subscription(subscription_id)
            .expect("fake kirim: no such subscription");
        let secrets = subscription.secrets.iter().map(|s| {
            kirim_verify::Secret::new(s.value.clone())
                .expect("fake kirim: its own secrets are valid")
                .with_label(s.id.clone())
        });
        kirim_verify::Signer::new(secrets).expect("fake kirim: a subscription has a secret")
    }
}

impl Drop for FakeKirim {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
