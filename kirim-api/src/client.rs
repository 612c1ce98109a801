//! The client: one API key, one base URL, every endpoint as a typed method, retries inside.

use std::collections::BinaryHeap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use crate::bulk_replay::{BulkReplay, BulkReplayAnswer, BulkReplayReport};
use crate::delivery::{
    Delivery, DeliveryQuery, DeliveryStatus, ListAnswer, ListData, ReplayedDelivery,
};
use crate::error::{
    ApiError, Envelope, Error, ErrorType, InvalidAnswer, InvalidInput, TransportError,
    TransportKind,
};
use crate::idempotency::IdempotencyKey;
use crate::retry::RetryPolicy;
use crate::subscription::{
    AddSecret, CreateSubscription, CreatedSubscription, NewSecret, Subscription, UpdateSubscription,
};

/// Kirim's production base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.kirim.chat/v1";

/// The per-attempt timeout unless set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer body read; a bigger one is a [`TransportKind::Body`] failure, so a broken
/// or hostile server cannot make the client buffer without bound.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// A client of Kirim's webhook management API.
///
/// Cheap to clone (the connection pool is shared). Every call retries what is safe to retry
/// (see [`RetryPolicy`]); every side-effecting POST carries an [`IdempotencyKey`], the same one
/// across its retries. `Debug` never shows the API key.
///
/// ```no_run
/// use kirim_api::{Client, CreateSubscription};
///
/// # async fn run() -> Result<(), kirim_api::Error> {
/// let client = Client::new(std::env::var("KIRIM_API_KEY").unwrap_or_default())?;
/// let created = client
///     .create_subscription(&CreateSubscription::new(
///         "https://example.com/webhooks/kirim",
///         ["contact.created"],
///     ))
///     .await?;
/// // Shown once: store it where the receiver reads KIRIM_WEBHOOK_SECRETS.
/// let _secret = created.initial_secret.expose();
/// client.pause_subscription(&created.subscription.id).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    authorization: HeaderValue,
    retry: RetryPolicy,
    timeout: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base.as_str())
            .field("api_key", &"<redacted>")
            .field("retry", &self.inner.retry)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

/// Builds a [`Client`].
pub struct ClientBuilder {
    api_key: Zeroizing<String>,
    base_url: String,
    retry: RetryPolicy,
    timeout: Duration,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ClientBuilder {
    /// The API base URL, up to and including the version (`…/v1`). Defaults to
    /// [`DEFAULT_BASE_URL`].
    #[must_use]
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Retries. Defaults to [`RetryPolicy::new`].
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The timeout of one attempt, connection and whole answer included. Defaults to
    /// [`DEFAULT_TIMEOUT`].
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// [`InvalidInput::ApiKey`], [`InvalidInput::BaseUrl`], [`InvalidInput::Tls`].
    pub fn build(self) -> Result<Client, Error> {
        if self.api_key.is_empty() {
            return Err(Error::InvalidInput(InvalidInput::ApiKey));
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", self.api_key.as_str()))
            .map_err(|_| Error::InvalidInput(InvalidInput::ApiKey))?;
        // Keeps the key out of reqwest's and hyper's own debug output.
        authorization.set_sensitive(true);
        let mut base =
            Url::parse(&self.base_url).map_err(|_| Error::InvalidInput(InvalidInput::BaseUrl))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(Error::InvalidInput(InvalidInput::BaseUrl));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            // Kirim does not redirect its API; following one could send the key elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("kirim-api/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| Error::InvalidInput(InvalidInput::Tls))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                authorization,
                retry: self.retry,
                timeout: self.timeout,
            }),
        })
    }
}

/// An answer that came back 2xx.
struct Answer {
    status: u16,
    request_id: Option<String>,
    body: Vec<u8>,
}

/// A failed call, and whether an earlier attempt may have been applied although no answer
/// said so (a timeout, a 5xx).
struct Failure {
    error: Error,
    ambiguous: bool,
}

impl From<Failure> for Error {
    fn from(failure: Failure) -> Self {
        failure.error
    }
}

#[derive(Deserialize)]
struct DataAnswer<T> {
    data: T,
}

impl Client {
    /// A client of Kirim's production API.
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::build`].
    pub fn new(api_key: impl Into<String>) -> Result<Self, Error> {
        Self::builder(api_key).build()
    }

    /// A builder, to set the base URL, retries and timeout.
    #[must_use]
    pub fn builder(api_key: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            api_key: Zeroizing::new(api_key.into()),
            base_url: DEFAULT_BASE_URL.to_owned(),
            retry: RetryPolicy::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The base URL calls go to.
    #[must_use]
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// `POST /webhook_subscriptions`, with a fresh idempotency key.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] with code `invalid_webhook_url` for a URL that is not `https://`, and any
    /// of [`Error`].
    pub async fn create_subscription(
        &self,
        request: &CreateSubscription,
    ) -> Result<CreatedSubscription, Error> {
        self.create_subscription_with_key(request, &IdempotencyKey::new_v4())
            .await
    }

    /// `POST /webhook_subscriptions` with your idempotency key.
    ///
    /// # Errors
    ///
    /// As [`create_subscription`](Self::create_subscription).
    pub async fn create_subscription_with_key(
        &self,
        request: &CreateSubscription,
        key: &IdempotencyKey,
    ) -> Result<CreatedSubscription, Error> {
        let body = to_json(request)?;
        let answer = self
            .call(
                Method::POST,
                &["webhook_subscriptions"],
                &[],
                Some(body),
                Some(key),
            )
            .await?;
        data(&answer)
    }

    /// `GET /webhook_subscriptions/{id}`.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] `not_found` for an unknown id, and any of [`Error`].
    pub async fn get_subscription(&self, id: &str) -> Result<Subscription, Error> {
        let answer = self
            .call(
                Method::GET,
                &["webhook_subscriptions", check_id(id)?],
                &[],
                None,
                None,
            )
            .await?;
        data(&answer)
    }

    /// `PATCH /webhook_subscriptions/{id}` with the fields set in `change`.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] `conflict` on a disabled subscription (resume it first), and any of
    /// [`Error`].
    pub async fn update_subscription(
        &self,
        id: &str,
        change: &UpdateSubscription,
    ) -> Result<Subscription, Error> {
        let body = to_json(change)?;
        // A PATCH sets fields: repeating it is harmless, so it is retried like a GET.
        let answer = self
            .call(
                Method::PATCH,
                &["webhook_subscriptions", check_id(id)?],
                &[],
                Some(body),
                None,
            )
            .await?;
        data(&answer)
    }

    /// Pauses deliveries (`PATCH status=paused`).
    ///
    /// # Errors
    ///
    /// As [`update_subscription`](Self::update_subscription).
    pub async fn pause_subscription(&self, id: &str) -> Result<Subscription, Error> {
        self.update_subscription(id, &UpdateSubscription::new().with_status("paused"))
            .await
    }

    /// Resumes deliveries (`PATCH status=active`): also turns a subscription Kirim disabled
    /// back on.
    ///
    /// # Errors
    ///
    /// As [`update_subscription`](Self::update_subscription).
    pub async fn resume_subscription(&self, id: &str) -> Result<Subscription, Error> {
        self.update_subscription(id, &UpdateSubscription::new().with_status("active"))
            .await
    }

    /// `POST /webhook_subscriptions/{id}/secrets`: step 1 of a rotation, with a fresh key.
    ///
    /// # Errors
    ///
    /// Any of [`Error`].
    pub async fn add_secret(
        &self,
        subscription_id: &str,
        request: &AddSecret,
    ) -> Result<NewSecret, Error> {
        self.add_secret_with_key(subscription_id, request, &IdempotencyKey::new_v4())
            .await
    }

    /// `POST /webhook_subscriptions/{id}/secrets` with your key: the same key again (within
    /// Kirim's 24 hours) answers the same secret instead of minting another.
    ///
    /// # Errors
    ///
    /// Any of [`Error`]; [`Error::Api`] `idempotency_key_reuse` (422) when the key was used
    /// with another body.
    pub async fn add_secret_with_key(
        &self,
        subscription_id: &str,
        request: &AddSecret,
        key: &IdempotencyKey,
    ) -> Result<NewSecret, Error> {
        let body = to_json(request)?;
        let answer = self
            .call(
                Method::POST,
                &[
                    "webhook_subscriptions",
                    check_id(subscription_id)?,
                    "secrets",
                ],
                &[],
                Some(body),
                Some(key),
            )
            .await?;
        data(&answer)
    }

    /// `DELETE /webhook_subscriptions/{id}/secrets/{secret_id}`: Kirim stops signing with it
    /// on the next event.
    ///
    /// A 404 after an attempt that may have been applied (it timed out, or got a 5xx) counts as
    /// deleted: the earlier attempt did it.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] `not_found` when there is no such secret, and any of [`Error`].
    pub async fn delete_secret(&self, subscription_id: &str, secret_id: &str) -> Result<(), Error> {
        let path = [
            "webhook_subscriptions",
            check_id(subscription_id)?,
            "secrets",
            check_id(secret_id)?,
        ];
        match self.call(Method::DELETE, &path, &[], None, None).await {
            Ok(_) => Ok(()),
            Err(Failure {
                error: Error::Api(error),
                ambiguous: true,
            }) if error.status == 404 => Ok(()),
            Err(failure) => Err(failure.error),
        }
    }

    /// The deliveries of a subscription, a page at a time.
    ///
    /// ```no_run
    /// # async fn run(client: kirim_api::Client) -> Result<(), kirim_api::Error> {
    /// use kirim_api::{DeliveryQuery, DeliveryStatus};
    ///
    /// let mut pages = client.list_deliveries(
    ///     DeliveryQuery::new("wbs_01J0000000000000000000000A").with_status(DeliveryStatus::Dead),
    /// );
    /// while let Some(page) = pages.next_page().await? {
    ///     for delivery in page {
    ///         println!("{} {:?}", delivery.id, delivery.response_status_code);
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn list_deliveries(&self, query: DeliveryQuery) -> DeliveryPages<'_> {
        DeliveryPages {
            client: self,
            query,
            next: Some(Cursor::First),
        }
    }

    /// `POST /webhook_deliveries/{id}/replay`: a new delivery of the same event; the original
    /// stays as it was.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] `conflict` when the subscription is disabled, and any of [`Error`].
    pub async fn replay_delivery(&self, delivery_id: &str) -> Result<ReplayedDelivery, Error> {
        self.replay_delivery_with_key(delivery_id, &IdempotencyKey::new_v4())
            .await
    }

    /// [`replay_delivery`](Self::replay_delivery) with your idempotency key.
    ///
    /// # Errors
    ///
    /// As [`replay_delivery`](Self::replay_delivery).
    pub async fn replay_delivery_with_key(
        &self,
        delivery_id: &str,
        key: &IdempotencyKey,
    ) -> Result<ReplayedDelivery, Error> {
        let answer = self
            .call(
                Method::POST,
                &["webhook_deliveries", check_id(delivery_id)?, "replay"],
                &[],
                Some(b"{}".to_vec()),
                Some(key),
            )
            .await?;
        data(&answer)
    }

    /// One `POST /webhook_deliveries/bulk_replay` (at most [`BULK_REPLAY_CAP`](crate::BULK_REPLAY_CAP)
    /// deliveries queued).
    ///
    /// # Errors
    ///
    /// [`Error::Api`] `conflict` when the subscription is disabled, and any of [`Error`].
    pub async fn bulk_replay(&self, request: &BulkReplay) -> Result<BulkReplayAnswer, Error> {
        self.bulk_replay_with_key(request, &IdempotencyKey::new_v4())
            .await
    }

    /// [`bulk_replay`](Self::bulk_replay) with your idempotency key.
    ///
    /// # Errors
    ///
    /// As [`bulk_replay`](Self::bulk_replay).
    pub async fn bulk_replay_with_key(
        &self,
        request: &BulkReplay,
        key: &IdempotencyKey,
    ) -> Result<BulkReplayAnswer, Error> {
        check_id(&request.subscription_id)?;
        let answer = self
            .call(
                Method::POST,
                &["webhook_deliveries", "bulk_replay"],
                &[],
                Some(request.body()?),
                Some(key),
            )
            .await?;
        data(&answer)
    }

    /// Bulk replay through the cap: calls bulk replay, and while Kirim answers `capped: true`
    /// moves the window's `created_after` past the deliveries just queued and calls again.
    /// `progress` sees the running total after each request.
    ///
    /// Kirim's docs do not say which deliveries a capped request queues. This assumes the
    /// oldest first, and finds where the queued ones end by listing the window's deliveries
    /// (the `n`-th oldest, `n` the count queued; `created_after` is taken as exclusive). Deliveries
    /// created in the same instant as that boundary but not queued would be skipped: Kirim's
    /// timestamps are finer than its traffic per subscription makes that likely.
    ///
    /// # Errors
    ///
    /// The first failing request's [`Error`]; what was queued before it stays queued, and
    /// `progress` has seen it.
    pub async fn bulk_replay_all(
        &self,
        request: &BulkReplay,
        mut progress: impl FnMut(&BulkReplayReport),
    ) -> Result<BulkReplayReport, Error> {
        let mut window = request.clone();
        let mut report = BulkReplayReport::default();
        loop {
            let answer = self.bulk_replay(&window).await?;
            report.enqueued = report.enqueued.saturating_add(answer.enqueued);
            report.requests = report.requests.saturating_add(1);
            progress(&report);
            if !answer.capped || answer.enqueued == 0 {
                return Ok(report);
            }
            let Some(boundary) = self.nth_oldest(&window, answer.enqueued).await? else {
                return Ok(report);
            };
            if window.created_after.is_some_and(|after| boundary <= after) {
                // No progress is possible: stop rather than queue the same deliveries again.
                return Ok(report);
            }
            window.created_after = Some(boundary);
        }
    }

    /// The creation time of the `n`-th oldest delivery the window selects, or of the newest
    /// when fewer match. Memory is bounded by `n`, not by the list's length.
    async fn nth_oldest(
        &self,
        window: &BulkReplay,
        n: u64,
    ) -> Result<Option<OffsetDateTime>, Error> {
        let capacity = usize::try_from(n).unwrap_or(usize::MAX).min(1 << 16);
        let mut oldest: BinaryHeap<OffsetDateTime> = BinaryHeap::with_capacity(capacity);
        let mut pages = self.list_deliveries(
            DeliveryQuery::new(window.subscription_id.clone())
                .with_status(window.status_or_default()),
        );
        while let Some(page) = pages.next_page().await? {
            for delivery in page {
                let Some(created_at) = delivery
                    .created_at
                    .as_deref()
                    .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                else {
                    continue;
                };
                if !window.selects(delivery.event_type.as_deref(), created_at) {
                    continue;
                }
                if oldest.len() < capacity {
                    oldest.push(created_at);
                } else if oldest.peek().is_some_and(|newest| created_at < *newest) {
                    oldest.pop();
                    oldest.push(created_at);
                }
            }
        }
        Ok(oldest.peek().copied())
    }

    /// One call, with retries.
    async fn call(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
        key: Option<&IdempotencyKey>,
    ) -> Result<Answer, Failure> {
        let inner = &self.inner;
        let mut url = inner.base.clone();
        {
            let Ok(mut segments) = url.path_segments_mut() else {
                return Err(Failure {
                    error: Error::InvalidInput(InvalidInput::BaseUrl),
                    ambiguous: false,
                });
            };
            segments.pop_if_empty().extend(path);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let started = Instant::now();
        let mut attempt = 0u32;
        let mut ambiguous = false;
        loop {
            attempt += 1;
            let remaining = inner.retry.deadline.saturating_sub(started.elapsed());
            let mut request = inner
                .http
                .request(method.clone(), url.clone())
                .header(AUTHORIZATION, inner.authorization.clone())
                .timeout(inner.timeout.min(remaining));
            if let Some(body) = &body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            if let Some(key) = key {
                request = request.header("Idempotency-Key", key.as_str());
            }
            let (error, retry_after) = match send(request).await {
                Ok((status, headers, bytes)) => {
                    let request_id = header_str(&headers, "x-request-id");
                    if status.is_success() {
                        return Ok(Answer {
                            status: status.as_u16(),
                            request_id,
                            body: bytes,
                        });
                    }
                    let error = api_error(status, &headers, &bytes, request_id);
                    let retryable = matches!(error.status, 429 | 502 | 503 | 504)
                        || (error.status == 409 && error.code == "idempotency_in_progress");
                    let retry_after = error.retry_after;
                    if error.status >= 500 {
                        ambiguous = true;
                    }
                    if !retryable {
                        return Err(Failure {
                            error: Error::Api(Box::new(error)),
                            ambiguous,
                        });
                    }
                    (Error::Api(Box::new(error)), retry_after)
                }
                Err((kind, source)) => {
                    // A timeout or a broken body may follow a change that was applied.
                    ambiguous |= kind != TransportKind::Connect;
                    let error = Error::Transport(TransportError {
                        kind,
                        attempts: attempt,
                        source,
                    });
                    (error, None)
                }
            };
            if attempt >= inner.retry.max_attempts {
                return Err(Failure { error, ambiguous });
            }
            let wait = retry_after.unwrap_or_else(|| inner.retry.backoff(attempt));
            if started.elapsed() + wait >= inner.retry.deadline {
                return Err(Failure { error, ambiguous });
            }
            tracing::debug!(
                attempt,
                wait_ms = wait.as_millis() as u64,
                "kirim api: retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

/// Sends one attempt and reads its body (bounded).
async fn send(
    request: reqwest::RequestBuilder,
) -> Result<
    (StatusCode, reqwest::header::HeaderMap, Vec<u8>),
    (TransportKind, Option<reqwest::Error>),
> {
    let mut response = request.send().await.map_err(|e| (classify(&e), Some(e)))?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| (classify(&e), Some(e)))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err((TransportKind::Body, None));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, headers, body))
}

fn classify(error: &reqwest::Error) -> TransportKind {
    if error.is_timeout() {
        TransportKind::Timeout
    } else if error.is_connect() {
        TransportKind::Connect
    } else if error.is_body() || error.is_decode() {
        TransportKind::Body
    } else {
        TransportKind::Other
    }
}

fn header_str(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Kirim's envelope when there is one; the status alone when not (a proxy's error page).
fn api_error(
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
    header_request_id: Option<String>,
) -> ApiError {
    let envelope = serde_json::from_slice::<Envelope>(body)
        .ok()
        .and_then(|e| e.error);
    let retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let status_code = status.as_u16();
    match envelope {
        Some(error) => ApiError {
            status: status_code,
            kind: error
                .kind
                .as_deref()
                .map_or_else(|| ErrorType::for_status(status_code), ErrorType::parse),
            code: error.code.unwrap_or_default(),
            message: error.message.unwrap_or_default(),
            param: error.param,
            request_id: error.request_id.or(header_request_id),
            retry_after,
        },
        None => ApiError {
            status: status_code,
            kind: ErrorType::for_status(status_code),
            code: String::new(),
            message: status.canonical_reason().unwrap_or("").to_lowercase(),
            param: None,
            request_id: header_request_id,
            retry_after,
        },
    }
}

fn data<T: DeserializeOwned>(answer: &Answer) -> Result<T, Error> {
    serde_json::from_slice::<DataAnswer<T>>(&answer.body)
        .map(|wire| wire.data)
        .map_err(|source| {
            Error::InvalidAnswer(InvalidAnswer {
                status: answer.status,
                request_id: answer.request_id.clone(),
                reason: "the body is not the documented json",
                source: Some(source),
            })
        })
}

fn to_json(value: &impl serde::Serialize) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|_| Error::InvalidInput(InvalidInput::Body))
}

/// Ids go into the path: letters, digits and `_` only, so none can reach another route.
fn check_id(id: &str) -> Result<&str, Error> {
    if id.is_empty()
        || id.len() > 128
        || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(Error::InvalidInput(InvalidInput::Id));
    }
    Ok(id)
}

enum Cursor {
    First,
    After(String),
    Token(String),
}

/// The pages of [`Client::list_deliveries`]: call [`next_page`](Self::next_page) until `None`.
///
/// Kirim's docs do not document the list's shape or paging. This client reads `data` as the
/// array of deliveries (or as an object holding a `data` array), and pages on while the answer
/// says `has_more: true`: with `cursor=<next_cursor>` when the answer gives a `next_cursor`,
/// else with `starting_after=<the last id>`. An answer without `has_more` or `next_cursor` is
/// the last page; so is an empty page, and a page whose last id repeats the previous one, so a
/// server that ignores the cursor cannot keep the client looping.
#[derive(Debug)]
pub struct DeliveryPages<'a> {
    client: &'a Client,
    query: DeliveryQuery,
    next: Option<Cursor>,
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::First => f.write_str("First"),
            Self::After(id) => write!(f, "After({id})"),
            Self::Token(token) => write!(f, "Token({token})"),
        }
    }
}

impl DeliveryPages<'_> {
    /// The next page, or `None` after the last.
    ///
    /// # Errors
    ///
    /// Any of [`Error`]; the same page can be asked for again.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Delivery>>, Error> {
        let Some(cursor) = self.next.take() else {
            return Ok(None);
        };
        let limit = self.query.page_size.to_string();
        let status = self.query.status.as_ref().map(DeliveryStatus::as_str);
        let mut query: Vec<(&str, &str)> = vec![
            ("subscription_id", self.query.subscription_id.as_str()),
            ("limit", &limit),
        ];
        if let Some(status) = status {
            query.push(("status", status));
        }
        match &cursor {
            Cursor::First => {}
            Cursor::After(id) => query.push(("starting_after", id)),
            Cursor::Token(token) => query.push(("cursor", token)),
        }
        check_id(&self.query.subscription_id)?;
        let answer = match self
            .client
            .call(Method::GET, &["webhook_deliveries"], &query, None, None)
            .await
        {
            Ok(answer) => answer,
            Err(failure) => {
                self.next = Some(cursor);
                return Err(failure.error);
            }
        };
        let list: ListAnswer = serde_json::from_slice(&answer.body).map_err(|source| {
            Error::InvalidAnswer(InvalidAnswer {
                status: answer.status,
                request_id: answer.request_id.clone(),
                reason: "the list is not an array of deliveries",
                source: Some(source),
            })
        })?;
        let (items, next) = after_page(list, &cursor);
        self.next = next;
        Ok(Some(items))
    }
}

/// A page's items, and where the next page starts (`None`: this was the last). A cursor that
/// repeats the one just used ends the listing: the server ignored it.
fn after_page(list: ListAnswer, used: &Cursor) -> (Vec<Delivery>, Option<Cursor>) {
    let (items, has_more, next_cursor) = match list.data {
        ListData::Items(items) => (items, list.has_more, list.next_cursor),
        ListData::Wrapped {
            data,
            has_more,
            next_cursor,
        } => (
            data,
            has_more.or(list.has_more),
            next_cursor.or(list.next_cursor),
        ),
    };
    let more = has_more.unwrap_or(next_cursor.is_some());
    let next = match (more, next_cursor, items.last()) {
        (false, _, _) => None,
        (true, Some(token), _) => match used {
            Cursor::Token(previous) if *previous == token => None,
            _ => Some(Cursor::Token(token)),
        },
        (true, None, Some(last)) => match used {
            Cursor::After(previous) if *previous == last.id => None,
            _ => Some(Cursor::After(last.id.clone())),
        },
        (true, None, None) => None,
    };
    (items, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(json: &str, used: &Cursor) -> (usize, Option<String>) {
        let list: ListAnswer = serde_json::from_str(json).unwrap();
        let (items, next) = after_page(list, used);
        (items.len(), next.map(|c| format!("{c:?}")))
    }

    const D1: &str = r#"{"id":"wbd_1","status":"dead"}"#;
    const D2: &str = r#"{"id":"wbd_2","status":"dead","unknown":{"x":1}}"#;

    #[test]
    fn list_shapes_and_cursors() {
        let first = Cursor::First;
        // An array with has_more: on after the last id.
        let json = format!(r#"{{"data":[{D1},{D2}],"has_more":true,"request_id":"req_1"}}"#);
        assert_eq!(page(&json, &first), (2, Some("After(wbd_2)".into())));
        // The same last id again: the server ignored starting_after.
        assert_eq!(page(&json, &Cursor::After("wbd_2".into())), (2, None));
        // A wrapped list with a cursor.
        let json = format!(
            r#"{{"data":{{"object":"list","data":[{D1}],"has_more":true,"next_cursor":"c2"}}}}"#
        );
        assert_eq!(page(&json, &first), (1, Some("Token(c2)".into())));
        assert_eq!(page(&json, &Cursor::Token("c2".into())), (1, None));
        // A cursor without has_more means more.
        let json = format!(r#"{{"data":[{D1}],"next_cursor":"c3"}}"#);
        assert_eq!(page(&json, &first), (1, Some("Token(c3)".into())));
        // Nothing says more: the last page; an empty page with has_more too.
        assert_eq!(page(&format!(r#"{{"data":[{D1}]}}"#), &first), (1, None));
        assert_eq!(page(r#"{"data":[],"has_more":true}"#, &first), (0, None));
        assert_eq!(
            page(
                &format!(r#"{{"data":[{D1}],"has_more":false,"next_cursor":"c"}}"#),
                &first
            ),
            (1, None)
        );
    }
}
