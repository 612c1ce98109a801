//! The system clock: the one place the crate reads it. Everything else takes `now` as an
//! argument, so it can be tested at any instant.

/// The system clock, in unix seconds. A clock before 1970 reads as 0, which every fresh
/// timestamp then fails as too new.
#[must_use]
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
