//! What the machine tells the application ([`Event`]) and its driver ([`Directive`]), and the
//! error types of both.
//!
//! Invariant: events are facts that already happened inside the machine; directives are the
//! only requests the machine makes of the IO around it, there are just two of them, and the
//! enum is exhaustive so that every driver handles each one.

use thiserror::Error;

use crate::auth::{AuthError, ServerAddr};
use crate::proto::{DecodeError, HeaderError, Message, SubjectError};

/// A subscription id, unique within a connection.
pub type Sid = u64;

/// Identifies one request made with [`Connection::request`](super::Connection::request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

/// Identifies one flush made with [`Connection::flush`](super::Connection::flush).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlushId(pub(crate) u64);

/// Something that happened to the connection, for the application: the events a client
/// hands its event stream (the adapters re-export this type as their `ClientEvent`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// The first successful connect (CONNECT answered by PONG).
    Connected {
        /// The server connected to.
        server: ServerAddr,
    },
    /// Connected again after a disconnect; subscriptions were restored and the reconnect
    /// buffer replayed.
    Reconnected {
        /// The server connected to.
        server: ServerAddr,
    },
    /// An established connection was lost; the machine will reconnect unless closed.
    Disconnected {
        /// Why.
        reason: ConnectionError,
        /// Publishes that were queued for the old socket but not yet written to it: they are
        /// lost (core NATS is at-most-once), and reported here rather than dropped in silence.
        unsent_messages: u64,
    },
    /// The connection is closed for good; nothing more will happen.
    Closed {
        /// Why, or `None` after [`close`](super::Connection::close) or a finished drain.
        reason: Option<ConnectionError>,
        /// Publishes the machine accepted that were never written and now never will be:
        /// the reconnect buffer at a close while disconnected or when reconnecting gave up,
        /// or what the transport did not take after a close.
        unsent_messages: u64,
    },
    /// The application started draining the client
    /// ([`drain`](super::Connection::drain)): no new subscriptions or publishes are taken,
    /// and [`Closed`](Self::Closed) follows once the drain finished or timed out.
    Draining,
    /// The server announced lame-duck mode: it will shut down soon.
    LameDuck {
        /// The server in lame-duck mode.
        server: ServerAddr,
    },
    /// The cluster advertised servers not seen before; they joined the pool.
    ServersDiscovered {
        /// The new servers.
        servers: Vec<ServerAddr>,
    },
    /// Publishes buffered while disconnected were discarded, unsent, because the server
    /// connected to cannot take one of them (headers unsupported, or over its
    /// `max_payload`).
    PublishesDiscarded {
        /// How many publishes were discarded.
        messages: u64,
        /// What the server could not take.
        reason: PublishError,
    },
    /// The server sent a `-ERR` that does not end the connection (for example a permissions
    /// violation).
    ServerError {
        /// The error text, without quotes.
        message: String,
    },
    /// A subscription's pending limit was hit and messages are being dropped. Raised once per
    /// episode: again only after the subscription's queue has drained below half its limits.
    SlowConsumer {
        /// The subscription.
        sid: Sid,
    },
    /// The server relayed a message whose subject or reply subject is not UTF-8 (another
    /// client published it; the server does not check). It was dropped; the connection and
    /// every message after it are unaffected. Counted in
    /// [`Statistics::unreadable_messages`](super::Statistics::unreadable_messages).
    UnreadableMessage {
        /// The subscription it was for.
        sid: Sid,
        /// What is wrong with it.
        reason: SubjectError,
    },
}

/// Something that happened: a [`ConnectionEvent`] for the application, or the completion of
/// one of its handles (a subscription, a request, a flush) for whoever holds that handle.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// Something that happened to the connection.
    Connection(ConnectionEvent),

    // ===== subscriptions =====
    /// Messages are waiting on a subscription that was empty: fetch them with
    /// [`next_message`](super::Connection::next_message). Raised once per batch, not per
    /// message.
    MessagesReady {
        /// The subscription.
        sid: Sid,
    },
    /// A subscription stopped receiving. Messages already queued can still be fetched.
    SubscriptionClosed {
        /// The subscription.
        sid: Sid,
        /// Why.
        reason: SubscriptionEnd,
    },

    // ===== requests and flushes =====
    /// A request finished.
    Response {
        /// The request.
        id: RequestId,
        /// The reply, or why there is none.
        result: Result<Message, RequestError>,
    },
    /// A flush finished: every command issued before it reached the server.
    Flushed {
        /// The flush.
        id: FlushId,
        /// `Ok` when the server answered the flush PING.
        result: Result<(), FlushError>,
    },
}

/// What the driver must do with its transport.
///
/// Deliberately exhaustive: a driver matches every directive without a wildcard arm, so a
/// directive added in a later version is a compile error in every driver instead of a request
/// silently ignored. A driver (in its own crate, as this doctest is) matches like this:
///
/// ```
/// use nats_sansio::Directive;
///
/// fn carry_out(directive: Directive) -> &'static str {
///     match directive {
///         Directive::Connect { .. } => "open a socket",
///         Directive::Close => "write what is queued, then close",
///         Directive::Authenticate { .. } => "compute the credentials, then hand them back",
///     }
/// }
/// # let _ = carry_out(Directive::Close);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Directive {
    /// Open a TCP connection to this server, then call
    /// [`handle_connected`](super::Connection::handle_connected) or
    /// [`handle_connect_failed`](super::Connection::handle_connect_failed).
    Connect {
        /// Where to connect.
        server: ServerAddr,
    },
    /// Close the current socket, after writing what
    /// [`poll_transmit`](super::Connection::poll_transmit) still holds: after
    /// [`close`](super::Connection::close) or a drain it holds the last publishes. Keep
    /// writing (and calling `handle_timeout` at `poll_timeout`) until `poll_transmit` returns
    /// `None`, then drop the socket; if a write fails first, call `handle_disconnected`. Do
    /// not call `handle_disconnected` for the close itself.
    Close,
    /// Compute the credentials for this connect ([`Auth::Deferred`](crate::auth::Auth::Deferred))
    /// and pass them, or why there are none, to
    /// [`handle_credentials`](super::Connection::handle_credentials) with `request`.
    /// Meanwhile keep reading and writing the socket: the handshake (TLS included) goes
    /// on, and the connect timeout still runs.
    Authenticate {
        /// The server's nonce, to be signed (`None` if it sent none).
        nonce: Option<String>,
        /// Names this request in the answer.
        request: u64,
    },
}

/// Why a subscription stopped receiving.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriptionEnd {
    /// The application unsubscribed.
    Unsubscribed,
    /// The subscription received the number of messages it was limited to.
    MaxMessages,
    /// The subscription (or the whole client) was drained.
    Drained,
    /// The server refused the subscription.
    PermissionDenied(String),
    /// The connection closed.
    ConnectionClosed,
}

/// Why a connection ended or could not be made.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The transport failed or the peer closed it.
    #[error("connection lost: {0}")]
    Io(String),
    /// Connecting (TCP, TLS, INFO, CONNECT and PONG) took longer than the connect timeout.
    #[error("connect timed out")]
    ConnectTimeout,
    /// Too many keep-alive PINGs went unanswered.
    #[error("stale connection: {0} pings without a pong")]
    StaleConnection(u32),
    /// The server rejected the credentials.
    #[error("authorization violation: {0}")]
    AuthorizationViolation(String),
    /// The credentials could not be computed (bad seed, missing nonce, failing callback).
    #[error("authentication failed: {0}")]
    Auth(#[from] AuthError),
    /// The server sent an error that ends the connection.
    #[error("server error: {0}")]
    Server(String),
    /// The server broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// TLS was asked for and the server does not offer it; nothing was sent in the clear.
    #[error("TLS required but the server does not offer TLS")]
    TlsNotAvailable,
    /// TLS failed (handshake, certificate, record).
    #[error("TLS error: {0}")]
    Tls(String),
    /// The server answered the WebSocket upgrade with another status than `101` (for
    /// example 403 for an `Origin` it does not allow, 404 for a path it does not serve).
    #[error("WebSocket upgrade refused: HTTP {status} {reason}")]
    WebSocketUpgrade {
        /// The HTTP status code.
        status: u16,
        /// The status line's reason phrase.
        reason: String,
    },
    /// The WebSocket handshake answer was invalid, or the server broke the framing rules.
    #[error("{0}")]
    WebSocket(String),
    /// The server closed the WebSocket with a close frame; the connection reconnects as
    /// after any lost socket.
    #[error("WebSocket closed by the server: {code} {reason}")]
    WebSocketClosed {
        /// The close code (1005 when the frame carried none; 1001 for a server shutting
        /// down, 1008 for a policy such as an authorization failure).
        code: u16,
        /// The server's reason text.
        reason: String,
    },
    /// Every server in the pool was tried and removed.
    #[error("no servers left to connect to")]
    NoServers,
    /// Reconnecting gave up: the last server in the pool used up its
    /// [`Options::max_reconnects`](super::Options::max_reconnects) attempts (failures since
    /// its last successful connect) and was removed, leaving none. Carries the error of the
    /// last attempt.
    #[error("reconnects exhausted, no servers left; last error: {0}")]
    MaxReconnects(Box<ConnectionError>),
    /// The connection was closed by the application.
    #[error("connection closed")]
    Closed,
    /// The application asked for a new connection
    /// ([`force_reconnect`](super::Connection::force_reconnect)).
    #[error("reconnect forced by the application")]
    ForcedReconnect,
}

impl From<DecodeError> for ConnectionError {
    fn from(e: DecodeError) -> Self {
        ConnectionError::Protocol(e.to_string())
    }
}

/// Why a publish was refused. Nothing was queued.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The subject is not a valid publish subject.
    #[error("invalid subject: {0}")]
    InvalidSubject(SubjectError),
    /// The reply subject is not valid.
    #[error("invalid reply subject: {0}")]
    InvalidReply(SubjectError),
    /// A header name or value is not valid.
    #[error("invalid headers: {0}")]
    InvalidHeaders(HeaderError),
    /// The server does not support headers.
    #[error("the server does not support headers")]
    HeadersNotSupported,
    /// Headers plus payload exceed the server's `max_payload`.
    #[error("message of {size} bytes exceeds the server's maximum payload of {max} bytes")]
    MaxPayloadExceeded {
        /// Header and payload bytes of the message.
        size: usize,
        /// The server's limit.
        max: usize,
    },
    /// Disconnected, and the reconnect buffer has no room for this message (or is disabled).
    #[error("reconnect buffer full: {limit} bytes")]
    ReconnectBufferFull {
        /// The buffer's size in bytes (0 when disabled).
        limit: usize,
    },
    /// The connection is draining and takes no new publishes.
    #[error("connection is draining")]
    Draining,
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
}

/// Why a subscribe was refused.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The subject is not valid.
    #[error("invalid subject: {0}")]
    InvalidSubject(SubjectError),
    /// The queue group name is not valid.
    #[error("invalid queue group: {0}")]
    InvalidQueueGroup(SubjectError),
    /// The connection is draining.
    #[error("connection is draining")]
    Draining,
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
}

/// Why a request has no reply.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Nobody is subscribed to the subject (status 503).
    #[error("no responders")]
    NoResponders,
    /// No reply arrived within the timeout.
    #[error("request timed out")]
    TimedOut,
    /// The request could not be published.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The connection was lost after the request was sent; its reply cannot arrive.
    #[error("disconnected before the reply arrived")]
    Disconnected,
    /// The connection closed before a reply arrived.
    #[error("connection closed")]
    Closed,
}

/// Why a flush did not complete.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum FlushError {
    /// No PONG within the timeout.
    #[error("flush timed out")]
    TimedOut,
    /// The connection was lost before the PONG.
    #[error("disconnected before the flush completed")]
    Disconnected,
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
}
