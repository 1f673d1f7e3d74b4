//! [`Transport`]: what an adapter supplies to send one HTTP request.

use std::future::Future;

/// Sends requests and reads responses for the [`crate::Client`]. The tokio adapter implements
/// it over reqwest (and over a reqwest-middleware `Next`), the web adapter over `fetch`.
pub trait Transport {
    /// A request ready to send.
    type Request;
    /// A response whose status and headers have arrived.
    type Response;
    /// A failure to get a response (connection refused or reset, DNS, TLS, ...).
    type Error;
    /// The future of one send.
    type Sending: Future<Output = Result<Self::Response, Self::Error>>;

    /// The rate-limit key of a request: by default its origin (`scheme://host:port`).
    fn key(&self, request: &Self::Request) -> String;

    /// True when the request's method is idempotent: use [`headway_core::call::is_idempotent`]
    /// on the method name.
    fn is_idempotent(&self, request: &Self::Request) -> bool;

    /// True when sending again cannot fix `error` (a malformed URL, an unsupported scheme):
    /// such a failure is never retried. Default: every failure may be transient.
    fn is_permanent(&self, _error: &Self::Error) -> bool {
        false
    }

    /// A copy to send again, or `None` when the body cannot be replayed.
    fn try_clone(&self, request: &Self::Request) -> Option<Self::Request>;

    /// Sends the request.
    fn send(&self, request: Self::Request) -> Self::Sending;

    /// The response's status code.
    fn status(&self, response: &Self::Response) -> u16;

    /// A response header by case-insensitive name; `None` when absent or not text.
    fn header<'r>(&self, response: &'r Self::Response, name: &str) -> Option<&'r str>;
}
