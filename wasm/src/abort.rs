//! Racing a future against an `AbortSignal`: on abort the future is dropped, which gives its
//! place in the queue (or its in-flight request) back.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::AbortSignal;

/// `fut`, unless `signal` aborts first; then `Err(signal.reason)` and `fut` is dropped.
pub(crate) struct Abortable<F> {
    fut: Option<Pin<Box<F>>>,
    signal: Option<AbortSignal>,
    waker: Rc<RefCell<Option<Waker>>>,
    listener: Option<Closure<dyn FnMut()>>,
}

impl<F> Abortable<F> {
    pub(crate) fn new(fut: F, signal: Option<AbortSignal>) -> Abortable<F> {
        Abortable {
            fut: Some(Box::pin(fut)),
            signal,
            waker: Rc::new(RefCell::new(None)),
            listener: None,
        }
    }

    fn unlisten(&mut self) {
        if let (Some(signal), Some(listener)) = (&self.signal, self.listener.take()) {
            let _ = signal
                .remove_event_listener_with_callback("abort", listener.as_ref().unchecked_ref());
        }
    }
}

impl<F: Future> Future for Abortable<F> {
    type Output = Result<F::Output, JsValue>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Every field is Unpin (the inner future is boxed).
        let this = Pin::into_inner(self);
        if let Some(signal) = this.signal.clone() {
            if signal.aborted() {
                this.fut = None;
                this.unlisten();
                return Poll::Ready(Err(signal.reason()));
            }
            *this.waker.borrow_mut() = Some(cx.waker().clone());
            if this.listener.is_none() {
                let waker = Rc::clone(&this.waker);
                let listener = Closure::<dyn FnMut()>::new(move || {
                    if let Some(w) = waker.borrow_mut().take() {
                        w.wake();
                    }
                });
                let _ = signal
                    .add_event_listener_with_callback("abort", listener.as_ref().unchecked_ref());
                this.listener = Some(listener);
            }
        }
        match this.fut.as_mut() {
            None => Poll::Pending,
            Some(fut) => match fut.as_mut().poll(cx) {
                Poll::Ready(out) => {
                    this.fut = None;
                    this.unlisten();
                    Poll::Ready(Ok(out))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<F> Drop for Abortable<F> {
    fn drop(&mut self) {
        self.unlisten();
    }
}

impl<F> Unpin for Abortable<F> {}
