//! `Verifier::verify_at` on arbitrary and on signed-then-mutated deliveries. See `invariants::verify`.
#![no_main]

#[path = "../invariants.rs"]
mod invariants;

libfuzzer_sys::fuzz_target!(|data: &[u8]| invariants::verify(data));
