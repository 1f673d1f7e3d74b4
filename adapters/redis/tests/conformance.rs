//! The script against the core, on a real redis-server: the same sequences of reservations,
//! checks, refunds and pauses give the same answers from the Lua script as from
//! `headway-core`'s `Tiers` (its margin as from the core's `KeyMachine`). The sequences are
//! the conformance suite's own (`tests/conformance/data/gcra.json` and `tiers.json`) and
//! seeded random ones. Times are the caller's (`*_at`), so the comparison is exact.

use headway_core::backoff::SplitMix64;
use headway_core::key::{KeyMachine, KeyPolicy, MarginPolicy, Tier};
use headway_core::{Quota, Refusal, Tiers, TiersReservation};
use headway_redis::testing::RedisServer;
use headway_redis::{RedisStore, Reservation, SharedError};
use serde_json::Value;

const GCRA: &str = include_str!("../../../tests/conformance/data/gcra.json");
const TIERS: &str = include_str!("../../../tests/conformance/data/tiers.json");

/// What a check, a peek or a reservation came to, the same way for both sides.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Go(u64),
    Wait(u64),
    Impossible,
}

fn core_refusal(r: Refusal) -> Answer {
    match r {
        Refusal::Later(d) => Answer::Wait(d.wait_ns()),
        Refusal::Never(_) => Answer::Impossible,
    }
}

fn store_answer<T>(r: Result<T, SharedError>, go: impl FnOnce(T) -> Answer) -> Answer {
    match r {
        Ok(t) => go(t),
        Err(SharedError::WaitTooLong { wait_ns }) => Answer::Wait(wait_ns),
        Err(SharedError::Impossible(_)) => Answer::Impossible,
        Err(e) => panic!("store error: {e}"),
    }
}

fn quota(spec: &Value) -> Quota {
    let n = |k: &str| spec[k].as_u64().unwrap();
    Quota::from_nanos(n("limit") as u32, n("period_ns"))
        .and_then(|q| q.with_burst(n("burst") as u32))
        .unwrap()
}

/// Replays one case's ops through `Tiers` and the store; returns the ops compared.
async fn replay(store: &RedisStore, key: &str, quotas: Vec<Quota>, ops: &[Value]) -> usize {
    let mut core = Tiers::new(&quotas).unwrap();
    let mut quotas = quotas;
    let mut held: Vec<(TiersReservation, Reservation)> = Vec::new();
    let (mut last, mut compared) = (0u64, 0usize);
    for (i, op) in ops.iter().enumerate() {
        let at = op["at"].as_u64().unwrap_or(last);
        let n = op["n"].as_u64().unwrap_or(1) as u32;
        let what = format!("{key} op {i} {op}");
        last = last.max(at);
        match op["op"].as_str().unwrap() {
            "check" => {
                let ours = core
                    .check_n(n, at)
                    .map_or_else(core_refusal, |()| Answer::Go(0));
                let theirs = store_answer(store.reserve_at(key, &quotas, n, 0, at).await, |r| {
                    Answer::Go(r.wait_ns())
                });
                assert_eq!(ours, theirs, "{what}");
            }
            "peek" => {
                let ours = core
                    .peek_n(n, at)
                    .map_or_else(core_refusal, |()| Answer::Go(0));
                let theirs = store_answer(store.peek_at(key, &quotas, n, at).await, |w| {
                    if w == 0 {
                        Answer::Go(0)
                    } else {
                        Answer::Wait(w)
                    }
                });
                assert_eq!(ours, theirs, "{what}");
            }
            "reserve" => {
                let ours = core.reserve_n(n, at);
                let theirs = store.reserve_at(key, &quotas, n, u64::MAX, at).await;
                match (ours, theirs) {
                    (Ok(c), Ok(s)) => {
                        assert_eq!(c.ready_at(), at + s.wait_ns(), "{what}");
                        held.push((c, s));
                    }
                    (Err(_), Err(SharedError::Impossible(_))) => {}
                    (c, s) => panic!("{what}: core {c:?}, store {s:?}"),
                }
            }
            "refund" => {
                // A refund of a reservation both refused as impossible has nothing to give.
                let Some((c, s)) = held.get_mut(op["reservation"].as_u64().unwrap() as usize)
                else {
                    continue;
                };
                let ours = core.refund(c);
                let theirs = store.refund_at(key, s, last).await.unwrap();
                assert_eq!(ours, theirs, "{what}");
            }
            "defer_until" => {
                let until = op["until"].as_u64().unwrap();
                core.defer_until(until);
                let pause = until.saturating_sub(last);
                store.pause_at(key, pause, last).await.unwrap();
            }
            "set_quota" => {
                quotas = vec![quota(&op["quota"])];
                core.set_quotas(&quotas).unwrap();
            }
            "set_quotas" => {
                quotas = op["quotas"].as_array().unwrap().iter().map(quota).collect();
                core.set_quotas(&quotas).unwrap();
            }
            // The state's own questions, not operations of the store: its answer to them is
            // the next reservation's.
            "remaining" | "reset_after" | "is_idle" => continue,
            other => panic!("unknown op {other}"),
        }
        compared += 1;
    }
    compared
}

async fn store(server: &RedisServer, margin_us: u64) -> RedisStore {
    RedisStore::builder(&server.url())
        .namespace("conformance")
        .margin(std::time::Duration::from_micros(margin_us))
        // A loaded machine is not a lost Redis: the script's answers are what is checked.
        .timeout(std::time::Duration::from_secs(30))
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_conformance_cases_agree_with_the_core() {
    let server = RedisServer::start().unwrap();
    let store = store(&server, 0).await;
    let mut compared = 0;
    let mut cases = 0;
    for (file, json) in [("gcra", GCRA), ("tiers", TIERS)] {
        let data: Value = serde_json::from_str(json).unwrap();
        for case in data["cases"].as_array().unwrap() {
            let quotas = match case.get("quota") {
                Some(q) => vec![quota(q)],
                None => case["quotas"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(quota)
                    .collect(),
            };
            let key = format!("{file}/{}", case["name"].as_str().unwrap());
            compared += replay(&store, &key, quotas, case["ops"].as_array().unwrap()).await;
            cases += 1;
        }
    }
    assert_eq!(cases, 47);
    assert!(compared >= 270, "only {compared} ops compared");
}

/// A random quota: 1 to 20 per 10 ms to 10 s, burst 1 to 5.
fn random_quota(rng: &mut SplitMix64) -> Quota {
    let limit = rng.between(1, 20) as u32;
    let period = rng.between(10_000_000, 10_000_000_000);
    Quota::from_nanos(limit, period)
        .and_then(|q| q.with_burst(rng.between(1, 5) as u32))
        .unwrap()
}

#[tokio::test]
async fn random_sequences_agree_with_the_core() {
    let server = RedisServer::start().unwrap();
    let store = store(&server, 0).await;
    let mut rng = SplitMix64::new(11);
    let mut compared = 0;
    for case in 0..40 {
        let quotas: Vec<Quota> = (0..rng.between(1, 3))
            .map(|_| random_quota(&mut rng))
            .collect();
        let mut ops = Vec::new();
        let mut at = rng.between(0, 1_000_000_000_000);
        let mut reserved = 0;
        for _ in 0..60 {
            at += rng.between(0, 300_000_000);
            let n = rng.between(1, 3);
            let op = match rng.between(0, 9) {
                0..=3 => {
                    reserved += 1;
                    serde_json::json!({"op": "reserve", "at": at, "n": n})
                }
                4..=5 => serde_json::json!({"op": "check", "at": at, "n": n}),
                6 => serde_json::json!({"op": "peek", "at": at, "n": n}),
                7 if reserved > 0 => {
                    let r = rng.between(0, reserved - 1);
                    serde_json::json!({"op": "refund", "reservation": r})
                }
                _ => {
                    serde_json::json!({"op": "defer_until", "until": at + rng.between(0, 2_000_000_000)})
                }
            };
            ops.push(op);
        }
        compared += replay(&store, &format!("random/{case}"), quotas, &ops).await;
    }
    assert!(compared > 40 * 50, "only {compared} ops compared");
}

/// The script's margin is the key machine's: reservations back to back, and pauses, give
/// the same turns as a `KeyMachine` with the same fixed margin committing at each turn.
#[tokio::test]
async fn the_margin_agrees_with_the_key_machine() {
    let server = RedisServer::start().unwrap();
    let margin_ns = 250_000;
    let store = store(&server, margin_ns / 1_000).await;
    let fixed = MarginPolicy {
        initial_ns: margin_ns as u32,
        floor_ns: margin_ns as u32,
        max_ns: margin_ns as u32,
        narrow_after: 1,
    };
    let policy = KeyPolicy {
        margin: Some(fixed),
        breaker: None,
        ..KeyPolicy::default()
    };
    let mut rng = SplitMix64::new(5);
    let mut compared = 0;
    for case in 0..20 {
        let quotas: Vec<Quota> = (0..rng.between(1, 3))
            .map(|_| random_quota(&mut rng))
            .collect();
        let mut machine: KeyMachine<Box<[Tier]>> = KeyMachine::new(&quotas, &policy).unwrap();
        // As a client sending to a server does: the margin spaces a key that has a server.
        machine.probe_if_unknown();
        let key = format!("margin/{case}");
        let mut at = 1_000_000_000;
        for _ in 0..50 {
            at += rng.between(0, 50_000_000);
            if rng.between(0, 9) == 0 {
                let until = at + rng.between(0, 500_000_000);
                machine.pause_until(until);
                store.pause_at(&key, until - at, at).await.unwrap();
                continue;
            }
            let ready = machine.ready_at(1, at).unwrap();
            machine.commit(1, ready);
            machine.release();
            let r = store
                .reserve_at(&key, &quotas, 1, u64::MAX, at)
                .await
                .unwrap();
            assert_eq!(ready, at + r.wait_ns(), "{key} at {at}");
            compared += 1;
        }
    }
    assert!(compared > 800, "only {compared} compared");
}
