//! `subscriptions create|get|update|pause|resume`.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Subcommand;
use kirim_api::{CreateSubscription, Subscription, UpdateSubscription};
use serde_json::json;

use super::failure::Failure;
use super::secret_file::write_secret;
use super::{CommandResult, Context, Outcome, split_list};

#[derive(Debug, Subcommand)]
pub(crate) enum SubscriptionsCommand {
    /// Create a subscription. Its first signing secret is shown once: printed, or written to
    /// --secret-file.
    Create {
        /// Where Kirim delivers (https:// only).
        #[arg(long)]
        url: String,
        /// Event names, comma-separated (contact.created,message.status).
        #[arg(long)]
        events: String,
        /// A description.
        #[arg(long)]
        description: Option<String>,
        /// Write the initial secret to this file (created with mode 0600) instead of printing it.
        #[arg(long)]
        secret_file: Option<PathBuf>,
    },
    /// Show a subscription: status, events, secrets.
    Get {
        /// The subscription id (wbs_…).
        id: String,
    },
    /// Change a subscription's URL, events or description.
    Update {
        /// The subscription id (wbs_…).
        id: String,
        /// A new URL.
        #[arg(long)]
        url: Option<String>,
        /// New event names, comma-separated (replace the old list).
        #[arg(long)]
        events: Option<String>,
        /// A new description ("" clears it).
        #[arg(long)]
        description: Option<String>,
    },
    /// Pause deliveries.
    Pause {
        /// The subscription id (wbs_…).
        id: String,
    },
    /// Resume deliveries; also turns on a subscription Kirim disabled after failures.
    Resume {
        /// The subscription id (wbs_…).
        id: String,
    },
}

pub(crate) async fn run(command: SubscriptionsCommand, context: &Context) -> CommandResult {
    let client = &context.client;
    match command {
        SubscriptionsCommand::Create {
            url,
            events,
            description,
            secret_file,
        } => {
            let mut request = CreateSubscription::new(url, split_list(&events));
            if let Some(description) = description {
                request = request.with_description(description);
            }
            let created = client
                .create_subscription(&request)
                .await
                .map_err(Failure::from)?;
            let subscription = &created.subscription;
            let mut human = format!("created subscription {}\n", subscription.id);
            human.push_str(&describe(subscription));
            let mut document = json!({ "subscription": subscription });
            match &secret_file {
                Some(path) => {
                    write_secret(path, created.initial_secret.expose()).map_err(|failure| {
                        (failure, Some(json!({ "created": subscription.id })))
                    })?;
                    let _ = writeln!(
                        human,
                        "initial secret written to {} (mode 0600)",
                        path.display()
                    );
                    document["secret_file"] = json!(path);
                }
                None => {
                    let _ = writeln!(
                        human,
                        "initial secret (shown once; put it in the receiver's KIRIM_WEBHOOK_SECRETS):\n{}",
                        created.initial_secret.expose()
                    );
                    document["initial_secret"] = json!(created.initial_secret.expose());
                }
            }
            Ok(Outcome::new(human, document))
        }
        SubscriptionsCommand::Get { id } => {
            let subscription = client.get_subscription(&id).await.map_err(Failure::from)?;
            Ok(Outcome::new(
                describe(&subscription),
                json!({ "subscription": subscription }),
            ))
        }
        SubscriptionsCommand::Update {
            id,
            url,
            events,
            description,
        } => {
            let mut change = UpdateSubscription::new();
            let mut what = Vec::new();
            if let Some(url) = url {
                change = change.with_url(url);
                what.push("url");
            }
            if let Some(events) = events {
                change = change.with_events(split_list(&events));
                what.push("events");
            }
            if let Some(description) = description {
                change = change.with_description((!description.is_empty()).then_some(description));
                what.push("description");
            }
            if change.is_empty() {
                return Err(Failure::Usage(
                    "nothing to change: pass --url, --events or --description".to_owned(),
                )
                .into());
            }
            let subscription = client
                .update_subscription(&id, &change)
                .await
                .map_err(Failure::from)?;
            let human = format!(
                "updated {} of {}\n{}",
                what.join(", "),
                subscription.id,
                describe(&subscription)
            );
            Ok(Outcome::new(
                human,
                json!({ "changed": what, "subscription": subscription }),
            ))
        }
        SubscriptionsCommand::Pause { id } => {
            let subscription = client
                .pause_subscription(&id)
                .await
                .map_err(Failure::from)?;
            let human = format!(
                "paused {}: Kirim holds its deliveries until it is resumed",
                subscription.id
            );
            Ok(Outcome::new(
                human,
                json!({ "changed": ["status"], "subscription": subscription }),
            ))
        }
        SubscriptionsCommand::Resume { id } => {
            let subscription = client
                .resume_subscription(&id)
                .await
                .map_err(Failure::from)?;
            let human = format!(
                "resumed {}: status {}",
                subscription.id, subscription.status
            );
            Ok(Outcome::new(
                human,
                json!({ "changed": ["status"], "subscription": subscription }),
            ))
        }
    }
}

/// A subscription for people.
fn describe(subscription: &Subscription) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "id:          {}", subscription.id);
    let _ = writeln!(text, "url:         {}", subscription.url);
    let _ = writeln!(text, "status:      {}", subscription.status);
    if let Some(reason) = &subscription.disabled_reason {
        let _ = writeln!(text, "disabled:    {reason} (resume it to turn it back on)");
    }
    let _ = writeln!(text, "events:      {}", subscription.events.join(", "));
    let _ = writeln!(
        text,
        "description: {}",
        subscription.description.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        text,
        "failures:    {} in a row",
        subscription.consecutive_failures
    );
    let _ = writeln!(text, "secrets:");
    for secret in &subscription.secrets {
        let _ = writeln!(
            text,
            "  {}  created {}  expires {}",
            secret.id,
            secret.created_at.as_deref().unwrap_or("-"),
            secret.expires_at.as_deref().unwrap_or("never")
        );
    }
    text
}
