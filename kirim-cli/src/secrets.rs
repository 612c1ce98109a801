//! `--secret`, repeatable, or `KIRIM_WEBHOOK_SECRETS`: never echoed.

use std::fmt;

use kirim_verify::Secret;

use crate::exit::Error;

/// The webhook secrets a command signs with.
#[derive(clap::Args)]
pub(crate) struct SecretArgs {
    /// A webhook secret, `whsec_…` or `label=whsec_…` (a comma-separated list works too).
    /// Repeat it for a rotation: each delivery then carries one `v1` per secret
    #[arg(
        long = "secret",
        value_name = "SECRET",
        env = "KIRIM_WEBHOOK_SECRETS",
        hide_env_values = true,
        required = true
    )]
    raw: Vec<String>,
}

impl SecretArgs {
    /// The secrets, in the order given.
    ///
    /// The message names the option and the reason only: a mistyped secret is still a secret.
    pub(crate) fn secrets(&self) -> Result<Vec<Secret>, Error> {
        let mut secrets = Vec::new();
        for entry in &self.raw {
            let parsed = Secret::parse_list(entry)
                .map_err(|error| Error::Usage(format!("--secret: {error}")))?;
            secrets.extend(parsed);
        }
        Ok(secrets)
    }
}

impl fmt::Debug for SecretArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretArgs")
            .field("count", &self.raw.len())
            .finish_non_exhaustive()
    }
}
