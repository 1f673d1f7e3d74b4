//! Errors that chain: a failure's `source()` leads to the real cause (down to the OS's
//! "connection refused"), `{:#}` in anyhow prints each cause once, and the middleware's error
//! is a typed [`HeadwayError`] to match on. Real reqwest against real loopback sockets, on
//! tokio's paused clock (the backoff between attempts is virtual time).

use std::error::Error;
use std::time::Duration;

use headway_mock::{Faults, MockConfig, MockServer, Route};
use headway_tokio::{Client, ClientBuilder, ClientError, Failure, HeadwayError, Timer};

/// A URL on loopback where nothing listens: a port just bound and let go.
fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/items/1")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(None)
        .build()
        .expect("reqwest client")
}

fn builder() -> ClientBuilder {
    Client::builder()
        .reqwest_client(http())
        .timer(Timer::Tokio)
        .breaker(None)
}

/// The first error in `error`'s source chain (itself excluded) that is an `io::Error`.
fn io_cause<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a std::io::Error> {
    let mut next = error.source();
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        next = e.source();
    }
    None
}

#[tokio::test(start_paused = true)]
async fn a_refused_connection_is_reachable_through_the_failures_source_chain() {
    let client = builder().retries(2).build().unwrap();
    let failure = client.get(refused_url()).await.unwrap_err();
    assert!(
        matches!(failure.error, ClientError::Transport(ref e) if e.is_connect()),
        "{failure:?}"
    );
    assert_eq!(failure.attempts, 3);
    let io = io_cause(&failure).expect("an io::Error below the failure");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
    let os_message = io.to_string();
    // The same chain from the inner `ClientError`.
    assert_eq!(
        io_cause(&failure.error).map(std::io::Error::kind),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
    // anyhow's `{:#}` shows Headway's message, then each cause once, down to the OS's.
    let shown = format!("{:#}", anyhow::Error::from(failure));
    assert!(
        shown.starts_with("transport error: error sending request for url"),
        "{shown}"
    );
    assert!(shown.contains("(after 3 attempts): "), "{shown}");
    assert!(shown.ends_with(&os_message), "{shown}");
    assert_eq!(shown.matches("error sending request").count(), 1, "{shown}");
}

#[tokio::test(start_paused = true)]
async fn headways_own_failures_are_the_end_of_their_chain() {
    let server = MockServer::start(MockConfig::new().route(
        "/",
        Route::unlimited().faults(Faults::new().outage(
            Duration::ZERO,
            Duration::from_secs(3600),
            3600,
        )),
    ))
    .await
    .unwrap();
    let client = builder().max_wait(Duration::from_secs(60)).build().unwrap();
    let failure = client.get(server.url_for("/x")).await.unwrap_err();
    assert!(matches!(
        failure.error,
        ClientError::WaitTooLong { server: true, .. }
    ));
    assert!(failure.source().is_none());
    assert_eq!(
        format!("{:#}", anyhow::Error::from(failure)),
        "the server asked to wait 3600000 ms, longer than max_wait (after 1 attempts)"
    );
}

#[tokio::test(start_paused = true)]
async fn the_middleware_gives_a_typed_error_to_match_on() {
    let server = MockServer::start(MockConfig::new().route(
        "/",
        Route::unlimited().faults(Faults::new().outage(
            Duration::ZERO,
            Duration::from_secs(3600),
            3600,
        )),
    ))
    .await
    .unwrap();
    // Built on its own, without a `Client`.
    let middleware = headway_tokio::HeadwayMiddleware::builder()
        .max_wait(Duration::from_secs(60))
        .timer(Timer::Tokio)
        .build_middleware()
        .unwrap();
    let client = reqwest_middleware::ClientBuilder::new(http())
        .with(middleware.clone())
        .build();
    let error = client.get(server.url_for("/x")).send().await.unwrap_err();
    let reqwest_middleware::Error::Middleware(inner) = &error else {
        panic!("not a middleware error: {error:?}");
    };
    match inner.downcast_ref::<HeadwayError>() {
        Some(HeadwayError(Failure {
            error: ClientError::WaitTooLong { wait, server: true },
            attempts: 1,
            ..
        })) => assert_eq!(*wait, Duration::from_secs(3600)),
        other => panic!("not a wait too long: {other:?}"),
    }
    assert_eq!(middleware.stats().rate_limited, 1);
}

#[tokio::test(start_paused = true)]
async fn through_the_middleware_retries_run_out_into_a_typed_error_with_the_cause_below() {
    let middleware = builder().retries(2).build_middleware().unwrap();
    let client = reqwest_middleware::ClientBuilder::new(http())
        .with(middleware)
        .build();
    let error = client.get(refused_url()).send().await.unwrap_err();
    let reqwest_middleware::Error::Middleware(inner) = &error else {
        panic!("not a middleware error: {error:?}");
    };
    let Some(HeadwayError(Failure {
        error: ClientError::Transport(last),
        attempts,
        ..
    })) = inner.downcast_ref::<HeadwayError>()
    else {
        panic!("not attempts exhausted: {inner:?}");
    };
    assert_eq!(*attempts, 3);
    assert!(last.is_connect(), "{last:?}");
    assert_eq!(
        io_cause(inner.as_ref()).map(std::io::Error::kind),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
}

#[tokio::test(start_paused = true)]
async fn through_the_middleware_a_single_failed_attempt_is_the_stacks_own_error() {
    let middleware = builder().retries(0).build_middleware().unwrap();
    let client = reqwest_middleware::ClientBuilder::new(http())
        .with(middleware)
        .build();
    let error = client.get(refused_url()).send().await.unwrap_err();
    assert!(
        matches!(error, reqwest_middleware::Error::Reqwest(ref e) if e.is_connect()),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_bad_quota_is_a_build_error_that_names_the_string() {
    let error = Client::builder().quota("ten a second").build().unwrap_err();
    assert!(matches!(error, headway_tokio::BuildError::Quota(ref s, _) if s == "ten a second"));
    assert!(error
        .to_string()
        .starts_with("invalid quota \"ten a second\": "));
    assert!(error.source().is_none());
}

/// With the default features, `https://` goes through rustls: against a server that speaks
/// plain HTTP the request gets as far as a TLS handshake, which fails on the server's
/// non-TLS answer. Without TLS it would fail before any handshake, the connector refusing
/// the scheme ("invalid URL, scheme is not http").
#[cfg(feature = "rustls")]
#[tokio::test(start_paused = true)]
async fn https_reaches_a_tls_handshake_by_default() {
    let server = MockServer::start(MockConfig::new().route("/", Route::unlimited()))
        .await
        .unwrap();
    let plain = server.url_for("/x");
    let tls = plain.replacen("http://", "https://", 1);
    let client = Client::builder()
        .timer(Timer::Tokio)
        .retries(0)
        .build()
        .unwrap();
    assert_eq!(client.get(&plain).await.unwrap().response.status(), 200);
    let failure = client.get(&tls).await.unwrap_err();
    assert!(
        matches!(failure.error, ClientError::Transport(ref e) if e.is_connect()),
        "{failure:?}"
    );
    let shown = format!("{:#}", anyhow::Error::from(failure));
    assert!(!shown.contains("scheme is not http"), "{shown}");
    let tls_cause = shown.split(": ").skip(1).any(|cause| {
        let cause = cause.to_ascii_lowercase();
        cause.contains("tls") || cause.contains("corrupt message") || cause.contains("handshake")
    });
    assert!(tls_cause, "no TLS error in the chain: {shown}");
}
