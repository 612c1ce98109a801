//! The handler under test's side: what it must answer, and what it saw.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kirim_verify::Receiver;

/// What the handler under test must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 200 `ok`.
    Ok,
    /// 500: the handler failed.
    Fail,
    /// Panic inside the handler.
    Panic,
}

/// Records what the handler under test saw. Cloned into the server's handler.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    calls: Arc<Mutex<Vec<Call>>>,
    pub(crate) running: Arc<AtomicUsize>,
}

/// One call of the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `X-Kirim-Event-Id` as the adapter reported it.
    pub event_id: String,
    /// `X-Kirim-Event` as the adapter reported it.
    pub event: String,
    /// The raw body the handler received.
    pub body: Vec<u8>,
    /// The index of the secret that verified it.
    pub secret_index: usize,
    /// The label of that secret.
    pub secret_label: Option<String>,
}

impl Call {
    /// What the adapter handed the handler: the verified webhook, as the core made it.
    pub fn of(webhook: &kirim_verify::Webhook) -> Self {
        Self {
            event_id: webhook.delivery().event_id().to_owned(),
            event: webhook.delivery().event().to_owned(),
            body: webhook.body().to_vec(),
            secret_index: webhook.verified().secret_index(),
            secret_label: webhook.verified().secret_label().map(str::to_owned),
        }
    }
}

impl Probe {
    /// Called by the handler under test with what the adapter gave it, and the raw value of
    /// [`BEHAVIOUR_HEADER`](super::BEHAVIOUR_HEADER); sleeps if asked, records the call, and says what to answer.
    pub async fn handle(&self, call: Call, behaviour: Option<&[u8]>) -> Outcome {
        self.running.fetch_add(1, Ordering::SeqCst);
        let behaviour = behaviour
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("");
        if let Some(ms) = behaviour.strip_prefix("sleep-") {
            let ms = ms.parse().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(call);
        self.running.fetch_sub(1, Ordering::SeqCst);
        match behaviour {
            "fail" => Outcome::Fail,
            "panic" => Outcome::Panic,
            _ => Outcome::Ok,
        }
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many times the handler ran for an event id.
    pub fn count(&self, event_id: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.event_id == event_id)
            .count()
    }
}

/// A running server under test; dropping it may stop the server.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Anything that must live as long as the server (a join handle, a shutdown sender).
    pub guard: Box<dyn std::any::Any + Send>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// How a test starts the adapter under test: given a [`Receiver`] and a [`Probe`], a server with
/// `POST /webhooks/kirim` wired through the adapter, whose handler calls [`Probe::handle`]. Any
/// `async fn(Receiver, Probe) -> TestServer`, or a closure returning such a future, is one.
/// Every case takes one.
pub trait Serve {
    /// Starts the server.
    fn serve(&self, receiver: Receiver, probe: Probe) -> impl Future<Output = TestServer>;
}

impl<F, Fut> Serve for F
where
    F: Fn(Receiver, Probe) -> Fut,
    Fut: Future<Output = TestServer>,
{
    fn serve(&self, receiver: Receiver, probe: Probe) -> impl Future<Output = TestServer> {
        self(receiver, probe)
    }
}
