//! Exit codes, the same for every command.

use std::fmt;
use std::process::ExitCode;

/// What the process tells its caller (a shell, CI) when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Everything asked for was done: every check passed, the delivery was delivered.
    Ok = 0,
    /// The receiver failed a check, or a delivery was not delivered.
    Failed = 1,
    /// The command line was wrong (clap exits with this code itself).
    Usage = 2,
    /// The Kirim API answered with an error.
    Refused = 3,
    /// Could not reach the other side: connect, timeout, DNS, TLS.
    Unreachable = 4,
    /// A local error: a file, a state file, the terminal.
    Local = 5,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        Self::from(exit as u8)
    }
}

/// The table printed at the end of `--help`.
pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  ok
  1  the receiver failed a check, a delivery was not delivered, or `rotate` saw no delivery
     verified with the new secret
  2  usage error (a missing API key included)
  3  the Kirim API refused (its type, code, message, param and request_id are printed)
  4  could not reach the receiver or the Kirim API (connect, timeout, DNS, TLS)
  5  a local error (a file, the state file, the terminal)";

/// An error that ends a command: the precise reason for the operator, and the exit code.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum Error {
    /// A command-line value that clap could not check by itself.
    Usage(String),
    /// A file or standard input could not be read.
    Read {
        /// What was read (`--body FILE`, standard input).
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The HTTP client could not be built.
    Client(reqwest::Error),
    /// Output could not be written or encoded.
    Output(std::io::Error),
}

impl Error {
    /// The exit code this error ends the process with.
    pub(crate) fn exit(&self) -> Exit {
        match self {
            Self::Usage(_) => Exit::Usage,
            Self::Read { .. } | Self::Client(_) | Self::Output(_) => Exit::Local,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(message) => f.write_str(message),
            Self::Read { what, source } => write!(f, "cannot read {what}: {source}"),
            Self::Client(_) => f.write_str("cannot set up the HTTP client"),
            Self::Output(source) => write!(f, "cannot write the output: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Client(source) => Some(source),
            // `Read` and `Output` show their io error in `Display`.
            Self::Usage(_) | Self::Read { .. } | Self::Output(_) => None,
        }
    }
}
