#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod dedup;
mod delivery;
mod error;
#[cfg(feature = "serde")]
pub mod event;
mod header;
#[cfg(feature = "std")]
mod memory;
#[cfg(feature = "std")]
mod process;
mod receive;
mod rejection;
mod secret;
mod signer;
mod verifier;

pub use dedup::{
    BoxError, Claim, ClaimToken, DEFAULT_LEASE, DEFAULT_RETENTION, DedupKey, DedupStore,
    DefaultKeyStrategy, KeyStrategy, MAX_RAW_ID_BYTES, Settled, StoreError,
};
pub use delivery::{Delivery, MAX_META_BYTES, Source, names};
pub use error::{ConfigError, Error};
#[cfg(feature = "serde")]
pub use event::{Event, EventError};
pub use header::{MAX_HEADER_BYTES, MAX_SIGNATURES, MalformedHeader, SignatureHeader};
#[cfg(feature = "std")]
pub use memory::{DEFAULT_MAX_ENTRIES, MemoryStore};
#[cfg(feature = "std")]
pub use process::Processed;
pub use receive::{
    Admission, BodyIntake, DEFAULT_KEY_PREFIX, DEFAULT_MAX_BODY_BYTES, Dedup, Receiver,
    SettleReport, StoreFailure, Ticket, Webhook,
};
pub use rejection::{Rejection, bodies};
pub use secret::Secret;
pub use signer::Signer;
pub use verifier::{DEFAULT_TOLERANCE, MAX_SECRETS, Verification, Verified, Verifier};

/// The system clock, in unix seconds: the one place the crate reads it. A clock before 1970
/// reads as 0, which every fresh timestamp then fails as too new.
#[cfg(feature = "std")]
#[must_use]
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
