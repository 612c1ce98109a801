//! What `Signer::sign` writes, `Verifier::verify_at` accepts, in one piece or in chunks. See `invariants::roundtrip`.
#![no_main]

#[path = "../invariants.rs"]
mod invariants;

libfuzzer_sys::fuzz_target!(|data: &[u8]| invariants::roundtrip(data));
