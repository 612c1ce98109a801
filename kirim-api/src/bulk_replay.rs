//! Bulk replay of dead (or failed) deliveries, and paging through Kirim's per-request cap.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::delivery::DeliveryStatus;

/// Kirim's cap on the deliveries one bulk replay request enqueues.
pub const BULK_REPLAY_CAP: u64 = 1000;

/// `POST /webhook_deliveries/bulk_replay`: which deliveries of a subscription to replay.
///
/// ```
/// use kirim_api::{BulkReplay, DeliveryStatus};
/// use kirim_api::time::OffsetDateTime;
///
/// let request = BulkReplay::new("wbs_01J0000000000000000000000A")
///     .with_status(DeliveryStatus::Dead)
///     .with_event_type("contact.created")
///     .with_created_after(OffsetDateTime::from_unix_timestamp(1_793_000_000)?);
/// # let _ = request;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct BulkReplay {
    pub(crate) subscription_id: String,
    pub(crate) status: Option<DeliveryStatus>,
    pub(crate) event_type: Option<String>,
    pub(crate) created_after: Option<OffsetDateTime>,
    pub(crate) created_before: Option<OffsetDateTime>,
}

impl BulkReplay {
    /// The dead deliveries of a subscription, all of them.
    #[must_use]
    pub fn new(subscription_id: impl Into<String>) -> Self {
        Self {
            subscription_id: subscription_id.into(),
            status: None,
            event_type: None,
            created_after: None,
            created_before: None,
        }
    }

    /// `dead` or `failed`. Defaults to Kirim's default, `dead`.
    #[must_use]
    pub fn with_status(mut self, status: DeliveryStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Only this event name (1 to 64 characters). Defaults to all.
    #[must_use]
    pub fn with_event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// Only deliveries created after this time. Defaults to no bound.
    #[must_use]
    pub fn with_created_after(mut self, time: OffsetDateTime) -> Self {
        self.created_after = Some(time);
        self
    }

    /// Only deliveries created before this time. Defaults to no bound.
    #[must_use]
    pub fn with_created_before(mut self, time: OffsetDateTime) -> Self {
        self.created_before = Some(time);
        self
    }

    pub(crate) fn status_or_default(&self) -> DeliveryStatus {
        self.status.clone().unwrap_or(DeliveryStatus::Dead)
    }

    /// Whether a listed delivery is one this request selects.
    pub(crate) fn selects(&self, event_type: Option<&str>, created_at: OffsetDateTime) -> bool {
        self.event_type
            .as_deref()
            .is_none_or(|wanted| event_type == Some(wanted))
            && self.created_after.is_none_or(|after| created_at > after)
            && self.created_before.is_none_or(|before| created_at < before)
    }

    pub(crate) fn body(&self) -> Result<Vec<u8>, crate::Error> {
        let format = |t: Option<OffsetDateTime>| {
            t.map(|t| t.format(&Rfc3339))
                .transpose()
                .map_err(|_| crate::Error::InvalidInput(crate::InvalidInput::Time))
        };
        let wire = Wire {
            subscription_id: &self.subscription_id,
            status: self.status.as_ref().map(DeliveryStatus::as_str),
            event_type: self.event_type.as_deref(),
            created_after: format(self.created_after)?,
            created_before: format(self.created_before)?,
        };
        serde_json::to_vec(&wire).map_err(|_| crate::Error::InvalidInput(crate::InvalidInput::Body))
    }
}

#[derive(Serialize)]
struct Wire<'a> {
    subscription_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_before: Option<String>,
}

/// One bulk replay answer.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkReplayAnswer {
    /// Deliveries queued by this request.
    pub enqueued: u64,
    /// Whether the cap was hit: more deliveries match than were queued.
    #[serde(default)]
    pub capped: bool,
}

/// What [`Client::bulk_replay_all`](crate::Client::bulk_replay_all) did so far.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkReplayReport {
    /// Deliveries queued, all requests together.
    pub enqueued: u64,
    /// Bulk replay requests made.
    pub requests: u32,
}
