//! [`Transport`]: what an adapter supplies to send one HTTP request, and the two small views
//! the engine reads a request and a response through ([`Request`], [`Response`]).

use std::future::Future;

/// What the engine reads of a request: its method and, to send it again, a copy.
///
/// Whether a failure of the request may be retried is decided by the engine from the method
/// ([`headway_core::call::is_idempotent`]), the same way for every transport.
pub trait Request: Sized {
    /// The method as it goes on the wire, e.g. `"GET"` (methods are case-sensitive).
    fn method(&self) -> &str;

    /// A copy to send again, or `None` when the body cannot be replayed.
    fn try_clone(&self) -> Option<Self>;
}

/// What the engine reads of a response whose status and headers have arrived.
pub trait Response {
    /// The status code.
    fn status(&self) -> u16;

    /// A header by case-insensitive name; `None` when absent or not text.
    fn header(&self, name: &str) -> Option<&str>;

    /// When the request went on the wire, on the runtime's clock ([`crate::Runtime::now_ns`]),
    /// for a transport whose own way from the admission to the socket takes long enough to
    /// matter (a task to start, a pooled connection, an event loop's turns): the key then
    /// spaces the next request from this send ([`headway_core::key::KeyMachine::on_sent`]).
    /// Default `None`: the admission counts as the send.
    fn sent_at(&self) -> Option<u64> {
        None
    }
}

/// Sends requests for the [`crate::Client`]. The tokio adapter implements it over reqwest (and
/// over a reqwest-middleware `Next`), the web adapter over `fetch`.
///
/// ```
/// use std::future::{ready, Ready};
/// use headway_engine::{Request, Response, Transport};
///
/// /// A request: its method and path.
/// #[derive(Clone)]
/// struct Get(&'static str);
///
/// impl Request for Get {
///     fn method(&self) -> &str {
///         "GET"
///     }
///     fn try_clone(&self) -> Option<Get> {
///         Some(self.clone())
///     }
/// }
///
/// /// A response without headers.
/// struct Status(u16);
///
/// impl Response for Status {
///     fn status(&self) -> u16 {
///         self.0
///     }
///     fn header(&self, _name: &str) -> Option<&str> {
///         None
///     }
/// }
///
/// /// Answers every request with a 204, all under one key.
/// struct NoContent;
///
/// impl Transport for NoContent {
///     type Request = Get;
///     type Response = Status;
///     type Error = std::convert::Infallible;
///     type Sending = Ready<Result<Status, Self::Error>>;
///
///     fn key(&self, _request: &Get) -> String {
///         "example".to_string()
///     }
///     fn send(&self, _request: Get) -> Self::Sending {
///         ready(Ok(Status(204)))
///     }
/// }
///
/// use headway_engine::{testing::FakeRuntime, Client, ClientConfig};
/// let rt = FakeRuntime::new();
/// let client = Client::new(rt.clone(), ClientConfig::default()).unwrap();
/// let sent = rt.run(client.execute(&NoContent, Get("/"))).unwrap();
/// assert_eq!((sent.response.0, sent.attempts), (204, 1));
/// ```
pub trait Transport {
    /// A request ready to send.
    type Request: Request;
    /// A response whose status and headers have arrived.
    type Response: Response;
    /// A failure to get a response (connection refused or reset, DNS, TLS, ...).
    type Error;
    /// The future of one send.
    type Sending: Future<Output = Result<Self::Response, Self::Error>>;

    /// The rate-limit key of a request, e.g. its origin (`scheme://host:port`): how requests
    /// are grouped is the transport's configuration.
    fn key(&self, request: &Self::Request) -> String;

    /// Sends the request.
    fn send(&self, request: Self::Request) -> Self::Sending;

    /// True when sending again cannot fix `error` (a malformed URL, an unsupported scheme):
    /// such a failure is never retried. Default: every failure may be transient.
    fn is_permanent(&self, _error: &Self::Error) -> bool {
        false
    }
}
