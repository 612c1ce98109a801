//! `kirim-webhooks`: the operator's command line for Kirim webhooks.
//!
//! This entry point only parses and dispatches; the commands live in [`operator`].

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod operator;

/// Run Kirim webhook subscriptions: create, pause and resume them, rotate their signing secrets
/// and replay dead deliveries.
#[derive(Debug, Parser)]
#[command(name = "kirim-webhooks", version, after_help = operator::EXIT_CODES_HELP)]
struct Cli {
    #[command(flatten)]
    globals: operator::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Operator(operator::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Operator(command) => operator::run(command, &cli.globals),
    }
}
