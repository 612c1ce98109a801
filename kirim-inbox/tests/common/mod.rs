//! Shared by the inbox tests: temporary SQLite files, signed webhooks.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kirim_verify::flow::names;
use kirim_verify::{Receiver, Secret, Signer, Verifier, Webhook};

static NEXT: AtomicU64 = AtomicU64::new(0);

pub const SECRET: &str = "whsec_inbox_tests";

/// A directory for one SQLite file, removed on drop.
pub struct TempFile {
    dir: PathBuf,
    name: &'static str,
}

impl TempFile {
    pub fn new(name: &'static str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "kirim-inbox-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir, name }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(self.name)
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path().display())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A receiver without dedup, as the inbox wants it.
pub fn receiver() -> Receiver {
    Receiver::new(Verifier::new([Secret::new(SECRET).unwrap()]).unwrap())
}

/// A verified webhook of `event` with `event_id`, signed at `t`, with `body`.
pub fn webhook_at(event: &str, event_id: &str, body: &[u8], t: u64) -> Webhook {
    let receiver = receiver();
    let signature = Signer::new([Secret::new(SECRET).unwrap()])
        .unwrap()
        .sign(t, body);
    let headers = [
        (names::SIGNATURE, signature.as_str()),
        (names::EVENT, event),
        (names::EVENT_ID, event_id),
        (names::SOURCE, "kirim"),
    ];
    let get = |name: &'static str| {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_bytes())
    };
    let mut intake = receiver.begin(get, None, t).unwrap();
    intake.push(Bytes::copy_from_slice(body)).unwrap();
    intake.finish(t).unwrap()
}

/// A fresh `contact.created` webhook for event id `id`.
pub fn webhook(id: &str) -> Webhook {
    let body = format!(r#"{{"id":"{id}","type":"contact.created","data":{{}}}}"#);
    webhook_at("contact.created", id, body.as_bytes(), now())
}

/// Stores `count` fresh webhooks whose event ids are `prefix` then a two-digit number; returns
/// the ids.
pub async fn store_each(inbox: &kirim_inbox::Inbox, prefix: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for n in 0..count {
        let id = format!("{prefix}{n:02}");
        let stored = inbox.accept(&webhook(&id)).await.unwrap();
        assert_eq!(stored, kirim_inbox::Accepted::Stored, "{id}");
        ids.push(id);
    }
    ids
}

/// Polls the inbox's counts until `done` holds; fails with `what` and the last counts after
/// 30 s.
pub async fn wait_for(
    inbox: &kirim_inbox::Inbox,
    what: &str,
    done: impl Fn(&kirim_inbox::Counts) -> bool,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let counts = inbox.counts().await.unwrap();
        if done(&counts) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {counts:?}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// A database for one test: a SQLite file, or a fresh database on its own PostgreSQL server.
pub struct Db {
    pub url: String,
    pub server: Option<kirim_test_support::postgres_server::PostgresServer>,
    _file: Option<TempFile>,
}

impl Db {
    pub fn sqlite() -> Self {
        let file = TempFile::new("inbox.db");
        Self {
            url: file.url(),
            server: None,
            _file: Some(file),
        }
    }

    pub fn postgres() -> Self {
        let server = kirim_test_support::postgres_server::PostgresServer::start();
        Self {
            url: server.create_database(),
            server: Some(server),
            _file: None,
        }
    }
}

/// Generates `mod sqlite { #[tokio::test] fn case() }` and `mod postgres { … }` for each
/// `case(db: Db)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::common::Db::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::common::Db::postgres()).await;
                }
            )*
        }
    };
}
