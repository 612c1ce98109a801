//! The cases, in order: each sends one or more deliveries and judges the answers. Several
//! build on earlier ones (a retry of the first delivery, a replay of the rotation delivery),
//! so they run one after another; every event id is fresh, so a second run against the same
//! receiver is not answered from the first run's dedup entries.

use std::time::Duration;

use bytes::Bytes;
use kirim_verify::{Secret, Signer};
use tokio::task::JoinSet;

use crate::answer::{self, Exchange, Outgoing, Unanswered};
use crate::catalog::{self, Example, IdKind, STATUS_DELIVERED, STATUS_SENT};
use crate::check::judge::{self, Judgement};
use crate::check::verdict::{CaseReport, Verdict};
use crate::exit::Error;
use crate::ids;
use crate::output::Output;

/// How many copies the concurrency case sends at once.
pub(crate) const CONCURRENT_COPIES: usize = 32;

/// A secret the receiver cannot have: the new secret of a rotation Kirim has begun.
const UNKNOWN_SECRET: &str = "whsec_kirim-webhooks-check-rotation-not-yet-configured";

/// The event type of the unknown-type and raw-bytes cases: not in any catalogue.
const UNKNOWN_EVENT: &str = "check.unknown_event_type";

/// What the check knows about the receiver under test.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) client: reqwest::Client,
    pub(crate) url: String,
    pub(crate) timeout: Duration,
    pub(crate) tolerance_secs: u64,
    pub(crate) max_body: usize,
    pub(crate) now: u64,
}

/// The signers of the cases, made from the receiver's secrets.
struct Signers {
    first: Signer,
    /// The receiver's first secret and one it does not know yet.
    with_unknown: Signer,
    /// The second `--secret`, alone, and both together.
    second: Option<(Signer, Signer)>,
}

impl Signers {
    fn new(secrets: &[Secret]) -> Result<Self, Error> {
        let usage = |error: kirim_verify::ConfigError| Error::Usage(format!("--secret: {error}"));
        let first_secret = secrets
            .first()
            .cloned()
            .ok_or_else(|| Error::Usage(String::from("--secret: give the receiver's secret")))?;
        let unknown = Secret::new(UNKNOWN_SECRET).map_err(usage)?;
        let second = match secrets.get(1) {
            Some(second) => Some((
                Signer::new([second.clone()]).map_err(usage)?,
                Signer::new([first_secret.clone(), second.clone()]).map_err(usage)?,
            )),
            None => None,
        };
        Ok(Self {
            first: Signer::new([first_secret.clone()]).map_err(usage)?,
            with_unknown: Signer::new([unknown, first_secret]).map_err(usage)?,
            second,
        })
    }
}

/// Runs the cases in order, printing each as it completes.
#[derive(Debug)]
struct Run<'a> {
    target: &'a Target,
    output: Output,
    reports: Vec<CaseReport>,
    /// Signed timestamps handed out so far: each delivery gets its own second.
    next_t: u64,
    /// Whether any request got an HTTP answer.
    answered: bool,
}

/// The reports of every case, and whether the receiver answered at all.
pub(crate) async fn run(
    target: &Target,
    secrets: &[Secret],
    output: Output,
) -> Result<(Vec<CaseReport>, bool), Error> {
    let signers = Signers::new(secrets)?;
    // Genuine deliveries are signed a little in the past, one second apart, well inside the
    // tolerance, so the re-signed retry never shares a timestamp with the first attempt.
    let mut run = Run {
        target,
        output,
        reports: Vec::new(),
        next_t: target.now.saturating_sub(20.min(target.tolerance_secs / 2)),
        answered: false,
    };
    run.all(&signers).await?;
    Ok((run.reports, run.answered))
}

impl Run<'_> {
    fn t(&mut self) -> u64 {
        self.next_t += 1;
        self.next_t
    }

    fn timeout_secs(&self) -> f64 {
        self.target.timeout.as_secs_f64()
    }

    async fn post(&mut self, outgoing: &Outgoing) -> Exchange {
        let exchange = answer::post(
            &self.target.client,
            &self.target.url,
            outgoing,
            self.target.timeout,
        )
        .await;
        self.answered |= exchange.answer().is_some();
        exchange
    }

    #[allow(clippy::too_many_arguments)] // one call per case reads best with every part named
    fn record(
        &mut self,
        id: &'static str,
        sent: String,
        expected: &'static str,
        why: &'static str,
        got: String,
        elapsed: Duration,
        (verdict, note): Judgement,
    ) -> Result<(), Error> {
        self.output.line(format_args!(
            "{:<6}  {id:<24}  {got}\n        sent      {sent}\n        expected  {expected}\n        why       {why}{}",
            verdict.label(),
            note.as_deref()
                .map(|note| format!("\n        note      {note}"))
                .unwrap_or_default(),
        ))?;
        self.reports.push(CaseReport {
            id,
            verdict,
            sent,
            expected,
            got,
            why,
            note,
            elapsed_ms: elapsed.as_millis(),
        });
        Ok(())
    }

    /// Sends one delivery and records the case.
    #[allow(clippy::too_many_arguments)]
    async fn case(
        &mut self,
        id: &'static str,
        sent: String,
        outgoing: &Outgoing,
        expected: &'static str,
        why: &'static str,
        judge: impl FnOnce(&Exchange, f64) -> Judgement,
    ) -> Result<Exchange, Error> {
        let exchange = self.post(outgoing).await;
        let judgement = judge(&exchange, self.timeout_secs());
        self.record(
            id,
            sent,
            expected,
            why,
            exchange.describe(),
            exchange.elapsed,
            judgement,
        )?;
        Ok(exchange)
    }

    fn skip(&mut self, id: &'static str, sent: &str, why: &'static str) -> Result<(), Error> {
        self.record(
            id,
            String::from(sent),
            "2xx",
            why,
            String::from("not run: give a second --secret (the receiver must have both)"),
            Duration::ZERO,
            (Verdict::Skip, None),
        )
    }

    async fn all(&mut self, signers: &Signers) -> Result<(), Error> {
        let contact = example("contact.created");
        let updated = example("contact.updated");

        // The first delivery, its retry, and the same bytes again.
        let first_id = IdKind::Event.fresh();
        let t = self.t();
        let first = delivery(contact, &first_id, t, &signers.first);
        self.case(
            "first-delivery",
            format!("contact.created {first_id}, signed with your secret, attempt 1"),
            &first,
            "2xx",
            "verified, first time: the handler runs; anything but a 2xx makes Kirim retry",
            judge::acknowledged,
        )
        .await?;

        let t = self.t();
        let retry = Outgoing {
            signature: Some(signers.first.sign(t, &first.body)),
            attempt: 2,
            delivery_id: ids::fresh("wbd_"),
            ..first.clone()
        };
        self.case(
            "retry-re-signed",
            String::from("the same event again, re-signed at a later t, attempt 2 (Kirim's retry)"),
            &retry,
            "200 duplicate (any 2xx is accepted by Kirim)",
            "Kirim delivers at least once: the retry of an event already handled is \
             acknowledged without running the handler again",
            judge::duplicate,
        )
        .await?;

        self.case(
            "identical-resend",
            String::from("the first delivery's exact request again: same t, v1, body and id"),
            &first,
            "200 duplicate (any 2xx is accepted by Kirim)",
            "the same bytes twice (a network retry, a resend) are one event",
            judge::duplicate,
        )
        .await?;

        // Rotation: Kirim signs with every active secret.
        let rotation_id = IdKind::Event.fresh();
        let rotation_t = self.t();
        let rotation = delivery(updated, &rotation_id, rotation_t, &signers.with_unknown);
        self.case(
            "rotation-unknown-v1",
            format!(
                "contact.updated {rotation_id} with two v1: a new secret you do not have yet, \
                 then yours"
            ),
            &rotation,
            "2xx",
            "during a rotation Kirim sends one v1 per active secret; any one that matches \
             verifies, so a rotation can start before the receiver knows the new secret",
            judge::first_time,
        )
        .await?;

        const TWO_V1: &str = "conversation.assigned with two v1, one per --secret";
        const SECOND_ONLY: &str = "conversation.closed signed with the second --secret only";
        match &signers.second {
            Some((second, both)) => {
                let id = IdKind::Event.fresh();
                let t = self.t();
                let outgoing = delivery(example("conversation.assigned"), &id, t, both);
                self.case(
                    "rotation-two-v1",
                    format!("{TWO_V1} ({id})"),
                    &outgoing,
                    "2xx",
                    "both secrets active: both v1 match; the receiver accepts either",
                    judge::first_time,
                )
                .await?;
                let id = IdKind::Event.fresh();
                let t = self.t();
                let outgoing = delivery(example("conversation.closed"), &id, t, second);
                self.case(
                    "rotation-second-secret",
                    format!("{SECOND_ONLY} ({id})"),
                    &outgoing,
                    "2xx",
                    "after Kirim deletes the old secret only the new one signs: a receiver \
                     that has not added it loses every event",
                    judge::first_time,
                )
                .await?;
            }
            None => {
                self.skip(
                    "rotation-two-v1",
                    TWO_V1,
                    "both secrets active: both v1 match",
                )?;
                self.skip(
                    "rotation-second-secret",
                    SECOND_ONLY,
                    "after Kirim deletes the old secret only the new one signs",
                )?;
            }
        }

        // The rotation delivery as an attacker who captured it would resend it.
        let replay_id = IdKind::Event.fresh();
        let replay = Outgoing {
            signature: Some(signers.first.sign(rotation_t, &rotation.body)),
            event_id: Some(replay_id.clone()),
            delivery_id: ids::fresh("wbd_"),
            ..rotation.clone()
        };
        self.case(
            "replay-new-event-id",
            format!(
                "the rotation delivery's body and t, one v1 dropped, under a new event id \
                 {replay_id}"
            ),
            &replay,
            "200 duplicate (or a 4xx)",
            "the event id header is not signed: a captured delivery resent under another id \
             is the same signed message, and must not run the handler again",
            judge::replay,
        )
        .await?;

        // message.status: one wamid, two statuses.
        let wamid = IdKind::Wamid.fresh();
        let t = self.t();
        let sent = delivery(&STATUS_SENT, &wamid, t, &signers.first);
        self.case(
            "status-sent",
            format!("message.status `sent` for {wamid}"),
            &sent,
            "2xx",
            "a Meta status callback: its event id is the outbound message's wamid",
            judge::first_time,
        )
        .await?;
        let t = self.t();
        let delivered = delivery(&STATUS_DELIVERED, &wamid, t, &signers.first);
        self.case(
            "status-delivered",
            format!("message.status `delivered` for the same {wamid}"),
            &delivered,
            "2xx, not duplicate",
            "every status of one message carries the same wamid: deduplicating on the id \
             alone drops real status changes (dedup on the id and the body)",
            judge::first_time,
        )
        .await?;

        // Deliveries that must be refused.
        let tolerance = self.target.tolerance_secs;
        let now = self.target.now;
        let forged_id = IdKind::Event.fresh();
        let t = self.t();
        let mut forged = delivery(contact, &forged_id, t, &signers.first);
        forged.signature = Some(signers.first.forged(t, &forged.body));
        self.case(
            "forged-signature",
            format!("contact.created {forged_id} signed with a secret you do not have"),
            &forged,
            "401",
            "anyone can POST to a public URL: only a matching HMAC proves it is Kirim",
            |exchange, secs| judge::refused(exchange, 401, secs),
        )
        .await?;

        let id = IdKind::Event.fresh();
        let t = now.saturating_sub(tolerance + 60);
        let expired = delivery(updated, &id, t, &signers.first);
        self.case(
            "expired-timestamp",
            format!(
                "contact.updated {id}, correctly signed {} s ago",
                tolerance + 60
            ),
            &expired,
            "401",
            "beyond the tolerance a captured delivery could be replayed forever",
            |exchange, secs| judge::refused(exchange, 401, secs),
        )
        .await?;

        let id = IdKind::Event.fresh();
        let future = delivery(updated, &id, now + tolerance + 60, &signers.first);
        self.case(
            "future-timestamp",
            format!(
                "contact.updated {id}, correctly signed {} s in the future",
                tolerance + 60
            ),
            &future,
            "401",
            "the tolerance holds both ways: a future t would stay replayable for longer",
            |exchange, secs| judge::refused(exchange, 401, secs),
        )
        .await?;

        let id = IdKind::Event.fresh();
        let t = self.t();
        let mut malformed = delivery(contact, &id, t, &signers.first);
        malformed.signature = Some(String::from("t=yesterday,v1=not-hex"));
        self.case(
            "malformed-signature",
            format!("contact.created {id} with X-Kirim-Signature `t=yesterday,v1=not-hex`"),
            &malformed,
            "400",
            "a header that does not parse is a configuration problem, not a forgery: 400",
            |exchange, secs| judge::refused(exchange, 400, secs),
        )
        .await?;

        let id = IdKind::Event.fresh();
        let t = self.t();
        let mut unsigned = delivery(contact, &id, t, &signers.first);
        unsigned.signature = None;
        self.case(
            "missing-signature",
            format!("contact.created {id} without X-Kirim-Signature"),
            &unsigned,
            "400",
            "no signature, no trust: refuse before reading further",
            |exchange, secs| judge::refused(exchange, 400, secs),
        )
        .await?;

        let id = IdKind::Event.fresh();
        let t = self.t();
        let mut anonymous = delivery(contact, &id, t, &signers.first);
        anonymous.event_id = None;
        self.case(
            "missing-event-id",
            String::from("contact.created, correctly signed, without X-Kirim-Event-Id"),
            &anonymous,
            "400",
            "without an event id a retry cannot be recognised: it would run the handler twice",
            |exchange, secs| judge::refused(exchange, 400, secs),
        )
        .await?;

        // Bodies: raw bytes, too large, unknown type.
        let id = IdKind::Event.fresh();
        let t = self.t();
        let mut raw = format!(r#"{{"id":"{id}","type":"{UNKNOWN_EVENT}","data":""#).into_bytes();
        raw.extend_from_slice(b"\xff\xfe\xc3\x28");
        raw.extend_from_slice(b"\"}");
        let raw_body = Bytes::from(raw);
        let binary = Outgoing {
            signature: Some(signers.first.sign(t, &raw_body)),
            body: raw_body,
            ..envelope(UNKNOWN_EVENT, &id)
        };
        self.case(
            "non-utf8-body",
            format!("{UNKNOWN_EVENT} {id}, correctly signed, a body that is not UTF-8"),
            &binary,
            "2xx",
            "the signature covers bytes: a receiver that verifies re-encoded text refuses \
             genuine deliveries",
            judge::raw_bytes,
        )
        .await?;

        let id = IdKind::Event.fresh();
        let t = self.t();
        let large_body = oversized(&id, self.target.max_body + 1);
        let large = Outgoing {
            signature: Some(signers.first.sign(t, &large_body)),
            body: large_body,
            ..envelope("contact.created", &id)
        };
        let size = self.target.max_body + 1;
        self.case(
            "body-over-limit",
            format!("contact.created {id}, correctly signed, {size} bytes (--max-body + 1)"),
            &large,
            "413",
            "an unbounded body is unbounded memory: refuse it before buffering it all",
            too_large,
        )
        .await?;

        let id = IdKind::Event.fresh();
        let t = self.t();
        let body = Bytes::from(format!(
            r#"{{"id":"{id}","type":"{UNKNOWN_EVENT}","created_at":"2026-05-23T10:00:00Z","data":{{}}}}"#
        ));
        let unknown = Outgoing {
            signature: Some(signers.first.sign(t, &body)),
            body,
            ..envelope(UNKNOWN_EVENT, &id)
        };
        self.case(
            "unknown-event-type",
            format!("{UNKNOWN_EVENT} {id}, correctly signed"),
            &unknown,
            "2xx",
            "Kirim adds event types: a 4xx for an unknown one dead-letters it and, repeated, \
             disables the subscription",
            judge::first_time,
        )
        .await?;

        self.concurrent(contact, &signers.first).await
    }

    /// The same delivery `CONCURRENT_COPIES` times at once: the handler must run once.
    async fn concurrent(&mut self, contact: &Example, signer: &Signer) -> Result<(), Error> {
        let id = IdKind::Event.fresh();
        let t = self.t();
        let outgoing = delivery(contact, &id, t, signer);
        let mut copies = JoinSet::new();
        for _ in 0..CONCURRENT_COPIES {
            let (client, url) = (self.target.client.clone(), self.target.url.clone());
            let (outgoing, timeout) = (outgoing.clone(), self.target.timeout);
            copies.spawn(async move { answer::post(&client, &url, &outgoing, timeout).await });
        }
        let mut exchanges = Vec::with_capacity(CONCURRENT_COPIES);
        while let Some(done) = copies.join_next().await {
            if let Ok(exchange) = done {
                exchanges.push(exchange);
            }
        }
        self.answered |= exchanges.iter().any(|e| e.answer().is_some());
        let tally = Tally::of(&exchanges);
        let elapsed = exchanges
            .iter()
            .map(|e| e.elapsed)
            .max()
            .unwrap_or_default();
        let judgement = tally.judge(self.timeout_secs());
        self.record(
            "concurrent-copies",
            format!("{CONCURRENT_COPIES} copies of one signed delivery ({id}) at once"),
            "at most one first-time 2xx; the rest 200 duplicate or 503",
            "Kirim's retries can overlap a slow first attempt, and several instances may \
             receive one event: the handler runs once",
            tally.describe(),
            elapsed,
            judgement,
        )
    }
}

/// The answers to the concurrent copies, counted.
#[derive(Debug, Default)]
struct Tally {
    first_time: usize,
    duplicate: usize,
    busy: usize,
    other: usize,
    timeouts: usize,
    unanswered: usize,
}

impl Tally {
    fn of(exchanges: &[Exchange]) -> Self {
        let mut tally = Self::default();
        for exchange in exchanges {
            match &exchange.result {
                Ok(answer) if answer.is_success() && answer.says_duplicate() => {
                    tally.duplicate += 1;
                }
                Ok(answer) if answer.is_success() => tally.first_time += 1,
                Ok(answer) if answer.status == 503 || answer.status == 429 => tally.busy += 1,
                Ok(_) => tally.other += 1,
                Err(Unanswered::Timeout) => tally.timeouts += 1,
                Err(_) => tally.unanswered += 1,
            }
        }
        tally.unanswered += CONCURRENT_COPIES.saturating_sub(exchanges.len());
        tally
    }

    fn describe(&self) -> String {
        format!(
            "{} first-time 2xx, {} duplicate, {} busy (503/429), {} other, {} timed out, {} unanswered",
            self.first_time, self.duplicate, self.busy, self.other, self.timeouts, self.unanswered
        )
    }

    fn judge(&self, timeout_secs: f64) -> Judgement {
        if self.timeouts > 0 {
            return (
                Verdict::Fail,
                Some(format!(
                    "{} copies got no answer within {timeout_secs} s: Kirim retries each",
                    self.timeouts
                )),
            );
        }
        if self.other > 0 || self.unanswered > 0 {
            return (
                Verdict::Fail,
                Some(String::from(
                    "some copies got an error or no answer: Kirim would fail or retry them",
                )),
            );
        }
        match (self.first_time, self.duplicate) {
            (0, 0) => (
                Verdict::Fail,
                Some(String::from(
                    "no copy was acknowledged: the event is not processed until a retry",
                )),
            ),
            (0 | 1, _) => (Verdict::Pass, None),
            (n, 0) => (
                Verdict::Advice,
                Some(format!(
                    "{n} copies were answered without `duplicate`: the check cannot tell how \
                     many times the handler ran"
                )),
            ),
            (n, _) => (
                Verdict::Fail,
                Some(format!(
                    "{n} copies were answered as first-time: the handler ran {n} times"
                )),
            ),
        }
    }
}

fn too_large(exchange: &Exchange, timeout_secs: f64) -> Judgement {
    judge::too_large(exchange, timeout_secs)
}

/// The built-in example of a catalogue event.
fn example(event: &str) -> &'static Example {
    catalog::example(event).unwrap_or(&catalog::CATALOG[0])
}

/// Kirim's headers for a Kirim-envelope event, without a body or signature yet.
fn envelope(event: &str, id: &str) -> Outgoing {
    Outgoing {
        body: Bytes::new(),
        signature: None,
        event: String::from(event),
        event_id: Some(String::from(id)),
        source: String::from("kirim"),
        attempt: 1,
        delivery_id: ids::fresh("wbd_"),
    }
}

/// A genuine delivery of `example` under `id`, signed at `t`.
fn delivery(example: &Example, id: &str, t: u64, signer: &Signer) -> Outgoing {
    let body = Bytes::from(example.body_with_id(id));
    Outgoing {
        signature: Some(signer.sign(t, &body)),
        body,
        event: String::from(example.event),
        event_id: Some(String::from(id)),
        source: String::from(example.source),
        attempt: 1,
        delivery_id: ids::fresh("wbd_"),
    }
}

/// A valid Kirim envelope of exactly `size` bytes (padded in `data`).
fn oversized(id: &str, size: usize) -> Bytes {
    let head = format!(
        r#"{{"id":"{id}","type":"contact.created","created_at":"2026-05-23T10:00:00Z","data":{{"padding":""#
    );
    let tail = "\"}}";
    let padding = size.saturating_sub(head.len() + tail.len());
    let mut body = String::with_capacity(size);
    body.push_str(&head);
    body.extend(std::iter::repeat_n('x', padding));
    body.push_str(tail);
    Bytes::from(body)
}
