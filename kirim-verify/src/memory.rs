//! The in-memory dedup store: one process, bounded, exact.

use std::collections::{BTreeMap, HashMap};
use std::future::{Future, ready};
use std::string::{String, ToString};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::dedup::{Claim, ClaimToken, DedupKey, DedupStore, Settled, StoreError};

/// Default bound on remembered keys.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

/// A [`DedupStore`] in this process's memory: the default for a single instance, tests and the
/// demo. Several instances behind a load balancer need a shared store (`kirim-dedup-redis`).
///
/// Bounded: at most `max_entries` keys (default 100 000, roughly 150 bytes each). Expired keys
/// are dropped as they come due; when the store is full of live keys, the one closest to
/// expiry is evicted. Eviction can let a very late retry through as a duplicate delivery, but
/// never refuses or loses an event: size the bound for your event rate × retention.
///
/// Every call takes one short lock and never waits on I/O, so it never times out.
///
/// ```
/// # tokio_test_block_on(async {
/// use std::time::Duration;
/// use kirim_verify::{Claim, DedupKey, DedupStore, MemoryStore};
///
/// let store = MemoryStore::new();
/// let key = DedupKey::new("kirim:", "evt", "evt_1");
/// let Claim::Acquired(token) = store.claim(&key, Duration::from_secs(30)).await? else {
///     panic!("a new key is free");
/// };
/// store.complete(&key, &token, Duration::from_secs(3600)).await?;
/// assert_eq!(store.claim(&key, Duration::from_secs(30)).await?, Claim::Done);
/// # Ok::<(), kirim_verify::StoreError>(())
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    next_token: AtomicU64,
    max_entries: usize,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Expiry index: (deadline, sequence) → key. The sequence makes equal deadlines distinct.
    deadlines: BTreeMap<(Instant, u64), String>,
    sequence: u64,
}

#[derive(Debug)]
struct Entry {
    state: State,
    deadline: (Instant, u64),
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    InProgress(ClaimToken),
    Done,
}

impl MemoryStore {
    /// An empty store holding at most [`DEFAULT_MAX_ENTRIES`] keys.
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Mutex::default(),
            next_token: AtomicU64::new(1),
            max_entries: DEFAULT_MAX_ENTRIES,
        }
    }

    /// Bounds the number of remembered keys (at least 1). Defaults to [`DEFAULT_MAX_ENTRIES`].
    #[must_use]
    pub fn with_max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries.max(1);
        self
    }

    /// The number of live keys (in progress or done).
    #[must_use]
    pub fn len(&self) -> usize {
        let mut inner = self.lock();
        inner.expire(Instant::now());
        inner.entries.len()
    }

    /// Whether no key is live.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-updated in a way that matters
        // (every method restores the index invariant before it can panic), so poison is ignored.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn claim_now(&self, key: &DedupKey, lease: Duration) -> Claim {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.expire(now);
        if let Some(entry) = inner.entries.get(key.as_str()) {
            return match entry.state {
                State::Done => Claim::Done,
                State::InProgress(_) => Claim::InProgress {
                    retry_after: entry.deadline.0.saturating_duration_since(now),
                },
            };
        }
        while inner.entries.len() >= self.max_entries {
            inner.evict_first();
        }
        let token = ClaimToken::new(self.next_token.fetch_add(1, Ordering::Relaxed).to_string());
        inner.insert(key.as_str(), State::InProgress(token.clone()), now + lease);
        Claim::Acquired(token)
    }

    fn settle_now(&self, key: &DedupKey, token: &ClaimToken, retain: Option<Duration>) -> Settled {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.expire(now);
        let held = matches!(
            inner.entries.get(key.as_str()),
            Some(Entry { state: State::InProgress(t), .. }) if t == token
        );
        if !held {
            return Settled::Stale;
        }
        inner.remove(key.as_str());
        if let Some(retention) = retain {
            inner.insert(key.as_str(), State::Done, now + retention);
        }
        Settled::Applied
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl Inner {
    fn insert(&mut self, key: &str, state: State, deadline: Instant) {
        self.sequence += 1;
        let deadline = (deadline, self.sequence);
        self.deadlines.insert(deadline, String::from(key));
        self.entries
            .insert(String::from(key), Entry { state, deadline });
    }

    fn remove(&mut self, key: &str) {
        if let Some(entry) = self.entries.remove(key) {
            self.deadlines.remove(&entry.deadline);
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some(entry) = self.deadlines.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            self.entries.remove(&key);
        }
    }

    fn evict_first(&mut self) {
        if let Some((_, key)) = self.deadlines.pop_first() {
            self.entries.remove(&key);
        }
    }
}

impl DedupStore for MemoryStore {
    fn claim(
        &self,
        key: &DedupKey,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        ready(Ok(self.claim_now(key, lease)))
    }

    fn complete(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
        retention: Duration,
    ) -> impl Future<Output = Result<Settled, StoreError>> + Send {
        ready(Ok(self.settle_now(key, token, Some(retention))))
    }

    fn release(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
    ) -> impl Future<Output = Result<Settled, StoreError>> + Send {
        ready(Ok(self.settle_now(key, token, None)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_store_evicts_the_entry_closest_to_expiry() {
        let store = MemoryStore::new().with_max_entries(2);
        let key = |id| DedupKey::new("", "evt", id);
        let long = Duration::from_secs(3600);
        let Claim::Acquired(a) = store.claim_now(&key("a"), long) else {
            panic!()
        };
        store.settle_now(&key("a"), &a, Some(Duration::from_secs(10)));
        let Claim::Acquired(_) = store.claim_now(&key("b"), long) else {
            panic!()
        };
        let Claim::Acquired(_) = store.claim_now(&key("c"), long) else {
            panic!()
        };
        assert_eq!(store.len(), 2);
        // "a" had the nearest deadline, so it went.
        assert!(matches!(
            store.claim_now(&key("b"), long),
            Claim::InProgress { .. }
        ));
        assert!(matches!(
            store.claim_now(&key("a"), long),
            Claim::Acquired(_)
        ));
    }

    #[test]
    fn expired_entries_free_their_slot() {
        let store = MemoryStore::new();
        let key = DedupKey::new("", "evt", "x");
        let Claim::Acquired(_) = store.claim_now(&key, Duration::ZERO) else {
            panic!()
        };
        assert!(store.is_empty());
        assert!(matches!(
            store.claim_now(&key, Duration::from_secs(1)),
            Claim::Acquired(_)
        ));
    }
}
