//! A retry budget: retries allowed as a fraction of recent successes plus a small floor, so
//! that an outage does not turn every client into a retry storm.
//!
//! Per-request backoff limits how often *one* request retries; it cannot see that every
//! request is failing. A [`RetryBudget`] is shared by all requests to one destination: each
//! success deposits `ratio` of a token, each retry withdraws a whole token, and a floor of
//! `min_retries_per_sec` tokens per second trickles in with time, so a quiet client can still
//! retry. The balance never exceeds `max_balance` tokens. When the server is down, successes
//! stop, the balance drains, and retries fall to the floor's rate instead of multiplying the
//! load by the retry count.
//!
//! # Representation
//!
//! Lock-free, in two `AtomicU64`s:
//!
//! - `balance`: milli-tokens (1 token = 1000), so a ratio given in per-mille is deposited
//!   exactly, stored as `OFFSET + balance` so that the balance may also be a debt (see
//!   below) without a signed word. Deposits and withdrawals are compare-and-swap loops that
//!   keep `balance <= max_balance * 1000`; [`RetryBudget::try_retry`] only withdraws from a
//!   balance holding at least one token, so concurrent retries can never take more tokens
//!   than were there.
//! - `refilled_to`: the point of the caller's timeline up to which the floor has been credited.
//!   The floor earns `min_retries_per_sec` milli-tokens per millisecond: by time `t` it has
//!   earned `E(t) = floor(t * min_retries_per_sec / 10^6)` since time 0. Whoever moves
//!   `refilled_to` from `from` to `now` (by compare-and-swap, so each stretch of time is
//!   credited exactly once) deposits `E(now) - E(from)`. These shares add up to exactly
//!   `E(t)` however time is sliced into calls, so frequent calls lose no fractions.
//!
//! A new budget starts full, so a fresh client's first failures can be retried; the floor's
//! clock starts at time 0 of the timeline. Times that go backwards credit nothing.
//!
//! # Waiting for a token instead of failing
//!
//! A budget that fails every retry it cannot pay for turns an outage into lost requests: a
//! hundred requests in flight when a server restarts all fail at once, and only the first
//! few are retried. [`RetryBudget::reserve_retry`] takes the token ahead of time instead: the
//! balance goes into debt and the retry waits until the floor has earned the token back, so
//! retries still go out no faster than the floor's rate (plus what successes earn), one after
//! another, and none is lost while the caller can wait that long. The debt is bounded by the
//! longest wait a caller accepts; beyond it nothing is taken and the retry is refused.
//!
//! ```
//! use headway_core::budget::RetryBudget;
//!
//! // 50% of successes, no floor, at most 2 tokens: starts with 2.
//! let budget = RetryBudget::new(500, 0, 2).unwrap();
//! assert!(budget.try_retry(0));
//! assert!(budget.try_retry(0));
//! assert!(!budget.try_retry(0)); // spent: fail fast instead of retrying
//! budget.on_success(0);
//! budget.on_success(0); // two successes earn one retry
//! assert!(budget.try_retry(0));
//! assert_eq!(budget.balance(0), 0);
//! ```

use core::fmt;

use crate::sync::{AtomicU64, Ordering};

/// Milli-tokens in one token (one retry).
const ONE_TOKEN: u64 = 1_000;
/// Nanoseconds per millisecond: the floor earns `min_retries_per_sec` milli-tokens per ms.
const NS_PER_MS: u128 = 1_000_000;
/// Where the stored word puts a balance of zero: it holds `OFFSET + balance`, so a debt is a
/// value below `OFFSET`. [`RetryBudget::reserve_retry`] never takes the word below 0, so a
/// debt is at most `OFFSET` milli-tokens: at the fastest floor (`u32::MAX` per second) that is
/// 12 days of waiting, far past any wait a caller accepts.
const OFFSET: u64 = 1 << 62;

/// Why a retry budget's configuration was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetError {
    /// The ratio was above 1000 per mille: more than one retry per success.
    RatioAboveOne,
    /// `max_balance` was 0: no retry could ever be taken.
    ZeroMaxBalance,
    /// Both the ratio and the floor were 0: after the initial balance, no retry would ever be
    /// allowed again. To turn retries off, give the backoff 0 attempts instead.
    NeverRefills,
}

impl fmt::Display for BudgetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BudgetError::RatioAboveOne => "retry ratio must be at most 1000 per mille",
            BudgetError::ZeroMaxBalance => "retry budget maximum balance must be at least 1",
            BudgetError::NeverRefills => "retry budget needs a ratio or a per-second floor above 0",
        })
    }
}

impl core::error::Error for BudgetError {}

/// A shared, lock-free retry budget. See the [module documentation](self).
///
/// [`RetryBudget::default()`] allows retries worth 20% of successes plus 10 per second, with
/// at most 100 tokens saved: the 20% and 10/s are the defaults Finagle introduced and Linkerd
/// adopted, proven on large fleets. Their deposits expire after a 10 s window, which bounds
/// the reserve to about 10 s of floor; `max_balance = 100` (10 s at 10/s) plays that role here.
///
/// ```
/// use headway_core::budget::RetryBudget;
///
/// let budget = RetryBudget::default();
/// // A fresh budget is full: 100 retries, then the floor's 10 per second.
/// let now = 0;
/// assert_eq!((0..200).filter(|_| budget.try_retry(now)).count(), 100);
/// let one_second_later = 1_000_000_000;
/// assert_eq!(budget.balance(one_second_later), 10);
/// ```
#[derive(Debug)]
pub struct RetryBudget {
    /// Milli-tokens deposited per success (the ratio in per mille).
    deposit: u64,
    /// Floor, in tokens per second.
    per_sec: u64,
    /// The most milli-tokens the balance may hold.
    max: u64,
    balance: AtomicU64,
    refilled_to: AtomicU64,
}

/// A retry budget's settings: plain data, `Copy`, with the defaults stated once.
///
/// ```
/// use headway_core::budget::{BudgetPolicy, RetryBudget};
///
/// let policy = BudgetPolicy { ratio_permille: 100, ..BudgetPolicy::default() };
/// let budget = RetryBudget::from_policy(policy).unwrap();
/// assert_eq!(budget.ratio_permille(), 100);
/// assert_eq!(budget.max_balance(), 100);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetPolicy {
    /// Retries earned per 1000 successes. Default 200 (20%).
    pub ratio_permille: u32,
    /// Retries granted per second whatever the successes. Default 10.
    pub min_retries_per_sec: u32,
    /// The most retries saved up. Default 100.
    pub max_balance: u32,
}

impl Default for BudgetPolicy {
    fn default() -> BudgetPolicy {
        BudgetPolicy {
            ratio_permille: RetryBudget::DEFAULT_RATIO_PERMILLE,
            min_retries_per_sec: RetryBudget::DEFAULT_MIN_RETRIES_PER_SEC,
            max_balance: RetryBudget::DEFAULT_MAX_BALANCE,
        }
    }
}

impl Default for RetryBudget {
    fn default() -> RetryBudget {
        RetryBudget::build(
            RetryBudget::DEFAULT_RATIO_PERMILLE,
            RetryBudget::DEFAULT_MIN_RETRIES_PER_SEC,
            RetryBudget::DEFAULT_MAX_BALANCE,
        )
    }
}

impl RetryBudget {
    /// The default ratio: 200 per mille (20% of successes).
    pub const DEFAULT_RATIO_PERMILLE: u32 = 200;
    /// The default floor: 10 retries per second.
    pub const DEFAULT_MIN_RETRIES_PER_SEC: u32 = 10;
    /// The default maximum balance: 100 tokens.
    pub const DEFAULT_MAX_BALANCE: u32 = 100;

    /// A budget where each success earns `ratio_permille / 1000` of a retry, the floor adds
    /// `min_retries_per_sec` retries per second, and at most `max_balance` retries are saved.
    /// It starts full.
    ///
    /// Fails when the ratio is above 1000, `max_balance` is 0, or both the ratio and the floor
    /// are 0.
    pub fn new(
        ratio_permille: u32,
        min_retries_per_sec: u32,
        max_balance: u32,
    ) -> Result<RetryBudget, BudgetError> {
        if u64::from(ratio_permille) > ONE_TOKEN {
            return Err(BudgetError::RatioAboveOne);
        }
        if max_balance == 0 {
            return Err(BudgetError::ZeroMaxBalance);
        }
        if ratio_permille == 0 && min_retries_per_sec == 0 {
            return Err(BudgetError::NeverRefills);
        }
        Ok(RetryBudget::build(
            ratio_permille,
            min_retries_per_sec,
            max_balance,
        ))
    }

    /// [`RetryBudget::new`] from a [`BudgetPolicy`].
    pub fn from_policy(policy: BudgetPolicy) -> Result<RetryBudget, BudgetError> {
        RetryBudget::new(
            policy.ratio_permille,
            policy.min_retries_per_sec,
            policy.max_balance,
        )
    }

    fn build(ratio_permille: u32, min_retries_per_sec: u32, max_balance: u32) -> RetryBudget {
        let max = u64::from(max_balance) * ONE_TOKEN;
        RetryBudget {
            deposit: u64::from(ratio_permille),
            per_sec: u64::from(min_retries_per_sec),
            max,
            balance: AtomicU64::new(OFFSET + max),
            refilled_to: AtomicU64::new(0),
        }
    }

    /// The ratio, in per mille of successes.
    pub fn ratio_permille(&self) -> u32 {
        // At most 1000 by construction.
        self.deposit as u32
    }

    /// The floor, in retries per second.
    pub fn min_retries_per_sec(&self) -> u32 {
        // Built from a u32.
        self.per_sec as u32
    }

    /// The most retries the budget saves up.
    pub fn max_balance(&self) -> u32 {
        // Built from a u32 times ONE_TOKEN.
        (self.max / ONE_TOKEN) as u32
    }

    /// Records a successful request at `now`: deposits `ratio` of a token.
    pub fn on_success(&self, now: u64) {
        self.refill(now);
        self.add(self.deposit);
    }

    /// Asks to retry at `now`: withdraws one token and returns `true` if the balance holds
    /// one, else returns `false` and changes nothing (the caller should fail the request).
    pub fn try_retry(&self, now: u64) -> bool {
        self.refill(now);
        // Relaxed: the balance is a counter that guards nothing else in memory; each
        // compare-and-swap acts on the latest value in the word's modification order, which
        // is all "never take more than is there" needs.
        let mut balance = self.balance.load(Ordering::Relaxed);
        loop {
            if balance < OFFSET + ONE_TOKEN {
                return false;
            }
            // Relaxed on success and failure: as for the load above.
            match self.balance.compare_exchange_weak(
                balance,
                balance - ONE_TOKEN,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(current) => balance = current,
            }
        }
    }

    /// Asks to retry at `now`, taking the token ahead of time when the balance holds none:
    /// returns the wait before the retry may go, 0 when a token was there, else the time the
    /// floor needs to earn back the debt this retry leaves (to within a thousandth of a
    /// token). Returns `None`, taking nothing, when that wait would be longer than
    /// `max_wait_ns`, or when the balance is short and the budget has no floor to repay it.
    ///
    /// ```
    /// use headway_core::budget::RetryBudget;
    ///
    /// // 2 tokens saved, a floor of 10 per second: the third and fourth retries of an
    /// // outage wait 100 and 200 ms for theirs, the fifth would wait longer than allowed.
    /// let budget = RetryBudget::new(0, 10, 2).unwrap();
    /// let ms = 1_000_000;
    /// assert_eq!(budget.reserve_retry(0, 250 * ms), Some(0));
    /// assert_eq!(budget.reserve_retry(0, 250 * ms), Some(0));
    /// assert_eq!(budget.reserve_retry(0, 250 * ms), Some(100 * ms));
    /// assert_eq!(budget.reserve_retry(0, 250 * ms), Some(200 * ms));
    /// assert_eq!(budget.reserve_retry(0, 250 * ms), None);
    /// // By 200 ms the floor has repaid the debt.
    /// assert_eq!(budget.balance_milli(200 * ms), 0);
    /// assert_eq!(budget.reserve_retry(200 * ms, 0), None);
    /// ```
    pub fn reserve_retry(&self, now: u64, max_wait_ns: u64) -> Option<u64> {
        self.refill(now);
        // Relaxed: as in `try_retry`, the word is a counter guarding nothing else.
        let mut balance = self.balance.load(Ordering::Relaxed);
        loop {
            let next = balance.checked_sub(ONE_TOKEN)?;
            let debt = OFFSET.saturating_sub(next);
            let wait = if debt == 0 {
                0
            } else if self.per_sec == 0 {
                return None;
            } else {
                // The floor earns `per_sec` milli-tokens per millisecond.
                let ns = (u128::from(debt) * NS_PER_MS).div_ceil(u128::from(self.per_sec));
                u64::try_from(ns).ok()?
            };
            if wait > max_wait_ns {
                return None;
            }
            // Relaxed on success and failure: as in `try_retry`.
            match self.balance.compare_exchange_weak(
                balance,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(wait),
                Err(current) => balance = current,
            }
        }
    }

    /// Whole retries available at `now` (crediting the floor up to `now` first).
    pub fn balance(&self, now: u64) -> u32 {
        // At most max_balance, a u32.
        (self.balance_milli(now) / ONE_TOKEN) as u32
    }

    /// The balance at `now` in thousandths of a retry (0 while retries taken ahead of time
    /// are still owed; see [`RetryBudget::reserve_retry`]).
    pub fn balance_milli(&self, now: u64) -> u64 {
        self.refill(now);
        // Relaxed: a snapshot of a counter; see `try_retry`.
        self.balance.load(Ordering::Relaxed).saturating_sub(OFFSET)
    }

    /// Adds `amount` milli-tokens, saturating at the maximum balance.
    fn add(&self, amount: u64) {
        if amount == 0 {
            return;
        }
        // Relaxed: see `try_retry`.
        let mut balance = self.balance.load(Ordering::Relaxed);
        loop {
            let next = balance.saturating_add(amount).min(OFFSET + self.max);
            if next == balance {
                return;
            }
            // Relaxed on success and failure: see `try_retry`.
            match self.balance.compare_exchange_weak(
                balance,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(current) => balance = current,
            }
        }
    }

    /// Credits the floor for the time between `refilled_to` and `now`.
    fn refill(&self, now: u64) {
        if self.per_sec == 0 {
            return;
        }
        let per_sec = u128::from(self.per_sec);
        // Relaxed: `refilled_to` only decides which caller credits which stretch of time; the
        // compare-and-swap below makes that decision exactly once per stretch, and no other
        // memory is published with it. A caller that loses sees the credit in `balance` once
        // the winner's deposit lands; until then it sees less, never more.
        let mut from = self.refilled_to.load(Ordering::Relaxed);
        loop {
            if now <= from {
                return;
            }
            // Milli-tokens the floor has earned since time 0, at `from` and at `now`: the
            // difference is this stretch's share, and the shares of consecutive stretches add
            // up exactly to the whole, so slicing time into many calls loses nothing.
            let earned =
                (u128::from(now) * per_sec / NS_PER_MS) - (u128::from(from) * per_sec / NS_PER_MS);
            if earned == 0 {
                return;
            }
            // At most a full balance over the deepest debt: the cast is lossless.
            let credit = earned.min(u128::from(OFFSET + self.max)) as u64;
            // Relaxed on success and failure: see the load above.
            match self.refilled_to.compare_exchange_weak(
                from,
                now,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.add(credit);
                    return;
                }
                Err(current) => from = current,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SEC: u64 = 1_000_000_000;
    const MS: u64 = 1_000_000;

    #[test]
    fn rejects_bad_configuration() {
        assert_eq!(
            RetryBudget::new(1001, 10, 10).unwrap_err(),
            BudgetError::RatioAboveOne
        );
        assert_eq!(
            RetryBudget::new(200, 10, 0).unwrap_err(),
            BudgetError::ZeroMaxBalance
        );
        assert_eq!(
            RetryBudget::new(0, 0, 10).unwrap_err(),
            BudgetError::NeverRefills
        );
        assert!(RetryBudget::new(1000, 0, 1).is_ok());
        assert!(RetryBudget::new(0, 1, 1).is_ok());
        assert!(RetryBudget::new(0, u32::MAX, u32::MAX).is_ok());
    }

    #[test]
    fn defaults() {
        let b = RetryBudget::default();
        assert_eq!(b.ratio_permille(), 200);
        assert_eq!(b.min_retries_per_sec(), 10);
        assert_eq!(b.max_balance(), 100);
        assert_eq!(b.balance(0), 100);
    }

    #[test]
    fn successes_fund_retries_at_the_ratio() {
        let b = RetryBudget::new(200, 0, 1_000).unwrap();
        while b.try_retry(0) {}
        for _ in 0..100 {
            b.on_success(0);
        }
        // 100 successes at 20% fund exactly 20 retries.
        assert_eq!((0..100).filter(|_| b.try_retry(0)).count(), 20);
        // Four more successes are 0.8 of a token: not enough.
        for _ in 0..4 {
            b.on_success(0);
        }
        assert_eq!(b.balance_milli(0), 800);
        assert!(!b.try_retry(0));
        b.on_success(0);
        assert!(b.try_retry(0));
    }

    #[test]
    fn floor_refills_with_time_and_caps() {
        let b = RetryBudget::new(0, 10, 5).unwrap();
        while b.try_retry(0) {}
        assert_eq!(b.balance(0), 0);
        assert_eq!(b.balance(99 * MS), 0);
        assert_eq!(b.balance(100 * MS), 1);
        assert_eq!(b.balance(SEC / 2), 5);
        assert_eq!(b.balance(10 * SEC), 5);
        // Time going backwards credits nothing and takes nothing.
        assert_eq!(b.balance(SEC), 5);
    }

    #[test]
    fn frequent_calls_lose_no_fractions() {
        // 3 per second is 3 milli-tokens per ms; calls every 100 µs each earn 0.3 of one.
        let b = RetryBudget::new(0, 3, 10).unwrap();
        while b.try_retry(0) {}
        let mut now = 0;
        while now < SEC {
            now += 100_000;
            let _ = b.balance_milli(now);
        }
        assert_eq!(b.balance_milli(SEC), 3_000);
        // And a rate whose tick is not a whole number of nanoseconds: 7 per second.
        let b = RetryBudget::new(0, 7, 10).unwrap();
        while b.try_retry(0) {}
        let mut now = 0;
        while now < SEC {
            now += 12_345;
            let _ = b.balance_milli(now.min(SEC));
        }
        assert_eq!(b.balance_milli(SEC), 7_000);
    }

    #[test]
    fn outage_limits_retries_to_the_floor() {
        // 1000 requests per second, all failing for 10 s, each wanting one retry.
        let b = RetryBudget::default();
        let mut retries = 0;
        for i in 0..10_000u64 {
            if b.try_retry(i * MS) {
                retries += 1;
            }
        }
        // The initial 100, then 10 per second for about 10 seconds.
        assert!((195..=200).contains(&retries), "{retries}");
    }

    /// A budget of the given configuration whose balance starts at 0.
    fn empty(ratio: u32, per_sec: u32, max_balance: u32) -> RetryBudget {
        RetryBudget {
            balance: AtomicU64::new(OFFSET),
            ..RetryBudget::new(ratio, per_sec, max_balance).unwrap()
        }
    }

    #[test]
    fn absurd_times_do_not_overflow() {
        let b = empty(1000, u32::MAX, u32::MAX);
        assert_eq!(b.balance(u64::MAX), u32::MAX);
        b.on_success(u64::MAX);
        assert_eq!(b.balance(u64::MAX), u32::MAX);
        assert!(b.try_retry(u64::MAX));
        assert_eq!(b.balance(0), u32::MAX - 1);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Success(u64),
        Retry(u64),
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..2 * SEC).prop_map(Op::Success),
            (0u64..2 * SEC).prop_map(Op::Retry),
        ]
    }

    proptest! {
        /// Step by step, with time moving forward: the balance stays in [0, max]; a retry is
        /// granted exactly when a whole token is there and takes exactly one; a success adds
        /// exactly the ratio, up to the cap.
        #[test]
        fn each_step_does_exactly_its_part(
            ratio in 0u32..=1000,
            per_sec in 0u32..=50,
            max_balance in 1u32..=20,
            ops in proptest::collection::vec(op_strategy(), 1..200),
        ) {
            prop_assume!(ratio > 0 || per_sec > 0);
            let b = RetryBudget::new(ratio, per_sec, max_balance).unwrap();
            let max = u64::from(max_balance) * 1000;
            let mut now = 0u64;
            for op in &ops {
                let (dt, retry) = match *op {
                    Op::Success(dt) => (dt / 1000, false),
                    Op::Retry(dt) => (dt / 1000, true),
                };
                now += dt;
                let before = b.balance_milli(now);
                prop_assert!(before <= max);
                if retry {
                    let ok = b.try_retry(now);
                    prop_assert_eq!(ok, before >= 1000);
                    let after = b.balance_milli(now);
                    prop_assert_eq!(after, if ok { before - 1000 } else { before });
                } else {
                    b.on_success(now);
                    prop_assert_eq!(b.balance_milli(now), (before + u64::from(ratio)).min(max));
                }
            }
        }

        /// Below the cap, the floor credits exactly floor(t * rate / 1e6) milli-tokens over
        /// t nanoseconds, however the time is cut into calls.
        #[test]
        fn refill_is_exact_however_time_is_sliced(
            per_sec in 1u32..=1000,
            mut cuts in proptest::collection::vec(0u64..=10 * SEC, 0..30),
            end in 0u64..=10 * SEC,
        ) {
            let b = empty(0, per_sec, u32::MAX);
            cuts.sort_unstable();
            for &t in cuts.iter().filter(|&&t| t <= end) {
                let _ = b.balance_milli(t);
            }
            let expect = u64::from(per_sec) * end / 1_000_000;
            prop_assert_eq!(b.balance_milli(end), expect);
        }
    }
}
