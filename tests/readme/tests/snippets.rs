//! README.md's Rust quick start and coming-from.md's Rust "after" snippets, extracted by
//! `build.rs`, compiled here and run against the mock API on tokio's paused clock (the mock
//! runs in the same runtime and reads the same clock, so a quota of minutes takes no time).

use std::cell::RefCell;
use std::fmt;
use std::time::Duration;

use headway_mock::{MockConfig, MockHandle, MockServer, Route};

thread_local! {
    /// The mock's URL for the snippets running on this thread (each test's runtime is its
    /// thread's).
    static BASE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// What the snippets' `https://api.example.com` became: the mock's URL, in `format!`.
struct Base;

impl fmt::Display for Base {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        BASE.with(|b| f.write_str(&b.borrow()))
    }
}

#[allow(non_upper_case_globals)]
const headway_base: Base = Base;

// `async fn run() -> Result<(), Box<dyn Error>>`: the README's quick start.
include!(concat!(env!("OUT_DIR"), "/readme_quickstart.rs"));

// `async fn after_<section>(urls: Vec<String>) -> Result<(), Box<dyn Error>>` for each.
include!(concat!(env!("OUT_DIR"), "/coming_from.rs"));

/// Starts the mock with `route` at `/` and points the snippets at it.
async fn serve(route: Route) -> MockHandle {
    let server = MockServer::start(MockConfig::new().route("/", route))
        .await
        .expect("mock server");
    BASE.with(|b| *b.borrow_mut() = server.url().trim_end_matches('/').to_string());
    server
}

/// The README's quick start as written: 10,000 requests at its `100/min` against a server
/// enforcing exactly that (burst 1), on virtual time. Every one is answered 200 and none
/// draws a 429.
#[tokio::test(start_paused = true)]
async fn the_readme_quick_start_runs_within_its_quota() {
    let server = serve(Route::gcra(100, Duration::from_secs(60), 1)).await;
    run().await.expect("the quick start returns Ok");
    let counts = server.stats().total;
    assert_eq!(
        (counts.admitted, counts.rejected),
        (10_000, 0),
        "{counts:?}"
    );
}

/// governor's "after": five URLs at `10/s` against a server enforcing 10/s, none refused.
#[tokio::test(start_paused = true)]
async fn coming_from_governor_after_runs() {
    let server = serve(Route::gcra(10, Duration::from_secs(1), 1)).await;
    let urls = (0..5)
        .map(|i| server.url_for(&format!("/items/{i}")))
        .collect();
    after_governor(urls).await.expect("Ok");
    let counts = server.stats().total;
    assert_eq!((counts.admitted, counts.rejected), (5, 0), "{counts:?}");
}

/// reqwest-retry's "after": the middleware client builds.
#[tokio::test(start_paused = true)]
async fn coming_from_reqwest_retry_after_builds() {
    after_reqwest_retry(Vec::new()).await.expect("Ok");
}
