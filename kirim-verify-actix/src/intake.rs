//! The I/O glue around the core's receiving flow: actix headers in, payload frames through
//! [`BodyIntake`], the verified delivery and the exact bytes out.

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{FromRequest, HttpRequest, web};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use kirim_verify::{BodyIntake, Receiver, VerifiedDelivery};

use crate::rejection::KirimRejection;

/// How the body limit is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limits {
    /// The receiver's limit only.
    Receiver,
    /// The receiver's limit and the app's `PayloadConfig` (size and content type), whichever
    /// refuses first.
    AlsoPayloadConfig,
}

/// The one bridge from actix's `http` 0.2 headers to the core: the raw value of a lowercase
/// header name.
pub(crate) fn lookup<'h>(headers: &'h HeaderMap) -> impl Fn(&'static str) -> Option<&'h [u8]> + 'h {
    move |name| headers.get(name).map(|value| value.as_bytes())
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse().ok())
}

/// Runs the flow up to a verified delivery: declared length (413), signature header and
/// timestamp (400/401) before any byte of the body is read, then every frame counted (413)
/// and hashed, then the signature compared.
///
/// Rejections are logged here, where they are made.
pub(crate) async fn receive(
    receiver: &Receiver,
    req: &HttpRequest,
    payload: Payload,
    limits: Limits,
) -> Result<(VerifiedDelivery, Bytes), KirimRejection> {
    let result = read_and_verify(receiver, req, payload, limits).await;
    if let Err(rejection) = &result {
        rejection.log();
    }
    result
}

async fn read_and_verify(
    receiver: &Receiver,
    req: &HttpRequest,
    payload: Payload,
    limits: Limits,
) -> Result<(VerifiedDelivery, Bytes), KirimRejection> {
    let declared = content_length(req.headers());
    receiver.check_length(declared)?;
    let mut intake = receiver.begin_now(lookup(req.headers()))?;
    let body = match limits {
        Limits::Receiver => read(&mut intake, payload, declared).await?,
        Limits::AlsoPayloadConfig => read_with_payload_config(&mut intake, req, payload).await?,
    };
    let delivery = intake.finish()?;
    Ok((delivery, body))
}

async fn read(
    intake: &mut BodyIntake<'_>,
    mut payload: Payload,
    declared: Option<u64>,
) -> Result<Bytes, KirimRejection> {
    // `check_length` already bounded a declared length by the limit.
    let capacity = declared.map_or(8 * 1024, |n| usize::try_from(n).unwrap_or(0));
    let mut body = BytesMut::with_capacity(capacity.min(intake.limit()));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| KirimRejection::BodyUnreadable(e.into()))?;
        intake.push(&chunk)?;
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// `PayloadConfig`'s limit is private to actix, so actix's own `Bytes` extractor enforces it
/// (and its content type rule) while a pass-through stream keeps the raw frames and stops at
/// the receiver's limit. The raw frames, not the extractor's output, are what was signed
/// (`Bytes` may decode a `Content-Encoding`).
async fn read_with_payload_config(
    intake: &mut BodyIntake<'_>,
    req: &HttpRequest,
    payload: Payload,
) -> Result<Bytes, KirimRejection> {
    let frames: Rc<RefCell<Vec<Bytes>>> = Rc::default();
    let over_our_limit: Rc<Cell<bool>> = Rc::default();
    let recording = {
        let (frames, over_our_limit) = (Rc::clone(&frames), Rc::clone(&over_our_limit));
        let limit = intake.limit();
        let mut received = 0usize;
        payload.map(move |frame| {
            let frame = frame?;
            received = received.saturating_add(frame.len());
            if received > limit {
                over_our_limit.set(true);
                return Err(PayloadError::Overflow);
            }
            frames.borrow_mut().push(frame.clone());
            Ok(frame)
        })
    };
    let boxed: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(recording);
    let checked = web::Bytes::from_request(req, &mut Payload::from(boxed)).await;
    if over_our_limit.get() {
        return Err(kirim_verify::Rejection::TooLarge {
            limit: intake.limit(),
        }
        .into());
    }
    if let Err(error) = checked {
        let over_config_limit = matches!(
            error.as_error::<PayloadError>(),
            Some(PayloadError::Overflow)
        );
        return Err(if over_config_limit {
            KirimRejection::OverPayloadConfigLimit
        } else {
            KirimRejection::BodyUnreadable(error)
        });
    }
    let frames = frames.take();
    let mut body = BytesMut::with_capacity(frames.iter().map(Bytes::len).sum());
    for frame in &frames {
        intake.push(frame)?;
        body.extend_from_slice(frame);
    }
    Ok(body.freeze())
}
