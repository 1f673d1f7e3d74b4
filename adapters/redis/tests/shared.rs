//! Several limiters and clients (each standing for a process) sharing quotas through a real
//! redis-server started by the test, against the real mock API; faults, expiry, namespaces.
//!
//! These run on real time: Redis's `TIME` is the shared clock, which tokio's paused clock
//! cannot move. Nothing here asserts on elapsed time; the mock's own counts are the oracle.
//! Waits and pauses are checked against intervals of a minute, so that seconds lost to a
//! loaded machine between two calls leave the assertions true, and every Redis call may take
//! [`CALL_TIMEOUT`]: a slow answer is not a lost Redis (a stopped server refuses at once).

/// The longest one Redis call may take in these tests.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

use std::sync::Arc;
use std::time::Duration;

use headway_core::Quota;
use headway_mock::{MockConfig, MockServer, Route};
use headway_redis::testing::RedisServer;
use headway_redis::{Clock, ConnectError, RedisStore, SharedError, SharedLimiter};

async fn store(server: &RedisServer, namespace: &str) -> RedisStore {
    RedisStore::builder(&server.url())
        .namespace(namespace)
        .timeout(CALL_TIMEOUT)
        .connect()
        .await
        .unwrap()
}

async fn redis(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Three clients with one strict quota each (burst 1 at the server, as configured), all
/// sending at once through `execute_all`.
async fn three_clients(shared: Option<&RedisServer>) -> headway_mock::Counts {
    let mock =
        MockServer::start(MockConfig::new().route("/", Route::gcra(40, Duration::from_secs(1), 2)))
            .await
            .unwrap();
    let mut runs = Vec::new();
    for _ in 0..3 {
        let mut builder = headway_tokio::Client::builder().quota("40/s").retries(0);
        if let Some(server) = shared {
            builder = builder.shared(Arc::new(store(server, "three").await));
        }
        let client = builder.build().unwrap();
        let urls: Vec<_> = (0..20)
            .map(|i| {
                client
                    .reqwest()
                    .get(mock.url_for(&format!("/i/{i}")))
                    .build()
                    .unwrap()
            })
            .collect();
        runs.push(tokio::spawn(async move {
            use futures_util::StreamExt;
            let outcomes: Vec<_> = client
                .execute_all(
                    urls,
                    headway_tokio::BatchOptions::new(4).order(headway_tokio::Order::Completion),
                )
                .collect()
                .await;
            assert_eq!(outcomes.len(), 20);
        }));
    }
    for run in runs {
        run.await.unwrap();
    }
    let counts = mock.stats().total;
    mock.shutdown().await;
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_sharing_a_quota_through_redis_stay_within_it() {
    let server = RedisServer::start().unwrap();
    let shared = three_clients(Some(&server)).await;
    assert_eq!((shared.admitted, shared.rejected), (60, 0), "{shared:?}");
    // The same three without Redis each send the whole quota: the server rejects some.
    let alone = three_clients(None).await;
    assert!(alone.rejected > 0, "{alone:?}");
}

#[tokio::test]
async fn one_reservation_per_request_in_one_round_trip() {
    let server = RedisServer::start().unwrap();
    let store = store(&server, "calls").await;
    let mut conn = redis(&server).await;
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await
        .unwrap();
    let q = [Quota::per_second(1000).unwrap()];
    for _ in 0..50 {
        let _ = store.reserve("k", &q, 1, u64::MAX).await.unwrap();
    }
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    let calls = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(&format!("cmdstat_{name}:")))
            .and_then(|l| l.split("calls=").nth(1))
            .and_then(|l| l.split(',').next())
            .map_or(0, |n| n.parse::<u64>().unwrap())
    };
    assert_eq!(calls("evalsha"), 50, "{info}");
    assert_eq!(calls("eval"), 0, "{info}");
}

#[tokio::test]
async fn a_reserved_turn_comes_after_the_earlier_ones_of_every_process() {
    let server = RedisServer::start().unwrap();
    let (a, b) = (store(&server, "order").await, store(&server, "order").await);
    let q = [Quota::new(1, Duration::from_secs(60)).unwrap()];
    assert_eq!(a.reserve("k", &q, 1, u64::MAX).await.unwrap().wait_ns(), 0);
    // B's turn is A's plus one interval and the margin, measured on Redis's clock.
    let wait = b.reserve("k", &q, 1, u64::MAX).await.unwrap().wait_ns();
    assert!(wait > 50_000_000_000 && wait <= 60_000_300_000, "{wait}");
    // Too long a wait is refused and reserves nothing.
    let refused = a.reserve("k", &q, 1, 1_000_000_000).await.unwrap_err();
    assert!(matches!(refused, SharedError::WaitTooLong { wait_ns } if wait_ns > 110_000_000_000));
    assert!(matches!(
        a.reserve("k", &q, 2, u64::MAX).await,
        Err(SharedError::Impossible(_))
    ));
}

#[tokio::test]
async fn skewed_caller_clocks_cost_slots_and_redis_time_does_not() {
    let server = RedisServer::start().unwrap();
    let q = [Quota::new(1, Duration::from_secs(10)).unwrap()];
    let caller = RedisStore::builder(&server.url())
        .namespace("skew")
        .clock(Clock::Caller)
        .timeout(CALL_TIMEOUT)
        .connect()
        .await
        .unwrap();
    let now = 1_800_000_000_000_000_000u64;
    // On the caller's clock, a process 20 s ahead finds the quota free again at once.
    assert_eq!(
        caller
            .reserve_at("c", &q, 1, 0, now)
            .await
            .unwrap()
            .wait_ns(),
        0
    );
    assert!(caller.reserve_at("c", &q, 1, 0, now).await.is_err());
    let ahead = now + 20_000_000_000;
    assert_eq!(
        caller
            .reserve_at("c", &q, 1, 0, ahead)
            .await
            .unwrap()
            .wait_ns(),
        0
    );
    // On Redis's clock there is no caller time to disagree about: every process waits.
    let (a, b) = (store(&server, "skew").await, store(&server, "skew").await);
    assert_eq!(a.reserve("r", &q, 1, 0).await.unwrap().wait_ns(), 0);
    assert!(b.reserve("r", &q, 1, 0).await.is_err());
}

#[tokio::test]
async fn a_cancelled_acquisition_gives_its_slot_back() {
    let server = RedisServer::start().unwrap();
    let store = store(&server, "cancel").await;
    let q = [Quota::new(1, Duration::from_secs(10)).unwrap()];
    let limiter = SharedLimiter::new(store.clone(), &q, headway_tokio::limiter()).unwrap();
    let _first = limiter.acquire("k").await.unwrap();
    let waiting = {
        let limiter = limiter.clone();
        tokio::spawn(async move { limiter.acquire("k").await.map(drop) })
    };
    // Its turn is about 10 s away once reserved, so the state lives about 20 s.
    let mut conn = redis(&server).await;
    let key = store.redis_key("k");
    let ttl = |conn: &mut redis::aio::MultiplexedConnection| {
        let mut conn = conn.clone();
        let key = key.clone();
        async move {
            let ms: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            ms
        }
    };
    for tries in 0.. {
        assert!(tries < 5_000, "the waiter never reserved its turn");
        if ttl(&mut conn).await > 15_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    waiting.abort();
    assert!(waiting.await.unwrap_err().is_cancelled());
    // Its slot comes back (the refund runs on its own task): the state lives 10 s again,
    // and the next turn is within 15 s.
    for tries in 0.. {
        assert!(
            tries < 5_000,
            "the cancelled waiter's slot was never given back"
        );
        if ttl(&mut conn).await <= 10_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let r = store.reserve("k", &q, 1, 15_000_000_000).await.unwrap();
    assert!(r.wait_ns() > 5_000_000_000);
    // A slot that is no longer the latest is not given back: one reserved after it stays.
    let mut old = r;
    let _later = store.reserve("k", &q, 1, u64::MAX).await.unwrap();
    assert!(!store.refund("k", &mut old).await.unwrap());
}

/// A caller's margin for the key (its key machine's adaptive margin, wider after 429s)
/// spaces the turn after its reservation by that much more than the store's own.
#[tokio::test]
async fn a_callers_margin_pushes_the_next_turn_out() {
    use headway_redis::SharedRate;
    let server = RedisServer::start().unwrap();
    let store = store(&server, "margin").await;
    let conn = redis(&server).await;
    let q = [Quota::new(1, Duration::from_secs(60)).unwrap()];
    let pttl = |key: &str| {
        let key = store.redis_key(key);
        let mut conn = conn.clone();
        async move {
            let ms: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            ms
        }
    };
    // The store's margin (0.3 ms): the next turn, and the state's life, one interval on.
    store
        .reserve_with_margin("narrow", &q, 1, u64::MAX, 0)
        .await
        .unwrap()
        .keep();
    let narrow = pttl("narrow").await;
    assert!(narrow > 50_000 && narrow <= 60_001, "{narrow}");
    // A caller's margin of 30 s: 90 s on (an exaggerated margin, so that seconds lost to a
    // loaded machine cannot blur the difference).
    let wide_margin = 30_000_000_000;
    store
        .reserve_with_margin("wide", &q, 1, u64::MAX, wide_margin)
        .await
        .unwrap()
        .keep();
    let wide = pttl("wide").await;
    assert!(wide > 80_000 && wide <= 90_000, "{wide}");
    // The margin is the key's, not the caller's alone: another process asking for none
    // after it is spaced by it too (less 1/1024 of it), its turn 90 s away and the next
    // one 60 s and the margin after that.
    let other = self::store(&server, "margin").await;
    let turn = SharedRate::reserve_with_margin(&other, "wide", &q, 1, u64::MAX, 0)
        .await
        .unwrap();
    assert!(turn.wait_ns() > 80_000_000_000, "{turn:?}");
    turn.keep();
    let after = pttl("wide").await;
    assert!(after > 170_000 && after <= 180_000, "{after}");
    // Without a margin of its own, a reservation through the trait is the store's.
    SharedRate::reserve(&store, "plain", &q, 1, u64::MAX)
        .await
        .unwrap()
        .keep();
    let plain = pttl("plain").await;
    assert!(plain > 50_000 && plain <= 60_001, "{plain}");
}

#[tokio::test]
async fn a_pause_seen_by_one_process_holds_every_process() {
    let server = RedisServer::start().unwrap();
    let (a, b) = (store(&server, "pause").await, store(&server, "pause").await);
    let q = [Quota::per_second(100).unwrap()];
    a.pause("k", 60_000_000_000).await.unwrap();
    let wait = b.reserve("k", &q, 1, u64::MAX).await.unwrap().wait_ns();
    assert!(wait > 50_000_000_000 && wait <= 60_000_000_000, "{wait}");
    // Other keys are not paused.
    assert_eq!(b.reserve("other", &q, 1, 0).await.unwrap().wait_ns(), 0);
}

/// A 429 with `Retry-After` answered to one client pauses the others on the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_servers_retry_after_reaches_every_client() {
    let server = RedisServer::start().unwrap();
    // The mock allows one request per 2 s; a second request at once gets 429, Retry-After 2.
    let mock =
        MockServer::start(MockConfig::new().route("/", Route::gcra(1, Duration::from_secs(2), 1)))
            .await
            .unwrap();
    let client = |store: RedisStore| {
        headway_tokio::Client::builder()
            .quota("100/s")
            .retries(0)
            .shared(Arc::new(store))
            .build()
            .unwrap()
    };
    let (a, b) = (
        client(store(&server, "ra").await),
        client(store(&server, "ra").await),
    );
    assert_eq!(
        a.get(mock.url_for("/1")).await.unwrap().response.status(),
        200
    );
    assert_eq!(
        a.get(mock.url_for("/2")).await.unwrap().response.status(),
        429
    );
    // The pause is written to Redis on a task of its own: wait until it is there (a B
    // that reserved before it landed would not know of it).
    let mut conn = redis(&server).await;
    for tries in 0.. {
        assert!(tries < 5_000, "the pause never reached Redis");
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("ra:*")
            .query_async(&mut conn)
            .await
            .unwrap();
        let mut paused = false;
        for k in keys {
            let p: Option<f64> = redis::cmd("HGET")
                .arg(&k)
                .arg("p")
                .query_async(&mut conn)
                .await
                .unwrap();
            paused |= p.is_some_and(|p| p > 0.0);
        }
        if paused {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // B has heard nothing from the server itself, yet its request waits out the pause.
    let sent = b.get(mock.url_for("/3")).await.unwrap();
    assert_eq!(sent.response.status(), 200);
    assert_eq!(mock.stats().total.rejected, 1);
    mock.shutdown().await;
}

#[tokio::test]
async fn state_expires_once_it_carries_nothing() {
    let server = RedisServer::start().unwrap();
    let store = store(&server, "expiry").await;
    let mut conn = redis(&server).await;
    let key = store.redis_key("k");
    let q = [Quota::new(1, Duration::from_secs(60)).unwrap()];
    let mut r = store.reserve("k", &q, 1, u64::MAX).await.unwrap();
    // It lives until the quota is free again: one interval and the margin.
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 50_000 && ttl <= 60_001, "{ttl}");
    // Given back, the only reservation leaves nothing: the state is gone at once.
    assert!(store.refund("k", &mut r).await.unwrap());
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 0);
    // A pause lives as long as the pause.
    store.pause("k", 60_000_000_000).await.unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 50_000 && ttl <= 60_000, "{ttl}");
    // Every key written has an expiry.
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    for k in keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&k)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(ttl > 0, "{k} has no expiry");
    }
}

#[tokio::test]
async fn namespaces_do_not_share_quotas() {
    let server = RedisServer::start().unwrap();
    let (a, b) = (store(&server, "app-a").await, store(&server, "app-b").await);
    let q = [Quota::new(1, Duration::from_secs(10)).unwrap()];
    assert_eq!(a.reserve("k", &q, 1, 0).await.unwrap().wait_ns(), 0);
    assert_eq!(b.reserve("k", &q, 1, 0).await.unwrap().wait_ns(), 0);
    assert!(a.reserve("k", &q, 1, 0).await.is_err());
    assert_eq!(a.redis_key("k"), "app-a:{k}");
}

#[tokio::test]
async fn redis_down_is_a_typed_error_within_the_timeout() {
    let mut server = RedisServer::start().unwrap();
    let port = server.port();
    let store = RedisStore::builder(&server.url())
        .timeout(CALL_TIMEOUT)
        .connect()
        .await
        .unwrap();
    let q = [Quota::per_second(10).unwrap()];
    let _ = store.reserve("k", &q, 1, u64::MAX).await.unwrap();
    server.stop();
    let lost = store.reserve("k", &q, 1, u64::MAX).await.unwrap_err();
    assert!(matches!(lost, SharedError::Unavailable(_)), "{lost:?}");
    // Unreachable at start: a typed error, not a hang.
    let refused = RedisStore::builder(&format!("redis://127.0.0.1:{port}"))
        .timeout(CALL_TIMEOUT)
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ConnectError::Unreachable(_)),
        "{refused:?}"
    );
    // A peer that takes the connection and never answers: the timeout's own typed error
    // (a loaded machine can only make it come later, never sooner).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("redis://{}", silent.local_addr().unwrap());
    let hung = RedisStore::builder(&silent_url)
        .timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(hung, ConnectError::Timeout(Duration::from_millis(300)));
    // Back (empty, without the script): the store reconnects and loads the script again.
    server.restart().unwrap();
    let mut back = None;
    for _ in 0..200 {
        match store.reserve("k", &q, 1, u64::MAX).await {
            Ok(r) => {
                back = Some(r);
                break;
            }
            Err(SharedError::Unavailable(_)) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(back.expect("the store never came back").wait_ns(), 0);
    // A client whose store is down fails the call with a typed error and sends nothing.
    server.stop();
    let client = headway_tokio::Client::builder()
        .quota("10/s")
        .shared(Arc::new(store))
        .build()
        .unwrap();
    let failed = client.get("http://127.0.0.1:9/never").await.unwrap_err();
    assert!(
        matches!(failed.error, headway_tokio::ClientError::Shared(_)),
        "{failed}"
    );
    assert_eq!(failed.attempts, 0);
}
