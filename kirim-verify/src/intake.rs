//! The body as it arrives: counted against the one body limit, hashed, and kept.

use bytes::{Bytes, BytesMut};

use crate::delivery::Delivery;
use crate::error::VerifyError;
use crate::rejection::Rejection;
use crate::verifier::Verification;
use crate::webhook::Webhook;

/// Step 2 of the [`Receiver`](crate::Receiver)'s flow: the body as it arrives, counted against
/// the body limit (the intake is the one counter: an adapter reads frames and pushes them, and
/// stops when told), hashed, and kept (the frames themselves, joined only when there are
/// several). Made by [`Receiver::begin`](crate::Receiver::begin).
#[derive(Debug)]
pub struct BodyIntake<'r> {
    pub(crate) verification: Verification<'r>,
    pub(crate) delivery: Result<Delivery, VerifyError>,
    pub(crate) received: usize,
    pub(crate) limit: usize,
    pub(crate) body: Collected,
}

impl BodyIntake<'_> {
    /// Counts the next chunk against the body limit, hashes it and keeps it.
    ///
    /// The buffer grows with what arrived, never with what a `Content-Length` announced: a
    /// forged request costs what it sent, not what it claimed.
    ///
    /// # Errors
    ///
    /// [`Rejection::TooLarge`] once the body exceeds the limit; stop reading then.
    pub fn push(&mut self, chunk: Bytes) -> Result<(), Rejection> {
        self.received = self.received.saturating_add(chunk.len());
        if self.received > self.limit {
            return Err(Rejection::TooLarge { limit: self.limit });
        }
        self.verification.update(&chunk);
        self.body.push(chunk);
        Ok(())
    }

    /// The body limit in force, in bytes: the receiver's, or the framework's when smaller.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Checks the timestamp again against `now`, the time the body ended (a body trickled in
    /// slowly must not outlast the tolerance, nor the replay guard's memory of its signature),
    /// compares the signature and, only once it verified, checks the delivery headers.
    ///
    /// # Errors
    ///
    /// [`Rejection::Verify`] with [`VerifyError::TooOld`] or [`VerifyError::TooNew`],
    /// [`VerifyError::SignatureMismatch`], or a missing or invalid event header.
    pub fn finish(self, now: u64) -> Result<Webhook, Rejection> {
        let verified = self.verification.finish_at(now)?;
        let delivery = self.delivery?;
        crate::metrics::verified(&verified);
        Ok(Webhook {
            body: self.body.into_bytes(),
            delivery,
            verified,
        })
    }

    /// [`finish`](Self::finish) with the system clock.
    ///
    /// # Errors
    ///
    /// As [`finish`](Self::finish).
    #[cfg(feature = "std")]
    pub fn finish_now(self) -> Result<Webhook, Rejection> {
        self.finish(crate::clock::unix_now())
    }
}

/// The frames of a body: kept as they are when there is one (no copy), joined otherwise.
#[derive(Debug)]
pub(crate) enum Collected {
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl Collected {
    fn push(&mut self, chunk: Bytes) {
        *self = match core::mem::replace(self, Self::Empty) {
            Self::Empty => Self::One(chunk),
            Self::One(first) => {
                // Sized by what arrived; `extend_from_slice` then grows it by doubling.
                let mut joined = BytesMut::with_capacity(first.len() + chunk.len());
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&chunk);
                Self::Many(joined)
            }
            Self::Many(mut joined) => {
                joined.extend_from_slice(&chunk);
                Self::Many(joined)
            }
        };
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Self::Empty => Bytes::new(),
            Self::One(body) => body,
            Self::Many(joined) => joined.freeze(),
        }
    }
}
