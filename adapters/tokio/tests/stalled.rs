//! A server that accepts a connection and never answers is cut off by the per-attempt
//! timeout, every attempt; the timeout covers the exchange up to the response headers, and
//! a body that stalls after them is bounded by the reqwest client's own timeout, as the
//! crate documents. Real reqwest against raw loopback sockets, on tokio's paused clock (the
//! timeouts are virtual time: the clock jumps to them once every task waits).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use headway_tokio::{Client, ClientError, Timer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback server that accepts every connection, reads the request, writes `reply`
/// (possibly nothing) and then holds the connection open without another byte. Returns its
/// URL and the count of connections accepted.
async fn holding_server(reply: &'static [u8]) -> (String, Arc<AtomicU32>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/items/1", listener.local_addr().expect("address"));
    let accepted = Arc::new(AtomicU32::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            // Relaxed: a plain count, read after the calls end.
            count.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(reply).await;
                // Hold the connection: never another byte, never closed.
                std::future::pending::<()>().await;
                drop(socket);
            });
        }
    });
    (url, accepted)
}

fn reqwest_client(total: Option<Duration>) -> reqwest::Client {
    let mut b = reqwest::Client::builder().pool_idle_timeout(None);
    if let Some(total) = total {
        b = b.timeout(total);
    }
    b.build().expect("reqwest client")
}

#[tokio::test(start_paused = true)]
async fn a_server_that_accepts_and_never_answers_times_out_on_every_attempt() {
    let (url, accepted) = holding_server(b"").await;
    let client = Client::builder()
        .reqwest_client(reqwest_client(None))
        .timer(Timer::Tokio)
        .breaker(None)
        .retries(2)
        .timeout(Some(Duration::from_secs(2)))
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let failure = client.get(&url).await.unwrap_err();
    assert!(
        matches!(failure.error, ClientError::Timeout { after } if after == Duration::from_secs(2)),
        "{failure:?}"
    );
    assert_eq!(failure.attempts, 3);
    // Relaxed: the server's tasks counted before the client heard nothing back.
    assert_eq!(
        accepted.load(Ordering::Relaxed),
        3,
        "a new connection per attempt"
    );
    // Three timeouts of 2 s, plus the backoff between them (virtual time).
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(6), "{took:?}");
    assert!(took < Duration::from_secs(60), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_body_that_stalls_after_the_headers_is_bounded_by_the_reqwest_clients_timeout() {
    const HEADERS_THEN_STALL: &[u8] =
        b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nonly the first bytes";
    let (url, _) = holding_server(HEADERS_THEN_STALL).await;

    // Headway's per-attempt timeout ends at the headers: the call succeeds, and the body
    // is the caller's to read; without a bound of reqwest's own, reading it never ends.
    let headway_only = Client::builder()
        .reqwest_client(reqwest_client(None))
        .timer(Timer::Tokio)
        .breaker(None)
        .timeout(Some(Duration::from_secs(2)))
        .build()
        .unwrap();
    let sent = headway_only
        .get(&url)
        .await
        .expect("the headers came in time");
    assert_eq!(sent.response.status(), 200);
    let body = tokio::time::timeout(Duration::from_secs(3600), sent.response.bytes()).await;
    assert!(body.is_err(), "the body read outlasts an hour: {body:?}");

    // The reqwest client's total timeout covers the body too.
    let bounded = Client::builder()
        .reqwest_client(reqwest_client(Some(Duration::from_secs(5))))
        .timer(Timer::Tokio)
        .breaker(None)
        .timeout(Some(Duration::from_secs(2)))
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let sent = bounded.get(&url).await.expect("the headers came in time");
    let err = sent.response.bytes().await.expect_err("the body stalls");
    assert!(err.is_timeout(), "{err:?}");
    assert!(
        started.elapsed() <= Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}
