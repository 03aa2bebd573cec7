//! WebSocket (RFC 6455) as a pure byte layer: the opening handshake and the framing that
//! carry the unchanged NATS byte stream over `ws://` and `wss://`.
//!
//! Invariant: nothing here does IO or reads a clock, and nothing looks inside the NATS bytes.
//! The handshake is a request written into a buffer and a response checked from one; frames
//! go out masked with keys the caller supplies (from the connection's seeded generator), and
//! come in as one byte stream of data payloads plus the control frames the caller must act
//! on, in the order the server sent them. Any input is either accepted, kept for more bytes,
//! or refused with a [`WsError`]; nothing the peer sends panics.
//!
//! - [`handshake`]: the upgrade request and the check of the server's `101` answer.
//! - [`deflate`]: permessage-deflate, one message at a time (asked for by the user only).
//! - [`frame`]: frame headers, masking, the client's frame writers and the incremental
//!   [`FrameReader`].

pub mod deflate;
pub mod frame;
pub mod handshake;

pub use frame::{Control, FrameReader, MAX_FRAME_PAYLOAD};
pub use handshake::{accept_key, parse_response, write_request, Accepted, UpgradeRequest};

/// Why a WebSocket connection could not be opened or went wrong.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WsError {
    /// The server answered the upgrade request with another status than `101`.
    #[error("WebSocket upgrade refused: HTTP {status} {reason}")]
    UpgradeRefused {
        /// The HTTP status code (for example 403 for an origin the server does not allow).
        status: u16,
        /// The reason phrase of the status line.
        reason: String,
    },
    /// The server's answer to the upgrade is not a valid WebSocket handshake.
    #[error("invalid WebSocket handshake: {0}")]
    Handshake(String),
    /// The server broke the framing rules of RFC 6455.
    #[error("WebSocket protocol error: {0}")]
    Protocol(String),
}
