//! Why a webhook was refused: a generic answer for the caller, the precise reason for the
//! operator.

use std::fmt;

use axum_core::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, StatusCode};
use kirim_verify::{Rejection, bodies};

/// Body of a 400 for a body that could not be read (the client went away mid-body, or sent a
/// broken chunked encoding).
const BODY_UNREADABLE: &str = "failed to read the request body";
/// Body of a 400 for a verified body that is not the JSON the handler expects.
#[cfg(feature = "json")]
const INVALID_JSON: &str = "invalid JSON body";
/// Body of a 500: a server-side problem the caller can do nothing about.
pub(crate) const INTERNAL_ERROR: &str = "internal server error";

/// Why a request did not reach the handler, and what to answer.
///
/// As a response ([`IntoResponse`]) it carries the status of the spec's response table and a
/// short generic body ([`kirim_verify::bodies`]), plus `Retry-After` on a 503. The precise
/// reason, for the operator, is its [`Display`](fmt::Display) text and
/// [`source`](std::error::Error::source) chain; a `tracing` event is emitted where it is made
/// (`debug` for a refused client, `warn` for store trouble, `error` for a misconfiguration).
/// Neither ever contains the body, a secret or a computed signature.
///
/// Take `Result<KirimWebhook, KirimRejection>` in a handler to answer differently.
#[derive(Debug)]
#[non_exhaustive]
pub enum KirimRejection {
    /// The shared receiving flow refused the delivery: 400 (missing or malformed headers), 401
    /// (signature mismatch, timestamp outside the tolerance), 413 (body over the limit) or 503
    /// (dedup store unavailable, or the same event in progress elsewhere, with `Retry-After`).
    Refused(Rejection),
    /// The body could not be read: 400. The caller has usually gone away.
    BodyUnreadable(axum_core::Error),
    /// The body verified but is not the JSON [`KirimWebhook::json`](crate::KirimWebhook::json)
    /// was asked for: 400. The source's text may quote parts of the body.
    #[cfg(feature = "json")]
    InvalidJson(serde_json::Error),
    /// [`KirimWebhook`](crate::KirimWebhook) was extracted without [`KirimLayer`](crate::KirimLayer)
    /// from a [`Receiver`](kirim_verify::Receiver) with dedup configured: 500. The extractor
    /// cannot see the handler's response, so it cannot settle a dedup claim; rather than skip
    /// dedup silently it refuses every request. Add the layer to the route.
    DedupWithoutLayer,
}

impl KirimRejection {
    /// The HTTP status, per the spec's response table.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Refused(rejection) => StatusCode::from_u16(rejection.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Self::BodyUnreadable(_) => StatusCode::BAD_REQUEST,
            #[cfg(feature = "json")]
            Self::InvalidJson(_) => StatusCode::BAD_REQUEST,
            Self::DedupWithoutLayer => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The short, generic response body.
    #[must_use]
    pub fn body_text(&self) -> &'static str {
        match self {
            Self::Refused(rejection) => rejection.body(),
            Self::BodyUnreadable(_) => BODY_UNREADABLE,
            #[cfg(feature = "json")]
            Self::InvalidJson(_) => INVALID_JSON,
            Self::DedupWithoutLayer => INTERNAL_ERROR,
        }
    }

    /// The `Retry-After` value in seconds, for a 503.
    #[must_use]
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Refused(rejection) => rejection.retry_after_secs(),
            _ => None,
        }
    }

    /// The shared flow's rejection, when that is what this is.
    #[must_use]
    pub fn as_refused(&self) -> Option<&Rejection> {
        match self {
            Self::Refused(rejection) => Some(rejection),
            _ => None,
        }
    }

    /// Emits the operator's event: `error` for a misconfiguration, `warn` for server-side
    /// trouble (store, 5xx), `debug` for a refused client. Reasons only: never the body.
    pub(crate) fn log(&self) {
        let status = self.status().as_u16();
        match self {
            Self::DedupWithoutLayer => {
                tracing::error!(status, reason = %self, "kirim webhook refused")
            }
            #[cfg(feature = "json")]
            Self::InvalidJson(error) => tracing::debug!(
                status,
                // Category and position only: serde_json's message may quote the body.
                category = ?error.classify(),
                line = error.line(),
                column = error.column(),
                "kirim webhook body is not the expected JSON"
            ),
            _ if status >= 500 => tracing::warn!(
                status,
                reason = %self,
                source = %SourceChain(self),
                "kirim webhook refused"
            ),
            _ => tracing::debug!(status, reason = %self, "kirim webhook refused"),
        }
    }
}

impl fmt::Display for KirimRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(rejection) => fmt::Display::fmt(rejection, f),
            Self::BodyUnreadable(_) => f.write_str("failed to read the webhook body"),
            #[cfg(feature = "json")]
            Self::InvalidJson(_) => f.write_str("verified webhook body is not the expected JSON"),
            Self::DedupWithoutLayer => f.write_str(
                "KirimWebhook extracted without KirimLayer, but the Receiver has dedup configured: \
                 the extractor cannot see the handler's outcome to settle the claim; add \
                 `.route_layer(KirimLayer::new(receiver))` to the webhook route",
            ),
        }
    }
}

impl std::error::Error for KirimRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // The flow's Display is already ours; its own source (a store error) comes next.
            Self::Refused(rejection) => std::error::Error::source(rejection),
            Self::BodyUnreadable(error) => Some(error),
            #[cfg(feature = "json")]
            Self::InvalidJson(error) => Some(error),
            Self::DedupWithoutLayer => None,
        }
    }
}

impl From<Rejection> for KirimRejection {
    fn from(rejection: Rejection) -> Self {
        Self::Refused(rejection)
    }
}

impl IntoResponse for KirimRejection {
    fn into_response(self) -> Response {
        let mut response = text(self.status(), self.body_text());
        if let Some(secs) = self.retry_after_secs() {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A plain-text response.
pub(crate) fn text(status: StatusCode, body: &'static str) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// 200 `duplicate`: acknowledged, handler not run.
pub(crate) fn duplicate() -> Response {
    text(StatusCode::OK, bodies::DUPLICATE)
}

/// The `source()` chain of an error, joined with `: ` (empty when there is none).
struct SourceChain<'a>(&'a dyn std::error::Error);

impl fmt::Display for SourceChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut next = self.0.source();
        let mut first = true;
        while let Some(error) = next {
            if !first {
                f.write_str(": ")?;
            }
            write!(f, "{error}")?;
            first = false;
            next = error.source();
        }
        Ok(())
    }
}
