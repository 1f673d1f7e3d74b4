//! Test bodies shared by the Node and the browser runs.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::task::{Context, Poll};

use headway_core::Quota;
use headway_engine::{Limiter, Runtime, Transport};
use headway_web::{FetchTransport, WebRuntime};
use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
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

/// The clocks read sensibly and a sleep never ends before its deadline.
pub async fn sleep_reaches_its_deadline() {
    let rt = WebRuntime::new();
    assert!(rt.wall_ms() > 1_600_000_000_000, "Date.now() is unix ms");
    let start = rt.now_ns();
    for ms in [0u64, 1, 7, 30] {
        let deadline = rt.now_ns() + ms * 1_000_000;
        rt.sleep_until(deadline).await;
        assert!(rt.now_ns() >= deadline);
    }
    assert!(rt.now_ns() - start >= 38_000_000);
    assert_ne!(rt.seed(), rt.seed());
}

/// The shared limiter on the web runtime paces requests at the quota's interval.
pub async fn limiter_paces() {
    let rt = WebRuntime::new();
    let limiter: Limiter<String, WebRuntime> = Limiter::builder(rt)
        .quota(Quota::per_second(20).unwrap())
        .build()
        .unwrap();
    let key = "k".to_string();
    let start = rt.now_ns();
    let mut times = Vec::new();
    for _ in 0..5 {
        let _permit = limiter.acquire(&key).await.unwrap();
        times.push(rt.now_ns() - start);
    }
    // Each release is at or after its slot (a late timer makes the next gap shorter,
    // never the schedule faster).
    for (i, t) in times.iter().enumerate() {
        assert!(
            *t >= (i as u64 * 50_000_000).saturating_sub(1_000_000),
            "times: {times:?}"
        );
    }
    assert!(times[4] < 600_000_000, "too slow: {times:?}");
}

/// Dropping a queued acquisition gives its place to the next waiter.
pub async fn dropped_waiter_releases_its_place() {
    use futures_util::future::{select, Either};
    let rt = WebRuntime::new();
    let limiter: Limiter<String, WebRuntime> = Limiter::builder(rt)
        .quota(Quota::per_second(5).unwrap())
        .build()
        .unwrap();
    let key = "k".to_string();
    let start = rt.now_ns();
    drop(limiter.acquire(&key).await.unwrap());
    let second = limiter.acquire(&key);
    let third = limiter.acquire(&key);
    // Give up on the second after 20 ms.
    match select(second, rt.sleep_until(rt.now_ns() + 20_000_000)).await {
        Either::Left(_) => panic!("admitted too early"),
        Either::Right(((), second)) => drop(second),
    }
    drop(third.await.unwrap());
    let took = rt.now_ns() - start;
    assert!(
        (190_000_000..350_000_000).contains(&took),
        "third after {took} ns"
    );
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
    let mut sending = Box::pin(transport.send(request));
    assert!(poll_once(sending.as_mut()).is_pending());
    let first = fake.signal(0);
    assert!(!first.aborted());
    drop(sending);
    assert!(first.aborted(), "a dropped send aborts its fetch");

    // Settled with a response, then dropped: not aborted (the body may still be read), but
    // the caller's signal still reaches the body.
    let caller = AbortController::new().unwrap();
    let request = request_with_signal("https://example.invalid/b", &caller.signal());
    let sending = transport.send(request);
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
    let mut sending = Box::pin(transport.send(request));
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
