//! [`run_all`]: many calls under one concurrency cap, one result per item.

use std::future::Future;

use futures_util::future::Either;
use futures_util::stream::{self, Stream, StreamExt};

/// Runs `f` for each item with at most `concurrency` calls in flight, yielding exactly one
/// output per item: in input order when `ordered`, else as they complete. Items are pulled
/// lazily, so memory stays bounded by `concurrency` whatever the input's length (a million
/// URLs from a file never sit in memory at once). Make `f` return a `Result` so that each
/// item's failure is its own value, as `gather(return_exceptions=True)` does in Python.
///
/// ```
/// # futures_executor::block_on(async {
/// use futures_util::StreamExt;
/// let out: Vec<u32> = headway_engine::run_all(1..=5u32, 2, true, |i| async move { i * 10 })
///     .collect()
///     .await;
/// assert_eq!(out, [10, 20, 30, 40, 50]);
/// # });
/// ```
pub fn run_all<I, F, Fut>(
    items: I,
    concurrency: usize,
    ordered: bool,
    f: F,
) -> impl Stream<Item = Fut::Output>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future,
{
    run_stream(stream::iter(items), concurrency, ordered, f)
}

/// [`run_all`] over a stream of items instead of an iterator.
pub fn run_stream<S, F, Fut>(
    items: S,
    concurrency: usize,
    ordered: bool,
    f: F,
) -> impl Stream<Item = Fut::Output>
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Fut: Future,
{
    let calls = items.map(f);
    let concurrency = concurrency.max(1);
    if ordered {
        Either::Left(calls.buffered(concurrency))
    } else {
        Either::Right(calls.buffer_unordered(concurrency))
    }
}
