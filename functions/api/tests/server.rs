//! The API's own HTTP server under slow and greedy clients, on loopback, with
//! limits scaled down so each case takes well under a second.

use axum::Router;
use axum::routing::{get, post};
use likeness_api::{ServerLimits, serve};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

fn limits() -> ServerLimits {
    ServerLimits {
        header_read_timeout: Duration::from_millis(300),
        body_stall_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_secs(2),
        max_connections: 4,
        max_header_bytes: 8 * 1024,
        max_headers: 32,
    }
}

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start(limits: ServerLimits) -> Running {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/echo", post(|body: String| async move { body }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, app, limits, async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop: Some(stop),
    }
}

/// Reads until the server closes or `limit` passes; returns what came and when.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    String::from_utf8_lossy(&got).into_owned(),
                    Some(started.elapsed()),
                );
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), None),
        }
    }
}

async fn get_ok(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return false;
    };
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let (text, _) = read_until_closed(&mut s, Duration::from_secs(2)).await;
    text.starts_with("HTTP/1.1 200")
}

#[tokio::test]
async fn slow_headers_and_idle_connections_are_closed_after_the_header_timeout() {
    let server = start(limits()).await;
    // A slow-loris client: half a request line, then nothing.
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    // An idle one: connects and never sends.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    for stream in [&mut slow, &mut idle] {
        let (_, closed) = read_until_closed(stream, Duration::from_secs(3)).await;
        let closed = closed.expect("the server closed the connection");
        eprintln!("slow or idle connection closed after {closed:?}");
        assert!(closed < Duration::from_secs(2), "closed after {closed:?}");
    }
    assert!(get_ok(server.addr).await);
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_is_not_waited_for_forever() {
    let server = start(limits()).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nonly ten b")
        .await
        .unwrap();
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    let closed = closed.expect("the server gave up on the body");
    eprintln!("stalled body: connection closed after {closed:?}");
    assert!(closed < Duration::from_secs(2), "held for {closed:?}");
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 4"),
        "answered {text:?}"
    );
    assert!(get_ok(server.addr).await);
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let server = start(limits()).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let big = format!(
        "GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    // The server may close while we are still writing; that is a refusal too.
    let _ = s.write_all(big.as_bytes()).await;
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(3)).await;
    assert!(closed.is_some(), "the connection stayed open");
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 431"),
        "answered {text:?}"
    );
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let many: String = (0..100).map(|i| format!("x-h{i}: v\r\n")).collect();
    let _ = s
        .write_all(format!("GET /healthz HTTP/1.1\r\nhost: x\r\n{many}\r\n").as_bytes())
        .await;
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(3)).await;
    assert!(closed.is_some());
    assert!(!text.starts_with("HTTP/1.1 200"), "answered {text:?}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let server = start(ServerLimits {
        header_read_timeout: Duration::from_secs(5),
        ..limits()
    })
    .await;
    // Four connections hold every slot by sending half a request.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fifth = TcpStream::connect(server.addr).await.unwrap();
    fifth
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let (text, _) = read_until_closed(&mut fifth, Duration::from_millis(400)).await;
    assert!(text.is_empty(), "a fifth connection was served: {text:?}");
    drop(held.pop());
    let (text, closed) = read_until_closed(&mut fifth, Duration::from_secs(3)).await;
    assert!(closed.is_some());
    assert!(text.starts_with("HTTP/1.1 200"), "answered {text:?}");
}
