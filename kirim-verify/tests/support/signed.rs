//! A delivery signed with one secret and taken through a receiver's intake, as an adapter
//! would: headers, then the body, then the signature.

use bytes::Bytes;
use kirim_verify::flow::names;
use kirim_verify::{Receiver, Secret, Signer, Webhook};

/// Signs `body` at `now` with `secret` and verifies it through `receiver`, with the event type
/// and id headers given and `X-Kirim-Source` as Kirim sends it for that type.
pub(crate) fn webhook(
    receiver: &Receiver,
    secret: &str,
    now: u64,
    (event, event_id): (&str, &str),
    body: &[u8],
) -> Webhook {
    let signature = Signer::new([Secret::new(secret).unwrap()])
        .unwrap()
        .sign(now, body);
    let source = if event.starts_with("message.") {
        "meta"
    } else {
        "kirim"
    };
    let headers = [
        (names::SIGNATURE, signature.as_str()),
        (names::EVENT, event),
        (names::EVENT_ID, event_id),
        (names::SOURCE, source),
    ];
    let get = |name: &'static str| {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_bytes())
    };
    let mut intake = receiver.begin(get, None, now).unwrap();
    intake.push(Bytes::copy_from_slice(body)).unwrap();
    intake.finish(now).unwrap()
}
