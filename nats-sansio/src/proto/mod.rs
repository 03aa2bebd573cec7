//! The NATS wire format: an incremental decoder of server ops, an encoder of client ops,
//! validated subjects and queue groups, headers, status codes, and INFO/CONNECT.
//!
//! Invariant: nothing here knows about connections or time. The decoder never panics on any
//! input, and the encoder writes only what its (already validated) arguments say.

mod decoder;
mod encoder;
mod headers;
mod info;
mod message;
mod status;
mod subject;
pub(crate) mod swar;

pub use decoder::{DecodeError, Decoder, ServerOp};
pub use encoder::Encoder;
pub use headers::{HeaderError, HeaderMap};
pub use info::{ConnectInfo, ServerInfo};
pub use message::Message;
pub use status::StatusCode;
pub use subject::{
    validate_framing, validate_publish, validate_queue_group, validate_subscribe, QueueGroup,
    Subject, SubjectError,
};
