//! The one error type: an answer Kirim refused with, a transport failure, or an answer that
//! could not be read.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// Why a call did not succeed.
///
/// [`Error::Api`] is Kirim's own refusal (its error envelope, with the HTTP status);
/// [`Error::Transport`] means no answer came back (connect, timeout, an interrupted body), so
/// the change may or may not have been applied: retry with the same idempotency key.
/// The API key never appears in any of them.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Kirim answered with an error (after retries, for the retryable ones).
    Api(Box<ApiError>),
    /// No answer: the connection, a timeout or the body failed (after retries).
    Transport(TransportError),
    /// Kirim answered 2xx with a body this client could not read.
    InvalidAnswer(InvalidAnswer),
    /// The call was not sent: one of its arguments cannot be.
    InvalidInput(InvalidInput),
}

impl Error {
    /// The request id Kirim gave the (last) answer, if there was an answer that named one.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Api(error) => error.request_id.as_deref(),
            Self::InvalidAnswer(error) => error.request_id.as_deref(),
            Self::Transport(_) | Self::InvalidInput(_) => None,
        }
    }

    /// The API error, when Kirim refused.
    #[must_use]
    pub fn as_api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(error) => Some(&**error),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api(error) => error.fmt(f),
            Self::Transport(error) => error.fmt(f),
            Self::InvalidAnswer(error) => error.fmt(f),
            Self::InvalidInput(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Transport(error) => error.source(),
            Self::InvalidAnswer(error) => error.source(),
            Self::Api(_) | Self::InvalidInput(_) => None,
        }
    }
}

/// The `type` of Kirim's error envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorType {
    /// `invalid_request_error` (400, 422).
    InvalidRequest,
    /// `authentication_error` (401): the API key is missing, wrong or revoked.
    Authentication,
    /// `permission_error` (403).
    Permission,
    /// `not_found` (404; also another organisation's resource).
    NotFound,
    /// `conflict` (409: the subscription is disabled, an idempotent request is in flight).
    Conflict,
    /// `rate_limit_error` (429).
    RateLimit,
    /// `api_error` (5xx).
    Api,
    /// A type this client does not know yet.
    Unknown(String),
}

impl ErrorType {
    pub(crate) fn parse(name: &str) -> Self {
        match name {
            "invalid_request_error" => Self::InvalidRequest,
            "authentication_error" => Self::Authentication,
            "permission_error" => Self::Permission,
            "not_found" => Self::NotFound,
            "conflict" => Self::Conflict,
            "rate_limit_error" => Self::RateLimit,
            "api_error" => Self::Api,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The name as Kirim writes it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request_error",
            Self::Authentication => "authentication_error",
            Self::Permission => "permission_error",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::RateLimit => "rate_limit_error",
            Self::Api => "api_error",
            Self::Unknown(name) => name,
        }
    }

    /// What an answer without an envelope (a proxy's 502 page) is taken for.
    pub(crate) fn for_status(status: u16) -> Self {
        match status {
            401 => Self::Authentication,
            403 => Self::Permission,
            404 => Self::NotFound,
            409 => Self::Conflict,
            429 => Self::RateLimit,
            400..=499 => Self::InvalidRequest,
            _ => Self::Api,
        }
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kirim's error envelope, with the HTTP status it came with.
///
/// Branch on [`code`](Self::code) (stable), never on [`message`](Self::message).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The envelope's `type`.
    pub kind: ErrorType,
    /// The envelope's `code` (`invalid_webhook_url`, `subscription_disabled`, …); empty when
    /// the answer had no envelope.
    pub code: String,
    /// The envelope's `message`, for people.
    pub message: String,
    /// The request field the error is about, if any.
    pub param: Option<String>,
    /// The request id, from the envelope or the `X-Request-Id` header.
    pub request_id: Option<String>,
    /// `Retry-After`, when the answer had one.
    pub retry_after: Option<Duration>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kirim refused the request: {} {}",
            self.status, self.kind
        )?;
        if !self.code.is_empty() {
            write!(f, " {}", self.code)?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(param) = &self.param {
            write!(f, " (param {param})")?;
        }
        if let Some(request_id) = &self.request_id {
            write!(f, " (request_id {request_id})")?;
        }
        Ok(())
    }
}

/// The wire form of the envelope; every field optional so that a partial one still reads.
#[derive(Deserialize)]
pub(crate) struct Envelope {
    pub(crate) error: Option<EnvelopeError>,
}

#[derive(Deserialize)]
pub(crate) struct EnvelopeError {
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) code: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) param: Option<String>,
    pub(crate) request_id: Option<String>,
}

/// What kind of transport failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// The connection could not be made (refused, DNS, TLS).
    Connect,
    /// An attempt ran past its timeout, or the overall deadline passed.
    Timeout,
    /// The answer's body broke off or was larger than the client reads.
    Body,
    /// Anything else reqwest reports.
    Other,
}

/// No usable answer came back.
#[derive(Debug)]
pub struct TransportError {
    pub(crate) kind: TransportKind,
    pub(crate) attempts: u32,
    pub(crate) source: Option<reqwest::Error>,
}

impl TransportError {
    /// What failed.
    #[must_use]
    pub fn kind(&self) -> TransportKind {
        self.kind
    }

    /// How many attempts were made.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            TransportKind::Connect => "could not connect to kirim",
            TransportKind::Timeout => "kirim did not answer in time",
            TransportKind::Body => "kirim's answer broke off",
            TransportKind::Other => "the request to kirim failed",
        };
        write!(f, "{what} (after {} attempts)", self.attempts)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A 2xx answer this client could not read.
#[derive(Debug)]
pub struct InvalidAnswer {
    pub(crate) status: u16,
    pub(crate) request_id: Option<String>,
    pub(crate) reason: &'static str,
    pub(crate) source: Option<serde_json::Error>,
}

impl InvalidAnswer {
    /// The HTTP status of the answer.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.status
    }
}

impl fmt::Display for InvalidAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unreadable answer from kirim ({}): {}",
            self.status, self.reason
        )?;
        if let Some(request_id) = &self.request_id {
            write!(f, " (request_id {request_id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidAnswer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// An argument that cannot be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidInput {
    /// The API key is empty or holds characters a header cannot.
    ApiKey,
    /// The base URL does not parse or is not http(s).
    BaseUrl,
    /// An id (subscription, secret, delivery) is empty or holds characters other than
    /// letters, digits and `_`.
    Id,
    /// An idempotency key is empty, longer than 255 characters or not visible ASCII.
    IdempotencyKey,
    /// A time is not RFC 3339.
    Time,
    /// The HTTP client (its TLS configuration) could not be built.
    Tls,
    /// The request body could not be encoded as JSON.
    Body,
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ApiKey => "invalid api key (empty, or not a valid header value)",
            Self::BaseUrl => "invalid base url (not an http or https url)",
            Self::Id => "invalid id (only letters, digits and _ are allowed)",
            Self::IdempotencyKey => "invalid idempotency key (1 to 255 visible ascii characters)",
            Self::Time => "invalid time (rfc 3339 expected)",
            Self::Tls => "could not build the http client (tls configuration)",
            Self::Body => "could not encode the request body",
        })
    }
}
