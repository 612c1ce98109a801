//! `SignatureHeader::parse` never panics; what it accepts re-parses equal from its canonical form. See `invariants::header`.
#![no_main]

#[path = "../invariants.rs"]
mod invariants;

libfuzzer_sys::fuzz_target!(|data: &[u8]| invariants::header(data));
