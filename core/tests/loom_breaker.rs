//! Loom models of the circuit breaker's one-word state machine.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p headway-core --release --test loom_breaker`.
#![cfg(loom)]

use headway_core::breaker::{BreakerState, CircuitBreaker};
use loom::sync::Arc;
use loom::thread;

const SEC: u64 = 1_000_000_000;

/// A breaker with threshold 1 opened at time 0 for one second.
fn opened() -> CircuitBreaker {
    let breaker = CircuitBreaker::new(1, SEC).unwrap();
    let permit = breaker.acquire(0).unwrap();
    assert!(breaker.on_failure(permit, 0));
    breaker
}

/// Three requests race for the half-open slot: exactly one becomes the probe, the others are
/// rejected, and no request passes as an ordinary (non-probe) permit.
#[test]
fn half_open_admits_exactly_one_probe() {
    loom::model(|| {
        let breaker = Arc::new(opened());
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let breaker = breaker.clone();
                thread::spawn(move || breaker.acquire(SEC + i).ok())
            })
            .collect();
        let mine = breaker.acquire(SEC + 2).ok();
        let mut probes = usize::from(mine.is_some());
        for handle in handles {
            if let Some(permit) = handle.join().unwrap() {
                assert!(permit.is_probe());
                probes += 1;
            }
        }
        if let Some(permit) = mine {
            assert!(permit.is_probe());
        }
        assert_eq!(probes, 1);
        assert_eq!(
            breaker.state(SEC + 2),
            BreakerState::HalfOpen {
                probe_in_flight: true
            }
        );
    });
}

/// Three concurrent failures against a threshold of two: the breaker opens exactly once (one
/// report says it opened it), and ends open.
#[test]
fn concurrent_failures_open_it_once() {
    loom::model(|| {
        let breaker = Arc::new(CircuitBreaker::new(2, SEC).unwrap());
        // Three requests admitted while closed, whose failures are then reported at once.
        let permits = [(); 3].map(|_| breaker.acquire(0).unwrap());
        let handles: Vec<_> = permits[1..]
            .iter()
            .map(|&permit| {
                let breaker = breaker.clone();
                thread::spawn(move || breaker.on_failure(permit, 0))
            })
            .collect();
        let permit = permits[0];
        let mut opened = usize::from(breaker.on_failure(permit, 0));
        for handle in handles {
            opened += usize::from(handle.join().unwrap());
        }
        assert_eq!(opened, 1);
        assert!(breaker.acquire(0).is_err());
        assert_eq!(breaker.state(0), BreakerState::Open { retry_in_ns: SEC });
    });
}

/// The probe fails while another request asks to pass: that request is rejected whichever
/// comes first (half-open with the probe in flight, or open again), never admitted as a
/// second probe or an ordinary request.
#[test]
fn probe_failure_racing_an_acquire_admits_nothing_else() {
    loom::model(|| {
        let breaker = Arc::new(opened());
        let probe = breaker.acquire(SEC).unwrap();
        assert!(probe.is_probe());
        let other = {
            let breaker = breaker.clone();
            thread::spawn(move || breaker.acquire(SEC + 1).is_err())
        };
        assert!(breaker.on_failure(probe, SEC));
        assert!(other.join().unwrap());
        assert_eq!(breaker.state(SEC), BreakerState::Open { retry_in_ns: SEC });
    });
}

/// The probe succeeds while a late failure from a request admitted before the breaker opened
/// is reported: the probe's success always closes the breaker, and the late failure either
/// lands before it (ignored, the breaker was half-open) or after it (one failure counted in
/// the closed state, below the threshold of two).
#[test]
fn probe_success_racing_a_stale_failure() {
    loom::model(|| {
        let breaker = CircuitBreaker::new(2, SEC).unwrap();
        let early = breaker.acquire(0).unwrap();
        for _ in 0..2 {
            let permit = breaker.acquire(0).unwrap();
            let _ = breaker.on_failure(permit, 0);
        }
        let breaker = Arc::new(breaker);
        let probe = breaker.acquire(SEC).unwrap();
        let late = {
            let breaker = breaker.clone();
            thread::spawn(move || breaker.on_failure(early, SEC))
        };
        assert!(breaker.on_success(probe, SEC));
        assert!(!late.join().unwrap());
        match breaker.state(SEC) {
            BreakerState::Closed {
                consecutive_failures,
            } => assert!(consecutive_failures <= 1),
            other => panic!("expected closed, got {other:?}"),
        }
    });
}

/// The probe is given back unsent while another request asks to pass: that request is
/// either rejected (it asked first) or becomes the next probe; never an ordinary permit, and
/// at most one probe is out at the end.
#[test]
fn a_probe_given_back_lets_exactly_one_other_be_the_probe() {
    loom::model(|| {
        let breaker = Arc::new(opened());
        let probe = breaker.acquire(SEC).unwrap();
        let other = {
            let breaker = breaker.clone();
            thread::spawn(move || breaker.acquire(SEC).ok())
        };
        assert!(breaker.release_probe(probe));
        let other = other.join().unwrap();
        if let Some(permit) = other {
            assert!(permit.is_probe());
        }
        assert_eq!(
            breaker.state(SEC),
            BreakerState::HalfOpen {
                probe_in_flight: other.is_some()
            }
        );
    });
}
