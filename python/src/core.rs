//! The core's decisions for a driver of one's own, as `headway.core`: GCRA cells and tiers,
//! quota strings, what a response means, backoff, the retry budget, the circuit breaker, and
//! the two state machines (one key's [`KeyMachine`], one call's [`Call`]). Nothing is decided
//! here: every method is one call of `headway-core`, with times as integer nanoseconds on
//! the caller's timeline and results spelled as the shared conformance files spell them, so
//! that the suites in `tests/conformance/data` run unchanged through the Python API.

use headway_core::backoff::{Backoff as CoreBackoff, Jitter, Retrying as CoreRetrying, SplitMix64};
use headway_core::breaker::{BreakerState, CircuitBreaker as CoreBreaker, Permit};
use headway_core::budget::RetryBudget as CoreBudget;
use headway_core::call::{Attempt as CoreAttempt, Call as CoreCall, RetryPolicy, Step, Why};
use headway_core::feedback::{interpret, Interpretation, Options, Verdict};
use headway_core::key::{
    self, BreakerPolicy, Changed, KeyMachine as CoreKey, KeyPolicy, MarginPolicy, QuotaSource,
    Refused, Turn,
};
use headway_core::{
    Gcra as CoreGcra, Impossible, Quota as CoreQuota, QuotaError, Refusal, Reservation as CellHeld,
    Schedule as CoreSchedule, Tiers as CoreTiers, TiersReservation,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3::IntoPyObjectExt;

/// A dict from `(name, value)` pairs.
fn dict<'py>(py: Python<'py>, items: &[(&str, Py<PyAny>)]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in items {
        d.set_item(k, v)?;
    }
    Ok(d)
}

/// `v` as a Python object.
fn obj<'py, T: IntoPyObject<'py>>(py: Python<'py>, v: T) -> PyResult<Py<PyAny>> {
    v.into_py_any(py)
}

/// `headway.errors.<class>(*args)` as an exception.
fn error<'py>(py: Python<'py>, class: &str, args: impl pyo3::call::PyCallArgs<'py>) -> PyErr {
    match py
        .import(pyo3::intern!(py, "headway.errors"))
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1(args))
    {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// `ImpossibleError(message, n, burst)`.
fn impossible(py: Python<'_>, i: Impossible) -> PyErr {
    error(py, "ImpossibleError", (i.to_string(), i.n, i.burst))
}

/// A `ValueError` for a setting the core refused.
fn refused<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> PyErr + '_ {
    move |e| PyValueError::new_err(format!("{what}: {e}"))
}

/// The name the data files give a quota error.
fn quota_error_kind(e: QuotaError) -> &'static str {
    match e {
        QuotaError::ZeroLimit => "zero_limit",
        QuotaError::ZeroPeriod => "zero_period",
        QuotaError::ZeroBurst => "zero_burst",
        QuotaError::Overflow => "overflow",
        QuotaError::Syntax => "syntax",
    }
}

/// A quota: `limit` requests per `period_ns` with a burst.
#[pyclass(module = "headway.core", frozen, eq, from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    quota: CoreQuota,
}

#[pymethods]
impl Quota {
    #[new]
    #[pyo3(signature = (limit, period_ns, burst=1))]
    fn new(py: Python<'_>, limit: u32, period_ns: u64, burst: u32) -> PyResult<Quota> {
        CoreQuota::from_nanos(limit, period_ns)
            .and_then(|q| q.with_burst(burst))
            .map(|quota| Quota { quota })
            .map_err(|e| error(py, "QuotaError", (e.to_string(), quota_error_kind(e))))
    }

    /// Parses `"100/min"`, `"10/s burst 5"` and the like; `QuotaError` (with `kind`) if not.
    #[staticmethod]
    fn parse(py: Python<'_>, text: &str) -> PyResult<Quota> {
        text.parse::<CoreQuota>()
            .map(|quota| Quota { quota })
            .map_err(|e| error(py, "QuotaError", (e.to_string(), quota_error_kind(e))))
    }

    /// Requests per period.
    #[getter]
    fn limit(&self) -> u32 {
        self.quota.limit()
    }

    /// The period in nanoseconds.
    #[getter]
    fn period_ns(&self) -> u64 {
        self.quota.period_ns()
    }

    /// The most requests at once.
    #[getter]
    fn burst(&self) -> u32 {
        self.quota.burst()
    }

    /// The spacing of requests at the sustained rate, in nanoseconds.
    #[getter]
    fn emission_interval_ns(&self) -> u64 {
        self.quota.emission_interval_ns()
    }

    /// How far ahead of the schedule a request may go (the burst), in nanoseconds.
    #[getter]
    fn tolerance_ns(&self) -> u64 {
        self.quota.tolerance_ns()
    }

    fn __repr__(&self) -> String {
        format!("<headway.core.Quota {}>", self.quota)
    }
}

fn quotas(qs: &[Quota]) -> Vec<CoreQuota> {
    qs.iter().map(|q| q.quota).collect()
}

/// What a check or peek said: 0 to go now, else the wait in nanoseconds.
fn wait_of(py: Python<'_>, r: Result<(), Refusal>) -> PyResult<u64> {
    match r {
        Ok(()) => Ok(0),
        Err(Refusal::Later(d)) => Ok(d.wait_ns()),
        Err(Refusal::Never(i)) => Err(impossible(py, i)),
    }
}

/// A reservation made by `Gcra.reserve` or `Tiers.reserve`, to refund with.
#[pyclass(module = "headway.core")]
pub struct Reservation {
    held: Held,
}

enum Held {
    Cell(CellHeld),
    Tiers(TiersReservation),
}

#[pymethods]
impl Reservation {
    /// When the reserved cells may go, in nanoseconds.
    #[getter]
    fn ready_at(&self) -> u64 {
        match &self.held {
            Held::Cell(r) => r.ready_at(),
            Held::Tiers(r) => r.ready_at(),
        }
    }
}

/// Methods shared by `Gcra` and `Tiers`, each one call of the core's limiter.
macro_rules! cells {
    ($class:ident, $variant:ident, { $($own:tt)* }) => {
        #[pymethods]
        impl $class {
            $($own)*

            /// Takes `n` cells at `at` if they conform: 0, else the wait in nanoseconds
            /// (nothing taken); `ImpossibleError` when `n` exceeds the burst.
            fn check(&self, py: Python<'_>, n: u32, at: u64) -> PyResult<u64> {
                wait_of(py, self.cells.check_n(n, at))
            }

            /// As `check`, taking nothing.
            fn peek(&self, py: Python<'_>, n: u32, at: u64) -> PyResult<u64> {
                wait_of(py, self.cells.peek_n(n, at))
            }

            /// Reserves `n` cells at `at` whatever the wait (see `Reservation.ready_at`).
            fn reserve(&self, py: Python<'_>, n: u32, at: u64) -> PyResult<Reservation> {
                self.cells
                    .reserve_n(n, at)
                    .map(|r| Reservation {
                        held: Held::$variant(r),
                    })
                    .map_err(|i| impossible(py, i))
            }

            /// Gives a reservation back while no later one depends on it; true if it was.
            fn refund(&self, reservation: &mut Reservation) -> PyResult<bool> {
                match &mut reservation.held {
                    Held::$variant(r) => Ok(self.cells.refund(r)),
                    _ => Err(PyValueError::new_err(
                        "a reservation is refunded to the limiter that made it",
                    )),
                }
            }

            /// Admits nothing before `t`.
            fn defer_until(&self, t: u64) {
                self.cells.defer_until(t);
            }

            /// Cells that would conform at `at`.
            fn remaining(&self, at: u64) -> u32 {
                self.cells.remaining(at)
            }

            /// Nanoseconds from `at` until the limiter is back to full.
            fn reset_after(&self, at: u64) -> u64 {
                self.cells.reset_after(at)
            }

            /// True when the state at `at` is that of a fresh limiter.
            fn is_idle(&self, at: u64) -> bool {
                self.cells.is_idle(at)
            }
        }
    };
}

/// One GCRA cell.
#[pyclass(module = "headway.core", frozen)]
pub struct Gcra {
    cells: CoreGcra,
}

cells!(Gcra, Cell, {
    #[new]
    fn new(quota: Quota) -> Gcra {
        Gcra {
            cells: CoreGcra::new(quota.quota),
        }
    }

    /// Changes the quota, keeping the state.
    fn set_quota(&self, quota: Quota) {
        self.cells.set_quota(quota.quota);
    }
});

/// Several quotas at once, all-or-nothing.
#[pyclass(module = "headway.core")]
pub struct Tiers {
    cells: CoreTiers,
}

cells!(Tiers, Tiers, {
    #[new]
    fn new(quotas: Vec<Quota>) -> PyResult<Tiers> {
        CoreTiers::new(&self::quotas(&quotas))
            .map(|cells| Tiers { cells })
            .map_err(refused("quotas"))
    }

    /// Changes the quotas, keeping the state of those that stay.
    fn set_quotas(&mut self, quotas: Vec<Quota>) -> PyResult<()> {
        self.cells
            .set_quotas(&self::quotas(&quotas))
            .map_err(refused("quotas"))
    }
});

/// What a response means (see `interpret`), ready to hand to `Attempt.response`.
fn interpretation(
    status: u16,
    headers: &[(String, String)],
    wall_ms: u64,
    max_wait_ns: u64,
) -> Interpretation {
    interpret(status, headers, wall_ms, &Options { max_wait_ns })
}

/// What a response means: `verdict` (`"done"`, `"retry"`, `"too_long"`), the retry's
/// `reason` and `after_ns`, a too-long `wait_ns`, and the feedback (`pause_ns`, `limit`,
/// `remaining`, `reset_ns`, `policies` as `(limit, period_ns)` pairs). `wall_ms` is the local
/// wall clock (the response's `Date` is preferred to it).
#[pyfunction]
#[pyo3(signature = (status, headers, wall_ms, max_wait_ns=Options::DEFAULT_MAX_WAIT_NS))]
pub fn interpret_response<'py>(
    py: Python<'py>,
    status: u16,
    headers: Vec<(String, String)>,
    wall_ms: u64,
    max_wait_ns: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let i = interpretation(status, &headers, wall_ms, max_wait_ns);
    let (verdict, reason, after_ns, wait_ns) = match i.verdict {
        Verdict::Done => ("done", None, None, None),
        Verdict::Retry { after_ns, reason } => ("retry", Some(reason.as_str()), after_ns, None),
        Verdict::TooLong { wait_ns } => ("too_long", None, None, Some(wait_ns)),
    };
    let f = &i.feedback;
    let policies: Vec<(u32, u64)> = f
        .policies
        .iter()
        .map(|q| (q.limit(), q.period_ns()))
        .collect();
    dict(
        py,
        &[
            ("verdict", obj(py, verdict)?),
            ("reason", obj(py, reason)?),
            ("after_ns", obj(py, after_ns)?),
            ("wait_ns", obj(py, wait_ns)?),
            ("pause_ns", obj(py, f.pause_ns)?),
            ("limit", obj(py, f.limit)?),
            ("remaining", obj(py, f.remaining)?),
            ("reset_ns", obj(py, f.reset_ns)?),
            ("policies", obj(py, policies)?),
        ],
    )
}

/// A backoff policy: exponential from `base_ns`, each delay at most `max_delay_ns`, at most
/// `max_attempts` retries and `max_total_ns` in all, with `jitter` (`"none"`, `"full"`,
/// `"equal"`, `"decorrelated"`).
#[pyclass(module = "headway.core", frozen)]
pub struct Backoff {
    policy: CoreBackoff,
}

#[pymethods]
impl Backoff {
    #[new]
    fn new(
        base_ns: u64,
        max_delay_ns: u64,
        max_attempts: u32,
        max_total_ns: u64,
        jitter: &str,
    ) -> PyResult<Backoff> {
        let jitter: Jitter = jitter.parse().map_err(refused("jitter"))?;
        let policy = CoreBackoff::new(base_ns, max_delay_ns)
            .map_err(refused("backoff"))?
            .with_jitter(jitter)
            .with_max_attempts(max_attempts)
            .with_max_total_ns(max_total_ns);
        Ok(Backoff { policy })
    }

    /// One call's run of retries, its jitter seeded with `seed`.
    fn start(&self, seed: u64) -> Retrying {
        Retrying {
            run: self.policy.start(seed),
        }
    }
}

/// One call's retries under a `Backoff`.
#[pyclass(module = "headway.core")]
pub struct Retrying {
    run: CoreRetrying,
}

#[pymethods]
impl Retrying {
    /// The next delay in nanoseconds (the server's wait, when given, within the caps), or
    /// `None` when the retries are spent.
    #[pyo3(signature = (server_wait_ns=None))]
    fn next_delay_ns(&mut self, server_wait_ns: Option<u64>) -> Option<u64> {
        self.run.next_delay(server_wait_ns)
    }

    /// Retries handed out so far.
    #[getter]
    fn attempts(&self) -> u32 {
        self.run.attempts()
    }

    /// The delays handed out so far, in nanoseconds.
    #[getter]
    fn elapsed_ns(&self) -> u64 {
        self.run.elapsed_ns()
    }
}

/// The breaker's permit for one request: report its outcome with it.
#[pyclass(module = "headway.core", frozen)]
pub struct BreakerPermit {
    permit: Permit,
}

#[pymethods]
impl BreakerPermit {
    /// True for the one request a half-open breaker lets through.
    #[getter]
    fn is_probe(&self) -> bool {
        self.permit.is_probe()
    }
}

/// A breaker state as the data files spell it: `{"state": "closed", "consecutive_failures"}`,
/// `{"state": "open", "retry_in_ns"}` or `{"state": "half_open", "probe_in_flight"}`.
fn breaker_state<'py>(py: Python<'py>, s: BreakerState) -> PyResult<Bound<'py, PyDict>> {
    match s {
        BreakerState::Closed {
            consecutive_failures,
        } => dict(
            py,
            &[
                ("state", obj(py, "closed")?),
                ("consecutive_failures", obj(py, consecutive_failures)?),
            ],
        ),
        BreakerState::Open { retry_in_ns } => dict(
            py,
            &[
                ("state", obj(py, "open")?),
                ("retry_in_ns", obj(py, retry_in_ns)?),
            ],
        ),
        BreakerState::HalfOpen { probe_in_flight } => dict(
            py,
            &[
                ("state", obj(py, "half_open")?),
                ("probe_in_flight", obj(py, probe_in_flight)?),
            ],
        ),
    }
}

/// A circuit breaker: open after `failure_threshold` failures in a row, for `open_for_ns`,
/// then one probe.
#[pyclass(module = "headway.core", frozen)]
pub struct CircuitBreaker {
    breaker: CoreBreaker,
}

#[pymethods]
impl CircuitBreaker {
    #[new]
    fn new(failure_threshold: u32, open_for_ns: u64) -> PyResult<CircuitBreaker> {
        CoreBreaker::new(failure_threshold, open_for_ns)
            .map(|breaker| CircuitBreaker { breaker })
            .map_err(refused("breaker"))
    }

    /// A permit for a request at `at`, or, while open, the nanoseconds until a probe may go.
    fn acquire(&self, py: Python<'_>, at: u64) -> PyResult<Py<PyAny>> {
        match self.breaker.acquire(at) {
            Ok(permit) => Ok(Py::new(py, BreakerPermit { permit })?.into_any()),
            Err(open) => obj(py, open.retry_in_ns),
        }
    }

    /// The request of `permit` succeeded; true if the state changed.
    fn on_success(&self, permit: &BreakerPermit, at: u64) -> bool {
        self.breaker.on_success(permit.permit, at)
    }

    /// The request of `permit` failed; true if the state changed.
    fn on_failure(&self, permit: &BreakerPermit, at: u64) -> bool {
        self.breaker.on_failure(permit.permit, at)
    }

    /// The state at `at` (see the data files' spelling).
    fn state<'py>(&self, py: Python<'py>, at: u64) -> PyResult<Bound<'py, PyDict>> {
        breaker_state(py, self.breaker.state(at))
    }
}

/// Retries allowed as a fraction of recent successes: `ratio_permille` per thousand, at
/// least `min_per_sec`, at most `max` saved up.
#[pyclass(module = "headway.core", frozen)]
pub struct RetryBudget {
    budget: CoreBudget,
}

#[pymethods]
impl RetryBudget {
    #[new]
    fn new(ratio_permille: u32, min_per_sec: u32, max: u32) -> PyResult<RetryBudget> {
        CoreBudget::new(ratio_permille, min_per_sec, max)
            .map(|budget| RetryBudget { budget })
            .map_err(refused("budget"))
    }
}

/// One attempt's outcome, for `KeyMachine.hear` and `Call.next`.
#[pyclass(module = "headway.core", frozen)]
pub struct Attempt {
    outcome: Outcome,
}

enum Outcome {
    Response(Box<Interpretation>),
    Failed { permanent: bool },
    TimedOut,
}

impl Attempt {
    fn core(&self) -> CoreAttempt<'_> {
        match &self.outcome {
            Outcome::Response(i) => CoreAttempt::Response {
                status: i.status,
                interpretation: i,
            },
            Outcome::Failed { permanent } => CoreAttempt::Failed {
                permanent: *permanent,
            },
            Outcome::TimedOut => CoreAttempt::TimedOut,
        }
    }
}

#[pymethods]
impl Attempt {
    /// A response, read as `interpret_response` reads it.
    #[staticmethod]
    #[pyo3(signature = (status, headers, wall_ms, max_wait_ns=Options::DEFAULT_MAX_WAIT_NS))]
    fn response(
        status: u16,
        headers: Vec<(String, String)>,
        wall_ms: u64,
        max_wait_ns: u64,
    ) -> Attempt {
        Attempt {
            outcome: Outcome::Response(Box::new(interpretation(
                status,
                &headers,
                wall_ms,
                max_wait_ns,
            ))),
        }
    }

    /// No response: the send failed (`permanent` when sending again cannot help).
    #[staticmethod]
    fn failed(permanent: bool) -> Attempt {
        Attempt {
            outcome: Outcome::Failed { permanent },
        }
    }

    /// No response within the per-attempt timeout.
    #[staticmethod]
    fn timed_out() -> Attempt {
        Attempt {
            outcome: Outcome::TimedOut,
        }
    }
}

/// A step as the data files spell it: `{"kind": "return", "why"}`, `{"kind": "retry",
/// "after_ns", "paused"}` or `{"kind": "too_long", "wait_ns"}`.
fn step<'py>(py: Python<'py>, s: Step) -> PyResult<Bound<'py, PyDict>> {
    match s {
        Step::Return(why) => {
            let why = match why {
                Why::Done => "done",
                Why::NotRetryable => "not_retryable",
                Why::NoReplay => "no_replay",
                Why::Exhausted => "exhausted",
                Why::BudgetSpent => "budget_spent",
            };
            dict(py, &[("kind", obj(py, "return")?), ("why", obj(py, why)?)])
        }
        Step::Retry { after_ns, paused } => dict(
            py,
            &[
                ("kind", obj(py, "retry")?),
                ("after_ns", obj(py, after_ns)?),
                ("paused", obj(py, paused)?),
            ],
        ),
        Step::TooLong { wait_ns } => dict(
            py,
            &[
                ("kind", obj(py, "too_long")?),
                ("wait_ns", obj(py, wait_ns)?),
            ],
        ),
    }
}

/// One call's retries: what to do after each attempt.
#[pyclass(module = "headway.core")]
pub struct Call {
    call: CoreCall,
}

#[pymethods]
impl Call {
    #[new]
    #[pyo3(signature = (backoff, idempotent, seed, retry_non_idempotent=false))]
    fn new(backoff: &Backoff, idempotent: bool, seed: u64, retry_non_idempotent: bool) -> Call {
        let policy = RetryPolicy {
            backoff: backoff.policy,
            retry_non_idempotent,
        };
        Call {
            call: CoreCall::new(&policy, idempotent, seed),
        }
    }

    /// The next step after `attempt` at `now` (see the data files' spelling of a step).
    #[pyo3(signature = (attempt, replayable, budget, now))]
    fn next<'py>(
        &mut self,
        py: Python<'py>,
        attempt: &Attempt,
        replayable: bool,
        budget: Option<&RetryBudget>,
        now: u64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let s = self
            .call
            .next(attempt.core(), replayable, budget.map(|b| &b.budget), now);
        step(py, s)
    }

    /// Attempts made so far.
    #[getter]
    fn attempts(&self) -> u32 {
        self.call.attempts()
    }
}

/// A request waiting for its turn: `n` cells, queued at `now`, failing beyond `max_wait_ns`.
#[pyclass(module = "headway.core", frozen)]
pub struct Waiter {
    waiter: key::Waiter,
}

#[pymethods]
impl Waiter {
    #[new]
    fn new(n: u32, now: u64, max_wait_ns: u64) -> Waiter {
        Waiter {
            waiter: key::Waiter::new(n, now, max_wait_ns),
        }
    }
}

/// A copy of a key's rate state that a queue is planned on.
#[pyclass(module = "headway.core")]
pub struct Schedule {
    schedule: CoreSchedule,
}

/// A refusal as the data files spell it: `{"kind": "impossible", "burst"}`,
/// `{"kind": "wait_too_long", "wait_ns"}` or `{"kind": "circuit_open", "retry_in_ns"}`.
fn refusal<'py>(py: Python<'py>, r: Refused) -> PyResult<Bound<'py, PyDict>> {
    match r {
        Refused::Impossible(i) => dict(
            py,
            &[
                ("kind", obj(py, "impossible")?),
                ("burst", obj(py, i.burst)?),
            ],
        ),
        Refused::WaitTooLong { wait_ns } => dict(
            py,
            &[
                ("kind", obj(py, "wait_too_long")?),
                ("wait_ns", obj(py, wait_ns)?),
            ],
        ),
        Refused::CircuitOpen { retry_in_ns } => dict(
            py,
            &[
                ("kind", obj(py, "circuit_open")?),
                ("retry_in_ns", obj(py, retry_in_ns)?),
            ],
        ),
    }
}

/// `{"replan", "learned", "paused_until"}`: what an event changed.
fn changed(py: Python<'_>, c: Changed) -> PyResult<Bound<'_, PyDict>> {
    dict(
        py,
        &[
            ("replan", obj(py, c.replan)?),
            ("learned", obj(py, c.learned)?),
            ("paused_until", obj(py, c.paused_until)?),
        ],
    )
}

/// One key's state and decisions: its quotas and their source, tiers, pause, probe,
/// in-flight count, breaker and margin. The random draws of its pause jitter come from
/// `seed`.
#[pyclass(module = "headway.core")]
pub struct KeyMachine {
    machine: CoreKey,
    policy: KeyPolicy,
    rng: SplitMix64,
}

#[pymethods]
impl KeyMachine {
    /// `breaker` is `(failure_threshold, open_for_ns)`, `margin` is
    /// `(initial_ns, floor_ns, max_ns, narrow_after)`; either `None` for none.
    #[new]
    #[pyo3(signature = (
        quotas, *, max_in_flight=None, breaker=None, learn=true,
        pause_jitter_max_ns=KeyPolicy::default().pause_jitter_max_ns,
        max_wait_ns=KeyPolicy::default().max_wait_ns, margin=None, seed=0
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        quotas: Vec<Quota>,
        max_in_flight: Option<u32>,
        breaker: Option<(u32, u64)>,
        learn: bool,
        pause_jitter_max_ns: u64,
        max_wait_ns: u64,
        margin: Option<(u32, u32, u32, u16)>,
        seed: u64,
    ) -> PyResult<KeyMachine> {
        let policy = KeyPolicy {
            max_in_flight,
            breaker: breaker.map(|(failure_threshold, open_for_ns)| BreakerPolicy {
                failure_threshold,
                open_for_ns,
            }),
            learn,
            pause_jitter_max_ns,
            max_wait_ns,
            margin: margin.map(
                |(initial_ns, floor_ns, max_ns, narrow_after)| MarginPolicy {
                    initial_ns,
                    floor_ns,
                    max_ns,
                    narrow_after,
                },
            ),
        };
        let machine = CoreKey::new(&self::quotas(&quotas), &policy).map_err(refused("key"))?;
        Ok(KeyMachine {
            machine,
            policy,
            rng: SplitMix64::new(seed),
        })
    }

    /// A key that never heard from its server sends one request at a time until it does.
    fn probe_if_unknown(&mut self) {
        self.machine.probe_if_unknown();
    }

    /// A copy of the rate state, to plan a queue on.
    fn schedule(&self) -> Schedule {
        Schedule {
            schedule: self.machine.schedule(),
        }
    }

    /// Plans `waiter` behind those already planned on `ahead`: `("at", turn)`, or
    /// `("refused", refusal)`.
    fn plan_waiter(
        &self,
        py: Python<'_>,
        ahead: &mut Schedule,
        waiter: &Waiter,
        now: u64,
    ) -> PyResult<Py<PyAny>> {
        match self
            .machine
            .plan_waiter(&mut ahead.schedule, &waiter.waiter, now)
        {
            Ok(at) => obj(py, ("at", at)),
            Err(r) => obj(py, ("refused", refusal(py, r)?)),
        }
    }

    /// What the head of the queue does at `now`: `("go", probe)` (its cells committed;
    /// `probe` the breaker's permit or `None`), `("at", t)`, `("blocked", None)` or
    /// `("refused", refusal)`.
    fn turn(&mut self, py: Python<'_>, waiter: &Waiter, now: u64) -> PyResult<Py<PyAny>> {
        match self.machine.turn(&waiter.waiter, now, || true) {
            Turn::Go { probe, .. } => {
                let probe = match probe {
                    Some(permit) => Some(Py::new(py, BreakerPermit { permit })?),
                    None => None,
                };
                obj(py, ("go", probe))
            }
            Turn::At(t) => obj(py, ("at", t)),
            Turn::Blocked => obj(py, ("blocked", py.None())),
            Turn::Refused(r) => obj(py, ("refused", refusal(py, r)?)),
        }
    }

    /// What came back for the request admitted at `sent_at` (with its breaker `probe`),
    /// heard at `now`; returns what changed.
    fn hear<'py>(
        &mut self,
        py: Python<'py>,
        attempt: &Attempt,
        probe: Option<&BreakerPermit>,
        sent_at: u64,
        now: u64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let c = self.machine.hear(
            attempt.core(),
            probe.map(|p| p.permit),
            sent_at,
            now,
            &self.policy,
            &mut self.rng,
        );
        changed(py, c)
    }

    /// A request admitted by `turn` has finished, or was never sent.
    fn release(&mut self) {
        self.machine.release();
    }

    /// Admits nothing before `until`; returns what changed.
    fn pause_until<'py>(&mut self, py: Python<'py>, until: u64) -> PyResult<Bound<'py, PyDict>> {
        changed(py, self.machine.pause_until(until))
    }

    /// Replaces the configured quotas; returns what changed.
    fn set_configured<'py>(
        &mut self,
        py: Python<'py>,
        quotas: Vec<Quota>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let c = self
            .machine
            .set_configured(&self::quotas(&quotas))
            .map_err(refused("quotas"))?;
        changed(py, c)
    }

    /// The quotas in force: configured, learned, then the pacing tier.
    #[getter]
    fn quotas<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.machine.quotas().map(|quota| Quota { quota }))
    }

    /// Where the quotas come from: `"none"`, `"configured"` or `"learned"`.
    #[getter]
    fn source(&self) -> &'static str {
        match self.machine.source() {
            QuotaSource::None => "none",
            QuotaSource::Configured => "configured",
            QuotaSource::Learned => "learned",
        }
    }

    /// Requests admitted and not yet released.
    #[getter]
    fn in_flight(&self) -> u32 {
        self.machine.in_flight()
    }

    /// The end of the pause in force (0 for none).
    #[getter]
    fn paused_until(&self) -> u64 {
        self.machine.paused_until()
    }

    /// The safety margin added to each admission's spacing, in nanoseconds.
    #[getter]
    fn margin_ns(&self) -> u32 {
        self.machine.margin_ns()
    }

    /// The breaker's state at `at`, or `None` without a breaker.
    fn breaker_state<'py>(&self, py: Python<'py>, at: u64) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.machine
            .breaker()
            .map(|b| breaker_state(py, b.state(at)))
            .transpose()
    }
}

/// The submodule `headway._headway.core`, re-exported as `headway.core`.
pub fn module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let m = PyModule::new(py, "core")?;
    m.add_class::<Quota>()?;
    m.add_class::<Gcra>()?;
    m.add_class::<Tiers>()?;
    m.add_class::<Reservation>()?;
    m.add_class::<Backoff>()?;
    m.add_class::<Retrying>()?;
    m.add_class::<CircuitBreaker>()?;
    m.add_class::<BreakerPermit>()?;
    m.add_class::<RetryBudget>()?;
    m.add_class::<Attempt>()?;
    m.add_class::<Call>()?;
    m.add_class::<Waiter>()?;
    m.add_class::<Schedule>()?;
    m.add_class::<KeyMachine>()?;
    m.add_function(wrap_pyfunction!(interpret_response, &m)?)?;
    Ok(m)
}
