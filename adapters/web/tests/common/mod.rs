//! Test bodies shared by the Node and the browser runs.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use headway_core::Quota;
use headway_engine::{Limiter, Runtime, Transport};
use headway_web::{FetchTransport, WebClock, WebRuntime};
use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, AbortSignal, Request, RequestInit};

/// The shared conformance suite, embedded JSON and all, with zero failures.
pub fn conformance() {
    let reports = headway_conformance::run_all();
    assert!(!reports.is_empty());
    for r in &reports {
        assert!(r.cases > 0, "suite {} ran no case", r.suite);
        assert!(
            r.failures.is_empty(),
            "suite {}: {} of {} failed: {:?}",
            r.suite,
            r.failures.len(),
            r.cases,
            r.failures
        );
    }
}

/// The host's clocks read sensibly and a sleep never ends before its deadline. (Only lower
/// bounds: a timer may fire late on a loaded machine, never early, because the sleep
/// re-arms until the clock has reached the deadline.)
pub async fn sleep_reaches_its_deadline() {
    let rt = WebRuntime::new();
    assert!(rt.wall_ms() > 1_600_000_000_000, "Date.now() is unix ms");
    let start = rt.now_ns();
    // Whole and fractional milliseconds: the last millisecond is finished by yielding to
    // the host (setImmediate in Node, a MessageChannel in a browser), never early.
    for us in [0u64, 300, 1_000, 1_500, 7_000, 30_000] {
        let deadline = rt.now_ns() + us * 1_000;
        rt.sleep_until(deadline).await;
        assert!(
            rt.now_ns() >= deadline,
            "woke before a deadline {us} us away"
        );
    }
    assert!(rt.now_ns() - start >= 39_800_000);
    assert_ne!(rt.seed(), rt.seed());
}

#[wasm_bindgen(inline_js = r#"
export class TestClock {
  constructor() {
    this.t = 0;
    this.seq = 0;
    this.timers = [];
    this.armed = [];
  }
  now() { return this.t; }
  dateNow() { return 1767225600000 + this.t; }
  setTimeout(fn, ms) {
    const id = ++this.seq;
    this.timers.push({ id, at: this.t + ms, fn });
    this.armed.push(ms);
    return id;
  }
  clearTimeout(id) { this.timers = this.timers.filter((x) => x.id !== id); }
  pending() { return this.timers.length; }
  takeArmed() { const a = this.armed; this.armed = []; return a; }
  fireNext() {
    if (this.timers.length === 0) return false;
    this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
    const next = this.timers.shift();
    this.t = Math.max(this.t, next.at);
    next.fn();
    return true;
  }
}
export function macrotask() {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
"#)]
extern "C" {
    /// Virtual time: stands still until [`TestClock::fire_next`] jumps it to the earliest
    /// pending timer and fires that timer, exactly at its time.
    type TestClock;

    #[wasm_bindgen(constructor)]
    fn new() -> TestClock;
    #[wasm_bindgen(method)]
    fn now(this: &TestClock) -> f64;
    #[wasm_bindgen(method)]
    fn pending(this: &TestClock) -> u32;
    /// The delays (ms) of the timers set since the last call.
    #[wasm_bindgen(method, js_name = takeArmed)]
    fn take_armed(this: &TestClock) -> Vec<f64>;
    #[wasm_bindgen(method, js_name = fireNext)]
    fn fire_next(this: &TestClock) -> bool;

    /// A promise resolved by the host's real `setTimeout(0)`: every microtask queued before
    /// it (promise reactions, wasm-bindgen-futures' task queue) has run when it settles.
    fn macrotask() -> Promise;
}

/// A [`WebRuntime`] on a fresh [`TestClock`], and the clock.
fn fake_runtime() -> (WebRuntime, TestClock) {
    let clock = TestClock::new();
    let js: &JsValue = clock.as_ref();
    let rt = WebRuntime::with_clock(WebClock::from_js(js.clone()).expect("a clock"));
    (rt, clock)
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Runs `fut` to completion on virtual time: lets every JavaScript task that is ready run,
/// and when `fut` can make no more progress, jumps the clock to the next timer. Panics if
/// `fut` is stuck with no timer pending.
async fn run_on<T>(clock: &TestClock, fut: impl Future<Output = T>) -> T {
    let flag = Arc::new(Flag(AtomicBool::new(true)));
    let waker = Waker::from(Arc::clone(&flag));
    let mut fut = std::pin::pin!(fut);
    loop {
        if flag.0.swap(false, Ordering::SeqCst) {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut Context::from_waker(&waker)) {
                return v;
            }
        }
        JsFuture::from(macrotask()).await.unwrap();
        if !flag.0.load(Ordering::SeqCst) {
            assert!(
                clock.fire_next(),
                "stuck at {} ms with no timer pending",
                clock.now()
            );
        }
    }
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// On a supplied clock a sleep ends exactly at its deadline, with one timer rounded up to
/// whole milliseconds, and a dropped sleep clears its timer.
pub async fn sleep_on_a_supplied_clock_is_exact() {
    let (rt, clock) = fake_runtime();
    assert_eq!(rt.wall_ms(), 1_767_225_600_000, "the clock's dateNow()");
    let woke = run_on(&clock, async {
        let mut woke = Vec::new();
        for deadline in [0, 1_000_000, 7_500_000, 1_000_000_000] {
            rt.sleep_until(deadline).await;
            woke.push(rt.now_ns());
        }
        woke
    })
    .await;
    assert_eq!(woke, [0, 1_000_000, 8_000_000, 1_000_000_000]);
    assert_eq!(clock.take_armed(), [1.0, 7.0, 992.0]);

    let mut sleep = Box::pin(rt.sleep_until(2_000_000_000));
    assert!(poll_once(sleep.as_mut()).is_pending());
    assert_eq!(clock.pending(), 1);
    drop(sleep);
    assert_eq!(clock.pending(), 0, "a dropped sleep clears its timer");
}

/// The shared limiter on the web runtime releases at exactly the quota's interval.
pub async fn limiter_paces() {
    let (rt, clock) = fake_runtime();
    let limiter: Limiter<String, WebRuntime> = Limiter::builder(rt.clone())
        .quota(Quota::per_second(20).unwrap())
        .build()
        .unwrap();
    let key = "k".to_string();
    let times = run_on(&clock, async {
        let mut times = Vec::new();
        for _ in 0..5 {
            let _permit = limiter.acquire(&key).await.unwrap();
            times.push(ms(rt.now_ns()));
        }
        times
    })
    .await;
    assert_eq!(times, [0.0, 50.0, 100.0, 150.0, 200.0]);
}

/// Dropping a queued acquisition gives its place to the next waiter.
pub async fn dropped_waiter_releases_its_place() {
    use futures_util::future::{select, Either};
    let (rt, clock) = fake_runtime();
    let limiter: Limiter<String, WebRuntime> = Limiter::builder(rt.clone())
        .quota(Quota::per_second(5).unwrap())
        .build()
        .unwrap();
    let key = "k".to_string();
    let third_at = run_on(&clock, async {
        drop(limiter.acquire(&key).await.unwrap());
        let second = limiter.acquire(&key);
        let third = limiter.acquire(&key);
        // Give up on the second (due at 200 ms) at 20 ms.
        match select(second, rt.sleep_until(20_000_000)).await {
            Either::Left(_) => panic!("admitted before its slot"),
            Either::Right(((), second)) => drop(second),
        }
        assert_eq!(rt.now_ns(), 20_000_000);
        drop(third.await.unwrap());
        rt.now_ns()
    })
    .await;
    // The third takes the second's slot at 200 ms instead of its own at 400 ms.
    assert_eq!(ms(third_at), 200.0);
    assert_eq!(clock.pending(), 0);
}

/// Replaces the global `fetch` with one that never settles on its own and records the
/// signal of every call; puts the real one back when dropped.
struct FakeFetch {
    real: JsValue,
    signals: Rc<RefCell<Vec<AbortSignal>>>,
    resolvers: Rc<RefCell<Vec<js_sys::Function>>>,
    _fake: Closure<dyn FnMut(JsValue, JsValue) -> Promise>,
}

impl FakeFetch {
    fn install() -> FakeFetch {
        let global = js_sys::global();
        let real = Reflect::get(&global, &"fetch".into()).unwrap();
        let signals = Rc::new(RefCell::new(Vec::new()));
        let resolvers = Rc::new(RefCell::new(Vec::new()));
        let (s, r) = (Rc::clone(&signals), Rc::clone(&resolvers));
        let fake = Closure::<dyn FnMut(JsValue, JsValue) -> Promise>::new(
            move |_request: JsValue, init: JsValue| {
                let signal = Reflect::get(&init, &"signal".into()).unwrap();
                s.borrow_mut().push(signal.unchecked_into());
                let r = Rc::clone(&r);
                Promise::new(&mut |resolve, _reject| r.borrow_mut().push(resolve))
            },
        );
        Reflect::set(&global, &"fetch".into(), fake.as_ref()).unwrap();
        FakeFetch {
            real,
            signals,
            resolvers,
            _fake: fake,
        }
    }

    fn signal(&self, i: usize) -> AbortSignal {
        self.signals.borrow()[i].clone()
    }
}

impl Drop for FakeFetch {
    fn drop(&mut self) {
        Reflect::set(&js_sys::global(), &"fetch".into(), &self.real).unwrap();
    }
}

fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(
        futures_util::task::noop_waker_ref(),
    ))
}

/// Every send has its own abort signal: dropping the send before it settles aborts its
/// fetch, a settled send is left alone, and the request's own signal reaches the fetch, also
/// while the body is read. Run with `AbortSignal.any` and, as on older hosts, without it.
pub async fn dropped_send_aborts_its_fetch() {
    sends_abort().await;
    let ctor = Reflect::get(&js_sys::global(), &"AbortSignal".into()).unwrap();
    let any = Reflect::get(&ctor, &"any".into()).unwrap();
    if !any.is_undefined() {
        Reflect::delete_property(ctor.unchecked_ref::<js_sys::Object>(), &"any".into()).unwrap();
        sends_abort().await;
        Reflect::set(&ctor, &"any".into(), &any).unwrap();
    }
}

fn request_with_signal(url: &str, signal: &AbortSignal) -> Request {
    let init = RequestInit::new();
    init.set_signal(Some(signal));
    Request::new_with_str_and_init(url, &init).unwrap()
}

async fn sends_abort() {
    let fake = FakeFetch::install();
    let transport = FetchTransport::new();

    // Dropped while in flight (a timed-out or cancelled attempt): aborted.
    let request = Request::new_with_str("https://example.invalid/a").unwrap();
    let mut sending = Box::pin(transport.send(request.into()));
    assert!(poll_once(sending.as_mut()).is_pending());
    let first = fake.signal(0);
    assert!(!first.aborted());
    drop(sending);
    assert!(first.aborted(), "a dropped send aborts its fetch");

    // Settled with a response, then dropped: not aborted (the body may still be read), but
    // the caller's signal still reaches the body.
    let caller = AbortController::new().unwrap();
    let request = request_with_signal("https://example.invalid/b", &caller.signal());
    let sending = transport.send(request.into());
    let response = web_sys::Response::new().unwrap();
    fake.resolvers.borrow()[1]
        .call1(&JsValue::UNDEFINED, &response)
        .unwrap();
    let got = sending.await.expect("a response");
    assert_eq!(got.status(), 200);
    let response = got.into_response();
    assert!(!fake.signal(1).aborted());
    caller.abort();
    assert!(
        fake.signal(1).aborted(),
        "the caller can still abort the body"
    );
    drop(response);

    // The caller's signal, on the request, aborts the fetch in flight.
    let caller = AbortController::new().unwrap();
    let request = request_with_signal("https://example.invalid/c", &caller.signal());
    let mut sending = Box::pin(transport.send(request.into()));
    assert!(poll_once(sending.as_mut()).is_pending());
    assert!(!fake.signal(2).aborted());
    caller.abort();
    assert!(
        fake.signal(2).aborted(),
        "the caller's abort reaches the fetch"
    );
}

/// Declares the suite's tests, each running its shared body above, in the including file
/// (which says where it runs: Node, or a browser with `run_in_browser`).
#[macro_export]
macro_rules! web_suite {
    () => {
        use wasm_bindgen_test::wasm_bindgen_test;

        #[wasm_bindgen_test]
        fn conformance_suite_passes() {
            common::conformance();
        }

        #[wasm_bindgen_test]
        async fn sleep_reaches_its_deadline() {
            common::sleep_reaches_its_deadline().await;
        }

        #[wasm_bindgen_test]
        async fn sleep_on_a_supplied_clock_is_exact() {
            common::sleep_on_a_supplied_clock_is_exact().await;
        }

        #[wasm_bindgen_test]
        async fn limiter_paces() {
            common::limiter_paces().await;
        }

        #[wasm_bindgen_test]
        async fn dropped_waiter_releases_its_place() {
            common::dropped_waiter_releases_its_place().await;
        }

        #[wasm_bindgen_test]
        async fn dropped_send_aborts_its_fetch() {
            common::dropped_send_aborts_its_fetch().await;
        }
    };
}
