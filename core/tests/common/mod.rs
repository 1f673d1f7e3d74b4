//! Setup shared by the loom models.
#![allow(dead_code)]

use headway_core::Quota;
use loom::model::Builder;
use loom::sync::Arc;
use loom::thread;

/// One request per `t` nanoseconds (emission interval `t`) with the given burst.
pub fn quota(t: u64, burst: u32) -> Quota {
    Quota::from_nanos(1, t).unwrap().with_burst(burst).unwrap()
}

/// A model checker: exhaustive (`None`) where that takes well under a second, bounded to a
/// number of preemptions elsewhere so each model runs in seconds. `LOOM_MAX_PREEMPTIONS` in the
/// environment overrides the bound, for deeper runs.
pub fn builder(preemptions: Option<usize>) -> Builder {
    let mut b = Builder::new();
    b.preemption_bound = b.preemption_bound.or(preemptions);
    b
}

/// Runs `f` on `threads` new threads and on the current one, and returns every result.
pub fn on_threads<R: Send + 'static>(
    threads: usize,
    f: impl Fn(usize) -> R + Send + Sync + 'static,
) -> Vec<R> {
    let f = Arc::new(f);
    let handles: Vec<_> = (1..=threads)
        .map(|i| {
            let f = f.clone();
            thread::spawn(move || f(i))
        })
        .collect();
    let mut out = vec![f(0)];
    out.extend(handles.into_iter().map(|h| h.join().unwrap()));
    out
}
