//! PING and PONG: keep-alive with stale-connection detection, flushes, and the bookkeeping
//! that tells what each PONG answers; and, on the keep-alive's ticks, the idle check that
//! lets the read buffer's memory go.
//!
//! Invariant: every PING the machine sends has one entry in `pongs`, in sending order, and
//! the server answers PINGs in order, so the front entry says what the next PONG completes.
//! The read memory goes only with nothing pending in the buffer.

use std::time::{Duration, Instant};

use super::timer::Deadline;
use super::{
    Connection, ConnectionError, Event, FlushError, FlushId, State, SubscriptionEnd, Timer,
};

/// Whether the read side has been idle for a whole keep-alive interval: then the memory its
/// buffer grew to in a burst (up to a large message's block, plus the blocks kept for
/// reuse) is let go, and it starts small again.
#[derive(Debug, Default)]
pub(super) struct IdleCheck {
    /// Messages received when the last tick came.
    messages_at_tick: u64,
    /// A tick found no message since the one before; the memory goes once the buffer is
    /// back in the machine with nothing pending in it.
    release: bool,
}

/// What a PONG answers; PONGs come back in the order the PINGs were sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PongFor {
    Handshake,
    Keepalive,
    Flush(u64),
    DrainSubscription(super::Sid),
    Drain,
}

impl Connection {
    /// Sends a PING; [`Event::Flushed`] reports when its PONG arrives, which proves that
    /// every command issued before reached the server.
    pub fn flush(
        &mut self,
        now: Instant,
        timeout: Option<Duration>,
    ) -> Result<FlushId, FlushError> {
        self.advance_clock(now);
        match self.state {
            State::Closed => return Err(FlushError::Closed),
            State::Connected => {}
            _ => return Err(FlushError::Disconnected),
        }
        self.next_flush += 1;
        let id = self.next_flush;
        self.outbound.encoder.ping();
        self.pongs.push_back(PongFor::Flush(id));
        self.flushes.insert(id, ());
        if let Some(timeout) = timeout {
            self.deadlines.push(self.now + timeout, Deadline::Flush(id));
        }
        Ok(FlushId(id))
    }

    pub(super) fn on_ping_interval(&mut self) {
        if self.state != State::Connected {
            return;
        }
        if self.pings_out >= self.opts.max_pings_out {
            let n = self.pings_out;
            self.drop_connection(ConnectionError::StaleConnection(n));
            return;
        }
        self.pings_out += 1;
        let received = self.stats.in_messages;
        self.idle.release |= received == self.idle.messages_at_tick;
        self.idle.messages_at_tick = received;
        self.outbound.encoder.ping();
        self.pongs.push_back(PongFor::Keepalive);
        self.timers
            .set(Timer::PingInterval, self.now + self.opts.ping_interval);
    }

    /// Lets the decoder's buffer go if an idle tick asked for it and nothing is pending in
    /// it; called with the buffer in the machine (after inbound bytes are decoded, which
    /// on an idle connection is when the keep-alive PING's PONG arrives).
    pub(super) fn release_idle_read_memory(&mut self) {
        if self.idle.release && self.decoder.release_memory() {
            self.idle.release = false;
        }
    }

    /// Bytes of memory the receive side holds: the decoder's buffer and the blocks it keeps
    /// for reuse (not a buffer lent out, nor a TLS or WebSocket layer's own). A burst grows
    /// it; a keep-alive interval with no message received lets it go.
    pub fn read_memory(&self) -> usize {
        self.decoder.held_memory()
    }

    pub(super) fn on_pong(&mut self) {
        self.pings_out = 0;
        match self.pongs.pop_front() {
            Some(PongFor::Handshake) => self.on_handshake_complete(),
            Some(PongFor::Keepalive) | None => {}
            Some(PongFor::Flush(id)) => {
                if self.flushes.remove(&id).is_some() {
                    self.prune_deadlines();
                    self.events.push_back(Event::Flushed {
                        id: FlushId(id),
                        result: Ok(()),
                    });
                }
            }
            Some(PongFor::DrainSubscription(sid)) => {
                self.end_subscription(sid, SubscriptionEnd::Drained);
            }
            Some(PongFor::Drain) => self.finish_drain(),
        }
    }
}
