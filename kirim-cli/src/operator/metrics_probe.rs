//! Reading a receiver's Prometheus metrics: how many deliveries a secret label verified.

use std::time::Duration;

use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The counter the receivers keep per secret label.
pub(crate) const VERIFIED_COUNTER: &str = "kirim_webhooks_verified_total";

/// The most of a metrics page read.
const MAX_PAGE_BYTES: u64 = 4 * 1024 * 1024;

/// `kirim_webhooks_verified_total{secret="<label>"}` on the page at `url`, summed over series
/// (other labels may split it); 0 when absent.
///
/// # Errors
///
/// Why the page could not be read, for the operator.
pub(crate) async fn verified_count(url: &Url, label: &str) -> Result<u64, String> {
    let page = http_get(url).await?;
    Ok(count_in(&page, label))
}

/// A plain-HTTP GET. HTTP/1.0, so the answer is never chunked and ends with the connection:
/// a metrics endpoint is local and plain, and this keeps the probe free of a TLS stack.
async fn http_get(url: &Url) -> Result<String, String> {
    if url.scheme() != "http" {
        return Err(format!(
            "{url}: only http:// metrics endpoints are supported"
        ));
    }
    let host = url.host_str().ok_or_else(|| format!("{url}: no host"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let mut path = url.path().to_owned();
    if let Some(query) = url.query() {
        path.push('?');
        path.push_str(query);
    }
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("cannot connect to {url}: {e}"))?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: text/plain\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("cannot send to {url}: {e}"))?;
        let mut answer = Vec::new();
        stream
            .take(MAX_PAGE_BYTES)
            .read_to_end(&mut answer)
            .await
            .map_err(|e| format!("cannot read {url}: {e}"))?;
        Ok::<_, String>(answer)
    };
    let answer = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| format!("{url} did not answer in 5 s"))??;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{url}: not an HTTP answer"))?;
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("{url} answered `{status}`"));
    }
    Ok(body.to_owned())
}

/// The sum of the counter's series whose `secret` label is `label`, in Prometheus text format.
pub(crate) fn count_in(page: &str, label: &str) -> u64 {
    let mut total = 0u64;
    for line in page.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix(VERIFIED_COUNTER) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix('{') else {
            continue;
        };
        let Some((labels, value)) = rest.split_once('}') else {
            continue;
        };
        if label_value(labels, "secret").as_deref() != Some(label) {
            continue;
        }
        let value = value.split_whitespace().next().unwrap_or("");
        if let Ok(v) = value.parse::<f64>()
            && v.is_finite()
            && v > 0.0
        {
            total = total.saturating_add(v as u64);
        }
    }
    total
}

/// The value of `name="…"` in a label set, unescaped.
fn label_value(labels: &str, name: &str) -> Option<String> {
    let mut rest = labels;
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if rest.is_empty() {
            return None;
        }
        let (key, after) = rest.split_once('=')?;
        let after = after.strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => return None,
                },
                '"' => {
                    end = Some(i);
                    break;
                }
                other => value.push(other),
            }
        }
        let end = end?;
        if key.trim() == name {
            return Some(value);
        }
        rest = &after[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_label_across_series() {
        let page = "\
# HELP kirim_webhooks_verified_total Deliveries verified, by secret label.
# TYPE kirim_webhooks_verified_total counter
kirim_webhooks_verified_total{secret=\"sec_old\"} 12
kirim_webhooks_verified_total{secret=\"sec_new\"} 2
kirim_webhooks_verified_total{route=\"/a\",secret=\"sec_new\"} 1 1700000000000
kirim_webhooks_verified_total_other{secret=\"sec_new\"} 99
kirim_webhooks_verified_total{secret=\"sec_new2\"} 5
kirim_webhooks_verified_total{secret=\"a\\\"b\"} 3
";
        assert_eq!(count_in(page, "sec_new"), 3);
        assert_eq!(count_in(page, "sec_old"), 12);
        assert_eq!(count_in(page, "a\"b"), 3);
        assert_eq!(count_in(page, "sec_none"), 0);
        assert_eq!(count_in("garbage{{{", "x"), 0);
    }
}
