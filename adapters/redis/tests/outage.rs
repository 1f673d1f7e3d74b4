//! Redis lost mid-run: a real redis-server stopped and started again while clients (each
//! standing for a process, each with its own connection) fetch from the real mock API.
//! Every item yields exactly one result; with a local fallback the clients go on at their
//! declared share of the quota, and once Redis is back the shared state takes over again.
//!
//! Real time throughout (Redis's `TIME` is the shared clock). The mock's counts of the
//! requests that reached it (admitted or not) are the oracle for what was sent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use headway_mock::{MockConfig, MockHandle, MockServer, Route};
use headway_redis::testing::RedisServer;
use headway_redis::{OnOutage, RedisStore, Share};

const CLIENTS: usize = 4;

async fn store(server: &RedisServer, on_outage: OnOutage) -> RedisStore {
    RedisStore::builder(&server.url())
        .namespace("outage")
        // A stopped server refuses connections at once: the outage is seen without the
        // timeout, which only keeps a loaded machine from passing for a lost Redis.
        .timeout(Duration::from_secs(30))
        .probe_every(Duration::from_millis(50))
        .on_outage(on_outage)
        .connect()
        .await
        .unwrap()
}

/// Requests that reached the mock so far, answered or not.
fn arrived(mock: &MockHandle) -> u64 {
    mock.stats().total.requests
}

/// `items` requests of client `c` through `execute_all` (4 at a time), on its own task;
/// yields every outcome's status, or `None` for an error.
fn run(
    client: headway_tokio::Client,
    mock: &MockHandle,
    c: usize,
    items: usize,
) -> tokio::task::JoinHandle<Vec<Option<u16>>> {
    let requests: Vec<_> = (0..items)
        .map(|i| {
            client
                .reqwest()
                .get(mock.url_for(&format!("/c{c}/{i}")))
                .build()
                .unwrap()
        })
        .collect();
    tokio::spawn(async move {
        client
            .execute_all(
                requests,
                headway_tokio::BatchOptions::new(4).order(headway_tokio::Order::Completion),
            )
            .map(|outcome| outcome.ok().map(|sent| sent.response.status().as_u16()))
            .collect()
            .await
    })
}

async fn evalsha_calls(server: &RedisServer) -> u64 {
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .find(|l| l.starts_with("cmdstat_evalsha:"))
        .and_then(|l| l.split("calls=").nth(1))
        .and_then(|l| l.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

/// Four clients share 100/s; Redis is stopped for 1.5 s mid-run and started again (empty).
/// Declared share: a quarter each, 25/s. No item is lost, at most the share was sent while
/// Redis was down (and clearly more than nothing), and afterwards the reservations are
/// Redis's again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_ride_out_a_redis_restart_at_their_declared_share() {
    let mut server = RedisServer::start().unwrap();
    let mock = MockServer::start(
        MockConfig::new().route("/", Route::gcra(100, Duration::from_secs(1), 4)),
    )
    .await
    .unwrap();
    let share = OnOutage::Local(Share::one_of(CLIENTS as u32).unwrap());
    let mut stores = Vec::new();
    let mut runs = Vec::new();
    for c in 0..CLIENTS {
        let store = store(&server, share).await;
        let client = headway_tokio::Client::builder()
            .quota("100/s")
            .retries(5)
            .shared(Arc::new(store.clone()))
            .build()
            .unwrap();
        stores.push(store);
        runs.push(run(client, &mock, c, 100));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(stores.iter().all(|s| !s.falling_back()));
    let before = arrived(&mock);
    let stopped = Instant::now();
    server.stop();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(stores.iter().all(RedisStore::falling_back));
    let during = arrived(&mock) - before;
    let outage = stopped.elapsed();
    server.restart().unwrap();
    let back_at = arrived(&mock);

    let mut statuses = Vec::new();
    for r in runs {
        let s = r.await.unwrap();
        assert_eq!(s.len(), 100, "one result per item");
        statuses.extend(s);
    }
    assert!(
        statuses.iter().all(|s| *s == Some(200)),
        "every item answered 200: {statuses:?}"
    );
    // Each client's share is 25/s (burst 1): over the outage, at most 25 per second each
    // and one more, plus the turns each had reserved in Redis before it went (4 in flight).
    let share_bound = CLIENTS as u64 * (outage.as_millis() as u64 * 25 / 1_000 + 1 + 4);
    assert!(
        during <= share_bound,
        "{during} requests sent in {outage:?} of outage, more than the share allows ({share_bound})"
    );
    // Going on, not stalled: at least a quarter of the share was used (each 429 at the
    // outage's edges costs its client a one-second Retry-After pause of the 1.5 s).
    let quarter = CLIENTS as u64 * outage.as_millis() as u64 * 25 / 4_000;
    assert!(
        during >= quarter,
        "only {during} requests during the outage"
    );
    // Back: the reservations went to the restarted Redis again, all of the remaining
    // items' bar those reserved locally before the first ping came back.
    let remaining = 400 - back_at.min(400);
    let calls = evalsha_calls(&server).await;
    assert!(
        calls + 20 >= remaining,
        "{calls} reservations in Redis for {remaining} items after it came back"
    );
    assert!(stores.iter().all(|s| !s.falling_back()));
    let total = mock.stats().total;
    assert_eq!(total.admitted, 400, "{total:?}");
    mock.shutdown().await;
}

/// Without a fallback, an outage fails the items it catches with a typed error, one result
/// each, and sends nothing for them; after Redis is back the items go again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_fallback_an_outage_fails_items_and_sends_nothing() {
    let mut server = RedisServer::start().unwrap();
    let mock =
        MockServer::start(MockConfig::new().route("/", Route::gcra(50, Duration::from_secs(1), 2)))
            .await
            .unwrap();
    let store = store(&server, OnOutage::Fail).await;
    let client = headway_tokio::Client::builder()
        .quota("50/s")
        .retries(0)
        .shared(Arc::new(store.clone()))
        .build()
        .unwrap();
    let first = run(client.clone(), &mock, 0, 20);
    // 20 items at 50/s take 0.4 s: stop Redis half-way.
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.stop();
    let before = arrived(&mock);
    let statuses = first.await.unwrap();
    assert_eq!(statuses.len(), 20, "one result per item");
    let failed = statuses.iter().filter(|s| s.is_none()).count();
    assert!(failed > 0, "{statuses:?}");
    assert!(statuses.iter().all(|s| s.is_none() || *s == Some(200)));
    // Nothing but the turns already reserved (4 in flight) went after Redis stopped.
    let after = arrived(&mock) - before;
    assert!(after <= 4, "{after} requests sent without Redis");
    assert!(!store.falling_back());
    let err = client
        .get(mock.url_for("/down"))
        .await
        .expect_err("no turn without Redis");
    assert!(
        matches!(err.error, headway_tokio::ClientError::Shared(_)),
        "{err}"
    );
    // Back: the next items are served through Redis again.
    server.restart().unwrap();
    let mut back = None;
    for _ in 0..100 {
        if let Ok(sent) = client.get(mock.url_for("/back")).await {
            back = Some(sent.response.status());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(back, Some(reqwest::StatusCode::OK));
    assert!(evalsha_calls(&server).await >= 1);
    mock.shutdown().await;
}
