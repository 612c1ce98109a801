#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod extract;
mod intake;
mod layer;
mod rejection;

pub use extract::KirimWebhook;
pub use kirim_verify;
pub use layer::{KirimLayer, KirimService};
pub use rejection::KirimRejection;
