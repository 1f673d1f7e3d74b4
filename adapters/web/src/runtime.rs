//! [`WebRuntime`]: JavaScript's clocks and timers as a [`headway_engine::Runtime`].

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use headway_engine::{Event, Runtime};
use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`: present on the global object in browsers, workers and Node 16+.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;

    /// The global `setTimeout`; its handle is a number in browsers and an object in Node.
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(callback: &js_sys::Function, ms: f64) -> JsValue;

    /// The global `clearTimeout`.
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(handle: &JsValue);

    /// The JavaScript object behind a [`WebClock`].
    #[derive(Debug, Clone)]
    type JsClock;

    #[wasm_bindgen(method, js_name = now)]
    fn now(this: &JsClock) -> f64;

    #[wasm_bindgen(method, js_name = dateNow)]
    fn date_now(this: &JsClock) -> f64;

    #[wasm_bindgen(method, js_name = setTimeout)]
    fn set_timeout(this: &JsClock, callback: &js_sys::Function, ms: f64) -> JsValue;

    #[wasm_bindgen(method, js_name = clearTimeout)]
    fn clear_timeout(this: &JsClock, handle: &JsValue);
}

/// A clock supplied from JavaScript in place of the host's: an object with
/// `now(): number` (monotonic milliseconds, as `performance.now()`),
/// `setTimeout(callback, ms): handle`, `clearTimeout(handle)` and, optionally,
/// `dateNow(): number` (unix milliseconds, as `Date.now()`). Its methods are called with the
/// object as `this` and must not throw. A test clock whose timers fire exactly at their
/// time makes every schedule exact.
#[derive(Debug, Clone)]
pub struct WebClock {
    js: JsClock,
    date_now: bool,
}

/// Why a JavaScript value cannot serve as a [`WebClock`]: the name of the member that is
/// missing or not a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockError {
    /// `"now"`, `"setTimeout"`, `"clearTimeout"` or `"dateNow"`; `""` when the value is not
    /// an object at all.
    pub member: &'static str,
}

impl std::fmt::Display for ClockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.member.is_empty() {
            f.write_str("a clock must be an object with now(), setTimeout() and clearTimeout()")
        } else {
            write!(f, "a clock's \"{}\" must be a function", self.member)
        }
    }
}

impl std::error::Error for ClockError {}

impl WebClock {
    /// Checks that `value` has the members of a clock and wraps it.
    pub fn from_js(value: JsValue) -> Result<WebClock, ClockError> {
        use wasm_bindgen::JsCast;
        if !value.is_object() {
            return Err(ClockError { member: "" });
        }
        let member = |name: &str| js_sys::Reflect::get(&value, &JsValue::from_str(name));
        for name in ["now", "setTimeout", "clearTimeout"] {
            if !member(name).is_ok_and(|f| f.is_function()) {
                return Err(ClockError { member: name });
            }
        }
        let date_now = match member("dateNow") {
            Ok(f) if f.is_function() => true,
            Ok(f) if f.is_undefined() || f.is_null() => false,
            _ => return Err(ClockError { member: "dateNow" }),
        };
        Ok(WebClock {
            js: value.unchecked_into(),
            date_now,
        })
    }
}

thread_local! {
    static SEEDS: Cell<u64> = const { Cell::new(0) };
    static SOON: Soon = Soon::of_host();
}

/// The host's quickest way to run a callback once what is pending (I/O, timers, rendering)
/// has had its turn: how a [`Sleep`] finishes its last millisecond. `setTimeout` keeps whole
/// milliseconds (fired from a loop clock that may be a millisecond stale) and, nested,
/// clamps to 4 ms in browsers; these do neither, and still yield to everything else.
enum Soon {
    /// Node's `setImmediate`.
    Immediate(js_sys::Function),
    /// A `MessageChannel` (browsers, workers, Deno): each message runs the oldest callback
    /// as a task of its own.
    Channel {
        port: JsValue,
        callbacks: Rc<RefCell<VecDeque<js_sys::Function>>>,
    },
    /// Neither: `setTimeout(callback, 0)`.
    Timeout,
}

impl Soon {
    fn of_host() -> Soon {
        let global = js_sys::global();
        let get = |o: &JsValue, name: &str| js_sys::Reflect::get(o, &JsValue::from_str(name));
        if let Ok(f) = get(&global, "setImmediate") {
            if let Ok(f) = f.dyn_into::<js_sys::Function>() {
                return Soon::Immediate(f);
            }
        }
        let channel = get(&global, "MessageChannel")
            .ok()
            .and_then(|c| c.dyn_into::<js_sys::Function>().ok())
            .and_then(|c| js_sys::Reflect::construct(&c, &js_sys::Array::new()).ok());
        let Some(channel) = channel else {
            return Soon::Timeout;
        };
        let ports = (get(&channel, "port1"), get(&channel, "port2"));
        let (Ok(receiver), Ok(port)) = ports else {
            return Soon::Timeout;
        };
        let callbacks: Rc<RefCell<VecDeque<js_sys::Function>>> = Rc::default();
        let queue = Rc::clone(&callbacks);
        let on_message = Closure::<dyn FnMut()>::new(move || {
            let next = queue.borrow_mut().pop_front();
            if let Some(f) = next {
                // A callback here only resolves a promise: nothing to report if it throws.
                f.call0(&JsValue::UNDEFINED).ok();
            }
        });
        let set = js_sys::Reflect::set(&receiver, &"onmessage".into(), on_message.as_ref());
        if set.is_err() {
            return Soon::Timeout;
        }
        // The handler lives as long as the page: one per thread.
        on_message.forget();
        Soon::Channel { port, callbacks }
    }

    fn run(&self, callback: &js_sys::Function) {
        match self {
            Soon::Immediate(set_immediate) => {
                if set_immediate.call1(&JsValue::UNDEFINED, callback).is_ok() {
                    return;
                }
            }
            Soon::Channel { port, callbacks } => {
                let post = js_sys::Reflect::get(port, &"postMessage".into())
                    .ok()
                    .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
                if let Some(post) = post {
                    callbacks.borrow_mut().push_back(callback.clone());
                    if post.call1(port, &JsValue::UNDEFINED).is_ok() {
                        return;
                    }
                    callbacks.borrow_mut().pop_back();
                }
            }
            Soon::Timeout => {}
        }
        set_timeout(callback, 0.0);
    }
}

/// The clock, sleep and seed of a JavaScript host.
///
/// By default `now_ns` is `performance.now()` in nanoseconds (monotonic, from the page's or
/// process's time origin); `wall_ms` is `Date.now()`; sleeps are `setTimeout` timers that
/// are cleared when the future is dropped; seeds mix `Math.random()` with a counter.
/// [`WebRuntime::with_clock`] reads time and sets timers through a [`WebClock`] instead,
/// so that tests can run on virtual time. [`WebRuntime::with_events`] passes the engine's
/// [`Event`]s on.
#[derive(Debug, Clone, Default)]
pub struct WebRuntime {
    clock: Option<Rc<WebClock>>,
    events: Option<Listener>,
}

/// Where a [`WebRuntime`] sends the engine's events.
#[derive(Clone)]
struct Listener(Rc<dyn Fn(&Event<'_>)>);

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Listener")
    }
}

impl WebRuntime {
    /// The runtime of the current JavaScript host.
    pub fn new() -> WebRuntime {
        WebRuntime::default()
    }

    /// A runtime whose time and timers are `clock`'s. Without `dateNow`, the wall clock is
    /// still `Date.now()`.
    pub fn with_clock(clock: WebClock) -> WebRuntime {
        WebRuntime {
            clock: Some(Rc::new(clock)),
            events: None,
        }
    }

    /// This runtime, with `listener` told of every [`Event`] the engine reports (a server's
    /// pause, learned quotas, a retry) as it happens. It replaces any listener set before.
    pub fn with_events(self, listener: impl Fn(&Event<'_>) + 'static) -> WebRuntime {
        WebRuntime {
            events: Some(Listener(Rc::new(listener))),
            ..self
        }
    }

    fn now_ms(&self) -> f64 {
        match &self.clock {
            Some(c) => c.js.now(),
            None => performance_now(),
        }
    }

    fn arm(&self, callback: &js_sys::Function, ms: f64) -> JsValue {
        match &self.clock {
            Some(c) => c.js.set_timeout(callback, ms),
            None => set_timeout(callback, ms),
        }
    }

    fn disarm(&self, handle: &JsValue) {
        match &self.clock {
            Some(c) => c.js.clear_timeout(handle),
            None => clear_timeout(handle),
        }
    }
}

impl Runtime for WebRuntime {
    type Sleep = Sleep;

    fn now_ns(&self) -> u64 {
        // `as` saturates: a negative or NaN reading becomes 0, never a panic.
        (self.now_ms() * 1e6) as u64
    }

    fn wall_ms(&self) -> u64 {
        match &self.clock {
            Some(c) if c.date_now => c.js.date_now() as u64,
            _ => js_sys::Date::now() as u64,
        }
    }

    fn sleep_until(&self, deadline_ns: u64) -> Sleep {
        Sleep {
            runtime: self.clone(),
            deadline_ns,
            timer: None,
        }
    }

    fn seed(&self) -> u64 {
        let count = SEEDS.with(|c| {
            let n = c.get().wrapping_add(1);
            c.set(n);
            n
        });
        let hi = (js_sys::Math::random() * 4_294_967_296.0) as u64;
        let lo = (js_sys::Math::random() * 4_294_967_296.0) as u64;
        ((hi << 32) | lo) ^ count.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn event(&self, event: &Event<'_>) {
        if let Some(Listener(listener)) = &self.events {
            listener(event);
        }
    }
}

/// A future that completes once [`WebRuntime::now_ns`] reaches its deadline.
///
/// On the host's clock it sleeps with `setTimeout` until less than a millisecond is left,
/// aiming a millisecond short since the host's timers fire up to a millisecond late, and
/// finishes by yielding to the host ([`Soon`]) until `performance.now()` reaches the
/// deadline: a timer that fires early is never taken as on time, and the wake is within a
/// few microseconds of the deadline at the cost of that last millisecond's turns of the
/// event loop. A [`WebClock`]'s timers are taken as exact: whole milliseconds rounded up,
/// re-armed if one fires early. Dropping it clears the pending timer.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    runtime: WebRuntime,
    deadline_ns: u64,
    timer: Option<(JsValue, JsFuture)>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            let now = this.runtime.now_ns();
            if now >= this.deadline_ns {
                this.timer = None;
                return Poll::Ready(());
            }
            if let Some((_, fut)) = &mut this.timer {
                match Pin::new(fut).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(_) => {
                        this.timer = None;
                        continue;
                    }
                }
            }
            let wait_ns = this.deadline_ns - now;
            let whole_ms = wait_ns.div_ceil(1_000_000);
            let ms = match &this.runtime.clock {
                Some(_) => Some(whole_ms),
                // Under a millisecond left: finish by yielding.
                None if wait_ns < 1_000_000 => None,
                None => Some((whole_ms - 1).max(1)),
            };
            let mut handle = JsValue::UNDEFINED;
            let runtime = &this.runtime;
            let promise = Promise::new(&mut |resolve, _reject| match ms {
                Some(ms) => handle = runtime.arm(&resolve, (ms as f64).min(2_147_483_647.0)),
                None => SOON.with(|soon| soon.run(&resolve)),
            });
            this.timer = Some((handle, JsFuture::from(promise)));
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((handle, _)) = self.timer.take() {
            self.runtime.disarm(&handle);
        }
    }
}
