//! [`Runtime`]: what an adapter supplies — a monotonic clock, a wall clock, a way to sleep,
//! and where the engine's [`Event`]s go.

use std::future::Future;

use crate::event::Event;

/// The three things the engine needs from the world. Implemented by each adapter (tokio,
/// the browser) and by tests (a fake clock).
///
/// `now_ns` is monotonic nanoseconds since an origin the runtime chooses; `wall_ms` is unix
/// time in milliseconds, used only to read HTTP dates and epoch resets.
pub trait Runtime: Clone + 'static {
    /// The future returned by [`Runtime::sleep_until`].
    type Sleep: Future<Output = ()>;

    /// Monotonic time in nanoseconds.
    fn now_ns(&self) -> u64;

    /// Wall-clock unix time in milliseconds.
    fn wall_ms(&self) -> u64;

    /// A future that completes once `now_ns() >= deadline_ns`.
    fn sleep_until(&self, deadline_ns: u64) -> Self::Sleep;

    /// A seed for jitter; each call should differ (time, a counter, an RNG).
    fn seed(&self) -> u64;

    /// Told of each [`Event`] as the request loop decides it (a server's pause, learned
    /// quotas, a retry), on the task that decided it. Default: nothing. It must not block;
    /// the engine holds no lock while calling it.
    fn event(&self, _event: &Event<'_>) {}
}
