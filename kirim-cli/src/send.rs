//! `kirim-webhooks send URL`: one delivery the way Kirim sends it, with Kirim's retries.

use std::io::Read as _;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use kirim_verify::{Signer, unix_now};
use serde::Serialize;

use crate::answer::{self, Counted, Outgoing, Unanswered};
use crate::catalog;
use crate::exit::{Error, Exit};
use crate::ids;
use crate::output::Output;
use crate::secrets::SecretArgs;

/// Kirim's delays before attempts 2 to 8 (spec section 4; Kirim adds ±20 % jitter, this
/// tool does not, so a run can be repeated).
const KIRIM_DELAYS_SECS: [u64; 7] = [10, 30, 120, 600, 3_600, 21_600, 86_400];

/// `--schedule fast` divides Kirim's delays by this, and caps each at [`FAST_CAP`].
const FAST_DIVISOR: u32 = 1_000;
const FAST_CAP: Duration = Duration::from_secs(1);

/// `kirim-webhooks send`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The receiver's URL, e.g. http://127.0.0.1:3000/webhooks/kirim
    url: String,

    #[command(flatten)]
    secrets: SecretArgs,

    /// The event type (`X-Kirim-Event`). Without --body, its built-in example body is sent
    /// with a fresh event id: message.received, message.status, message.created,
    /// conversation.assigned, conversation.closed, contact.created, contact.updated
    #[arg(long, value_name = "TYPE", default_value = "contact.created")]
    event: String,

    /// Send this file's bytes as the body (`-` for standard input), exactly as they are
    #[arg(long, value_name = "FILE", requires = "event_id")]
    body: Option<PathBuf>,

    /// `X-Kirim-Event-Id`. With a built-in body it also replaces the id in the body; give the
    /// same id twice to see how the receiver answers a duplicate
    #[arg(long, value_name = "ID")]
    event_id: Option<String>,

    /// `X-Kirim-Source`: defaults to `meta` for message.received and message.status*, else
    /// `kirim`
    #[arg(long, value_name = "SOURCE")]
    source: Option<String>,

    /// Retry as Kirim does, up to 8 attempts, until the receiver answers 2xx or a permanent 4xx
    #[arg(long)]
    retries: bool,

    /// The delays between attempts: `kirim` (10 s, 30 s, 2 min, 10 min, 1 h, 6 h, 24 h) or
    /// `fast` (the same divided by 1000, at most 1 s each, for local work)
    #[arg(long, value_enum, default_value_t = Schedule::Kirim)]
    schedule: Schedule,

    /// How long to wait for each answer; Kirim waits 10 s
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    timeout_secs: u64,
}

/// The delays between attempts.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Schedule {
    /// Kirim's own delays.
    Kirim,
    /// Kirim's delays divided by 1000, at most 1 s.
    Fast,
}

impl Schedule {
    fn scale(self, delay: Duration) -> Duration {
        match self {
            Self::Kirim => delay,
            Self::Fast => (delay / FAST_DIVISOR).min(FAST_CAP),
        }
    }
}

#[derive(Serialize)]
struct Report<'a> {
    url: &'a str,
    event: &'a str,
    event_id: &'a str,
    source: &'a str,
    secrets: usize,
    schedule: Schedule,
    attempts: Vec<AttemptReport>,
    delivered: bool,
}

#[derive(Serialize)]
struct AttemptReport {
    attempt: u32,
    t: u64,
    delivery_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Unanswered>,
    elapsed_ms: u128,
    counted: Counted,
    why: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_in_ms: Option<u128>,
}

/// Runs `send`: the exit code says whether the delivery was delivered.
pub(crate) async fn run(args: &Args, output: Output) -> Result<Exit, Error> {
    check_url(&args.url)?;
    let secrets = args.secrets.secrets()?;
    let signer = Signer::new(secrets.iter().cloned())
        .map_err(|error| Error::Usage(format!("--secret: {error}")))?;
    let (body, event_id) = body_and_id(args)?;
    let source = args.source.clone().unwrap_or_else(|| {
        String::from(
            if args.event.starts_with("message.received")
                || args.event.starts_with("message.status")
            {
                "meta"
            } else {
                "kirim"
            },
        )
    });
    let client = client()?;
    let timeout = Duration::from_secs(args.timeout_secs);
    let max_attempts = if args.retries {
        KIRIM_DELAYS_SECS.len() + 1
    } else {
        1
    };

    output.line(format_args!(
        "POST {}  {} {}  ({} bytes, source {source}, {} v1 per attempt)",
        args.url,
        args.event,
        event_id,
        body.len(),
        secrets.len(),
    ))?;
    let mut attempts = Vec::new();
    let mut last_t = 0;
    let mut last_error = None;
    let mut delivered = false;
    for (index, attempt) in (1..=max_attempts).zip(1u32..) {
        // Kirim re-signs every attempt; its attempts are seconds apart at least, so a fast
        // schedule moves `t` on by a second when the clock has not.
        let t = unix_now().max(last_t + 1);
        last_t = t;
        let outgoing = Outgoing {
            body: body.clone(),
            signature: Some(signer.sign(t, &body)),
            event: args.event.clone(),
            event_id: Some(event_id.clone()),
            source: source.clone(),
            attempt,
            delivery_id: ids::fresh("wbd_"),
        };
        let exchange = answer::post(&client, &args.url, &outgoing, timeout).await;
        let counted = Counted::of(&exchange.result);
        let why = Counted::explain(&exchange.result);
        let next = (counted == Counted::Retried && index < max_attempts).then(|| {
            let planned = Duration::from_secs(KIRIM_DELAYS_SECS[index - 1]);
            let asked = exchange
                .answer()
                .and_then(|answer| answer.retry_after_secs)
                .map_or(Duration::ZERO, Duration::from_secs);
            args.schedule.scale(planned.max(asked))
        });
        output.line(format_args!(
            "attempt {attempt}  t={t}  {:<28}  {why}{}",
            exchange.describe(),
            next.map(|delay| format!("; next attempt in {}", human(delay)))
                .unwrap_or_default(),
        ))?;
        last_error = exchange.result.as_ref().err().copied();
        delivered = counted == Counted::Delivered;
        attempts.push(AttemptReport {
            attempt,
            t,
            delivery_id: outgoing.delivery_id,
            status: exchange.answer().map(|answer| answer.status),
            body: exchange.answer().map(|answer| answer.body.clone()),
            error: exchange.result.as_ref().err().copied(),
            elapsed_ms: exchange.elapsed.as_millis(),
            counted,
            why,
            next_in_ms: next.map(|delay| delay.as_millis()),
        });
        match next {
            Some(delay) => tokio::time::sleep(delay).await,
            None => break,
        }
    }
    let count = attempts.len();
    output.line(format_args!(
        "{}",
        match (delivered, last_error) {
            (true, _) => format!("delivered on attempt {count}"),
            (false, Some(reason)) => format!("not delivered after {count} attempt(s): {reason}"),
            (false, None) if args.retries && count == max_attempts => {
                format!("not delivered after {count} attempts: Kirim gives up here")
            }
            (false, None) => format!("not delivered after {count} attempt(s)"),
        }
    ))?;
    output.document(&Report {
        url: &args.url,
        event: &args.event,
        event_id: &event_id,
        source: &source,
        secrets: secrets.len(),
        schedule: args.schedule,
        attempts,
        delivered,
    })?;
    Ok(match (delivered, last_error) {
        (true, _) => Exit::Ok,
        (false, Some(_)) => Exit::Unreachable,
        (false, None) => Exit::Failed,
    })
}

/// The HTTP client both commands use: no redirects followed, as Kirim. No connection is
/// reused: a receiver that answers 413 before reading a large body closes the connection, and
/// a pooled one would fail the next, unrelated request.
pub(crate) fn client() -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .map_err(Error::Client)
}

/// Refuses a URL that is not `http://` or `https://` before anything is sent: a typo is a
/// usage error, not an unreachable receiver.
pub(crate) fn check_url(url: &str) -> Result<(), Error> {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => Ok(()),
        Ok(_) => Err(Error::Usage(format!(
            "URL {url}: give an http:// or https:// URL with a host"
        ))),
        Err(error) => Err(Error::Usage(format!("URL {url}: {error}"))),
    }
}

/// The body to send and its event id.
fn body_and_id(args: &Args) -> Result<(Bytes, String), Error> {
    if let Some(path) = &args.body {
        let what = if path.as_os_str() == "-" {
            String::from("standard input")
        } else {
            format!("--body {}", path.display())
        };
        let mut body = Vec::new();
        let read = if path.as_os_str() == "-" {
            std::io::stdin().lock().read_to_end(&mut body).map(drop)
        } else {
            std::fs::read(path).map(|bytes| body = bytes)
        };
        read.map_err(|source| Error::Read { what, source })?;
        // clap requires --event-id with --body.
        let id = args.event_id.clone().unwrap_or_default();
        return Ok((Bytes::from(body), id));
    }
    let example = catalog::example(&args.event).ok_or_else(|| {
        Error::Usage(format!(
            "--event {}: no built-in example for this type (there are: {}); give the body \
             with --body FILE and --event-id",
            args.event,
            catalog::event_names()
        ))
    })?;
    let id = args
        .event_id
        .clone()
        .unwrap_or_else(|| example.id_kind.fresh());
    Ok((Bytes::from(example.body_with_id(&id)), id))
}

/// `10 ms`, `2 s`, `10 min`, `6 h`.
fn human(delay: Duration) -> String {
    let secs = delay.as_secs();
    match secs {
        0 => format!("{} ms", delay.as_millis()),
        1..=119 => format!("{secs} s"),
        120..=7_199 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3_600),
    }
}
