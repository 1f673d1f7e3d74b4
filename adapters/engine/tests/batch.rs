//! [`run_all`]: one output per item, in order when asked, and memory bounded by the
//! concurrency cap however long the input is.

use std::cell::Cell;
use std::rc::Rc;

use futures_util::StreamExt;
use headway_engine::testing::FakeRuntime;
use headway_engine::{run_all, Runtime};

/// A million lazily produced items through a cap of 8: every item yields exactly one output,
/// in input order, and never more than 8 calls (or pulled items) are alive at once.
#[test]
fn a_million_items_stay_within_the_cap() {
    const N: u64 = 1_000_000;
    let rt = FakeRuntime::new();
    let alive = Rc::new(Cell::new(0u64));
    let peak = Rc::new(Cell::new(0u64));
    let pulled = Rc::new(Cell::new(0u64));
    let items = {
        let pulled = Rc::clone(&pulled);
        (0..N).inspect(move |_| pulled.set(pulled.get() + 1))
    };
    let (count, in_order) = rt.run({
        let (alive, peak, rt) = (Rc::clone(&alive), Rc::clone(&peak), rt.clone());
        let outputs = run_all(items, 8, true, move |i| {
            let (alive, peak, rt) = (Rc::clone(&alive), Rc::clone(&peak), rt.clone());
            alive.set(alive.get() + 1);
            peak.set(peak.get().max(alive.get()));
            async move {
                // Items finish out of order: later ones sooner.
                if i % 3 == 0 {
                    rt.sleep_until(rt.now_ns() + 10).await;
                }
                alive.set(alive.get() - 1);
                i
            }
        });
        outputs
            .enumerate()
            .fold((0u64, true), |(n, ok), (k, i)| async move {
                (n + 1, ok && k as u64 == i)
            })
    });
    assert_eq!(count, N);
    assert!(in_order, "outputs came out of input order");
    assert_eq!(pulled.get(), N);
    assert!(peak.get() <= 8, "{} calls alive at once", peak.get());
    assert_eq!(alive.get(), 0);
}

/// Unordered: every item still yields exactly one output.
#[test]
fn unordered_yields_each_item_once() {
    let rt = FakeRuntime::new();
    let mut out: Vec<u32> = rt.run({
        let rt = rt.clone();
        run_all(0..1_000u32, 16, false, move |i| {
            let rt = rt.clone();
            async move {
                rt.sleep_until(u64::from(1_000 - i)).await;
                i
            }
        })
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
