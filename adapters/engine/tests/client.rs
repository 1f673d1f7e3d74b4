//! The shared retry loop ([`Client`]) against a scripted in-memory transport on the virtual
//! clock: what each response makes the client do, and exactly when it sends again.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{join, join_all};
use headway_core::backoff::{Backoff, Jitter};
use headway_core::Quota;
use headway_engine::testing::FakeRuntime;
use headway_engine::{
    BreakerPolicy, BudgetPolicy, Client, ClientConfig, ClientError, Event, QuotaSource, Request,
    Response, Runtime, Transport,
};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

/// What the scripted server does with one request.
#[derive(Clone, Debug)]
enum Step {
    /// Answer at once with this status and headers.
    Reply(u16, Vec<(&'static str, String)>),
    /// Answer after `ns` of latency.
    Slow(u64, u16, Vec<(&'static str, String)>),
    /// Go on the wire `ns` after the send began, be answered 200 at once, and say so.
    Late(u64),
    /// Fail to connect.
    Error,
    /// Never answer.
    Hang,
}

fn status(code: u16) -> Step {
    Step::Reply(code, Vec::new())
}

fn with_header(code: u16, name: &'static str, value: &str) -> Step {
    Step::Reply(code, vec![(name, value.to_string())])
}

#[derive(Clone, Debug)]
struct Req {
    key: &'static str,
    method: &'static str,
    id: u32,
    replayable: bool,
}

fn get(key: &'static str, id: u32) -> Req {
    Req {
        key,
        method: "GET",
        id,
        replayable: true,
    }
}

fn post(key: &'static str, id: u32) -> Req {
    Req {
        method: "POST",
        ..get(key, id)
    }
}

impl Request for Req {
    fn method(&self) -> &str {
        self.method
    }

    fn try_clone(&self) -> Option<Req> {
        self.replayable.then(|| self.clone())
    }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(&'static str, String)>,
    id: u32,
    /// When the request went on the wire, when the transport says.
    sent_at: Option<u64>,
}

impl Response for Resp {
    fn status(&self) -> u16 {
        self.status
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn sent_at(&self) -> Option<u64> {
        self.sent_at
    }
}

#[derive(Debug, PartialEq, Eq)]
struct NetError;

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection refused")
    }
}

/// One send: when, to which key, which request.
type SendLog = Vec<(u64, &'static str, u32)>;

/// A scripted transport: per key, a queue of steps (then 200s), and a log of every send as
/// `(time, key, request id)`.
#[derive(Clone)]
struct Script {
    rt: FakeRuntime,
    steps: Rc<RefCell<HashMap<&'static str, VecDeque<Step>>>>,
    log: Rc<RefCell<SendLog>>,
}

impl Script {
    fn new(rt: &FakeRuntime) -> Script {
        Script {
            rt: rt.clone(),
            steps: Rc::default(),
            log: Rc::default(),
        }
    }

    fn on(self, key: &'static str, steps: impl IntoIterator<Item = Step>) -> Script {
        self.steps
            .borrow_mut()
            .entry(key)
            .or_default()
            .extend(steps);
        self
    }

    fn sends(&self) -> SendLog {
        self.log.borrow().clone()
    }

    fn times(&self, key: &str) -> Vec<u64> {
        self.log
            .borrow()
            .iter()
            .filter(|(_, k, _)| *k == key)
            .map(|&(t, _, _)| t)
            .collect()
    }
}

impl Transport for Script {
    type Request = Req;
    type Response = Resp;
    type Error = NetError;
    type Sending = Pin<Box<dyn Future<Output = Result<Resp, NetError>>>>;

    fn key(&self, request: &Req) -> String {
        request.key.to_string()
    }

    fn send(&self, request: Req) -> Self::Sending {
        self.log
            .borrow_mut()
            .push((self.rt.now_ns(), request.key, request.id));
        let step = self
            .steps
            .borrow_mut()
            .get_mut(request.key)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| status(200));
        let rt = self.rt.clone();
        let id = request.id;
        Box::pin(async move {
            match step {
                Step::Reply(status, headers) => Ok(Resp {
                    status,
                    headers,
                    id,
                    sent_at: None,
                }),
                Step::Slow(ns, status, headers) => {
                    rt.sleep_until(rt.now_ns() + ns).await;
                    Ok(Resp {
                        status,
                        headers,
                        id,
                        sent_at: None,
                    })
                }
                Step::Late(ns) => {
                    rt.sleep_until(rt.now_ns() + ns).await;
                    Ok(Resp {
                        status: 200,
                        headers: Vec::new(),
                        id,
                        sent_at: Some(rt.now_ns()),
                    })
                }
                Step::Error => Err(NetError),
                Step::Hang => std::future::pending().await,
            }
        })
    }
}

/// Asserts that the error of a failed call `f` matches a pattern (with an optional guard),
/// showing the error when it does not.
macro_rules! assert_error {
    ($f:expr, $($pattern:tt)+) => {
        assert!(matches!($f.error, $($pattern)+), "{:?}", $f.error)
    };
}

/// A client whose schedule is exact: no pause jitter, no safety margin.
fn config() -> ClientConfig {
    ClientConfig {
        pause_jitter_max: Duration::ZERO,
        margin: None,
        ..ClientConfig::default()
    }
}

/// By default each admission's spacing carries the key's safety margin (150 us to begin
/// with), and an on-schedule 429 widens it for the requests that follow.
#[test]
fn the_default_margin_spaces_a_strict_quota_and_a_429_widens_it() {
    let rt = FakeRuntime::new();
    let c = client(
        &rt,
        ClientConfig {
            quotas: vec![Quota::per_second(100).unwrap()],
            pause_jitter_max: Duration::ZERO,
            ..ClientConfig::default()
        },
    );
    let t = Script::new(&rt).on("a", [200, 200, 429, 200, 200, 200].map(status));
    let calls = (0..5).map(|i| c.execute(&t, get("a", i)));
    let results = rt.run(join_all(calls));
    assert!(results.iter().all(Result::is_ok));
    // 10 ms + 150 us apart. The 429 (no Retry-After) comes back at once, at 20.3 ms: the
    // next admission (its turn already taken at 30.45 ms) is the first to carry the doubled
    // margin, so the one after it goes 10 ms + 300 us later. The 429 is retried after its
    // backoff, last.
    let times = t.times("a");
    assert_eq!(
        times[..5],
        [0, 10_150_000, 20_300_000, 30_450_000, 40_750_000],
        "{times:?}"
    );
    assert!(times[5] > times[4], "{times:?}");
    // The margin in force shows in the key's snapshot.
    assert_eq!(c.stats().keys[0].1.margin, Duration::from_micros(300));
}

/// A transport that says when its request actually went out (later than its admission) has
/// the next request spaced from that send; one that says nothing is spaced from the
/// admission.
#[test]
fn a_send_that_went_out_late_spaces_the_next_from_the_wire() {
    let rt = FakeRuntime::new();
    let c = client(
        &rt,
        ClientConfig {
            quotas: vec![Quota::per_second(100).unwrap()],
            ..config()
        },
    );
    let t = Script::new(&rt)
        .on("late", [Step::Late(2 * MS), status(200), status(200)])
        .on("silent", [Step::Slow(2 * MS, 200, Vec::new()), status(200)]);
    let late = join_all((0..3).map(|i| c.execute(&t, get("late", i))));
    let silent = join_all((0..2).map(|i| c.execute(&t, get("silent", i))));
    let (late, silent) = rt.run(join(late, silent));
    assert!(late.iter().chain(&silent).all(Result::is_ok));
    // On the wire at 2 ms: the next goes 10 ms after that, the one after 10 ms later.
    assert_eq!(t.times("late"), [0, 12 * MS, 22 * MS]);
    assert_eq!(t.times("silent"), [0, 10 * MS]);
}

/// A breaker that opens after three consecutive failures, for ten seconds.
fn three_failures_open_for_10_s() -> Option<BreakerPolicy> {
    Some(BreakerPolicy {
        failure_threshold: 3,
        open_for_ns: 10 * S,
    })
}

fn client(rt: &FakeRuntime, config: ClientConfig) -> Client<FakeRuntime> {
    Client::new(rt.clone(), config).unwrap()
}

#[test]
fn retry_after_pauses_the_key_and_the_retry_waits_exactly_that_long() {
    let rt = FakeRuntime::new();
    let c = client(&rt, config());
    let t = Script::new(&rt).on("a", [with_header(429, "Retry-After", "3")]);
    let sent = rt.run(c.execute(&t, get("a", 0))).unwrap();
    assert_eq!((sent.response.status, sent.attempts), (200, 2));
    assert_eq!(t.times("a"), vec![0, 3 * S]);
    assert_eq!(sent.waited, Duration::from_secs(3));
    assert_eq!(c.stats().rate_limited, 1);
}

/// The jitter on a server-requested pause is up to a tenth of it (here 300 ms of a 3 s
/// `Retry-After`), never negative, and differs from client to client: twenty clients, each
/// on a runtime whose seeds start at a different point, retry at twenty different times, all
/// within `[3 s, 3.3 s]`, spread over both halves of that window.
#[test]
fn retry_after_is_jittered_upwards_only() {
    let mut retries = Vec::new();
    for skip in 0..20 {
        let rt = FakeRuntime::new();
        // Each call of `seed` gives the next seed: skipping some gives this client's jitter
        // a seed no other sample's client had.
        for _ in 0..skip * 1000 {
            rt.seed();
        }
        let c = client(&rt, ClientConfig::default());
        let t = Script::new(&rt).on("a", [with_header(429, "Retry-After", "3")]);
        let sent = rt.run(c.execute(&t, get("a", 0))).unwrap();
        let times = t.times("a");
        assert_eq!(times.len(), 2, "{times:?}");
        assert_eq!(times[0], 0);
        assert_eq!(sent.waited, Duration::from_nanos(times[1]));
        retries.push(times[1]);
    }
    for &r in &retries {
        assert!(
            (3 * S..=3025 * MS).contains(&r),
            "retried at {r}: {retries:?}"
        );
    }
    let mut distinct = retries.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        retries.len(),
        "jitter repeated: {retries:?}"
    );
    assert!(
        retries.iter().any(|&r| r < 3012 * MS) && retries.iter().any(|&r| r > 3013 * MS),
        "jitter not spread over [0, 25 ms]: {retries:?}"
    );
}

#[test]
fn a_429_pauses_every_queued_request_of_its_key_and_no_other() {
    let rt = FakeRuntime::new();
    let c = client(
        &rt,
        ClientConfig {
            per_key_concurrency: Some(1),
            ..config()
        },
    );
    // The first request to "a" takes 100 ms and comes back 429, Retry-After 3, while two
    // more requests to "a" are queued behind it. "b" is another key, already known (it was
    // answered at 0). At 200 ms, with the 429 received and the pause in force, one more
    // request goes to "a" and one to "b".
    let t = Script::new(&rt).on(
        "a",
        [Step::Slow(
            100 * MS,
            429,
            vec![("Retry-After", "3".to_string())],
        )],
    );
    let first = join_all([get("a", 0), get("a", 1), get("a", 2)].map(|r| c.execute(&t, r)));
    let b_key = "b".to_string();
    let other_key = async {
        let b3 = c.execute(&t, get("b", 3)).await;
        rt.sleep_until(200 * MS).await;
        assert_eq!(c.stats().rate_limited, 1, "the 429 has not arrived yet");
        let a = c.limiter().snapshot("a").paused_for;
        assert_eq!(
            a,
            Duration::from_millis(2900),
            "key a is not paused until 3.1 s"
        );
        let b = c.limiter().snapshot(&b_key).paused_for;
        assert_eq!(b, Duration::ZERO, "key b is paused too");
        let (a4, b5) = join(c.execute(&t, get("a", 4)), c.execute(&t, get("b", 5))).await;
        (b3, a4, b5)
    };
    let (outs, (b3, a4, b5)) = rt.run(join(first, other_key));
    assert!(outs
        .iter()
        .chain([&b3, &a4, &b5])
        .all(|o| o.as_ref().unwrap().response.status == 200));
    // "b" went at once, also during "a"'s pause.
    let b_sends: Vec<_> = t.sends().into_iter().filter(|s| s.1 == "b").collect();
    assert_eq!(b_sends, vec![(0, "b", 3), (200 * MS, "b", 5)]);
    assert_eq!(b5.unwrap().waited, Duration::ZERO);
    // Nothing else reached "a" before 100 ms + 3 s; the queued ones went first (FIFO), then
    // the retry, then the request that came during the pause.
    let a_sends: Vec<_> = t.sends().into_iter().filter(|s| s.1 == "a").collect();
    assert_eq!(
        a_sends,
        vec![
            (0, "a", 0),
            (3100 * MS, "a", 1),
            (3100 * MS, "a", 2),
            (3100 * MS, "a", 0),
            (3100 * MS, "a", 4),
        ]
    );
    assert_eq!(a4.unwrap().waited, Duration::from_millis(2900));
}

#[test]
fn a_503_is_retried_with_backoff() {
    let rt = FakeRuntime::new();
    let c = client(&rt, config());
    let t = Script::new(&rt).on("a", [status(503), status(503)]);
    let sent = rt.run(c.execute(&t, get("a", 0))).unwrap();
    assert_eq!((sent.response.status, sent.attempts), (200, 3));
    let times = t.times("a");
    // Full jitter: the first delay is at most 100 ms, the second at most 200 ms.
    assert!(times[1] <= 100 * MS, "{times:?}");
    assert!(times[2] - times[1] <= 200 * MS, "{times:?}");
    assert_eq!(sent.waited, Duration::from_nanos(times[2]));
    assert_eq!(c.stats().retries, 2);
}

#[test]
fn a_503_on_post_is_retried_but_a_500_is_not() {
    let rt = FakeRuntime::new();
    let c = client(&rt, config());
    let t = Script::new(&rt).on("a", [status(503), status(500)]);
    // 503: the server did not process it, so even a POST goes again; then 500 is final.
    let sent = rt.run(c.execute(&t, post("a", 0))).unwrap();
    assert_eq!((sent.response.status, sent.attempts), (500, 2));
    assert_eq!(t.sends().len(), 2);
}

#[test]
fn a_500_is_retried_for_get_and_not_for_post() {
    let rt = FakeRuntime::new();
    let c = client(&rt, config());
    let t = Script::new(&rt).on("a", [status(500)]);
    let sent = rt.run(c.execute(&t, post("a", 0))).unwrap();
    assert_eq!((sent.response.status, sent.attempts), (500, 1));
    assert_eq!(t.sends().len(), 1);

    let t = Script::new(&rt).on("a", [status(500), status(502)]);
    let sent = rt.run(c.execute(&t, get("a", 1))).unwrap();
    assert_eq!((sent.response.status, sent.attempts), (200, 3));

    // Opted in: a POST is retried too.
    let c = client(
        &rt,
        ClientConfig {
            retry_non_idempotent: true,
            ..config()
        },
    );
    let t = Script::new(&rt).on("a", [status(500)]);
    let sent = rt.run(c.execute(&t, post("a", 2))).unwrap();
    assert_eq!((sent.response.status, sent.attempts), (200, 2));
}

#[test]
fn a_body_that_cannot_be_replayed_is_not_retried() {
    let rt = FakeRuntime::new();
    let c = client(&rt, config());
    let t = Script::new(&rt).on("a", [status(503)]);
    let req = Req {
        replayable: false,
        ..get("a", 0)
    };
    let sent = rt.run(c.execute(&t, req)).unwrap();
    assert_eq!((sent.response.status, sent.attempts), (503, 1));
}

#[test]
fn an_empty_retry_budget_returns_the_last_response() {
    let rt = FakeRuntime::new();
    // One retry saved, no floor, nothing earned from successes (there are none).
    let c = client(
        &rt,
        ClientConfig {
            budget: Some(BudgetPolicy {
                ratio_permille: 1000,
                min_retries_per_sec: 0,
                max_balance: 1,
            }),
            ..config()
        },
    );
    let t = Script::new(&rt).on("a", vec![status(503); 10]);
    let sent = rt.run(c.execute(&t, get("a", 0))).unwrap();
    assert_eq!((sent.response.status, sent.attempts), (503, 2));
    let stats = c.stats();
    assert_eq!((stats.retries, stats.sent, stats.failed), (1, 2, 0));
}

#[test]
fn retries_an_empty_budget_cannot_pay_for_wait_for_its_floor() {
    let rt = FakeRuntime::new();
    // One retry saved, refilled at one per second: every later retry waits for its token.
    let c = client(
        &rt,
        ClientConfig {
            budget: Some(BudgetPolicy {
                ratio_permille: 0,
                min_retries_per_sec: 1,
                max_balance: 1,
            }),
            ..config()
        },
    );
    let t = Script::new(&rt).on("a", vec![status(503); 10]);
    let sent = rt.run(c.execute(&t, get("a", 0))).unwrap();
    // All five retries of the backoff went, the last four about a second apart.
    assert_eq!((sent.response.status, sent.attempts), (503, 6));
    assert!(sent.waited >= Duration::from_secs(3), "{:?}", sent.waited);
    let stats = c.stats();
    assert_eq!((stats.retries, stats.sent, stats.failed), (5, 6, 0));
}

#[test]
fn a_server_wait_beyond_max_wait_is_a_typed_error_at_once() {
    let rt = FakeRuntime::new();
    let c = client(
        &rt,
        ClientConfig {
            max_wait: Duration::from_secs(60),
            ..config()
        },
    );
    let t = Script::new(&rt).on("a", [with_header(429, "Retry-After", "3600")]);
    let f = rt.run(c.execute(&t, get("a", 0))).unwrap_err();
    assert_error!(f, ClientError::WaitTooLong { wait, server: true } if wait == Duration::from_secs(3600));
    assert_eq!(f.attempts, 1);
    assert_eq!(rt.now_ns(), 0, "it slept instead of failing");
    // The key stays paused: the next call fails at once without reaching the server.
    let f = rt.run(c.execute(&t, get("a", 1))).unwrap_err();
    assert_error!(f, ClientError::WaitTooLong { .. });
    assert_eq!((f.attempts, t.sends().len()), (0, 1));
    // An absurd value saturates instead of overflowing.
    let t = Script::new(&rt).on(
        "b",
        [with_header(503, "Retry-After", "99999999999999999999")],
    );
    let f = rt.run(c.execute(&t, get("b", 2))).unwrap_err();
    assert_error!(f, ClientError::WaitTooLong { .. });
}

#[test]
fn transport_errors_are_retried_with_backoff_then_fail_with_the_attempt_count() {
    let rt = FakeRuntime::new();
    let c = client(
        &rt,
        ClientConfig {
            breaker: None,
            backoff: Backoff::default().with_max_attempts(3),
            ..config()
        },
    );
    let t = Script::new(&rt).on("a", vec![Step::Error; 10]);
    let f = rt.run(c.execute(&t, get("a", 0))).unwrap_err();
    assert_error!(f, ClientError::Transport(NetError));
    assert_eq!(f.attempts, 4);
    let times = t.times("a");
    assert_eq!(times.len(), 4);
    for (k, w) in times.windows(2).enumerate() {
        let cap = (100 * MS) << k;
        assert!(w[1] - w[0] <= cap, "delay {k} was {} ns", w[1] - w[0]);
    }
    assert_eq!(f.waited, Duration::from_nanos(times[3]));
    assert_eq!(c.stats().failed, 1);
}

#[test]
fn a_breaker_opening_during_retries_returns_what_the_server_said() {
    let rt = FakeRuntime::new();
    // The probe, 10 s after the breaker opens, is past max_wait: the call cannot wait for it.
    let c = client(
        &rt,
        ClientConfig {
            breaker: three_failures_open_for_10_s(),
            backoff: Backoff::default().with_max_attempts(10),
            max_wait: Duration::from_secs(5),
            ..config()
        },
    );
    // Three connection errors open the breaker: the caller gets the transport error that
    // caused it, not a bare "circuit open".
    let t = Script::new(&rt).on("a", vec![Step::Error; 10]);
    let f = rt.run(c.execute(&t, get("a", 0))).unwrap_err();
    assert_error!(f, ClientError::Transport(NetError));
    assert_eq!((f.attempts, t.times("a").len()), (3, 3));
    // Three 500s on another key: the caller gets the last 500 response.
    let t = Script::new(&rt).on("b", vec![status(500); 10]);
    let sent = rt.run(c.execute(&t, get("b", 1))).unwrap();
    assert_eq!((sent.response.status, sent.attempts), (500, 3));
    // A fresh call on the open key fails fast without sending.
    let f = rt.run(c.execute(&t, get("b", 2))).unwrap_err();
    assert_error!(f, ClientError::CircuitOpen { .. });
    assert_eq!(t.times("b").len(), 3);
}

#[test]
fn backoff_without_jitter_is_exact() {
    let rt = FakeRuntime::new();
    let c = client(
        &rt,
        ClientConfig {
            breaker: None,
            backoff: Backoff::new(100 * MS, 10 * S)
                .unwrap()
                .with_jitter(Jitter::None)
                .with_max_attempts(3),
            ..config()
        },
    );
    let t = Script::new(&rt).on("a", vec![Step::Error; 2]);
    let sent = rt.run(c.execute(&t, get("a", 0))).unwrap();
    assert_eq!(sent.attempts, 3);
    assert_eq!(t.times("a"), vec![0, 100 * MS, 300 * MS]);
}

#[test]
fn a_post_that_fails_to_connect_is_not_retried() {
    let rt = FakeRuntime::new();
    let c = client(&rt, config());
    let t = Script::new(&rt).on("a", [Step::Error]);
    let f = rt.run(c.execute(&t, post("a", 0))).unwrap_err();
    assert_error!(f, ClientError::Transport(_));
    assert_eq!(f.attempts, 1);
}

#[test]
fn a_request_without_an_answer_times_out() {
    let rt = FakeRuntime::new();
    let c = client(
        &rt,
        ClientConfig {
            timeout: Some(Duration::from_secs(2)),
            backoff: Backoff::default().with_max_attempts(0),
            ..config()
        },
    );
    let t = Script::new(&rt).on("a", [Step::Hang]);
    let f = rt.run(c.execute(&t, get("a", 0))).unwrap_err();
    assert_error!(f, ClientError::Timeout { after } if after == Duration::from_secs(2));
    assert_eq!(rt.now_ns(), 2 * S);
    // With retries, the timed-out attempt is sent again.
    let c = client(
        &rt,
        ClientConfig {
            timeout: Some(Duration::from_secs(2)),
            ..config()
        },
    );
    let t = Script::new(&rt).on("a", [Step::Hang]);
    let start = rt.now_ns();
    let sent = rt.run(c.execute(&t, get("a", 1))).unwrap();
    assert_eq!((sent.response.status, sent.attempts), (200, 2));
    let times = t.times("a");
    assert!(times[1] - start >= 2 * S, "{times:?}");
    // A slow answer inside the timeout is not cut off.
    let t = Script::new(&rt).on("a", [Step::Slow(1900 * MS, 200, Vec::new())]);
    let sent = rt.run(c.execute(&t, get("a", 2))).unwrap();
    assert_eq!(sent.attempts, 1);
}

#[test]
fn the_breaker_opens_after_five_failures_and_fails_fast_past_max_wait() {
    let rt = FakeRuntime::new();
    // Open for 10 s, max_wait 5 s: a call on the open key cannot wait for the probe.
    let c = client(
        &rt,
        ClientConfig {
            max_wait: Duration::from_secs(5),
            ..config()
        },
    );
    let t = Script::new(&rt).on("a", vec![status(500); 5]);
    for i in 0..5 {
        let sent = rt.run(c.execute(&t, post("a", i))).unwrap();
        assert_eq!(sent.response.status, 500);
        rt.advance(MS);
    }
    let f = rt.run(c.execute(&t, post("a", 5))).unwrap_err();
    assert_error!(
        f,
        ClientError::CircuitOpen { retry_in }
            if retry_in > Duration::from_secs(9) && retry_in <= Duration::from_secs(10)
    );
    assert_eq!(f.attempts, 0);
    assert_eq!(t.sends().len(), 5, "an open breaker let a request through");
    // Another key is not affected.
    assert!(rt.run(c.execute(&t, post("b", 6))).is_ok());
    // After the open time, one probe goes; its success closes the breaker.
    rt.advance(10 * S);
    let sent = rt.run(c.execute(&t, post("a", 7))).unwrap();
    assert_eq!(sent.response.status, 200);
    assert!(rt.run(c.execute(&t, post("a", 8))).is_ok());
}

/// Within max_wait, an open breaker is waited out rather than failing every call at once:
/// the first call to ask becomes the probe when the open time ends; the others, finding it in
/// flight, look again a tenth of the open time later, find the breaker closed by the probe's
/// success and go, all with the server's answer rather than "circuit open".
#[test]
fn an_open_breaker_is_waited_out_within_max_wait() {
    let rt = FakeRuntime::new();
    let c = client(
        &rt,
        ClientConfig {
            breaker: three_failures_open_for_10_s(),
            ..config()
        },
    );
    // The probe's answer takes half a second: the others see it in flight.
    let mut steps = vec![Step::Error; 3];
    steps.push(Step::Slow(500 * MS, 200, Vec::new()));
    steps.extend(vec![status(200); 2]);
    let t = Script::new(&rt).on("a", steps);
    // POSTs are not retried: three calls, three connection errors, and the breaker opens.
    for i in 0..3 {
        let f = rt.run(c.execute(&t, post("a", i))).unwrap_err();
        assert_error!(f, ClientError::Transport(NetError));
    }
    let calls = (3..6).map(|i| c.execute(&t, post("a", i)));
    let results = rt.run(join_all(calls));
    for r in &results {
        let sent = r.as_ref().expect("every call gets the server's answer");
        assert_eq!((sent.response.status, sent.attempts), (200, 1));
    }
    // The others queue behind the open breaker, then behind its probe, and go the moment
    // its success comes back.
    assert_eq!(
        t.times("a"),
        [0, 0, 0, 10 * S, 10 * S + 500 * MS, 10 * S + 500 * MS]
    );
}

#[test]
fn rate_limited_responses_never_open_the_breaker() {
    let rt = FakeRuntime::new();
    let c = client(
        &rt,
        ClientConfig {
            backoff: Backoff::default().with_max_attempts(0),
            ..config()
        },
    );
    let t = Script::new(&rt).on("a", vec![status(429); 10]);
    for i in 0..10 {
        let sent = rt.run(c.execute(&t, post("a", i))).unwrap();
        assert_eq!(sent.response.status, 429);
    }
    assert!(rt.run(c.execute(&t, post("a", 10))).is_ok());
}

#[test]
fn a_quota_is_learned_from_ratelimit_policy() {
    let rt = FakeRuntime::new();
    let c = client(&rt, config());
    let t = Script::new(&rt).on(
        "a",
        [with_header(200, "RateLimit-Policy", "\"default\";q=10;w=1")],
    );
    rt.run(c.execute(&t, get("a", 0))).unwrap();
    let stats = c.stats();
    let (_, snap) = stats
        .keys
        .iter()
        .find(|(k, _)| k == "a")
        .expect("key a is known");
    assert_eq!(snap.quotas, vec![Quota::per_second(10).unwrap()]);
    assert_eq!(snap.source, QuotaSource::Learned);
    assert_eq!(
        stats.quotas("a"),
        Some(&[Quota::per_second(10).unwrap()][..])
    );
    // The learned quota paces the key: 100 ms apart from here on.
    let reqs: Vec<_> = (1..5).map(|i| get("a", i)).collect();
    rt.run(join_all(reqs.into_iter().map(|r| c.execute(&t, r))));
    let times = t.times("a");
    for w in times[1..].windows(2) {
        assert_eq!(w[1] - w[0], 100 * MS, "{times:?}");
    }
    // A learned quota that the configured one already keeps the client within adds nothing:
    // configured 2/s, server 10/s.
    let c = client(
        &rt,
        ClientConfig {
            quotas: vec![Quota::per_second(2).unwrap()],
            ..config()
        },
    );
    let t = Script::new(&rt).on(
        "a",
        [with_header(200, "RateLimit-Policy", "\"default\";q=10;w=1")],
    );
    rt.run(c.execute(&t, get("a", 0))).unwrap();
    let stats = c.stats();
    assert_eq!(
        stats.quotas("a"),
        Some(&[Quota::per_second(2).unwrap()][..])
    );
    assert_eq!(stats.keys[0].1.source, QuotaSource::Configured);
    // Configured 20/s, server 10/s: the server's 10/s paces it, 100 ms apart, where the
    // configured quota alone would send every 50 ms into 429s.
    let c = client(
        &rt,
        ClientConfig {
            quotas: vec![Quota::per_second(20).unwrap()],
            ..config()
        },
    );
    let policy = with_header(200, "RateLimit-Policy", "\"default\";q=10;w=1");
    let t = Script::new(&rt).on("b", std::iter::repeat(policy).take(5));
    let start = rt.now_ns();
    rt.run(c.execute(&t, get("b", 0))).unwrap();
    let reqs: Vec<_> = (1..5).map(|i| get("b", i)).collect();
    rt.run(join_all(reqs.into_iter().map(|r| c.execute(&t, r))));
    let times: Vec<u64> = t.times("b").iter().map(|t| t - start).collect();
    assert_eq!(times, [0, 100 * MS, 200 * MS, 300 * MS, 400 * MS]);
}

#[test]
fn remaining_zero_pauses_the_key_until_the_reset() {
    let rt = FakeRuntime::new();
    let c = client(&rt, config());
    let t = Script::new(&rt).on(
        "a",
        [Step::Reply(
            200,
            vec![
                ("X-RateLimit-Limit", "10".to_string()),
                ("X-RateLimit-Remaining", "0".to_string()),
                ("X-RateLimit-Reset-After", "2".to_string()),
            ],
        )],
    );
    rt.run(c.execute(&t, get("a", 0))).unwrap();
    rt.run(c.execute(&t, get("a", 1))).unwrap();
    assert_eq!(t.times("a"), vec![0, 2 * S]);
}

#[test]
fn every_call_of_a_batch_yields_one_result_in_order() {
    let rt = FakeRuntime::new();
    let c = client(
        &rt,
        ClientConfig {
            breaker: None,
            backoff: Backoff::default().with_max_attempts(1),
            ..config()
        },
    );
    let steps = (0..100).map(|i| match i % 7 {
        0 => Step::Error,
        3 => status(503),
        5 => Step::Slow(30 * MS, 200, Vec::new()),
        _ => status(200),
    });
    let t = Script::new(&rt).on("a", steps);
    let outs: Vec<_> = rt.run(async {
        use futures_util::StreamExt;
        headway_engine::run_all(0..100u32, headway_engine::BatchOptions::new(8), |i| {
            let c = c.clone();
            let t = t.clone();
            async move { (i, c.execute(&t, get("a", i)).await) }
        })
        .collect()
        .await
    });
    assert_eq!(outs.len(), 100);
    for (pos, (i, out)) in outs.iter().enumerate() {
        assert_eq!(*i as usize, pos);
        if let Ok(sent) = out {
            assert_eq!(sent.response.id, *i);
        }
    }
}

/// With no quota configured, the first request to a key goes alone; the quota its response
/// teaches then spaces everything after it, counting the teacher itself.
#[test]
fn the_first_response_teaches_the_quota_before_the_rest_go() {
    let rt = FakeRuntime::new();
    let c = client(
        &rt,
        ClientConfig {
            concurrency: Some(10),
            ..config()
        },
    );
    let policy = with_header(200, "RateLimit-Policy", "\"default\";q=10;w=1");
    let t = Script::new(&rt).on("a", vec![policy; 5]);
    let calls = (0..5).map(|i| c.execute(&t, get("a", i)));
    let results = rt.run(join_all(calls));
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(
        t.times("a"),
        vec![0, 100 * MS, 200 * MS, 300 * MS, 400 * MS]
    );
}

/// A plain limiter (no learning) does not probe: unknown keys are not held to one request.
#[test]
fn without_learning_unknown_keys_are_not_probed() {
    let rt = FakeRuntime::new();
    let c = client(
        &rt,
        ClientConfig {
            learn: false,
            ..config()
        },
    );
    let t = Script::new(&rt).on("a", vec![Step::Slow(50 * MS, 200, Vec::new()); 3]);
    let calls = (0..3).map(|i| c.execute(&t, get("a", i)));
    rt.run(join_all(calls));
    assert_eq!(t.times("a"), vec![0, 0, 0]);
}

/// Probing is for requests the client sends: plain acquisitions on a learning client's
/// limiter are never held to one at a time (they never hear from a server).
#[test]
fn plain_acquisitions_are_not_probed() {
    let rt = FakeRuntime::new();
    let c = client(&rt, config());
    let key = "x".to_string();
    let held = rt.run(async {
        let a = c.limiter().acquire(&key).await.unwrap();
        let b = c.limiter().acquire(&key).await.unwrap();
        (a, b, rt.now_ns())
    });
    assert_eq!(held.2, 0);
}

/// A [`FakeRuntime`] that writes down every event the client reports, as text.
#[derive(Clone)]
struct Recording {
    rt: FakeRuntime,
    events: Rc<RefCell<Vec<String>>>,
}

impl Runtime for Recording {
    type Sleep = <FakeRuntime as Runtime>::Sleep;

    fn now_ns(&self) -> u64 {
        self.rt.now_ns()
    }

    fn wall_ms(&self) -> u64 {
        self.rt.wall_ms()
    }

    fn sleep_until(&self, deadline_ns: u64) -> Self::Sleep {
        self.rt.sleep_until(deadline_ns)
    }

    fn seed(&self) -> u64 {
        self.rt.seed()
    }

    fn event(&self, event: &Event<'_>) {
        let at = self.rt.now_ns() / MS;
        let text = match event {
            Event::Paused { key, pause } => format!("{at} ms: {key} paused {pause:?}"),
            Event::Learned { key, quotas } => format!("{at} ms: {key} learned {quotas:?}"),
            Event::Retry {
                key,
                attempt,
                status,
                delay,
                paused,
            } => format!(
                "{at} ms: {key} retry after attempt {attempt}, status {status:?}, in {delay:?}, paused {paused}"
            ),
            other => format!("{other:?}"),
        };
        self.events.borrow_mut().push(text);
    }
}

/// The runtime hears each decision as the client makes it: a 429's Retry-After pauses the
/// key and its retry waits in the pause; a 503 without one is retried on the backoff; a
/// RateLimit-Policy teaches a quota. A response that changes nothing reports nothing.
#[test]
fn the_runtime_hears_every_pause_learned_quota_and_retry() {
    let rt = FakeRuntime::new();
    let recording = Recording {
        rt: rt.clone(),
        events: Rc::default(),
    };
    let c = Client::new(
        recording.clone(),
        ClientConfig {
            breaker: None,
            backoff: Backoff::new(100 * MS, 10 * S)
                .unwrap()
                .with_jitter(Jitter::None),
            ..config()
        },
    )
    .unwrap();
    let t = Script::new(&rt).on(
        "a",
        [
            with_header(429, "Retry-After", "2"),
            status(503),
            with_header(200, "RateLimit-Policy", "\"default\";q=10;w=1"),
            status(200),
        ],
    );
    rt.run(async {
        c.execute(&t, get("a", 0)).await.unwrap();
        c.execute(&t, get("a", 1)).await.unwrap();
    });
    let quota = Quota::per_second(10).unwrap();
    assert_eq!(
        *recording.events.borrow(),
        [
            "0 ms: a paused 2s".to_string(),
            "0 ms: a retry after attempt 1, status Some(429), in 2s, paused true".to_string(),
            "2000 ms: a retry after attempt 2, status Some(503), in 200ms, paused false"
                .to_string(),
            format!("2200 ms: a learned [{quota:?}]"),
        ]
    );
}
