//! What the fake holds: subscriptions, secrets, deliveries, the idempotency store, faults and
//! the requests it received.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::BULK_REPLAY_CAP;
use super::faults::FaultRule;
use super::idempotency::IdempotencyStore;

/// A subscription as the server holds it.
#[derive(Debug, Clone)]
pub struct SubscriptionRecord {
    /// `wbs_…`.
    pub id: String,
    /// The target URL.
    pub url: String,
    /// The description.
    pub description: Option<String>,
    /// Event names.
    pub events: Vec<String>,
    /// `active`, `paused` or `disabled`.
    pub status: String,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// Failed deliveries in a row.
    pub consecutive_failures: u32,
    /// Its active signing secrets, oldest first.
    pub secrets: Vec<SecretRecord>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// A signing secret, plaintext included (the fake signs with it).
#[derive(Clone)]
pub struct SecretRecord {
    /// `sec_…`.
    pub id: String,
    /// `whsec_…`.
    pub value: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Expiry, if any.
    pub expires_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for SecretRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretRecord")
            .field("id", &self.id)
            .field("value", &"whsec_…")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A delivery as the server holds it.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    /// `wbd_…`.
    pub id: String,
    /// The subscription.
    pub subscription_id: String,
    /// The event name.
    pub event_type: String,
    /// The event id.
    pub event_id: String,
    /// `pending`, `delivered`, `failed` or `dead`.
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// The receiver's last status.
    pub response_status_code: Option<u16>,
    /// The receiver's last body.
    pub response_body: Option<String>,
    /// The delivery this one replays.
    pub replayed_from: Option<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// Deliveries for [`FakeKirim::seed_deliveries`](super::FakeKirim::seed_deliveries).
#[derive(Debug, Clone)]
pub struct DeliverySeed {
    /// How many.
    pub count: usize,
    /// Their status.
    pub status: String,
    /// Their event name.
    pub event_type: String,
    /// The first one's creation time, unix seconds.
    pub start_unix: i64,
    /// Between two creation times.
    pub step: Duration,
}

impl DeliverySeed {
    /// `count` dead `contact.created` deliveries a second apart, the first two days ago.
    #[must_use]
    pub fn dead(count: usize) -> Self {
        Self {
            count,
            status: "dead".to_owned(),
            event_type: "contact.created".to_owned(),
            start_unix: OffsetDateTime::now_utc().unix_timestamp() - 2 * 86_400,
            step: Duration::from_secs(1),
        }
    }

    /// Another status.
    #[must_use]
    pub fn with_status(mut self, status: &str) -> Self {
        status.clone_into(&mut self.status);
        self
    }

    /// Another event name.
    #[must_use]
    pub fn with_event_type(mut self, event_type: &str) -> Self {
        event_type.clone_into(&mut self.event_type);
        self
    }

    /// Another first creation time.
    #[must_use]
    pub fn starting_at_unix(mut self, start: i64) -> Self {
        self.start_unix = start;
        self
    }
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, `/v1/…`.
    pub path: String,
    /// The query string.
    pub query: Option<String>,
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// Whether the API key was right.
    pub authorized: bool,
    /// The body.
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
}

pub(crate) struct State {
    pub(crate) subscriptions: BTreeMap<String, SubscriptionRecord>,
    /// Oldest first.
    pub(crate) deliveries: Vec<DeliveryRecord>,
    pub(crate) idempotency: IdempotencyStore,
    pub(crate) faults: Vec<FaultRule>,
    pub(crate) requests: Vec<RecordedRequest>,
    pub(crate) extra_fields: bool,
    pub(crate) bulk_cap: usize,
    counter: u64,
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

impl State {
    pub(crate) fn new() -> Self {
        Self {
            subscriptions: BTreeMap::new(),
            deliveries: Vec::new(),
            idempotency: IdempotencyStore::default(),
            faults: Vec::new(),
            requests: Vec::new(),
            extra_fields: false,
            bulk_cap: BULK_REPLAY_CAP,
            counter: 0,
        }
    }

    /// `prefix` + 26 Crockford base32 characters, unique in this fake.
    pub(crate) fn next_id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        let mut n = u128::from(self.counter) | (0x01_u128 << 120);
        let mut chars = [b'0'; 26];
        for slot in chars.iter_mut().rev() {
            *slot = CROCKFORD[(n & 31) as usize];
            n >>= 5;
        }
        format!("{prefix}{}", String::from_utf8_lossy(&chars))
    }

    pub(crate) fn next_request_id(&mut self) -> String {
        self.next_id("req_")
    }

    fn new_secret(&mut self, expires_at: Option<OffsetDateTime>) -> SecretRecord {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).expect("fake kirim: random bytes");
        let value: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        SecretRecord {
            id: self.next_id("sec_"),
            value: format!("whsec_{value}"),
            created_at: OffsetDateTime::now_utc(),
            expires_at,
        }
    }

    pub(crate) fn create_subscription(
        &mut self,
        url: String,
        events: Vec<String>,
        description: Option<String>,
    ) -> SubscriptionRecord {
        let id = self.next_id("wbs_");
        let secret = self.new_secret(None);
        let now = OffsetDateTime::now_utc();
        let record = SubscriptionRecord {
            id: id.clone(),
            url,
            description,
            events,
            status: "active".to_owned(),
            disabled_reason: None,
            consecutive_failures: 0,
            secrets: vec![secret],
            created_at: now,
            updated_at: now,
        };
        self.subscriptions.insert(id, record.clone());
        record
    }

    pub(crate) fn add_secret(
        &mut self,
        subscription_id: &str,
        hours: Option<u64>,
    ) -> Option<SecretRecord> {
        let expires_at = hours.map(|h| {
            OffsetDateTime::now_utc() + Duration::from_secs(h.saturating_mul(3600).min(1 << 40))
        });
        let secret = self.new_secret(expires_at);
        let subscription = self.subscriptions.get_mut(subscription_id)?;
        subscription.secrets.push(secret.clone());
        subscription.updated_at = OffsetDateTime::now_utc();
        Some(secret)
    }

    pub(crate) fn seed_deliveries(
        &mut self,
        subscription_id: &str,
        seed: &DeliverySeed,
    ) -> Vec<String> {
        let start = OffsetDateTime::from_unix_timestamp(seed.start_unix)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let mut ids = Vec::with_capacity(seed.count);
        for i in 0..seed.count {
            let id = self.next_id("wbd_");
            let event_id = self.next_id("evt_");
            let failed = matches!(seed.status.as_str(), "dead" | "failed");
            self.deliveries.push(DeliveryRecord {
                id: id.clone(),
                subscription_id: subscription_id.to_owned(),
                event_type: seed.event_type.clone(),
                event_id,
                status: seed.status.clone(),
                attempts: if seed.status == "dead" { 8 } else { 1 },
                response_status_code: failed.then_some(500),
                response_body: failed.then(|| "internal error".to_owned()),
                replayed_from: None,
                created_at: start + seed.step * u32::try_from(i).unwrap_or(u32::MAX),
            });
            ids.push(id);
        }
        ids
    }

    pub(crate) fn deliveries_of(&self, subscription_id: &str) -> Vec<DeliveryRecord> {
        self.deliveries
            .iter()
            .filter(|d| d.subscription_id == subscription_id)
            .cloned()
            .collect()
    }

    pub(crate) fn replay(&mut self, original: &DeliveryRecord) -> DeliveryRecord {
        let id = self.next_id("wbd_");
        let replay = DeliveryRecord {
            id,
            subscription_id: original.subscription_id.clone(),
            event_type: original.event_type.clone(),
            event_id: original.event_id.clone(),
            status: "pending".to_owned(),
            attempts: 0,
            response_status_code: None,
            response_body: None,
            replayed_from: Some(original.id.clone()),
            created_at: OffsetDateTime::now_utc(),
        };
        self.deliveries.push(replay.clone());
        replay
    }
}

impl SubscriptionRecord {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "webhook_subscription",
            "url": self.url,
            "description": self.description,
            "events": self.events,
            "status": self.status,
            "disabled_reason": self.disabled_reason,
            "consecutive_failures": self.consecutive_failures,
            "secrets": self.secrets.iter().map(|s| json!({
                "id": s.id,
                "created_at": rfc3339(s.created_at),
                "expires_at": s.expires_at.map(rfc3339),
            })).collect::<Vec<_>>(),
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
        })
    }
}

impl SecretRecord {
    pub(crate) fn to_json_with_plaintext(&self) -> Value {
        json!({
            "id": self.id,
            "object": "webhook_secret",
            "secret": self.value,
            "created_at": rfc3339(self.created_at),
            "expires_at": self.expires_at.map(rfc3339),
        })
    }
}

impl DeliveryRecord {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "webhook_delivery",
            "subscription_id": self.subscription_id,
            "event_type": self.event_type,
            "event_id": self.event_id,
            "status": self.status,
            "attempts": self.attempts,
            "response_status_code": self.response_status_code,
            "response_body": self.response_body,
            "replayed_from": self.replayed_from,
            "created_at": rfc3339(self.created_at),
        })
    }
}
