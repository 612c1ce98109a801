//! Public-API tests for the core: construction, tolerance, rotation, incremental verification,
//! error mapping, redaction, the signer's helpers, delivery headers and the header's canonical
//! form.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/incremental.rs"]
mod incremental;
use incremental::{chunks, incremental};

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use hmac::{Hmac, KeyInit, Mac};
use kirim_verify::flow::names;
use kirim_verify::header::{MAX_HEADER_BYTES, MAX_SIGNATURES, MalformedHeader, SignatureHeader};
use kirim_verify::{
    ConfigError, DEFAULT_TOLERANCE, Delivery, MAX_SECRETS, Receiver, Rejection, Secret, Signer,
    Source, Verifier, VerifyError, Webhook,
};
use sha2::{Digest, Sha256};

const NOW: u64 = 1_716_480_000;
const BODY: &[u8] =
    br#"{"id":"evt_01HXYZABCDEFGHJKMNPQRSTVWX","type":"contact.created","created_at":"2026-05-23T10:00:00Z","livemode":true,"data":{}}"#;
/// The v1 for `BODY` at `NOW` with `whsec_test` (the first shared known-answer vector).
const KNOWN_V1: &str = "6317b47eecc3a55a1b1f2c0511df9c14344ef8cd78484b04bd8b77b9a6da3fd3";

fn secret(value: &str) -> Secret {
    Secret::new(value).unwrap()
}

fn verifier(values: &[&str]) -> Verifier {
    Verifier::new(values.iter().map(|v| secret(v))).unwrap()
}

fn signer(values: &[&str]) -> Signer {
    Signer::new(values.iter().map(|v| secret(v))).unwrap()
}

/// HMAC-SHA256 of `t "." body` keyed with the whole secret string, computed here rather than by
/// the crate, as lowercase hex.
fn v1(secret: &str, t: &str, body: &[u8]) -> String {
    v1_with_key(secret.as_bytes(), t, body)
}

fn v1_with_key(key: &[u8], t: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

mod construction;
mod delivery;
mod errors;
mod incremental_verification;
mod redaction;
mod rotation;
mod signature_header;
mod signer;
mod tolerance;
