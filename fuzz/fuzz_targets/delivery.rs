//! `Delivery::from_lookup` over arbitrary header values. See `invariants::delivery`.
#![no_main]

#[path = "../invariants.rs"]
mod invariants;

libfuzzer_sys::fuzz_target!(|data: &[u8]| invariants::delivery(data));
