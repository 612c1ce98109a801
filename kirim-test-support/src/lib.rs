//! Test support shared by the crates of this workspace (not published): the conformance suites
//! every dedup store and both framework adapters pass, and a harness for real `redis-server`
//! processes.
pub mod http;
