//! kirim-verify-axum (in progress)
