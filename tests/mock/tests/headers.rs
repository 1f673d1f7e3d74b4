//! The exact headers of every style for a known limiter state, `Retry-After`, and `Date` skew.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{client, header, serve, start_time, START_SECS};
use headway_mock::{
    Gcra, HeaderStyle, MockConfig, MockHandle, MockServer, RetryAfterStyle, Route, ServerOptions,
};
use tokio::time::{sleep, Instant};

/// GCRA 10 per 60 s (one cell every 6 s), bursts of 3.
fn slow() -> Route {
    Route::gcra(10, Duration::from_secs(60), 3)
}

async fn server(config: MockConfig) -> MockHandle {
    MockServer::start_with(config, ServerOptions::new().start_time(start_time()))
        .await
        .expect("start")
}

/// Sends one request to `path` and returns (status, response).
async fn get(server: &MockHandle, path: &str) -> reqwest::Response {
    client()
        .get(server.url_for(path))
        .send()
        .await
        .expect("send")
}

/// Three admissions at t=0, then a rejection at t=1.5 s: remaining 0, next cell at 6 s.
/// Returns the first response and the rejected one.
async fn scenario(server: &MockHandle, path: &str) -> (reqwest::Response, reqwest::Response) {
    let start = Instant::now();
    let first = get(server, path).await;
    assert_eq!(first.status(), 200);
    for _ in 0..2 {
        assert_eq!(get(server, path).await.status(), 200);
    }
    tokio::time::sleep_until(start + Duration::from_millis(1500)).await;
    let rejected = get(server, path).await;
    assert_eq!(rejected.status(), 429);
    (first, rejected)
}

#[tokio::test(start_paused = true)]
async fn x_ratelimit_epoch() {
    let s =
        server(MockConfig::new().route("/", slow().headers(HeaderStyle::XRatelimitEpoch))).await;
    let (first, rejected) = scenario(&s, "/x").await;
    // After one admission at t=0: two more fit now; the next cell is regained at 6 s.
    assert_eq!(header(&first, "x-ratelimit-limit"), "10");
    assert_eq!(header(&first, "x-ratelimit-remaining"), "2");
    assert_eq!(
        header(&first, "x-ratelimit-reset"),
        (START_SECS + 6).to_string()
    );
    assert_eq!(header(&first, "date"), "Tue, 14 Nov 2023 22:13:20 GMT");
    // At t=1.5 s the wait is 4.5 s: epoch = ceil(start + 1.5 + 4.5).
    assert_eq!(header(&rejected, "x-ratelimit-remaining"), "0");
    assert_eq!(
        header(&rejected, "x-ratelimit-reset"),
        (START_SECS + 6).to_string()
    );
    assert_eq!(header(&rejected, "retry-after"), "5");
    assert_eq!(header(&rejected, "date"), "Tue, 14 Nov 2023 22:13:21 GMT");
    assert_eq!(header(&rejected, "ratelimit"), "");
}

#[tokio::test(start_paused = true)]
async fn x_ratelimit_delta() {
    let s =
        server(MockConfig::new().route("/", slow().headers(HeaderStyle::XRatelimitDelta))).await;
    let (first, rejected) = scenario(&s, "/x").await;
    assert_eq!(header(&first, "x-ratelimit-limit"), "10");
    assert_eq!(header(&first, "x-ratelimit-remaining"), "2");
    assert_eq!(header(&first, "x-ratelimit-reset"), "6");
    assert_eq!(header(&rejected, "x-ratelimit-remaining"), "0");
    assert_eq!(header(&rejected, "x-ratelimit-reset"), "5");
}

#[tokio::test(start_paused = true)]
async fn ietf06() {
    let s = server(MockConfig::new().route("/", slow().headers(HeaderStyle::Ietf06))).await;
    let (first, rejected) = scenario(&s, "/x").await;
    assert_eq!(header(&first, "ratelimit-limit"), "10");
    assert_eq!(header(&first, "ratelimit-remaining"), "2");
    assert_eq!(header(&first, "ratelimit-reset"), "6");
    assert_eq!(header(&rejected, "ratelimit-limit"), "10");
    assert_eq!(header(&rejected, "ratelimit-remaining"), "0");
    assert_eq!(header(&rejected, "ratelimit-reset"), "5");
    assert_eq!(header(&rejected, "x-ratelimit-limit"), "");
}

#[tokio::test(start_paused = true)]
async fn ietf07() {
    let s = server(MockConfig::new().route("/", slow().headers(HeaderStyle::Ietf07))).await;
    let (first, rejected) = scenario(&s, "/x").await;
    assert_eq!(
        header(&first, "ratelimit"),
        "limit=10, remaining=2, reset=6"
    );
    assert_eq!(header(&first, "ratelimit-policy"), "10;w=60");
    assert_eq!(
        header(&rejected, "ratelimit"),
        "limit=10, remaining=0, reset=5"
    );
    assert_eq!(header(&rejected, "ratelimit-policy"), "10;w=60");
}

#[tokio::test(start_paused = true)]
async fn ietf08() {
    let s = server(MockConfig::new().route("/", slow().headers(HeaderStyle::Ietf08))).await;
    let (first, rejected) = scenario(&s, "/x").await;
    assert_eq!(header(&first, "ratelimit-policy"), "\"default\";q=10;w=60");
    assert_eq!(header(&first, "ratelimit"), "\"default\";r=2;t=6");
    assert_eq!(header(&rejected, "ratelimit"), "\"default\";r=0;t=5");
}

#[tokio::test(start_paused = true)]
async fn none_sends_only_retry_after() {
    let s = server(MockConfig::new().route("/", slow())).await;
    let (first, rejected) = scenario(&s, "/x").await;
    for name in [
        "ratelimit",
        "ratelimit-policy",
        "ratelimit-limit",
        "x-ratelimit-limit",
    ] {
        assert_eq!(header(&first, name), "", "{name}");
        assert_eq!(header(&rejected, name), "", "{name}");
    }
    assert_eq!(header(&rejected, "retry-after"), "5");
}

#[tokio::test(start_paused = true)]
async fn tiers_in_ietf08_and_ietf07() {
    let tiers = vec![
        Gcra::new(2, Duration::from_secs(1), 2).named("second"),
        Gcra::new(5, Duration::from_secs(60), 5).named("minute"),
    ];
    let s = server(
        MockConfig::new()
            .route(
                "/08",
                Route::tiered(tiers.clone()).headers(HeaderStyle::Ietf08),
            )
            .route("/07", Route::tiered(tiers).headers(HeaderStyle::Ietf07)),
    )
    .await;
    for _ in 0..2 {
        get(&s, "/08").await;
        get(&s, "/07").await;
    }
    // "second": 0 left, next cell in 0.5 s. "minute": 3 left, next cell in 12 s.
    let r = get(&s, "/08").await;
    assert_eq!(r.status(), 429);
    assert_eq!(
        header(&r, "ratelimit-policy"),
        "\"second\";q=2;w=1, \"minute\";q=5;w=60"
    );
    assert_eq!(
        header(&r, "ratelimit"),
        "\"second\";r=0;t=1, \"minute\";r=3;t=12"
    );
    assert_eq!(header(&r, "retry-after"), "1");
    let r = get(&s, "/07").await;
    assert_eq!(header(&r, "ratelimit"), "limit=2, remaining=0, reset=1");
    assert_eq!(header(&r, "ratelimit-policy"), "2;w=1, 5;w=60");
}

#[tokio::test(start_paused = true)]
async fn window_policies_advertise_their_windows() {
    let s = server(
        MockConfig::new()
            .route(
                "/fixed",
                Route::fixed_window(5, Duration::from_secs(10)).headers(HeaderStyle::Ietf08),
            )
            .route(
                "/sliding",
                Route::sliding_window(2, Duration::from_secs(10)).headers(HeaderStyle::Ietf06),
            ),
    )
    .await;
    sleep(Duration::from_millis(2500)).await;
    let r = get(&s, "/fixed").await;
    assert_eq!(header(&r, "ratelimit-policy"), "\"default\";q=5;w=10");
    assert_eq!(header(&r, "ratelimit"), "\"default\";r=4;t=8");
    let r = get(&s, "/sliding").await;
    assert_eq!(header(&r, "ratelimit-remaining"), "1");
    assert_eq!(header(&r, "ratelimit-reset"), "10");
    sleep(Duration::from_millis(4000)).await;
    assert_eq!(get(&s, "/sliding").await.status(), 200);
    let r = get(&s, "/sliding").await;
    assert_eq!(r.status(), 429);
    // The first entry (t=2.5 s) leaves the log at 12.5 s; now is 6.5 s.
    assert_eq!(header(&r, "retry-after"), "6");
    assert_eq!(header(&r, "ratelimit-reset"), "6");
}

#[tokio::test(start_paused = true)]
async fn unlimited_routes_send_no_rate_headers() {
    let s =
        server(MockConfig::new().route("/", Route::unlimited().headers(HeaderStyle::Ietf08))).await;
    let r = get(&s, "/u").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "ratelimit"), "");
    assert_eq!(header(&r, "date"), "Tue, 14 Nov 2023 22:13:20 GMT");
}

#[tokio::test(start_paused = true)]
async fn retry_after_http_date_is_rounded_up() {
    let s =
        server(MockConfig::new().route("/", slow().retry_after(RetryAfterStyle::HttpDate))).await;
    let (_, rejected) = scenario(&s, "/x").await;
    // Date clock 1.5 s after start, wait 4.5 s: ceil(start + 6 s).
    assert_eq!(
        header(&rejected, "retry-after"),
        "Tue, 14 Nov 2023 22:13:26 GMT"
    );

    let s = server(MockConfig::new().route("/", slow().retry_after(RetryAfterStyle::None))).await;
    let (_, rejected) = scenario(&s, "/x").await;
    assert_eq!(header(&rejected, "retry-after"), "");
}

#[tokio::test(start_paused = true)]
async fn date_skew_shifts_date_and_epoch_resets() {
    let s = server(
        MockConfig::new()
            .date_skew_ms(-3_600_000)
            .route("/", slow().headers(HeaderStyle::XRatelimitEpoch)),
    )
    .await;
    let r = get(&s, "/x").await;
    assert_eq!(header(&r, "date"), "Tue, 14 Nov 2023 21:13:20 GMT");
    assert_eq!(
        header(&r, "x-ratelimit-reset"),
        (START_SECS - 3600 + 6).to_string()
    );
    // Control endpoints use the same clock.
    let r = client()
        .get(s.url_for("/__stats"))
        .send()
        .await
        .expect("send");
    assert_eq!(header(&r, "date"), "Tue, 14 Nov 2023 21:13:20 GMT");
}

#[tokio::test]
async fn date_follows_the_system_clock_plus_skew() {
    let s = serve(MockConfig::new().date_skew_ms(-3_600_000)).await;
    let r = get(&s, "/x").await;
    let date = httpdate_secs(&header(&r, "date"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let diff = now as i64 - date as i64;
    assert!((3598..=3602).contains(&diff), "skew seen {diff}");
}

/// Parses an IMF-fixdate through the server's own format: hours/minutes/seconds and day only
/// matter for the difference to now, so a tiny parser is enough here.
fn httpdate_secs(s: &str) -> u64 {
    // "Tue, 14 Nov 2023 21:13:20 GMT"
    let parts: Vec<&str> = s.split([' ', ':']).collect();
    assert_eq!(parts.len(), 8, "{s}");
    let day: u64 = parts[1].parse().expect("day");
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])
    .expect("month") as u64
        + 1;
    let year: u64 = parts[3].parse().expect("year");
    let (h, m, sec): (u64, u64, u64) = (
        parts[4].parse().expect("h"),
        parts[5].parse().expect("m"),
        parts[6].parse().expect("s"),
    );
    days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec
}

/// Days since 1970-01-01 for a proleptic Gregorian date.
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
