//! Meta's WhatsApp Cloud API payload, as Kirim passes it through (`message.received`,
//! `message.status`): `{object, entry: [{id, changes: [{field, value}]}]}`.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::envelope::Rest;

/// The payload of a Meta event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WhatsAppPayload {
    /// `whatsapp_business_account`.
    pub object: String,
    /// One entry per business account.
    #[serde(default)]
    pub entry: Vec<Entry>,
    /// What Kirim adds to Meta's payload, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kirim: Option<Value>,
    /// Other fields.
    #[serde(flatten)]
    pub rest: Rest,
}

impl WhatsAppPayload {
    /// Every change of every entry.
    pub fn changes(&self) -> impl Iterator<Item = &ChangeValue> {
        self.entry
            .iter()
            .flat_map(|entry| &entry.changes)
            .map(|change| &change.value)
    }

    /// Every inbound message (`message.received`).
    pub fn messages(&self) -> impl Iterator<Item = &InboundMessage> {
        self.changes().flat_map(|value| &value.messages)
    }

    /// Every status callback (`message.status`).
    pub fn statuses(&self) -> impl Iterator<Item = &MessageStatus> {
        self.changes().flat_map(|value| &value.statuses)
    }
}

/// One business account's changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Entry {
    /// The WhatsApp Business Account id.
    pub id: String,
    /// What changed.
    #[serde(default)]
    pub changes: Vec<Change>,
    /// Other fields.
    #[serde(flatten)]
    pub rest: Rest,
}

/// One change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Change {
    /// `messages` for messages and statuses.
    pub field: String,
    /// The change itself.
    pub value: ChangeValue,
    /// Other fields.
    #[serde(flatten)]
    pub rest: Rest,
}

/// What a change carries: messages, statuses, the contacts they come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChangeValue {
    /// `whatsapp`.
    #[serde(default)]
    pub messaging_product: Option<String>,
    /// The business phone number the change is for.
    #[serde(default)]
    pub metadata: Option<PhoneMetadata>,
    /// The senders' profiles.
    #[serde(default)]
    pub contacts: Vec<WhatsAppContact>,
    /// Inbound messages.
    #[serde(default)]
    pub messages: Vec<InboundMessage>,
    /// Status callbacks of outbound messages.
    #[serde(default)]
    pub statuses: Vec<MessageStatus>,
    /// Other fields.
    #[serde(flatten)]
    pub rest: Rest,
}

/// The business phone number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PhoneMetadata {
    /// As displayed, e.g. `62851176008029`.
    #[serde(default)]
    pub display_phone_number: Option<String>,
    /// Meta's id of the number.
    #[serde(default)]
    pub phone_number_id: Option<String>,
    /// Other fields.
    #[serde(flatten)]
    pub rest: Rest,
}

/// A sender.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WhatsAppContact {
    /// The sender's WhatsApp id (their number).
    pub wa_id: String,
    /// Their profile.
    #[serde(default)]
    pub profile: Option<WhatsAppProfile>,
    /// Other fields.
    #[serde(flatten)]
    pub rest: Rest,
}

/// A sender's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WhatsAppProfile {
    /// The profile name.
    #[serde(default)]
    pub name: Option<String>,
    /// Other fields.
    #[serde(flatten)]
    pub rest: Rest,
}

/// An inbound WhatsApp message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InboundMessage {
    /// The sender's number.
    pub from: String,
    /// The wamid: `X-Kirim-Event-Id`.
    pub id: String,
    /// Unix seconds, as a string (Meta's format).
    pub timestamp: String,
    /// `text`, `image`, `interactive`, …: which of the other fields is present.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text, for `text` messages.
    #[serde(default)]
    pub text: Option<Text>,
    /// The fields of the other kinds (`image`, `button`, `context`, …).
    #[serde(flatten)]
    pub rest: Rest,
}

/// A text body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Text {
    /// The text.
    pub body: String,
    /// Other fields.
    #[serde(flatten)]
    pub rest: Rest,
}

/// A status callback for an outbound message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessageStatus {
    /// The outbound message's wamid, shared by all its statuses.
    pub id: String,
    /// Where the message is now.
    pub status: Status,
    /// Unix seconds, as a string (Meta's format).
    pub timestamp: String,
    /// The recipient's number.
    #[serde(default)]
    pub recipient_id: Option<String>,
    /// Why, for `failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Value>,
    /// Other fields (`conversation`, `pricing`, …).
    #[serde(flatten)]
    pub rest: Rest,
}

/// A message's status. Statuses of one message may arrive out of order: compare, do not
/// assume `delivered` follows `sent`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
#[non_exhaustive]
pub enum Status {
    /// Sent to WhatsApp.
    Sent,
    /// Delivered to the recipient's device.
    Delivered,
    /// Read by the recipient.
    Read,
    /// Not delivered; see `errors`.
    Failed,
    /// A status this crate does not know, as sent.
    Other(String),
}

impl Status {
    /// The status as Meta writes it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
            Self::Other(other) => other,
        }
    }
}

impl From<String> for Status {
    fn from(status: String) -> Self {
        match status.as_str() {
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "failed" => Self::Failed,
            _ => Self::Other(status),
        }
    }
}

impl From<Status> for String {
    fn from(status: Status) -> Self {
        match status {
            Status::Other(other) => other,
            known => Self::from(known.as_str()),
        }
    }
}
