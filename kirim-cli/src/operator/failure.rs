//! Exit codes a script can branch on, and how a failure is printed.

use std::process::ExitCode;

use crate::exit::Exit;

use serde_json::json;

/// Why a command failed, by exit code.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum Failure {
    /// Exit 1: a receiver did not show what was expected.
    Check(String),
    /// Exit 2.
    Usage(String),
    /// Exit 3 or 4: the API refused, or could not be reached.
    Api(kirim_api::Error),
    /// Exit 5.
    Local(String),
}

impl From<kirim_api::Error> for Failure {
    fn from(error: kirim_api::Error) -> Self {
        Self::Api(error)
    }
}

impl Failure {
    pub(crate) fn local(what: impl std::fmt::Display, error: impl std::fmt::Display) -> Self {
        Self::Local(format!("{what}: {error}"))
    }

    fn code(&self) -> u8 {
        let exit = match self {
            Self::Check(_) => Exit::Failed,
            Self::Usage(_) => Exit::Usage,
            Self::Api(kirim_api::Error::Transport(_)) => Exit::Unreachable,
            Self::Api(kirim_api::Error::InvalidInput(
                kirim_api::InvalidInput::Tls | kirim_api::InvalidInput::Body,
            )) => Exit::Local,
            // An id, a URL, a key that cannot be sent: the arguments were wrong.
            Self::Api(kirim_api::Error::InvalidInput(_)) => Exit::Usage,
            Self::Api(_) => Exit::Refused,
            Self::Local(_) => Exit::Local,
        };
        exit as u8
    }

    /// Prints the failure (stderr for people; one JSON document on stdout with `--json`) and
    /// gives the exit code.
    pub(crate) fn report(&self, json_output: bool, context: Option<serde_json::Value>) -> ExitCode {
        let code = self.code();
        if json_output {
            let mut error = match self {
                Self::Api(kirim_api::Error::Api(api)) => json!({
                    "class": "api_refused",
                    "status": api.status,
                    "type": api.kind.as_str(),
                    "code": api.code,
                    "message": api.message,
                    "param": api.param,
                    "request_id": api.request_id,
                }),
                Self::Api(error @ kirim_api::Error::Transport(_)) => json!({
                    "class": "unreachable",
                    "message": chain(error),
                }),
                Self::Api(error) => json!({
                    "class": if code == 2 { "usage" } else { "api_refused" },
                    "message": chain(error),
                    "request_id": error.request_id(),
                }),
                Self::Check(message) => json!({ "class": "check_failed", "message": message }),
                Self::Usage(message) => json!({ "class": "usage", "message": message }),
                Self::Local(message) => json!({ "class": "local", "message": message }),
            };
            error["exit_code"] = json!(code);
            let mut document = json!({ "ok": false, "error": error });
            if let Some(context) = context {
                document["context"] = context;
            }
            println!("{document}");
        } else {
            match self {
                Self::Api(kirim_api::Error::Api(api)) => {
                    eprintln!("error: the kirim api refused: HTTP {}", api.status);
                    eprintln!("  type:       {}", api.kind);
                    eprintln!("  code:       {}", none_if_empty(&api.code));
                    eprintln!("  message:    {}", none_if_empty(&api.message));
                    eprintln!("  param:      {}", api.param.as_deref().unwrap_or("-"));
                    eprintln!("  request_id: {}", api.request_id.as_deref().unwrap_or("-"));
                }
                Self::Api(error) => {
                    eprintln!("error: {}", chain(error));
                    if let Some(request_id) = error.request_id() {
                        eprintln!("  request_id: {request_id}");
                    }
                }
                Self::Check(message) | Self::Usage(message) | Self::Local(message) => {
                    eprintln!("error: {message}");
                }
            }
        }
        ExitCode::from(code)
    }
}

fn none_if_empty(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// The error and its sources, `: `-separated.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
