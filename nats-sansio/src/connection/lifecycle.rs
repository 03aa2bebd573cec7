//! The connection's life: attempts and back-off, losing a socket, reconnecting, draining
//! and closing for good.
//!
//! Invariant: a socket is given up in exactly one place ([`Connection::on_connection_lost`]),
//! which decides between another attempt and the end; the end happens in exactly one place
//! ([`Connection::shut_down`]), and `ConnectionEvent::Closed` is raised exactly once, by
//! `finish_close`, with the count of accepted publishes that were never written.

use std::time::Instant;

use super::keepalive::PongFor;
use super::pool;
use super::subscriptions::Phase;
use super::timer::{DeadlineQueue, TimerTable};
use super::ConnectionEvent;
use super::{
    Connection, ConnectionError, Directive, Event, FlushError, FlushId, RequestError, RequestId,
    State, SubscriptionEnd, Timer,
};

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Connecting for the first time, or waiting to.
    Connecting,
    /// Connected and handshake complete.
    Connected,
    /// Lost an established connection; reconnecting.
    Reconnecting,
    /// Closed for good.
    Closed,
}

impl Connection {
    /// Drains the client: unsubscribes everything, lets messages in flight arrive, then
    /// closes ([`ConnectionEvent::Closed`] with no reason). Queued messages can still be fetched.
    ///
    /// Raises [`ConnectionEvent::Draining`] first, once, unless already closed. While not
    /// connected there is nothing in flight to wait for: the drain is a [`close`](Self::close).
    pub fn drain(&mut self, now: Instant) {
        self.advance_clock(now);
        if self.state == State::Closed || self.draining {
            return;
        }
        self.raise(ConnectionEvent::Draining);
        if self.state != State::Connected {
            self.close(now);
            return;
        }
        self.draining = true;
        for sid in self.subs.receiving() {
            if Some(sid) == self.requests.sid {
                continue;
            }
            if let Some(sub) = self.subs.get_mut(sid) {
                sub.phase = Phase::Draining;
            }
            self.outbound.encoder.unsubscribe(sid, None);
        }
        self.outbound.encoder.ping();
        self.pongs.push_back(PongFor::Drain);
        self.timers
            .set(Timer::DrainTimeout, self.now + self.opts.drain_timeout);
    }

    /// Drops the current connection and connects again at once (to the next server of the
    /// pool), as after a lost connection: subscriptions are restored, requests sent on the
    /// old socket fail with `Disconnected`. Does nothing unless connected.
    pub fn force_reconnect(&mut self, now: Instant) {
        self.advance_clock(now);
        if self.state == State::Connected {
            self.drop_connection(ConnectionError::ForcedReconnect);
        }
    }

    /// Closes the connection. Pending requests and flushes fail at once, subscriptions end
    /// (queued messages can still be fetched), and later commands are refused.
    ///
    /// Publishes already accepted: while connected, they stay queued for the driver to
    /// write ([`Directive::Close`]), and [`ConnectionEvent::Closed`] comes once they are written, or
    /// when the socket fails or [`Options::drain_timeout`](super::Options::drain_timeout) passes first. While disconnected
    /// (the reconnect buffer), they cannot be sent. Either way, [`ConnectionEvent::Closed`] counts the
    /// accepted publishes that were never written in `unsent_messages`.
    pub fn close(&mut self, now: Instant) {
        self.advance_clock(now);
        self.shut_down(None);
    }

    /// Picks the next server and asks the driver to connect, now or after the back-off.
    pub(super) fn start_attempt(&mut self) {
        if self.state == State::Closed {
            return;
        }
        let jitter = if self.uses_tls() {
            self.opts.reconnect_jitter_tls
        } else {
            self.opts.reconnect_jitter
        };
        let chosen = self
            .opts
            .reconnect_to_server
            .as_ref()
            .and_then(|choose| choose.choose(&self.pool.statuses(), self.info.as_ref()));
        let chosen_delay = match chosen {
            // A server not in the pool: the default choice and delay (see the option).
            Some((addr, delay)) if self.pool.choose(&addr) => Some(delay),
            _ => None,
        };
        let delay = match (chosen_delay, &self.opts.reconnect_delay_callback) {
            (Some(delay), _) => delay,
            (None, Some(callback)) => callback.delay(self.attempt),
            (None, None) => pool::backoff(
                self.attempt,
                self.opts.reconnect_delay,
                self.opts.max_reconnect_delay,
                jitter,
                &mut self.rng,
            ),
        };
        self.state = State::Idle;
        if delay.is_zero() {
            self.on_reconnect_backoff();
        } else {
            self.timers.set(Timer::ReconnectBackoff, self.now + delay);
        }
    }

    pub(super) fn on_reconnect_backoff(&mut self) {
        let Some(server) = self.pool.advance() else {
            self.shut_down(Some(ConnectionError::NoServers));
            return;
        };
        let server = server.addr.clone();
        self.attempt = self.attempt.saturating_add(1);
        self.state = State::Connecting;
        self.timers
            .set(Timer::ConnectTimeout, self.now + self.opts.connect_timeout);
        self.directives.push_back(Directive::Connect { server });
    }

    pub(super) fn finish_drain(&mut self) {
        self.timers.stop(Timer::DrainTimeout);
        for sid in self.subs.receiving() {
            if Some(sid) != self.requests.sid {
                self.end_subscription(sid, SubscriptionEnd::Drained);
            }
        }
        self.shut_down(None);
    }

    /// The machine itself gives up on the current socket.
    pub(super) fn drop_connection(&mut self, reason: ConnectionError) {
        if matches!(
            self.state,
            State::Connecting
                | State::AwaitInfo
                | State::AwaitCredentials
                | State::AwaitPong
                | State::Connected
        ) {
            self.directives.push_back(Directive::Close);
        }
        self.on_connection_lost(reason);
    }

    pub(super) fn on_connection_lost(&mut self, reason: ConnectionError) {
        if self.state == State::Closed {
            // Lost while a close's last publishes were being written: the close ends here,
            // counting them; a closed connection never reconnects.
            if self.flush_on_close {
                let unsent = self.discard_queued();
                self.finish_close(unsent);
            }
            return;
        }
        let was_connected = self.state == State::Connected;
        // The socket is gone (closed by the driver or asked to be): nothing below may ask
        // for another Close.
        self.state = State::Idle;
        self.timers.stop(Timer::PingInterval);
        self.timers.stop(Timer::ConnectTimeout);
        self.socket_epoch += 1;
        self.decoder.reset();
        self.control.clear();
        self.transport.reset();
        self.pings_out = 0;
        self.fail_flushes(FlushError::Disconnected);
        self.pongs.clear();
        // Their UNSUB went out; a new connection must not bring them back.
        for sid in self.subs.receiving() {
            if self
                .subs
                .by_sid
                .get(&sid)
                .is_some_and(|s| s.phase == Phase::Draining)
            {
                self.end_subscription(sid, SubscriptionEnd::Drained);
            }
        }
        if self.draining {
            self.finish_drain();
            return;
        }
        let auth_failed = matches!(reason, ConnectionError::AuthorizationViolation(_));
        if let Some(server) = self.pool.current_mut() {
            server.last_error = Some(reason.clone());
        }
        if was_connected {
            // Their replies would come on the dead socket: they fail now, not at their timeout.
            for token in self.requests.take_sent() {
                self.events.push_back(Event::Response {
                    id: RequestId(token),
                    result: Err(RequestError::Disconnected),
                });
            }
            self.prune_deadlines();
            let unsent_messages = self.outbound.discard();
            self.raise(ConnectionEvent::Disconnected {
                reason: reason.clone(),
                unsent_messages,
            });
        } else if let Some(server) = self.pool.current_mut() {
            server.failed_attempts += 1;
        }
        // The very first connect: without retry, give up after one pass over the pool, or at
        // once when the credentials were refused.
        if !self.ever_connected && !self.opts.retry_on_initial_connect {
            let tried_all = self.attempt as usize >= self.pool.len();
            if auth_failed || tried_all {
                self.shut_down(Some(reason));
                return;
            }
        }
        let max_reconnects = self.opts.max_reconnects;
        let (auth_refused, out_of_attempts) = self.pool.current().map_or((false, false), |s| {
            (
                s.auth_failures >= 2,
                max_reconnects.is_some_and(|max| s.failed_attempts > max),
            )
        });
        if auth_refused || out_of_attempts {
            self.pool.remove_current();
            if self.pool.is_empty() {
                // Refused credentials end it as themselves; attempts used up end it as
                // `MaxReconnects`, so the application can tell giving up from a fatal error.
                let reason = if out_of_attempts && !auth_refused {
                    ConnectionError::MaxReconnects(Box::new(reason))
                } else {
                    reason
                };
                self.shut_down(Some(reason));
                return;
            }
        }
        self.start_attempt();
    }

    pub(super) fn fail_flushes(&mut self, error: FlushError) {
        let mut ids: Vec<u64> = self.flushes.drain().map(|(id, _)| id).collect();
        ids.sort_unstable();
        for id in ids {
            self.events.push_back(Event::Flushed {
                id: FlushId(id),
                result: Err(error.clone()),
            });
        }
    }

    /// Closes for good: fails what is pending and tells the driver and the application.
    pub(super) fn shut_down(&mut self, reason: Option<ConnectionError>) {
        if self.state == State::Closed {
            return;
        }
        if matches!(
            self.state,
            State::AwaitInfo
                | State::AwaitCredentials
                | State::AwaitPong
                | State::Connected
                | State::Connecting
        ) {
            self.directives.push_back(Directive::Close);
        }
        // A close the application asked for still lets the driver write what is queued:
        // `Closed` waits until it is written, the socket fails, or the linger ends.
        self.flush_on_close = reason.is_none() && self.state == State::Connected;
        self.state = State::Closed;
        self.draining = false;
        self.timers = TimerTable::default();
        self.deadlines = DeadlineQueue::default();
        let unsent = if self.flush_on_close {
            // After the last publishes, a WebSocket says goodbye with a close frame.
            self.transport.begin_close();
            self.timers
                .set(Timer::CloseLinger, self.now + self.opts.drain_timeout);
            0
        } else {
            self.discard_queued()
        };
        self.fail_flushes(FlushError::Closed);
        self.pongs.clear();
        for token in self.requests.drain_all() {
            self.events.push_back(Event::Response {
                id: RequestId(token),
                result: Err(RequestError::Closed),
            });
        }
        for sid in self.subs.receiving() {
            self.end_subscription(sid, SubscriptionEnd::ConnectionClosed);
        }
        self.close_reason = reason;
        if !self.flush_on_close {
            self.finish_close(unsent);
        }
    }

    /// Drops what is queued for the transport; returns how many publishes were in it.
    pub(super) fn discard_queued(&mut self) -> u64 {
        self.control.clear();
        self.transport.reset();
        self.outbound.discard()
    }

    /// The last step of a close: `unsent_messages` accepted publishes were never written.
    pub(super) fn finish_close(&mut self, unsent_messages: u64) {
        self.flush_on_close = false;
        self.timers.stop(Timer::CloseLinger);
        let reason = self.close_reason.take();
        self.raise(ConnectionEvent::Closed {
            reason,
            unsent_messages,
        });
    }
}
