//! Why a verified body did not parse as its event type.

use alloc::string::{String, ToString as _};
use core::fmt;

/// A verified delivery of a known event type whose body does not parse as that type.
///
/// It names the type and where parsing stopped (a JSON path such as
/// `entry[0].changes[0].value.statuses[0].status`, and the line and column), never the body's
/// content: a JSON parser's own message may quote it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventError {
    /// The body is not JSON: not UTF-8, a syntax error, truncated, or trailing bytes.
    NotJson {
        /// The event type the delivery named.
        event_type: String,
        /// Where parsing stopped, as a JSON path (`.` for the root).
        path: String,
        /// The line of the body where parsing stopped (from 1).
        line: usize,
        /// The column where parsing stopped (from 1).
        column: usize,
    },
    /// JSON, but not the shape of its type: a field is missing or of another type.
    Mismatch {
        /// The event type the delivery named.
        event_type: String,
        /// The field that did not match, as a JSON path (`.` for the root).
        path: String,
        /// The line of the body where parsing stopped (from 1).
        line: usize,
        /// The column where parsing stopped (from 1).
        column: usize,
    },
}

impl EventError {
    pub(crate) fn new(event_type: &str, path: String, error: &serde_json::Error) -> Self {
        let event_type = String::from(event_type);
        let (line, column) = (error.line(), error.column());
        match error.classify() {
            serde_json::error::Category::Data => Self::Mismatch {
                event_type,
                path: with_missing_field(path, error),
                line,
                column,
            },
            _ => Self::NotJson {
                event_type,
                path,
                line,
                column,
            },
        }
    }

    /// The event type the delivery named.
    #[must_use]
    pub fn event_type(&self) -> &str {
        match self {
            Self::NotJson { event_type, .. } | Self::Mismatch { event_type, .. } => event_type,
        }
    }

    /// Where parsing stopped, as a JSON path (`.` for the root).
    #[must_use]
    pub fn path(&self) -> &str {
        match self {
            Self::NotJson { path, .. } | Self::Mismatch { path, .. } => path,
        }
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotJson {
                event_type,
                path,
                line,
                column,
            } => write!(
                f,
                "{event_type} body is not JSON at {path} (line {line}, column {column})"
            ),
            Self::Mismatch {
                event_type,
                path,
                line,
                column,
            } => write!(
                f,
                "{event_type} body does not match its type at {path} (line {line}, column {column})"
            ),
        }
    }
}

impl core::error::Error for EventError {}

/// A missing field is reported at its parent: name the field itself. The name comes from this
/// crate's types, never from the body (the rest of serde's message may quote the body).
fn with_missing_field(path: String, error: &serde_json::Error) -> String {
    let message = error.to_string();
    let field = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field);
    match field {
        Some(field) if path == "." => String::from(field),
        Some(field) => alloc::format!("{path}.{field}"),
        None => path,
    }
}
