//! Server-side admission: GCRA (single or tiered), fixed window and sliding log.
//!
//! Time is a `u64` count of nanoseconds since the route's epoch (server start or last reset),
//! read from the tokio clock by the caller. A [`Limiter`] lives under its route's lock, so a
//! decision and its record are one step.
//!
//! What each policy reports for the headers (per quota):
//! - `limit` and `window_secs`: the configured count and period, the period rounded up to whole
//!   seconds (at least 1);
//! - `remaining`: how many requests would be admitted back to back right now;
//! - `reset`: time until the capacity next grows by one (GCRA, sliding log), or until the
//!   current window ends (fixed window); when `remaining` is 0 this is exactly the wait before
//!   the next admission. A GCRA quota at full burst and an empty sliding log report 0.

use std::collections::VecDeque;

use crate::config::{Gcra, Policy, Window};

const NANOS_PER_MS: u64 = 1_000_000;

/// One quota as the headers advertise it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QuotaView {
    /// Name for the IETF -08 fields.
    pub name: String,
    /// Requests per window.
    pub limit: u64,
    /// Window in whole seconds (rounded up, at least 1).
    pub window_secs: u64,
    /// Requests that would be admitted right now.
    pub remaining: u64,
    /// Nanoseconds until capacity next grows (see the module docs).
    pub reset_ns: u64,
}

/// The state of every quota of a route after a decision; empty for unlimited routes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// The quotas, in configured order.
    pub quotas: Vec<QuotaView>,
}

impl Snapshot {
    /// The most restrictive quota: least remaining, then the longest reset.
    pub fn binding(&self) -> Option<&QuotaView> {
        self.quotas.iter().min_by(|a, b| {
            a.remaining
                .cmp(&b.remaining)
                .then_with(|| b.reset_ns.cmp(&a.reset_ns))
        })
    }

    /// The same quotas with nothing remaining and a reset of `reset_ns` (an outage).
    pub fn exhausted_for(&self, reset_ns: u64) -> Snapshot {
        Snapshot {
            quotas: self
                .quotas
                .iter()
                .map(|q| QuotaView {
                    remaining: 0,
                    reset_ns,
                    ..q.clone()
                })
                .collect(),
        }
    }
}

/// The result of one admission check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Admitted and recorded.
    Admitted,
    /// Rejected; the next admission is possible in `wait_ns` nanoseconds.
    Rejected { wait_ns: u64 },
}

#[derive(Clone, Debug)]
struct GcraState {
    name: String,
    limit: u64,
    window_secs: u64,
    burst: u64,
    /// Emission interval.
    t: u64,
    /// Tolerance `t * (burst - 1)`.
    tau: u64,
    /// Theoretical arrival time.
    tat: u64,
}

impl GcraState {
    fn new(g: &Gcra, default_name: String) -> Self {
        let period_ns = g.period_ms.saturating_mul(NANOS_PER_MS);
        let t = (period_ns / g.limit.max(1)).max(1);
        let burst = g.burst.max(1);
        GcraState {
            name: g.name.clone().unwrap_or(default_name),
            limit: g.limit,
            window_secs: secs_ceil_min1(period_ns),
            burst,
            t,
            tau: t.saturating_mul(burst - 1),
            tat: 0,
        }
    }

    fn wait(&self, now: u64) -> u64 {
        self.tat.saturating_sub(self.tau).saturating_sub(now)
    }

    fn admit(&mut self, now: u64) {
        self.tat = self.tat.max(now).saturating_add(self.t);
    }

    fn remaining(&self, now: u64) -> u64 {
        let base = self.tat.max(now);
        let horizon = now.saturating_add(self.tau);
        if base > horizon {
            0
        } else {
            ((horizon - base) / self.t)
                .saturating_add(1)
                .min(self.burst)
        }
    }

    fn view(&self, now: u64) -> QuotaView {
        let remaining = self.remaining(now);
        let reset_ns = if remaining >= self.burst {
            0
        } else {
            // Capacity reaches remaining + 1 at tat - tau + remaining * t.
            self.tat
                .saturating_add(remaining.saturating_mul(self.t))
                .saturating_sub(self.tau)
                .saturating_sub(now)
        };
        QuotaView {
            name: self.name.clone(),
            limit: self.limit,
            window_secs: self.window_secs,
            remaining,
            reset_ns,
        }
    }
}

#[derive(Clone, Debug)]
struct FixedState {
    limit: u64,
    window_ns: u64,
    window_index: u64,
    count: u64,
}

impl FixedState {
    fn roll(&mut self, now: u64) {
        let index = now / self.window_ns;
        if index != self.window_index {
            self.window_index = index;
            self.count = 0;
        }
    }

    fn window_end(&self) -> u64 {
        self.window_index
            .saturating_add(1)
            .saturating_mul(self.window_ns)
    }

    fn view(&self, now: u64) -> QuotaView {
        QuotaView {
            name: "default".into(),
            limit: self.limit,
            window_secs: secs_ceil_min1(self.window_ns),
            remaining: self.limit.saturating_sub(self.count),
            reset_ns: self.window_end().saturating_sub(now),
        }
    }
}

#[derive(Clone, Debug)]
struct SlidingState {
    limit: u64,
    window_ns: u64,
    log: VecDeque<u64>,
}

impl SlidingState {
    fn purge(&mut self, now: u64) {
        while let Some(&first) = self.log.front() {
            if first.saturating_add(self.window_ns) <= now {
                self.log.pop_front();
            } else {
                break;
            }
        }
    }

    fn next_expiry(&self, now: u64) -> u64 {
        self.log
            .front()
            .map(|&first| first.saturating_add(self.window_ns).saturating_sub(now))
            .unwrap_or(0)
    }

    fn view(&self, now: u64) -> QuotaView {
        let used = u64::try_from(self.log.len()).unwrap_or(u64::MAX);
        QuotaView {
            name: "default".into(),
            limit: self.limit,
            window_secs: secs_ceil_min1(self.window_ns),
            remaining: self.limit.saturating_sub(used),
            reset_ns: self.next_expiry(now),
        }
    }
}

#[derive(Clone, Debug)]
enum State {
    Unlimited,
    Gcra(Vec<GcraState>),
    Fixed(FixedState),
    Sliding(SlidingState),
}

/// The admission state of one route.
#[derive(Clone, Debug)]
pub(crate) struct Limiter {
    state: State,
}

impl Limiter {
    /// A fresh limiter for a (validated) policy.
    pub fn new(policy: &Policy) -> Self {
        let state = match policy {
            Policy::Unlimited => State::Unlimited,
            Policy::Gcra(g) => State::Gcra(vec![GcraState::new(g, "default".into())]),
            Policy::Tiered(tiers) => State::Gcra(
                tiers
                    .iter()
                    .enumerate()
                    .map(|(i, g)| GcraState::new(g, format!("tier{i}")))
                    .collect(),
            ),
            Policy::FixedWindow(w) => State::Fixed(FixedState {
                limit: w.limit,
                window_ns: window_ns(w),
                window_index: 0,
                count: 0,
            }),
            Policy::SlidingWindow(w) => State::Sliding(SlidingState {
                limit: w.limit,
                window_ns: window_ns(w),
                log: VecDeque::new(),
            }),
        };
        Limiter { state }
    }

    /// Decides and records one request at `now`.
    pub fn check(&mut self, now: u64) -> Verdict {
        match &mut self.state {
            State::Unlimited => Verdict::Admitted,
            State::Gcra(tiers) => {
                let wait_ns = tiers.iter().map(|g| g.wait(now)).max().unwrap_or(0);
                if wait_ns == 0 {
                    tiers.iter_mut().for_each(|g| g.admit(now));
                    Verdict::Admitted
                } else {
                    Verdict::Rejected { wait_ns }
                }
            }
            State::Fixed(f) => {
                f.roll(now);
                if f.count < f.limit {
                    f.count += 1;
                    Verdict::Admitted
                } else {
                    Verdict::Rejected {
                        wait_ns: f.window_end().saturating_sub(now).max(1),
                    }
                }
            }
            State::Sliding(s) => {
                s.purge(now);
                if u64::try_from(s.log.len()).unwrap_or(u64::MAX) < s.limit {
                    s.log.push_back(now);
                    Verdict::Admitted
                } else {
                    Verdict::Rejected {
                        wait_ns: s.next_expiry(now).max(1),
                    }
                }
            }
        }
    }

    /// The state of every quota at `now`, without consuming anything.
    pub fn snapshot(&mut self, now: u64) -> Snapshot {
        let quotas = match &mut self.state {
            State::Unlimited => Vec::new(),
            State::Gcra(tiers) => tiers.iter().map(|g| g.view(now)).collect(),
            State::Fixed(f) => {
                f.roll(now);
                vec![f.view(now)]
            }
            State::Sliding(s) => {
                s.purge(now);
                vec![s.view(now)]
            }
        };
        Snapshot { quotas }
    }
}

fn window_ns(w: &Window) -> u64 {
    w.window_ms.saturating_mul(NANOS_PER_MS).max(1)
}

/// Nanoseconds to whole seconds, rounded up.
pub(crate) fn secs_ceil(ns: u64) -> u64 {
    ns / 1_000_000_000 + u64::from(ns % 1_000_000_000 != 0)
}

fn secs_ceil_min1(ns: u64) -> u64 {
    secs_ceil(ns).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MS: u64 = NANOS_PER_MS;

    fn gcra(limit: u64, period_ms: u64, burst: u64) -> Limiter {
        Limiter::new(&Policy::Gcra(Gcra::new(
            limit,
            Duration::from_millis(period_ms),
            burst,
        )))
    }

    #[test]
    fn strict_gcra_spaces_requests() {
        let mut l = gcra(100, 1000, 1);
        assert_eq!(l.check(0), Verdict::Admitted);
        assert_eq!(l.check(5 * MS), Verdict::Rejected { wait_ns: 5 * MS });
        assert_eq!(l.check(10 * MS), Verdict::Admitted);
        let v = &l.snapshot(10 * MS).quotas[0];
        assert_eq!((v.remaining, v.reset_ns), (0, 10 * MS));
        let v = &l.snapshot(20 * MS).quotas[0];
        assert_eq!((v.remaining, v.reset_ns), (1, 0));
    }

    #[test]
    fn gcra_burst_remaining_and_reset() {
        let mut l = gcra(10, 1000, 5);
        for _ in 0..5 {
            assert_eq!(l.check(0), Verdict::Admitted);
        }
        assert_eq!(l.check(0), Verdict::Rejected { wait_ns: 100 * MS });
        let v = &l.snapshot(0).quotas[0];
        assert_eq!((v.remaining, v.reset_ns), (0, 100 * MS));
        let v = &l.snapshot(150 * MS).quotas[0];
        assert_eq!((v.remaining, v.reset_ns), (1, 50 * MS));
        let v = &l.snapshot(500 * MS).quotas[0];
        assert_eq!((v.remaining, v.reset_ns), (5, 0));
        // One admission from full: four left, the fifth comes back one interval later.
        assert_eq!(l.check(500 * MS), Verdict::Admitted);
        let v = &l.snapshot(500 * MS).quotas[0];
        assert_eq!((v.remaining, v.reset_ns), (4, 100 * MS));
    }

    #[test]
    fn tiers_are_all_or_nothing() {
        let mut l = Limiter::new(&Policy::Tiered(vec![
            Gcra::new(10, Duration::from_secs(1), 10),
            Gcra::new(15, Duration::from_secs(60), 15),
        ]));
        for _ in 0..10 {
            assert_eq!(l.check(0), Verdict::Admitted);
        }
        assert!(matches!(l.check(0), Verdict::Rejected { .. }));
        // One second later the fast tier is full again, the slow one has 5 left.
        for _ in 0..5 {
            assert_eq!(l.check(1000 * MS), Verdict::Admitted);
        }
        // The slow tier (4 s per cell, 15 used by 1 s) now binds until 4 s.
        assert_eq!(l.check(1000 * MS), Verdict::Rejected { wait_ns: 3000 * MS });
        let snap = l.snapshot(1000 * MS);
        assert_eq!(snap.binding().map(|q| q.name.as_str()), Some("tier1"));
    }

    #[test]
    fn fixed_window_counts_per_window() {
        let mut l = Limiter::new(&Policy::FixedWindow(Window {
            limit: 2,
            window_ms: 1000,
        }));
        assert_eq!(l.check(100 * MS), Verdict::Admitted);
        assert_eq!(l.check(200 * MS), Verdict::Admitted);
        assert_eq!(l.check(300 * MS), Verdict::Rejected { wait_ns: 700 * MS });
        assert_eq!(l.check(1000 * MS), Verdict::Admitted);
        let v = &l.snapshot(1000 * MS).quotas[0];
        assert_eq!((v.remaining, v.reset_ns), (1, 1000 * MS));
    }

    #[test]
    fn sliding_log_bounds_any_window() {
        let mut l = Limiter::new(&Policy::SlidingWindow(Window {
            limit: 2,
            window_ms: 1000,
        }));
        assert_eq!(l.check(0), Verdict::Admitted);
        assert_eq!(l.check(600 * MS), Verdict::Admitted);
        assert_eq!(l.check(900 * MS), Verdict::Rejected { wait_ns: 100 * MS });
        assert_eq!(l.check(1000 * MS), Verdict::Admitted);
        assert_eq!(l.check(1500 * MS), Verdict::Rejected { wait_ns: 100 * MS });
    }

    #[test]
    fn ceil_seconds() {
        assert_eq!(secs_ceil(0), 0);
        assert_eq!(secs_ceil(1), 1);
        assert_eq!(secs_ceil(1_000_000_000), 1);
        assert_eq!(secs_ceil(1_000_000_001), 2);
        assert_eq!(secs_ceil(u64::MAX), u64::MAX / 1_000_000_000 + 1);
    }
}
