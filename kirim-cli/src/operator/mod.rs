//! The operator's commands: subscriptions, secrets, deliveries, and the guided rotation.
//!
//! [`Command`] is a clap `Subcommand` meant to be flattened into the binary's command enum;
//! [`run`] executes one and gives the exit code (see [`crate::exit::EXIT_CODES`]).

mod args;
mod deliveries;
mod failure;
mod metrics_probe;
mod prompt;
mod rotate;
mod rotation_state;
mod secret_file;
mod secrets;
mod subscriptions;

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use kirim_api::{Client, RetryPolicy};

use failure::Failure;

/// Options every operator command reads.
#[derive(Debug, clap::Args)]
pub(crate) struct GlobalArgs {
    /// Machine output: one JSON document on stdout (errors too).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// The Kirim API key (kdv_live_… or kdv_test_…). Never printed.
    #[arg(long, env = "KIRIM_API_KEY", hide_env_values = true, global = true)]
    api_key: Option<args::ApiKey>,
    /// The Kirim API base URL.
    #[arg(long, env = "KIRIM_API_URL", default_value = kirim_api::DEFAULT_BASE_URL, global = true)]
    api_url: String,
    /// The timeout of one attempt of an API call.
    #[arg(long, global = true, default_value = "10s", value_parser = args::parse_duration)]
    timeout: Duration,
    /// How long one API call may take, its retries included.
    #[arg(long, global = true, default_value = "60s", value_parser = args::parse_duration)]
    deadline: Duration,
    /// The first retry's backoff (doubled for each next one).
    #[arg(long, global = true, default_value = "500ms", value_parser = args::parse_duration, hide = true)]
    retry_backoff: Duration,
}

/// The operator's commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create, show, change, pause and resume webhook subscriptions.
    Subscriptions {
        #[command(subcommand)]
        command: subscriptions::SubscriptionsCommand,
    },
    /// Add and delete a subscription's signing secrets (see `rotate` for the whole rotation).
    Secrets {
        #[command(subcommand)]
        command: secrets::SecretsCommand,
    },
    /// List deliveries, replay one, or replay the dead ones in bulk.
    Deliveries {
        #[command(subcommand)]
        command: deliveries::DeliveriesCommand,
    },
    /// Rotate a subscription's signing secret without downtime, step by step, resumable.
    Rotate(rotate::RotateArgs),
}

/// What a command gives back to print: lines for people, a document for `--json`.
pub(crate) struct Outcome {
    human: String,
    json: serde_json::Value,
}

impl Outcome {
    pub(crate) fn new(human: impl Into<String>, json: serde_json::Value) -> Self {
        Self {
            human: human.into(),
            json,
        }
    }
}

/// What a command runs with.
pub(crate) struct Context {
    pub(crate) client: Client,
    pub(crate) json: bool,
}

/// Runs one operator command and gives its exit code.
pub(crate) fn run(command: Command, globals: &GlobalArgs) -> ExitCode {
    let context = match context(globals) {
        Ok(context) => context,
        Err(failure) => return failure.report(globals.json, None),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return Failure::local("cannot start the async runtime", error)
                .report(globals.json, None);
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Subscriptions { command } => subscriptions::run(command, &context).await,
            Command::Secrets { command } => secrets::run(command, &context).await,
            Command::Deliveries { command } => deliveries::run(command, &context).await,
            Command::Rotate(args) => rotate::run(args, &context).await,
        }
    });
    match result {
        Ok(outcome) => {
            if globals.json {
                let mut document = outcome.json;
                if let Some(object) = document.as_object_mut() {
                    object.insert("ok".to_owned(), serde_json::Value::Bool(true));
                }
                println!("{document}");
            } else if !outcome.human.is_empty() {
                println!("{}", outcome.human.trim_end());
            }
            ExitCode::SUCCESS
        }
        Err((failure, context)) => failure.report(globals.json, context),
    }
}

/// A failure, with what the command had done before it (for `--json`).
pub(crate) type CommandResult = Result<Outcome, (Failure, Option<serde_json::Value>)>;

impl From<Failure> for (Failure, Option<serde_json::Value>) {
    fn from(failure: Failure) -> Self {
        (failure, None)
    }
}

fn context(globals: &GlobalArgs) -> Result<Context, Failure> {
    let Some(key) = globals.api_key.as_ref().filter(|k| !k.0.is_empty()) else {
        return Err(Failure::Usage(
            "no API key: set KIRIM_API_KEY or pass --api-key".to_owned(),
        ));
    };
    let client = Client::builder(key.0.clone())
        .with_base_url(globals.api_url.clone())
        .with_timeout(globals.timeout)
        .with_retry(
            RetryPolicy::new()
                .with_initial_backoff(globals.retry_backoff)
                .with_deadline(globals.deadline),
        )
        .build()?;
    Ok(Context {
        client,
        json: globals.json,
    })
}

/// Splits `a,b, c` into names, blanks dropped.
pub(crate) fn split_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
