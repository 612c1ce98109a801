//! Runs one `verify` implementation in a loop, for counting instructions under
//! `valgrind --tool=callgrind` (repeatable whatever else the machine is doing, unlike time):
//!
//! ```sh
//! cargo build --release -p kirim-benches --example instructions
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/instructions kirim-verify 1x1 1024 1000
//! ```
//!
//! Arguments: implementation (`kirim-verify`, `limit`, `none`), configuration (`1x1`,
//! `2x2`), body bytes, iterations. `none` does the setup only, so its count can be subtracted.
//! `benches/instructions` runs the whole matrix and prints instructions per call.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use kirim_benches::{TIMESTAMP, body, limit, prepared_macs, secrets, worst_case_header};
use kirim_verify::Verifier;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [implementation, config, size, iterations] = &args[..] else {
        panic!("usage: instructions IMPL SECRETSxSIGS BYTES ITERATIONS");
    };
    let (n_secrets, sigs) = config.split_once('x').expect("SECRETSxSIGS");
    let (n_secrets, sigs): (usize, usize) = (n_secrets.parse().unwrap(), sigs.parse().unwrap());
    let body = body(size.parse().unwrap());
    let iterations: usize = iterations.parse().unwrap();
    let header = worst_case_header(n_secrets, sigs, &body);
    let verifier = Verifier::new(secrets(n_secrets)).unwrap();
    let prepared = prepared_macs(n_secrets);
    let t = TIMESTAMP.to_string();
    for _ in 0..iterations {
        match implementation.as_str() {
            "kirim-verify" => {
                black_box(verifier.verify_at(
                    black_box(header.as_bytes()),
                    black_box(&body),
                    TIMESTAMP,
                ))
                .unwrap();
            }
            "limit" => limit(&prepared, t.as_bytes(), &body),
            "none" => {}
            other => panic!("unknown implementation {other}"),
        }
    }
}
