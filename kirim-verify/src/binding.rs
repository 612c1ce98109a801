//! Whether a delivery's event id is bound to its signed body.
//!
//! `X-Kirim-Event-Id` is not signed, so by default the replay guard remembers every accepted
//! signed message (`t "." body`) and answers a second request carrying it `duplicate`, whatever
//! its event id header says. That also refuses two *genuine* events that share their bytes and
//! their second: Kirim may split one Meta batch into one event per message, each with the whole
//! batch as its body. When the event id is structurally part of the signed body, it is
//! authenticated by the signature, and the event key alone tells events apart: the guard is not
//! needed for that delivery: its signed message is still remembered (so a resend of it under an
//! unbound id is a duplicate), but having been seen before does not make it one.
//!
//! Bound means: the Kirim envelope's top-level `id`, or the `id` of one of Meta's
//! `entry[].changes[].value.messages[]` or `.statuses[]`, equals the event id header exactly.
//! An id that merely occurs somewhere in the body (in a text field, say) is not a binding. A
//! body that is not JSON, or is JSON of another shape, binds nothing.
//!
//! What this leaves open, on purpose: whoever captured a batch delivery can resend it within
//! the tolerance under the id of *another message of the same batch*. That is a genuine event
//! of Kirim's with the same signed body, and it is deduplicated under its own id when Kirim
//! delivers it; a handler of Meta batches should act on the message or status its event id
//! names.

#[cfg(feature = "json")]
mod json {
    use alloc::borrow::Cow;
    use alloc::vec::Vec;

    use serde::Deserialize;

    /// The fields that can bind an id; serde skips every other field without keeping it.
    #[derive(Deserialize)]
    struct Body<'a> {
        #[serde(borrow, default)]
        id: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        entry: Vec<Entry<'a>>,
    }

    #[derive(Deserialize)]
    struct Entry<'a> {
        #[serde(borrow, default)]
        changes: Vec<Change<'a>>,
    }

    #[derive(Deserialize)]
    struct Change<'a> {
        #[serde(borrow, default)]
        value: Option<Value<'a>>,
    }

    #[derive(Deserialize)]
    struct Value<'a> {
        #[serde(borrow, default)]
        messages: Vec<Identified<'a>>,
        #[serde(borrow, default)]
        statuses: Vec<Identified<'a>>,
    }

    #[derive(Deserialize)]
    struct Identified<'a> {
        #[serde(borrow, default)]
        id: Option<Cow<'a, str>>,
    }

    pub(crate) fn event_id_is_bound(event_id: &str, body: &[u8]) -> bool {
        let Ok(body) = serde_json::from_slice::<Body<'_>>(body) else {
            return false;
        };
        let is = |id: &Option<Cow<'_, str>>| id.as_deref() == Some(event_id);
        is(&body.id)
            || body
                .entry
                .iter()
                .flat_map(|entry| &entry.changes)
                .filter_map(|change| change.value.as_ref())
                .flat_map(|value| value.messages.iter().chain(&value.statuses))
                .any(|item| is(&item.id))
    }
}

/// Whether `event_id` is bound to `body` (see the module's documentation). Without the `json`
/// feature nothing is: the replay guard then covers every delivery.
pub(crate) fn event_id_is_bound(event_id: &str, body: &[u8]) -> bool {
    #[cfg(feature = "json")]
    return json::event_id_is_bound(event_id, body);
    #[cfg(not(feature = "json"))]
    {
        let _ = (event_id, body);
        false
    }
}
