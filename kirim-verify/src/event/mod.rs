//! Typed events: a verified delivery's body parsed by its event type ([`Webhook::event`]). The
//! root re-exports [`Event`] and [`EventError`]; the payload types are here.
//!
//! Dispatch is on the event type the delivery names (`X-Kirim-Event`), never on which shape
//! happens to fit: a known type whose body no longer matches is an [`EventError`] that names
//! the type and the JSON path, and a type this crate does not know is [`Event::Unknown`], kept
//! with its raw bytes, so a new Kirim event never fails a delivery.

mod envelope;
mod error;
mod whatsapp;

use alloc::string::String;
use core::fmt::Write as _;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::webhook::Webhook;

pub use envelope::{
    Assignee, Contact, ContactCreated, ContactUpdated, Conversation, ConversationAssigned,
    ConversationClosed, Envelope, KirimMessage, MessageCreated,
};
pub use error::EventError;
pub use whatsapp::{
    Change, ChangeValue, Entry, InboundMessage, MessageStatus, PhoneMetadata, Status, Text,
    WhatsAppContact, WhatsAppPayload, WhatsAppProfile,
};

/// One event of Kirim's catalogue, parsed from a verified delivery ([`Webhook::event`]).
///
/// `message.received` and `message.status` are Meta's WhatsApp payload, passed through by
/// Kirim; the others are Kirim's envelope `{id, type, created_at, livemode, data}`. Every
/// struct keeps the fields it does not name in `rest`, so nothing the sender added is lost.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// `message.received`: an inbound WhatsApp message (Meta's payload).
    MessageReceived(WhatsAppPayload),
    /// `message.status`: `sent`, `delivered`, `read` or `failed` for an outbound message
    /// (Meta's payload). The statuses of one message share its wamid, and may arrive out of
    /// order.
    MessageStatus(WhatsAppPayload),
    /// `message.created`: a message created in Kirim.
    MessageCreated(Envelope<MessageCreated>),
    /// `conversation.assigned`: a conversation given to a user or team.
    ConversationAssigned(Envelope<ConversationAssigned>),
    /// `conversation.closed`: a conversation resolved or closed.
    ConversationClosed(Envelope<ConversationClosed>),
    /// `contact.created`: a new contact.
    ContactCreated(Envelope<ContactCreated>),
    /// `contact.updated`: a contact changed; `changed_fields` says which fields.
    ContactUpdated(Envelope<ContactUpdated>),
    /// A type this crate does not know (yet): acknowledge it. The body is kept as received,
    /// not parsed, so it cannot fail.
    Unknown {
        /// The event type, as the delivery named it.
        event_type: String,
        /// The raw body (JSON, if the sender kept to the contract).
        body: Bytes,
    },
}

impl Event {
    /// The event types with a typed arm.
    pub const KNOWN_TYPES: [&'static str; 7] = [
        "message.received",
        "message.status",
        "message.created",
        "conversation.assigned",
        "conversation.closed",
        "contact.created",
        "contact.updated",
    ];

    /// The event type this event was parsed as.
    #[must_use]
    pub fn event_type(&self) -> &str {
        match self {
            Self::MessageReceived(_) => "message.received",
            Self::MessageStatus(_) => "message.status",
            Self::MessageCreated(_) => "message.created",
            Self::ConversationAssigned(_) => "conversation.assigned",
            Self::ConversationClosed(_) => "conversation.closed",
            Self::ContactCreated(_) => "contact.created",
            Self::ContactUpdated(_) => "contact.updated",
            Self::Unknown { event_type, .. } => event_type,
        }
    }

    /// Parses `body` as the event `event_type` names. Private: only a verified delivery is
    /// parsed ([`Webhook::event`]); tests of handlers sign theirs with [`Signer`](crate::Signer).
    fn parse(event_type: &str, body: &Bytes) -> Result<Self, EventError> {
        Ok(match event_type {
            "message.received" => Self::MessageReceived(parse(event_type, body)?),
            "message.status" => Self::MessageStatus(parse(event_type, body)?),
            "message.created" => Self::MessageCreated(parse(event_type, body)?),
            "conversation.assigned" => Self::ConversationAssigned(parse(event_type, body)?),
            "conversation.closed" => Self::ConversationClosed(parse(event_type, body)?),
            "contact.created" => Self::ContactCreated(parse(event_type, body)?),
            "contact.updated" => Self::ContactUpdated(parse(event_type, body)?),
            other => Self::Unknown {
                event_type: String::from(other),
                body: body.clone(),
            },
        })
    }
}

fn parse<T: DeserializeOwned>(event_type: &str, body: &[u8]) -> Result<T, EventError> {
    let mut json = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut json)
        .map_err(|error| EventError::new(event_type, path(error.path()), error.inner()))?;
    // Bytes after the document: an error at its root.
    json.end()
        .map_err(|error| EventError::new(event_type, String::from("."), &error))?;
    Ok(value)
}

/// `entry[0].changes[0].value.statuses[0].status`; `.` for the root. A key that is not a plain
/// name (1 to 64 ASCII letters, digits, `_` or `-`) shows as `?`: the path is for an operator's
/// log, and the body's own keys may be anything.
fn path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut rendered = String::new();
    for segment in path {
        let name = match segment {
            Segment::Seq { index } => {
                let _ = write!(rendered, "[{index}]");
                continue;
            }
            Segment::Map { key } if plain(key) => key.as_str(),
            Segment::Enum { variant } if plain(variant) => variant.as_str(),
            _ => "?",
        };
        if !rendered.is_empty() {
            rendered.push('.');
        }
        rendered.push_str(name);
    }
    if rendered.is_empty() {
        rendered.push('.');
    }
    rendered
}

fn plain(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Webhook {
    /// The body as a typed [`Event`], dispatched on the delivery's event type.
    ///
    /// A body that does not parse was still signed by Kirim: it is not a bad request (a 400
    /// is dead-lettered at once, and a bug fixed later could not replay it). The error is
    /// logged (at `warn`, with the type and the JSON path, never the body) and returned, and
    /// the raw bytes stay in [`Webhook::body`]: the handler decides the answer (keep the
    /// bytes and acknowledge, or answer 500 so Kirim retries after a fix).
    ///
    /// ```
    /// use kirim_verify::event::Status;
    /// use kirim_verify::{Event, Receiver, Secret, Signer, Verifier};
    ///
    /// let secret = Secret::new("whsec_test")?;
    /// let receiver = Receiver::new(Verifier::new([secret.clone()])?);
    /// let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[
    ///     {"field":"messages","value":{"statuses":[
    ///         {"id":"wamid.1","status":"delivered","timestamp":"1716480000","recipient_id":"62811"}
    ///     ]}}]}]}"#;
    /// let now = 1_716_480_000;
    /// let signature = Signer::new([secret])?.sign(now, body);
    /// let headers = |name: &'static str| match name {
    ///     "x-kirim-signature" => Some(signature.as_bytes()),
    ///     "x-kirim-event" => Some(&b"message.status"[..]),
    ///     "x-kirim-event-id" => Some(&b"wamid.1"[..]),
    ///     _ => None,
    /// };
    /// let mut intake = receiver.begin(headers, None, now)?;
    /// intake.push(bytes::Bytes::from_static(body))?;
    /// let webhook = intake.finish(now)?;
    ///
    /// match webhook.event()? {
    ///     Event::MessageStatus(payload) => {
    ///         let status = payload.statuses().next().map(|s| &s.status);
    ///         assert_eq!(status, Some(&Status::Delivered));
    ///     }
    ///     Event::Unknown { .. } => { /* acknowledge: the catalogue grows */ }
    ///     _ => {}
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`EventError`] when the type is known and the body is not JSON of its shape.
    pub fn event(&self) -> Result<Event, EventError> {
        let event_type = self.delivery().event();
        Event::parse(event_type, self.body()).inspect_err(|error| {
            tracing::warn!(
                event_type,
                event_id = self.delivery().event_id(),
                path = error.path(),
                "verified kirim webhook body does not match its event type: {error}"
            );
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_type_keeps_its_bytes_even_when_they_are_not_json() {
        let body = Bytes::from_static(b"\xff not json");
        let event = Event::parse("customer.merged", &body).unwrap();
        assert_eq!(event.event_type(), "customer.merged");
        assert_eq!(
            event,
            Event::Unknown {
                event_type: String::from("customer.merged"),
                body
            }
        );
    }

    #[test]
    fn a_known_type_that_does_not_match_names_the_type_and_the_path() {
        let body = Bytes::from_static(br#"{"id":"evt_1","type":"contact.created","created_at":"x","data":{"contact":{"id":7}}}"#);
        let error = Event::parse("contact.created", &body).unwrap_err();
        assert_eq!(error.event_type(), "contact.created");
        assert_eq!(error.path(), "data.contact.id");
        let message = alloc::format!("{error}");
        assert!(message.contains("contact.created"), "{message}");
        assert!(message.contains("data.contact.id"), "{message}");
    }

    #[test]
    fn keys_that_are_not_plain_names_show_as_a_question_mark() {
        let body = Bytes::from_static(br#"{"": {"x y": [1, }"#);
        let error = Event::parse("contact.created", &body).unwrap_err();
        assert_eq!(error.path(), "?.?[1]", "{error:?}");
    }

    #[test]
    fn a_body_that_is_not_json_is_an_error_for_a_known_type() {
        let body = Bytes::from_static(b"{\"id\":");
        let error = Event::parse("contact.updated", &body).unwrap_err();
        assert!(matches!(error, EventError::NotJson { .. }), "{error:?}");
        let trailing = Bytes::from_static(
            br#"{"id":"e","type":"t","created_at":"c","data":{"contact":{"id":"c"}}} x"#,
        );
        let error = Event::parse("contact.updated", &trailing).unwrap_err();
        assert!(matches!(error, EventError::NotJson { .. }), "{error:?}");
    }
}
