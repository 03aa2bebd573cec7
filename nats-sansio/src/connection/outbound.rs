//! The outbound byte queue and its bookkeeping.
//!
//! Invariant: `msg_ends` holds, in order, the stream offset at which each queued publish frame
//! ends, so advancing past an offset counts that publish as written, and discarding the queue
//! counts exactly the publishes that never reached the transport.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes};

use crate::proto::{Encoder, HeaderMap};

use super::event::PublishError;

/// An [`Encoder`] plus counts of the publishes it holds.
#[derive(Debug, Default)]
pub(crate) struct Outbound {
    pub(crate) encoder: Encoder,
    /// Bytes advanced (handed to the transport) since creation.
    written: u64,
    /// End offset, message size (headers + payload) and whether it has headers, for each
    /// queued publish.
    msg_ends: VecDeque<(u64, usize, bool)>,
    /// Publishes and their bytes written so far.
    pub(crate) msgs_written: u64,
    pub(crate) msg_bytes_written: u64,
}

impl Outbound {
    pub(crate) fn len(&self) -> usize {
        self.encoder.len()
    }

    pub(crate) fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&HeaderMap>,
        payload: &Bytes,
        size: usize,
    ) {
        self.encoder.publish(subject, reply, headers, payload);
        let end = self.written + self.encoder.len() as u64;
        self.msg_ends.push_back((end, size, headers.is_some()));
    }

    /// Drops everything queued; returns how many publishes were in it.
    pub(crate) fn discard(&mut self) -> u64 {
        self.written += self.encoder.len() as u64;
        self.encoder.clear();
        let lost = self.msg_ends.len() as u64;
        self.msg_ends.clear();
        lost
    }
}

impl Outbound {
    /// Why the first queued publish a server with these limits cannot take does not fit,
    /// if one does not.
    pub(crate) fn first_unfit(
        &self,
        max_payload: usize,
        headers_supported: bool,
    ) -> Option<PublishError> {
        self.msg_ends.iter().find_map(|&(_, size, has_headers)| {
            if has_headers && !headers_supported {
                Some(PublishError::HeadersNotSupported)
            } else if size > max_payload {
                Some(PublishError::MaxPayloadExceeded {
                    size,
                    max: max_payload,
                })
            } else {
                None
            }
        })
    }
}

impl Buf for Outbound {
    fn remaining(&self) -> usize {
        self.encoder.remaining()
    }

    fn chunk(&self) -> &[u8] {
        self.encoder.chunk()
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        self.encoder.chunks_vectored(dst)
    }

    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        let out = self.encoder.copy_to_bytes(len);
        self.count_written(len);
        out
    }

    fn advance(&mut self, cnt: usize) {
        let cnt = cnt.min(self.encoder.remaining());
        self.encoder.advance(cnt);
        self.count_written(cnt);
    }
}

impl Outbound {
    /// Counts `cnt` more bytes as handed to the transport, and the publishes they finish.
    fn count_written(&mut self, cnt: usize) {
        self.written += cnt as u64;
        while let Some(&(end, size, _)) = self.msg_ends.front() {
            if end > self.written {
                break;
            }
            self.msg_ends.pop_front();
            self.msgs_written += 1;
            self.msg_bytes_written += size as u64;
        }
    }
}
