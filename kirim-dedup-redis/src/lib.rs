#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod scripts;
mod store;

pub use redis;
pub use store::{DEFAULT_TIMEOUT, RedisStore};
