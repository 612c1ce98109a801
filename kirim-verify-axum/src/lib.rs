#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod intake;
mod layer;
mod rejection;
mod webhook;

pub use layer::{KirimLayer, KirimService};
pub use rejection::KirimRejection;
pub use webhook::KirimWebhook;

// The user types of the core, so that one crate in `Cargo.toml` is enough for the common case.
#[doc(inline)]
pub use kirim_verify::{Dedup, Delivery, MemoryStore, Receiver, Secret, Webhook};

pub use kirim_verify;
