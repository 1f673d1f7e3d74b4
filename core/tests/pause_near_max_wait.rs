//! A server's wait at or just below `max_wait` pauses the key, with jitter, but never past
//! `max_wait` from the response: the requests of a batch that queue behind it once it came
//! back (the retry of the one that heard it among them) all get their turn at the pause's
//! end, rather than every one failing at once because the jitter pushed the pause a little
//! past what they accept. Only a wait beyond `max_wait` fails them, at once and typed.

use headway_core::backoff::SplitMix64;
use headway_core::feedback::{interpret, Options, Verdict};
use headway_core::key::{KeyMachine, KeyPolicy, Refused, Turn, Waiter};

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000 * MS;

/// A key with the default policy but `max_wait`, the pause jitter up to `jitter_max`.
fn policy(max_wait: u64, jitter_max: u64) -> KeyPolicy {
    KeyPolicy {
        max_wait_ns: max_wait,
        pause_jitter_max_ns: jitter_max,
        breaker: None,
        ..KeyPolicy::default()
    }
}

/// The key after a 429 at `now` whose `Retry-After` is `wait_ms`, its jitter drawn from
/// `seed`.
fn after_429(policy: &KeyPolicy, wait_ms: u64, now: u64, seed: u64) -> KeyMachine {
    let mut key: KeyMachine = KeyMachine::new(&[], policy).unwrap();
    key.probe_if_unknown();
    key.commit(1, now - 10 * MS);
    key.release();
    let text = format!("{}.{:03}", wait_ms / 1000, wait_ms % 1000);
    let opts = Options {
        max_wait_ns: policy.max_wait_ns,
    };
    let i = interpret(429, &[("Retry-After", text.as_str())], 0, &opts);
    let mut rng = SplitMix64::new(seed);
    key.on_response(&i, now - 10 * MS, now, policy, &mut rng);
    key
}

#[test]
fn a_pause_clamped_to_max_wait_lets_the_batch_behind_it_go() {
    let now = 5 * SEC;
    for max_wait in [SEC, 30 * SEC, 600 * SEC] {
        // Server waits at max_wait and just below it, where the jitter (up to 25 ms, a 32nd
        // of the pause) would land past max_wait if it were not cut to the room left.
        let waits = [
            max_wait,
            max_wait - MS,
            max_wait - 10 * MS,
            max_wait - 24 * MS,
        ];
        for wait in waits {
            let wait_ms = wait / MS;
            for seed in 0..200 {
                let p = policy(max_wait, 25 * MS);
                let mut key = after_429(&p, wait_ms, now, seed);
                let until = key.paused_until();
                assert!(until >= now + wait, "the pause is never shorter than asked");
                assert!(until <= now + max_wait, "{until} past now + {max_wait}");
                // A batch of 50 queue behind the pause as the response comes back.
                let batch: Vec<Waiter> = (0..50).map(|_| Waiter::new(1, now, max_wait)).collect();
                let mut tail = key.schedule();
                for w in &batch {
                    assert_eq!(key.plan_waiter(&mut tail, w, now), Ok(until), "seed {seed}");
                }
                // At the pause's end the head goes.
                assert_eq!(key.turn(&batch[0], now, || true), Turn::At(until));
                assert!(matches!(
                    key.turn(&batch[0], until, || true),
                    Turn::Go { .. }
                ));
            }
        }
    }
}

#[test]
fn a_wait_beyond_max_wait_fails_the_batch_at_once_with_the_servers_wait() {
    let (now, max_wait) = (5 * SEC, 30 * SEC);
    let p = policy(max_wait, 25 * MS);
    let opts = Options {
        max_wait_ns: max_wait,
    };
    let i = interpret(429, &[("Retry-After", "31")], 0, &opts);
    assert_eq!(i.verdict, Verdict::TooLong { wait_ns: 31 * SEC });
    let mut key = after_429(&p, 31_000, now, 0);
    assert_eq!(key.paused_until(), now + 31 * SEC);
    let w = Waiter::new(1, now, max_wait);
    let mut tail = key.schedule();
    assert_eq!(
        key.plan_waiter(&mut tail, &w, now),
        Err(Refused::WaitTooLong { wait_ns: 31 * SEC })
    );
    assert_eq!(
        key.turn(&w, now, || true),
        Turn::Refused(Refused::WaitTooLong { wait_ns: 31 * SEC })
    );
}
