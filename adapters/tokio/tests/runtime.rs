//! The tokio runtime's clock and timers: a sleep never ends before its deadline.

use headway_engine::Runtime;
use headway_tokio::{Timer, TokioRuntime};

/// Both timers, on real time: every sleep ends at or after its deadline on the runtime's own
/// clock (the precise timer's hand-over must never make it early), including deadlines in the
/// past and far beyond any representable instant.
#[tokio::test]
async fn sleeps_never_end_early() {
    for timer in [Timer::Precise, Timer::Tokio] {
        let rt = TokioRuntime::with_timer(timer);
        for offset_us in [0u64, 300, 1_500, 2_500, 7_000] {
            let deadline = rt.now_ns() + offset_us * 1_000;
            rt.sleep_until(deadline).await;
            assert!(
                rt.now_ns() >= deadline,
                "{timer:?} woke early by {} ns",
                deadline - rt.now_ns()
            );
        }
        // A deadline already passed is immediate.
        rt.sleep_until(0).await;
        // A deadline beyond any instant saturates instead of panicking.
        let far = rt.sleep_until(u64::MAX);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(5), far)
                .await
                .is_err()
        );
    }
}
