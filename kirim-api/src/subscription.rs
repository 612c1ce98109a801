//! Webhook subscriptions and their signing secrets.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::issued_secret::IssuedSecret;

/// A subscription's status.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriptionStatus {
    /// Deliveries are sent.
    Active,
    /// Paused by you (`PATCH status=paused`).
    Paused,
    /// Disabled by Kirim after 24 consecutive failed deliveries (see
    /// [`Subscription::disabled_reason`]); resuming turns it back on.
    Disabled,
    /// A status this client does not know yet.
    Unknown(String),
}

impl SubscriptionStatus {
    /// The name as Kirim writes it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Disabled => "disabled",
            Self::Unknown(name) => name,
        }
    }
}

impl fmt::Display for SubscriptionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SubscriptionStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(match name.as_str() {
            "active" => Self::Active,
            "paused" => Self::Paused,
            "disabled" => Self::Disabled,
            _ => Self::Unknown(name),
        })
    }
}

impl Serialize for SubscriptionStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A webhook subscription. Fields Kirim adds later are ignored.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Subscription {
    /// `wbs_…`.
    pub id: String,
    /// Where Kirim delivers.
    pub url: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// The event names delivered (`contact.created`, `message.status`, …).
    #[serde(default)]
    pub events: Vec<String>,
    /// Active, paused or disabled.
    pub status: SubscriptionStatus,
    /// Why Kirim disabled it, when it did.
    #[serde(default)]
    pub disabled_reason: Option<String>,
    /// Failed deliveries in a row (24 disable the subscription).
    #[serde(default)]
    pub consecutive_failures: u32,
    /// The active signing secrets (ids and dates; the plaintext is never listed).
    #[serde(default)]
    pub secrets: Vec<SecretInfo>,
    /// RFC 3339.
    #[serde(default)]
    pub created_at: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// A subscription as created: with its first secret, shown this once.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct CreatedSubscription {
    /// The subscription.
    #[serde(flatten)]
    pub subscription: Subscription,
    /// The first signing secret. Store it now: Kirim never shows it again.
    pub initial_secret: IssuedSecret,
}

/// A signing secret as a subscription lists it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[non_exhaustive]
pub struct SecretInfo {
    /// `sec_…`.
    pub id: String,
    /// RFC 3339.
    #[serde(default)]
    pub created_at: Option<String>,
    /// RFC 3339; none for a secret that does not expire.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// A secret just added to a subscription (step 1 of a rotation).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct NewSecret {
    /// `sec_…`.
    pub id: String,
    /// The plaintext, shown this once.
    pub secret: IssuedSecret,
    /// RFC 3339.
    #[serde(default)]
    pub created_at: Option<String>,
    /// RFC 3339, or none.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// `POST /webhook_subscriptions`.
///
/// ```
/// use kirim_api::CreateSubscription;
///
/// let request = CreateSubscription::new("https://example.com/webhooks/kirim", ["contact.created"])
///     .with_description("CRM sync");
/// # let _ = request;
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct CreateSubscription {
    url: String,
    events: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

impl CreateSubscription {
    /// A subscription of `url` (Kirim accepts `https://` only) to `events`.
    #[must_use]
    pub fn new(
        url: impl Into<String>,
        events: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            url: url.into(),
            events: events.into_iter().map(Into::into).collect(),
            description: None,
        }
    }

    /// A description. Defaults to none.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

/// `PATCH /webhook_subscriptions/{id}`: only the fields set are sent.
///
/// ```
/// use kirim_api::UpdateSubscription;
///
/// let change = UpdateSubscription::new().with_events(["contact.created", "message.status"]);
/// assert!(!change.is_empty());
/// ```
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpdateSubscription {
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
}

impl UpdateSubscription {
    /// No change yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A new URL.
    #[must_use]
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// A new description; `None` clears it.
    #[must_use]
    pub fn with_description(mut self, description: Option<String>) -> Self {
        self.description = Some(description);
        self
    }

    /// New event names (replacing the old list).
    #[must_use]
    pub fn with_events(mut self, events: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.events = Some(events.into_iter().map(Into::into).collect());
        self
    }

    pub(crate) fn with_status(mut self, status: &'static str) -> Self {
        self.status = Some(status);
        self
    }

    /// Whether nothing would change.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.url.is_none()
            && self.description.is_none()
            && self.events.is_none()
            && self.status.is_none()
    }
}

/// `POST /webhook_subscriptions/{id}/secrets`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AddSecret {
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in_hours: Option<u32>,
}

impl AddSecret {
    /// A secret with Kirim's default expiry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// `expires_in_hours`. Kirim's docs do not say whether it bounds the new secret or the
    /// older ones: check [`Subscription::secrets`] afterwards. Defaults to not sent.
    #[must_use]
    pub fn with_expires_in_hours(mut self, hours: u32) -> Self {
        self.expires_in_hours = Some(hours);
        self
    }
}
