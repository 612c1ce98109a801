//! Requests nobody signed, sent the way an attacker without a secret would, to check that a
//! receiver spends almost nothing on them: connections that declare a large body and send two
//! bytes, connections that send nothing, connections that trickle a forged body.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::http::ROUTE;

/// The body length the forged requests declare: the default body limit, 1 MiB.
pub const DECLARED_LENGTH: usize = 1024 * 1024;

/// The head of a forged delivery: a fresh `t`, a `v1` nobody can match, the event headers, a
/// `Content-Length` of `declared`, and keep-alive.
fn forged_head(addr: SocketAddr, declared: usize) -> Vec<u8> {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "POST {ROUTE} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         x-kirim-signature: t={t},v1={}\r\nx-kirim-event: contact.created\r\n\
         x-kirim-event-id: evt_forged\r\nx-kirim-source: kirim\r\ncontent-length: {declared}\r\n\r\n",
        "0".repeat(64)
    )
    .into_bytes()
}

async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"))
}

/// `n` connections, each sending a forged head that declares [`DECLARED_LENGTH`] bytes, then
/// two one-byte chunks of body (two writes, apart), then nothing more: a receiver that
/// reserved the declared length holds `n` MiB for them. The streams are returned open.
pub async fn declare_large_send_two_bytes(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let mut stream = connect(addr).await;
        let _ = stream.write_all(&forged_head(addr, DECLARED_LENGTH)).await;
        let _ = stream.write_all(b"{").await;
        streams.push(stream);
    }
    // The second byte arrives as a frame of its own.
    tokio::time::sleep(Duration::from_millis(50)).await;
    for stream in &mut streams {
        let _ = stream.write_all(b"\"").await;
    }
    streams
}

/// `n` connections that send nothing at all.
pub async fn idle(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        streams.push(connect(addr).await);
    }
    streams
}

/// `n` connections, each sending a forged head, then one byte of body every `every` until the
/// server closes it. Returns the tasks; each ends with how long its connection stayed open.
pub async fn trickle(
    addr: SocketAddr,
    n: usize,
    every: Duration,
) -> Vec<tokio::task::JoinHandle<Duration>> {
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let mut stream = connect(addr).await;
        let _ = stream.write_all(&forged_head(addr, 4096)).await;
        tasks.push(tokio::spawn(async move {
            let opened = std::time::Instant::now();
            let mut answer = [0u8; 1024];
            loop {
                tokio::select! {
                    read = stream.read(&mut answer) => match read {
                        // An answer (408) or the close: either way the server let go.
                        Ok(_) | Err(_) => return opened.elapsed(),
                    },
                    () = tokio::time::sleep(every) => {
                        if stream.write_all(b" ").await.is_err() {
                            return opened.elapsed();
                        }
                    }
                }
            }
        }));
    }
    tasks
}

/// How long until the server closes `stream` (reads end, or fail), up to `within`; `None` if
/// it is still open then. Whatever the server sends first (a 408) is read and dropped.
pub async fn closed_after(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = std::time::Instant::now();
    let mut sink = [0u8; 1024];
    let closing = async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, closing).await.ok()
}

/// The memory flood against a receiver at `addr`: 2 000 connections that declare a 1 MiB body
/// and send two bytes of it, held open while a valid delivery is sent. A receiver that reserved
/// the declared length would need 2 GiB; run it under an address-space ceiling below that.
///
/// # Panics
///
/// When the valid delivery is not answered 200 `ok` during the flood.
pub async fn valid_delivery_during_a_declared_length_flood(addr: SocketAddr) -> Vec<TcpStream> {
    let held = declare_large_send_two_bytes(addr, 2000).await;
    let valid = crate::http::SignedRequest::kirim(
        "contact.created",
        &crate::http::unique_id("evt"),
        crate::http::fixtures::CONTACT_CREATED,
    );
    let answer = crate::http::send(addr, &valid).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "ok"),
        "{answer:?}"
    );
    held
}

/// The slow-connection attack against a receiver at `addr` configured with a tolerance of
/// `tolerance`: 500 idle connections and 200 forged bodies sent a byte a second. A valid
/// delivery must be answered within 2 s meanwhile; the idle connections must be closed at the
/// receiver's head deadline (within 10 s), and the trickled ones once their signed timestamp
/// leaves the tolerance (within the tolerance and 4 s).
///
/// # Panics
///
/// When any of these does not hold.
pub async fn idle_and_trickling_connections_leave_room(addr: SocketAddr, tolerance: Duration) {
    let mut idle_streams = idle(addr, 500).await;
    let trickling = trickle(addr, 200, Duration::from_secs(1)).await;

    let valid = crate::http::SignedRequest::kirim(
        "contact.created",
        &crate::http::unique_id("evt"),
        crate::http::fixtures::CONTACT_CREATED,
    );
    let started = std::time::Instant::now();
    let answer = crate::http::send(addr, &valid).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "ok"),
        "{answer:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    for stream in idle_streams.iter_mut().take(25) {
        let closed = closed_after(stream, Duration::from_secs(10)).await;
        assert!(
            closed.is_some(),
            "an idle connection outlived the head deadline"
        );
    }
    for task in trickling {
        let held = task.await.unwrap_or_default();
        assert!(
            held < tolerance + Duration::from_secs(4),
            "a trickled forged body held on for {held:?}"
        );
    }
}
