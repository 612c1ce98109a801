//! The client against a real HTTP server playing Kirim (`kirim_test_support::fake_kirim`): every
//! endpoint, every error class, the retries and the idempotency keys, asserted on the server's
//! state as well as on what the client returned.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use kirim_api::{
    AddSecret, BulkReplay, Client, CreateSubscription, DeliveryQuery, DeliveryStatus, Error,
    ErrorType, IdempotencyKey, RetryPolicy, SubscriptionStatus, TransportKind, UpdateSubscription,
};
use kirim_test_support::fake_kirim::{DeliverySeed, FakeKirim, Fault, FaultRule};

fn fast_retries() -> RetryPolicy {
    RetryPolicy::new()
        .with_initial_backoff(Duration::from_millis(10))
        .with_max_backoff(Duration::from_millis(40))
        .with_deadline(Duration::from_secs(20))
}

fn client(kirim: &FakeKirim) -> Client {
    Client::builder(kirim.api_key())
        .with_base_url(kirim.base_url())
        .with_retry(fast_retries())
        .with_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn api(error: &Error) -> &kirim_api::ApiError {
    error
        .as_api()
        .unwrap_or_else(|| panic!("not an api error: {error:?}"))
}

#[tokio::test]
async fn subscription_lifecycle_changes_the_server_state() {
    let kirim = FakeKirim::start();
    let client = client(&kirim);
    let created = client
        .create_subscription(
            &CreateSubscription::new("https://example.com/hook", ["contact.created"])
                .with_description("crm"),
        )
        .await
        .unwrap();
    let id = created.subscription.id.clone();
    let held = kirim.subscription(&id).unwrap();
    assert_eq!(held.secrets.len(), 1);
    assert_eq!(created.initial_secret.expose(), held.secrets[0].value);
    assert!(!format!("{created:?}").contains(&held.secrets[0].value));
    assert_eq!(created.subscription.status, SubscriptionStatus::Active);

    let changed = client
        .update_subscription(
            &id,
            &UpdateSubscription::new()
                .with_url("https://example.com/other")
                .with_events(["contact.created", "message.status"])
                .with_description(None),
        )
        .await
        .unwrap();
    assert_eq!(changed.events, ["contact.created", "message.status"]);
    let held = kirim.subscription(&id).unwrap();
    assert_eq!(held.url, "https://example.com/other");
    assert_eq!(held.description, None);

    assert_eq!(
        client.pause_subscription(&id).await.unwrap().status,
        SubscriptionStatus::Paused
    );
    assert_eq!(kirim.subscription(&id).unwrap().status, "paused");
    assert_eq!(
        client.resume_subscription(&id).await.unwrap().status,
        SubscriptionStatus::Active
    );
    assert_eq!(kirim.subscription(&id).unwrap().status, "active");
    let got = client.get_subscription(&id).await.unwrap();
    assert_eq!(got.secrets.len(), 1);
    assert_eq!(got.secrets[0].id, held.secrets[0].id);
}

#[tokio::test]
async fn every_side_effecting_post_carries_an_idempotency_key() {
    let kirim = FakeKirim::start();
    let client = client(&kirim);
    let sub = kirim.seed_subscription("https://example.com/h", &["contact.created"]);
    let ids = kirim.seed_deliveries(&sub.id, &DeliverySeed::dead(2));
    client.add_secret(&sub.id, &AddSecret::new()).await.unwrap();
    client.replay_delivery(&ids[0]).await.unwrap();
    client
        .bulk_replay(&BulkReplay::new(sub.id.clone()))
        .await
        .unwrap();
    client
        .create_subscription(&CreateSubscription::new("https://example.com/x", ["a.b"]))
        .await
        .unwrap();
    let posts: Vec<_> = kirim
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 4);
    let keys: HashSet<_> = posts
        .iter()
        .map(|r| r.idempotency_key.clone().unwrap())
        .collect();
    assert_eq!(keys.len(), 4, "a fresh key per call");
}

#[tokio::test]
async fn a_rotation_stalled_after_it_was_applied_mints_exactly_one_secret() {
    let kirim = FakeKirim::start();
    let client = Client::builder(kirim.api_key())
        .with_base_url(kirim.base_url())
        .with_retry(fast_retries())
        .with_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let sub = kirim.seed_subscription("https://example.com/h", &["contact.created"]);
    kirim.inject(FaultRule::new(
        "POST",
        "/secrets",
        Fault::StallAfterApply(Duration::from_secs(3)),
    ));
    let new = client.add_secret(&sub.id, &AddSecret::new()).await.unwrap();

    let held = kirim.subscription(&sub.id).unwrap();
    assert_eq!(held.secrets.len(), 2, "one new secret, not two");
    assert_eq!(held.secrets[1].id, new.id);
    assert_eq!(held.secrets[1].value, new.secret.expose());
    let attempts: Vec<_> = kirim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/secrets"))
        .collect();
    assert!(attempts.len() >= 2, "the stalled attempt was retried");
    let keys: HashSet<_> = attempts.iter().map(|r| r.idempotency_key.clone()).collect();
    assert_eq!(keys.len(), 1, "the same key across retries");
}

#[tokio::test]
async fn rate_limited_calls_wait_for_retry_after_and_keep_their_key() {
    let kirim = FakeKirim::start();
    let client = client(&kirim);
    let sub = kirim.seed_subscription("https://example.com/h", &["contact.created"]);
    kirim.inject(FaultRule::new(
        "POST",
        "/secrets",
        Fault::RateLimited {
            retry_after_secs: 1,
        },
    ));
    let started = Instant::now();
    client.add_secret(&sub.id, &AddSecret::new()).await.unwrap();
    let attempts: Vec<_> = kirim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/secrets"))
        .collect();
    assert_eq!(attempts.len(), 2);
    // Backoff alone would have retried after at most 40 ms.
    assert!(attempts[1].at.duration_since(attempts[0].at) >= Duration::from_secs(1));
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(attempts[0].idempotency_key, attempts[1].idempotency_key);
    assert_eq!(kirim.subscription(&sub.id).unwrap().secrets.len(), 2);
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_ends_the_call_with_the_429() {
    let kirim = FakeKirim::start();
    let client = Client::builder(kirim.api_key())
        .with_base_url(kirim.base_url())
        .with_retry(fast_retries().with_deadline(Duration::from_millis(500)))
        .build()
        .unwrap();
    let sub = kirim.seed_subscription("https://example.com/h", &["contact.created"]);
    kirim.inject(FaultRule::new(
        "GET",
        "",
        Fault::RateLimited {
            retry_after_secs: 30,
        },
    ));
    let error = client.get_subscription(&sub.id).await.unwrap_err();
    let api = api(&error);
    assert_eq!((api.status, &api.kind), (429, &ErrorType::RateLimit));
    assert_eq!(api.retry_after, Some(Duration::from_secs(30)));
    assert_eq!(kirim.requests().len(), 1);
}

#[tokio::test]
async fn unavailable_and_bad_gateway_are_retried_then_reported() {
    let kirim = FakeKirim::start();
    let client = client(&kirim);
    let sub = kirim.seed_subscription("https://example.com/h", &["contact.created"]);
    kirim.inject(FaultRule::new("GET", "", Fault::Unavailable).times(2));
    client.get_subscription(&sub.id).await.unwrap();
    assert_eq!(kirim.requests().len(), 3);

    kirim.inject(FaultRule::new("GET", "", Fault::BadGatewayWithoutEnvelope).times(5));
    let error = client.get_subscription(&sub.id).await.unwrap_err();
    let api = api(&error);
    assert_eq!(
        (api.status, &api.kind, api.code.as_str()),
        (502, &ErrorType::Api, "")
    );
    assert_eq!(kirim.requests().len(), 3 + 5, "5 attempts, the default");
}

#[tokio::test]
async fn a_disabled_subscription_answers_409_until_resumed() {
    let kirim = FakeKirim::start();
    let client = client(&kirim);
    let sub = kirim.seed_subscription("https://example.com/h", &["contact.created"]);
    let ids = kirim.seed_deliveries(&sub.id, &DeliverySeed::dead(1));
    kirim.disable(&sub.id, "24 consecutive failures");
    let error = client.replay_delivery(&ids[0]).await.unwrap_err();
    let api = api(&error);
    assert_eq!(
        (api.status, &api.kind, api.code.as_str()),
        (409, &ErrorType::Conflict, "subscription_disabled")
    );
    assert!(api.request_id.as_deref().unwrap().starts_with("req_"));
    assert_eq!(kirim.requests().len(), 1, "a conflict is not retried");
    let got = client.get_subscription(&sub.id).await.unwrap();
    assert_eq!(got.status, SubscriptionStatus::Disabled);
    assert_eq!(
        got.disabled_reason.as_deref(),
        Some("24 consecutive failures")
    );

    client.resume_subscription(&sub.id).await.unwrap();
    assert_eq!(kirim.subscription(&sub.id).unwrap().consecutive_failures, 0);
    let replay = client.replay_delivery(&ids[0]).await.unwrap();
    assert_eq!(replay.replayed_from.as_deref(), Some(ids[0].as_str()));
    assert_eq!(replay.status, DeliveryStatus::Pending);
    let held = kirim.deliveries(&sub.id);
    assert_eq!(held.len(), 2);
    assert_eq!(held[0].status, "dead", "the original stays");
}

#[tokio::test]
async fn a_wrong_key_is_an_authentication_error_that_never_shows_the_key() {
    let kirim = FakeKirim::start();
    let key = "kdv_test_wrongwrongwrong";
    let client = Client::builder(key)
        .with_base_url(kirim.base_url())
        .with_retry(fast_retries())
        .build()
        .unwrap();
    let error = client.get_subscription("wbs_x").await.unwrap_err();
    assert_eq!(api(&error).kind, ErrorType::Authentication);
    assert_eq!(api(&error).code, "invalid_api_key");
    for text in [
        format!("{error}"),
        format!("{error:?}"),
        format!("{client:?}"),
    ] {
        assert!(!text.contains("wrongwrong"), "{text}");
    }
    assert_eq!(kirim.requests().len(), 1);
    assert!(!kirim.requests()[0].authorized);

    // An injected 401 with the right key too.
    let client = self::client(&kirim);
    kirim.inject(FaultRule::new("*", "", Fault::Unauthorized));
    let error = client.get_subscription("wbs_x").await.unwrap_err();
    assert_eq!(api(&error).status, 401);
}

#[tokio::test]
async fn unknown_ids_are_not_found_and_bad_ids_are_never_sent() {
    let kirim = FakeKirim::start();
    let client = client(&kirim);
    let error = client
        .get_subscription("wbs_01J00000000000000000000000")
        .await
        .unwrap_err();
    assert_eq!(
        (api(&error).status, &api(&error).kind),
        (404, &ErrorType::NotFound)
    );
    let error = client
        .get_subscription("../webhook_deliveries")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidInput(_)));
    let sub = kirim.seed_subscription("https://example.com/h", &["a.b"]);
    kirim.inject(FaultRule::new("DELETE", "", Fault::NotFound));
    let error = client
        .delete_secret(&sub.id, &sub.secrets[0].id)
        .await
        .unwrap_err();
    assert_eq!(api(&error).status, 404);
    assert_eq!(kirim.requests().len(), 2);
}

#[tokio::test]
async fn invalid_requests_keep_the_whole_envelope() {
    let kirim = FakeKirim::start();
    let client = client(&kirim);
    let error = client
        .create_subscription(&CreateSubscription::new("http://example.com/h", ["a.b"]))
        .await
        .unwrap_err();
    let api = api(&error);
    assert_eq!(api.status, 400);
    assert_eq!(api.kind, ErrorType::InvalidRequest);
    assert_eq!(api.code, "invalid_webhook_url");
    assert_eq!(api.param.as_deref(), Some("url"));
    assert!(!api.message.is_empty());
    let text = error.to_string();
    assert!(
        text.starts_with(
            "kirim refused the request: 400 invalid_request_error invalid_webhook_url"
        ),
        "{text}"
    );
    assert!(text.contains(api.request_id.as_deref().unwrap()));
    assert!(kirim.subscriptions().is_empty());
}

#[tokio::test]
async fn unknown_fields_in_answers_are_ignored() {
    let kirim = FakeKirim::start();
    kirim.set_extra_fields(true);
    let client = client(&kirim);
    let created = client
        .create_subscription(&CreateSubscription::new("https://example.com/h", ["a.b"]))
        .await
        .unwrap();
    let id = created.subscription.id;
    client
        .add_secret(&id, &AddSecret::new().with_expires_in_hours(24))
        .await
        .unwrap();
    client.get_subscription(&id).await.unwrap();
    kirim.seed_deliveries(&id, &DeliverySeed::dead(3));
    let mut pages = client.list_deliveries(DeliveryQuery::new(id.clone()));
    assert_eq!(pages.next_page().await.unwrap().unwrap().len(), 3);
    assert_eq!(
        client
            .bulk_replay(&BulkReplay::new(id.clone()))
            .await
            .unwrap()
            .enqueued,
        3
    );
    let error = client.get_subscription("wbs_nope").await.unwrap_err();
    assert_eq!(api(&error).status, 404);
}

#[tokio::test]
async fn an_unreachable_server_is_a_transport_error_after_the_retries() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = Client::builder("kdv_test_x")
        .with_base_url(format!("http://127.0.0.1:{port}/v1"))
        .with_retry(fast_retries().with_max_attempts(3))
        .build()
        .unwrap();
    let error = client.get_subscription("wbs_x").await.unwrap_err();
    let Error::Transport(transport) = &error else {
        panic!("{error:?}");
    };
    assert_eq!(transport.kind(), TransportKind::Connect);
    assert_eq!(transport.attempts(), 3);
    assert_eq!(error.request_id(), None);
}

#[tokio::test]
async fn a_stall_past_the_timeout_is_a_timeout() {
    let kirim = FakeKirim::start();
    let client = Client::builder(kirim.api_key())
        .with_base_url(kirim.base_url())
        .with_retry(RetryPolicy::none())
        .with_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let sub = kirim.seed_subscription("https://example.com/h", &["a.b"]);
    kirim.inject(FaultRule::new(
        "GET",
        "",
        Fault::StallAfterApply(Duration::from_secs(2)),
    ));
    let error = client.get_subscription(&sub.id).await.unwrap_err();
    assert!(
        matches!(&error, Error::Transport(t) if t.kind() == TransportKind::Timeout),
        "{error:?}"
    );
}

#[tokio::test]
async fn one_key_two_bodies_is_refused_and_one_key_one_body_is_answered_once() {
    let kirim = FakeKirim::start();
    let client = client(&kirim);
    let sub = kirim.seed_subscription("https://example.com/h", &["a.b"]);
    let key = IdempotencyKey::new_v4();
    let first = client
        .add_secret_with_key(&sub.id, &AddSecret::new(), &key)
        .await
        .unwrap();
    let again = client
        .add_secret_with_key(&sub.id, &AddSecret::new(), &key)
        .await
        .unwrap();
    assert_eq!(first.id, again.id);
    assert_eq!(first.secret.expose(), again.secret.expose());
    assert_eq!(kirim.subscription(&sub.id).unwrap().secrets.len(), 2);
    let error = client
        .add_secret_with_key(&sub.id, &AddSecret::new().with_expires_in_hours(2), &key)
        .await
        .unwrap_err();
    assert_eq!(
        (api(&error).status, api(&error).code.as_str()),
        (422, "idempotency_key_reuse")
    );
    assert_eq!(kirim.subscription(&sub.id).unwrap().secrets.len(), 2);
}

#[tokio::test]
async fn a_call_racing_its_own_key_in_flight_waits_for_the_first_answer() {
    let kirim = FakeKirim::start();
    let client = Client::builder(kirim.api_key())
        .with_base_url(kirim.base_url())
        .with_retry(fast_retries().with_max_attempts(30))
        .build()
        .unwrap();
    let sub = kirim.seed_subscription("https://example.com/h", &["a.b"]);
    kirim.inject(FaultRule::new(
        "POST",
        "/secrets",
        Fault::HoldInFlight(Duration::from_millis(300)),
    ));
    let key = IdempotencyKey::new_v4();
    let request = AddSecret::new();
    let (a, b) = tokio::join!(client.add_secret_with_key(&sub.id, &request, &key), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        client.add_secret_with_key(&sub.id, &request, &key).await
    });
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.id, b.id);
    assert_eq!(kirim.subscription(&sub.id).unwrap().secrets.len(), 2);
    assert!(
        kirim.requests().len() >= 3,
        "the second call met 409 in progress and retried"
    );
}

#[tokio::test]
async fn a_retried_delete_that_was_applied_counts_as_deleted() {
    let kirim = FakeKirim::start();
    let client = Client::builder(kirim.api_key())
        .with_base_url(kirim.base_url())
        .with_retry(fast_retries())
        .with_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let sub = kirim.seed_subscription("https://example.com/h", &["a.b"]);
    let new = client.add_secret(&sub.id, &AddSecret::new()).await.unwrap();
    kirim.inject(FaultRule::new(
        "DELETE",
        "",
        Fault::StallAfterApply(Duration::from_secs(2)),
    ));
    client
        .delete_secret(&sub.id, &sub.secrets[0].id)
        .await
        .unwrap();
    let held = kirim.subscription(&sub.id).unwrap();
    assert_eq!(held.secrets.len(), 1);
    assert_eq!(held.secrets[0].id, new.id);
    // Without an ambiguous attempt, a 404 stays an error.
    let error = client
        .delete_secret(&sub.id, &sub.secrets[0].id)
        .await
        .unwrap_err();
    assert_eq!(api(&error).status, 404);
}

#[tokio::test]
async fn deliveries_are_listed_page_by_page() {
    let kirim = FakeKirim::start();
    let client = client(&kirim);
    let sub = kirim.seed_subscription("https://example.com/h", &["a.b"]);
    let other = kirim.seed_subscription("https://example.com/o", &["a.b"]);
    let dead = kirim.seed_deliveries(&sub.id, &DeliverySeed::dead(230));
    kirim.seed_deliveries(&sub.id, &DeliverySeed::dead(20).with_status("delivered"));
    kirim.seed_deliveries(&other.id, &DeliverySeed::dead(5));

    let mut pages = client.list_deliveries(
        DeliveryQuery::new(sub.id.clone())
            .with_status(DeliveryStatus::Dead)
            .with_page_size(100),
    );
    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    while let Some(page) = pages.next_page().await.unwrap() {
        sizes.push(page.len());
        for delivery in page {
            assert_eq!(delivery.status, DeliveryStatus::Dead);
            assert_eq!(delivery.response_status_code, Some(500));
            seen.push(delivery.id);
        }
    }
    assert_eq!(sizes, [100, 100, 30]);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>(),
        dead.iter().collect::<HashSet<_>>()
    );
    assert_eq!(seen.len(), 230);
    assert!(pages.next_page().await.unwrap().is_none());

    let mut all = client.list_deliveries(DeliveryQuery::new(sub.id.clone()));
    let mut count = 0;
    while let Some(page) = all.next_page().await.unwrap() {
        count += page.len();
    }
    assert_eq!(count, 250);
}

#[tokio::test]
async fn bulk_replay_all_pages_through_the_cap_and_replays_each_dead_delivery_once() {
    let kirim = FakeKirim::start();
    kirim.set_bulk_cap(100);
    let client = client(&kirim);
    let sub = kirim.seed_subscription("https://example.com/h", &["a.b"]);
    let dead = kirim.seed_deliveries(&sub.id, &DeliverySeed::dead(250));
    kirim.seed_deliveries(&sub.id, &DeliverySeed::dead(30).with_status("failed"));
    kirim.seed_deliveries(
        &sub.id,
        &DeliverySeed::dead(7).with_event_type("message.status"),
    );
    let mut seen = Vec::new();
    let report = client
        .bulk_replay_all(
            &BulkReplay::new(sub.id.clone()).with_event_type("contact.created"),
            |progress| seen.push(progress.enqueued),
        )
        .await
        .unwrap();
    assert_eq!((report.enqueued, report.requests), (250, 3));
    assert_eq!(seen, [100, 200, 250]);
    let replayed: Vec<_> = kirim
        .deliveries(&sub.id)
        .into_iter()
        .filter_map(|d| d.replayed_from)
        .collect();
    assert_eq!(replayed.len(), 250, "no delivery replayed twice");
    assert_eq!(
        replayed.iter().collect::<HashSet<_>>(),
        dead.iter().collect::<HashSet<_>>()
    );
}

#[tokio::test]
async fn bulk_replay_all_with_kirims_cap_and_a_time_window() {
    let kirim = FakeKirim::start();
    let client = client(&kirim);
    let sub = kirim.seed_subscription("https://example.com/h", &["a.b"]);
    let start = time::OffsetDateTime::now_utc().unix_timestamp() - 86_400;
    let dead = kirim.seed_deliveries(&sub.id, &DeliverySeed::dead(2600).starting_at_unix(start));
    let after = time::OffsetDateTime::from_unix_timestamp(start + 99).unwrap();
    let before = time::OffsetDateTime::from_unix_timestamp(start + 2500).unwrap();
    let report = client
        .bulk_replay_all(
            &BulkReplay::new(sub.id.clone())
                .with_created_after(after)
                .with_created_before(before),
            |_| {},
        )
        .await
        .unwrap();
    // Created at start+100 ..= start+2499.
    assert_eq!((report.enqueued, report.requests), (2400, 3));
    let replayed: HashSet<_> = kirim
        .deliveries(&sub.id)
        .into_iter()
        .filter_map(|d| d.replayed_from)
        .collect();
    assert_eq!(
        replayed,
        dead[100..2500].iter().cloned().collect::<HashSet<_>>()
    );
}
