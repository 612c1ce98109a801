//! `kirim-webhooks check URL`: a black-box conformance check of a running receiver.

mod cases;
mod judge;
mod verdict;

use std::time::Duration;

use kirim_verify::{DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE, unix_now};
use serde::Serialize;

use crate::exit::{Error, Exit};
use crate::output::Output;
use crate::secrets::SecretArgs;
use crate::send;
use verdict::{CaseReport, Verdict};

/// `kirim-webhooks check`.
#[derive(clap::Args, Debug)]
#[command(mut_arg("raw", |arg| arg.help(
    "The receiver's webhook secret, `whsec_…` or `label=whsec_…`; a second one (repeat \
     --secret, or a comma-separated list) enables the rotation cases: the receiver must have both"
)))]
pub(crate) struct Args {
    /// The receiver's URL, e.g. http://127.0.0.1:3000/webhooks/kirim
    url: String,

    #[command(flatten)]
    secrets: SecretArgs,

    /// Count advice as failures (e.g. a duplicate acknowledged without saying `duplicate`)
    #[arg(long)]
    strict: bool,

    /// How long to wait for each answer; Kirim waits 10 s and retries a slower one
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    timeout_secs: u64,

    /// The receiver's timestamp tolerance: the expired and future cases sign 60 s beyond it
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_TOLERANCE.as_secs())]
    tolerance_secs: u64,

    /// The receiver's body limit: the too-large case sends one byte more
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    max_body: usize,
}

#[derive(Serialize)]
struct Report<'a> {
    url: &'a str,
    strict: bool,
    passed: bool,
    summary: Summary,
    cases: &'a [CaseReport],
}

#[derive(Serialize, Default)]
struct Summary {
    pass: usize,
    advice: usize,
    fail: usize,
    skip: usize,
}

/// Runs `check`: exit 0 only when every case passes (and, with `--strict`, no advice).
pub(crate) async fn run(args: &Args, output: Output) -> Result<Exit, Error> {
    send::check_url(&args.url)?;
    let secrets = args.secrets.secrets()?;
    let target = cases::Target {
        client: send::client()?,
        url: args.url.clone(),
        timeout: Duration::from_secs(args.timeout_secs),
        tolerance_secs: args.tolerance_secs,
        max_body: args.max_body,
        now: unix_now(),
    };
    output.line(format_args!(
        "checking {} with {} secret(s), timeout {} s, tolerance {} s, body limit {} bytes\n",
        args.url,
        secrets.len(),
        args.timeout_secs,
        args.tolerance_secs,
        args.max_body
    ))?;
    let (reports, answered) = cases::run(&target, &secrets, output).await?;
    let mut summary = Summary::default();
    for report in &reports {
        match report.verdict {
            Verdict::Pass => summary.pass += 1,
            Verdict::Advice => summary.advice += 1,
            Verdict::Fail => summary.fail += 1,
            Verdict::Skip => summary.skip += 1,
        }
    }
    let passed = summary.fail == 0 && !(args.strict && summary.advice > 0);
    output.line(format_args!(
        "\n{} cases: {} pass, {} advice, {} fail, {} skipped{}: {}",
        reports.len(),
        summary.pass,
        summary.advice,
        summary.fail,
        summary.skip,
        if args.strict {
            " (--strict: advice counts)"
        } else {
            ""
        },
        match (answered, passed) {
            (false, _) => "the receiver never answered",
            (true, true) => "the receiver answers as Kirim expects",
            (true, false) => "the receiver does not answer as Kirim expects",
        }
    ))?;
    output.document(&Report {
        url: &args.url,
        strict: args.strict,
        passed,
        summary,
        cases: &reports,
    })?;
    Ok(match (answered, passed) {
        (false, _) => Exit::Unreachable,
        (true, true) => Exit::Ok,
        (true, false) => Exit::Failed,
    })
}
