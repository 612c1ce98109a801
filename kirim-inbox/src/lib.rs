#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backend;
mod error;
mod inbox;
mod keys;
#[cfg(feature = "postgres")]
mod postgres;
mod row;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
#[cfg(feature = "postgres")]
mod transaction;
mod worker;

pub use error::InboxError;
pub use inbox::{DEFAULT_PURGE_BATCH, Inbox, InboxBuilder};
pub use row::{Accepted, Counts, DeadRow, Event, Purged};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteSynchronous;
pub use store::{DEFAULT_STORE_TIMEOUT, SqlStore};
#[cfg(feature = "postgres")]
pub use transaction::Transaction;
pub use worker::{
    DEFAULT_BACKOFF, DEFAULT_BATCH_SIZE, DEFAULT_CONCURRENCY, DEFAULT_MAX_BACKOFF,
    DEFAULT_MAX_TRIES, DEFAULT_POLL_INTERVAL, DEFAULT_PURGE_INTERVAL, DEFAULT_WORKER_LEASE, Worker,
    WorkerHandle, WorkerReport,
};
