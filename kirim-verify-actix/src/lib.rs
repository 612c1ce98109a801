//! kirim-verify-actix (in progress)
