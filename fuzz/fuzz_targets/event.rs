//! `Webhook::event` over arbitrary (signed, verified) bodies under every event type. See
//! `invariants::event`.
#![no_main]

#[path = "../invariants.rs"]
mod invariants;

libfuzzer_sys::fuzz_target!(|data: &[u8]| invariants::event(data));
