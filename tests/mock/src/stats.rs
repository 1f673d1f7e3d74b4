//! Request counts per route and in total, as returned by `MockHandle::stats` and `GET /__stats`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The key under which the default route (no prefix matched) is counted.
pub const DEFAULT_ROUTE_KEY: &str = "default";

/// Counts for one route, or for all routes together.
///
/// Times are milliseconds on the tokio clock since server start or the last reset (fractional,
/// nanosecond precision).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Requests that reached the route (control endpoints, static files and preflights excluded).
    pub requests: u64,
    /// Requests answered 200.
    pub admitted: u64,
    /// Requests answered 429 (by the policy or during an outage).
    pub rejected: u64,
    /// Requests answered with an injected 5xx or closed without a response.
    pub faulted: u64,
    /// Of `faulted`, the connections closed without a response.
    pub resets: u64,
    /// Time of the first admitted request.
    pub first_admitted_ms: Option<f64>,
    /// Time of the last admitted request.
    pub last_admitted_ms: Option<f64>,
}

/// A snapshot of every route's counts and their sum.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Milliseconds on the tokio clock since server start or the last reset.
    pub elapsed_ms: f64,
    /// Sum over all routes; first/last are the earliest and latest over all routes.
    pub total: Counts,
    /// Per route, keyed by prefix; the default route is under [`DEFAULT_ROUTE_KEY`].
    pub routes: BTreeMap<String, Counts>,
}

impl Counts {
    /// Records an admission at `at_ms`.
    pub(crate) fn record_admitted(&mut self, at_ms: f64) {
        self.admitted += 1;
        if self.first_admitted_ms.is_none() {
            self.first_admitted_ms = Some(at_ms);
        }
        self.last_admitted_ms = Some(at_ms);
    }

    /// Adds another route's counts into this total.
    pub(crate) fn absorb(&mut self, other: &Counts) {
        self.requests += other.requests;
        self.admitted += other.admitted;
        self.rejected += other.rejected;
        self.faulted += other.faulted;
        self.resets += other.resets;
        self.first_admitted_ms = min_opt(self.first_admitted_ms, other.first_admitted_ms);
        self.last_admitted_ms = max_opt(self.last_admitted_ms, other.last_admitted_ms);
    }
}

fn min_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

impl Stats {
    /// Counts of one route by prefix (or [`DEFAULT_ROUTE_KEY`]); zero counts if unknown.
    pub fn route(&self, key: &str) -> Counts {
        self.routes.get(key).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_take_extremes() {
        let mut a = Counts::default();
        a.record_admitted(5.0);
        a.record_admitted(9.0);
        let mut b = Counts::default();
        b.record_admitted(2.0);
        let mut t = Counts::default();
        t.absorb(&a);
        t.absorb(&b);
        t.absorb(&Counts::default());
        assert_eq!(t.admitted, 3);
        assert_eq!(t.first_admitted_ms, Some(2.0));
        assert_eq!(t.last_admitted_ms, Some(9.0));
    }
}
