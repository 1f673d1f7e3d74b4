//! Runner for `data/traces.json`: recorded event sequences on one key, replayed through the
//! core's per-key machine ([`KeyMachine`]) and per-call machine ([`Call`]) by a small FIFO
//! driver, with every decision expected exactly.
//!
//! The driver is the whole of what an adapter adds around the two machines, written as
//! plainly as possible: a FIFO queue of waiters in front of the key, time that passes only
//! from one event to the next, and the bookkeeping of which request is in flight. The rules
//! it follows are spelled out in the file's `description`; the JavaScript runner
//! (`wasm/test/conformance.test.mjs`) follows the same rules through the npm package.

use std::collections::{HashMap, VecDeque};

use headway_core::backoff::{Backoff, Jitter, SplitMix64};
use headway_core::breaker::{BreakerState, Permit};
use headway_core::budget::RetryBudget;
use headway_core::call::{Attempt, Call, RetryPolicy, Step, Why};
use headway_core::feedback::{interpret, Options};
use headway_core::key::{
    self, BreakerPolicy, Changed, KeyMachine, KeyPolicy, MarginPolicy, QuotaSource, Refused, Turn,
};
use headway_core::{Impossible, Quota, Schedule};
use serde::Deserialize;

use crate::Report;

#[derive(Deserialize)]
struct File {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[allow(dead_code)]
    description: String,
    key: KeySetup,
    retry: RetrySetup,
    events: Vec<Event>,
}

/// A quota as the data files spell it.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Q {
    limit: u32,
    period_ns: u64,
    burst: u32,
}

impl Q {
    fn quota(self) -> Result<Quota, String> {
        Quota::from_nanos(self.limit, self.period_ns)
            .and_then(|q| q.with_burst(self.burst))
            .map_err(|e| format!("bad quota {self:?}: {e}"))
    }

    fn of(q: Quota) -> Q {
        Q {
            limit: q.limit(),
            period_ns: q.period_ns(),
            burst: q.burst(),
        }
    }
}

fn quotas(qs: &[Q]) -> Result<Vec<Quota>, String> {
    qs.iter().map(|q| q.quota()).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySetup {
    quotas: Vec<Q>,
    max_in_flight: Option<u32>,
    breaker: Option<BreakerSetup>,
    learn: bool,
    max_wait_ns: u64,
    pause_jitter_max_ns: u64,
    /// The adaptive safety margin; absent, admissions go exactly on the quotas.
    #[serde(default)]
    margin: Option<MarginSetup>,
    /// A decimal string: seeds may exceed 2^53.
    seed: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MarginSetup {
    initial_ns: u32,
    floor_ns: u32,
    max_ns: u32,
    narrow_after: u16,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BreakerSetup {
    failure_threshold: u32,
    open_for_ns: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetrySetup {
    backoff: BackoffSetup,
    idempotent: bool,
    #[serde(default)]
    retry_non_idempotent: bool,
    #[serde(default)]
    budget: Option<BudgetSetup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackoffSetup {
    base_ns: u64,
    max_delay_ns: u64,
    max_attempts: u32,
    max_total_ns: u64,
    jitter: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetSetup {
    ratio_permille: u32,
    min_per_sec: u32,
    max: u32,
}

/// One event: what happens at `at`, and what must be observed once it has.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Event {
    at: u64,
    event: String,
    id: Option<String>,
    n: Option<u32>,
    status: Option<u16>,
    headers: Option<Vec<(String, String)>>,
    wall_ms: Option<u64>,
    permanent: Option<bool>,
    replayable: Option<bool>,
    until: Option<u64>,
    configured: Option<Vec<Q>>,
    #[serde(default)]
    expect: Expect,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    admitted: Vec<Admission>,
    #[serde(default)]
    failed: Vec<Failure>,
    step: Option<StepSpec>,
    attempts: Option<u32>,
    in_flight: Option<u32>,
    paused_until: Option<u64>,
    quotas: Option<Vec<Q>>,
    source: Option<String>,
    breaker: Option<BreakerSpec>,
    queue: Option<Vec<String>>,
    margin_ns: Option<u32>,
}

#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Admission {
    id: String,
    at: u64,
}

/// A waiter that left the queue without being admitted.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Failure {
    id: String,
    /// `wait_too_long` (with `wait_ns`), `impossible` (with `burst`) or `circuit_open`
    /// (with `retry_in_ns`).
    kind: String,
    wait_ns: Option<u64>,
    burst: Option<u32>,
    retry_in_ns: Option<u64>,
}

impl Failure {
    fn new(id: &str, kind: &str) -> Failure {
        Failure {
            id: id.to_string(),
            kind: kind.to_string(),
            wait_ns: None,
            burst: None,
            retry_in_ns: None,
        }
    }

    fn too_long(id: &str, wait_ns: u64) -> Failure {
        Failure {
            wait_ns: Some(wait_ns),
            ..Failure::new(id, "wait_too_long")
        }
    }

    fn impossible(id: &str, i: Impossible) -> Failure {
        Failure {
            burst: Some(i.burst),
            ..Failure::new(id, "impossible")
        }
    }

    fn circuit_open(id: &str, retry_in_ns: u64) -> Failure {
        Failure {
            retry_in_ns: Some(retry_in_ns),
            ..Failure::new(id, "circuit_open")
        }
    }

    fn of(id: &str, refused: Refused) -> Failure {
        match refused {
            Refused::Impossible(i) => Failure::impossible(id, i),
            Refused::WaitTooLong { wait_ns } => Failure::too_long(id, wait_ns),
            Refused::CircuitOpen { retry_in_ns } => Failure::circuit_open(id, retry_in_ns),
        }
    }
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum StepSpec {
    Return { why: WhySpec },
    Retry { after_ns: u64, paused: bool },
    TooLong { wait_ns: u64 },
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum WhySpec {
    Done,
    NotRetryable,
    NoReplay,
    Exhausted,
    BudgetSpent,
}

impl StepSpec {
    fn of(step: Step) -> StepSpec {
        match step {
            Step::Return(why) => StepSpec::Return {
                why: match why {
                    Why::Done => WhySpec::Done,
                    Why::NotRetryable => WhySpec::NotRetryable,
                    Why::NoReplay => WhySpec::NoReplay,
                    Why::Exhausted => WhySpec::Exhausted,
                    Why::BudgetSpent => WhySpec::BudgetSpent,
                },
            },
            Step::Retry { after_ns, paused } => StepSpec::Retry { after_ns, paused },
            Step::TooLong { wait_ns } => StepSpec::TooLong { wait_ns },
        }
    }
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
enum BreakerSpec {
    Closed { consecutive_failures: u32 },
    Open { retry_in_ns: u64 },
    HalfOpen { probe_in_flight: bool },
}

impl BreakerSpec {
    fn of(state: BreakerState) -> BreakerSpec {
        match state {
            BreakerState::Closed {
                consecutive_failures,
            } => BreakerSpec::Closed {
                consecutive_failures,
            },
            BreakerState::Open { retry_in_ns } => BreakerSpec::Open { retry_in_ns },
            BreakerState::HalfOpen { probe_in_flight } => BreakerSpec::HalfOpen { probe_in_flight },
        }
    }
}

fn source_name(source: QuotaSource) -> &'static str {
    match source {
        QuotaSource::None => "none",
        QuotaSource::Configured => "configured",
        QuotaSource::Learned => "learned",
    }
}

/// A queued acquisition.
struct Waiter {
    id: String,
    plan: key::Waiter,
}

/// Where a call stands.
enum CallState {
    /// Queued or in flight.
    Running,
    /// Its last step was a retry, which may be acquired from this time on.
    RetryFrom(u64),
    /// Over: returned, failed, cancelled or released.
    Over,
}

/// The FIFO driver around one key's machine.
struct Driver {
    machine: KeyMachine,
    policy: KeyPolicy,
    rng: SplitMix64,
    retry: RetryPolicy,
    idempotent: bool,
    seed: u64,
    budget: Option<RetryBudget>,
    queue: VecDeque<Waiter>,
    /// Admitted and not yet reported, in admission order, with the breaker's permit.
    /// Requests in flight: id, breaker permit, when admitted.
    in_flight: Vec<(String, Option<Permit>, u64)>,
    calls: HashMap<String, (Call, CallState)>,
    now: u64,
    /// What the current event observed.
    admitted: Vec<Admission>,
    failed: Vec<Failure>,
}

impl Driver {
    fn new(case: &Case) -> Result<Driver, String> {
        let k = &case.key;
        let policy = KeyPolicy {
            max_in_flight: k.max_in_flight,
            breaker: k.breaker.as_ref().map(|b| BreakerPolicy {
                failure_threshold: b.failure_threshold,
                open_for_ns: b.open_for_ns,
            }),
            learn: k.learn,
            pause_jitter_max_ns: k.pause_jitter_max_ns,
            max_wait_ns: k.max_wait_ns,
            margin: k.margin.as_ref().map(|m| MarginPolicy {
                initial_ns: m.initial_ns,
                floor_ns: m.floor_ns,
                max_ns: m.max_ns,
                narrow_after: m.narrow_after,
            }),
        };
        let machine = KeyMachine::new(&quotas(&k.quotas)?, &policy)
            .map_err(|e| format!("key rejected: {e}"))?;
        let seed: u64 = k
            .seed
            .parse()
            .map_err(|e| format!("seed {:?}: {e}", k.seed))?;
        let b = &case.retry.backoff;
        let jitter: Jitter = b
            .jitter
            .parse()
            .map_err(|e| format!("jitter {:?}: {e}", b.jitter))?;
        let backoff = Backoff::new(b.base_ns, b.max_delay_ns)
            .map_err(|e| format!("backoff rejected: {e}"))?
            .with_jitter(jitter)
            .with_max_attempts(b.max_attempts)
            .with_max_total_ns(b.max_total_ns);
        let budget = case
            .retry
            .budget
            .as_ref()
            .map(|b| RetryBudget::new(b.ratio_permille, b.min_per_sec, b.max))
            .transpose()
            .map_err(|e| format!("budget rejected: {e}"))?;
        Ok(Driver {
            machine,
            policy,
            rng: SplitMix64::new(seed),
            retry: RetryPolicy {
                backoff,
                retry_non_idempotent: case.retry.retry_non_idempotent,
            },
            idempotent: case.retry.idempotent,
            seed,
            budget,
            queue: VecDeque::new(),
            in_flight: Vec::new(),
            calls: HashMap::new(),
            now: 0,
            admitted: Vec::new(),
            failed: Vec::new(),
        })
    }

    fn fail(&mut self, failure: Failure) {
        if let Some((_, state)) = self.calls.get_mut(&failure.id) {
            *state = CallState::Over;
        }
        self.failed.push(failure);
    }

    /// Time passes until `until`: the queue's head takes its turn as soon as the key gives
    /// it one, then the next, in order.
    fn pass(&mut self, until: u64) {
        while let Some(head) = self.queue.front() {
            match self.machine.turn(&head.plan, self.now, || true) {
                Turn::Go { probe, .. } => {
                    let w = self.queue.pop_front().expect("a head");
                    self.admitted.push(Admission {
                        id: w.id.clone(),
                        at: self.now,
                    });
                    self.in_flight.push((w.id, probe, self.now));
                }
                Turn::Refused(refused) => {
                    let w = self.queue.pop_front().expect("a head");
                    self.fail(Failure::of(&w.id, refused));
                }
                Turn::At(t) if t <= until => self.now = t,
                Turn::At(_) | Turn::Blocked => break,
            }
        }
        self.now = until;
    }

    /// Plans every queued waiter again, in order; one the key now refuses a turn fails and
    /// takes no turn. Returns the schedule once all the others have had theirs.
    fn replan(&mut self) -> Schedule {
        let mut ahead = self.machine.schedule();
        for w in std::mem::take(&mut self.queue) {
            match self.machine.plan_waiter(&mut ahead, &w.plan, self.now) {
                Ok(_) => self.queue.push_back(w),
                Err(refused) => self.fail(Failure::of(&w.id, refused)),
            }
        }
        ahead
    }

    fn acquire(&mut self, id: &str, n: u32) -> Result<(), String> {
        match self.calls.get_mut(id) {
            None => {
                let call = Call::new(&self.retry, self.idempotent, self.seed);
                self.calls
                    .insert(id.to_string(), (call, CallState::Running));
            }
            Some((_, state)) => match *state {
                CallState::RetryFrom(t) if t <= self.now => *state = CallState::Running,
                CallState::RetryFrom(t) => {
                    return Err(format!("{id:?} acquired again before its retry at {t}"))
                }
                _ => return Err(format!("{id:?} is running or over")),
            },
        }
        self.machine.probe_if_unknown();
        let plan = key::Waiter::new(n, self.now, self.policy.max_wait_ns);
        let mut ahead = self.replan();
        match self.machine.plan_waiter(&mut ahead, &plan, self.now) {
            Ok(_) => self.queue.push_back(Waiter {
                id: id.to_string(),
                plan,
            }),
            Err(refused) => self.fail(Failure::of(id, refused)),
        }
        Ok(())
    }

    /// Takes the request `id` (or the latest admitted) out of flight and frees its slot.
    fn land(&mut self, id: Option<&str>) -> Result<(String, Option<Permit>, u64), String> {
        let i = match id {
            Some(id) => self.in_flight.iter().position(|(i, ..)| i == id),
            None => self.in_flight.len().checked_sub(1),
        };
        let i = i.ok_or_else(|| format!("{id:?} is not in flight"))?;
        self.machine.release();
        Ok(self.in_flight.remove(i))
    }

    /// The key hears an attempt of the request admitted at `sent_at` with `probe`, and the
    /// call machine gives the next step.
    fn finish(
        &mut self,
        (id, probe, sent_at): (&str, Option<Permit>, u64),
        attempt: Attempt<'_>,
        replayable: bool,
    ) -> Result<(Step, Changed), String> {
        let (now, rng) = (self.now, &mut self.rng);
        let changed = self
            .machine
            .hear(attempt, probe, sent_at, now, &self.policy, rng);
        let (call, state) = self
            .calls
            .get_mut(id)
            .ok_or_else(|| format!("{id:?} has no call"))?;
        let step = call.next(attempt, replayable, self.budget.as_ref(), self.now);
        *state = match step {
            Step::Retry {
                after_ns,
                paused: false,
            } => CallState::RetryFrom(self.now.saturating_add(after_ns)),
            Step::Retry { paused: true, .. } => CallState::RetryFrom(self.now),
            _ => CallState::Over,
        };
        Ok((step, changed))
    }

    /// Applies one event at `e.at`; returns the id it concerned and the call's step.
    fn apply(&mut self, e: &Event) -> Result<(Option<String>, Option<Step>), String> {
        let need = |what: &str| format!("{} needs {what}", e.event);
        let replayable = e.replayable.unwrap_or(true);
        let (id, step, changed) = match e.event.as_str() {
            "acquire" => {
                let id = e.id.clone().ok_or_else(|| need("an id"))?;
                self.acquire(&id, e.n.unwrap_or(1))?;
                (Some(id), None, Changed::default())
            }
            "advance" => (None, None, Changed::default()),
            "response" => {
                let (id, permit, sent_at) = self.land(e.id.as_deref())?;
                let status = e.status.ok_or_else(|| need("a status"))?;
                let headers = e.headers.clone().unwrap_or_default();
                let options = Options {
                    max_wait_ns: self.policy.max_wait_ns,
                };
                let wall_ms = e.wall_ms.ok_or_else(|| need("wall_ms"))?;
                let interp = interpret(status, &headers[..], wall_ms, &options);
                let attempt = Attempt::Response {
                    status,
                    interpretation: &interp,
                };
                let (step, changed) = self.finish((&id, permit, sent_at), attempt, replayable)?;
                (Some(id), Some(step), changed)
            }
            "failure" | "timeout" => {
                let (id, permit, sent_at) = self.land(e.id.as_deref())?;
                let attempt = match (e.event.as_str(), e.permanent) {
                    ("timeout", None) => Attempt::TimedOut,
                    ("failure", Some(permanent)) => Attempt::Failed { permanent },
                    _ => return Err("a failure needs `permanent`, a timeout none".into()),
                };
                let (step, changed) = self.finish((&id, permit, sent_at), attempt, replayable)?;
                (Some(id), Some(step), changed)
            }
            "release" => {
                let (id, ..) = self.land(Some(e.id.as_deref().ok_or_else(|| need("an id"))?))?;
                if let Some((_, state)) = self.calls.get_mut(&id) {
                    *state = CallState::Over;
                }
                (Some(id), None, Changed::default())
            }
            "cancel" => {
                let id = e.id.clone().ok_or_else(|| need("an id"))?;
                let i = self
                    .queue
                    .iter()
                    .position(|w| w.id == id)
                    .ok_or_else(|| format!("{id:?} is not queued"))?;
                self.queue.remove(i);
                if let Some((_, state)) = self.calls.get_mut(&id) {
                    *state = CallState::Over;
                }
                (Some(id), None, Changed::default())
            }
            "pause" => {
                let until = e.until.ok_or_else(|| need("until"))?;
                (None, None, self.machine.pause_until(until))
            }
            "configure" => {
                let configured = e.configured.as_ref().ok_or_else(|| need("configured"))?;
                let changed = self
                    .machine
                    .set_configured(&quotas(configured)?)
                    .map_err(|err| format!("configure rejected: {err}"))?;
                (None, None, changed)
            }
            other => return Err(format!("unknown event {other:?}")),
        };
        if changed.replan {
            self.replan();
        }
        Ok((id, step))
    }

    /// Runs one event and compares what it observed with its expectations.
    fn event(&mut self, e: &Event) -> Result<(), String> {
        if e.at < self.now {
            return Err(format!("time goes back from {}", self.now));
        }
        self.admitted.clear();
        self.failed.clear();
        self.pass(e.at);
        let (id, step) = self.apply(e)?;
        self.pass(e.at);
        let x = &e.expect;
        let mut wrong = Vec::new();
        let mut check = |what: &str, expected: String, got: String| {
            if expected != got {
                wrong.push(format!("{what}: expected {expected}, got {got}"));
            }
        };
        check(
            "admitted",
            format!("{:?}", x.admitted),
            format!("{:?}", self.admitted),
        );
        check(
            "failed",
            format!("{:?}", x.failed),
            format!("{:?}", self.failed),
        );
        check(
            "step",
            format!("{:?}", x.step),
            format!("{:?}", step.map(StepSpec::of)),
        );
        if let Some(want) = x.attempts {
            let got = id
                .as_ref()
                .and_then(|id| self.calls.get(id))
                .map(|(call, _)| call.attempts());
            check("attempts", format!("{:?}", Some(want)), format!("{got:?}"));
        }
        if let Some(want) = x.in_flight {
            check(
                "in_flight",
                want.to_string(),
                self.machine.in_flight().to_string(),
            );
        }
        if let Some(want) = x.paused_until {
            let got = self.machine.paused_until();
            check("paused_until", want.to_string(), got.to_string());
        }
        if let Some(want) = &x.quotas {
            let got: Vec<Q> = self.machine.quotas().map(Q::of).collect();
            check("quotas", format!("{want:?}"), format!("{got:?}"));
        }
        if let Some(want) = &x.source {
            check(
                "source",
                want.clone(),
                source_name(self.machine.source()).into(),
            );
        }
        if let Some(want) = x.breaker {
            let got = self
                .machine
                .breaker()
                .map(|b| BreakerSpec::of(b.state(e.at)));
            check("breaker", format!("{:?}", Some(want)), format!("{got:?}"));
        }
        if let Some(want) = &x.queue {
            let got: Vec<&str> = self.queue.iter().map(|w| w.id.as_str()).collect();
            check("queue", format!("{want:?}"), format!("{got:?}"));
        }
        if let Some(want) = x.margin_ns {
            let got = self.machine.margin_ns();
            check("margin_ns", want.to_string(), got.to_string());
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("; "))
        }
    }
}

fn check(case: &Case) -> Result<(), String> {
    let mut driver = Driver::new(case)?;
    for (i, e) in case.events.iter().enumerate() {
        driver
            .event(e)
            .map_err(|why| format!("event {i} ({} at {}): {why}", e.event, e.at))?;
    }
    Ok(())
}

pub(crate) fn run(json: &str, report: &mut Report) {
    let Some(file) = report.read::<File>(json) else {
        return;
    };
    for case in &file.cases {
        report.record(&case.name, check(case).err());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::testing::assert_passes;

    const JSON: &str = include_str!("../data/traces.json");

    #[test]
    fn embedded_suite_passes() {
        assert_passes("traces", JSON, &["cases"]);
    }

    /// Changes expectation `key` of one event so that a correct driver no longer meets it.
    fn break_expectation(expect: &mut serde_json::Map<String, Value>, key: &str) {
        let bogus_admission = json!({"id": "nobody", "at": 0});
        let bogus_failure = json!({"id": "nobody", "kind": "impossible", "burst": 1});
        let value = expect.get_mut(key).expect("the key is there");
        match key {
            "admitted" | "failed" => {
                let list = value.as_array_mut().expect("a list");
                match list.first_mut().and_then(Value::as_object_mut) {
                    Some(first) => {
                        let field = ["at", "wait_ns", "burst", "retry_in_ns"]
                            .into_iter()
                            .find(|f| first.contains_key(*f))
                            .expect("a number to change");
                        let n = first[field].as_u64().expect("a number");
                        first.insert(field.into(), json!(n + 1));
                    }
                    None if key == "admitted" => list.push(bogus_admission),
                    None => list.push(bogus_failure),
                }
            }
            "step" => {
                let step = value.as_object_mut().expect("a step");
                match step["kind"].as_str().expect("a kind") {
                    "return" => {
                        let why = if step["why"] == "done" {
                            "exhausted"
                        } else {
                            "done"
                        };
                        step.insert("why".into(), json!(why));
                    }
                    "retry" => {
                        let n = step["after_ns"].as_u64().expect("after_ns");
                        step.insert("after_ns".into(), json!(n + 1));
                    }
                    _ => {
                        let n = step["wait_ns"].as_u64().expect("wait_ns");
                        step.insert("wait_ns".into(), json!(n + 1));
                    }
                }
            }
            "attempts" | "in_flight" | "paused_until" | "margin_ns" => {
                *value = json!(value.as_u64().expect("a number") + 1);
            }
            "quotas" => {
                let list = value.as_array_mut().expect("a list");
                match list.first_mut() {
                    Some(q) => {
                        let n = q["limit"].as_u64().expect("a limit");
                        q["limit"] = json!(n + 1);
                    }
                    None => list.push(json!({"limit": 1, "period_ns": 1, "burst": 1})),
                }
            }
            "source" => {
                let other = if value == "none" { "learned" } else { "none" };
                *value = json!(other);
            }
            "breaker" => {
                let b = value.as_object_mut().expect("a state");
                if let Some(n) = b.get("consecutive_failures").and_then(Value::as_u64) {
                    b.insert("consecutive_failures".into(), json!(n + 1));
                } else if let Some(n) = b.get("retry_in_ns").and_then(Value::as_u64) {
                    b.insert("retry_in_ns".into(), json!(n + 1));
                } else {
                    let flag = b["probe_in_flight"].as_bool().expect("a flag");
                    b.insert("probe_in_flight".into(), json!(!flag));
                }
            }
            "queue" => value.as_array_mut().expect("a list").push(json!("nobody")),
            other => panic!("unknown expectation {other}"),
        }
    }

    /// Every expectation in the file is really checked: breaking any one of them (and
    /// claiming an admission or a failure where an event expects none) fails its case and
    /// no other.
    #[test]
    fn every_expectation_is_checked() {
        let file: Value = serde_json::from_str(JSON).unwrap();
        let cases = file["cases"].as_array().unwrap();
        let mut broken = 0;
        for (c, case) in cases.iter().enumerate() {
            for (e, event) in case["events"].as_array().unwrap().iter().enumerate() {
                let mut keys: Vec<String> = event["expect"]
                    .as_object()
                    .map(|x| x.keys().cloned().collect())
                    .unwrap_or_default();
                for implied in ["admitted", "failed"] {
                    if !keys.iter().any(|k| k == implied) {
                        keys.push(implied.to_string());
                    }
                }
                for key in keys {
                    let mut mutated = file.clone();
                    let ev = &mut mutated["cases"][c]["events"][e];
                    if ev.get("expect").is_none() {
                        ev["expect"] = json!({});
                    }
                    let expect = ev["expect"].as_object_mut().unwrap();
                    expect.entry(key.clone()).or_insert_with(|| json!([]));
                    break_expectation(expect, &key);
                    broken += 1;
                    let report = crate::run_suite("traces", &mutated.to_string());
                    assert_eq!(
                        report.failures.len(),
                        1,
                        "case {} event {e} {key} broken but {:?}",
                        case["name"],
                        report.failures
                    );
                }
            }
        }
        assert!(broken > 850, "only {broken} expectations");
    }

    #[test]
    fn unknown_fields_and_unreadable_json_are_failures() {
        assert_eq!(crate::run_suite("traces", "{").failures.len(), 1);
        let file: Value = serde_json::from_str(JSON).unwrap();
        let mut typo = file.clone();
        typo["cases"][0]["events"][0]["expect"]["pased_until"] = json!(0);
        assert_eq!(
            crate::run_suite("traces", &typo.to_string()).failures.len(),
            1
        );
    }
}
