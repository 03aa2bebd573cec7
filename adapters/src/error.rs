//! Errors of the async client.
//!
//! Invariant: each error is an enum a caller can match on; the machine's own error types
//! are re-exported, not wrapped into strings.

pub use nats_sansio::connection::{
    ConfigError, ConnectionError, FlushError, PublishError, RequestError, SubscribeError,
};

use nats_sansio::auth::AddrError;

/// Why connecting failed (`connect`, `connect_with_options`,
/// [`ConnectOptions::connect_with_runtime`](crate::ConnectOptions::connect_with_runtime)).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// A server URL is not valid.
    #[error("invalid server URL: {0}")]
    InvalidUrl(#[from] AddrError),
    /// The options are inconsistent.
    #[error("invalid options: {0}")]
    Config(#[from] ConfigError),
    /// A file named in the options could not be read (credentials, certificates).
    #[error("cannot read {path}: {message}")]
    File {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The connection failed (refused, timed out, authorization violation, TLS, ...).
    #[error(transparent)]
    Connection(#[from] ConnectionError),
}

/// Why a drain or close did not finish cleanly.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseError {
    /// The connection had already closed with this error.
    #[error("connection closed with an error: {0}")]
    Connection(ConnectionError),
    /// Publishes the client had accepted were never written and are lost: the reconnect
    /// buffer at a close while disconnected or when reconnecting gave up, or what the socket
    /// did not take within the drain timeout after a close.
    #[error("{messages} accepted publishes were never sent{}", reason.as_ref().map(|r| format!(" (connection closed: {r})")).unwrap_or_default())]
    Unsent {
        /// How many publishes were lost.
        messages: u64,
        /// Why the connection closed, if not by `close` or `drain`.
        reason: Option<ConnectionError>,
    },
}
