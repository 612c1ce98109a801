//! One request sent to a receiver, its answer, and how Kirim would count that answer
//! (`kirim-api.md` section 4: 2xx delivered; 3xx, 408, 429, 5xx and timeouts retried; any
//! other 4xx failed at once).

use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

/// The most of an answer's body kept (and printed): enough for `ok` or an error message.
const MAX_ANSWER_BYTES: usize = 512;

/// One HTTP request as Kirim sends it, or deliberately not as Kirim sends it.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    /// The raw body, sent byte for byte.
    pub(crate) body: Bytes,
    /// `X-Kirim-Signature`, or none to leave the header out.
    pub(crate) signature: Option<String>,
    /// `X-Kirim-Event`.
    pub(crate) event: String,
    /// `X-Kirim-Event-Id`, or none to leave the header out.
    pub(crate) event_id: Option<String>,
    /// `X-Kirim-Source`.
    pub(crate) source: String,
    /// `X-Kirim-Attempt`.
    pub(crate) attempt: u32,
    /// `X-Kirim-Delivery-Id`.
    pub(crate) delivery_id: String,
}

/// What a receiver answered.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Answer {
    /// The status code.
    pub(crate) status: u16,
    /// The start of the body, as text (invalid UTF-8 replaced).
    pub(crate) body: String,
    /// `Retry-After`, in seconds, when the answer has a numeric one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) retry_after_secs: Option<u64>,
}

impl Answer {
    /// Whether the body says `duplicate` (the project's answer to a known event).
    pub(crate) fn says_duplicate(&self) -> bool {
        self.body.to_ascii_lowercase().contains("duplicate")
    }

    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = self.body.trim();
        let short: String = body.chars().take(40).collect();
        match (short.is_empty(), short.len() < body.len()) {
            (true, _) => write!(f, "{}", self.status),
            (false, false) => write!(f, "{} {short}", self.status),
            (false, true) => write!(f, "{} {short}…", self.status),
        }
    }
}

/// Why a request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub(crate) enum Unanswered {
    /// No answer within the timeout (Kirim's is 10 s).
    Timeout,
    /// The connection could not be made (refused, DNS, TLS).
    Connect,
    /// The connection broke, or the answer was not HTTP.
    Broken,
}

impl fmt::Display for Unanswered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "no answer within the timeout",
            Self::Connect => "could not connect",
            Self::Broken => "the connection broke before a complete answer",
        })
    }
}

/// An answer or the reason there was none, and how long it took.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    pub(crate) result: Result<Answer, Unanswered>,
    pub(crate) elapsed: Duration,
}

impl Exchange {
    /// The answer, if there was one.
    pub(crate) fn answer(&self) -> Option<&Answer> {
        self.result.as_ref().ok()
    }

    /// `200 ok (3 ms)`, or why there was no answer.
    pub(crate) fn describe(&self) -> String {
        match &self.result {
            Ok(answer) => format!("{answer} ({} ms)", self.elapsed.as_millis()),
            Err(reason) => format!("{reason} ({} ms)", self.elapsed.as_millis()),
        }
    }
}

/// POSTs `outgoing` to `url` with Kirim's headers and waits at most `timeout` for the whole
/// answer. Redirects are not followed (Kirim does not follow them).
pub(crate) async fn post(
    client: &reqwest::Client,
    url: &str,
    outgoing: &Outgoing,
    timeout: Duration,
) -> Exchange {
    let started = Instant::now();
    let result = exchange(client, url, outgoing, timeout).await;
    Exchange {
        result,
        elapsed: started.elapsed(),
    }
}

async fn exchange(
    client: &reqwest::Client,
    url: &str,
    outgoing: &Outgoing,
    timeout: Duration,
) -> Result<Answer, Unanswered> {
    let mut request = client
        .post(url)
        .timeout(timeout)
        .header("content-type", "application/json")
        .header("user-agent", "Kirim-Webhook/1.0")
        .header("x-kirim-event", &outgoing.event)
        .header("x-kirim-source", &outgoing.source)
        .header("x-kirim-delivery-id", &outgoing.delivery_id)
        .header("x-kirim-attempt", outgoing.attempt.to_string());
    if let Some(signature) = &outgoing.signature {
        request = request.header("x-kirim-signature", signature);
    }
    if let Some(event_id) = &outgoing.event_id {
        request = request.header("x-kirim-event-id", event_id);
    }
    let mut response = request
        .body(outgoing.body.clone())
        .send()
        .await
        .map_err(unanswered)?;
    let status = response.status().as_u16();
    let retry_after_secs = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse().ok());
    let mut body = Vec::new();
    // Read the whole answer (a timeout covers it), keep only its start: bounded memory.
    while let Some(chunk) = response.chunk().await.map_err(unanswered)? {
        let room = MAX_ANSWER_BYTES.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        retry_after_secs,
    })
}

fn unanswered(error: reqwest::Error) -> Unanswered {
    if error.is_timeout() {
        Unanswered::Timeout
    } else if error.is_connect() || error.is_builder() {
        Unanswered::Connect
    } else {
        Unanswered::Broken
    }
}

/// How Kirim counts one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Counted {
    /// 2xx: delivered, no more attempts.
    Delivered,
    /// Retried on the schedule: 3xx, 408, 429, 5xx, a timeout or a network error.
    Retried,
    /// Any other 4xx (or an answer HTTP does not define): failed at once, dead-lettered.
    Failed,
}

impl Counted {
    /// How Kirim counts `result`.
    pub(crate) fn of(result: &Result<Answer, Unanswered>) -> Self {
        match result {
            Err(_) => Self::Retried,
            Ok(answer) => match answer.status {
                200..=299 => Self::Delivered,
                300..=399 | 408 | 429 | 500..=599 => Self::Retried,
                _ => Self::Failed,
            },
        }
    }

    /// Why, in Kirim's terms, for the person reading.
    pub(crate) fn explain(result: &Result<Answer, Unanswered>) -> &'static str {
        match result {
            Err(Unanswered::Timeout) => "retried: no answer within Kirim's timeout",
            Err(_) => "retried: a network error",
            Ok(answer) => match answer.status {
                200..=299 => "delivered",
                300..=399 => "retried: Kirim does not follow redirects",
                408 => "retried: 408",
                429 => "retried: 429, after Retry-After",
                500..=599 => "retried: a server error",
                _ => "failed at once: a 4xx is permanent, the delivery is dead-lettered",
            },
        }
    }
}
