//! The I/O glue around the core's receiving flow: actix headers in, payload frames through
//! the core's body intake, the verified delivery and the exact bytes out.

use actix_web::HttpRequest;
use actix_web::dev::Payload;
use actix_web::http::header::{HeaderMap, HeaderName};
use futures_util::StreamExt;
use kirim_verify::{Receiver, Rejection, Webhook};

use crate::rejection::KirimRejection;

/// The one bridge from actix's `http` 0.2 headers to the core: the raw value of a lowercase
/// header name, the names the flow asks for looked up by prebuilt `HeaderName`s.
pub(crate) fn lookup<'h>(headers: &'h HeaderMap) -> impl Fn(&'static str) -> Option<&'h [u8]> + 'h {
    kirim_verify::flow::lookup_by_header_name!(headers, HeaderName)
}

/// Reads and verifies one request, logging a refusal where it is made. The intake is the one
/// body counter: frames are pushed as they arrive, and reading stops at the first refusal.
pub(crate) async fn receive(
    receiver: &Receiver,
    req: &HttpRequest,
    mut payload: Payload,
) -> Result<Webhook, KirimRejection> {
    let read = async {
        let mut intake = receiver.begin_now(lookup(req.headers()), None)?;
        // Nothing is read after the body's time is up: a trickled forgery holds the
        // connection no longer than that.
        // One timer for the whole read: a body that has already arrived arms none.
        let time_left = intake.time_left();
        let chunks = async {
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|error| Rejection::BodyUnreadable(Box::new(error)))?;
                intake.push(chunk)?;
            }
            Ok::<_, Rejection>(())
        };
        tokio::time::timeout(time_left, chunks)
            .await
            .map_err(|_| Rejection::BodyTimeout)??;
        intake.finish_now()
    };
    read.await.map_err(KirimRejection::logged)
}
