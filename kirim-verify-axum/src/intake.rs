//! Reading and verifying one request: the I/O around the core's flow (steps 1 to 3).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum_core::RequestExt as _;
use axum_core::body::Body;
use axum_core::extract::Request;
use bytes::Bytes;
use http::Extensions;
use http::request::Parts;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt as _;
use kirim_verify::flow::header_lookup;
use kirim_verify::{Receiver, Rejection, Webhook};

use crate::rejection::KirimRejection;

/// Reads the body of `request` within the smaller of the receiver's limit and axum's
/// `DefaultBodyLimit`, hashing each frame as it arrives, and verifies it. On success, the
/// request's parts (to rebuild it) and the verified webhook.
/// Refusals are logged here, where they are made.
pub(crate) async fn verify(
    receiver: &Receiver,
    request: Request,
) -> Result<(Parts, Webhook), KirimRejection> {
    read(receiver, request)
        .await
        .map_err(KirimRejection::logged)
}

async fn read(receiver: &Receiver, request: Request) -> Result<(Parts, Webhook), Rejection> {
    let (mut parts, mut body) = request.into_parts();

    // Declared length, signature header and timestamp: all checked before the body is read.
    // The intake is the one body counter, under the smaller of the two limits.
    let framework_limit = axum_limit(&mut parts.extensions);
    let mut intake = receiver.begin_now(header_lookup(&parts.headers), framework_limit)?;

    // Every frame is counted, hashed and kept as it arrives; nothing past the limit is read,
    // and nothing after the body's time is up (a trickled forgery holds the connection no
    // longer than that). One timer for the whole read: a body that has already arrived arms
    // none.
    let time_left = intake.time_left();
    let frames = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|error| Rejection::BodyUnreadable(error.into()))?;
            if let Ok(data) = frame.into_data() {
                intake.push(data)?;
            }
        }
        Ok::<_, Rejection>(())
    };
    tokio::time::timeout(time_left, frames)
        .await
        .map_err(|_| Rejection::BodyTimeout)??;
    Ok((parts, intake.finish_now()?))
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
