//! `kirim-webhooks`: test a Kirim webhook receiver, in any language, from the command line, and
//! operate its subscription.
//!
//! - `send URL`: one delivery the way Kirim sends it, signed, with Kirim's retries;
//! - `check URL`: a conformance check of a running receiver, black box, over HTTP;
//! - `subscriptions`, `secrets`, `deliveries`, `rotate`: Kirim's management API
//!   ([`operator`]).
//!
//! See the README for the output and the exit codes.

mod answer;
mod catalog;
mod check;
mod exit;
mod ids;
mod operator;
mod output;
mod secrets;
mod send;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

use crate::exit::{EXIT_CODES, Error, Exit};
use crate::output::Output;

/// Test a Kirim webhook receiver (send signed deliveries the way Kirim does, check a running
/// receiver against the webhook contract), and operate its subscription (create, pause and
/// resume it, rotate its signing secrets, replay dead deliveries).
#[derive(Parser, Debug)]
#[command(name = "kirim-webhooks", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(flatten)]
    globals: operator::GlobalArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Send one delivery the way Kirim does (signed, re-signed on each retry)
    #[command(after_help = EXIT_CODES)]
    Send(send::Args),
    /// Check a running receiver against the webhook contract, case by case
    #[command(after_help = EXIT_CODES)]
    Check(check::Args),
    #[command(flatten)]
    Operator(operator::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let receiver_command = match cli.command {
        Command::Operator(command) => return operator::run(command, &cli.globals),
        Command::Send(args) => ReceiverCommand::Send(args),
        Command::Check(args) => ReceiverCommand::Check(args),
    };
    let output = Output::new(cli.globals.json);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(source) => {
            output.error(&Error::Output(source));
            return Exit::Local.into();
        }
    };
    let result = runtime.block_on(async {
        match &receiver_command {
            ReceiverCommand::Send(args) => send::run(args, output).await,
            ReceiverCommand::Check(args) => check::run(args, output).await,
        }
    });
    match result {
        Ok(exit) => exit.into(),
        // A bad value clap could not check itself: clap's own usage error, exit 2.
        Err(Error::Usage(message)) => Cli::command()
            .error(clap::error::ErrorKind::ValueValidation, message)
            .exit(),
        Err(error) => {
            output.error(&error);
            error.exit().into()
        }
    }
}

/// The commands that talk to a receiver, not to Kirim's API.
enum ReceiverCommand {
    Send(send::Args),
    Check(check::Args),
}
