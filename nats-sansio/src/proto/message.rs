//! A message delivered by the server.
//!
//! Invariant: `payload` and the subjects are slices of the connection's read buffer (no copy);
//! `length` is what the message occupied on the wire (header block plus payload).

use bytes::Bytes;

use super::{HeaderMap, StatusCode, Subject};

/// A message delivered on a subscription (or as a reply).
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The subject it was published to.
    pub subject: Subject,
    /// Where to send a reply, if the publisher asked for one.
    pub reply: Option<Subject>,
    /// Headers, if it was published with them (or carries a status).
    pub headers: Option<HeaderMap>,
    /// The payload.
    pub payload: Bytes,
    /// Header and payload bytes on the wire.
    pub length: usize,
}

impl Message {
    /// The inline status (for example 503 no responders), if any.
    pub fn status(&self) -> Option<StatusCode> {
        self.headers.as_ref().and_then(HeaderMap::status)
    }

    /// The status description, if any.
    pub fn description(&self) -> Option<&str> {
        self.headers.as_ref().and_then(HeaderMap::description)
    }
}
