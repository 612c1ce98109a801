//! Fresh ids in Kirim's shape: a prefix and a 26-character ULID (time, then randomness).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Crockford's base32, as ULIDs use.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Mixed into the random part, so ids stay distinct even if the OS random source fails.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `prefix` + a ULID: 48 bits of milliseconds, then 80 random bits.
pub(crate) fn fresh(prefix: &str) -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut random = [0u8; 16];
    // A failed random source still leaves the counter: unique within this process.
    let _ = getrandom::fill(&mut random);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random = u128::from_le_bytes(random) ^ u128::from(count);
    let value = ((millis & 0xFFFF_FFFF_FFFF) << 80) | (random & ((1 << 80) - 1));
    let mut id = String::with_capacity(prefix.len() + 26);
    id.push_str(prefix);
    for position in (0..26).rev() {
        let index = (value >> (position * 5)) & 0x1F;
        id.push(char::from(ALPHABET[index as usize]));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_ulids_and_distinct() {
        let (a, b) = (fresh("evt_"), fresh("evt_"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 26);
        assert!(a[4..].bytes().all(|c| ALPHABET.contains(&c)));
    }
}
