//! The outcome of one check case.

use serde::Serialize;

/// How a case came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verdict {
    /// The receiver answered as the contract says.
    Pass,
    /// The answer is acceptable to Kirim, but not what this project recommends, or the
    /// receiver's answer does not let the check tell; a failure with `--strict`.
    Advice,
    /// The receiver answered wrong: events lost, forged ones accepted, or Kirim misled.
    Fail,
    /// Not run (e.g. the rotation cases without a second `--secret`).
    Skip,
}

impl Verdict {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Advice => "ADVICE",
            Self::Fail => "FAIL",
            Self::Skip => "SKIP",
        }
    }
}

/// One case's report: what was sent, what was expected, what came back and why it matters.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CaseReport {
    /// A stable id (`forged-signature`), for CI and for tests.
    pub(crate) id: &'static str,
    pub(crate) verdict: Verdict,
    pub(crate) sent: String,
    pub(crate) expected: &'static str,
    pub(crate) got: String,
    /// Why the expected answer matters.
    pub(crate) why: &'static str,
    /// What the verdict means for this receiver, when it is not a plain pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
    pub(crate) elapsed_ms: u128,
}
