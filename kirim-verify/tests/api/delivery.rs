//! Delivery headers.

use super::*;

pub(crate) fn lookup<'h>(
    headers: &'h [(&'h str, &'h [u8])],
) -> impl Fn(&'static str) -> Option<&'h [u8]> + 'h {
    move |name| {
        assert_eq!(name, name.to_ascii_lowercase(), "names are asked lowercase");
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

#[test]
fn delivery_from_lookup() {
    let headers: [(&str, &[u8]); 6] = [
        ("X-Kirim-Event", b"message.status"),
        (
            "X-KIRIM-EVENT-ID",
            b"wamid.HBgNNjI4MTIzNDU2Nzg5FQIAERgSQ0U=",
        ),
        ("x-kirim-source", b"meta"),
        ("X-Kirim-Delivery-Id", b"wbd_01HXYZ"),
        ("X-Kirim-Attempt", b"3"),
        ("User-Agent", b"Kirim-Webhook/1.0"),
    ];
    let d = Delivery::from_lookup(lookup(&headers)).unwrap();
    assert_eq!(d.event(), "message.status");
    assert_eq!(d.event_id(), "wamid.HBgNNjI4MTIzNDU2Nzg5FQIAERgSQ0U=");
    assert_eq!(d.source(), &Source::Meta);
    assert_eq!(d.delivery_id(), Some("wbd_01HXYZ"));
    assert_eq!(d.attempt(), Some(3));

    // Kirim source; informational headers absent or unusable are not errors.
    let headers: [(&str, &[u8]); 4] = [
        ("x-kirim-event", b" contact.created\t"),
        ("x-kirim-event-id", b"evt_01HXYZABCDEFGHJKMNPQRSTVWX"),
        ("x-kirim-source", b"kirim"),
        ("x-kirim-attempt", b"first"),
    ];
    let d = Delivery::from_lookup(lookup(&headers)).unwrap();
    assert_eq!(d.event(), "contact.created");
    assert_eq!(d.source(), &Source::Kirim);
    assert_eq!(d.source().to_string(), "kirim");
    assert_eq!((d.delivery_id(), d.attempt()), (None, None));

    // An unknown event type or source is normal.
    let headers: [(&str, &[u8]); 3] = [
        ("x-kirim-event", b"customer.merged"),
        ("x-kirim-event-id", b"evt_1"),
        ("x-kirim-source", b"partner"),
    ];
    let d = Delivery::from_lookup(lookup(&headers)).unwrap();
    assert_eq!(d.event(), "customer.merged");
    assert_eq!(d.source(), &Source::Other("partner".into()));
    assert_eq!(d.source().as_str(), "partner");
}

#[test]
fn delivery_required_headers() {
    let event: (&str, &[u8]) = ("x-kirim-event", b"contact.created");
    let id: (&str, &[u8]) = ("x-kirim-event-id", b"evt_1");
    assert_eq!(
        Delivery::from_lookup(lookup(&[id])),
        Err(VerifyError::MissingHeader { name: names::EVENT })
    );
    assert_eq!(
        Delivery::from_lookup(lookup(&[event])),
        Err(VerifyError::MissingHeader {
            name: names::EVENT_ID
        })
    );
    let long = vec![b'a'; kirim_verify::flow::MAX_META_BYTES + 1];
    let exact = vec![b'a'; kirim_verify::flow::MAX_META_BYTES];
    for bad in [
        &b""[..],
        b"  ",
        b"evt 1",
        b"evt\x001",
        b"\xffevt",
        long.as_slice(),
    ] {
        let err = Delivery::from_lookup(lookup(&[event, ("x-kirim-event-id", bad)])).unwrap_err();
        assert_eq!(
            err,
            VerifyError::InvalidHeader {
                name: names::EVENT_ID
            },
            "{bad:?}"
        );
        assert_eq!(err.status(), 400);
    }
    assert!(Delivery::from_lookup(lookup(&[event, ("x-kirim-event-id", &exact)])).is_ok());
}

#[test]
fn delivery_from_an_http_header_map() {
    use http::{HeaderMap, HeaderName, HeaderValue};

    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("X-Kirim-Event", "message.received"),
        ("X-KIRIM-EVENT-ID", "wamid.abc=="),
        ("X-Kirim-Source", "meta"),
        ("x-kirim-delivery-id", "wbd_7"),
        ("X-Kirim-Attempt", "8"),
        ("X-Kirim-Signature", "t=1,v1=00"),
    ] {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_static(value),
        );
    }
    let d = Delivery::from_headers(&headers).unwrap();
    assert_eq!(d.event(), "message.received");
    assert_eq!(d.event_id(), "wamid.abc==");
    assert_eq!(d.source(), &Source::Meta);
    assert_eq!(d.delivery_id(), Some("wbd_7"));
    assert_eq!(d.attempt(), Some(8));

    headers.remove("x-kirim-event-id");
    assert_eq!(
        Delivery::from_headers(&headers),
        Err(VerifyError::MissingHeader {
            name: names::EVENT_ID
        })
    );
    headers.insert(
        HeaderName::from_bytes(b"X-Kirim-Event-Id").unwrap(),
        HeaderValue::from_bytes(b"evt\xff").unwrap(),
    );
    assert_eq!(
        Delivery::from_headers(&headers),
        Err(VerifyError::InvalidHeader {
            name: names::EVENT_ID
        })
    );
}

#[test]
fn header_names_are_lowercase() {
    for name in [
        names::SIGNATURE,
        names::EVENT,
        names::EVENT_ID,
        names::SOURCE,
        names::DELIVERY_ID,
        names::ATTEMPT,
    ] {
        assert_eq!(name, name.to_ascii_lowercase());
        assert!(name.starts_with("x-kirim-"));
    }
}
