//! [`ReqwestTransport`]: sending through a `reqwest::Client`, keyed per origin by default.

use std::future::Future;
use std::pin::Pin;

use headway_engine::Transport;
use reqwest::{Method, Request, Response};

/// How requests are grouped into rate-limit keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyBy {
    /// One key per origin (`scheme://host:port`): the default, as servers usually limit.
    #[default]
    Origin,
    /// One key per host name, whatever the scheme and port.
    Host,
    /// One key for everything.
    Global,
}

impl KeyBy {
    /// The key of `url` under this rule.
    pub fn key(self, url: &reqwest::Url) -> String {
        match self {
            KeyBy::Origin => url.origin().ascii_serialization(),
            KeyBy::Host => url.host_str().unwrap_or("").to_ascii_lowercase(),
            KeyBy::Global => String::new(),
        }
    }
}

/// True for methods RFC 9110 calls idempotent.
pub(crate) fn idempotent(method: &Method) -> bool {
    headway_core::call::is_idempotent(method.as_str())
}

/// A reqwest error that sending again cannot fix: the request could not even be built (a
/// malformed URL, an unsupported scheme).
pub(crate) fn permanent(error: &reqwest::Error) -> bool {
    error.is_builder()
}

/// A response header as text, if present and visible ASCII.
pub(crate) fn header<'r>(response: &'r Response, name: &str) -> Option<&'r str> {
    response.headers().get(name)?.to_str().ok()
}

/// Sends through a `reqwest::Client`.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    key_by: KeyBy,
}

impl ReqwestTransport {
    /// Sends through `client`, keying requests by `key_by`.
    pub fn new(client: reqwest::Client, key_by: KeyBy) -> ReqwestTransport {
        ReqwestTransport { client, key_by }
    }

    /// How this transport groups requests into keys.
    pub fn key_by(&self) -> KeyBy {
        self.key_by
    }
}

impl Transport for ReqwestTransport {
    type Request = Request;
    type Response = Response;
    type Error = reqwest::Error;
    type Sending = Pin<Box<dyn Future<Output = reqwest::Result<Response>> + Send>>;

    fn key(&self, request: &Request) -> String {
        self.key_by.key(request.url())
    }

    fn is_idempotent(&self, request: &Request) -> bool {
        idempotent(request.method())
    }

    fn try_clone(&self, request: &Request) -> Option<Request> {
        request.try_clone()
    }

    fn is_permanent(&self, error: &reqwest::Error) -> bool {
        permanent(error)
    }

    fn send(&self, request: Request) -> Self::Sending {
        Box::pin(self.client.execute(request))
    }

    fn status(&self, response: &Response) -> u16 {
        response.status().as_u16()
    }

    fn header<'r>(&self, response: &'r Response, name: &str) -> Option<&'r str> {
        header(response, name)
    }
}
