//! Publishing: validation, the limits a publish must fit, and the queue it goes to.
//!
//! Invariant: a publish is either refused at once, with nothing queued, or queued whole on
//! the user's queue: written while connected, kept in the byte-bounded reconnect buffer
//! while not; a refusal never depends on anything but the state and limits at the call.

use bytes::Bytes;

use super::{Connection, PublishError, State};
use crate::proto::{validate_framing, validate_publish, Encoder, HeaderMap};

impl Connection {
    /// Publishes a message. `reply` is where responders should answer; `headers` makes it an
    /// HPUB. Fails at once, queuing nothing, on an invalid subject or header, a message over
    /// the server's `max_payload`, or (while disconnected) a full reconnect buffer.
    pub fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&HeaderMap>,
        payload: Bytes,
    ) -> Result<(), PublishError> {
        let validate = if self.opts.skip_subject_validation {
            validate_framing
        } else {
            validate_publish
        };
        validate(subject).map_err(PublishError::InvalidSubject)?;
        if let Some(reply) = reply {
            validate(reply).map_err(PublishError::InvalidReply)?;
        }
        self.queue_publish(subject, reply, headers, &payload)
    }

    /// Checks state and limits, then queues an already validated publish.
    pub(super) fn queue_publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&HeaderMap>,
        payload: &Bytes,
    ) -> Result<(), PublishError> {
        match self.state {
            State::Closed => return Err(PublishError::Closed),
            _ if self.draining => return Err(PublishError::Draining),
            _ => {}
        }
        let header_len = match headers {
            Some(h) => {
                h.validate().map_err(PublishError::InvalidHeaders)?;
                if self.info.as_ref().is_some_and(|i| !i.headers) {
                    return Err(PublishError::HeadersNotSupported);
                }
                h.encoded_len()
            }
            None => 0,
        };
        let size = header_len + payload.len();
        if size > self.max_payload {
            return Err(PublishError::MaxPayloadExceeded {
                size,
                max: self.max_payload,
            });
        }
        if self.state != State::Connected {
            let limit = self.opts.reconnect_buffer_size;
            let frame = Encoder::publish_len(subject, reply, headers, payload.len());
            if self.outbound.len() + frame > limit {
                return Err(PublishError::ReconnectBufferFull { limit });
            }
        }
        self.outbound
            .publish(subject, reply, headers, payload, size);
        Ok(())
    }
}
