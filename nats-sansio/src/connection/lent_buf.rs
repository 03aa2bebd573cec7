//! A receive buffer lent to the driver, so it reads the socket straight into the codec's
//! buffer (or the first layer's) without holding the machine.
//!
//! Invariant: a lent buffer carries the socket epoch it was lent in; the machine decodes it
//! only if that socket is still the current one, so bytes of a lost socket never reach the
//! codec of the next.

use bytes::BytesMut;

/// A receive buffer lent by [`Connection::lend_recv_buf`](super::Connection::lend_recv_buf),
/// handed back with
/// [`Connection::handle_lent_recv_buf`](super::Connection::handle_lent_recv_buf).
#[derive(Debug)]
pub struct LentRecvBuf {
    pub(super) buf: BytesMut,
    pub(super) epoch: u64,
}

impl LentRecvBuf {
    /// The buffer: append what the socket gave after what it holds, and change nothing
    /// before that (the unread rest of a frame the machine is waiting on).
    pub fn buf_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }
}
