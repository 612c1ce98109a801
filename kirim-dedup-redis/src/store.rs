//! The Redis [`DedupStore`].

use std::fmt;
use std::future::Future;
use std::time::Duration;

use kirim_verify::store::{Claim, ClaimToken, DedupKey, DedupStore, Settled, StoreError};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, RedisError};

use crate::scripts::{CLAIM, COMPLETE, IN_PROGRESS, RELEASE};

/// Default bound on every store call, connecting included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest pause between two reconnection attempts of the connections this crate builds.
const MAX_RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// Longest TTL written, in milliseconds (about 285 years): larger durations are capped, so the
/// server never refuses an expiry as out of range.
const MAX_TTL_MS: u64 = 1 << 53;

/// A [`DedupStore`] in Redis, shared by every instance of a service: a single server on a
/// [`ConnectionManager`] (reconnects by itself), Redis Cluster on redis-rs's
/// [`ClusterConnection`](redis::cluster_async::ClusterConnection), or any other async
/// connection.
///
/// Each operation is one Lua script on one key: one atomic round trip (the first call on a
/// server that has not seen a script yet also loads it). Each call is bounded by its own
/// timeout ([`DEFAULT_TIMEOUT`], 1 s): a server that is down or stalled answers
/// [`StoreError::Timeout`] or [`StoreError::Backend`] instead of holding the request.
///
/// Cloning is cheap and shares the connection.
#[derive(Clone)]
pub struct RedisStore<C = ConnectionManager> {
    connection: C,
    timeout: Duration,
}

impl<C> RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A store on an existing async connection. Give it one that reconnects by itself (a
    /// [`ConnectionManager`], a cluster connection): the store never rebuilds its connection.
    #[must_use]
    pub fn new(connection: C) -> Self {
        Self {
            connection,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Bounds every store call; past it the call fails with [`StoreError::Timeout`]. Keep it
    /// well inside Kirim's 10 s per attempt. Defaults to 1 s.
    ///
    /// This bounds the store's calls only: the constructors of this crate also set the
    /// connection's own connect and response timeouts from [`DEFAULT_TIMEOUT`]; build the
    /// connection yourself ([`RedisStore::manager_config`]) to change those too.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The bound on every call.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The connection the store runs on, e.g. to run other commands next to it in tests and
    /// benchmarks.
    #[must_use]
    pub fn connection(&self) -> &C {
        &self.connection
    }

    /// Runs `call` on a clone of the connection, bounded by the timeout.
    async fn bounded<T, F, Fut>(&self, call: F) -> Result<T, StoreError>
    where
        F: FnOnce(C) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        match tokio::time::timeout(self.timeout, call(self.connection.clone())).await {
            Ok(Ok(value)) => Ok(value),
            // The connection's own response timeout may fire first: it is the same failure.
            Ok(Err(error)) if error.is_timeout() => Err(StoreError::Timeout(self.timeout)),
            Ok(Err(error)) => Err(StoreError::backend(error)),
            Err(_elapsed) => Err(StoreError::Timeout(self.timeout)),
        }
    }
}

impl RedisStore<ConnectionManager> {
    /// Connects to a single Redis server (`redis://host:port/db`, `rediss://…` with a TLS
    /// feature of the re-exported [`redis`] crate, or any [`IntoConnectionInfo`]) through a
    /// [`ConnectionManager`] configured by [`manager_config`](Self::manager_config) with
    /// [`DEFAULT_TIMEOUT`]. The first connection is made before this returns.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] for an invalid address or a refused connection,
    /// [`StoreError::Timeout`] when the server does not answer within [`DEFAULT_TIMEOUT`].
    pub async fn connect(info: impl IntoConnectionInfo) -> Result<Self, StoreError> {
        let client = redis::Client::open(info).map_err(StoreError::backend)?;
        let connecting =
            ConnectionManager::new_with_config(client, Self::manager_config(DEFAULT_TIMEOUT));
        match tokio::time::timeout(DEFAULT_TIMEOUT, connecting).await {
            Ok(Ok(manager)) => Ok(Self::new(manager)),
            Ok(Err(error)) => Err(StoreError::backend(error)),
            Err(_elapsed) => Err(StoreError::Timeout(DEFAULT_TIMEOUT)),
        }
    }

    /// The [`ConnectionManager`] settings this crate uses: connect and response timeouts of
    /// `timeout`, and reconnection attempts at most 500 ms apart, so a server that comes back is
    /// used again within about a second.
    #[must_use]
    pub fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(MAX_RECONNECT_DELAY)
    }
}

#[cfg(feature = "cluster")]
impl RedisStore<redis::cluster_async::ClusterConnection> {
    /// Connects to a Redis Cluster through any of its nodes, with the settings of
    /// [`cluster_builder`](Self::cluster_builder) and [`DEFAULT_TIMEOUT`]. Every key this store
    /// writes is used alone, so it works whatever slot a key hashes to.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] for invalid addresses or when no node can be reached,
    /// [`StoreError::Timeout`] when the cluster does not answer within [`DEFAULT_TIMEOUT`].
    pub async fn connect_cluster<I: IntoConnectionInfo>(
        nodes: impl IntoIterator<Item = I>,
    ) -> Result<Self, StoreError> {
        let client = Self::cluster_builder(nodes, DEFAULT_TIMEOUT)
            .build()
            .map_err(StoreError::backend)?;
        match tokio::time::timeout(DEFAULT_TIMEOUT, client.get_async_connection()).await {
            Ok(Ok(connection)) => Ok(Self::new(connection)),
            Ok(Err(error)) => Err(StoreError::backend(error)),
            Err(_elapsed) => Err(StoreError::Timeout(DEFAULT_TIMEOUT)),
        }
    }

    /// The cluster client settings this crate uses: connect and response timeouts of
    /// `timeout`, and short waits between retries (a redirect after a resharding is retried;
    /// the store's own timeout still bounds the whole call).
    #[must_use]
    pub fn cluster_builder<I: IntoConnectionInfo>(
        nodes: impl IntoIterator<Item = I>,
        timeout: Duration,
    ) -> redis::cluster::ClusterClientBuilder {
        redis::cluster::ClusterClientBuilder::new(nodes)
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .min_retry_wait(10)
            .max_retry_wait(200)
    }
}

impl<C> fmt::Debug for RedisStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connection is left out: its address may carry a password.
        f.debug_struct("RedisStore")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<C> DedupStore for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn claim(&self, key: &DedupKey, lease: Duration) -> Result<Claim, StoreError> {
        let token = new_token()?;
        let value = in_progress(&token);
        let (state, pttl): (i64, i64) = self
            .bounded(|mut connection| async move {
                CLAIM
                    .key(key.as_str())
                    .arg(&value)
                    .arg(ttl_ms(lease))
                    .invoke_async(&mut connection)
                    .await
            })
            .await?;
        match (state, u64::try_from(pttl)) {
            (1, _) => Ok(Claim::Acquired(ClaimToken::new(token))),
            (2, _) => Ok(Claim::Done),
            // A claim without a TTL (pttl -1) was not written by this crate.
            (3, Ok(left)) => Ok(Claim::InProgress {
                retry_after: Duration::from_millis(left),
            }),
            _ => Err(StoreError::UnexpectedValue),
        }
    }

    async fn complete(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
        retention: Duration,
    ) -> Result<Settled, StoreError> {
        let value = in_progress(token.as_str());
        let outcome: i64 = self
            .bounded(|mut connection| async move {
                COMPLETE
                    .key(key.as_str())
                    .arg(&value)
                    .arg(ttl_ms(retention))
                    .invoke_async(&mut connection)
                    .await
            })
            .await?;
        settled(outcome)
    }

    async fn release(&self, key: &DedupKey, token: &ClaimToken) -> Result<Settled, StoreError> {
        let value = in_progress(token.as_str());
        let outcome: i64 = self
            .bounded(|mut connection| async move {
                RELEASE
                    .key(key.as_str())
                    .arg(&value)
                    .invoke_async(&mut connection)
                    .await
            })
            .await?;
        settled(outcome)
    }
}

fn settled(outcome: i64) -> Result<Settled, StoreError> {
    match outcome {
        1 => Ok(Settled::Applied),
        0 => Ok(Settled::Stale),
        _ => Err(StoreError::UnexpectedValue),
    }
}

/// A fresh 128-bit random token, as 32 lowercase hex digits.
fn new_token() -> Result<String, StoreError> {
    let mut bytes = [0_u8; 16];
    getrandom::fill(&mut bytes).map_err(StoreError::backend)?;
    Ok(hex::encode(bytes))
}

fn in_progress(token: &str) -> String {
    let mut value = String::with_capacity(IN_PROGRESS.len() + token.len());
    value.push_str(IN_PROGRESS);
    value.push_str(token);
    value
}

/// A TTL in whole milliseconds, rounded up, at least 1 (Redis refuses `PX 0`).
fn ttl_ms(duration: Duration) -> u64 {
    let ms = duration.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX).clamp(1, MAX_TTL_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_and_stay_in_range() {
        assert_eq!(ttl_ms(Duration::ZERO), 1);
        assert_eq!(ttl_ms(Duration::from_micros(1)), 1);
        assert_eq!(ttl_ms(Duration::from_micros(1_001)), 2);
        assert_eq!(ttl_ms(Duration::from_secs(30)), 30_000);
        assert_eq!(ttl_ms(Duration::MAX), MAX_TTL_MS);
    }

    #[test]
    fn tokens_are_128_bit_hex_and_fresh() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(in_progress(&a), format!("p:{a}"));
    }
}
