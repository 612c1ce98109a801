//! Webhook deliveries: listing them page by page, replaying one.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A delivery's status.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryStatus {
    /// Queued, not yet attempted (a replay starts here).
    Pending,
    /// Answered 2xx.
    Delivered,
    /// Failed at once (a 4xx other than 408 and 429) or on the way to its next attempt.
    Failed,
    /// All 8 attempts failed; kept 30 days for replay.
    Dead,
    /// A status this client does not know yet.
    Unknown(String),
}

impl DeliveryStatus {
    /// The name as Kirim writes it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Dead => "dead",
            Self::Unknown(name) => name,
        }
    }

    /// Reads a status name; any other name is kept as [`Unknown`](Self::Unknown).
    #[must_use]
    pub fn parse(name: &str) -> Self {
        match name {
            "pending" => Self::Pending,
            "delivered" => Self::Delivered,
            "failed" => Self::Failed,
            "dead" => Self::Dead,
            other => Self::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DeliveryStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(deserializer)?))
    }
}

impl Serialize for DeliveryStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One delivery of one event to one subscription. Fields Kirim adds later are ignored.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Delivery {
    /// `wbd_…`.
    pub id: String,
    /// The subscription delivered to.
    #[serde(default)]
    pub subscription_id: Option<String>,
    /// The event name (`contact.created`, …).
    #[serde(default, alias = "event")]
    pub event_type: Option<String>,
    /// The event id (`X-Kirim-Event-Id`).
    #[serde(default)]
    pub event_id: Option<String>,
    /// Pending, delivered, failed, dead.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    #[serde(default, alias = "attempt_count")]
    pub attempts: Option<u32>,
    /// The receiver's last HTTP status, if it answered.
    #[serde(default)]
    pub response_status_code: Option<u16>,
    /// The start of the receiver's last answer body, as Kirim kept it.
    #[serde(default)]
    pub response_body: Option<String>,
    /// For a replay, the delivery it replays.
    #[serde(default)]
    pub replayed_from: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub created_at: Option<String>,
}

/// `GET /webhook_deliveries` filters.
///
/// ```
/// use kirim_api::{DeliveryQuery, DeliveryStatus};
///
/// let query = DeliveryQuery::new("wbs_01J0000000000000000000000A")
///     .with_status(DeliveryStatus::Dead)
///     .with_page_size(100);
/// # let _ = query;
/// ```
#[derive(Debug, Clone)]
pub struct DeliveryQuery {
    pub(crate) subscription_id: String,
    pub(crate) status: Option<DeliveryStatus>,
    pub(crate) page_size: u32,
}

/// The page size asked for unless set: Kirim's docs give no maximum; 100 is the common one.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

impl DeliveryQuery {
    /// The deliveries of one subscription.
    #[must_use]
    pub fn new(subscription_id: impl Into<String>) -> Self {
        Self {
            subscription_id: subscription_id.into(),
            status: None,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }

    /// Only deliveries in this status. Defaults to all.
    #[must_use]
    pub fn with_status(mut self, status: DeliveryStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// `limit` per page, 1 to 100. Defaults to [`DEFAULT_PAGE_SIZE`].
    #[must_use]
    pub fn with_page_size(mut self, size: u32) -> Self {
        self.page_size = size.clamp(1, 100);
        self
    }
}

/// A page of the list as read from the answer: `data` is the array of deliveries, or an object
/// holding one (`data`), with `has_more` beside it (see [`DeliveryPages`]).
#[derive(Deserialize)]
pub(crate) struct ListAnswer {
    pub(crate) data: ListData,
    #[serde(default)]
    pub(crate) has_more: Option<bool>,
    #[serde(default)]
    pub(crate) next_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum ListData {
    Items(Vec<Delivery>),
    Wrapped {
        data: Vec<Delivery>,
        #[serde(default)]
        has_more: Option<bool>,
        #[serde(default)]
        next_cursor: Option<String>,
    },
}

/// A delivery just queued by a replay.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[non_exhaustive]
pub struct ReplayedDelivery {
    /// The new delivery's id (`wbd_…`).
    pub id: String,
    /// The delivery replayed (it stays as it was).
    #[serde(default)]
    pub replayed_from: Option<String>,
    /// `pending`.
    pub status: DeliveryStatus,
}
