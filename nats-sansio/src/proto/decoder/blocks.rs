//! The memory of the decoder's read buffer: how it grows, and the blocks it reuses.
//!
//! Messages handed out are slices of the read buffer, so while any of them is alive the
//! block it was cut from cannot be reused, and room for the next bytes means another block.
//! Three rules keep that cheap:
//! - a new block is twice the last one (up to [`GROWTH_CAP`], or the one read or payload
//!   when that is larger): a block sized for one read allocated once per read, or per
//!   message awaiting its payload, while a busy connection soon grows by whole blocks and an
//!   idle one keeps the few hundred bytes its `INFO` took;
//! - a message larger than [`GROWTH_CAP`] gets a block of its own (in whole pages) once its
//!   head says how large it is, and the block after it is made as large (up to
//!   [`MAX_RETIRED_BLOCK`], so one huge message costs no huge block more): the next read
//!   brings the next message's head, and in a smaller block that message would have to
//!   move once its size is known (the driver's reads stop at the end of such a message, see
//!   `Decoder::room_for_read`, so it never moves for the bytes after it either);
//! - a block the buffer grew out of is kept (each at most [`MAX_RETIRED_BLOCK`], together at
//!   most [`RETIRED_BYTES`]) and taken again once no message holds any part of it: an
//!   application that reads what it receives (an object get holding its window of chunks, a
//!   subscriber keeping up) then runs on as many blocks as it holds at once, with no
//!   allocation and no fresh pages to fault in. When the kept blocks are at their bound, the
//!   block just grown out of is let go rather than an older one: the oldest are the first
//!   to be free again.
//!
//! What a burst grew is not kept for ever: once the connection has gone a keep-alive
//! interval without a message, the decoder lets the buffer and every kept block go
//! ([`Blocks::release`]) and grows from nothing again.
//!
//! Invariant: the buffer's pending bytes (a partial op) move whole and in order to the
//! block that replaces it; no other bytes are ever copied, and a kept block is reused only
//! when nothing else refers to it (`BytesMut::try_reclaim`).

use std::collections::VecDeque;

use bytes::BytesMut;

/// The read buffer grows by twice its last growth at least, but by no more than this at
/// once (unless one read is larger).
pub(super) const GROWTH_CAP: usize = 64 * 1024;
/// Blocks larger than [`GROWTH_CAP`] are a whole number of these.
pub(super) const LARGE_BLOCK_UNIT: usize = 4096;
/// The most memory kept in blocks for reuse: about an object get's default window of chunks
/// in flight (64 × 128 KiB).
pub(super) const RETIRED_BYTES: usize = 8 * 1024 * 1024;
/// Larger blocks (made for one large message) are not kept.
pub(super) const MAX_RETIRED_BLOCK: usize = 256 * 1024;

/// How the read buffer grows, and the blocks it grew out of.
#[derive(Debug, Default)]
pub(super) struct Blocks {
    /// The room the buffer last grew by: a busy connection soon grows by whole blocks, an
    /// idle one stays small.
    growth: usize,
    /// The size of the block the buffer is in (0 before the first).
    current: usize,
    /// The block the buffer is in holds a message larger than [`GROWTH_CAP`] (see
    /// [`make_room_for_message`](Self::make_room_for_message)).
    holds_large_message: bool,
    /// Blocks grown out of, oldest first, each with its size; empty handles that keep the
    /// allocation until messages cut from it are gone.
    retired: VecDeque<(BytesMut, usize)>,
    /// The sizes of the kept blocks, summed.
    retired_bytes: usize,
    /// Blocks allocated so far (what the tests check).
    #[cfg(test)]
    allocated: u64,
    /// Pending bytes moved to a new block so far (what the tests check).
    #[cfg(test)]
    moved: u64,
}

impl Blocks {
    /// Makes room in `buf` for `n` more bytes: in place when nothing else holds its block,
    /// else in a kept block that is free again, else in a new one.
    pub(super) fn make_room(&mut self, buf: &mut BytesMut, n: usize) {
        if buf.capacity() - buf.len() >= n || buf.try_reclaim(n) {
            return;
        }
        let wanted = self.growth.saturating_mul(2).min(GROWTH_CAP);
        self.growth = n.max(wanted);
        // The pending bytes and the new ones must fit; a new block is at least the growth,
        // or as large as the one it follows when that held a large message (up to the
        // largest block kept): the next read brings the next message's head, likely as
        // large, and a block too small for it would have that message move again once its
        // size is known.
        let needed = buf.len() + n;
        let after_large = std::mem::take(&mut self.holds_large_message);
        let mut size = if after_large {
            needed.max(self.current.min(MAX_RETIRED_BLOCK))
        } else {
            needed.max(self.growth)
        };
        if size > GROWTH_CAP {
            // Sized for one large message: whole pages, so that the next messages, a few
            // bytes longer (a sequence number's digits), still fit it when it is reused.
            size = size.next_multiple_of(LARGE_BLOCK_UNIT);
        }
        let fits = if after_large { size } else { needed };
        let free = self
            .retired
            .iter_mut()
            .position(|(block, _)| block.try_reclaim(fits));
        let (mut block, block_size) = match free.and_then(|i| self.retired.remove(i)) {
            Some((kept, kept_size)) => {
                self.retired_bytes -= kept_size;
                (kept, kept_size)
            }
            None => {
                #[cfg(test)]
                {
                    self.allocated += 1;
                }
                (BytesMut::with_capacity(size), size)
            }
        };
        #[cfg(test)]
        {
            self.moved += buf.len() as u64;
        }
        block.extend_from_slice(buf);
        let mut old = std::mem::replace(buf, block);
        let old_size = std::mem::replace(&mut self.current, block_size);
        old.clear();
        if old_size > 0
            && old_size <= MAX_RETIRED_BLOCK
            && self.retired_bytes + old_size <= RETIRED_BYTES
        {
            self.retired_bytes += old_size;
            self.retired.push_back((old, old_size));
        }
    }

    /// Makes room in `buf` for the `n` bytes a message whose start it holds still lacks;
    /// when that message is larger than [`GROWTH_CAP`], marks the block as holding one, so
    /// the block after it is made as large.
    pub(super) fn make_room_for_message(&mut self, buf: &mut BytesMut, n: usize) {
        self.make_room(buf, n);
        if buf.len() + n > GROWTH_CAP {
            self.holds_large_message = true;
        }
    }

    /// Forgets the block in use (its buffer is dropped by the caller) and the kept ones;
    /// growth starts over, as in a new decoder.
    pub(super) fn release(&mut self) {
        *self = Blocks {
            #[cfg(test)]
            allocated: self.allocated,
            #[cfg(test)]
            moved: self.moved,
            ..Blocks::default()
        };
    }

    /// Bytes held: the block in use and the kept ones.
    pub(super) fn held(&self) -> usize {
        self.current + self.retired_bytes
    }

    /// Blocks allocated so far (reused ones are not counted again).
    #[cfg(test)]
    pub(super) fn allocated(&self) -> u64 {
        self.allocated
    }

    /// Pending bytes moved to a new block so far.
    #[cfg(test)]
    pub(super) fn moved(&self) -> u64 {
        self.moved
    }
}

#[cfg(test)]
mod tests;
