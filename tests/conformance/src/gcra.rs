//! Runner for `data/gcra.json`: operation sequences on one GCRA cell with exact expectations.
//!
//! The operation vocabulary is shared with `data/tiers.json` (see [`Limiter`] and
//! [`run_ops`]), so a single interpreter drives both a [`Gcra`] and a [`Tiers`] limiter.

use headway_core::{Gcra, Impossible, Quota, Refusal, Reservation, Tiers, TiersReservation};
use serde::Deserialize;

use crate::Report;

#[derive(Deserialize)]
struct File {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    quota: QuotaSpec,
    ops: Vec<Op>,
}

/// A quota as the data files spell it.
#[derive(Deserialize, Debug, Clone, Copy)]
pub(crate) struct QuotaSpec {
    limit: u32,
    period_ns: u64,
    burst: u32,
}

impl QuotaSpec {
    /// The quota, or why it is not one.
    pub(crate) fn quota(self) -> Result<Quota, String> {
        Quota::from_nanos(self.limit, self.period_ns)
            .and_then(|q| q.with_burst(self.burst))
            .map_err(|e| format!("bad quota {self:?}: {e}"))
    }
}

/// A check or a peek of `n` cells at `at`.
#[derive(Deserialize, Debug)]
pub(crate) struct Request {
    #[serde(default = "one")]
    n: u32,
    at: u64,
    /// `"allow"`, `"deny"` (with `wait`) or `"impossible"` (with an optional `burst`).
    expect: String,
    wait: Option<u64>,
    burst: Option<u32>,
}

/// A reservation of `n` cells at `at`: ready at `ready_at`, or `expect: "impossible"`.
#[derive(Deserialize, Debug)]
pub(crate) struct Reserve {
    #[serde(default = "one")]
    n: u32,
    at: u64,
    ready_at: Option<u64>,
    expect: Option<String>,
    burst: Option<u32>,
}

fn one() -> u32 {
    1
}

/// One step of a case.
#[derive(Deserialize, Debug)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Op {
    Check(Request),
    Peek(Request),
    Reserve(Reserve),
    Refund { reservation: usize, expect: bool },
    DeferUntil { until: u64 },
    SetQuota { quota: QuotaSpec },
    SetQuotas { quotas: Vec<QuotaSpec> },
    Remaining { at: u64, expect: u32 },
    ResetAfter { at: u64, expect: u64 },
    IsIdle { at: u64, expect: bool },
}

/// What the interpreter needs from a limiter: the operations both kinds share.
pub(crate) trait Limiter {
    /// What `reserve_n` hands back for a later refund.
    type Held;
    fn check_n(&self, n: u32, at: u64) -> Result<(), Refusal>;
    fn peek_n(&self, n: u32, at: u64) -> Result<(), Refusal>;
    fn reserve_n(&self, n: u32, at: u64) -> Result<(u64, Self::Held), Impossible>;
    fn refund(&self, held: &mut Self::Held) -> bool;
    fn defer_until(&self, t: u64);
    fn remaining(&self, at: u64) -> u32;
    fn reset_after(&self, at: u64) -> u64;
    fn is_idle(&self, at: u64) -> bool;
    fn set_quotas(&mut self, quotas: &[Quota]) -> Result<(), String>;
}

impl Limiter for Gcra {
    type Held = Reservation;
    fn check_n(&self, n: u32, at: u64) -> Result<(), Refusal> {
        Gcra::check_n(self, n, at)
    }
    fn peek_n(&self, n: u32, at: u64) -> Result<(), Refusal> {
        Gcra::peek_n(self, n, at)
    }
    fn reserve_n(&self, n: u32, at: u64) -> Result<(u64, Reservation), Impossible> {
        Gcra::reserve_n(self, n, at).map(|r| (r.ready_at(), r))
    }
    fn refund(&self, held: &mut Reservation) -> bool {
        Gcra::refund(self, held)
    }
    fn defer_until(&self, t: u64) {
        Gcra::defer_until(self, t)
    }
    fn remaining(&self, at: u64) -> u32 {
        Gcra::remaining(self, at)
    }
    fn reset_after(&self, at: u64) -> u64 {
        Gcra::reset_after(self, at)
    }
    fn is_idle(&self, at: u64) -> bool {
        Gcra::is_idle(self, at)
    }
    fn set_quotas(&mut self, quotas: &[Quota]) -> Result<(), String> {
        match quotas {
            [quota] => {
                self.set_quota(*quota);
                Ok(())
            }
            _ => Err(format!("a cell takes one quota, not {}", quotas.len())),
        }
    }
}

impl Limiter for Tiers {
    type Held = TiersReservation;
    fn check_n(&self, n: u32, at: u64) -> Result<(), Refusal> {
        Tiers::check_n(self, n, at)
    }
    fn peek_n(&self, n: u32, at: u64) -> Result<(), Refusal> {
        Tiers::peek_n(self, n, at)
    }
    fn reserve_n(&self, n: u32, at: u64) -> Result<(u64, TiersReservation), Impossible> {
        Tiers::reserve_n(self, n, at).map(|r| (r.ready_at(), r))
    }
    fn refund(&self, held: &mut TiersReservation) -> bool {
        Tiers::refund(self, held)
    }
    fn defer_until(&self, t: u64) {
        Tiers::defer_until(self, t)
    }
    fn remaining(&self, at: u64) -> u32 {
        Tiers::remaining(self, at)
    }
    fn reset_after(&self, at: u64) -> u64 {
        Tiers::reset_after(self, at)
    }
    fn is_idle(&self, at: u64) -> bool {
        Tiers::is_idle(self, at)
    }
    fn set_quotas(&mut self, quotas: &[Quota]) -> Result<(), String> {
        Tiers::set_quotas(self, quotas).map_err(|e| e.to_string())
    }
}

/// Compares a refusal-or-admission with the expectation of a check or peek.
fn expect_request(req: &Request, got: Result<(), Refusal>) -> Result<(), String> {
    let ok = match (req.expect.as_str(), got) {
        ("allow", Ok(())) => true,
        ("deny", Err(Refusal::Later(d))) => {
            let wait = req.wait.ok_or("a deny expectation needs a wait")?;
            d.wait_ns() == wait && d.ready_at() == req.at + wait
        }
        ("impossible", Err(Refusal::Never(i))) => {
            i.n == req.n && (req.burst.is_none() || req.burst == Some(i.burst))
        }
        ("allow" | "deny" | "impossible", _) => false,
        (other, _) => return Err(format!("unknown expectation {other:?}")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{req:?}: got {got:?}"))
    }
}

/// Runs `ops` on `limiter`, stopping at the first step that differs from its expectation.
pub(crate) fn run_ops<L: Limiter>(limiter: &mut L, ops: &[Op]) -> Result<(), String> {
    let mut held = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let at_step = |why: String| format!("step {step}: {why}");
        match op {
            Op::Check(req) => expect_request(req, limiter.check_n(req.n, req.at)),
            Op::Peek(req) => expect_request(req, limiter.peek_n(req.n, req.at)),
            Op::Reserve(req) => match (limiter.reserve_n(req.n, req.at), req) {
                (
                    Ok((ready_at, h)),
                    Reserve {
                        ready_at: Some(want),
                        expect: None,
                        ..
                    },
                ) => {
                    held.push(h);
                    if ready_at == *want {
                        Ok(())
                    } else {
                        Err(format!("{req:?}: ready at {ready_at}"))
                    }
                }
                (
                    Err(i),
                    Reserve {
                        expect: Some(e), ..
                    },
                ) if e == "impossible" => {
                    if i.n == req.n && (req.burst.is_none() || req.burst == Some(i.burst)) {
                        Ok(())
                    } else {
                        Err(format!("{req:?}: got {i:?}"))
                    }
                }
                (got, _) => Err(format!("{req:?}: got {:?}", got.map(|(r, _)| r))),
            },
            Op::Refund {
                reservation,
                expect,
            } => match held.get_mut(*reservation) {
                None => Err(format!("no reservation {reservation}")),
                Some(h) => {
                    let got = limiter.refund(h);
                    if got == *expect {
                        Ok(())
                    } else {
                        Err(format!("refund of {reservation}: got {got}"))
                    }
                }
            },
            Op::DeferUntil { until } => {
                limiter.defer_until(*until);
                Ok(())
            }
            Op::SetQuota { quota } => quota.quota().and_then(|q| limiter.set_quotas(&[q])),
            Op::SetQuotas { quotas } => quotas
                .iter()
                .map(|q| q.quota())
                .collect::<Result<Vec<_>, _>>()
                .and_then(|qs| limiter.set_quotas(&qs)),
            Op::Remaining { at, expect } => {
                let got = limiter.remaining(*at);
                if got == *expect {
                    Ok(())
                } else {
                    Err(format!("remaining at {at}: expected {expect}, got {got}"))
                }
            }
            Op::ResetAfter { at, expect } => {
                let got = limiter.reset_after(*at);
                if got == *expect {
                    Ok(())
                } else {
                    Err(format!("reset_after at {at}: expected {expect}, got {got}"))
                }
            }
            Op::IsIdle { at, expect } => {
                let got = limiter.is_idle(*at);
                if got == *expect {
                    Ok(())
                } else {
                    Err(format!("is_idle at {at}: expected {expect}, got {got}"))
                }
            }
        }
        .map_err(at_step)?;
    }
    Ok(())
}

pub(crate) fn run(json: &str, report: &mut Report) {
    let Some(file) = report.read::<File>(json) else {
        return;
    };
    for case in &file.cases {
        let outcome = case.quota.quota().and_then(|quota| {
            let mut cell = Gcra::new(quota);
            run_ops(&mut cell, &case.ops)
        });
        report.record(&case.name, outcome.err());
    }
}

/// Breaks every op expectation of `json`, one at a time, asserts that each break fails its case
/// and no other, and returns how many expectations were broken.
#[cfg(test)]
pub(crate) fn break_each_expectation(suite: &str, json: &str) -> usize {
    let file: serde_json::Value = serde_json::from_str(json).unwrap();
    let cases = file["cases"].as_array().unwrap();
    let mut broken_ops = 0;
    for (c, case) in cases.iter().enumerate() {
        for o in 0..case["ops"].as_array().unwrap().len() {
            let mut mutated = file.clone();
            if !break_expectation(&mut mutated["cases"][c]["ops"][o]) {
                continue;
            }
            broken_ops += 1;
            let report = crate::run_suite(suite, &mutated.to_string());
            assert_eq!(
                report.failures.len(),
                1,
                "case {} op {o} broken but {:?}",
                case["name"],
                report.failures
            );
        }
    }
    broken_ops
}

/// Changes the expectation of one op so that a correct limiter no longer meets it; `false`
/// for ops that expect nothing.
#[cfg(test)]
fn break_expectation(op: &mut serde_json::Value) -> bool {
    use serde_json::{json, Value};
    let Some(op) = op.as_object_mut() else {
        return false;
    };
    if let Some(ready_at) = op.get("ready_at").and_then(Value::as_u64) {
        op.insert("ready_at".into(), json!(ready_at + 1));
        return true;
    }
    match op.get("expect").cloned() {
        Some(Value::Bool(b)) => {
            op.insert("expect".into(), json!(!b));
        }
        Some(Value::Number(n)) => {
            op.insert("expect".into(), json!(n.as_u64().unwrap() + 1));
        }
        Some(Value::String(s)) if s == "deny" => {
            let wait = op["wait"].as_u64().unwrap();
            op.insert("wait".into(), json!(wait + 1));
        }
        Some(Value::String(s)) if s == "allow" => {
            op.insert("expect".into(), json!("deny"));
            op.insert("wait".into(), json!(1));
        }
        Some(Value::String(_)) => {
            // Impossible: claim it is possible.
            op.remove("expect");
            op.insert("ready_at".into(), json!(0));
            if op["op"] != "reserve" {
                op.insert("expect".into(), json!("allow"));
            }
        }
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::break_each_expectation;
    use crate::testing::assert_passes;

    const JSON: &str = include_str!("../data/gcra.json");

    #[test]
    fn embedded_suite_passes() {
        assert_passes("gcra", JSON, &["cases"]);
    }

    /// Every expectation in the file is really checked: breaking any one fails its case.
    #[test]
    fn every_expectation_is_checked() {
        let broken_ops = break_each_expectation("gcra", JSON);
        assert!(broken_ops > 150, "only {broken_ops} expectations");
    }

    #[test]
    fn unreadable_json_is_a_failure() {
        let report = crate::run_suite("gcra", "{");
        assert_eq!(report.failures.len(), 1);
    }
}
