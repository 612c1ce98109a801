//! A raw HTTP/1.1 client over 127.0.0.1: the requests a well-behaved sender, a slow one or one
//! that hangs up would send, and the answer as it came back.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::ROUTE;
use super::request::SignedRequest;

/// An answer from the server.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Response headers (lowercase names).
    pub headers: HashMap<String, String>,
    /// Body, as text (lossy).
    pub body: String,
}

/// Sends a delivery with `Content-Length`, over a fresh connection.
pub async fn send(addr: SocketAddr, delivery: &SignedRequest) -> Answer {
    let mut request = with_content_length(addr, delivery);
    request.extend_from_slice(&delivery.body);
    exchange(addr, &request).await
}

/// Sends a delivery with `Content-Length`, stopping for `pause` halfway through the body, as a
/// slow (or malicious) client would.
pub async fn send_slowly(addr: SocketAddr, delivery: &SignedRequest, pause: Duration) -> Answer {
    let (head, tail) = delivery.body.split_at(delivery.body.len() / 2);
    let mut first = with_content_length(addr, delivery);
    first.extend_from_slice(head);
    let mut stream = connect(addr).await;
    let _ = stream.write_all(&first).await;
    tokio::time::sleep(pause).await;
    let _ = stream.write_all(tail).await;
    read_answer(stream).await
}

/// Sends a whole delivery, waits until `hang_up` resolves (the handler is running, say), then
/// closes the connection without reading the answer: a client that went away mid-handler.
pub async fn send_then_hang_up(
    addr: SocketAddr,
    delivery: &SignedRequest,
    hang_up: impl Future<Output = ()>,
) {
    let mut request = with_content_length(addr, delivery);
    request.extend_from_slice(&delivery.body);
    let mut stream = connect(addr).await;
    let _ = stream.write_all(&request).await;
    hang_up.await;
    drop(stream);
}

/// Sends the headers and half the body of a delivery, then stalls (a client trickling a body,
/// or gone silent) and waits for the server's answer: what it answered, and how long it let
/// the stalled body hold the connection.
pub async fn send_stalled(addr: SocketAddr, delivery: &SignedRequest) -> (Answer, Duration) {
    let (head, _) = delivery.body.split_at(delivery.body.len() / 2);
    let mut first = with_content_length(addr, delivery);
    first.extend_from_slice(head);
    let mut stream = connect(addr).await;
    let _ = stream.write_all(&first).await;
    let started = std::time::Instant::now();
    let answer = read_answer(stream).await;
    (answer, started.elapsed())
}

/// The request line and headers of `delivery`, with its `Content-Length`.
fn with_content_length(addr: SocketAddr, delivery: &SignedRequest) -> Vec<u8> {
    let mut head = format!("POST {ROUTE} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (name, value) in &delivery.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", delivery.body.len()));
    head.into_bytes()
}

/// Sends a delivery with `Transfer-Encoding: chunked` and no `Content-Length`, in chunks of
/// `chunk` bytes.
pub async fn send_chunked(addr: SocketAddr, delivery: &SignedRequest, chunk: usize) -> Answer {
    let mut head = format!(
        "POST {ROUTE} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ntransfer-encoding: chunked\r\n"
    );
    for (name, value) in &delivery.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    for piece in delivery.body.chunks(chunk.max(1)) {
        request.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        request.extend_from_slice(piece);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    exchange(addr, &request).await
}

/// Writes a raw request and reads the whole response (the request asks the server to close).
/// A server may answer early (413) and close before reading everything: a write error after
/// the answer started is not a failure.
async fn exchange(addr: SocketAddr, request: &[u8]) -> Answer {
    let mut stream = connect(addr).await;
    let _ = stream.write_all(request).await;
    read_answer(stream).await
}

async fn connect(addr: SocketAddr) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"))
}

/// Reads the whole response; the request asked the server to close.
async fn read_answer(mut stream: tokio::net::TcpStream) -> Answer {
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await;
    match read {
        Ok(Ok(_)) => {}
        // A reset after the response arrived (the server closed with unread input) is fine.
        Ok(Err(_)) if !raw.is_empty() => {}
        Ok(Err(e)) => panic!("reading the answer: {e}"),
        Err(_) => panic!("no answer within 10 s"),
    }
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> Answer {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|te| te.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        let end = (start + size).min(raw.len());
        body.extend_from_slice(&raw[start..end]);
        raw = raw.get(end + 2..).unwrap_or(&[]);
    }
    body
}
