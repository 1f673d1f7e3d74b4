//! [`run_all`]: one output per item, in order when asked, and memory bounded by the
//! concurrency cap however long the input is.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::StreamExt;
use headway_engine::testing::FakeRuntime;
use headway_engine::{run_all, BatchOptions, Order, Runtime};

/// How many of something are alive now, and the most there ever were at once.
#[derive(Default)]
struct Gauge {
    now: AtomicU64,
    peak: AtomicU64,
}

impl Gauge {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }

    fn now(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }

    fn peak(&self) -> u64 {
        self.peak.load(Ordering::SeqCst)
    }
}

/// A million lazily produced items through a cap of 8: every item yields exactly one output,
/// in input order, and exactly 8 calls (and pulled items) are alive at the busiest moment,
/// never more. Every call sleeps, so each one is alive across at least one wait; the gauges
/// count them while the batch runs.
#[test]
fn a_million_items_stay_within_the_cap() {
    const N: u64 = 1_000_000;
    let rt = FakeRuntime::new();
    // From the moment `run_all` pulls an item until its call has finished.
    let pulled = Arc::new(Gauge::default());
    // From the first poll of a call until it has finished.
    let running = Arc::new(Gauge::default());
    let taken = Arc::new(AtomicU64::new(0));
    let items = {
        let taken = Arc::clone(&taken);
        (0..N).inspect(move |_| {
            taken.fetch_add(1, Ordering::SeqCst);
        })
    };
    let (count, in_order) = rt.run({
        let (pulled, running, rt) = (Arc::clone(&pulled), Arc::clone(&running), rt.clone());
        let outputs = run_all(items, BatchOptions::new(8), move |i| {
            let (pulled, running, rt) = (Arc::clone(&pulled), Arc::clone(&running), rt.clone());
            pulled.enter();
            async move {
                running.enter();
                // Items finish out of order: later ones sooner.
                let wait = if i % 3 == 0 { 10 } else { 1 };
                rt.sleep_until(rt.now_ns() + wait).await;
                running.leave();
                pulled.leave();
                i
            }
        });
        outputs
            .enumerate()
            .fold((0u64, true), |(n, ok), (k, i)| async move {
                (n + 1, ok && k as u64 == i)
            })
    });
    // One output per item: N of them, the k-th being item k.
    assert_eq!(count, N);
    assert!(in_order, "outputs came out of input order");
    assert_eq!(taken.load(Ordering::SeqCst), N);
    // The cap was reached and never exceeded.
    assert_eq!(running.peak(), 8, "calls running at once");
    assert_eq!(pulled.peak(), 8, "items pulled and not finished at once");
    assert_eq!((running.now(), pulled.now()), (0, 0));
}

/// Unordered: every item still yields exactly one output.
#[test]
fn unordered_yields_each_item_once() {
    let rt = FakeRuntime::new();
    let mut out: Vec<u32> = rt.run({
        let rt = rt.clone();
        run_all(
            0..1_000u32,
            BatchOptions::new(16).order(Order::Completion),
            move |i| {
                let rt = rt.clone();
                async move {
                    rt.sleep_until(u64::from(1_000 - i)).await;
                    i
                }
            },
        )
        .collect()
    });
    assert_ne!(
        out,
        (0..1_000).collect::<Vec<_>>(),
        "completion order should differ"
    );
    out.sort_unstable();
    assert_eq!(out, (0..1_000).collect::<Vec<_>>());
}
