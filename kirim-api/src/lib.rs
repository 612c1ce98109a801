#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod bulk_replay;
mod client;
mod delivery;
mod error;
mod idempotency;
mod issued_secret;
mod retry;
mod subscription;

pub use bulk_replay::{BULK_REPLAY_CAP, BulkReplay, BulkReplayAnswer, BulkReplayReport};
pub use client::{
    Client, ClientBuilder, DEFAULT_BASE_URL, DEFAULT_TIMEOUT, DeliveryPages, MAX_ANSWER_BYTES,
};
pub use delivery::{DEFAULT_PAGE_SIZE, Delivery, DeliveryQuery, DeliveryStatus, ReplayedDelivery};
pub use error::{
    ApiError, Error, ErrorType, InvalidAnswer, InvalidInput, TransportError, TransportKind,
};
pub use idempotency::{IdempotencyKey, MAX_IDEMPOTENCY_KEY_LEN};
pub use issued_secret::IssuedSecret;
pub use retry::RetryPolicy;
pub use subscription::{
    AddSecret, CreateSubscription, CreatedSubscription, NewSecret, SecretInfo, Subscription,
    SubscriptionStatus, UpdateSubscription,
};
/// The `time` crate, for [`BulkReplay`]'s window.
pub use time;
