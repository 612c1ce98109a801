//! Test support shared by the crates of this workspace (not published).
//!
//! - [`store`]: the conformance suite every [`DedupStore`](kirim_verify::DedupStore) passes;
//! - [`redis_server`]: starts and stops real `redis-server` processes on free ports;
//! - [`http`]: the HTTP conformance suite both framework adapters pass.
