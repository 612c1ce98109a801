//! Test support shared by the crates of this workspace (not published): the conformance suites
//! every dedup store and both framework adapters pass, and a harness for real `redis-server`
//! processes.
//!
//! - [`store`]: the dedup store conformance suite, generic over any
//!   [`DedupStore`](kirim_verify::store::DedupStore): [`store::run_all`], or one test per case with
//!   [`dedup_store_conformance!`].
//! - [`redis_server`]: [`RedisServer`](redis_server::RedisServer), a `redis-server` on a free
//!   port that can be killed, restarted and paused, and
//!   [`RedisCluster`](redis_server::RedisCluster), a 3-master Redis Cluster.
//! - [`postgres_server`]: [`PostgresServer`](postgres_server::PostgresServer), a PostgreSQL
//!   server in a temporary directory on a free port, that can be killed, stopped and restarted.
//! - [`http`]: the HTTP conformance suite both framework adapters pass.
//! - [`attack`]: requests nobody signed, as an attacker sends them, for the receivers' limits.
//! - [`fake_kirim`]: [`FakeKirim`](fake_kirim::FakeKirim), a stateful fake of Kirim's
//!   management API on 127.0.0.1, with injectable faults.
pub mod attack;
pub mod fake_kirim;
pub mod http;
pub mod postgres_server;
pub mod redis_server;
pub mod store;
