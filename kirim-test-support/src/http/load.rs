//! A load client for benchmarks: pre-serialized requests written on keep-alive HTTP/1.1
//! connections, one in flight on each, the answers read by `Content-Length` only, so that as
//! little CPU as possible goes to the client when it shares the machine with the server.

// A benchmark whose client fails has nothing to measure: it stops there.
#![allow(clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{ROUTE, SignedRequest};

/// `delivery` as the bytes of one `POST` to [`ROUTE`].
#[must_use]
pub fn serialize(delivery: &SignedRequest) -> Vec<u8> {
    let mut head = format!("POST {ROUTE} HTTP/1.1\r\nhost: 127.0.0.1\r\n");
    for (name, value) in &delivery.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", delivery.body.len()));
    let mut request = head.into_bytes();
    request.extend_from_slice(&delivery.body);
    request
}

/// `count` connections to `addr`, with `TCP_NODELAY`.
///
/// # Panics
///
/// When a connection fails: a benchmark has nothing to measure then.
pub async fn connect(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut connections = Vec::with_capacity(count);
    for _ in 0..count {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        connections.push(stream);
    }
    connections
}

/// Sends each batch on its own connection, one request after the other, and returns the wall
/// time from the first request to the last answer, with the connections for the next call.
///
/// # Panics
///
/// When a connection fails or closes, or when an answer is not 200 `ok` (checked after the
/// clock stopped): a benchmark of failing requests measures nothing.
pub async fn load(
    connections: Vec<TcpStream>,
    batches: Vec<Vec<Vec<u8>>>,
) -> (Duration, Vec<TcpStream>) {
    let expected: usize = batches.iter().map(Vec::len).sum();
    let start = Instant::now();
    let tasks: Vec<_> = connections
        .into_iter()
        .zip(batches)
        .map(|(mut stream, batch)| {
            tokio::spawn(async move {
                let mut buffer = Vec::with_capacity(1024);
                let mut ok = 0_usize;
                for request in batch {
                    stream.write_all(&request).await.expect("write");
                    ok += usize::from(read_answer(&mut stream, &mut buffer).await);
                }
                (stream, ok)
            })
        })
        .collect();
    let mut connections = Vec::with_capacity(tasks.len());
    let mut ok = 0;
    for task in tasks {
        let (stream, answered) = task.await.expect("client task");
        connections.push(stream);
        ok += answered;
    }
    let elapsed = start.elapsed();
    assert_eq!(ok, expected, "every request was answered 200 ok");
    (elapsed, connections)
}

/// Reads one answer (head and `Content-Length` body); whether it is 200 `ok`.
async fn read_answer(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> bool {
    buffer.clear();
    let mut chunk = [0_u8; 1024];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = &buffer[..end];
            let length = content_length(head).expect("a Content-Length answer");
            let status_ok = head.starts_with(b"HTTP/1.1 200 ");
            while buffer.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await.expect("read");
                assert!(n > 0, "the server closed the connection");
                buffer.extend_from_slice(&chunk[..n]);
            }
            return status_ok && &buffer[end + 4..] == b"ok";
        }
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the server closed the connection");
        buffer.extend_from_slice(&chunk[..n]);
    }
}

fn content_length(head: &[u8]) -> Option<usize> {
    head.split(|&b| b == b'\n').find_map(|line| {
        let line = std::str::from_utf8(line).ok()?;
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })
}
