//! The shared scheduler ([`Limiter`]) on the virtual clock: FIFO order at exact GCRA times,
//! O(1) wake-ups per waiter, cancel-safety, per-key pauses, the in-flight cap kept apart from
//! the rate, `try_acquire` and its typed refusals, and bounded keyed memory.
//!
//! Every time asserted here is an exact nanosecond on [`FakeRuntime`]'s clock.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_util::future::join_all;
use futures_util::FutureExt;
use headway_core::{Impossible, Quota};
use headway_engine::testing::FakeRuntime;
use headway_engine::{Acquire, AcquireError, Limiter, Permit, Runtime, TryAcquireError};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

fn per_second(n: u32) -> Quota {
    Quota::per_second(n).unwrap()
}

fn limiter(quotas: &[Quota]) -> (FakeRuntime, Limiter<&'static str, FakeRuntime>) {
    limiter_waiting(quotas, 600 * S)
}

/// A limiter whose waiters may wait up to `max_wait_ns` nanoseconds for their turn.
fn limiter_waiting(
    quotas: &[Quota],
    max_wait_ns: u64,
) -> (FakeRuntime, Limiter<&'static str, FakeRuntime>) {
    let rt = FakeRuntime::new();
    let mut b = Limiter::builder(rt.clone()).max_wait(Duration::from_nanos(max_wait_ns));
    for q in quotas {
        b = b.quota(*q);
    }
    (rt.clone(), b.build().unwrap())
}

/// Runs `futs` to completion on `rt` and returns when each was granted, in order.
fn release_times(rt: &FakeRuntime, futs: Vec<Acquire<FakeRuntime>>) -> Vec<u64> {
    rt.run(join_all(futs.into_iter().map(|f| {
        let rt = rt.clone();
        async move {
            drop(f.await.unwrap());
            rt.now_ns()
        }
    })))
}

/// A waker that counts how often it is woken.
#[derive(Default)]
struct Counter {
    wakes: AtomicUsize,
    woken: AtomicBool,
}

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.woken.store(true, Ordering::SeqCst);
    }
}

/// One acquisition driven by hand, with its own counting waker.
struct Probe {
    fut: Option<Acquire<FakeRuntime>>,
    counter: Arc<Counter>,
    waker: Waker,
    polls: usize,
    released_at: Option<u64>,
    permit: Option<Permit>,
}

impl Probe {
    fn new(fut: Acquire<FakeRuntime>) -> Probe {
        let counter = Arc::new(Counter::default());
        Probe {
            fut: Some(fut),
            waker: Waker::from(Arc::clone(&counter)),
            counter,
            polls: 0,
            released_at: None,
            permit: None,
        }
    }

    fn wakes(&self) -> usize {
        self.counter.wakes.load(Ordering::SeqCst)
    }

    fn take_woken(&self) -> bool {
        self.counter.woken.swap(false, Ordering::SeqCst)
    }

    /// Polls once; on completion records the time and keeps the permit.
    fn poll(&mut self, rt: &FakeRuntime) -> bool {
        let Some(fut) = self.fut.as_mut() else {
            return true;
        };
        self.polls += 1;
        let mut cx = Context::from_waker(&self.waker);
        match Pin::new(fut).poll(&mut cx) {
            Poll::Ready(r) => {
                self.permit = Some(r.expect("acquire failed"));
                self.released_at = Some(rt.now_ns());
                self.fut = None;
                true
            }
            Poll::Pending => false,
        }
    }
}

/// Drives the probes like an executor that polls only what was woken, jumping the clock to
/// the next timer when nothing is runnable. Permits are dropped as soon as they are granted.
fn drive(rt: &FakeRuntime, probes: &mut [Probe]) {
    for p in probes.iter_mut() {
        p.poll(rt);
        p.permit = None;
    }
    loop {
        let mut progressed = false;
        for p in probes.iter_mut() {
            if p.fut.is_some() && p.take_woken() {
                progressed = true;
                p.poll(rt);
                p.permit = None;
            }
        }
        if progressed {
            continue;
        }
        if probes.iter().all(|p| p.fut.is_none()) {
            return;
        }
        let next = rt
            .next_timer()
            .expect("deadlock: waiters pending and no timer set");
        rt.advance_to(next);
    }
}

/// Runs `futs` concurrently on the virtual clock and returns `(index, release time)` in the
/// order the permits were granted. Permits are dropped at once.
fn release_order(rt: &FakeRuntime, futs: Vec<Acquire<FakeRuntime>>) -> Vec<(usize, u64)> {
    let log = Rc::new(RefCell::new(Vec::new()));
    rt.run(join_all(futs.into_iter().enumerate().map(|(i, f)| {
        let log = Rc::clone(&log);
        let rt = rt.clone();
        async move {
            let permit = f.await.expect("acquire failed");
            log.borrow_mut().push((i, rt.now_ns()));
            drop(permit);
        }
    })));
    let out = log.borrow().clone();
    out
}

#[test]
fn fifo_release_at_exact_gcra_times() {
    // 4/s, burst 1: T = 250 ms.
    let (rt, lim) = limiter(&[per_second(4)]);
    let futs: Vec<_> = (0..8).map(|_| lim.acquire(&"k")).collect();
    let got = release_order(&rt, futs);
    let want: Vec<(usize, u64)> = (0..8).map(|i| (i, i as u64 * 250 * MS)).collect();
    assert_eq!(got, want);
}

#[test]
fn fifo_with_burst_releases_the_burst_then_spaces() {
    // 10/s with burst 3: T = 100 ms, tau = 200 ms. Three at once, then every 100 ms.
    let (rt, lim) = limiter(&[per_second(10).with_burst(3).unwrap()]);
    let futs: Vec<_> = (0..6).map(|_| lim.acquire(&"k")).collect();
    let got = release_order(&rt, futs);
    assert_eq!(
        got,
        vec![
            (0, 0),
            (1, 0),
            (2, 0),
            (3, 100 * MS),
            (4, 200 * MS),
            (5, 300 * MS)
        ]
    );
}

#[test]
fn a_large_request_is_not_overtaken_by_later_small_ones() {
    // 10/s burst 3. One cell is taken at 0, so TAT = 100 ms. Three cells conform at
    // TAT + 2T - tau = 100 ms. The small requests behind it could each go at 0 if they were
    // allowed to jump the queue; FIFO makes them wait for the big one.
    let (rt, lim) = limiter(&[per_second(10).with_burst(3).unwrap()]);
    drop(lim.try_acquire(&"k").unwrap());
    let futs = vec![
        lim.acquire_n(&"k", 3),
        lim.acquire(&"k"),
        lim.acquire(&"k"),
        lim.acquire(&"k"),
    ];
    let got = release_order(&rt, futs);
    // After the big one, TAT = 400 ms: the small ones go at 200, 300 and 400 ms.
    assert_eq!(
        got,
        vec![(0, 100 * MS), (1, 200 * MS), (2, 300 * MS), (3, 400 * MS)]
    );
}

#[test]
fn a_large_request_is_served_under_a_steady_stream_of_small_ones() {
    // Small requests keep arriving every 50 ms (twice the rate), and a 3-cell request arrives
    // among them: it must still be granted, and everything after it waits for it.
    let (rt, lim) = limiter(&[per_second(10).with_burst(3).unwrap()]);
    let big_at = Rc::new(RefCell::new(None));
    let small_after_big = Rc::new(RefCell::new(Vec::new()));
    let tasks: Vec<Pin<Box<dyn Future<Output = ()>>>> = (0..20u64)
        .map(|i| {
            let lim = lim.clone();
            let rt2 = rt.clone();
            let big_at = Rc::clone(&big_at);
            let small_after_big = Rc::clone(&small_after_big);
            Box::pin(async move {
                rt2.sleep_until(i * 50 * MS).await;
                if i == 5 {
                    let p = lim.acquire_n(&"k", 3).await.unwrap();
                    *big_at.borrow_mut() = Some(rt2.now_ns());
                    drop(p);
                } else {
                    let p = lim.acquire(&"k").await.unwrap();
                    if i > 5 {
                        small_after_big.borrow_mut().push(rt2.now_ns());
                    }
                    drop(p);
                }
            }) as Pin<Box<dyn Future<Output = ()>>>
        })
        .collect();
    rt.run(join_all(tasks));
    let big = big_at
        .borrow()
        .expect("the large request was never granted");
    assert!(
        small_after_big.borrow().iter().all(|&t| t >= big),
        "a later small request went before the large one: big at {big}, {:?}",
        small_after_big.borrow()
    );
}

#[test]
fn a_waiter_behind_a_hundred_others_is_woken_a_constant_number_of_times() {
    // 100/s: T = 10 ms. 101 waiters on one key.
    let (rt, lim) = limiter(&[per_second(100)]);
    let mut probes: Vec<Probe> = (0..101).map(|_| Probe::new(lim.acquire(&"k"))).collect();
    drive(&rt, &mut probes);
    for (i, p) in probes.iter().enumerate() {
        assert_eq!(p.released_at, Some(i as u64 * 10 * MS), "waiter {i}");
        // Woken when it becomes the head (by its predecessor leaving and by that permit's
        // release) and when its time comes: never once per other waiter.
        assert!(p.wakes() <= 4, "waiter {i} woken {} times", p.wakes());
        assert!(p.polls <= 4, "waiter {i} polled {} times", p.polls);
    }
    let total: usize = probes.iter().map(Probe::wakes).sum();
    assert!(total <= 3 * probes.len(), "{total} wakes in all");
}

#[test]
fn thousand_cancelled_waiters_leave_no_trace() {
    // 1,000 turns at 1/s: max_wait must reach past the last of them.
    let (rt, lim) = limiter_waiting(&[per_second(1)], 2_000 * S);
    drop(lim.try_acquire(&"k").unwrap());
    // 1,000 waiters, each polled once (the head sleeps until 1 s), then all dropped.
    let mut probes: Vec<Probe> = (0..1000).map(|_| Probe::new(lim.acquire(&"k"))).collect();
    for p in probes.iter_mut() {
        assert!(!p.poll(&rt));
    }
    assert_eq!(lim.snapshot(&"k").queued, 1000);
    drop(probes);
    assert_eq!(lim.snapshot(&"k").queued, 0);
    assert_eq!(
        rt.next_timer(),
        None,
        "a dropped waiter left its timer behind"
    );
    // The rate slot at 1 s is still free: nothing was consumed by the cancelled waiters.
    rt.advance_to(S);
    let mut at_one = lim.acquire(&"k");
    let permit = (&mut at_one)
        .now_or_never()
        .expect("the next acquire was delayed by cancelled waiters");
    drop(permit.unwrap());
    assert_eq!(
        rt.next_timer(),
        None,
        "a granted acquire left a timer armed"
    );
    drop(at_one);
    // And the one after is exactly one interval later, not a thousand.
    let mut next = Probe::new(lim.acquire(&"k"));
    drive(&rt, std::slice::from_mut(&mut next));
    assert_eq!(next.released_at, Some(2 * S));
}

#[test]
fn cancelled_waiters_do_not_delay_an_immediate_acquire() {
    // Once the rate allows it, the next request must be granted at once.
    let (rt, lim) = limiter_waiting(&[per_second(1)], 2_000 * S);
    drop(lim.try_acquire(&"k").unwrap());
    let mut probes: Vec<Probe> = (0..1000).map(|_| Probe::new(lim.acquire(&"k"))).collect();
    for p in probes.iter_mut() {
        p.poll(&rt);
    }
    // Drop from the back, then the head last: the order must not matter.
    while probes.pop().is_some() {}
    rt.advance_to(5 * S);
    assert!(
        lim.try_acquire(&"k").is_ok(),
        "try_acquire blocked by ghosts"
    );
}

#[test]
fn dropping_the_head_passes_the_turn_to_the_next_waiter() {
    let (rt, lim) = limiter(&[per_second(1)]);
    drop(lim.try_acquire(&"k").unwrap());
    let mut head = Probe::new(lim.acquire(&"k"));
    let mut next = Probe::new(lim.acquire(&"k"));
    assert!(!head.poll(&rt));
    assert!(!next.poll(&rt));
    assert_eq!(rt.next_timer(), Some(S), "the head sleeps until its slot");
    rt.advance_to(500 * MS);
    drop(head);
    assert!(
        next.take_woken(),
        "the next waiter was not told it is the head"
    );
    assert!(!next.poll(&rt));
    // The cancelled head consumed nothing: the next waiter takes its slot at 1 s.
    assert_eq!(rt.next_timer(), Some(S));
    rt.advance_to(S);
    assert!(next.take_woken());
    assert!(next.poll(&rt));
    assert_eq!(next.released_at, Some(S));
}

#[test]
fn pause_delays_every_queued_waiter_of_its_key_and_no_other() {
    // 10/s on both keys: T = 100 ms.
    let (rt, lim) = limiter(&[per_second(10)]);
    let a: Vec<_> = (0..5).map(|_| lim.acquire(&"a")).collect();
    let b: Vec<_> = (0..5).map(|_| lim.acquire(&"b")).collect();
    let log = Rc::new(RefCell::new(Vec::new()));
    let track = |key: &'static str, futs: Vec<Acquire<FakeRuntime>>| {
        let log = Rc::clone(&log);
        let rt = rt.clone();
        join_all(futs.into_iter().map(move |f| {
            let log = Rc::clone(&log);
            let rt = rt.clone();
            async move {
                drop(f.await.unwrap());
                log.borrow_mut().push((key, rt.now_ns()));
            }
        }))
    };
    let pauser = {
        let rt = rt.clone();
        let lim = lim.clone();
        async move {
            // At 50 ms the server says: nothing on "a" for 1.95 s, before 2 s.
            rt.sleep_until(50 * MS).await;
            lim.pause_for(&"a", Duration::from_millis(1_950));
        }
    };
    rt.run(futures_util::future::join3(
        track("a", a),
        track("b", b),
        pauser,
    ));
    let times = |key| -> Vec<u64> {
        log.borrow()
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|&(_, t)| t)
            .collect()
    };
    // "a": the first went at 0; every queued one moved behind the pause, then the rate.
    assert_eq!(times("a"), vec![0, 2 * S, 2100 * MS, 2200 * MS, 2300 * MS]);
    // "b": untouched.
    assert_eq!(times("b"), vec![0, 100 * MS, 200 * MS, 300 * MS, 400 * MS]);
}

#[test]
fn a_pause_wakes_only_the_head_and_is_kept_by_later_waiters() {
    let (rt, lim) = limiter(&[]);
    let mut probes: Vec<Probe> = (0..3).map(|_| Probe::new(lim.acquire(&"k"))).collect();
    // The first goes at once (no quota), its permit is held so the others wait.
    assert!(probes[0].poll(&rt));
    lim.pause_for(&"k", Duration::from_secs(3));
    probes[0].permit = None;
    drive(&rt, &mut probes[1..]);
    assert_eq!(probes[1].released_at, Some(3 * S));
    assert_eq!(probes[2].released_at, Some(3 * S));
    assert!(probes[2].wakes() <= 3, "{} wakes", probes[2].wakes());
}

#[test]
fn a_pause_of_every_key_reaches_keys_held_dropped_and_new() {
    let (rt, lim) = limiter(&[per_second(10)]);
    drop(lim.try_acquire(&"held").unwrap());
    // Idle and unlimited-looking once swept: "gone" is dropped from the map.
    drop(lim.try_acquire(&"gone").unwrap());
    rt.advance(S);
    assert_eq!(lim.sweep(), 0, "idle keys go");
    let _busy = lim.try_acquire(&"held").unwrap();
    lim.pause_all_for(Duration::from_millis(500));
    // A key held, one the sweep dropped, and one never seen: none goes before 1.5 s.
    let times: Vec<u64> = rt.run(async {
        let mut times = Vec::new();
        for key in ["held", "gone", "new"] {
            drop(lim.acquire(&key).await.unwrap());
            times.push(rt.now_ns());
        }
        times
    });
    assert_eq!(times, vec![1500 * MS, 1500 * MS, 1500 * MS]);
    // Once it is over, a new key starts unpaused.
    let later = rt.now_ns();
    assert!(lim.try_acquire(&"newer").is_ok());
    assert_eq!(rt.now_ns(), later);
}

#[test]
fn a_waiter_for_rate_holds_no_in_flight_slot() {
    // Global cap 2. Key "slow" allows one request per 10 s; "b" and "c" are unlimited.
    let rt = FakeRuntime::new();
    let lim: Limiter<&str, FakeRuntime> = Limiter::builder(rt.clone())
        .key_quotas(
            "slow",
            vec![Quota::new(1, Duration::from_secs(10)).unwrap()],
        )
        .concurrency(2)
        .build()
        .unwrap();
    drop(lim.try_acquire(&"slow").unwrap());
    // Two waiters for rate on "slow", both polled and sleeping until 10 s.
    let mut slow: Vec<Probe> = (0..2).map(|_| Probe::new(lim.acquire(&"slow"))).collect();
    for p in slow.iter_mut() {
        assert!(!p.poll(&rt));
    }
    rt.advance_to(S);
    // Both in-flight slots are free for other keys.
    let b = lim
        .acquire(&"b")
        .now_or_never()
        .expect("b blocked")
        .unwrap();
    let c = lim
        .acquire(&"c")
        .now_or_never()
        .expect("c blocked")
        .unwrap();
    assert_eq!(lim.in_flight(), Some(2));
    // Now the cap is full: "d" must wait for a slot, and get it when "b" is done.
    let mut d = Probe::new(lim.acquire(&"d"));
    assert!(!d.poll(&rt));
    drop(b);
    assert!(d.take_woken(), "a freed slot did not wake the slot waiter");
    assert!(d.poll(&rt));
    drop(c);
    d.permit = None;
    assert_eq!(lim.in_flight(), Some(0));
    // The slow key's waiters go at 10 s and 20 s, as its rate says.
    drive(&rt, &mut slow);
    assert_eq!(slow[0].released_at, Some(10 * S));
    assert_eq!(slow[1].released_at, Some(20 * S));
}

#[test]
fn two_slots_freed_at_once_wake_two_slot_waiters() {
    // Both slots are held; a waiter on "b" and one on "c" wait for a slot. Both slots come
    // back before either waiter runs: both must be granted, not only the first.
    let rt = FakeRuntime::new();
    let lim: Limiter<&str, FakeRuntime> =
        Limiter::builder(rt.clone()).concurrency(2).build().unwrap();
    let p1 = lim.try_acquire(&"a").unwrap();
    let p2 = lim.try_acquire(&"a").unwrap();
    let mut b = Probe::new(lim.acquire(&"b"));
    let mut c = Probe::new(lim.acquire(&"c"));
    assert!(!b.poll(&rt));
    assert!(!c.poll(&rt));
    drop(p1);
    drop(p2);
    // Only woken waiters are polled, as an executor does: no timer exists to rescue a
    // forgotten one.
    let mut waiters = [b, c];
    let mut rounds = 0;
    while waiters.iter().any(|w| w.fut.is_some()) {
        rounds += 1;
        assert!(rounds < 10, "a slot waiter was never woken");
        let mut progressed = false;
        for w in waiters.iter_mut() {
            if w.fut.is_some() && w.take_woken() {
                progressed = true;
                w.poll(&rt);
            }
        }
        assert!(progressed, "free slots but no slot waiter was woken");
    }
    assert_eq!(lim.in_flight(), Some(2));
}

/// Each task: acquire on `key`, hold the permit for `latency`, release.
fn throughput(rate: u32, cap: usize, latency: u64, n: usize) -> Vec<u64> {
    let rt = FakeRuntime::new();
    let lim: Limiter<u32, FakeRuntime> = Limiter::builder(rt.clone())
        .quota(per_second(rate))
        .concurrency(cap)
        .build()
        .unwrap();
    let starts = Rc::new(RefCell::new(Vec::new()));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let lim = lim.clone();
            let rt = rt.clone();
            let starts = Rc::clone(&starts);
            async move {
                let permit = lim.acquire(&0).await.unwrap();
                let t = rt.now_ns();
                starts.borrow_mut().push(t);
                rt.sleep_until(t + latency).await;
                drop(permit);
            }
        })
        .collect();
    rt.run(join_all(tasks));
    let mut v = starts.borrow().clone();
    v.sort_unstable();
    v
}

#[test]
fn throughput_is_the_lesser_of_rate_and_cap_over_latency() {
    // Rate 100/s (T = 10 ms), cap 2, latency 50 ms: cap/latency = 40/s binds. Two go per
    // 50 ms: at 0 and 10 ms, then 50 and 60 ms, ...
    let starts = throughput(100, 2, 50 * MS, 40);
    let want: Vec<u64> = (0..40u64)
        .map(|i| (i / 2) * 50 * MS + (i % 2) * 10 * MS)
        .collect();
    assert_eq!(starts, want);
    // 40 requests in 1.01 s: 40/s, not the 100/s the rate alone would give.
    // Rate 100/s, cap 2, latency 10 ms: cap/latency = 200/s, so the rate binds.
    let starts = throughput(100, 2, 10 * MS, 40);
    let want: Vec<u64> = (0..40u64).map(|i| i * 10 * MS).collect();
    assert_eq!(starts, want);
    // Rate 100/s, cap 4, latency 100 ms: 40/s.
    let starts = throughput(100, 4, 100 * MS, 40);
    let last = *starts.last().unwrap();
    assert_eq!(last, 9 * 100 * MS + 30 * MS);
}

#[test]
fn try_acquire_never_jumps_the_queue() {
    let (rt, lim) = limiter(&[per_second(1)]);
    drop(lim.try_acquire(&"k").unwrap());
    assert_eq!(
        lim.try_acquire(&"k").unwrap_err(),
        TryAcquireError::NotYet {
            wait: Duration::from_secs(1)
        }
    );
    let mut w = Probe::new(lim.acquire(&"k"));
    assert!(!w.poll(&rt));
    // At 1 s the rate allows one request, but the queued waiter has not run yet: it is owed
    // the slot.
    rt.advance_to(S);
    assert!(matches!(
        lim.try_acquire(&"k"),
        Err(TryAcquireError::NotYet { .. })
    ));
    assert!(w.poll(&rt));
    assert_eq!(w.released_at, Some(S));
    w.permit = None;
    assert_eq!(
        lim.try_acquire(&"k").unwrap_err(),
        TryAcquireError::NotYet {
            wait: Duration::from_secs(1)
        }
    );
    rt.advance_to(2 * S);
    assert!(lim.try_acquire(&"k").is_ok());
}

#[test]
fn a_wait_beyond_max_wait_fails_at_once() {
    let rt = FakeRuntime::new();
    let lim: Limiter<&str, FakeRuntime> = Limiter::builder(rt.clone())
        .quota(Quota::new(1, Duration::from_secs(10)).unwrap())
        .max_wait(Duration::from_secs(5))
        .build()
        .unwrap();
    drop(lim.try_acquire(&"k").unwrap());
    let mut refused = lim.acquire(&"k");
    let r = (&mut refused)
        .now_or_never()
        .expect("WaitTooLong must be returned on the first poll, without sleeping");
    assert_eq!(
        r.unwrap_err(),
        AcquireError::WaitTooLong {
            wait: Duration::from_secs(10)
        }
    );
    // Refused, not sleeping: the waiter, still alive, has armed no timer.
    assert_eq!(rt.next_timer(), None, "the refused waiter armed a timer");
    drop(refused);
    assert_eq!(
        lim.try_acquire(&"k").unwrap_err(),
        TryAcquireError::Never(AcquireError::WaitTooLong {
            wait: Duration::from_secs(10)
        })
    );
    // The failed waiter left the queue: at 10 s the slot is there.
    assert_eq!(lim.snapshot(&"k").queued, 0);
    rt.advance_to(10 * S);
    assert!(lim.try_acquire(&"k").is_ok());
    // A pause beyond max_wait (until 100 s) is refused the same way.
    lim.pause_for(&"k", Duration::from_secs(90));
    let r = lim.acquire(&"k").now_or_never().expect("not at once");
    assert_eq!(
        r.unwrap_err(),
        AcquireError::WaitTooLong {
            wait: Duration::from_secs(90)
        }
    );
}

/// `max_wait` counts from the moment a waiter queues, wherever it is in the queue: with
/// 1/s and 2.5 s, three waiters queued at 0 go at 0, 1 and 2 s, and the fourth, whose turn
/// would come at 3 s, fails at once, before any of the others is even polled.
#[test]
fn max_wait_holds_for_a_waiter_deep_in_the_queue() {
    let (rt, lim) = limiter_waiting(&[per_second(1)], 2_500 * MS);
    let mut futs: Vec<_> = (0..4).map(|_| lim.acquire(&"k")).collect();
    let fourth = futs.pop().unwrap();
    let r = fourth
        .now_or_never()
        .expect("a waiter whose turn is beyond max_wait fails on its first poll");
    assert_eq!(
        r.unwrap_err(),
        AcquireError::WaitTooLong {
            wait: Duration::from_secs(3)
        }
    );
    assert_eq!(lim.snapshot(&"k").queued, 3);
    let times = release_times(&rt, futs);
    assert_eq!(times, [0, S, 2 * S]);
}

/// The boundary: a turn exactly `max_wait` away is granted, one nanosecond more is not.
#[test]
fn a_wait_equal_to_max_wait_is_granted() {
    let (rt, lim) = limiter_waiting(&[per_second(1)], 2 * S);
    let mut futs: Vec<_> = (0..4).map(|_| lim.acquire(&"k")).collect();
    let r = futs.pop().unwrap().now_or_never().expect("at once");
    assert_eq!(
        r.unwrap_err(),
        AcquireError::WaitTooLong {
            wait: Duration::from_secs(3)
        }
    );
    let times = release_times(&rt, futs);
    assert_eq!(times, [0, S, 2 * S]);
    // At 2 s the queue is empty and TAT is 3 s: a wait of exactly 1 s... then 2 s.
    rt.advance_to(2 * S + 1);
    let futs: Vec<_> = (0..3).map(|_| lim.acquire(&"k")).collect();
    let mut futs = futs;
    let r = futs.pop().unwrap().now_or_never().expect("at once");
    assert_eq!(
        r.unwrap_err(),
        AcquireError::WaitTooLong {
            wait: Duration::from_nanos(3 * S - 1)
        }
    );
    let times = release_times(&rt, futs);
    assert_eq!(times, [3 * S, 4 * S]);
}

/// A pause that arrives after a waiter queued, pushing its turn past its deadline (queued at
/// plus `max_wait`), fails that waiter at once, not when its turn would have come.
#[test]
fn a_pause_past_a_queued_waiters_deadline_fails_it_at_once() {
    let (rt, lim) = limiter_waiting(&[per_second(1)], 5 * S);
    let first = lim.acquire(&"k");
    let second = lim.acquire(&"k");
    drop(first.now_or_never().unwrap().unwrap());
    let mut second = Box::pin(second);
    assert!((&mut second).now_or_never().is_none());
    rt.advance_to(S / 2);
    lim.pause_for(&"k", Duration::from_millis(9_500));
    let r = (&mut second)
        .now_or_never()
        .expect("failed when the pause arrived");
    assert_eq!(
        r.unwrap_err(),
        AcquireError::WaitTooLong {
            wait: Duration::from_secs(10)
        }
    );
    // It failed there and then, left the queue, and took its timer with it.
    assert_eq!(lim.snapshot(&"k").queued, 0);
    assert_eq!(rt.next_timer(), None, "the failed waiter still sleeps");
}

/// A waiter that a pause fails takes no turn from those behind it: 1/s, max_wait 3 s, b
/// queued at 0 (deadline 3 s) and c at 900 ms (deadline 3.9 s). A pause until 3.05 s fails
/// b; c is planned at 3.05 s, not behind a phantom b at 4.05 s, and goes then.
#[test]
fn a_waiter_failed_by_a_pause_takes_no_turn() {
    let (rt, lim) = limiter_waiting(&[per_second(1)], 3 * S);
    drop(lim.try_acquire(&"k").unwrap());
    let mut b = Box::pin(lim.acquire(&"k"));
    assert!((&mut b).now_or_never().is_none());
    rt.advance_to(900 * MS);
    let c = lim.acquire(&"k");
    rt.advance_to(950 * MS);
    lim.pause_for(&"k", Duration::from_millis(2_100));
    let r = (&mut b)
        .now_or_never()
        .expect("b fails when the pause arrives");
    assert_eq!(
        r.unwrap_err(),
        AcquireError::WaitTooLong {
            wait: Duration::from_millis(3_050)
        }
    );
    assert_eq!(release_times(&rt, vec![c]), [3_050 * MS]);
}

#[test]
fn more_cells_than_the_burst_is_impossible_not_a_wait() {
    let (_rt, lim) = limiter(&[per_second(10).with_burst(3).unwrap()]);
    let r = lim.acquire_n(&"k", 4).now_or_never().expect("not at once");
    assert_eq!(
        r.unwrap_err(),
        AcquireError::Impossible(Impossible { n: 4, burst: 3 })
    );
    assert_eq!(
        lim.try_acquire_n(&"k", 4).unwrap_err(),
        TryAcquireError::Never(AcquireError::Impossible(Impossible { n: 4, burst: 3 }))
    );
    // The impossible waiter does not block the queue.
    assert!(lim.try_acquire_n(&"k", 3).is_ok());
}

#[test]
fn an_impossible_waiter_at_the_head_lets_the_next_one_through() {
    let (rt, lim) = limiter(&[per_second(10).with_burst(2).unwrap()]);
    let futs = vec![lim.acquire_n(&"k", 5), lim.acquire(&"k")];
    let results = rt.run(join_all(futs));
    assert_eq!(
        results[0].as_ref().unwrap_err(),
        &AcquireError::Impossible(Impossible { n: 5, burst: 2 })
    );
    assert!(results[1].is_ok());
    assert_eq!(rt.now_ns(), 0);
}

#[test]
fn idle_keys_are_evicted_and_memory_stays_bounded() {
    // 10/s: a key is idle 100 ms after its one request.
    let rt = FakeRuntime::new();
    let lim: Limiter<u64, FakeRuntime> = Limiter::builder(rt.clone())
        .quota(per_second(10))
        .build()
        .unwrap();
    let mut peak = 0;
    for i in 0..20_000u64 {
        drop(lim.try_acquire(&i).unwrap());
        // Ten new keys per 100 ms.
        if i % 10 == 9 {
            rt.advance(100 * MS);
        }
        peak = peak.max(lim.key_count());
    }
    assert!(peak <= 128, "{peak} keys held at peak");
    // A key with information (a queued waiter, a long TAT) survives the sweeps.
    drop(lim.try_acquire(&u64::MAX).unwrap());
    let mut w = Probe::new(lim.acquire(&u64::MAX));
    assert!(!w.poll(&rt));
    for i in 100_000..100_500u64 {
        drop(lim.try_acquire(&i).unwrap());
        rt.advance(20 * MS);
    }
    assert_eq!(lim.snapshot(&u64::MAX).queued, 1);
    assert!(lim.key_count() <= 128, "{} keys", lim.key_count());
    w.fut = None;
    rt.advance(S);
    assert_eq!(lim.sweep(), 0);
}

#[test]
fn evicting_a_key_loses_nothing() {
    // A key swept while idle behaves exactly like the key kept: the next request is at once.
    let (rt, lim) = limiter(&[per_second(2)]);
    drop(lim.try_acquire(&"k").unwrap());
    assert_eq!(
        lim.sweep(),
        1,
        "a key inside its interval carries information"
    );
    rt.advance(500 * MS);
    assert_eq!(lim.sweep(), 0);
    assert!(lim.try_acquire(&"k").is_ok());
    assert_eq!(
        lim.try_acquire(&"k").unwrap_err(),
        TryAcquireError::NotYet {
            wait: Duration::from_millis(500)
        }
    );
}

#[test]
fn per_key_cap_holds_back_the_head_until_a_permit_returns() {
    let rt = FakeRuntime::new();
    let lim: Limiter<&str, FakeRuntime> = Limiter::builder(rt.clone())
        .per_key_concurrency(1)
        .build()
        .unwrap();
    let p = lim.try_acquire(&"k").unwrap();
    assert_eq!(
        lim.try_acquire(&"k").unwrap_err(),
        TryAcquireError::AtCapacity
    );
    let mut w = Probe::new(lim.acquire(&"k"));
    assert!(!w.poll(&rt));
    // Another key is not held back.
    assert!(lim.try_acquire(&"other").is_ok());
    drop(p);
    assert!(w.take_woken());
    assert!(w.poll(&rt));
}

#[test]
fn quotas_changed_at_runtime_replan_the_queue() {
    let (rt, lim) = limiter(&[per_second(1)]);
    drop(lim.try_acquire(&"k").unwrap());
    let mut w = Probe::new(lim.acquire(&"k"));
    assert!(!w.poll(&rt));
    assert_eq!(rt.next_timer(), Some(S));
    // A burst of 2 lets the second request go now: the sleeping head wakes and re-plans.
    rt.advance_to(200 * MS);
    lim.set_quotas(&"k", &[per_second(1).with_burst(2).unwrap()])
        .unwrap();
    assert!(w.take_woken());
    assert!(w.poll(&rt));
    assert_eq!(w.released_at, Some(200 * MS));
    assert!(lim.set_quotas(&"k", &[per_second(1); 9]).is_err());
}

#[test]
fn idle_keys_go_a_few_at_a_time_once_new_keys_stop_coming() {
    // 100,000 keys used at once: each carries information (its interval) until 100 ms later.
    let rt = FakeRuntime::new();
    let lim: Limiter<u64, FakeRuntime> = Limiter::builder(rt.clone())
        .quota(per_second(10))
        .build()
        .unwrap();
    for i in 0..100_000u64 {
        drop(lim.try_acquire(&i).unwrap());
    }
    assert_eq!(lim.key_count(), 100_000);
    // Then no new key comes: 1,000 keys are used, one request each per interval. The idle
    // ones go as the active ones are looked up, not only once the map doubles.
    rt.advance(S);
    for _ in 0..500 {
        for k in 0..1_000u64 {
            drop(lim.try_acquire(&(1_000_000 + k)).unwrap());
        }
        rt.advance(100 * MS);
    }
    assert!(lim.key_count() <= 1_000 + 64, "{} keys", lim.key_count());
    // A key held by a waiter is never swept, however many lookups pass.
    drop(lim.try_acquire(&7).unwrap());
    let mut w = Probe::new(lim.acquire(&7));
    assert!(!w.poll(&rt));
    for _ in 0..100_000 {
        let _ = lim.try_acquire(&1_000_000);
    }
    assert_eq!(lim.snapshot(&7).queued, 1);
}
