//! The environment contract of a receiver process: one parser for the example receivers and for
//! users who configure theirs the same way.

use std::borrow::ToOwned;
use std::ffi::OsString;
use std::fmt;
use std::string::String;
use std::vec::Vec;

use core::time::Duration;

use crate::error::ConfigError;
use crate::receiver::{DEFAULT_MAX_BODY_BYTES, Receiver};
use crate::secret::Secret;
use crate::verifier::{DEFAULT_TOLERANCE, Verifier};

/// A receiver's configuration, read from the environment.
///
/// | variable | meaning | default |
/// |---|---|---|
/// | `KIRIM_WEBHOOK_SECRETS` | the signing secrets, comma-separated, each `whsec_…` or `label=whsec_…` (the label is reported when that secret verifies a delivery) | required |
/// | `KIRIM_LISTEN` | the address to listen on | `127.0.0.1:3000` |
/// | `KIRIM_TOLERANCE_SECS` | the signature timestamp tolerance, both ways | 300 |
/// | `KIRIM_MAX_BODY_BYTES` | the body limit | 1 MiB |
/// | `REDIS_URL` | dedup in Redis, shared by every instance | dedup in memory |
/// | `DATABASE_URL` | a durable inbox (`sqlite://PATH` or `postgres://…`) | none |
/// | `KIRIM_WORK_MS` | a simulated downstream: how long processing one event takes | 0 |
/// | `KIRIM_METRICS_LISTEN` | where to serve the metrics in Prometheus text format (`/metrics`) | not served |
/// | `KIRIM_INBOX_LEASE_SECS` | with `DATABASE_URL`: how long a worker holds a row before another may take it | the inbox's (60 s) |
///
/// A variable set to an empty (or blank) value counts as unset. A value that is not UTF-8, a
/// number that does not parse, or a secret list that does not build is an [`EnvError`] naming
/// the variable. Its `Debug` shows neither the secrets nor the URLs (they may hold passwords).
///
/// ```
/// use kirim_verify::EnvConfig;
///
/// let env = EnvConfig::from_lookup(|name| match name {
///     "KIRIM_WEBHOOK_SECRETS" => Some("current=whsec_test".into()),
///     "KIRIM_TOLERANCE_SECS" => Some("60".into()),
///     _ => None,
/// })?;
/// assert_eq!(env.listen, "127.0.0.1:3000");
/// let receiver = env.receiver()?;
/// # let _ = receiver;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct EnvConfig {
    /// `KIRIM_WEBHOOK_SECRETS`.
    pub secrets: Vec<Secret>,
    /// `KIRIM_LISTEN`.
    pub listen: String,
    /// `KIRIM_TOLERANCE_SECS`.
    pub tolerance: Duration,
    /// `KIRIM_MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
    /// `REDIS_URL`.
    pub redis_url: Option<String>,
    /// `DATABASE_URL`.
    pub database_url: Option<String>,
    /// `KIRIM_WORK_MS`.
    pub work: Duration,
    /// `KIRIM_METRICS_LISTEN`.
    pub metrics_listen: Option<String>,
    /// `KIRIM_INBOX_LEASE_SECS`.
    pub inbox_lease: Option<Duration>,
}

/// The default of `KIRIM_LISTEN`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";

impl EnvConfig {
    /// Every variable this reads: what a test clears to start a receiver from a clean
    /// environment.
    pub const VARIABLES: [&'static str; 9] = [
        SECRETS,
        "KIRIM_LISTEN",
        "KIRIM_TOLERANCE_SECS",
        MAX_BODY,
        "REDIS_URL",
        "DATABASE_URL",
        "KIRIM_WORK_MS",
        "KIRIM_METRICS_LISTEN",
        "KIRIM_INBOX_LEASE_SECS",
    ];

    /// Reads the process environment.
    ///
    /// # Errors
    ///
    /// [`EnvError`], naming the variable and what is wrong with it.
    pub fn from_env() -> Result<Self, EnvError> {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// Reads the variables through `get` (a test's table, a config file's): the same rules as
    /// [`from_env`](Self::from_env).
    ///
    /// # Errors
    ///
    /// [`EnvError`], naming the variable and what is wrong with it.
    pub fn from_lookup(get: impl Fn(&str) -> Option<OsString>) -> Result<Self, EnvError> {
        let var = |name: &'static str| -> Result<Option<String>, EnvError> {
            match get(name).map(OsString::into_string) {
                None => Ok(None),
                Some(Ok(value)) if value.trim().is_empty() => Ok(None),
                Some(Ok(value)) => Ok(Some(value)),
                Some(Err(_)) => Err(EnvError::NotUnicode { name }),
            }
        };
        let number = |name: &'static str| -> Result<Option<u64>, EnvError> {
            var(name)?
                .map(|value| {
                    value
                        .trim()
                        .parse()
                        .map_err(|_| EnvError::NotANumber { name })
                })
                .transpose()
        };
        let list = var(SECRETS)?.ok_or(EnvError::Missing { name: SECRETS })?;
        let secrets = Secret::parse_list(&list).map_err(|error| EnvError::Invalid {
            name: SECRETS,
            error,
        })?;
        let max_body_bytes = match number(MAX_BODY)? {
            None => DEFAULT_MAX_BODY_BYTES,
            Some(n) => usize::try_from(n).map_err(|_| EnvError::NotANumber { name: MAX_BODY })?,
        };
        Ok(Self {
            secrets,
            listen: var("KIRIM_LISTEN")?.unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
            tolerance: number("KIRIM_TOLERANCE_SECS")?
                .map_or(DEFAULT_TOLERANCE, Duration::from_secs),
            max_body_bytes,
            redis_url: var("REDIS_URL")?,
            database_url: var("DATABASE_URL")?,
            work: number("KIRIM_WORK_MS")?.map_or(Duration::ZERO, Duration::from_millis),
            metrics_listen: var("KIRIM_METRICS_LISTEN")?,
            inbox_lease: number("KIRIM_INBOX_LEASE_SECS")?.map(Duration::from_secs),
        })
    }

    /// The receiver these variables describe: the secrets, the tolerance and the body limit.
    /// No store: the caller picks one from [`redis_url`](Self::redis_url) or
    /// [`database_url`](Self::database_url).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the secrets do not make a verifier (too many).
    pub fn receiver(&self) -> Result<Receiver, ConfigError> {
        let verifier = Verifier::new(self.secrets.iter().cloned())?.with_tolerance(self.tolerance);
        Ok(Receiver::new(verifier).with_max_body_bytes(self.max_body_bytes))
    }
}

/// Redacted: the secrets are `Secret`s (redacted themselves) and the URLs may hold passwords.
impl fmt::Debug for EnvConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvConfig")
            .field("secrets", &self.secrets.len())
            .field("listen", &self.listen)
            .field("tolerance", &self.tolerance)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("redis_url", &self.redis_url.as_ref().map(|_| "…"))
            .field("database_url", &self.database_url.as_ref().map(|_| "…"))
            .field("work", &self.work)
            .field("metrics_listen", &self.metrics_listen)
            .field("inbox_lease", &self.inbox_lease)
            .finish()
    }
}

const SECRETS: &str = "KIRIM_WEBHOOK_SECRETS";
const MAX_BODY: &str = "KIRIM_MAX_BODY_BYTES";

/// Why the environment does not describe a receiver. Each names the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvError {
    /// A required variable is unset or empty.
    Missing {
        /// The variable.
        name: &'static str,
    },
    /// A variable's value is not UTF-8.
    NotUnicode {
        /// The variable.
        name: &'static str,
    },
    /// A variable that takes a whole number holds something else (or one too large).
    NotANumber {
        /// The variable.
        name: &'static str,
    },
    /// A variable's value does not make a valid configuration.
    Invalid {
        /// The variable.
        name: &'static str,
        /// Why.
        error: ConfigError,
    },
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { name } if *name == SECRETS => f.write_str(
                "KIRIM_WEBHOOK_SECRETS is not set: give the signing secret(s) Kirim issued, \
                 comma-separated, each whsec_… or label=whsec_…",
            ),
            Self::Missing { name } => write!(f, "{name} is not set"),
            Self::NotUnicode { name } => write!(f, "{name} is not UTF-8"),
            Self::NotANumber { name } => write!(f, "{name} must be a whole number"),
            Self::Invalid { name, .. } => write!(f, "{name} is invalid"),
        }
    }
}

impl core::error::Error for EnvError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Invalid { error, .. } => Some(error),
            _ => None,
        }
    }
}
