//! Where results go: lines for a person, or with `--json` one JSON document on stdout.

use std::fmt;
use std::io::Write as _;

use serde::Serialize;

use crate::exit::Error;

/// The output mode of one command.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    json: bool,
}

impl Output {
    pub(crate) fn new(json: bool) -> Self {
        Self { json }
    }

    /// A line for a person, printed (and flushed, so progress shows) only without `--json`.
    pub(crate) fn line(self, line: fmt::Arguments<'_>) -> Result<(), Error> {
        if self.json {
            return Ok(());
        }
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")
            .and_then(|()| stdout.flush())
            .map_err(Error::Output)
    }

    /// The command's one JSON document, printed only with `--json`.
    pub(crate) fn document(self, document: &impl Serialize) -> Result<(), Error> {
        if !self.json {
            return Ok(());
        }
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, document)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(stdout))
            .and_then(|()| stdout.flush())
            .map_err(Error::Output)
    }

    /// An error that ends the command: on stderr with its causes, and with `--json` also as
    /// the command's document, so a CI step that parses stdout sees why.
    pub(crate) fn error(self, error: &Error) {
        let message = chain(error);
        eprintln!("kirim-webhooks: {message}");
        if self.json {
            let _ = self.document(&ErrorDocument {
                error: &message,
                exit_code: error.exit() as u8,
            });
        }
    }
}

#[derive(Serialize)]
struct ErrorDocument<'a> {
    error: &'a str,
    exit_code: u8,
}

/// An error and its sources, joined with `: `.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut next = error.source();
    while let Some(source) = next {
        message.push_str(": ");
        message.push_str(&source.to_string());
        next = source.source();
    }
    message
}
