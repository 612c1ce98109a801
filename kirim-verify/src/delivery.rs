//! Typed access to the delivery headers Kirim sends next to the signature.

use alloc::string::String;
use core::fmt;

use crate::error::VerifyError;

/// Header names, lowercase (HTTP header names are case-insensitive).
pub mod names {
    /// `t=<unix seconds>,v1=<hex>[,v1=…]`: authenticity.
    pub const SIGNATURE: &str = "x-kirim-signature";
    /// The event type, e.g. `message.received`: routing.
    pub const EVENT: &str = "x-kirim-event";
    /// `evt_…` for Kirim events, Meta's `wamid.…` for Meta events: the dedup key.
    pub const EVENT_ID: &str = "x-kirim-event-id";
    /// `kirim` or `meta`: which body shape.
    pub const SOURCE: &str = "x-kirim-source";
    /// `wbd_…`, unique per attempt: logging only, never a dedup key.
    pub const DELIVERY_ID: &str = "x-kirim-delivery-id";
    /// `1` … `8`: logging and metrics.
    pub const ATTEMPT: &str = "x-kirim-attempt";
    /// The declared body length, refused early when over the limit.
    pub const CONTENT_LENGTH: &str = "content-length";
}

/// A header lookup, as [`Receiver::begin`](crate::Receiver::begin) and
/// [`Delivery::from_lookup`] want it, over the `HeaderMap` of any `http` version:
/// `lookup_by_header_name!(headers, HeaderName)`, with `headers` a reference to the map and
/// `HeaderName` that version's type. The flow asks for the names in [`names`] only; each is
/// looked up by a `HeaderName` built once, at compile time, so no name is parsed again on every
/// request as a lookup by `&str` does (any other name falls back to that). [`header_lookup`] is
/// this for `http` 1.x; the actix adapter uses it for `http` 0.2.
#[macro_export]
macro_rules! lookup_by_header_name {
    ($headers:expr, $name:ty) => {{
        static KNOWN: [(&str, $name); 7] = {
            use $crate::flow::names::{
                ATTEMPT, CONTENT_LENGTH, DELIVERY_ID, EVENT, EVENT_ID, SIGNATURE, SOURCE,
            };
            [
                (SIGNATURE, <$name>::from_static(SIGNATURE)),
                (EVENT, <$name>::from_static(EVENT)),
                (EVENT_ID, <$name>::from_static(EVENT_ID)),
                (SOURCE, <$name>::from_static(SOURCE)),
                (DELIVERY_ID, <$name>::from_static(DELIVERY_ID)),
                (ATTEMPT, <$name>::from_static(ATTEMPT)),
                (CONTENT_LENGTH, <$name>::from_static(CONTENT_LENGTH)),
            ]
        };
        let headers = $headers;
        move |name: &'static str| {
            let value = match KNOWN.iter().find(|(known, _)| *known == name) {
                Some((_, header)) => headers.get(header),
                None => headers.get(name),
            };
            value.map(|value| value.as_bytes())
        }
    }};
}

/// The header lookup the flow wants over an [`http::HeaderMap`] (`http` 1.x), by prebuilt
/// header names (see [`lookup_by_header_name!`](crate::lookup_by_header_name)).
#[cfg(feature = "http")]
pub fn header_lookup<'h>(
    headers: &'h http::HeaderMap,
) -> impl Fn(&'static str) -> Option<&'h [u8]> + 'h {
    crate::lookup_by_header_name!(headers, http::HeaderName)
}

/// The longest event type, event id, source or delivery id accepted, in bytes.
pub const MAX_META_BYTES: usize = 256;

/// Where the body comes from, from `X-Kirim-Source`; it decides the body's shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// `kirim`: the Kirim envelope `{"id": "evt_…", "type": …, "created_at": …, "data": …}`.
    Kirim,
    /// `meta`: the WhatsApp Cloud API payload, passed through unchanged.
    Meta,
    /// Any other value, kept as sent (empty when the header is absent).
    Other(String),
}

impl Source {
    /// The header value.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Kirim => "kirim",
            Self::Meta => "meta",
            Self::Other(other) => other,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The delivery headers of one request, validated.
///
/// None of them is covered by the signature (only `t` is): they say what the sender claims, and
/// are trustworthy only as far as the body agrees. The event type and id are required (routing
/// and dedup need them); the source, delivery id and attempt are informational and read
/// leniently.
///
/// ```
/// use kirim_verify::{Delivery, Source};
///
/// let delivery = Delivery::from_lookup(|name| match name {
///     "x-kirim-event" => Some(&b"contact.created"[..]),
///     "x-kirim-event-id" => Some(&b"evt_01HXYZABCDEFGHJKMNPQRSTVW1"[..]),
///     "x-kirim-source" => Some(&b"kirim"[..]),
///     "x-kirim-attempt" => Some(&b"2"[..]),
///     _ => None,
/// })?;
/// assert_eq!(delivery.event(), "contact.created");
/// assert_eq!(delivery.source(), &Source::Kirim);
/// assert_eq!(delivery.attempt(), Some(2));
/// # Ok::<(), kirim_verify::VerifyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    event: String,
    event_id: String,
    source: Source,
    delivery_id: Option<String>,
    attempt: Option<u32>,
}

impl Delivery {
    /// Reads the delivery headers through `get`, which returns the raw value of a lowercase
    /// header name. This is what both framework adapters use, whatever their `http` version.
    ///
    /// # Errors
    ///
    /// [`VerifyError::MissingHeader`] or [`VerifyError::InvalidHeader`] for `X-Kirim-Event` and
    /// `X-Kirim-Event-Id` (empty, longer than [`MAX_META_BYTES`], or not visible ASCII).
    pub fn from_lookup<'h>(
        get: impl Fn(&'static str) -> Option<&'h [u8]>,
    ) -> Result<Self, VerifyError> {
        let required = |name| match get(name) {
            None => Err(VerifyError::MissingHeader { name }),
            Some(value) => token(value).ok_or(VerifyError::InvalidHeader { name }),
        };
        let event = required(names::EVENT)?;
        let event_id = required(names::EVENT_ID)?;
        // Matched on the borrowed value: no string for the two known sources.
        let source = match get(names::SOURCE).and_then(visible) {
            Some("kirim") => Source::Kirim,
            Some("meta") => Source::Meta,
            Some(other) => Source::Other(String::from(other)),
            None => Source::Other(String::new()),
        };
        let delivery_id = get(names::DELIVERY_ID).and_then(token);
        let attempt = get(names::ATTEMPT)
            .and_then(|v| core::str::from_utf8(v).ok())
            .map(|v| v.trim_matches([' ', '\t']))
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse().ok());
        Ok(Self {
            event,
            event_id,
            source,
            delivery_id,
            attempt,
        })
    }

    /// Reads the delivery headers from an [`http::HeaderMap`].
    ///
    /// # Errors
    ///
    /// As [`from_lookup`](Self::from_lookup).
    #[cfg(feature = "http")]
    pub fn from_headers(headers: &http::HeaderMap) -> Result<Self, VerifyError> {
        Self::from_lookup(header_lookup(headers))
    }

    /// The event type (`X-Kirim-Event`), e.g. `message.received`. Unknown types are normal: the
    /// catalogue grows, and an unknown event should be acknowledged, not refused.
    #[must_use]
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The event id (`X-Kirim-Event-Id`): `evt_…` for Kirim events, a `wamid.…` for Meta ones.
    /// For `message.status` it is the outbound message's id, shared by its sent, delivered, read
    /// and failed callbacks.
    #[must_use]
    pub fn event_id(&self) -> &str {
        &self.event_id
    }

    /// The body's source (`X-Kirim-Source`).
    #[must_use]
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The delivery attempt id (`X-Kirim-Delivery-Id`), unique per attempt: for logs.
    #[must_use]
    pub fn delivery_id(&self) -> Option<&str> {
        self.delivery_id.as_deref()
    }

    /// The attempt number (`X-Kirim-Attempt`), 1 for the first.
    #[must_use]
    pub fn attempt(&self) -> Option<u32> {
        self.attempt
    }
}

/// A non-empty, bounded run of visible ASCII, blanks around it trimmed.
fn token(value: &[u8]) -> Option<String> {
    visible(value).map(String::from)
}

/// The value trimmed of blanks, when it is 1 to [`MAX_META_BYTES`] visible ASCII characters.
fn visible(value: &[u8]) -> Option<&str> {
    let value = core::str::from_utf8(value).ok()?.trim_matches([' ', '\t']);
    let visible = value.bytes().all(|b| b.is_ascii_graphic());
    (visible && !value.is_empty() && value.len() <= MAX_META_BYTES).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(headers: &[(&'static str, &'static [u8])]) -> Result<Delivery, VerifyError> {
        Delivery::from_lookup(|name| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
    }

    const BASE: [(&str, &[u8]); 2] = [
        (names::EVENT, b"message.status"),
        (names::EVENT_ID, b"wamid.HBgN=="),
    ];

    #[test]
    fn required_headers() {
        assert_eq!(
            parse(&BASE[..1]),
            Err(VerifyError::MissingHeader {
                name: names::EVENT_ID
            })
        );
        assert_eq!(
            parse(&[(names::EVENT, b""), BASE[1]]),
            Err(VerifyError::InvalidHeader { name: names::EVENT })
        );
        assert_eq!(
            parse(&[BASE[0], (names::EVENT_ID, b"evt 1")]),
            Err(VerifyError::InvalidHeader {
                name: names::EVENT_ID
            })
        );
        assert_eq!(
            parse(&[BASE[0], (names::EVENT_ID, &[0xff; 4])]),
            Err(VerifyError::InvalidHeader {
                name: names::EVENT_ID
            })
        );
        let long: &'static [u8] = &[b'a'; MAX_META_BYTES + 1];
        assert_eq!(
            parse(&[BASE[0], (names::EVENT_ID, long)]),
            Err(VerifyError::InvalidHeader {
                name: names::EVENT_ID
            })
        );
    }

    #[test]
    fn lenient_informational_headers() {
        let d = parse(&BASE).unwrap();
        assert_eq!(d.source(), &Source::Other(String::new()));
        assert_eq!((d.delivery_id(), d.attempt()), (None, None));

        let d = parse(&[
            BASE[0],
            BASE[1],
            (names::SOURCE, b"meta"),
            (names::DELIVERY_ID, b"wbd_1"),
            (names::ATTEMPT, b" 8 "),
        ])
        .unwrap();
        assert_eq!(d.source(), &Source::Meta);
        assert_eq!((d.delivery_id(), d.attempt()), (Some("wbd_1"), Some(8)));

        let d = parse(&[
            BASE[0],
            BASE[1],
            (names::SOURCE, b"partner"),
            (names::ATTEMPT, b"+3"),
        ])
        .unwrap();
        assert_eq!(d.source().as_str(), "partner");
        assert_eq!(d.attempt(), None);
    }

    #[cfg(feature = "http")]
    #[test]
    fn header_lookup_finds_every_name_the_flow_asks_for() {
        let all = [
            ("X-Kirim-Signature", names::SIGNATURE),
            ("X-Kirim-Event", names::EVENT),
            ("X-Kirim-Event-Id", names::EVENT_ID),
            ("X-Kirim-Source", names::SOURCE),
            ("X-Kirim-Delivery-Id", names::DELIVERY_ID),
            ("X-Kirim-Attempt", names::ATTEMPT),
            ("Content-Length", names::CONTENT_LENGTH),
            ("X-Other", "x-other"),
        ];
        let mut headers = http::HeaderMap::new();
        for (sent, _) in all {
            let name = http::HeaderName::from_bytes(sent.as_bytes()).unwrap();
            headers.insert(name, http::HeaderValue::from_static(sent));
        }
        let lookup = header_lookup(&headers);
        for (sent, asked) in all {
            assert_eq!(lookup(asked), Some(sent.as_bytes()), "{asked}");
        }
        assert_eq!(lookup("x-absent"), None);
    }
}
