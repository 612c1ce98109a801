//! The in-memory dedup store: one process, bounded, exact up to a 128-bit keyed hash.

use core::future::{Future, ready};
use core::hash::BuildHasher;
use core::time::Duration;
use std::collections::{BTreeMap, VecDeque};
use std::hash::RandomState;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;
use std::vec::Vec;

use hashbrown::HashTable;

use crate::dedup_store::{Claim, ClaimToken, DedupStore, Settled, StoreError};
use crate::key::DedupKey;

/// Default bound on remembered keys.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

/// A [`DedupStore`] in this process's memory: the default for a single instance, tests and the
/// demo. Several instances behind a load balancer need a shared store (`kirim-dedup-redis`).
///
/// Bounded: at most `max_entries` keys (default 100 000; about 110 bytes each whatever the
/// key's length, as `benches/examples/memory_per_key.rs` measures: a key is remembered by two
/// 64-bit SipHashes under a random key of this store's, never by its text, so two keys are
/// taken for one with probability 2⁻¹²⁸, and a sender cannot choose ids that collide). Expired keys are dropped as they come due. When the
/// store is full, the *done* key completed longest ago is evicted: the oldest memory goes
/// first, which can at worst let a very late retry through as a duplicate delivery. Not the key closest to expiry: the replay guard's keys are kept only
/// for the tolerance window, minutes against the events' days, so they would always go first,
/// and a replay under a new event id would get through seconds after the original. A claim in
/// progress is never evicted (that would let a second worker take an event whose handler is
/// still running). A store full of claims in progress refuses new ones with
/// [`StoreError::Full`], which the receiver answers 503 so Kirim retries. Size the bound for your
/// event rate × retention (two keys per event with the replay guard on).
///
/// Every call takes one short lock and never waits on I/O, so it never times out.
///
/// ```
/// # tokio_test_block_on(async {
/// use std::time::Duration;
/// use kirim_verify::MemoryStore;
/// use kirim_verify::store::{Claim, ClaimToken, DedupKey, DedupStore};
///
/// let store = MemoryStore::new();
/// let key = DedupKey::new("kirim:", "evt", "evt_1");
/// let token = ClaimToken::generate()?;
/// let lease = Duration::from_secs(30);
/// assert_eq!(store.claim(&key, &token, lease).await?, Claim::Acquired);
/// store.complete(&key, &token, Duration::from_secs(3600)).await?;
/// let retry = ClaimToken::generate()?;
/// assert_eq!(store.claim(&key, &retry, lease).await?, Claim::Done);
/// # Ok::<(), kirim_verify::store::StoreError>(())
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    max_entries: usize,
}

/// A key's identity: two 64-bit SipHashes of its text under the store's random key, of two
/// distinct inputs (a PRF's outputs on distinct inputs are independent). The first places it
/// in the table; both together tell it from any other key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Id {
    hash: u64,
    check: u64,
}

/// When an entry expires: (deadline, sequence), the sequence making equal deadlines distinct.
/// A done key's sequence is taken when it completes, so it also orders completions.
type Deadline = (Instant, u64);

/// Far enough ahead to mean "never" for a lease or retention too long for [`Instant`].
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Distinct retentions with a queue of their own. The receiving flow uses two (the events'
/// and the replay guard's); a caller passing more shares the last queue, whose keys then
/// leave memory in completion order rather than exactly at their deadline (they are
/// forgotten at their deadline all the same: a lookup checks it).
const MAX_RETENTION_QUEUES: usize = 8;

#[derive(Debug, Default)]
struct Inner {
    /// Every live key, by its [`Id`], computed once per call and kept with the entry: a key
    /// found through an index is removed without hashing anything, growing the table rehashes
    /// nothing, and no key's text is allocated, kept or compared.
    entries: HashTable<Entry>,
    /// Keyed SipHash, random per store, as `std`'s maps use.
    hasher: RandomState,
    /// Claims in progress, by lease expiry, with their tokens. Only the claims in flight:
    /// small, where a token kept in every entry would double the table.
    leases: BTreeMap<Deadline, Lease>,
    /// Done keys, one queue per retention, each in completion order, which for one retention
    /// is also deadline order: expiry pops fronts, and eviction the oldest front. Constant
    /// time, where a tree over every done key cost a walk through a hundred thousand of them.
    done: Vec<DoneQueue>,
    sequence: u64,
}

#[derive(Debug)]
struct Entry {
    id: Id,
    /// The lease's deadline while in progress, the retention's once done.
    deadline: Deadline,
    done: bool,
}

impl Entry {
    fn is_live(&self, now: Instant) -> bool {
        self.deadline.0 > now
    }
}

#[derive(Debug)]
struct Lease {
    id: Id,
    token: ClaimToken,
}

#[derive(Debug)]
struct DoneQueue {
    retention: Duration,
    keys: VecDeque<Queued>,
}

/// A done key in its queue. Its deadline's sequence tells the key still done under this
/// completion from one that expired and was claimed again since.
#[derive(Debug)]
struct Queued {
    deadline: Deadline,
    id: Id,
}

impl MemoryStore {
    /// An empty store holding at most [`DEFAULT_MAX_ENTRIES`] keys.
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Mutex::default(),
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
        let now = Instant::now();
        inner.expire(now);
        inner.entries.iter().filter(|e| e.is_live(now)).count()
    }

    /// Whether no key is live.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every method restores the maps' invariants before anything that could panic, so a
        // poisoned lock holds consistent state: use it.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn claim_now(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let mut inner = self.lock();
        // Read under the lock, so that the deadlines of one retention are in completion order.
        let now = Instant::now();
        inner.expire(now);
        let id = inner.id(key);
        if let Ok(found) = inner.entries.find_entry(id.hash, is(id)) {
            let entry = found.get();
            if entry.is_live(now) {
                return Ok(if entry.done {
                    Claim::Done
                } else {
                    Claim::InProgress {
                        retry_after: entry.deadline.0.saturating_duration_since(now),
                    }
                });
            }
            // Done and past its retention, still queued behind a longer one (see
            // MAX_RETENTION_QUEUES): forgotten now; its queue entry no longer matches.
            found.remove();
        }
        while inner.entries.len() >= self.max_entries {
            if !inner.evict_done() {
                return Err(StoreError::Full);
            }
        }
        let deadline = next_deadline(&mut inner.sequence, after(now, lease));
        let lease = Lease {
            id,
            token: token.clone(),
        };
        inner.leases.insert(deadline, lease);
        let entry = Entry {
            id,
            deadline,
            done: false,
        };
        inner.entries.insert_unique(id.hash, entry, |e| e.id.hash);
        Ok(Claim::Acquired)
    }

    fn settle_now(&self, key: &DedupKey, token: &ClaimToken, retain: Option<Duration>) -> Settled {
        let mut inner = self.lock();
        let now = Instant::now();
        inner.expire(now);
        let id = inner.id(key);
        let Inner {
            entries,
            leases,
            done,
            sequence,
            ..
        } = &mut *inner;
        let Ok(mut found) = entries.find_entry(id.hash, is(id)) else {
            return Settled::Stale;
        };
        // In progress means live: an expired lease was dropped by `expire` above.
        let lease = found.get().deadline;
        let held = !found.get().done && leases.get(&lease).is_some_and(|l| l.token == *token);
        if !held {
            return Settled::Stale;
        }
        leases.remove(&lease);
        match retain {
            Some(retention) => {
                let deadline = next_deadline(sequence, after(now, retention));
                let entry = found.get_mut();
                entry.done = true;
                entry.deadline = deadline;
                queue_for(done, retention)
                    .keys
                    .push_back(Queued { deadline, id });
            }
            None => {
                found.remove();
            }
        }
        Settled::Applied
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

/// Matches the entry of the key whose identity is `id`.
fn is(id: Id) -> impl Fn(&Entry) -> bool {
    move |entry| entry.id == id
}

/// A deadline at `at`, made distinct by the store's next sequence number.
fn next_deadline(sequence: &mut u64, at: Instant) -> Deadline {
    *sequence += 1;
    (at, *sequence)
}

/// `now + duration`, with a duration too long for an [`Instant`] taken as [`FOREVER`].
fn after(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration.min(FOREVER)).unwrap_or(now)
}

/// The queue of done keys kept for `retention`, made on first use.
fn queue_for(done: &mut Vec<DoneQueue>, retention: Duration) -> &mut DoneQueue {
    let index = match done.iter().position(|queue| queue.retention == retention) {
        Some(index) => index,
        None if done.len() < MAX_RETENTION_QUEUES => {
            done.push(DoneQueue {
                retention,
                keys: VecDeque::new(),
            });
            done.len() - 1
        }
        None => done.len() - 1,
    };
    &mut done[index]
}

impl Inner {
    fn id(&self, key: &DedupKey) -> Id {
        Id {
            hash: self.hasher.hash_one((0_u8, key.as_str())),
            check: self.hasher.hash_one((1_u8, key.as_str())),
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some(first) = self.leases.first_entry() {
            if first.key().0 > now {
                break;
            }
            let lease = first.remove();
            if let Ok(found) = self.entries.find_entry(lease.id.hash, is(lease.id)) {
                found.remove();
            }
        }
        for queue in &mut self.done {
            while queue.keys.front().is_some_and(|q| q.deadline.0 <= now) {
                if let Some(queued) = queue.keys.pop_front() {
                    forget(&mut self.entries, &queued);
                }
            }
        }
    }

    /// Drops the done key completed longest ago (the oldest front of the queues); false when
    /// there is none.
    fn evict_done(&mut self) -> bool {
        loop {
            let oldest = self
                .done
                .iter_mut()
                .filter(|queue| !queue.keys.is_empty())
                .min_by_key(|queue| queue.keys.front().map(|q| q.deadline.1));
            let Some(queued) = oldest.and_then(|queue| queue.keys.pop_front()) else {
                return false;
            };
            if forget(&mut self.entries, &queued) {
                return true;
            }
        }
    }
}

/// Removes the entry `queued` was queued for, if it is still that done entry (a key claimed
/// again since has another deadline); whether it was.
fn forget(entries: &mut HashTable<Entry>, queued: &Queued) -> bool {
    let Ok(found) = entries.find_entry(queued.id.hash, is(queued.id)) else {
        return false;
    };
    let current = found.get().done && found.get().deadline == queued.deadline;
    if current {
        found.remove();
    }
    current
}

impl DedupStore for MemoryStore {
    fn claim(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        ready(self.claim_now(key, token, lease))
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

    fn key(id: &str) -> DedupKey {
        DedupKey::new("", "evt", id)
    }

    fn acquire(store: &MemoryStore, id: &str, lease: Duration) -> ClaimToken {
        let token = ClaimToken::generate().unwrap();
        match store.claim_now(&key(id), &token, lease) {
            Ok(Claim::Acquired) => token,
            other => panic!("{id}: {other:?}"),
        }
    }

    fn claim(store: &MemoryStore, id: &str, lease: Duration) -> Result<Claim, StoreError> {
        store.claim_now(&key(id), &ClaimToken::generate().unwrap(), lease)
    }

    #[test]
    fn full_store_evicts_the_done_key_completed_longest_ago() {
        let store = MemoryStore::new().with_max_entries(3);
        let long = Duration::from_secs(3600);
        // "a" is done first and kept long (an event); "b" after it and kept briefly (a
        // signature in the replay guard).
        for (id, retention) in [("a", 3600), ("b", 10)] {
            let token = acquire(&store, id, long);
            store.settle_now(&key(id), &token, Some(Duration::from_secs(retention)));
        }
        let _c = acquire(&store, "c", Duration::from_secs(1));
        // Full: "a" is the oldest memory, so it goes, though "b" expires sooner; the claim on
        // "c", whose lease ends first of all, stays.
        let _d = acquire(&store, "d", long);
        assert_eq!(store.len(), 3);
        assert!(matches!(
            claim(&store, "c", long),
            Ok(Claim::InProgress { .. })
        ));
        assert_eq!(claim(&store, "b", long).ok(), Some(Claim::Done));
        // "a" was forgotten: it can be claimed again, evicting "b", the last done key...
        assert!(matches!(claim(&store, "a", long), Ok(Claim::Acquired)));
        // ...and now every key is a claim in progress: the store refuses a new one.
        assert!(matches!(claim(&store, "e", long), Err(StoreError::Full)));
        let inner = store.lock();
        let queued: usize = inner.done.iter().map(|queue| queue.keys.len()).sum();
        assert_eq!((queued, inner.leases.len()), (0, 3));
    }

    #[test]
    fn durations_too_long_for_an_instant_mean_never() {
        let store = MemoryStore::new();
        let token = acquire(&store, "x", Duration::MAX);
        assert!(matches!(
            claim(&store, "x", Duration::MAX),
            Ok(Claim::InProgress { .. })
        ));
        assert_eq!(
            store.settle_now(&key("x"), &token, Some(Duration::MAX)),
            Settled::Applied
        );
        assert_eq!(claim(&store, "x", Duration::MAX).ok(), Some(Claim::Done));
    }

    #[test]
    fn keys_sharing_a_queue_still_expire_at_their_deadline() {
        let long = Duration::from_secs(3600);
        let store = MemoryStore::new().with_max_entries(MAX_RETENTION_QUEUES + 1);
        for n in 0..MAX_RETENTION_QUEUES {
            let id = std::format!("k{n}");
            let token = acquire(&store, &id, long);
            let retention = long + Duration::from_secs(u64::try_from(n).unwrap());
            store.settle_now(&key(&id), &token, Some(retention));
        }
        // One retention too many: it shares the last queue, behind a key kept for an hour,
        // and is forgotten at its own deadline all the same.
        let token = acquire(&store, "short", long);
        store.settle_now(&key("short"), &token, Some(Duration::ZERO));
        assert_eq!(store.len(), MAX_RETENTION_QUEUES);
        let again = acquire(&store, "short", long);
        assert_eq!(
            store.settle_now(&key("short"), &again, Some(long)),
            Settled::Applied
        );
        // Full: the oldest completion goes ("k0"), and the stale queue entry of the first
        // "short" removes nothing when the queues are drained.
        let _new = acquire(&store, "new", long);
        assert!(matches!(claim(&store, "k0", long), Ok(Claim::Acquired)));
        assert_eq!(claim(&store, "short", long).ok(), Some(Claim::Done));
        let mut inner = store.lock();
        while inner.evict_done() {}
        assert!(inner.entries.iter().all(|entry| !entry.done));
        assert_eq!(inner.entries.len(), 2, "the claims on k0 and new remain");
    }

    #[test]
    fn claims_in_progress_are_never_evicted() {
        let store = MemoryStore::new().with_max_entries(2);
        let long = Duration::from_secs(3600);
        let b = acquire(&store, "b", long);
        let _c = acquire(&store, "c", long);
        assert!(matches!(claim(&store, "d", long), Err(StoreError::Full)));
        // "b" is still held by its worker, who completes it.
        assert!(matches!(
            claim(&store, "b", long),
            Ok(Claim::InProgress { .. })
        ));
        assert_eq!(
            store.settle_now(&key("b"), &b, Some(long)),
            Settled::Applied
        );
        assert_eq!(claim(&store, "b", long).ok(), Some(Claim::Done));
    }

    #[test]
    fn expired_entries_free_their_slot() {
        let store = MemoryStore::new();
        let _ = acquire(&store, "x", Duration::ZERO);
        assert!(store.is_empty());
        let token = acquire(&store, "x", Duration::from_secs(1));
        store.settle_now(&key("x"), &token, Some(Duration::ZERO));
        assert!(store.is_empty());
    }

    #[test]
    fn completing_keeps_one_entry_per_key() {
        let store = MemoryStore::new();
        let token = acquire(&store, "x", Duration::from_secs(1));
        store.settle_now(&key("x"), &token, Some(Duration::from_secs(60)));
        let inner = store.lock();
        let queued: usize = inner.done.iter().map(|queue| queue.keys.len()).sum();
        assert_eq!((inner.entries.len(), inner.leases.len(), queued), (1, 0, 1));
    }
}
