#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
// The core stays usable without `std`: name items by the crate that really has them.
#![warn(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Without `std` there is no async flow to run dedup in; its configuration types still build.
#![cfg_attr(not(feature = "std"), allow(dead_code))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod binding;
#[cfg(feature = "std")]
mod claims;
#[cfg(feature = "std")]
mod clock;
mod dedup;
mod dedup_store;
mod delivery;
#[cfg(feature = "std")]
mod env;
mod error;
#[cfg(feature = "serde")]
pub mod event;
pub mod header;
mod intake;
mod key;
#[cfg(feature = "std")]
mod memory;
pub mod metrics;
#[cfg(feature = "std")]
mod newtype;
#[cfg(feature = "std")]
mod outcome;
#[cfg(feature = "std")]
mod panic;
mod receiver;
mod rejection;
mod secret;
mod signer;
mod verifier;
mod webhook;

// What a user needs: a receiver from secrets, a store, the verified webhook.
#[cfg(feature = "std")]
pub use clock::unix_now;
pub use dedup::{DEFAULT_LEASE, DEFAULT_RETENTION, Dedup, StoreFailure};
pub use delivery::{Delivery, Source};
#[cfg(feature = "std")]
pub use env::{DEFAULT_LISTEN, EnvConfig, EnvError};
pub use error::{ConfigError, VerifyError};
#[cfg(feature = "serde")]
pub use event::{Event, EventError};
#[cfg(feature = "std")]
pub use memory::{DEFAULT_MAX_ENTRIES, MemoryStore};
pub use receiver::{DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY_BYTES, Receiver};
pub use rejection::Rejection;
pub use secret::Secret;
pub use signer::Signer;
pub use verifier::{DEFAULT_TOLERANCE, MAX_SECRETS, Verified, Verifier};
pub use webhook::Webhook;

/// For store implementers: the two-phase claim contract every dedup store keeps, and the keys
/// it is asked about. Run `kirim-test-support`'s conformance suite against an implementation.
pub mod store {
    pub use crate::dedup::DEFAULT_KEY_PREFIX;
    pub use crate::dedup_store::{
        BoxError, CLAIM_TOKEN_LEN, Claim, ClaimToken, DedupStore, Settled, StoreError,
    };
    pub use crate::key::{DedupKey, DefaultKeyStrategy, KeyStrategy, MAX_RAW_ID_BYTES};
}

/// For framework adapter authors: the steps of [`Receiver`]'s flow, the
/// header names it reads, and the response bodies it answers with.
pub mod flow {
    #[cfg(feature = "std")]
    pub use crate::claims::Task;
    #[cfg(feature = "http")]
    pub use crate::delivery::header_lookup;
    pub use crate::delivery::{MAX_META_BYTES, names};
    pub use crate::intake::BodyIntake;
    pub use crate::lookup_by_header_name;
    #[cfg(feature = "std")]
    pub use crate::outcome::Outcome;
    pub use crate::rejection::bodies;
    pub use crate::verifier::Verification;
    #[cfg(feature = "std")]
    pub use crate::{adapter_rejection, adapter_webhook};
}
