//! [`HeadwayMiddleware`]: the same throttling, retry and feedback as [`crate::Client`],
//! as a `reqwest-middleware` layer that drops into an existing middleware stack.

use std::future::Future;
use std::pin::Pin;

use headway_engine::{ClientError, Failure, Transport};
use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};

use crate::runtime::TokioRuntime;
use crate::transport::{KeyBy, ReqwestRequest, ReqwestResponse};

/// A `reqwest_middleware::Middleware` running every request through Headway's engine.
///
/// Build one on its own with [`HeadwayMiddleware::builder`] (the settings of
/// [`crate::ClientBuilder`], finished with
/// [`build_middleware`](crate::ClientBuilder::build_middleware)), or share a [`crate::Client`]'s
/// limits with [`HeadwayMiddleware::new`]:
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
///
/// A call that fails without a response comes back as the stack's own error when it was
/// sent once and the transport failed (so `reqwest_middleware::Error::is_connect` and the
/// like still work), and otherwise as a [`HeadwayError`] inside
/// `reqwest_middleware::Error::Middleware`, to match on:
///
/// ```no_run
/// # async fn run(client: reqwest_middleware::ClientWithMiddleware) {
/// use headway_tokio::{ClientError, Failure, HeadwayError};
/// match client.get("http://127.0.0.1:8080/items/1").send().await {
///     Ok(response) => println!("{}", response.status()),
///     Err(reqwest_middleware::Error::Middleware(e)) => match e.downcast_ref::<HeadwayError>() {
///         Some(HeadwayError(Failure { error: ClientError::WaitTooLong { wait, .. }, .. })) => {
///             println!("the server wants {wait:?}, longer than max_wait")
///         }
///         Some(HeadwayError(Failure { error: ClientError::CircuitOpen { retry_in }, .. })) => {
///             println!("circuit open for {retry_in:?}")
///         }
///         Some(HeadwayError(Failure { error: ClientError::Transport(last), attempts, .. })) => {
///             println!("{attempts} attempts, the last failed: {last}")
///         }
///         _ => println!("{e:#}"),
///     },
///     Err(e) => println!("{e:#}"),
/// }
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
        HeadwayMiddleware::from_engine(client.engine().clone(), client.key_by())
    }

    /// Starts configuring a middleware of its own: finish with
    /// [`build_middleware`](crate::ClientBuilder::build_middleware).
    pub fn builder() -> crate::ClientBuilder {
        crate::ClientBuilder::default()
    }

    /// A middleware driving `engine`, keying requests by `key_by`.
    pub(crate) fn from_engine(
        engine: headway_engine::Client<TokioRuntime>,
        key_by: KeyBy,
    ) -> HeadwayMiddleware {
        HeadwayMiddleware { engine, key_by }
    }

    /// What the middleware has done so far, and the state of every key.
    pub fn stats(&self) -> headway_engine::Stats {
        self.engine.stats()
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
            Err(Failure {
                error: ClientError::Transport(e),
                attempts: 0 | 1,
                ..
            }) => Err(e),
            Err(failure) => Err(reqwest_middleware::Error::middleware(HeadwayError(failure))),
        }
    }
}

/// Why Headway gave up on a call in the middleware: the wait would be longer than
/// `max_wait`, the key's circuit is open, the attempts ran out (the last one's error is the
/// [`ClientError::Transport`]), no response came within the timeout, or the request can
/// never fit the quota. It travels inside `reqwest_middleware::Error::Middleware`; find it
/// with `downcast_ref::<HeadwayError>()`. Its message is the failure's, and its
/// [`source`](std::error::Error::source) chain goes on to the last attempt's cause.
#[derive(Debug)]
pub struct HeadwayError(
    /// The failure: what went wrong, attempts and time waited.
    pub Failure<reqwest_middleware::Error>,
);

impl std::fmt::Display for HeadwayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for HeadwayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.0)
    }
}
