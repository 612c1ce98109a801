//! The I/O glue around the core's receiving flow: actix headers in, payload frames through
//! [`BodyIntake`], the verified delivery and the exact bytes out.

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header::HeaderMap;
use actix_web::{FromRequest, HttpRequest, web};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use kirim_verify::{BodyIntake, Receiver, Rejection, Webhook};

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

/// Runs the flow up to a verified delivery: declared length (413), signature header and
/// timestamp (400/401) before any byte of the body is read, then every frame counted (413)
/// and hashed, then the signature compared.
///
///
/// Refusals are logged here, where they are made.
pub(crate) async fn receive(
    receiver: &Receiver,
    req: &HttpRequest,
    payload: Payload,
    limits: Limits,
) -> Result<Webhook, KirimRejection> {
    read_and_verify(receiver, req, payload, limits)
        .await
        .map_err(KirimRejection::logged)
}

async fn read_and_verify(
    receiver: &Receiver,
    req: &HttpRequest,
    payload: Payload,
    limits: Limits,
) -> Result<Webhook, Rejection> {
    let mut intake = receiver.begin_now(lookup(req.headers()))?;
    match limits {
        Limits::Receiver => read(&mut intake, payload).await?,
        Limits::AlsoPayloadConfig => read_with_payload_config(&mut intake, req, payload).await?,
    }
    intake.finish_now()
}

async fn read(intake: &mut BodyIntake<'_>, mut payload: Payload) -> Result<(), Rejection> {
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| Rejection::BodyUnreadable(Box::new(e)))?;
        intake.push(chunk)?;
    }
    Ok(())
}

/// `PayloadConfig`'s limit is private to actix, so actix's own `Bytes` extractor enforces it
/// (and its content type rule) while a pass-through stream keeps the raw frames and stops at
/// the receiver's limit. The raw frames, not the extractor's output, are what was signed
/// (`Bytes` may decode a `Content-Encoding`).
async fn read_with_payload_config(
    intake: &mut BodyIntake<'_>,
    req: &HttpRequest,
    payload: Payload,
) -> Result<(), Rejection> {
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
        return Err(Rejection::TooLarge {
            limit: Some(intake.limit()),
        });
    }
    if let Err(error) = checked {
        let over_config_limit = matches!(
            error.as_error::<PayloadError>(),
            Some(PayloadError::Overflow)
        );
        return Err(if over_config_limit {
            // `PayloadConfig` keeps its limit private.
            Rejection::TooLarge { limit: None }
        } else {
            // `actix_web::Error` is not `Send`, so it cannot be kept as the source: its text is.
            Rejection::BodyUnreadable(error.to_string().into())
        });
    }
    for frame in frames.take() {
        intake.push(frame)?;
    }
    Ok(())
}
