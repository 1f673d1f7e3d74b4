//! [`run_all`]: many calls under one concurrency cap, one result per item, as
//! [`BatchOptions`] say.

use std::future::Future;

use futures_util::future::Either;
use futures_util::stream::{self, Stream, StreamExt};

/// How a batch runs: how many calls at once, and in which order their results come.
///
/// ```
/// use headway_engine::{BatchOptions, Order};
/// let options = BatchOptions::new(10); // 10 at once, results in input order
/// assert_eq!(options, BatchOptions { concurrency: 10, order: Order::Input });
/// let options = options.order(Order::Completion);
/// assert_eq!(options.order, Order::Completion);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    /// The most calls in flight at once (0 counts as 1).
    pub concurrency: usize,
    /// The order results come in.
    pub order: Order,
}

impl BatchOptions {
    /// `concurrency` calls at once, results in input order.
    pub fn new(concurrency: usize) -> BatchOptions {
        BatchOptions {
            concurrency,
            order: Order::Input,
        }
    }

    /// Results in `order` instead.
    pub fn order(mut self, order: Order) -> BatchOptions {
        self.order = order;
        self
    }
}

/// The order a batch's results come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// The order the items came in: a slow call holds back the results after it (up to
    /// the concurrency cap). The default.
    #[default]
    Input,
    /// As the calls finish: no call waits for a slower one ahead of it.
    Completion,
}

/// Runs `f` for each item with at most `options.concurrency` calls in flight, yielding
/// exactly one output per item, in `options.order`. Items are pulled
/// lazily, so memory stays bounded by `concurrency` whatever the input's length (a million
/// URLs from a file never sit in memory at once). Make `f` return a `Result` so that each
/// item's failure is its own value, as `gather(return_exceptions=True)` does in Python.
///
/// ```
/// # futures_executor::block_on(async {
/// use futures_util::StreamExt;
/// use headway_engine::{run_all, BatchOptions};
/// let out: Vec<u32> = run_all(1..=5u32, BatchOptions::new(2), |i| async move { i * 10 })
///     .collect()
///     .await;
/// assert_eq!(out, [10, 20, 30, 40, 50]);
/// # });
/// ```
pub fn run_all<I, F, Fut>(items: I, options: BatchOptions, f: F) -> impl Stream<Item = Fut::Output>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future,
{
    run_stream(stream::iter(items), options, f)
}

/// [`run_all`] over a stream of items instead of an iterator.
pub fn run_stream<S, F, Fut>(
    items: S,
    options: BatchOptions,
    f: F,
) -> impl Stream<Item = Fut::Output>
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Fut: Future,
{
    let calls = items.map(f);
    let concurrency = options.concurrency.max(1);
    if options.order == Order::Input {
        Either::Left(calls.buffered(concurrency))
    } else {
        Either::Right(calls.buffer_unordered(concurrency))
    }
}
