//! Reading and verifying one request: the I/O around the core's flow (steps 1 to 3).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum_core::RequestExt as _;
use axum_core::body::Body;
use axum_core::extract::Request;
use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{Extensions, HeaderMap, HeaderValue, header::CONTENT_LENGTH};
use http_body::{Frame, SizeHint};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use kirim_verify::{Receiver, Rejection};

use crate::extract::KirimWebhook;
use crate::rejection::KirimRejection;

/// Reads the body of `request` within the smaller of the receiver's limit and axum's
/// `DefaultBodyLimit`, hashing each frame as it arrives, and verifies it. On success, the
/// request's parts (to rebuild it) and the verified webhook.
///
/// Rejections are logged here, where they are made.
pub(crate) async fn verify(
    receiver: &Receiver,
    request: Request,
) -> Result<(Parts, KirimWebhook), KirimRejection> {
    let result = read(receiver, request).await;
    if let Err(rejection) = &result {
        rejection.log();
    }
    result
}

async fn read(
    receiver: &Receiver,
    request: Request,
) -> Result<(Parts, KirimWebhook), KirimRejection> {
    let (mut parts, body) = request.into_parts();
    let limit = match axum_limit(&mut parts.extensions) {
        Some(axum) => axum.min(receiver.max_body_bytes()),
        None => receiver.max_body_bytes(),
    };

    // Step 1: a declared length over the limit is refused before anything is read.
    let declared = declared_length(&parts.headers, &body);
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(Rejection::TooLarge { limit }.into());
    }

    // Step 2: the signature header is parsed and its timestamp checked before the body.
    let mut intake =
        receiver.begin_now(|name| parts.headers.get(name).map(HeaderValue::as_bytes))?;

    // Step 3: every frame is counted and hashed as it arrives; nothing past the limit is read.
    let capacity = declared.map_or(0, |length| usize::try_from(length).unwrap_or(limit));
    let mut collected = Collected::with_capacity(capacity.min(limit));
    let mut body = Limited::new(body, limit);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            if error.is::<LengthLimitError>() {
                KirimRejection::from(Rejection::TooLarge { limit })
            } else {
                KirimRejection::BodyUnreadable(axum_core::Error::new(error))
            }
        })?;
        if let Ok(data) = frame.into_data() {
            intake.push(&data)?;
            collected.push(data);
        }
    }
    let delivery = intake.finish()?;
    Ok((parts, KirimWebhook::new(collected.into_bytes(), delivery)))
}

/// The length the request declares: `Content-Length`, or the body's exact size hint.
fn declared_length(headers: &HeaderMap, body: &Body) -> Option<u64> {
    let header = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    let hint = http_body::Body::size_hint(body).exact();
    match (header, hint) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The limit axum's `DefaultBodyLimit` sets for this request (2 MB when no layer set one),
/// or `None` when it is disabled.
///
/// axum keeps the setting private to its own extractors, which apply it through
/// `RequestExt::with_limited_body`; this asks that same function, on a probe request carrying
/// this request's extensions and a body that claims to be endless, what bound it puts on the
/// body.
fn axum_limit(extensions: &mut Extensions) -> Option<usize> {
    let mut probe = Request::new(Body::new(Endless));
    std::mem::swap(probe.extensions_mut(), extensions);
    let mut probe = probe.with_limited_body();
    std::mem::swap(probe.extensions_mut(), extensions);
    let bound = http_body::Body::size_hint(probe.body()).upper()?;
    Some(usize::try_from(bound).unwrap_or(usize::MAX))
}

/// A body that claims to be longer than any limit (and has no data): the probe of
/// [`axum_limit`].
struct Endless;

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(None)
    }

    fn size_hint(&self) -> SizeHint {
        let mut hint = SizeHint::new();
        hint.set_lower(u64::MAX);
        hint
    }
}

/// The body's frames: kept as they are when there is one (no copy), joined otherwise.
enum Collected {
    Empty(usize),
    One(Bytes, usize),
    Many(BytesMut),
}

impl Collected {
    fn with_capacity(capacity: usize) -> Self {
        Self::Empty(capacity)
    }

    fn push(&mut self, data: Bytes) {
        *self = match std::mem::replace(self, Self::Empty(0)) {
            Self::Empty(capacity) => Self::One(data, capacity),
            Self::One(first, capacity) => {
                let mut joined = BytesMut::with_capacity(capacity.max(first.len() + data.len()));
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&data);
                Self::Many(joined)
            }
            Self::Many(mut joined) => {
                joined.extend_from_slice(&data);
                Self::Many(joined)
            }
        };
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Self::Empty(_) => Bytes::new(),
            Self::One(data, _) => data,
            Self::Many(joined) => joined.freeze(),
        }
    }
}
