//! Kirim's own events: the envelope `{id, type, created_at, livemode, data}` and each type's
//! `data`.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::event::whatsapp::Text;

/// The fields a struct does not name, kept as sent.
pub(crate) type Rest = Map<String, Value>;

/// The envelope of every Kirim-native event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Envelope<T> {
    /// `evt_…`, equal to `X-Kirim-Event-Id`.
    pub id: String,
    /// The event type, e.g. `contact.created`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the event happened, RFC 3339, as sent.
    pub created_at: String,
    /// Live or test mode; absent in some deliveries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub livemode: Option<bool>,
    /// The event's own data.
    pub data: T,
    /// Envelope fields not named above.
    #[serde(flatten)]
    pub rest: Rest,
}

/// A Kirim contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Contact {
    /// `ctc_…`.
    pub id: String,
    /// E.164, e.g. `+628111111111`.
    #[serde(default)]
    pub phone_number: Option<String>,
    /// The display name.
    #[serde(default)]
    pub name: Option<String>,
    /// The email address, when known.
    #[serde(default)]
    pub email: Option<String>,
    /// Your own key-value data on the contact.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// Other fields (`object`, `whatsapp_account`, `created_at`, `updated_at`, …).
    #[serde(flatten)]
    pub rest: Rest,
}

/// `contact.created`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ContactCreated {
    /// The new contact.
    pub contact: Contact,
    /// How the contact came in, e.g. `inbound`.
    #[serde(default)]
    pub acquisition_source: Option<String>,
    /// Other fields.
    #[serde(flatten)]
    pub rest: Rest,
}

/// `contact.updated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ContactUpdated {
    /// The contact as it is now.
    pub contact: Contact,
    /// Which of its fields changed, e.g. `["name", "email"]`.
    #[serde(default)]
    pub changed_fields: Vec<String>,
    /// Other fields.
    #[serde(flatten)]
    pub rest: Rest,
}

/// A Kirim conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Conversation {
    /// `cnv_…`.
    pub id: String,
    /// E.g. `open`, `resolved`.
    #[serde(default)]
    pub status: Option<String>,
    /// Who closed it (`conversation.closed`).
    #[serde(default)]
    pub closed_by_user_id: Option<String>,
    /// Other fields.
    #[serde(flatten)]
    pub rest: Rest,
}

/// Who a conversation is assigned to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Assignee {
    /// `usr_…`, or none when assigned to a team only.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The team, if any.
    #[serde(default)]
    pub team_id: Option<String>,
    /// The user it was assigned to before, if any.
    #[serde(default)]
    pub previous_user_id: Option<String>,
    /// Other fields.
    #[serde(flatten)]
    pub rest: Rest,
}

/// `conversation.assigned`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConversationAssigned {
    /// The conversation.
    pub conversation: Conversation,
    /// The new assignee; none when unassigned.
    #[serde(default)]
    pub assignee: Option<Assignee>,
    /// Other fields.
    #[serde(flatten)]
    pub rest: Rest,
}

/// `conversation.closed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConversationClosed {
    /// The conversation, now closed.
    pub conversation: Conversation,
    /// Other fields.
    #[serde(flatten)]
    pub rest: Rest,
}

/// A message as Kirim records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KirimMessage {
    /// `msg_…`.
    pub id: String,
    /// The conversation it belongs to.
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// `inbound` or `outbound`.
    #[serde(default)]
    pub direction: Option<String>,
    /// The message type, e.g. `text`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The text, for a text message.
    #[serde(default)]
    pub text: Option<Text>,
    /// The WhatsApp message id, once WhatsApp has one.
    #[serde(default)]
    pub wamid: Option<String>,
    /// Other fields.
    #[serde(flatten)]
    pub rest: Rest,
}

/// `message.created`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessageCreated {
    /// The message.
    pub message: KirimMessage,
    /// Other fields.
    #[serde(flatten)]
    pub rest: Rest,
}
