//! `kirim-webhooks`: test a Kirim webhook receiver, in any language, from the command line.
//!
//! - `send URL`: one delivery the way Kirim sends it, signed, with Kirim's retries;
//! - `check URL`: a conformance check of a running receiver, black box, over HTTP.
//!
//! See the README for the output and the exit codes.

mod answer;
mod catalog;
mod check;
mod exit;
mod ids;
mod output;
mod secrets;
mod send;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

use crate::exit::{EXIT_CODES, Error, Exit};
use crate::output::Output;

/// Test a Kirim webhook receiver: send signed deliveries the way Kirim does, and check a
/// running receiver against the webhook contract.
#[derive(Parser, Debug)]
#[command(name = "kirim-webhooks", version, after_help = EXIT_CODES)]
struct Cli {
    /// Machine output: one JSON document on stdout
    #[arg(long, global = true)]
    json: bool,

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let output = Output::new(cli.json);
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
        match &cli.command {
            Command::Send(args) => send::run(args, output).await,
            Command::Check(args) => check::run(args, output).await,
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
