//! The `verify` group: one delivery verified end to end, by body size and by configuration.
//!
//! Ids are `verify/<impl>/<secrets>x<sigs>/<bytes>`:
//!
//! - `kirim-verify`: `Verifier::verify_at` from the raw header bytes (parse, tolerance, one HMAC
//!   per secret, constant-time compare of every secret against every `v1`);
//! - `limit`: the floor, a bare HMAC-SHA256 over `t "." body` per secret from precomputed keyed
//!   state, with no parse and no compare;
//! - `standardwebhooks`: the `standardwebhooks` crate verifying the same body under its own
//!   header scheme, one `Webhook` per secret tried in turn;
//! - `naive`: the Kirim recipe as it is often written by hand: the key set up per call, the body
//!   copied into a `format!` string, the tag hex-encoded and compared with `==`.
//!
//! `2x2` is the worst case for all of them: the match is the last `v1` and comes from the last
//! secret.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use kirim_benches::{
    BODY_SIZES, SECRETS, STRANGER, TIMESTAMP, body, limit, prepared_macs, secrets,
    worst_case_header,
};
use kirim_verify::Verifier;
use sha2::Sha256;

/// (secrets, v1 entries) per configuration.
const CONFIGS: [(usize, usize); 2] = [(1, 1), (2, 2)];

fn verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify");
    group.warm_up_time(Duration::from_millis(300));
    for size in BODY_SIZES {
        let body = body(size);
        group.throughput(Throughput::Bytes(size as u64));
        if size >= 1024 * 1024 {
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(2));
        } else {
            group
                .sample_size(50)
                .measurement_time(Duration::from_secs(1));
        }
        for (n_secrets, sigs) in CONFIGS {
            let config = format!("{n_secrets}x{sigs}");
            let id = |name: &str| BenchmarkId::new(format!("{name}/{config}"), size);

            let verifier = Verifier::new(secrets(n_secrets)).expect("valid secrets");
            let header = worst_case_header(n_secrets, sigs, &body);
            group.bench_function(id("kirim-verify"), |b| {
                b.iter(|| {
                    verifier
                        .verify_at(black_box(header.as_bytes()), black_box(&body), TIMESTAMP)
                        .expect("verifies")
                });
            });

            let prepared = prepared_macs(n_secrets);
            let t = TIMESTAMP.to_string();
            group.bench_function(id("limit"), |b| {
                b.iter(|| limit(&prepared, t.as_bytes(), &body));
            });

            let peer = StandardWebhooks::new(n_secrets, sigs, &body);
            group.bench_function(id("standardwebhooks"), |b| {
                b.iter(|| assert!(peer.verify(black_box(&body))));
            });

            let header_text = header.clone();
            group.bench_function(id("naive"), |b| {
                b.iter(|| {
                    assert!(naive_verify(
                        &SECRETS[..n_secrets],
                        black_box(header_text.as_bytes()),
                        black_box(&body),
                        TIMESTAMP,
                    ));
                });
            });
        }
    }
    group.finish();
}

/// The `standardwebhooks` crate, configured as a receiver of a rotation: one `Webhook` per
/// secret (the crate takes one key each), tried in order; the headers carry `sigs` signatures,
/// only the last of which (by the last secret) matches.
struct StandardWebhooks {
    webhooks: Vec<standardwebhooks::Webhook>,
    headers: http::HeaderMap,
}

impl StandardWebhooks {
    fn new(n_secrets: usize, sigs: usize, body: &[u8]) -> Self {
        // Its secrets are base64 after `whsec_`; the key bytes differ from Kirim's, the cost
        // does not (both keys are shorter than one SHA-256 block).
        let keys = [
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        ];
        let stranger = format!("whsec_{}", hex::encode(STRANGER));
        let webhook = |key: &str| standardwebhooks::Webhook::new(key).expect("base64 secret");
        let webhooks: Vec<_> = keys[..n_secrets].iter().map(|k| webhook(k)).collect();
        // Its verify reads the system clock: sign at the time this benchmark starts.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs()
            .cast_signed();
        let id = "msg_01HXYZABCDEFGHJKMNPQRSTVWX";
        let mut signatures: Vec<String> = (1..sigs)
            .map(|_| webhook(&stranger).sign(id, now, body).expect("utf-8 body"))
            .collect();
        let last = webhooks.last().expect("at least one secret");
        signatures.push(last.sign(id, now, body).expect("utf-8 body"));
        let mut headers = http::HeaderMap::new();
        let value = |s: &str| http::HeaderValue::from_str(s).expect("visible ASCII");
        headers.insert(standardwebhooks::HEADER_WEBHOOK_ID, value(id));
        headers.insert(
            standardwebhooks::HEADER_WEBHOOK_TIMESTAMP,
            value(&now.to_string()),
        );
        headers.insert(
            standardwebhooks::HEADER_WEBHOOK_SIGNATURE,
            value(&signatures.join(" ")),
        );
        Self { webhooks, headers }
    }

    fn verify(&self, body: &[u8]) -> bool {
        self.webhooks
            .iter()
            .any(|webhook| webhook.verify(body, &self.headers).is_ok())
    }
}

/// The Kirim recipe as it is often written by hand, early exits and all.
fn naive_verify(secrets: &[&str], header: &[u8], body: &[u8], now: u64) -> bool {
    let Ok(header) = std::str::from_utf8(header) else {
        return false;
    };
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        if let Some((key, value)) = part.trim().split_once('=') {
            match key {
                "t" => t = Some(value),
                "v1" => signatures.push(value),
                _ => {}
            }
        }
    }
    let Some(t) = t else {
        return false;
    };
    let Ok(timestamp) = t.parse::<u64>() else {
        return false;
    };
    if now.abs_diff(timestamp) > 300 {
        return false;
    }
    let payload = format!("{t}.{}", String::from_utf8_lossy(body));
    for secret in secrets {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(payload.as_bytes());
        let expected = hex::encode(mac.finalize().into_bytes());
        if signatures.iter().any(|s| *s == expected) {
            return true;
        }
    }
    false
}

criterion_group!(benches, verify);
criterion_main!(benches);
