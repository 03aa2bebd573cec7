//! PING and PONG: keep-alive with stale-connection detection, flushes, and the bookkeeping
//! that tells what each PONG answers.
//!
//! Invariant: every PING the machine sends has one entry in `pongs`, in sending order, and
//! the server answers PINGs in order, so the front entry says what the next PONG completes.

use std::time::{Duration, Instant};

use super::timer::Deadline;
use super::{
    Connection, ConnectionError, Event, FlushError, FlushId, State, SubscriptionEnd, Timer,
};

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
        self.outbound.encoder.ping();
        self.pongs.push_back(PongFor::Keepalive);
        self.timers
            .set(Timer::PingInterval, self.now + self.opts.ping_interval);
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
