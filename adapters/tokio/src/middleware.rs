//! [`HeadwayMiddleware`]: the same throttling, retry and feedback as [`crate::Client`],
//! as a `reqwest-middleware` layer that drops into an existing middleware stack.

use std::future::Future;
use std::pin::Pin;

use headway_engine::{ClientError, Transport};
use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};

use crate::runtime::TokioRuntime;
use crate::transport::{KeyBy, ReqwestRequest, ReqwestResponse};

/// A `reqwest_middleware::Middleware` running every request through Headway's engine.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let headway = headway_tokio::Client::builder().quota("10/s").build().unwrap();
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(headway_tokio::HeadwayMiddleware::new(&headway))
///     .build();
/// # let _ = client;
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct HeadwayMiddleware {
    engine: headway_engine::Client<TokioRuntime>,
    key_by: KeyBy,
}

impl HeadwayMiddleware {
    /// Shares `client`'s limits, keying rule and statistics.
    pub fn new(client: &crate::Client) -> HeadwayMiddleware {
        HeadwayMiddleware {
            engine: client.engine().clone(),
            key_by: client.key_by(),
        }
    }

    /// Groups requests into keys by `key_by`.
    pub fn key_by(mut self, key_by: KeyBy) -> Self {
        self.key_by = key_by;
        self
    }
}

/// The rest of the middleware chain as a [`Transport`]: each attempt runs `next` with its
/// own copy of the extensions.
struct NextTransport<'a> {
    next: Next<'a>,
    extensions: Extensions,
    key_by: KeyBy,
}

impl<'a> Transport for NextTransport<'a> {
    type Request = ReqwestRequest;
    type Response = ReqwestResponse;
    type Error = reqwest_middleware::Error;
    type Sending =
        Pin<Box<dyn Future<Output = reqwest_middleware::Result<ReqwestResponse>> + Send + 'a>>;

    fn key(&self, request: &ReqwestRequest) -> String {
        self.key_by.key(request.0.url())
    }

    fn send(&self, request: ReqwestRequest) -> Self::Sending {
        let next = self.next.clone();
        let mut extensions = self.extensions.clone();
        Box::pin(async move {
            let response = next.run(request.0, &mut extensions).await?;
            Ok(ReqwestResponse(response))
        })
    }

    fn is_permanent(&self, error: &reqwest_middleware::Error) -> bool {
        match error {
            reqwest_middleware::Error::Reqwest(e) => crate::transport::permanent(e),
            reqwest_middleware::Error::Middleware(_) => false,
        }
    }
}

#[async_trait::async_trait]
impl Middleware for HeadwayMiddleware {
    async fn handle(
        &self,
        req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let transport = NextTransport {
            next,
            extensions: extensions.clone(),
            key_by: self.key_by,
        };
        match self.engine.execute(&transport, ReqwestRequest(req)).await {
            Ok(sent) => Ok(sent.response.0),
            Err(failure) => Err(match failure.error {
                ClientError::Transport(e) => e,
                other => reqwest_middleware::Error::middleware(HeadwayError(other.to_string())),
            }),
        }
    }
}

/// A Headway failure (timeout, wait too long, circuit open) carried in a middleware error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadwayError(pub String);

impl std::fmt::Display for HeadwayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HeadwayError {}
