//! [`ReqwestTransport`]: sending through a `reqwest::Client`, keyed per origin by default;
//! [`ReqwestRequest`] and [`ReqwestResponse`]: reqwest's request and response as the engine
//! reads them.

use std::future::Future;
use std::pin::Pin;

use headway_engine::{Sent, Transport};
use reqwest::{Request, Response};

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

/// A `reqwest::Request` as the engine reads it: its method, and a copy to send again when
/// its body can be replayed ([`Request::try_clone`]).
#[derive(Debug)]
pub struct ReqwestRequest(
    /// The request.
    pub Request,
);

impl headway_engine::Request for ReqwestRequest {
    fn method(&self) -> &str {
        self.0.method().as_str()
    }

    fn try_clone(&self) -> Option<ReqwestRequest> {
        self.0.try_clone().map(ReqwestRequest)
    }
}

/// A `reqwest::Response` as the engine reads it: its status, and its headers by
/// case-insensitive name (a value that is not visible ASCII reads as absent).
#[derive(Debug)]
pub struct ReqwestResponse(
    /// The response, body unread.
    pub Response,
);

impl headway_engine::Response for ReqwestResponse {
    fn status(&self) -> u16 {
        self.0.status().as_u16()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.0.headers().get(name)?.to_str().ok()
    }
}

/// A call's result with reqwest's own response.
pub(crate) fn unwrapped(sent: Sent<ReqwestResponse>) -> Sent<Response> {
    Sent {
        response: sent.response.0,
        attempts: sent.attempts,
        waited: sent.waited,
    }
}

/// A reqwest error that sending again cannot fix: the request could not even be built (a
/// malformed URL, an unsupported scheme).
pub(crate) fn permanent(error: &reqwest::Error) -> bool {
    error.is_builder()
}

/// Sends [`ReqwestRequest`]s through a `reqwest::Client`.
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
    type Request = ReqwestRequest;
    type Response = ReqwestResponse;
    type Error = reqwest::Error;
    type Sending = Pin<Box<dyn Future<Output = reqwest::Result<ReqwestResponse>> + Send>>;

    fn key(&self, request: &ReqwestRequest) -> String {
        self.key_by.key(request.0.url())
    }

    fn send(&self, request: ReqwestRequest) -> Self::Sending {
        let sending = self.client.execute(request.0);
        Box::pin(async move { sending.await.map(ReqwestResponse) })
    }

    fn is_permanent(&self, error: &reqwest::Error) -> bool {
        permanent(error)
    }
}
