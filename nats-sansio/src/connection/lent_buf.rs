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
    pub(super) room: usize,
}

impl LentRecvBuf {
    /// The buffer: append what the socket gave (at most [`room`](Self::room) bytes) after
    /// what it holds, and change nothing before that (the unread rest of a frame the
    /// machine is waiting on).
    pub fn buf_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// The most bytes to read into the buffer this time, which has room for them: the
    /// number asked for, or fewer while a large message's rest is awaited in a block sized
    /// for it (reading past the message would move it whole to a bigger block).
    pub fn room(&self) -> usize {
        self.room
    }

    /// The socket epoch the buffer was lent in ([`Connection::socket_epoch`]): a buffer of
    /// an earlier one is dropped on return, unread.
    ///
    /// [`Connection::socket_epoch`]: super::Connection::socket_epoch
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
}
