//! What each kind of case accepts: the answer, judged as Kirim and the contract would.

use crate::answer::{Counted, Exchange, Unanswered};
use crate::check::verdict::Verdict;

/// A verdict and, unless it is a plain pass, what it means for this receiver.
pub(crate) type Judgement = (Verdict, Option<String>);

fn pass() -> Judgement {
    (Verdict::Pass, None)
}

fn fail(note: impl Into<String>) -> Judgement {
    (Verdict::Fail, Some(note.into()))
}

fn advice(note: impl Into<String>) -> Judgement {
    (Verdict::Advice, Some(note.into()))
}

/// No answer at all: say what Kirim would make of that.
fn unanswered(reason: Unanswered, timeout_secs: f64) -> Judgement {
    match reason {
        Unanswered::Timeout => fail(format!(
            "no answer within {timeout_secs} s: Kirim counts a timeout as a failure and \
             retries; acknowledge first, process after"
        )),
        other => fail(format!("{other}: Kirim counts it as a failure and retries")),
    }
}

/// A genuine delivery: it must be acknowledged with a 2xx.
pub(crate) fn acknowledged(exchange: &Exchange, timeout_secs: f64) -> Judgement {
    match &exchange.result {
        Err(reason) => unanswered(*reason, timeout_secs),
        Ok(answer) if answer.is_success() => pass(),
        Ok(_) => fail(format!(
            "Kirim would count this as {}",
            Counted::explain(&exchange.result)
        )),
    }
}

/// A genuine delivery that is new: a 2xx, and not answered as a duplicate.
pub(crate) fn first_time(exchange: &Exchange, timeout_secs: f64) -> Judgement {
    match exchange.answer() {
        Some(answer) if answer.is_success() && answer.says_duplicate() => fail(
            "answered as a duplicate: this event was never processed, and Kirim will not \
             send it again",
        ),
        _ => acknowledged(exchange, timeout_secs),
    }
}

/// A delivery of an event already processed: acknowledged, ideally as `duplicate`.
pub(crate) fn duplicate(exchange: &Exchange, timeout_secs: f64) -> Judgement {
    match exchange.answer() {
        Some(answer) if answer.is_success() && answer.says_duplicate() => pass(),
        Some(answer) if answer.is_success() => advice(
            "acknowledged, but the body does not say `duplicate`: the check cannot tell \
             whether the handler ran twice",
        ),
        _ => acknowledged(exchange, timeout_secs),
    }
}

/// A captured delivery resent under a new event id: not processed again.
pub(crate) fn replay(exchange: &Exchange, timeout_secs: f64) -> Judgement {
    match exchange.answer() {
        Some(answer) if answer.is_success() && answer.says_duplicate() => pass(),
        Some(answer) if (400..500).contains(&answer.status) => (
            Verdict::Pass,
            Some(String::from(
                "refused, which also keeps the handler from running",
            )),
        ),
        Some(answer) if answer.is_success() => advice(
            "acknowledged without `duplicate`: if the handler ran, whoever captured one \
             delivery can have it processed again within the tolerance by changing the \
             unsigned event id header; remember each accepted signed message",
        ),
        _ => acknowledged(exchange, timeout_secs),
    }
}

/// A request Kirim never sends, or an attacker's: refused with `status`.
pub(crate) fn refused(exchange: &Exchange, status: u16, timeout_secs: f64) -> Judgement {
    match &exchange.result {
        Err(reason) => unanswered(*reason, timeout_secs),
        Ok(answer) if answer.status == status => pass(),
        Ok(answer) if answer.is_success() => fail(format!(
            "accepted with {}: the handler ran on a delivery it must refuse",
            answer.status
        )),
        Ok(answer) if (400..500).contains(&answer.status) => advice(format!(
            "refused, but with {} where the contract says {status}",
            answer.status
        )),
        Ok(answer) => fail(format!(
            "{}: Kirim would retry a delivery that can never succeed",
            answer.status
        )),
    }
}

/// A verified body that is not UTF-8 (Kirim signs bytes, not text), of an unknown type.
pub(crate) fn raw_bytes(exchange: &Exchange, timeout_secs: f64) -> Judgement {
    match exchange.answer() {
        Some(answer) if answer.status == 401 => fail(
            "401: the signature was checked over re-encoded text, not the raw bytes, so a \
             genuine delivery with such a body would be refused",
        ),
        Some(answer) if (400..500).contains(&answer.status) => advice(format!(
            "refused with {} after verifying: a 4xx is dead-lettered at once; acknowledge \
             unknown types before parsing bodies",
            answer.status
        )),
        _ => acknowledged(exchange, timeout_secs),
    }
}

/// A body over the receiver's limit: 413, memory bounded.
pub(crate) fn too_large(exchange: &Exchange, timeout_secs: f64) -> Judgement {
    match &exchange.result {
        Err(Unanswered::Broken) => advice(
            "the connection was closed without an answer: Kirim counts that as a network \
             error and retries; answer 413",
        ),
        _ => refused(exchange, 413, timeout_secs),
    }
}
