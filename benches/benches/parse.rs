//! The `parse` group: `SignatureHeader::parse` on well-formed headers with 1, 2 and 16 `v1`
//! entries, and on malformed headers at and over the 8 KiB cap, to show that refusing a hostile
//! header costs a bounded amount of work.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kirim_benches::{body, worst_case_header};
use kirim_verify::header::{MAX_HEADER_BYTES, MalformedHeader, SignatureHeader};

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    let body = body(64);
    for sigs in [1, 2, 16] {
        let header = worst_case_header(1, sigs, &body);
        group.throughput(Throughput::Bytes(header.len() as u64));
        group.bench_function(format!("{sigs}"), |b| {
            b.iter(|| SignatureHeader::parse(black_box(header.as_bytes())).expect("well formed"));
        });
    }

    // 8 KiB of elements with unknown keys, then a bad `v1`: every byte is looked at once.
    let mut unknown = String::from("t=1716480000");
    while unknown.len() + ",foo=bar".len() + ",v1=zz".len() <= MAX_HEADER_BYTES {
        unknown.push_str(",foo=bar");
    }
    unknown.push_str(",v1=zz");
    assert!(unknown.len() <= MAX_HEADER_BYTES);
    reject(
        &mut group,
        "reject/unknown-8KiB",
        &unknown,
        MalformedHeader::InvalidSignature,
    );

    // 8 KiB of empty elements: the most elements a header can hold.
    let commas = format!("t=1,{}", ",".repeat(MAX_HEADER_BYTES - 4));
    reject(
        &mut group,
        "reject/empty-8KiB",
        &commas,
        MalformedHeader::MissingSignature,
    );

    // One byte over the cap: refused before it is looked at.
    let over = format!(
        "{unknown}{}",
        "x".repeat(MAX_HEADER_BYTES + 1 - unknown.len())
    );
    reject(
        &mut group,
        "reject/too-long",
        &over,
        MalformedHeader::TooLong,
    );
    group.finish();
}

fn reject(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    header: &str,
    reason: MalformedHeader,
) {
    assert_eq!(SignatureHeader::parse(header.as_bytes()), Err(reason));
    group.throughput(Throughput::Bytes(header.len() as u64));
    group.bench_function(name, |b| {
        b.iter(|| SignatureHeader::parse(black_box(header.as_bytes())).expect_err("malformed"));
    });
}

criterion_group!(benches, parse);
criterion_main!(benches);
