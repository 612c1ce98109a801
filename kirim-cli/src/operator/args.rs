//! Argument types: the API key (never echoed), durations and times.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use kirim_api::time::format_description::well_known::Rfc3339;
use kirim_api::time::{self, OffsetDateTime};

/// The API key as given: `Debug` shows nothing of it, and parsing never fails, so clap never
/// repeats it in an error.
#[derive(Clone)]
pub(crate) struct ApiKey(pub(crate) String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl FromStr for ApiKey {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// `250ms`, `10s`, `15m`, `2h`, `1d`; a bare number is seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. 500ms, 30s, 15m, 2h, 1d)"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86_400.0,
        other => return Err(format!("unknown duration unit `{other}` (ms, s, m, h, d)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is out of range"))
}

/// An RFC 3339 time, or a duration meaning that long ago (`48h`).
pub(crate) fn parse_time(text: &str) -> Result<OffsetDateTime, String> {
    if let Ok(time) = OffsetDateTime::parse(text.trim(), &Rfc3339) {
        return Ok(time);
    }
    let ago = parse_duration(text)
        .map_err(|_| format!("`{text}` is neither an RFC 3339 time nor a duration ago (48h)"))?;
    let ago = time::Duration::try_from(ago).map_err(|_| format!("`{text}` is out of range"))?;
    OffsetDateTime::now_utc()
        .checked_sub(ago)
        .ok_or_else(|| format!("`{text}` is out of range"))
}

pub(crate) fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert!(parse_duration("2w").is_err());
        assert!(parse_duration("x").is_err());
        let t = parse_time("2026-11-01T00:00:00Z").unwrap();
        assert_eq!(t.unix_timestamp(), 1_793_491_200);
        let ago = parse_time("1h").unwrap();
        let delta = OffsetDateTime::now_utc() - ago;
        assert!(delta >= time::Duration::minutes(59) && delta <= time::Duration::minutes(61));
        assert_eq!(
            format!("{:?}", ApiKey("kdv_live_x".into())),
            "ApiKey(<redacted>)"
        );
    }
}
