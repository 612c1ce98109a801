//! The suite's configuration: its secrets, verifier and receiver.

use std::time::Duration;

use kirim_verify::{Dedup, MemoryStore, Receiver, Secret, Signer, Verifier};

use super::{LIMIT, NEXT_SECRET, SECRET};

/// The verifier every case uses: the current and the next secret, labelled.
pub fn verifier() -> Verifier {
    let secrets = [
        Secret::new(SECRET).map(|s| s.with_label("current")),
        Secret::new(NEXT_SECRET).map(|s| s.with_label("next")),
    ];
    let secrets: Vec<Secret> = secrets
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    Verifier::new(secrets).unwrap_or_else(|e| panic!("suite verifier: {e}"))
}

/// The receiver most cases use: [`verifier`], a [`MemoryStore`], short lease, [`LIMIT`].
pub fn receiver() -> Receiver {
    Receiver::new(verifier())
        .with_dedup(Dedup::new(MemoryStore::new()).with_lease(Duration::from_secs(5)))
        .with_max_body_bytes(LIMIT)
}

pub(crate) fn signer(secrets: &[&str]) -> Signer {
    let secrets = secrets
        .iter()
        .map(|s| Secret::new(*s).unwrap_or_else(|e| panic!("{e}")));
    Signer::new(secrets).unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
