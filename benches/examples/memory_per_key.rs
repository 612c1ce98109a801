//! The in-memory store's resident memory per remembered key: fills a `MemoryStore` with
//! 100 000 done keys of 40 bytes (`kirim:evt:evt_` and 26 digits, an event key's usual shape)
//! and prints the growth of the process's resident set divided by the keys. Linux only (it
//! reads `/proc/self/statm`).
//!
//! ```sh
//! cargo run --release -p kirim-benches --example memory_per_key
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use kirim_verify::store::{Claim, ClaimToken, DedupKey, DedupStore, Settled};
use kirim_verify::{DEFAULT_MAX_ENTRIES, MemoryStore};

/// Resident bytes of this process.
fn resident() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Runs a future that completes on its first poll, as the in-memory store's do.
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the in-memory store never waits"),
    }
}

fn main() {
    let store = MemoryStore::new();
    let keys = DEFAULT_MAX_ENTRIES;
    let before = resident();
    for n in 0..keys {
        let key = DedupKey::new("kirim:", "evt", &format!("evt_{n:026}"));
        let token = ClaimToken::generate().unwrap();
        let claimed = ready(store.claim(&key, &token, Duration::from_secs(30))).unwrap();
        assert_eq!(claimed, Claim::Acquired);
        let completed = ready(store.complete(&key, &token, Duration::from_secs(3600))).unwrap();
        assert_eq!(completed, Settled::Applied);
    }
    assert_eq!(store.len(), keys);
    println!(
        "{} bytes per key ({keys} done keys of 40 bytes)",
        (resident() - before) / keys
    );
}
