//! Dedup configuration: the store, how keys are made, how long claims and memories last.

use alloc::string::String;
use alloc::sync::Arc;
use core::fmt;
use core::time::Duration;

use crate::dedup_store::{DedupStore, SharedStore};
use crate::key::{DefaultKeyStrategy, KeyStrategy};

/// Default lease of a claim: how long a worker may hold an event before another may take it.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// Default retention of a processed event: 7 days, beyond Kirim's ~31 h of retries.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Default key prefix in the dedup store.
pub const DEFAULT_KEY_PREFIX: &str = "kirim:";

/// What to do when the dedup store fails or times out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StoreFailure {
    /// Answer 503, so Kirim retries later. Nothing is processed twice and nothing is lost, as
    /// long as the store comes back within Kirim's ~31 h of retries. The default.
    #[default]
    FailClosed,
    /// Process the delivery without dedup. Nothing is delayed; a retry may then be processed
    /// twice.
    FailOpen,
}

/// Dedup configuration: the store, how keys are made, how long claims and memories last.
///
/// Any store converts into one with the defaults, so `receiver.with_dedup(MemoryStore::new())`
/// is the common case; build a `Dedup` to change them:
///
/// ```
/// use kirim_verify::{Dedup, MemoryStore, StoreFailure};
/// use std::time::Duration;
///
/// let dedup = Dedup::new(MemoryStore::new())
///     .with_retention(Duration::from_secs(30 * 24 * 3600)) // replays of dead deliveries
///     .with_store_failure(StoreFailure::FailClosed);
/// # let _ = dedup;
/// ```
#[derive(Clone)]
pub struct Dedup {
    pub(crate) store: SharedStore,
    pub(crate) keys: Arc<dyn KeyStrategy>,
    pub(crate) prefix: String,
    pub(crate) lease: Duration,
    pub(crate) retention: Duration,
    pub(crate) replay_guard: bool,
    pub(crate) on_failure: StoreFailure,
}

impl Dedup {
    /// Dedup on `store`, with the spec's defaults.
    pub fn new(store: impl DedupStore) -> Self {
        Self {
            store: SharedStore::new(store),
            keys: Arc::new(DefaultKeyStrategy),
            prefix: String::from(DEFAULT_KEY_PREFIX),
            lease: DEFAULT_LEASE,
            retention: DEFAULT_RETENTION,
            replay_guard: true,
            on_failure: StoreFailure::FailClosed,
        }
    }

    /// How deliveries map to events. Defaults to
    /// [`DefaultKeyStrategy`](crate::store::DefaultKeyStrategy).
    #[must_use]
    pub fn with_key_strategy(mut self, keys: impl KeyStrategy) -> Self {
        self.keys = Arc::new(keys);
        self
    }

    /// Prefix of every key in the store. Defaults to `kirim:`.
    #[must_use]
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a claim holds an event before another worker may take it (a crashed worker's
    /// claim expires after this). Longer than your slowest handler. Defaults to 30 s.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long a processed event is remembered. Defaults to 7 days (Kirim retries for ~31 h;
    /// raise it to 30 days if you replay dead deliveries that late).
    #[must_use]
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// What to do when the store fails. Defaults to [`StoreFailure::FailClosed`].
    #[must_use]
    pub fn with_store_failure(mut self, policy: StoreFailure) -> Self {
        self.on_failure = policy;
        self
    }

    /// Turns off the replay guard, which otherwise answers `duplicate` to a second request
    /// carrying an already accepted signature, whatever its (unsigned) event id header says.
    /// Without it, a captured delivery can be re-sent within the tolerance under a fresh event
    /// id and be processed again. Defaults to on.
    #[must_use]
    pub fn dangerous_disable_replay_guard(mut self) -> Self {
        self.replay_guard = false;
        self
    }
}

/// Any store, with the defaults: what `Receiver::with_dedup(store)` takes.
impl<S: DedupStore> From<S> for Dedup {
    fn from(store: S) -> Self {
        Self::new(store)
    }
}

impl fmt::Debug for Dedup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dedup")
            .field("prefix", &self.prefix)
            .field("lease", &self.lease)
            .field("retention", &self.retention)
            .field("replay_guard", &self.replay_guard)
            .field("on_failure", &self.on_failure)
            .finish_non_exhaustive()
    }
}
