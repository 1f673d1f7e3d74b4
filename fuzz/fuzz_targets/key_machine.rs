//! The per-key state machine, driven as a driver drives it by a random sequence of events:
//! waiters joining, the head taking its turn, callers cancelling, direct acquisitions, time
//! passing, sends going on the wire late, responses with random headers, failures and
//! timeouts, pauses. Checked against a plain reference GCRA of each configured quota (on
//! exact rational time: the quota's limit per period, not the core's rounded interval):
//! no admission ever exceeds a configured quota, nothing panics (overflow checks on), every
//! turn and plan is at or after `now` and within the waiter's `max_wait`, a refusal for a
//! long wait names a wait beyond it, and the in-flight cap holds.
//!
//! The domain is every timeline a process can run on: `now` below 2^62 ns (146 years) and
//! configured periods up to 2^60 ns (36 years). Beyond it a schedule can pass 2^64 ns; the
//! core then saturates at `u64::MAX` (no overflow, no panic) and the saturated schedule
//! is no longer exact.
#![no_main]

use headway_core::backoff::SplitMix64;
use headway_core::breaker::Permit;
use headway_core::call::Attempt;
use headway_core::feedback::{interpret, Options};
use headway_core::key::{
    BreakerPolicy, InlineTiers, KeyMachine, KeyPolicy, MarginPolicy, Refused, Turn, Waiter,
};
use headway_core::{Quota, MAX_TIERS};
use headway_fuzz::{check_bounds, NAMES};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000 * MS;
/// 2026-01-01T00:00:00Z: the wall clock when the monotonic one reads 0.
const WALL_START_MS: u64 = 1_767_225_600_000;
/// The longest timeline driven (146 years) and the longest configured period (36 years).
const TIMELINE_NS: u64 = 1 << 62;
const MAX_PERIOD_NS: u64 = 1 << 60;

/// A reference GCRA for one configured quota, on time scaled by the quota's limit so that
/// the emission interval is exactly `period` (no rounding): a cell at `t` conforms when
/// `max(tat, t) + n*period - t <= tau + period` (scaled), with `tau = (burst - 1) * period`.
struct Reference {
    limit: u128,
    period: u128,
    tau: u128,
    tat: u128,
}

impl Reference {
    fn new(q: Quota) -> Reference {
        // `Quota` keeps limit, period and burst as given.
        let period = u128::from(q.period_ns());
        Reference {
            limit: u128::from(q.limit()),
            period,
            tau: u128::from(q.burst() - 1) * period,
            tat: 0,
        }
    }

    /// Admits `n` cells at `at`; false when they did not conform.
    fn admit(&mut self, n: u32, at: u64) -> bool {
        let at = u128::from(at) * self.limit;
        let new_tat = self.tat.max(at) + u128::from(n) * self.period;
        self.tat = new_tat;
        new_tat - at <= self.tau + self.period
    }
}

struct Driver {
    key: KeyMachine<InlineTiers>,
    policy: KeyPolicy,
    refs: Vec<Reference>,
    queue: Vec<Waiter>,
    in_flight: Vec<(u64, Option<Permit>)>,
    rng: SplitMix64,
    now: u64,
}

impl Driver {
    /// Records an admission of `n` cells at `now` against every reference.
    fn admitted(&mut self, n: u32, probe: Option<Permit>) {
        for (i, r) in self.refs.iter_mut().enumerate() {
            assert!(
                r.admit(n, self.now),
                "tier {i} over-admitted: {n} cells at {}",
                self.now
            );
        }
        let cap = self.policy.max_in_flight.unwrap_or(u32::MAX);
        assert!(self.key.in_flight() <= cap);
        self.in_flight.push((self.now, probe));
    }

    /// Plans every queued waiter, in order, as a driver does after a replan; a refused
    /// waiter leaves the queue (its caller gets the error).
    fn replan(&mut self) {
        let mut tail = self.key.schedule();
        let (key, now) = (&self.key, self.now);
        self.queue
            .retain(|w| match key.plan_waiter(&mut tail, w, now) {
                Ok(at) => {
                    assert!(
                        at >= now && at <= w.deadline,
                        "{w:?} planned at {at}, now {now}"
                    );
                    true
                }
                Err(refused) => {
                    check_refusal(w, &refused, now);
                    false
                }
            });
    }

    /// The head of the queue asks for its turn.
    fn head_turn(&mut self, slot: bool) {
        let Some(&head) = self.queue.first() else {
            return;
        };
        self.key.probe_if_unknown();
        match self.key.turn(&head, self.now, || slot) {
            Turn::Go { probe, late_ns } => {
                assert!(late_ns <= self.now);
                self.queue.remove(0);
                self.admitted(head.n, probe);
            }
            Turn::At(at) => {
                assert!(at > self.now && at <= head.deadline, "{head:?} at {at}");
            }
            Turn::Blocked => {}
            Turn::Refused(refused) => {
                check_refusal(&head, &refused, self.now);
                self.queue.remove(0);
            }
        }
    }

    /// An acquisition outside the queue: goes now if the key says so.
    fn acquire(&mut self, n: u32) {
        match self.key.ready_at(n, self.now) {
            Ok(at) => {
                assert!(at >= self.now && at >= self.key.paused_until());
                if at == self.now && self.key.may_send() {
                    self.key.probe_if_unknown();
                    self.key.commit(n, self.now);
                    self.admitted(n, None);
                }
            }
            Err(impossible) => assert_eq!(impossible.n, n),
        }
    }
}

fn check_refusal(w: &Waiter, refused: &Refused, now: u64) {
    match *refused {
        Refused::WaitTooLong { wait_ns } => {
            assert!(
                w.queued_at.saturating_add(wait_ns) > w.deadline,
                "{w:?}: {refused:?}"
            );
        }
        Refused::CircuitOpen { retry_in_ns } => {
            assert!(
                w.deadline <= now || now.saturating_add(retry_in_ns) > w.deadline,
                "{w:?}: {refused:?} at {now}"
            );
        }
        Refused::Impossible(i) => assert_eq!(i.n, w.n),
    }
}

fn quota(u: &mut Unstructured) -> Result<Quota> {
    let limit = u.int_in_range(1..=20)?;
    let period = match u.int_in_range(0..=5)? {
        0 => MS,
        1 => 10 * MS,
        2 => SEC,
        3 => 60 * SEC,
        4 => u.int_in_range(1..=10 * SEC)?,
        _ => u.int_in_range(1..=MAX_PERIOD_NS)?,
    };
    let burst = u.int_in_range(1..=4)?;
    Ok(Quota::from_nanos(limit, period)
        .and_then(|q| q.with_burst(burst))
        .unwrap_or_else(|_| Quota::per_second(1).expect("a valid quota")))
}

fn policy(u: &mut Unstructured) -> Result<KeyPolicy> {
    Ok(KeyPolicy {
        max_in_flight: if u.arbitrary()? {
            Some(u.int_in_range(1..=4)?)
        } else {
            None
        },
        breaker: if u.arbitrary()? {
            Some(BreakerPolicy {
                failure_threshold: u.int_in_range(1..=3)?,
                open_for_ns: u.int_in_range(1..=20 * SEC)?,
            })
        } else {
            None
        },
        learn: u.arbitrary()?,
        pause_jitter_max_ns: *u.choose(&[0, 25 * MS, SEC, u64::MAX])?,
        max_wait_ns: *u.choose(&[0, MS, 50 * MS, SEC, 10 * SEC, 600 * SEC, u64::MAX])?,
        margin: if u.arbitrary()? {
            Some(MarginPolicy::default())
        } else {
            None
        },
    })
}

/// A header value a server might send, or arbitrary text.
fn value(u: &mut Unstructured, wall_s: u64) -> Result<String> {
    Ok(match u.int_in_range(0..=6)? {
        0 => u.int_in_range(0u32..=100)?.to_string(),
        1 => format!(
            "{}.{}",
            u.int_in_range(0u32..=100)?,
            u.int_in_range(0u32..=999)?
        ),
        2 => (wall_s + u.int_in_range(0..=120)?).to_string(),
        3 => format!(
            "\"p\";r={};t={}",
            u.int_in_range(0u32..=20)?,
            u.int_in_range(0u32..=90)?
        ),
        4 => format!(
            "\"p\";q={};w={}, \"d\";q={};w=86400",
            u.int_in_range(0u32..=50)?,
            u.int_in_range(0u32..=120)?,
            u.int_in_range(0u32..=5000)?
        ),
        5 => format!("{}ms", u.int_in_range(0u32..=5000)?),
        _ => u.arbitrary::<&str>()?.to_owned(),
    })
}

fn run(u: &mut Unstructured) -> Result<()> {
    let configured: Vec<Quota> = (0..u.int_in_range(0..=2)?)
        .map(|_| quota(u))
        .collect::<Result<_>>()?;
    let policy = policy(u)?;
    let key = KeyMachine::new(&configured, &policy).expect("a valid key policy");
    let mut d = Driver {
        key,
        policy,
        refs: configured.iter().copied().map(Reference::new).collect(),
        queue: Vec::new(),
        in_flight: Vec::new(),
        rng: SplitMix64::new(u.arbitrary()?),
        now: 0,
    };
    let mut steps = 0;
    while !u.is_empty() && steps < 2_000 {
        steps += 1;
        match u.int_in_range(0..=9)? {
            0 => d.now += u.int_in_range(0..=100_000u64)? * 1_000,
            1 => d.now += u.int_in_range(0..=1u64 << 40)?,
            2 => {
                if d.queue.len() < 64 {
                    let n = u.int_in_range(1..=3)?;
                    d.queue.push(Waiter::new(n, d.now, d.policy.max_wait_ns));
                    d.replan();
                }
            }
            3 | 4 => {
                // The head wakes at its time (as a driver's timer would) and asks.
                if let Some(Turn::At(at)) = d.queue.first().map(|h| d.key.turn(h, d.now, || false))
                {
                    if at < TIMELINE_NS && u.arbitrary()? {
                        d.now = d.now.max(at);
                    }
                }
                let slot = u.ratio(7, 8)?;
                d.head_turn(slot);
            }
            5 => {
                if !d.queue.is_empty() {
                    let i = u.choose_index(d.queue.len())?;
                    d.queue.remove(i);
                    d.replan();
                }
            }
            6 => {
                let n = u.int_in_range(1..=3)?;
                d.acquire(n);
            }
            7 => {
                if !d.in_flight.is_empty() {
                    let i = u.choose_index(d.in_flight.len())?;
                    let sent_at = d.in_flight[i].0;
                    let wire = d.now;
                    d.key.on_sent(sent_at, wire);
                    d.in_flight[i].0 = wire;
                }
            }
            8 => {
                if !d.in_flight.is_empty() {
                    let i = u.choose_index(d.in_flight.len())?;
                    let (sent_at, probe) = d.in_flight.swap_remove(i);
                    let status = *u.choose(&[200, 200, 204, 301, 403, 408, 429, 429, 500, 503])?;
                    let wall_ms = WALL_START_MS + d.now / MS;
                    let mut headers = Vec::new();
                    for _ in 0..u.int_in_range(0..=4)? {
                        let name = *u.choose(NAMES)?;
                        headers.push((name, value(u, wall_ms / 1000)?));
                    }
                    let opts = Options {
                        max_wait_ns: d.policy.max_wait_ns,
                    };
                    let interpretation = interpret(status, &headers[..], wall_ms, &opts);
                    check_bounds(&interpretation, status, opts.max_wait_ns);
                    let attempt = Attempt::Response {
                        status,
                        interpretation: &interpretation,
                    };
                    d.key.release();
                    let changed = d
                        .key
                        .hear(attempt, probe, sent_at, d.now, &d.policy, &mut d.rng);
                    if let Some(until) = changed.paused_until {
                        assert!(until >= d.now);
                    }
                    d.replan();
                }
            }
            _ => {
                if !d.in_flight.is_empty() {
                    let i = u.choose_index(d.in_flight.len())?;
                    let (sent_at, probe) = d.in_flight.swap_remove(i);
                    let attempt = if u.arbitrary()? {
                        Attempt::TimedOut
                    } else {
                        Attempt::Failed {
                            permanent: u.arbitrary()?,
                        }
                    };
                    d.key.release();
                    d.key
                        .hear(attempt, probe, sent_at, d.now, &d.policy, &mut d.rng);
                    d.replan();
                } else if u.arbitrary()? {
                    let until = d.now.saturating_add(u.int_in_range(0..=100 * SEC)?);
                    d.key.pause_until(until);
                    d.replan();
                }
            }
        }
        assert!(d.key.quotas().count() <= MAX_TIERS);
        assert_eq!(d.key.in_flight() as usize, d.in_flight.len());
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
