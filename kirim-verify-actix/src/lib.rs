#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod extractor;
mod intake;
mod middleware;
mod rejection;

pub use extractor::KirimWebhook;
pub use middleware::{KirimMiddleware, KirimMiddlewareService};
pub use rejection::KirimRejection;

/// The core crate, re-exported: [`Receiver`](kirim_verify::Receiver),
/// [`Verifier`](kirim_verify::Verifier), [`Secret`](kirim_verify::Secret), dedup stores.
pub use kirim_verify;
