//! [`WebRuntime`]: JavaScript's clocks and timers as a [`headway_engine::Runtime`].

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use headway_engine::Runtime;
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
}

thread_local! {
    static SEEDS: Cell<u64> = const { Cell::new(0) };
}

/// The clock, sleep and seed of a JavaScript host.
///
/// `now_ns` is `performance.now()` in nanoseconds (monotonic, from the page's or process's
/// time origin); `wall_ms` is `Date.now()`; sleeps are `setTimeout` timers that are cleared
/// when the future is dropped; seeds mix `Math.random()` with a counter.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebRuntime;

impl WebRuntime {
    /// The runtime of the current JavaScript host.
    pub fn new() -> WebRuntime {
        WebRuntime
    }
}

impl Runtime for WebRuntime {
    type Sleep = Sleep;

    fn now_ns(&self) -> u64 {
        // `as` saturates: a negative or NaN reading becomes 0, never a panic.
        (performance_now() * 1e6) as u64
    }

    fn wall_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    fn sleep_until(&self, deadline_ns: u64) -> Sleep {
        Sleep {
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
}

/// A future that completes once [`WebRuntime::now_ns`] reaches its deadline.
///
/// It arms one `setTimeout` at a time and re-arms if a timer fires early (timers and
/// `performance.now()` may disagree by a fraction of a millisecond). Dropping it clears the
/// pending timer.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline_ns: u64,
    timer: Option<(JsValue, JsFuture)>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            let now = WebRuntime.now_ns();
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
            // Round up to whole milliseconds (plus a hair) so the timer rarely fires early.
            let wait_ns = this.deadline_ns - now;
            let ms = (wait_ns.div_ceil(1_000_000) as f64).min(2_147_483_647.0);
            let mut handle = JsValue::UNDEFINED;
            let promise = Promise::new(&mut |resolve, _reject| {
                handle = set_timeout(&resolve, ms);
            });
            this.timer = Some((handle, JsFuture::from(promise)));
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((handle, _)) = self.timer.take() {
            clear_timeout(&handle);
        }
    }
}
