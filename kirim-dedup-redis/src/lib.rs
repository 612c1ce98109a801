//! kirim-dedup-redis (in progress)
