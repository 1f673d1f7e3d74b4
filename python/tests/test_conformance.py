"""The shared conformance files (tests/conformance/data/*.json), unchanged, through the
package's Python API (``headway.core``), as the native, wasm and npm targets run them.

Every file has a runner here and every case of it is checked: a file, an op, an event or an
expectation this module does not know fails its test rather than being skipped.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union, cast

import pytest

from headway import ImpossibleError
from headway.core import (
    Attempt,
    Backoff,
    BreakerPermit,
    Call,
    CircuitBreaker,
    Gcra,
    KeyMachine,
    Quota,
    RetryBudget,
    Tiers,
    Waiter,
    interpret_response,
)
from headway.errors import QuotaError

DATA = Path(__file__).resolve().parents[2] / "tests" / "conformance" / "data"
FILES = sorted(DATA.glob("*.json"))
SUITES = ["backoff", "breaker", "gcra", "headers", "quota", "tiers", "traces"]
U64_MAX = (1 << 64) - 1
NS_PER_MS = 1_000_000
QUOTA_FIELDS = ["limit", "period_ns", "burst", "emission_interval_ns", "tolerance_ns"]

Case = Dict[str, Any]


def cases(doc: Any) -> List[Case]:
    """A file's cases; quota.json's valid and invalid inputs each become one."""
    if isinstance(doc, list):
        return doc
    if "cases" in doc:
        return list(doc["cases"])
    return [dict(c, name=f"valid {c['input']!r}", valid=True) for c in doc["valid"]] + [
        dict(c, name=f"invalid {c['input']!r}", valid=False) for c in doc["invalid"]
    ]


def quota(q: Dict[str, int]) -> Quota:
    """A data file's ``{limit, period_ns, burst}``."""
    return Quota(q["limit"], q["period_ns"], q["burst"])


def quota_spec(q: Quota) -> Dict[str, int]:
    return {"limit": q.limit, "period_ns": q.period_ns, "burst": q.burst}


Outcome = Union[str, Tuple[Any, ...]]


def outcome(f: Callable[[], int]) -> Outcome:
    """What a check, peek or reserve did: ``"allow"``, ``("wait", ns)`` or
    ``("impossible", n, burst)``."""
    try:
        wait = f()
    except ImpossibleError as e:
        return ("impossible", e.n, e.burst)
    return "allow" if wait == 0 else ("wait", wait)


def expect_outcome(op: Dict[str, Any], got: Outcome, where: str) -> None:
    n = op.get("n", 1)
    want = op["expect"]
    if want == "allow":
        assert got == "allow", where
    elif want == "deny":
        assert isinstance(op.get("wait"), int), f"{where}: a deny expectation needs a wait"
        assert got == ("wait", op["wait"]), where
    elif want == "impossible":
        assert isinstance(got, tuple) and got[0] == "impossible", f"{where}: got {got}"
        assert got[1] == n, where
        if "burst" in op:
            assert got[2] == op["burst"], where
    else:
        pytest.fail(f"{where}: unknown expectation {want!r}")


def run_ops(limiter: Union[Gcra, Tiers], ops: List[Dict[str, Any]]) -> None:
    """The op vocabulary of gcra.json and tiers.json, as tests/conformance/src/gcra.rs runs
    it."""
    held = []
    for step, op in enumerate(ops):
        where = f"step {step} {json.dumps(op)}"
        n = op.get("n", 1)
        kind = op["op"]
        if kind == "check":
            expect_outcome(op, outcome(lambda: limiter.check(n, op["at"])), where)
        elif kind == "peek":
            expect_outcome(op, outcome(lambda: limiter.peek(n, op["at"])), where)
        elif kind == "reserve":
            if "expect" in op:
                expect_outcome(op, outcome(lambda: limiter.reserve(n, op["at"]).ready_at), where)
            else:
                try:
                    r = limiter.reserve(n, op["at"])
                except ImpossibleError as e:
                    raise AssertionError(f"{where}: {e}") from e
                held.append(r)
                assert r.ready_at == op["ready_at"], where
        elif kind == "refund":
            assert op["reservation"] < len(held), f"{where}: no reservation {op['reservation']}"
            assert limiter.refund(held[op["reservation"]]) is op["expect"], where
        elif kind == "defer_until":
            limiter.defer_until(op["until"])
        elif kind == "set_quota":
            if isinstance(limiter, Tiers):
                limiter.set_quotas([quota(op["quota"])])
            else:
                limiter.set_quota(quota(op["quota"]))
        elif kind == "set_quotas":
            assert isinstance(limiter, Tiers), f"{where}: a cell takes one quota"
            limiter.set_quotas([quota(q) for q in op["quotas"]])
        elif kind == "remaining":
            assert limiter.remaining(op["at"]) == op["expect"], where
        elif kind == "reset_after":
            assert limiter.reset_after(op["at"]) == op["expect"], where
        elif kind == "is_idle":
            assert limiter.is_idle(op["at"]) is op["expect"], where
        else:
            pytest.fail(f"{where}: unknown op")


def run_gcra(c: Case) -> None:
    run_ops(Gcra(quota(c["quota"])), c["ops"])


def run_tiers(c: Case) -> None:
    run_ops(Tiers([quota(q) for q in c["quotas"]]), c["ops"])


def run_quota(c: Case) -> None:
    if c["valid"]:
        q = Quota.parse(c["input"])
        got = [q.limit, q.period_ns, q.burst, q.emission_interval_ns, q.tolerance_ns]
        want = [c[f] for f in QUOTA_FIELDS]
        assert got == want
    else:
        with pytest.raises(QuotaError) as e:
            Quota.parse(c["input"])
        assert e.value.kind == c["error"]


def run_headers(c: Case) -> None:
    max_wait_ns = c.get("max_wait_ms", 600_000) * NS_PER_MS
    headers = [(name, value) for name, value in c["headers"]]
    r = interpret_response(c["status"], headers, c["wall_ms"], min(max_wait_ns, U64_MAX))

    def ms(ns: Optional[int]) -> Optional[int]:
        return None if ns is None else ns // NS_PER_MS

    got = {
        "verdict": r["verdict"],
        "reason": r["reason"],
        "after_ms": ms(r["after_ns"]),
        "wait_ms": ms(r["wait_ns"]),
        "pause_ms": ms(r["pause_ns"]),
        "limit": r["limit"],
        "remaining": r["remaining"],
        "reset_ms": ms(r["reset_ns"]),
        "policies": [{"limit": n, "period_ms": p // NS_PER_MS} for n, p in r["policies"]],
    }
    e = c["expect"]
    want = {
        "verdict": e["verdict"],
        "reason": e.get("reason"),
        "after_ms": e.get("after_ms"),
        "wait_ms": e.get("wait_ms"),
        "pause_ms": e.get("pause_ms"),
        "limit": e.get("limit"),
        "remaining": e.get("remaining"),
        "reset_ms": e.get("reset_ms"),
        "policies": e.get("policies", []),
    }
    assert got == want


def backoff(b: Dict[str, Any]) -> Backoff:
    return Backoff(
        b["base_ns"], b["max_delay_ns"], b["max_attempts"], b["max_total_ns"], b["jitter"]
    )


def run_backoff(c: Case) -> None:
    r = backoff(c).start(int(c["seed"]))
    waits = c.get("server_waits_ns", [])
    count = len(c["expect_delays_ns"])
    got = [r.next_delay_ns(waits[i] if i < len(waits) else None) for i in range(count)]
    assert got == c["expect_delays_ns"]
    assert r.attempts == c["expect_attempts"], "attempts"
    assert r.elapsed_ns == c["expect_elapsed_ns"], "elapsed_ns"


def run_breaker(c: Case) -> None:
    b = CircuitBreaker(c["failure_threshold"], c["open_for_ns"])
    permits: Dict[str, BreakerPermit] = {}
    for i, op in enumerate(c["ops"]):
        where = f"op {i} {op['op']} at {op['at']}"
        kind = op["op"]
        if kind == "acquire":
            r = b.acquire(op["at"])
            if isinstance(r, BreakerPermit):
                got: Dict[str, Any] = {"result": "probe" if r.is_probe else "permit"}
                if "permit" in op:
                    permits[op["permit"]] = r
            else:
                got = {"result": "open", "retry_in_ns": r}
            assert got == op["expect"], where
        elif kind in ("success", "failure"):
            p = permits.get(op["permit"])
            assert p is not None, f"{where}: no permit named {op['permit']}"
            report = b.on_success if kind == "success" else b.on_failure
            assert report(p, op["at"]) is op["expect_changed"], where
        elif kind == "state":
            assert b.state(op["at"]) == op["expect"], where
        else:
            pytest.fail(f"{where}: unknown op")


#: The expectations a traces.json event may carry.
TRACE_EXPECTATIONS = {
    "admitted",
    "failed",
    "step",
    "attempts",
    "in_flight",
    "paused_until",
    "quotas",
    "source",
    "breaker",
    "queue",
    "margin_ns",
}


class TraceDriver:
    """The FIFO driver traces.json's description defines, over one KeyMachine and a Call
    per id, as tests/conformance/src/traces.rs and the npm package's runner drive them."""

    def __init__(self, c: Case) -> None:
        k, r = c["key"], c["retry"]
        self.k, self.r = k, r
        breaker = k["breaker"]
        margin = k.get("margin")
        self.key = KeyMachine(
            [quota(q) for q in k["quotas"]],
            max_in_flight=k["max_in_flight"],
            breaker=breaker and (breaker["failure_threshold"], breaker["open_for_ns"]),
            learn=k["learn"],
            pause_jitter_max_ns=k["pause_jitter_max_ns"],
            max_wait_ns=k["max_wait_ns"],
            margin=margin
            and tuple(margin[f] for f in ("initial_ns", "floor_ns", "max_ns", "narrow_after")),
            seed=int(k["seed"]),
        )
        self.backoff = backoff(r["backoff"])
        b = r.get("budget")
        self.budget = b and RetryBudget(b["ratio_permille"], b["min_per_sec"], b["max"])
        self.queue: List[Tuple[str, Waiter]] = []
        self.in_flight: List[Tuple[str, Optional[BreakerPermit], int]] = []
        # id -> [call, state]: "running", "over", or the time a retry may start from.
        self.calls: Dict[str, List[Any]] = {}
        self.now = 0
        self.admitted: List[Dict[str, Any]] = []
        self.failed: List[Dict[str, Any]] = []

    def fail(self, id: str, refused: Dict[str, Any]) -> None:
        if id in self.calls:
            self.calls[id][1] = "over"
        self.failed.append(dict(refused, id=id))

    def pass_to(self, until: int) -> None:
        """Time passes to ``until``, admitting what is ready on the way."""
        while self.queue:
            id, waiter = self.queue[0]
            kind, value = cast(Tuple[str, Any], self.key.turn(waiter, self.now))
            if kind == "go":
                self.queue.pop(0)
                self.admitted.append({"id": id, "at": self.now})
                self.in_flight.append((id, value, self.now))
            elif kind == "refused":
                self.queue.pop(0)
                self.fail(id, value)
            elif kind == "at" and value <= until:
                self.now = value
            else:
                break
        self.now = until

    def replan(self) -> Any:
        """Plans the queue again, failing the waiters refused a turn; returns its tail."""
        ahead = self.key.schedule()
        queued, self.queue = self.queue, []
        for id, waiter in queued:
            kind, value = cast(Tuple[str, Any], self.key.plan_waiter(ahead, waiter, self.now))
            if kind == "at":
                self.queue.append((id, waiter))
            else:
                self.fail(id, value)
        return ahead

    def acquire(self, id: str, n: int) -> None:
        s = self.calls.get(id)
        if s is None:
            call = Call(
                self.backoff,
                self.r["idempotent"],
                int(self.k["seed"]),
                self.r.get("retry_non_idempotent", False),
            )
            self.calls[id] = [call, "running"]
        elif isinstance(s[1], int) and s[1] <= self.now:
            s[1] = "running"
        else:
            raise AssertionError(f"{id} is running, over, or acquired before its retry")
        self.key.probe_if_unknown()
        waiter = Waiter(n, self.now, self.k["max_wait_ns"])
        ahead = self.replan()
        kind, value = cast(Tuple[str, Any], self.key.plan_waiter(ahead, waiter, self.now))
        if kind == "at":
            self.queue.append((id, waiter))
        else:
            self.fail(id, value)

    def land(self, id: Optional[str]) -> Tuple[str, Optional[BreakerPermit], int]:
        """Takes ``id`` (or the latest admitted) out of flight."""
        ids = [f[0] for f in self.in_flight]
        at = len(ids) - 1 if id is None else ids.index(id) if id in ids else -1
        assert at >= 0, f"{id} is not in flight"
        self.key.release()
        return self.in_flight.pop(at)

    def finish(
        self, sent: Tuple[str, Optional[BreakerPermit], int], attempt: Attempt, replayable: bool
    ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        """The key hears the attempt; the call steps."""
        id, probe, sent_at = sent
        changed = self.key.hear(attempt, probe, sent_at, self.now)
        s = self.calls[id]
        step = s[0].next(attempt, replayable, self.budget, self.now)
        if step["kind"] != "retry":
            s[1] = "over"
        else:
            s[1] = self.now if step["paused"] else self.now + step["after_ns"]
        return step, changed

    def event(self, i: int, e: Dict[str, Any]) -> None:
        where = f"event {i} ({e['event']} at {e['at']})"
        assert e["at"] >= self.now, f"{where}: time goes back from {self.now}"
        self.admitted, self.failed = [], []
        self.pass_to(e["at"])
        id = e.get("id")
        step: Optional[Dict[str, Any]] = None
        changed: Optional[Dict[str, Any]] = None
        replayable = e.get("replayable", True)
        kind = e["event"]
        if kind == "acquire":
            self.acquire(e["id"], e.get("n", 1))
        elif kind == "advance":
            pass
        elif kind == "response":
            sent = self.land(id)
            id = sent[0]
            headers = [(name, value) for name, value in e.get("headers", [])]
            attempt = Attempt.response(e["status"], headers, e["wall_ms"], self.k["max_wait_ns"])
            step, changed = self.finish(sent, attempt, replayable)
        elif kind in ("failure", "timeout"):
            sent = self.land(id)
            id = sent[0]
            attempt = Attempt.timed_out() if kind == "timeout" else Attempt.failed(e["permanent"])
            step, changed = self.finish(sent, attempt, replayable)
        elif kind == "release":
            self.land(e["id"])
            self.calls[e["id"]][1] = "over"
        elif kind == "cancel":
            at = next((j for j, w in enumerate(self.queue) if w[0] == e["id"]), -1)
            assert at >= 0, f"{where}: {e['id']} is not queued"
            self.queue.pop(at)
            self.calls[e["id"]][1] = "over"
        elif kind == "pause":
            changed = self.key.pause_until(e["until"])
        elif kind == "configure":
            changed = self.key.set_configured([quota(q) for q in e["configured"]])
        else:
            pytest.fail(f"{where}: unknown event")
        if changed is not None and changed["replan"]:
            self.replan()
        self.pass_to(e["at"])

        x = e.get("expect", {})
        unknown = set(x) - TRACE_EXPECTATIONS
        assert not unknown, f"{where}: unknown expectations {sorted(unknown)}"
        assert self.admitted == x.get("admitted", []), f"{where}: admitted"
        assert self.failed == x.get("failed", []), f"{where}: failed"
        assert step == x.get("step"), f"{where}: step"
        observed: Dict[str, Callable[[], Any]] = {
            "attempts": lambda: self.calls[id][0].attempts if id in self.calls else None,
            "in_flight": lambda: self.key.in_flight,
            "paused_until": lambda: self.key.paused_until,
            "quotas": lambda: [quota_spec(q) for q in self.key.quotas],
            "source": lambda: self.key.source,
            "breaker": lambda: self.key.breaker_state(e["at"]),
            "queue": lambda: [w[0] for w in self.queue],
            "margin_ns": lambda: self.key.margin_ns,
        }
        for name, got in observed.items():
            if name in x:
                assert got() == x[name], f"{where}: {name}"


def run_trace(c: Case) -> None:
    driver = TraceDriver(c)
    for i, e in enumerate(c["events"]):
        driver.event(i, e)


RUNNERS: Dict[str, Callable[[Case], None]] = {
    "backoff": run_backoff,
    "breaker": run_breaker,
    "gcra": run_gcra,
    "headers": run_headers,
    "quota": run_quota,
    "tiers": run_tiers,
    "traces": run_trace,
}


def load(suite: str) -> Any:
    return json.loads((DATA / f"{suite}.json").read_text(encoding="utf-8"))


def test_the_conformance_files_are_found() -> None:
    names = {f.stem for f in FILES}
    for suite in SUITES:
        assert suite in names, f"{suite}.json is missing from {DATA}"


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_conformance(path: Path) -> None:
    suite = path.stem
    # Every shared file has a runner here: a file without one fails rather than skips.
    assert suite in RUNNERS, f"no Python runner for {path.name}"
    run = RUNNERS[suite]
    all_cases = cases(json.loads(path.read_text(encoding="utf-8")))
    assert all_cases, "no cases"
    failures = []
    for c in all_cases:
        try:
            run(c)
        except (pytest.fail.Exception, Exception) as e:
            failures.append(f"{c['name']}: {type(e).__name__}: {e}")
    assert failures == [], f"{len(failures)} of {len(all_cases)} failed"


def break_op(op: Dict[str, Any]) -> bool:
    """Changes one op's expectation so that a correct limiter no longer meets it (as the
    Rust runner's self-test does); false for ops that expect nothing."""
    want = op.get("expect")
    if isinstance(op.get("ready_at"), int):
        op["ready_at"] += 1
    elif isinstance(want, bool):
        op["expect"] = not want
    elif isinstance(want, int):
        op["expect"] = want + 1
    elif want == "deny":
        op["wait"] += 1
    elif want == "allow":
        op["expect"], op["wait"] = "deny", 1
    elif want == "impossible":
        if op["op"] == "reserve":
            del op["expect"]
            op["ready_at"] = 0
        else:
            op["expect"] = "allow"
    else:
        return False
    return True


def test_the_op_runners_check_every_expectation() -> None:
    broken = 0
    for suite in ("gcra", "tiers"):
        for c in load(suite)["cases"]:
            for i in range(len(c["ops"])):
                mutated = copy.deepcopy(c)
                if not break_op(mutated["ops"][i]):
                    continue
                broken += 1
                with pytest.raises(AssertionError):
                    RUNNERS[suite](mutated)
    for c in cases(load("quota")):
        fields = QUOTA_FIELDS if c["valid"] else ["error"]
        for field in fields:
            mutated = dict(c)
            if c["valid"]:
                mutated[field] = c[field] + 1
            else:
                mutated[field] = "overflow" if c["error"] == "syntax" else "syntax"
            broken += 1
            with pytest.raises(AssertionError):
                run_quota(mutated)
    assert broken > 400, f"only {broken} expectations"


def break_expectation(x: Dict[str, Any], name: str) -> None:
    """Changes expectation ``name`` of a traces.json event so that a correct driver no
    longer meets it, claiming an admission or a failure where the event expects none."""
    v: Any = x.get(name)
    if name in ("admitted", "failed"):
        items = x.setdefault(name, [])
        if not items:
            bogus = {"at": 0} if name == "admitted" else {"kind": "impossible", "burst": 1}
            items.append(dict(bogus, id="nobody"))
        else:
            first = items[0]
            field = next(f for f in ("at", "wait_ns", "burst", "retry_in_ns") if f in first)
            first[field] += 1
    elif name == "step":
        if v["kind"] == "return":
            v["why"] = "exhausted" if v["why"] == "done" else "done"
        elif v["kind"] == "retry":
            v["after_ns"] += 1
        else:
            v["wait_ns"] += 1
    elif name in ("attempts", "in_flight", "paused_until", "margin_ns"):
        x[name] = v + 1
    elif name == "quotas":
        if v:
            v[0]["limit"] += 1
        else:
            v.append({"limit": 1, "period_ns": 1, "burst": 1})
    elif name == "source":
        x[name] = "learned" if v == "none" else "none"
    elif name == "breaker":
        if "consecutive_failures" in v:
            v["consecutive_failures"] += 1
        elif "retry_in_ns" in v:
            v["retry_in_ns"] += 1
        else:
            v["probe_in_flight"] = not v["probe_in_flight"]
    elif name == "queue":
        v.append("nobody")
    else:
        pytest.fail(f"unknown expectation {name}")


def test_the_trace_runner_checks_every_expectation() -> None:
    broken = 0
    for c in load("traces")["cases"]:
        for i, e in enumerate(c["events"]):
            for name in set(e.get("expect", {})) | {"admitted", "failed"}:
                mutated = copy.deepcopy(c)
                break_expectation(mutated["events"][i].setdefault("expect", {}), name)
                broken += 1
                with pytest.raises(AssertionError):
                    run_trace(mutated)
    assert broken > 850, f"only {broken} expectations"


def test_an_unknown_kind_fails_rather_than_skips() -> None:
    c = copy.deepcopy(load("traces")["cases"][0])
    c["events"][0]["event"] = "teleport"
    with pytest.raises(pytest.fail.Exception, match="unknown event"):
        run_trace(c)
    c = copy.deepcopy(load("traces")["cases"][0])
    c["events"][0]["expect"]["telepathy"] = 1
    with pytest.raises(AssertionError, match="unknown expectations"):
        run_trace(c)
    c = copy.deepcopy(load("gcra")["cases"][0])
    c["ops"][0]["op"] = "teleport"
    with pytest.raises(pytest.fail.Exception, match="unknown op"):
        run_gcra(c)


def test_bad_input_to_the_bindings_is_a_typed_error() -> None:
    with pytest.raises(QuotaError) as e:
        Quota(0, 1_000_000_000)
    assert e.value.kind == "zero_limit"
    with pytest.raises(QuotaError) as e:
        Quota.parse("ten per second")
    assert e.value.kind == "syntax"
    with pytest.raises(ValueError, match="jitter"):
        Backoff(1, 2, 3, 4, "sideways")
    with pytest.raises(OverflowError):
        Quota(-1, 1_000_000_000)
    with pytest.raises(TypeError):
        Gcra("10/s")  # type: ignore[arg-type]
    with pytest.raises(ImpossibleError) as i:
        Gcra(Quota.parse("10/s burst 2")).check(3, 0)
    assert (i.value.n, i.value.burst) == (3, 2)
    with pytest.raises(ValueError, match="limiter that made it"):
        Tiers([Quota.parse("10/s")]).refund(Gcra(Quota.parse("10/s")).reserve(1, 0))
