//! JetStream errors: the server's typed API errors and what can go wrong around them.
//!
//! Invariant: a caller decides on [`JetStreamError::kind`], which comes from the server's
//! `err_code` (never its description) or from the transport, never from parsing text.

use nats_sansio::connection::{PublishError, RequestError, SubscribeError};
use nats_sansio::jetstream::api::{ApiError, ApiErrorKind, NameError, ResponseError};
use nats_sansio::jetstream::direct::DirectGetError;
use nats_sansio::jetstream::ordered::{CreateError, OrderedConfigError, OrderedError};
use nats_sansio::jetstream::pull::{PullConfigError, PullError};

/// What a caller can match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JetStreamErrorKind {
    /// The server answered with an API error of this kind.
    Api(ApiErrorKind),
    /// No JetStream answered (503 no responders): not enabled, wrong domain or prefix, or no
    /// stream for a publish subject.
    NoResponders,
    /// No answer in time.
    TimedOut,
    /// The connection was lost or closed before the answer.
    Disconnected,
    /// The request was refused locally (invalid subject or name, payload too large, ...).
    InvalidRequest,
    /// The server's answer could not be understood.
    Malformed,
    /// A pull consumer failed (bad request, consumer deleted, ...).
    Consumer,
}

/// A JetStream operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum JetStreamError {
    /// The server's API error.
    #[error("{0}")]
    Api(ApiError),
    /// The server's reply was not understood.
    #[error("malformed JetStream reply: {0}")]
    Malformed(String),
    /// The request failed.
    #[error(transparent)]
    Request(RequestError),
    /// A Direct Get failed (a missing message has kind
    /// `Api(ApiErrorKind::NoMessageFound)`, like a `STREAM.MSG.GET` miss).
    #[error("direct get: {0}")]
    DirectGet(#[from] DirectGetError),
    /// Subscribing to a consumer's inbox or deliver subject failed.
    #[error("subscribe failed: {0}")]
    Subscribe(#[from] SubscribeError),
    /// A stream or consumer name is not valid.
    #[error("invalid name: {0}")]
    InvalidName(#[from] NameError),
    /// Consumer options are not valid.
    #[error("invalid pull options: {0}")]
    PullConfig(#[from] PullConfigError),
    /// A pull consumer ended with an error.
    #[error(transparent)]
    Pull(#[from] PullError),
    /// Ordered consumer options are not valid.
    #[error("invalid ordered consumer options: {0}")]
    OrderedConfig(#[from] OrderedConfigError),
    /// An ordered consumer ended with an error.
    #[error(transparent)]
    Ordered(OrderedError),
    /// The operation needs a message with a JetStream reply subject.
    #[error("not a JetStream message: {0}")]
    NotJetStreamMessage(String),
    /// The message was already acknowledged with a terminal ack.
    #[error("message already acknowledged")]
    AlreadyAcked,
}

impl JetStreamError {
    /// What kind of failure this is.
    pub fn kind(&self) -> JetStreamErrorKind {
        match self {
            JetStreamError::Api(e) => JetStreamErrorKind::Api(e.kind()),
            JetStreamError::Malformed(_) => JetStreamErrorKind::Malformed,
            JetStreamError::Request(RequestError::NoResponders) => JetStreamErrorKind::NoResponders,
            JetStreamError::Request(RequestError::TimedOut) => JetStreamErrorKind::TimedOut,
            JetStreamError::Request(RequestError::Disconnected | RequestError::Closed) => {
                JetStreamErrorKind::Disconnected
            }
            JetStreamError::DirectGet(e) => match e {
                DirectGetError::NotFound(_) => {
                    JetStreamErrorKind::Api(ApiErrorKind::NoMessageFound)
                }
                DirectGetError::RequiredApiLevel(_) => {
                    JetStreamErrorKind::Api(ApiErrorKind::RequiredApiLevel)
                }
                DirectGetError::NoResponders => JetStreamErrorKind::NoResponders,
                DirectGetError::TimedOut => JetStreamErrorKind::TimedOut,
                DirectGetError::BadRequest(_) | DirectGetError::TooManyResults => {
                    JetStreamErrorKind::InvalidRequest
                }
                _ => JetStreamErrorKind::Api(ApiErrorKind::Other),
            },
            JetStreamError::Subscribe(SubscribeError::Closed | SubscribeError::Draining) => {
                JetStreamErrorKind::Disconnected
            }
            JetStreamError::Request(_)
            | JetStreamError::Subscribe(_)
            | JetStreamError::InvalidName(_)
            | JetStreamError::PullConfig(_)
            | JetStreamError::OrderedConfig(_)
            | JetStreamError::NotJetStreamMessage(_)
            | JetStreamError::AlreadyAcked => JetStreamErrorKind::InvalidRequest,
            JetStreamError::Pull(_) | JetStreamError::Ordered(_) => JetStreamErrorKind::Consumer,
        }
    }

    /// A failed publish as the core's JetStream machines read it (to map a refusal to their
    /// own typed error), or this error back when it is not one they read (a local
    /// refusal, say).
    pub(crate) fn into_publish_failure(
        self,
    ) -> Result<nats_sansio::jetstream::publish::PublishFailure, JetStreamError> {
        use nats_sansio::jetstream::publish::PublishFailure;
        match self {
            JetStreamError::Api(api) => Ok(PublishFailure::Response(ResponseError::Api(api))),
            JetStreamError::Request(request) => Ok(PublishFailure::Request(request)),
            JetStreamError::Malformed(text) => {
                Ok(PublishFailure::Response(ResponseError::Malformed(text)))
            }
            other => Err(other),
        }
    }

    /// The server's API error kind, if this is one.
    pub fn api_kind(&self) -> Option<ApiErrorKind> {
        match self.kind() {
            JetStreamErrorKind::Api(kind) => Some(kind),
            _ => None,
        }
    }
}

impl From<std::convert::Infallible> for JetStreamError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

impl From<RequestError> for JetStreamError {
    fn from(e: RequestError) -> Self {
        JetStreamError::Request(e)
    }
}

impl From<PublishError> for JetStreamError {
    fn from(e: PublishError) -> Self {
        JetStreamError::Request(RequestError::Publish(e))
    }
}

impl From<ResponseError> for JetStreamError {
    fn from(e: ResponseError) -> Self {
        match e {
            ResponseError::Api(api) => JetStreamError::Api(api),
            other => JetStreamError::Malformed(other.to_string()),
        }
    }
}

impl From<OrderedError> for JetStreamError {
    /// A refused creation is the server's API error (so `api_kind` works); the rest stays an
    /// ordered consumer error.
    fn from(e: OrderedError) -> Self {
        match e {
            OrderedError::Create(CreateError::Api(api)) => JetStreamError::Api(api),
            OrderedError::Create(CreateError::NoResponders) => {
                JetStreamError::Request(RequestError::NoResponders)
            }
            other => JetStreamError::Ordered(other),
        }
    }
}
