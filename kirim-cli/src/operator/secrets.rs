//! `secrets add|delete`.

use std::path::PathBuf;

use clap::Subcommand;
use kirim_api::AddSecret;
use serde_json::json;

use super::failure::Failure;
use super::prompt;
use super::secret_file::write_secret;
use super::{CommandResult, Context, Outcome};

#[derive(Debug, Subcommand)]
pub(crate) enum SecretsCommand {
    /// Add a signing secret (Kirim signs with every active one). Shown once: printed, or
    /// written to --secret-file.
    Add {
        /// The subscription id (wbs_…).
        subscription: String,
        /// Sent as expires_in_hours (Kirim's docs do not say which secret it bounds).
        #[arg(long)]
        expires_in_hours: Option<u32>,
        /// Write the secret to this file (mode 0600) instead of printing it.
        #[arg(long)]
        secret_file: Option<PathBuf>,
    },
    /// Delete a signing secret: Kirim stops signing with it on the next event. Asks first on a
    /// terminal; off one, needs --yes.
    Delete {
        /// The subscription id (wbs_…).
        subscription: String,
        /// The secret id (sec_…).
        secret_id: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

pub(crate) async fn run(command: SecretsCommand, context: &Context) -> CommandResult {
    let client = &context.client;
    match command {
        SecretsCommand::Add {
            subscription,
            expires_in_hours,
            secret_file,
        } => {
            let mut request = AddSecret::new();
            if let Some(hours) = expires_in_hours {
                request = request.with_expires_in_hours(hours);
            }
            let new = client
                .add_secret(&subscription, &request)
                .await
                .map_err(Failure::from)?;
            let mut human = format!(
                "added secret {} to {subscription} (expires {}); Kirim now signs with it too\n",
                new.id,
                new.expires_at.as_deref().unwrap_or("never")
            );
            let mut document = json!({
                "subscription_id": subscription,
                "secret": { "id": new.id, "created_at": new.created_at, "expires_at": new.expires_at },
            });
            match &secret_file {
                Some(path) => {
                    write_secret(path, new.secret.expose())
                        .map_err(|failure| (failure, Some(json!({ "added": new.id }))))?;
                    human.push_str(&format!(
                        "secret written to {} (mode 0600)\n",
                        path.display()
                    ));
                    document["secret_file"] = json!(path);
                }
                None => {
                    human.push_str(&format!("secret (shown once):\n{}\n", new.secret.expose()));
                    document["secret"]["secret"] = json!(new.secret.expose());
                }
            }
            Ok(Outcome::new(human, document))
        }
        SecretsCommand::Delete {
            subscription,
            secret_id,
            yes,
        } => {
            if !yes {
                if !prompt::interactive() {
                    return Err(Failure::Local(
                        "refusing to delete a secret without confirmation: not a terminal; pass --yes".to_owned(),
                    )
                    .into());
                }
                let question = format!(
                    "Delete secret {secret_id} of {subscription}? Receivers that only know it will reject every delivery."
                );
                if !prompt::confirm(&question)? {
                    return Ok(Outcome::new(
                        format!("not deleted: {secret_id} is still active"),
                        json!({ "deleted": false, "secret_id": secret_id }),
                    ));
                }
            }
            client
                .delete_secret(&subscription, &secret_id)
                .await
                .map_err(Failure::from)?;
            Ok(Outcome::new(
                format!(
                    "deleted secret {secret_id} of {subscription}: Kirim stops signing with it on the next event"
                ),
                json!({ "deleted": true, "subscription_id": subscription, "secret_id": secret_id }),
            ))
        }
    }
}
