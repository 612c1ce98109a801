//! The built-in example body of each event in Kirim's catalogue (`events/`, embedded).

use crate::ids;

/// Which kind of id an event carries in `X-Kirim-Event-Id` (and in its body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdKind {
    /// `evt_<ULID>`: a Kirim envelope's `id`.
    Event,
    /// `wamid.…`: the WhatsApp message id of a Meta payload.
    Wamid,
}

impl IdKind {
    /// A new id of this kind, unique to this run.
    pub(crate) fn fresh(self) -> String {
        match self {
            Self::Event => ids::fresh("evt_"),
            Self::Wamid => ids::fresh("wamid."),
        }
    }
}

/// One example delivery body.
#[derive(Debug)]
pub(crate) struct Example {
    /// The event type, `X-Kirim-Event`.
    pub(crate) event: &'static str,
    /// `X-Kirim-Source`: which body shape.
    pub(crate) source: &'static str,
    /// The kind of id the body carries.
    pub(crate) id_kind: IdKind,
    /// The id as written in the example, replaced by [`Example::body_with_id`].
    id: &'static str,
    body: &'static str,
}

impl Example {
    /// The body with `id` in place of the example's event id (or wamid): Kirim's ids are in
    /// the body too, and a receiver may check that they agree.
    pub(crate) fn body_with_id(&self, id: &str) -> String {
        self.body.replacen(self.id, id, 1)
    }
}

const STATUS_WAMID: &str = "wamid.HBgNNjI4MTExMTExMTExFQIAERgSQUJDREVGMTIzNDU2Nzg5MAA=";

/// `message.status` at `sent`: the first of two callbacks for one outbound message.
pub(crate) const STATUS_SENT: Example = Example {
    event: "message.status",
    source: "meta",
    id_kind: IdKind::Wamid,
    id: STATUS_WAMID,
    body: include_str!("../events/message.status.sent.json"),
};

/// `message.status` at `delivered`: the same message (same wamid) a moment later.
pub(crate) const STATUS_DELIVERED: Example = Example {
    event: "message.status",
    source: "meta",
    id_kind: IdKind::Wamid,
    id: STATUS_WAMID,
    body: include_str!("../events/message.status.delivered.json"),
};

/// The catalogue, one example per event type (`message.status` at `sent`).
pub(crate) const CATALOG: [Example; 7] = [
    Example {
        event: "message.received",
        source: "meta",
        id_kind: IdKind::Wamid,
        id: "wamid.HBgN…",
        body: include_str!("../events/message.received.json"),
    },
    STATUS_SENT,
    Example {
        event: "message.created",
        source: "kirim",
        id_kind: IdKind::Event,
        id: "evt_01HXYZABCDEFGHJKMNPQRSTVW3",
        body: include_str!("../events/message.created.json"),
    },
    Example {
        event: "conversation.assigned",
        source: "kirim",
        id_kind: IdKind::Event,
        id: "evt_01HXYZABCDEFGHJKMNPQRSTVWX",
        body: include_str!("../events/conversation.assigned.json"),
    },
    Example {
        event: "conversation.closed",
        source: "kirim",
        id_kind: IdKind::Event,
        id: "evt_…",
        body: include_str!("../events/conversation.closed.json"),
    },
    Example {
        event: "contact.created",
        source: "kirim",
        id_kind: IdKind::Event,
        id: "evt_01HXYZABCDEFGHJKMNPQRSTVW1",
        body: include_str!("../events/contact.created.json"),
    },
    Example {
        event: "contact.updated",
        source: "kirim",
        id_kind: IdKind::Event,
        id: "evt_01HXYZABCDEFGHJKMNPQRSTVW2",
        body: include_str!("../events/contact.updated.json"),
    },
];

/// The example for an event type, if it is in the catalogue.
pub(crate) fn example(event: &str) -> Option<&'static Example> {
    CATALOG.iter().find(|example| example.event == event)
}

/// The event types with an example, for error messages and `--help`.
pub(crate) fn event_names() -> String {
    CATALOG
        .iter()
        .map(|example| example.event)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_is_json_and_its_id_is_replaced() {
        for example in CATALOG.iter().chain([&STATUS_DELIVERED]) {
            let id = example.id_kind.fresh();
            let body = example.body_with_id(&id);
            assert!(body.contains(&id), "{}", example.event);
            assert!(!body.contains(example.id), "{}", example.event);
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            if example.source == "kirim" {
                assert_eq!(json["id"], id.as_str());
                assert_eq!(json["type"], example.event);
            }
        }
    }
}
