//! The HTTP side: one handler that authenticates, applies faults and idempotency, routes, and
//! writes Kirim's envelope.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Shared;
use super::faults::Fault;
use super::idempotency::Lookup;
use super::state::{RecordedRequest, State};

pub(crate) fn app(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// A handler's answer before the request id is written in.
pub(crate) struct Reply {
    status: u16,
    body: Value,
}

fn ok(data: Value) -> Reply {
    Reply {
        status: 200,
        body: json!({ "data": data }),
    }
}

fn error(status: u16, kind: &str, code: &str, message: &str, param: Option<&str>) -> Reply {
    let mut error = json!({ "type": kind, "code": code, "message": message });
    if let Some(param) = param {
        error["param"] = json!(param);
    }
    Reply {
        status,
        body: json!({ "error": error }),
    }
}

fn not_found(what: &str) -> Reply {
    error(
        404,
        "not_found",
        "resource_missing",
        &format!("no such {what}"),
        None,
    )
}

fn invalid(code: &str, message: &str, param: &str) -> Reply {
    error(400, "invalid_request_error", code, message, Some(param))
}

fn disabled() -> Reply {
    error(
        409,
        "conflict",
        "subscription_disabled",
        "the subscription is disabled; set status=active to turn it back on",
        None,
    )
}

/// Removes the in-flight idempotency entry if the handler is dropped before it finished (the
/// client went away before the change was applied).
struct InFlightGuard<'a> {
    shared: &'a Shared,
    key: Option<String>,
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.shared.state().idempotency.abandon(&key);
        }
    }
}

async fn handle(
    AxumState(shared): AxumState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.strip_prefix("Bearer ") == Some(shared.api_key.as_str()));
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let fault = {
        let mut state = shared.state();
        state.requests.push(RecordedRequest {
            method: method.to_string(),
            path: path.clone(),
            query: uri.query().map(str::to_owned),
            idempotency_key: idempotency_key.clone(),
            authorized,
            body: body.to_vec(),
            at: Instant::now(),
        });
        let method = method.as_str();
        let rule = state.faults.iter_mut().find(|r| r.matches(method, &path));
        rule.map(|rule| {
            rule.remaining -= 1;
            rule.fault.clone()
        })
    };

    if !authorized {
        return respond(
            &shared,
            error(
                401,
                "authentication_error",
                "invalid_api_key",
                "invalid api key",
                None,
            ),
            false,
        );
    }
    let mut stall = None;
    let mut hold = None;
    match fault {
        Some(Fault::RateLimited { retry_after_secs }) => {
            let mut response = respond(
                &shared,
                error(
                    429,
                    "rate_limit_error",
                    "rate_limited",
                    "too many requests",
                    None,
                ),
                false,
            );
            if let Ok(value) = retry_after_secs.to_string().parse() {
                response.headers_mut().insert("retry-after", value);
            }
            return response;
        }
        Some(Fault::Unavailable) => {
            return respond(
                &shared,
                error(
                    503,
                    "api_error",
                    "service_unavailable",
                    "try again later",
                    None,
                ),
                false,
            );
        }
        Some(Fault::BadGatewayWithoutEnvelope) => {
            let mut response =
                Response::new(Body::from("<html><body>502 Bad Gateway</body></html>"));
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            return response;
        }
        Some(Fault::Unauthorized) => {
            return respond(
                &shared,
                error(
                    401,
                    "authentication_error",
                    "invalid_api_key",
                    "invalid api key",
                    None,
                ),
                false,
            );
        }
        Some(Fault::NotFound) => return respond(&shared, not_found("resource"), false),
        Some(Fault::StallAfterApply(d)) => stall = Some(d),
        Some(Fault::HoldInFlight(d)) => hold = Some(d),
        None => {}
    }

    let mut guard = InFlightGuard {
        shared: &shared,
        key: None,
    };
    if method == Method::POST
        && let Some(key) = &idempotency_key
    {
        let mut fingerprint = path.as_bytes().to_vec();
        fingerprint.push(0);
        fingerprint.extend_from_slice(&body);
        let lookup = shared.state().idempotency.begin(key, fingerprint);
        match lookup {
            Lookup::Fresh => guard.key = Some(key.clone()),
            Lookup::Replay { status, body } => {
                let request_id = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| {
                        v.get("request_id")
                            .or_else(|| v.get("error").and_then(|e| e.get("request_id")))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .unwrap_or_default();
                return raw(status, body, &request_id, true);
            }
            Lookup::Reused => {
                return respond(
                    &shared,
                    error(
                        422,
                        "invalid_request_error",
                        "idempotency_key_reuse",
                        "this idempotency key was used with another request",
                        None,
                    ),
                    false,
                );
            }
            Lookup::InFlight => {
                return respond(
                    &shared,
                    error(
                        409,
                        "conflict",
                        "idempotency_in_progress",
                        "a request with this idempotency key is in progress",
                        None,
                    ),
                    false,
                );
            }
        }
    }
    if let Some(hold) = hold {
        tokio::time::sleep(hold).await;
    }

    let reply = {
        let mut state = shared.state();
        route(&mut state, &method, &path, uri.query(), &body)
    };
    let (status, bytes, request_id) = finish(&shared, reply);
    if let Some(key) = guard.key.take() {
        shared
            .state()
            .idempotency
            .finish(&key, status, bytes.clone());
    }
    if let Some(stall) = stall {
        // Applied and stored: the client times out and retries into the stored answer.
        tokio::time::sleep(stall).await;
    }
    raw(status, bytes, &request_id, false)
}

/// Writes the request id in, adds unknown fields when asked, serialises.
fn finish(shared: &Shared, reply: Reply) -> (u16, Vec<u8>, String) {
    let (request_id, extra) = {
        let mut state = shared.state();
        (state.next_request_id(), state.extra_fields)
    };
    let mut body = reply.body;
    if let Some(error) = body.get_mut("error").and_then(Value::as_object_mut) {
        error.insert("request_id".to_owned(), json!(request_id));
        if extra {
            error.insert("doc_url".to_owned(), json!("https://docs.example/errors"));
        }
    } else if let Some(object) = body.as_object_mut() {
        object.insert("request_id".to_owned(), json!(request_id));
    }
    if extra {
        add_unknown_fields(&mut body);
    }
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    (reply.status, bytes, request_id)
}

fn add_unknown_fields(body: &mut Value) {
    if let Some(object) = body.as_object_mut() {
        object.insert("livemode".to_owned(), json!(false));
        match object.get_mut("data") {
            Some(Value::Array(items)) => items.iter_mut().for_each(insert_unknown),
            Some(data @ Value::Object(_)) => insert_unknown(data),
            _ => {}
        }
    }
}

fn insert_unknown(value: &mut Value) {
    if let Some(object) = value.as_object_mut() {
        object.insert(
            "x_future_field".to_owned(),
            json!({ "nested": [1, 2, 3], "flag": true }),
        );
        if let Some(Value::Array(secrets)) = object.get_mut("secrets") {
            for secret in secrets {
                if let Some(secret) = secret.as_object_mut() {
                    secret.insert("algorithm".to_owned(), json!("hmac-sha256"));
                }
            }
        }
    }
}

fn respond(shared: &Shared, reply: Reply, replayed: bool) -> Response {
    let (status, bytes, request_id) = finish(shared, reply);
    raw(status, bytes, &request_id, replayed)
}

fn raw(status: u16, body: Vec<u8>, request_id: &str, replayed: bool) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        axum::http::HeaderValue::from_static("application/json"),
    );
    if let Ok(value) = request_id.parse() {
        headers.insert("x-request-id", value);
    }
    if replayed {
        headers.insert(
            "idempotent-replayed",
            axum::http::HeaderValue::from_static("true"),
        );
    }
    response
}

fn route(
    state: &mut State,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Reply {
    let Some(rest) = path.strip_prefix("/v1/") else {
        return not_found("route");
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let json_body = || -> Result<Map<String, Value>, Reply> {
        if body.is_empty() {
            return Ok(Map::new());
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(error(
                400,
                "invalid_request_error",
                "invalid_json",
                "the body is not a json object",
                None,
            )),
        }
    };
    let parsed = match json_body() {
        Ok(map) => map,
        Err(reply) => return reply,
    };
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["webhook_subscriptions"]) => create_subscription(state, &parsed),
        ("GET", ["webhook_subscriptions", id]) => match state.subscriptions.get(*id) {
            Some(s) => ok(s.to_json()),
            None => not_found("subscription"),
        },
        ("PATCH", ["webhook_subscriptions", id]) => update_subscription(state, id, &parsed),
        ("POST", ["webhook_subscriptions", id, "secrets"]) => add_secret(state, id, &parsed),
        ("DELETE", ["webhook_subscriptions", id, "secrets", secret_id]) => {
            delete_secret(state, id, secret_id)
        }
        ("GET", ["webhook_deliveries"]) => list_deliveries(state, query.unwrap_or("")),
        ("POST", ["webhook_deliveries", "bulk_replay"]) => bulk_replay(state, &parsed),
        ("POST", ["webhook_deliveries", id, "replay"]) => replay(state, id),
        _ => not_found("route"),
    }
}

fn events_of(value: Option<&Value>) -> Result<Vec<String>, Reply> {
    let names = value.and_then(Value::as_array).map(|items| {
        items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
    });
    match names {
        Some(Some(names)) if !names.is_empty() => Ok(names),
        _ => Err(invalid(
            "invalid_events",
            "events must be a non-empty array of event names",
            "events",
        )),
    }
}

fn check_url(value: Option<&Value>) -> Result<String, Reply> {
    match value.and_then(Value::as_str) {
        Some(url) if url.starts_with("https://") && url.len() > "https://".len() => {
            Ok(url.to_owned())
        }
        _ => Err(invalid(
            "invalid_webhook_url",
            "url must be an https:// url",
            "url",
        )),
    }
}

fn create_subscription(state: &mut State, body: &Map<String, Value>) -> Reply {
    let url = match check_url(body.get("url")) {
        Ok(url) => url,
        Err(reply) => return reply,
    };
    let events = match events_of(body.get("events")) {
        Ok(events) => events,
        Err(reply) => return reply,
    };
    let description = body
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let record = state.create_subscription(url, events, description);
    let mut data = record.to_json();
    if let Some(secret) = record.secrets.first() {
        data["initial_secret"] = json!(secret.value);
    }
    ok(data)
}

fn update_subscription(state: &mut State, id: &str, body: &Map<String, Value>) -> Reply {
    let Some(current) = state.subscriptions.get(id) else {
        return not_found("subscription");
    };
    let status = match body.get("status") {
        None => None,
        Some(Value::String(s)) if s == "active" || s == "paused" => Some(s.clone()),
        Some(_) => {
            return invalid(
                "invalid_status",
                "status must be active or paused",
                "status",
            );
        }
    };
    let only_resume = status.as_deref() == Some("active") && body.len() == 1;
    if current.status == "disabled" && !only_resume {
        return disabled();
    }
    let url = match body.get("url") {
        None => None,
        Some(value) => match check_url(Some(value)) {
            Ok(url) => Some(url),
            Err(reply) => return reply,
        },
    };
    let events = match body.get("events") {
        None => None,
        Some(value) => match events_of(Some(value)) {
            Ok(events) => Some(events),
            Err(reply) => return reply,
        },
    };
    let description = match body.get("description") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => {
            return invalid(
                "invalid_description",
                "description must be a string or null",
                "description",
            );
        }
    };
    let Some(subscription) = state.subscriptions.get_mut(id) else {
        return not_found("subscription");
    };
    if let Some(url) = url {
        subscription.url = url;
    }
    if let Some(events) = events {
        subscription.events = events;
    }
    if let Some(description) = description {
        subscription.description = description;
    }
    if let Some(status) = status {
        if status == "active" {
            subscription.disabled_reason = None;
            subscription.consecutive_failures = 0;
        }
        subscription.status = status;
    }
    subscription.updated_at = OffsetDateTime::now_utc();
    ok(subscription.to_json())
}

fn add_secret(state: &mut State, id: &str, body: &Map<String, Value>) -> Reply {
    if !state.subscriptions.contains_key(id) {
        return not_found("subscription");
    }
    let hours = match body.get("expires_in_hours") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_u64() {
            Some(h) if h >= 1 => Some(h),
            _ => {
                return invalid(
                    "invalid_expires_in_hours",
                    "expires_in_hours must be a positive integer",
                    "expires_in_hours",
                );
            }
        },
    };
    match state.add_secret(id, hours) {
        Some(secret) => ok(secret.to_json_with_plaintext()),
        None => not_found("subscription"),
    }
}

fn delete_secret(state: &mut State, id: &str, secret_id: &str) -> Reply {
    let Some(subscription) = state.subscriptions.get_mut(id) else {
        return not_found("subscription");
    };
    let before = subscription.secrets.len();
    subscription.secrets.retain(|s| s.id != secret_id);
    if subscription.secrets.len() == before {
        return not_found("secret");
    }
    subscription.updated_at = OffsetDateTime::now_utc();
    ok(json!({ "id": secret_id, "object": "webhook_secret", "deleted": true }))
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Percent-decoding of a query component (`+` is a space).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                if let Ok(b) = u8::from_str_radix(hex, 16) {
                    out.push(b);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn list_deliveries(state: &State, query: &str) -> Reply {
    let pairs = query_pairs(query);
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(subscription_id) = get("subscription_id") else {
        return invalid(
            "parameter_missing",
            "subscription_id is required",
            "subscription_id",
        );
    };
    if !state.subscriptions.contains_key(subscription_id) {
        return not_found("subscription");
    }
    let limit = match get("limit").map(str::parse::<usize>) {
        None => 10,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => return invalid("invalid_limit", "limit must be 1 to 100", "limit"),
    };
    let status = get("status");
    let mut matching: Vec<_> = state
        .deliveries
        .iter()
        .filter(|d| d.subscription_id == subscription_id)
        .filter(|d| status.is_none_or(|s| d.status == s))
        .collect();
    // Newest first.
    matching.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| b.id.cmp(&a.id))
    });
    let start = match get("starting_after") {
        None => 0,
        Some(after) => match matching.iter().position(|d| d.id == after) {
            Some(i) => i + 1,
            None => {
                return invalid(
                    "invalid_starting_after",
                    "no such delivery in this list",
                    "starting_after",
                );
            }
        },
    };
    let page: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(limit)
        .map(|d| d.to_json())
        .collect();
    let has_more = start + page.len() < matching.len();
    Reply {
        status: 200,
        body: json!({ "object": "list", "data": page, "has_more": has_more }),
    }
}

fn replay(state: &mut State, id: &str) -> Reply {
    let Some(original) = state.deliveries.iter().find(|d| d.id == id).cloned() else {
        return not_found("delivery");
    };
    if state
        .subscriptions
        .get(&original.subscription_id)
        .is_some_and(|s| s.status == "disabled")
    {
        return disabled();
    }
    let replay = state.replay(&original);
    ok(replay.to_json())
}

fn is_subscription_id(id: &str) -> bool {
    id.strip_prefix("wbs_").is_some_and(|rest| {
        rest.len() == 26
            && rest
                .bytes()
                .all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b))
    })
}

fn parse_time(body: &Map<String, Value>, name: &str) -> Result<Option<OffsetDateTime>, Reply> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => OffsetDateTime::parse(s, &Rfc3339).map(Some).map_err(|_| {
            invalid(
                "invalid_timestamp",
                "an RFC 3339 date-time is expected",
                name,
            )
        }),
        Some(_) => Err(invalid(
            "invalid_timestamp",
            "an RFC 3339 date-time is expected",
            name,
        )),
    }
}

fn bulk_replay(state: &mut State, body: &Map<String, Value>) -> Reply {
    let subscription_id = match body.get("subscription_id").and_then(Value::as_str) {
        Some(id) if is_subscription_id(id) => id.to_owned(),
        Some(_) => {
            return invalid(
                "invalid_subscription_id",
                "subscription_id must be wbs_ and 26 Crockford base32 characters",
                "subscription_id",
            );
        }
        None => {
            return invalid(
                "parameter_missing",
                "subscription_id is required",
                "subscription_id",
            );
        }
    };
    let Some(subscription) = state.subscriptions.get(&subscription_id) else {
        return not_found("subscription");
    };
    if subscription.status == "disabled" {
        return disabled();
    }
    let status = match body.get("status") {
        None | Some(Value::Null) => "dead".to_owned(),
        Some(Value::String(s)) if s == "dead" || s == "failed" => s.clone(),
        Some(_) => return invalid("invalid_status", "status must be dead or failed", "status"),
    };
    let event_type = match body.get("event_type") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if (1..=64).contains(&s.chars().count()) => Some(s.clone()),
        Some(_) => {
            return invalid(
                "invalid_event_type",
                "event_type must be 1 to 64 characters",
                "event_type",
            );
        }
    };
    let (after, before) = match (
        parse_time(body, "created_after"),
        parse_time(body, "created_before"),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(reply), _) | (_, Err(reply)) => return reply,
    };
    let mut selected: Vec<_> = state
        .deliveries
        .iter()
        .filter(|d| d.subscription_id == subscription_id && d.status == status)
        .filter(|d| event_type.as_deref().is_none_or(|e| d.event_type == e))
        .filter(|d| after.is_none_or(|a| d.created_at > a))
        .filter(|d| before.is_none_or(|b| d.created_at < b))
        .cloned()
        .collect();
    // Oldest first.
    selected.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    let capped = selected.len() > state.bulk_cap;
    selected.truncate(state.bulk_cap);
    for original in &selected {
        state.replay(original);
    }
    ok(json!({ "enqueued": selected.len(), "capped": capped }))
}
