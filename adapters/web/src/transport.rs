//! [`FetchTransport`]: the global `fetch` as a [`headway_engine::Transport`]; [`FetchRequest`]
//! and [`FetchResponse`]: a `fetch` request and response as the engine reads them.
//!
//! Each attempt has an `AbortController` of its own, combined with the request's own signal
//! (the caller's): dropping the attempt's future, which the engine does when the per-attempt
//! timeout fires or the call is cancelled, aborts that fetch, so it does not go on in the
//! background holding a connection.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use headway_engine::Transport;
use js_sys::{Array, Function, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, AbortSignal, Request, Response};

#[wasm_bindgen]
extern "C" {
    /// The global `fetch` (browsers, workers, Node 18+), with an init object.
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(request: &Request, init: &JsValue) -> Promise;

    /// `AbortSignal.any(signals)`: throws where the host lacks it (before Chrome 116,
    /// Firefox 124, Safari 17.4, Node 18.17).
    #[wasm_bindgen(catch, js_namespace = AbortSignal, js_name = any)]
    fn abort_signal_any(signals: &Array) -> Result<AbortSignal, JsValue>;

    /// `Function.prototype.bind.call(f, this_arg, arg)`: `f` bound to `this_arg` and `arg`.
    #[wasm_bindgen(js_namespace = ["Function", "prototype", "bind"], js_name = call)]
    fn bind_with(f: &Function, this_arg: &JsValue, arg: &JsValue) -> Function;
}

thread_local! {
    /// A callback that ignores its argument, to mark promises as handled.
    static NOOP: Closure<dyn FnMut(JsValue)> = Closure::new(|_: JsValue| {});
}

/// Sends [`FetchRequest`]s (a [`web_sys::Request`] each) with the global `fetch`.
///
/// - key: the URL's origin (`scheme://host:port`), so each server has its own queue;
/// - replay: `Request.clone()`, taken before each send (a consumed body cannot be replayed);
/// - cancellation: each send has its own `AbortController`, combined with the request's
///   signal; dropping the [`Sending`] future before it completes aborts the fetch.
#[derive(Debug, Clone, Copy, Default)]
pub struct FetchTransport;

impl FetchTransport {
    /// The transport over the global `fetch`.
    pub fn new() -> FetchTransport {
        FetchTransport
    }
}

/// Why `fetch` produced no response: the value it rejected with (a `TypeError` for network
/// failures, an `AbortError` `DOMException` when aborted).
#[derive(Debug, Clone)]
pub struct FetchError(pub JsValue);

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.dyn_ref::<js_sys::Error>() {
            Some(e) => write!(f, "{}", String::from(e.message())),
            None => write!(f, "{:?}", self.0),
        }
    }
}

impl std::error::Error for FetchError {}

impl From<FetchError> for JsValue {
    fn from(e: FetchError) -> JsValue {
        e.0
    }
}

/// A [`web_sys::Request`] as the engine reads it: its method, read once (`fetch` upper-cases
/// the standard methods, so `"get"` reads as `"GET"`), and a copy to send again
/// (`Request.clone()`, refused once the body has been read).
#[derive(Debug)]
pub struct FetchRequest {
    request: Request,
    method: String,
}

impl FetchRequest {
    /// Reads the method of `request`.
    pub fn new(request: Request) -> FetchRequest {
        FetchRequest {
            method: request.method(),
            request,
        }
    }

    /// The JavaScript `Request`.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The JavaScript `Request`, taken back.
    pub fn into_request(self) -> Request {
        self.request
    }
}

impl From<Request> for FetchRequest {
    fn from(request: Request) -> FetchRequest {
        FetchRequest::new(request)
    }
}

impl headway_engine::Request for FetchRequest {
    fn method(&self) -> &str {
        &self.method
    }

    fn try_clone(&self) -> Option<FetchRequest> {
        Some(FetchRequest {
            request: Request::clone(&self.request).ok()?,
            method: self.method.clone(),
        })
    }
}

/// A response whose status and headers have arrived, with the headers copied out so the
/// engine can read them as `&str` (through [`headway_engine::Response`]).
///
/// Dropping a `FetchResponse` that was not taken with [`FetchResponse::into_response`]
/// cancels its body, so a retried response does not hold its connection open.
#[derive(Debug)]
pub struct FetchResponse {
    response: Option<Response>,
    status: u16,
    headers: Vec<(String, String)>,
    /// Where the request's signal is forwarded by a listener (hosts without
    /// `AbortSignal.any`): kept while the caller may read the body, removed otherwise.
    forward: Option<Forward>,
}

impl FetchResponse {
    /// Copies the status and headers of `response`.
    pub fn new(response: Response) -> FetchResponse {
        let mut headers = Vec::new();
        if let Ok(Some(entries)) = js_sys::try_iter(&response.headers()) {
            for entry in entries.flatten() {
                let pair: js_sys::Array = entry.unchecked_into();
                if let (Some(name), Some(value)) =
                    (pair.get(0).as_string(), pair.get(1).as_string())
                {
                    headers.push((name, value));
                }
            }
        }
        FetchResponse {
            status: response.status(),
            response: Some(response),
            headers,
            forward: None,
        }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// A header by case-insensitive name. Across origins, a browser exposes only the headers
    /// the server lists in `Access-Control-Expose-Headers`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header, as received (names lower-case).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The JavaScript `Response`, body unread. The request's signal still aborts the body.
    pub fn into_response(mut self) -> Response {
        if let Some(forward) = self.forward.take() {
            forward.keep();
        }
        self.response
            .take()
            .expect("the response is present until taken")
    }
}

impl headway_engine::Response for FetchResponse {
    fn status(&self) -> u16 {
        self.status
    }

    fn header(&self, name: &str) -> Option<&str> {
        FetchResponse::header(self, name)
    }
}

impl Drop for FetchResponse {
    fn drop(&mut self) {
        if let Some(body) = self.response.take().and_then(|r| r.body()) {
            // The promise settles on its own; a rejection (a body already locked) is harmless.
            NOOP.with(|noop| {
                let _ = body.cancel().catch(noop);
            });
        }
    }
}

/// A listener on the request's signal that aborts an attempt's controller: the stand-in for
/// `AbortSignal.any` on older hosts. Dropping it removes the listener.
struct Forward {
    signal: AbortSignal,
    listener: Option<Function>,
}

impl Forward {
    /// Leaves the listener in place for as long as JavaScript keeps the signal.
    fn keep(mut self) {
        self.listener = None;
    }
}

impl fmt::Debug for Forward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forward").finish_non_exhaustive()
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        if let Some(listener) = self.listener.take() {
            let _ = self
                .signal
                .remove_event_listener_with_callback("abort", &listener);
        }
    }
}

/// Aborts an attempt's `fetch` when dropped before its response was handed on.
struct AbortOnDrop {
    controller: Option<AbortController>,
    forward: Option<Forward>,
}

impl AbortOnDrop {
    /// A controller for one attempt of `request`, and the signal to fetch with: the
    /// controller's, combined with the request's own. `None` where the host has no
    /// `AbortController`.
    fn new(request: &Request) -> Option<(AbortOnDrop, AbortSignal)> {
        let controller = AbortController::new().ok()?;
        let own = controller.signal();
        let caller = request.signal();
        let mut guard = AbortOnDrop {
            controller: Some(controller),
            forward: None,
        };
        if let Ok(both) = abort_signal_any(&Array::of2(&caller, &own)) {
            return Some((guard, both));
        }
        let controller = guard.controller.as_ref()?;
        if caller.aborted() {
            controller.abort_with_reason(&caller.reason());
        } else {
            // `controller.abort.bind(controller, undefined)`: plain JavaScript, so it may outlive
            // this attempt (while the caller reads the body) without holding wasm memory. The
            // caller's abort reason is not forwarded: the fetch fails with an AbortError.
            let abort = js_sys::Reflect::get(controller, &JsValue::from_str("abort"))
                .ok()?
                .dyn_into::<Function>()
                .ok()?;
            let listener = bind_with(&abort, controller, &JsValue::UNDEFINED);
            caller
                .add_event_listener_with_callback("abort", &listener)
                .ok()?;
            guard.forward = Some(Forward {
                signal: caller,
                listener: Some(listener),
            });
        }
        Some((guard, own))
    }

    /// The attempt produced a response: nothing to abort any more.
    fn disarm(&mut self) -> Option<Forward> {
        self.controller = None;
        self.forward.take()
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(controller) = self.controller.take() {
            controller.abort();
        }
    }
}

/// The future of one `fetch`. Dropping it before it completes aborts the request.
#[must_use = "futures do nothing unless awaited"]
pub struct Sending {
    inner: Result<JsFuture, Option<JsValue>>,
    guard: Option<AbortOnDrop>,
}

impl fmt::Debug for Sending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sending").finish_non_exhaustive()
    }
}

impl Future for Sending {
    type Output = Result<FetchResponse, FetchError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let result = match &mut this.inner {
            Err(e) => return Poll::Ready(Err(FetchError(e.take().unwrap_or(JsValue::UNDEFINED)))),
            Ok(fut) => match Pin::new(fut).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(result) => result,
            },
        };
        // Settled: whatever happened, there is nothing left to abort.
        let forward = this.guard.as_mut().and_then(AbortOnDrop::disarm);
        Poll::Ready(match result {
            Ok(value) => match value.dyn_into::<Response>() {
                Ok(response) => {
                    let mut response = FetchResponse::new(response);
                    response.forward = forward;
                    Ok(response)
                }
                Err(other) => Err(FetchError(other)),
            },
            Err(e) => Err(FetchError(e)),
        })
    }
}

impl Transport for FetchTransport {
    type Request = FetchRequest;
    type Response = FetchResponse;
    type Error = FetchError;
    type Sending = Sending;

    fn key(&self, request: &FetchRequest) -> String {
        let url = request.request.url();
        match web_sys::Url::new(&url) {
            Ok(parsed) => parsed.origin(),
            Err(_) => url,
        }
    }

    fn send(&self, request: FetchRequest) -> Sending {
        let request = request.request;
        // `fetch` throws synchronously only when it is missing; report that as an error.
        let present = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("fetch"))
            .is_ok_and(|f| f.is_function());
        if !present {
            return Sending {
                inner: Err(Some(js_sys::Error::new("fetch is not available").into())),
                guard: None,
            };
        }
        let (guard, init) = match AbortOnDrop::new(&request) {
            Some((guard, signal)) => {
                let init = Object::new();
                let _ = js_sys::Reflect::set(&init, &JsValue::from_str("signal"), &signal);
                (Some(guard), JsValue::from(init))
            }
            None => (None, JsValue::UNDEFINED),
        };
        Sending {
            inner: Ok(JsFuture::from(global_fetch(&request, &init))),
            guard,
        }
    }
}
