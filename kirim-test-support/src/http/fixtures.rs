//! The example bodies, as delivered (copied from the project's shared fixtures).

/// `contact.created`, a Kirim-native event.
pub const CONTACT_CREATED: &[u8] = include_bytes!("../../fixtures/events/contact.created.json");
/// `contact.updated`, a Kirim-native event.
pub const CONTACT_UPDATED: &[u8] = include_bytes!("../../fixtures/events/contact.updated.json");
/// `conversation.assigned`, a Kirim-native event.
pub const CONVERSATION_ASSIGNED: &[u8] =
    include_bytes!("../../fixtures/events/conversation.assigned.json");
/// `conversation.closed`, a Kirim-native event.
pub const CONVERSATION_CLOSED: &[u8] =
    include_bytes!("../../fixtures/events/conversation.closed.json");
/// `message.received`, a Meta event.
pub const MESSAGE_RECEIVED: &[u8] = include_bytes!("../../fixtures/events/message.received.json");
/// `message.status` (sent): same wamid as [`MESSAGE_STATUS_DELIVERED`].
pub const MESSAGE_STATUS_SENT: &[u8] =
    include_bytes!("../../fixtures/events/message.status.sent.json");
/// `message.status` (delivered): same wamid as [`MESSAGE_STATUS_SENT`].
pub const MESSAGE_STATUS_DELIVERED: &[u8] =
    include_bytes!("../../fixtures/events/message.status.delivered.json");
/// The wamid both `message.status` fixtures carry.
pub const STATUS_WAMID: &str = "wamid.HBgNNjI4MTExMTExMTExFQIAERgSQUJDREVGMTIzNDU2Nzg5MAA=";
