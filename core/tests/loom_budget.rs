//! Loom models of the retry budget's lock-free balance and floor refill.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p headway-core --release --test loom_budget`.
#![cfg(loom)]

use headway_core::budget::RetryBudget;
use loom::sync::Arc;
use loom::thread;

const SEC: u64 = 1_000_000_000;

/// Three concurrent retries against a balance of two tokens: exactly two are granted and the
/// balance ends at zero, never below.
#[test]
fn concurrent_retries_never_overdraw() {
    loom::model(|| {
        // No floor; starts full with 2 tokens.
        let budget = Arc::new(RetryBudget::new(1000, 0, 2).unwrap());
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let budget = budget.clone();
                thread::spawn(move || budget.try_retry(0))
            })
            .collect();
        let mut granted = usize::from(budget.try_retry(0));
        for handle in handles {
            granted += usize::from(handle.join().unwrap());
        }
        assert_eq!(granted, 2);
        assert_eq!(budget.balance_milli(0), 0);
    });
}

/// A success deposits while a retry withdraws from an empty balance: the retry is granted only
/// if the deposit landed first, and a token is never both spent and still there.
#[test]
fn deposit_racing_a_withdrawal() {
    loom::model(|| {
        let budget = Arc::new(RetryBudget::new(1000, 0, 1).unwrap());
        assert!(budget.try_retry(0));
        let depositor = {
            let budget = budget.clone();
            thread::spawn(move || budget.on_success(0))
        };
        let granted = budget.try_retry(0);
        depositor.join().unwrap();
        let left = budget.balance(0);
        assert_eq!(u32::from(granted) + left, 1);
    });
}

/// Two callers see the same second of floor refill at once: it is credited once (one token at
/// one per second), so exactly one of their retries is granted.
#[test]
fn refill_is_credited_once() {
    loom::model(|| {
        let budget = Arc::new(RetryBudget::new(0, 1, 5).unwrap());
        // Drain the initial balance at time 0 (no time has passed, no credit).
        while budget.try_retry(0) {}
        let other = {
            let budget = budget.clone();
            thread::spawn(move || budget.try_retry(SEC))
        };
        let mine = budget.try_retry(SEC);
        let theirs = other.join().unwrap();
        assert_eq!(usize::from(mine) + usize::from(theirs), 1);
        assert_eq!(budget.balance_milli(SEC), 0);
    });
}

/// A second of floor refill and a deposit land while a retry withdraws: every token that came
/// in (one from the floor, one from the success) is either granted or still in the balance,
/// exactly once.
#[test]
fn refill_deposit_and_withdrawal_conserve_tokens() {
    loom::model(|| {
        let budget = Arc::new(RetryBudget::new(1000, 1, 5).unwrap());
        while budget.try_retry(0) {}
        let success = {
            let budget = budget.clone();
            thread::spawn(move || budget.on_success(SEC))
        };
        let granted = budget.try_retry(SEC);
        success.join().unwrap();
        assert_eq!(u32::from(granted) + budget.balance(SEC), 2);
        assert_eq!(budget.balance_milli(SEC) % 1000, 0);
    });
}

/// Two retries taken ahead of time from an empty balance at once: each gets its own token of
/// the floor's, one waiting 100 ms and the other 200 ms, and the debt is exactly the two.
#[test]
fn retries_taken_ahead_of_time_queue_for_distinct_tokens() {
    loom::model(|| {
        const MS: u64 = 1_000_000;
        let budget = Arc::new(RetryBudget::new(0, 10, 1).unwrap());
        assert!(budget.try_retry(0));
        let other = {
            let budget = budget.clone();
            thread::spawn(move || budget.reserve_retry(0, SEC))
        };
        let mine = budget.reserve_retry(0, SEC).unwrap();
        let theirs = other.join().unwrap().unwrap();
        let mut waits = [mine, theirs];
        waits.sort_unstable();
        assert_eq!(waits, [100 * MS, 200 * MS]);
        assert_eq!(budget.reserve_retry(0, SEC), Some(300 * MS));
    });
}
