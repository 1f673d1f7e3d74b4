//! Utilities shared by the integration tests.
#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use headway_mock::{MockConfig, MockHandle, MockServer};
use serde::de::DeserializeOwned;

/// 2023-11-14T22:13:20Z, a whole second, so `Date`-derived values are exact.
pub const START_SECS: u64 = 1_700_000_000;

/// The fixed wall-clock start used by tests that check dates.
pub fn start_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(START_SECS)
}

/// Starts a server with `config` on the current runtime.
pub async fn serve(config: MockConfig) -> MockHandle {
    MockServer::start(config).await.expect("start")
}

/// A client that keeps no idle-pool timer, so a paused tokio clock can only advance to the
/// test's own timers (or the server's `delay_ms`), never in the middle of a request.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(None)
        .build()
        .expect("client")
}

/// A header's value as text, or "" when absent.
pub fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap_or("<non-ascii>").to_owned())
        .unwrap_or_default()
}

/// GETs `url` with `client` and decodes the JSON body.
pub async fn get_json<T: DeserializeOwned>(
    client: &reqwest::Client,
    url: impl reqwest::IntoUrl,
) -> T {
    client
        .get(url)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json")
}
