//! Injected faults: dropped connections, error statuses, outages and delays.

mod common;

use std::time::Duration;

use common::{client, get_json, header, serve};
use headway_mock::{Faults, HeaderStyle, MockConfig, Route};
use tokio::time::Instant;

#[tokio::test]
async fn reset_every_closes_the_connection_without_a_response() {
    let server = serve(
        MockConfig::new().route("/", Route::unlimited().faults(Faults::new().reset_every(3))),
    )
    .await;
    let client = client();
    let mut outcomes = Vec::new();
    for _ in 0..6 {
        match client.get(server.url_for("/r")).send().await {
            Ok(resp) => outcomes.push(Ok(resp.status().as_u16())),
            Err(e) => {
                assert!(e.status().is_none(), "an error with a status: {e}");
                outcomes.push(Err(()));
            }
        }
    }
    assert_eq!(
        outcomes,
        vec![Ok(200), Ok(200), Err(()), Ok(200), Ok(200), Err(())]
    );
    let stats = server.stats();
    assert_eq!(stats.total.requests, 6);
    assert_eq!(stats.total.admitted, 4);
    assert_eq!(stats.total.faulted, 2);
    assert_eq!(stats.total.resets, 2);
}

#[tokio::test]
async fn reset_also_breaks_a_fresh_connection() {
    // Every request is dropped: a client with no pooled connection still errors.
    let server = serve(
        MockConfig::new().route("/", Route::unlimited().faults(Faults::new().reset_every(1))),
    )
    .await;
    let err = reqwest::Client::new()
        .post(server.url_for("/r"))
        .body("payload")
        .send()
        .await
        .expect_err("must fail");
    assert!(
        err.is_request() || err.is_connect() || err.is_body(),
        "{err:?}"
    );
}

#[tokio::test]
async fn fail_every_answers_the_configured_status() {
    let server = serve(
        MockConfig::new().route(
            "/",
            Route::gcra(1000, Duration::from_secs(1), 1000)
                .headers(HeaderStyle::Ietf06)
                .faults(Faults::new().fail_every_with_retry_after(2, 1, 503, 7)),
        ),
    )
    .await;
    let client = client();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let resp = client.get(server.url_for("/f")).send().await.expect("send");
        if resp.status() == 503 {
            assert_eq!(header(&resp, "retry-after"), "7");
            assert_eq!(header(&resp, "ratelimit-limit"), "1000");
        }
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, vec![200, 200, 503, 200, 200, 503]);
    let stats = server.stats();
    assert_eq!((stats.total.admitted, stats.total.faulted), (4, 2));
    let body: serde_json::Value = get_json(&client, server.url_for("/f")).await;
    assert_eq!(body, serde_json::json!({"path": "/f", "n": 5}));
}

#[tokio::test(start_paused = true)]
async fn outage_window_rejects_everything_then_recovers() {
    let server = serve(
        MockConfig::new().route(
            "/",
            Route::gcra(1000, Duration::from_secs(1), 1000)
                .headers(HeaderStyle::Ietf06)
                .faults(Faults::new().outage(Duration::from_secs(1), Duration::from_secs(2), 3)),
        ),
    )
    .await;
    let client = client();
    let start = Instant::now();
    let at = |ms: u64| tokio::time::sleep_until(start + Duration::from_millis(ms));
    let url = server.url_for("/o");

    at(500).await;
    assert_eq!(client.get(&url).send().await.expect("send").status(), 200);
    at(1000).await;
    let r = client.get(&url).send().await.expect("send");
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "retry-after"), "3");
    assert_eq!(header(&r, "ratelimit-remaining"), "0");
    assert_eq!(header(&r, "ratelimit-reset"), "2");
    at(2999).await;
    assert_eq!(client.get(&url).send().await.expect("send").status(), 429);
    at(3000).await;
    assert_eq!(client.get(&url).send().await.expect("send").status(), 200);
    let stats = server.stats();
    assert_eq!((stats.total.admitted, stats.total.rejected), (2, 2));
    assert_eq!(stats.total.first_admitted_ms, Some(500.0));
    assert_eq!(stats.total.last_admitted_ms, Some(3000.0));

    // A reset restarts the window: 1.2 s later we are inside it again.
    let r = client
        .post(server.url_for("/__reset"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    at(4200).await;
    assert_eq!(client.get(&url).send().await.expect("send").status(), 429);
    let stats = server.stats();
    assert_eq!((stats.total.admitted, stats.total.rejected), (0, 1));
    assert_eq!(stats.elapsed_ms, 1200.0);
}

#[tokio::test(start_paused = true)]
async fn delay_holds_each_response_on_the_tokio_clock() {
    let server = serve(MockConfig::new().route(
        "/slow",
        Route::unlimited().faults(Faults::new().delay(Duration::from_millis(250))),
    ))
    .await;
    let client = client();
    let start = Instant::now();
    assert_eq!(
        client
            .get(server.url_for("/slow"))
            .send()
            .await
            .expect("send")
            .status(),
        200
    );
    assert_eq!(start.elapsed(), Duration::from_millis(250));
    // Other paths are not delayed.
    let before = Instant::now();
    client
        .get(server.url_for("/fast"))
        .send()
        .await
        .expect("send");
    assert_eq!(before.elapsed(), Duration::ZERO);
    assert_eq!(server.stats().route("/slow").first_admitted_ms, Some(250.0));
}
