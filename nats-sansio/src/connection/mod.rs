//! The connection state machine.
//!
//! Invariant: the machine's only inputs are the `handle_*` methods and the user commands, and
//! its only outputs are what `poll_transmit`, `poll_event`, `poll_directive` and
//! `poll_timeout` return. Protocol ops for the handshake and for restoring subscriptions go to
//! a control queue that is always transmitted before the user's queue; while not connected,
//! the user's queue is the bounded reconnect buffer.

mod event;
mod options;
mod outbound;
mod pool;
mod requests;
mod rng;
mod subscriptions;
mod timer;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

use crate::auth::{self, ServerAddr};
use crate::proto::{
    validate_publish, validate_queue_group, validate_subscribe, ConnectInfo, Decoder, Encoder,
    HeaderMap, Message, QueueGroup, ServerInfo, ServerOp, StatusCode, Subject,
};
#[cfg(feature = "tls")]
use crate::tls::TlsSession;

pub use event::{
    ConnectionError, Directive, Event, FlushError, FlushId, PublishError, RequestError, RequestId,
    Sid, SubscribeError, SubscriptionEnd,
};
pub use options::Options;
pub use subscriptions::{Delivery, SubscriptionStats};

use outbound::Outbound;
use pool::ServerPool;
use requests::Requests;
use rng::Rng;
use subscriptions::{DetMap, Phase, Pushed, Subscription, Subscriptions};
use timer::{Deadline, DeadlineQueue, Timer, TimerTable};

/// The `max_payload` assumed before the server's INFO says otherwise.
const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

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

/// Counters kept across reconnects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Statistics {
    /// Messages received.
    pub in_messages: u64,
    /// Header and payload bytes received.
    pub in_bytes: u64,
    /// Publishes written to the transport.
    pub out_messages: u64,
    /// Header and payload bytes of the publishes written.
    pub out_bytes: u64,
    /// Successful connects, the first one included.
    pub connects: u64,
    /// Successful reconnects.
    pub reconnects: u64,
    /// Messages dropped by subscriptions over their pending limits.
    pub dropped_messages: u64,
}

/// Why the connection could not be created.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No server was given.
    #[error("no server to connect to")]
    NoServers,
    /// The inbox prefix is not a valid subject.
    #[error("invalid inbox prefix: {0}")]
    InvalidInboxPrefix(crate::proto::SubjectError),
    /// TLS was asked for in a build without the `tls` feature.
    #[error("TLS requested but the `tls` feature is disabled")]
    TlsDisabled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the back-off before the next attempt.
    Idle,
    /// Asked the driver to connect; waiting for `handle_connected`.
    Connecting,
    /// Socket up; waiting for INFO (after the TLS handshake with TLS-first).
    AwaitInfo,
    /// CONNECT and PING sent; waiting for PONG.
    AwaitPong,
    /// Handshake complete.
    Connected,
    /// Closed for good.
    Closed,
}

/// What a PONG answers; PONGs come back in the order the PINGs were sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PongFor {
    Handshake,
    Keepalive,
    Flush(u64),
    DrainSubscription(Sid),
    Drain,
}

/// A NATS client connection as a pure state machine.
///
/// Methods come in four kinds:
/// - getters, taking `&self` ([`state`](Self::state), [`statistics`](Self::statistics), ...);
/// - inputs from the transport and the clock, named `handle_*`;
/// - commands from the application, plain verbs ([`publish`](Self::publish),
///   [`subscribe`](Self::subscribe), [`request`](Self::request), [`flush`](Self::flush),
///   [`drain`](Self::drain), [`close`](Self::close));
/// - outputs, named `poll_*`.
///
/// # The run loop
///
/// After **every** input or command the driver MUST drain the outputs, in this order:
/// 1. [`poll_directive`](Self::poll_directive): connect to a server, or close the socket;
/// 2. [`poll_transmit`](Self::poll_transmit): write those bytes to the socket and `advance`
///    the returned buffer by what was written;
/// 3. [`poll_event`](Self::poll_event): hand events to the application;
///
/// then sleep until [`poll_timeout`](Self::poll_timeout) (or until the socket is readable, or
/// a command arrives) and call [`handle_timeout`](Self::handle_timeout) when it passes.
/// Calling `handle_timeout` early or twice is harmless. Time never goes backwards: a `now`
/// older than one already seen is taken as the newest seen.
///
/// ```
/// use std::time::Instant;
/// use nats_sansio::{Connection, Directive, Event};
/// use nats_sansio::connection::Options;
/// use bytes::Buf;
///
/// let now = Instant::now();
/// let mut conn = Connection::new(Options::new("nats://127.0.0.1:4222").unwrap(), now).unwrap();
///
/// // The machine asks for a TCP connection first.
/// assert!(matches!(conn.poll_directive(), Some(Directive::Connect { .. })));
/// conn.handle_connected(now);
///
/// // The server speaks first: INFO. The machine answers with CONNECT and PING.
/// conn.handle_received(now, b"INFO {\"server_id\":\"s\",\"headers\":true,\"max_payload\":1048576,\"proto\":1}\r\n");
/// let mut wire = Vec::new();
/// while let Some(out) = conn.poll_transmit() {
///     let n = out.remaining();
///     wire.extend_from_slice(&out.copy_to_bytes(n));
/// }
/// assert!(wire.starts_with(b"CONNECT {"));
/// assert!(wire.ends_with(b"PING\r\n"));
///
/// // PONG completes the handshake.
/// conn.handle_received(now, b"PONG\r\n");
/// assert!(matches!(conn.poll_event(), Some(Event::Connected { .. })));
///
/// // Publishing encodes straight into the outbound buffer.
/// conn.publish("greet", None, None, "hello".into()).unwrap();
/// let out = conn.poll_transmit().unwrap();
/// assert_eq!(out.copy_to_bytes(out.remaining()), &b"PUB greet 5\r\nhello\r\n"[..]);
///
/// // Keep-alive is a timer: sleep until `poll_timeout`, then call `handle_timeout`.
/// let wake = conn.poll_timeout().unwrap();
/// conn.handle_timeout(wake);
/// let out = conn.poll_transmit().unwrap();
/// assert_eq!(out.copy_to_bytes(out.remaining()), &b"PING\r\n"[..]);
/// ```
pub struct Connection {
    opts: Options,
    state: State,
    now: Instant,
    rng: Rng,
    pool: ServerPool,
    timers: TimerTable,
    deadlines: DeadlineQueue,
    decoder: Decoder,
    /// Handshake and resubscribe ops; always transmitted before `outbound`.
    control: Encoder,
    /// User ops; the reconnect buffer while not connected.
    outbound: Outbound,
    #[cfg(feature = "tls")]
    tls: Option<Tls>,
    info: Option<ServerInfo>,
    max_payload: usize,
    subs: Subscriptions,
    requests: Requests,
    pongs: VecDeque<PongFor>,
    pings_out: u32,
    next_flush: u64,
    flushes: DetMap<u64, ()>,
    events: VecDeque<Event>,
    directives: VecDeque<Directive>,
    stats: Statistics,
    ever_connected: bool,
    /// Closed by the application while connected: what is queued may still be written.
    flush_on_close: bool,
    /// Connect attempts since the last successful handshake.
    attempt: u32,
    draining: bool,
    /// Completed handshakes (see [`Connection::link_epoch`]).
    link_epoch: u64,
}

/// TLS state while a session is active: ciphertext in, the session, ciphertext out.
#[cfg(feature = "tls")]
struct Tls {
    session: TlsSession,
    incoming: BytesMut,
    outgoing: BytesMut,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("state", &self.state)
            .field("server", &self.pool.current().map(|s| &s.addr))
            .field("subscriptions", &self.subs.by_sid.len())
            .field("pending_requests", &self.requests.len())
            .field("outbound_bytes", &self.outbound.len())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Creates the machine; its first directive asks the driver to connect.
    pub fn new(options: Options, now: Instant) -> Result<Connection, ConfigError> {
        if options.servers.is_empty() {
            return Err(ConfigError::NoServers);
        }
        validate_subscribe(&options.inbox_prefix).map_err(ConfigError::InvalidInboxPrefix)?;
        #[cfg(not(feature = "tls"))]
        if options.servers.iter().any(ServerAddr::tls_required) {
            return Err(ConfigError::TlsDisabled);
        }
        let mut rng = Rng::new(options.seed);
        let pool = if options.retain_servers_order {
            ServerPool::new(&options.servers, None)
        } else {
            ServerPool::new(&options.servers, Some(&mut rng))
        };
        let decoder = Decoder::with_limits(options.max_control_line, Decoder::DEFAULT_MAX_PAYLOAD);
        let mut conn = Connection {
            opts: options,
            state: State::Idle,
            now,
            rng,
            pool,
            timers: TimerTable::default(),
            deadlines: DeadlineQueue::default(),
            decoder,
            control: Encoder::new(),
            outbound: Outbound::default(),
            #[cfg(feature = "tls")]
            tls: None,
            info: None,
            max_payload: DEFAULT_MAX_PAYLOAD,
            subs: Subscriptions::default(),
            requests: Requests::default(),
            pongs: VecDeque::new(),
            pings_out: 0,
            next_flush: 0,
            flushes: DetMap::default(),
            events: VecDeque::new(),
            directives: VecDeque::new(),
            stats: Statistics::default(),
            ever_connected: false,
            flush_on_close: false,
            attempt: 0,
            draining: false,
            link_epoch: 0,
        };
        conn.start_attempt();
        Ok(conn)
    }

    // ===================== getters =====================

    /// How many handshakes completed: 0 before the first, then one more per (re)connect.
    /// A machine above the connection that remembers the epoch it last saw knows, on its
    /// next look, that the link was replaced meanwhile (its subscriptions restored, its
    /// in-flight requests to the old server gone), however many events it did not read.
    pub fn link_epoch(&self) -> u64 {
        self.link_epoch
    }

    /// Where the connection is in its life.
    pub fn state(&self) -> ConnectionState {
        match self.state {
            State::Connected => ConnectionState::Connected,
            State::Closed => ConnectionState::Closed,
            _ if self.ever_connected => ConnectionState::Reconnecting,
            _ => ConnectionState::Connecting,
        }
    }

    /// The last INFO received from the server.
    pub fn server_info(&self) -> Option<&ServerInfo> {
        self.info.as_ref()
    }

    /// The server connected to (or being tried).
    pub fn current_server(&self) -> Option<&ServerAddr> {
        self.pool.current().map(|s| &s.addr)
    }

    /// Every server in the pool, discovered ones included.
    pub fn servers(&self) -> Vec<ServerAddr> {
        self.pool.addrs().cloned().collect()
    }

    /// Counters kept across reconnects.
    pub fn statistics(&self) -> Statistics {
        let mut stats = self.stats;
        stats.out_messages += self.outbound.msgs_written;
        stats.out_bytes += self.outbound.msg_bytes_written;
        stats
    }

    /// Counters of one subscription.
    pub fn subscription_stats(&self, sid: Sid) -> Option<SubscriptionStats> {
        self.subs.by_sid.get(&sid).map(Subscription::stats)
    }

    /// The largest message (headers plus payload) the server accepts.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// Bytes of user commands queued and not yet handed to the transport: while connected,
    /// what the driver still has to write (a driver applies back-pressure on it); while
    /// disconnected, the reconnect buffer's fill.
    pub fn pending_bytes(&self) -> usize {
        self.outbound.len()
    }

    /// True once the connection is closed for good.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    // ===================== outputs =====================

    /// The next thing the driver must do with its transport.
    pub fn poll_directive(&mut self) -> Option<Directive> {
        self.directives.pop_front()
    }

    /// Bytes to write to the transport, or `None` when there are none. Write what you can,
    /// then `advance` the buffer by that many bytes; call again until `None`.
    pub fn poll_transmit(&mut self) -> Option<&mut dyn Buf> {
        let writable = matches!(
            self.state,
            State::AwaitInfo | State::AwaitPong | State::Connected
        ) || self.flush_on_close;
        if !writable {
            return None;
        }
        let user_ops = self.state == State::Connected || self.flush_on_close;
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return self.poll_transmit_tls(user_ops);
        }
        if self.control.has_remaining() {
            Some(&mut self.control)
        } else if user_ops && self.outbound.has_remaining() {
            Some(&mut self.outbound)
        } else {
            None
        }
    }

    #[cfg(feature = "tls")]
    fn poll_transmit_tls(&mut self, user_ops: bool) -> Option<&mut dyn Buf> {
        let tls = self.tls.as_mut()?;
        if tls.outgoing.is_empty() {
            let mut result = Ok(());
            if self.control.has_remaining() {
                result = tls.session.send_plaintext(&mut self.control);
            }
            if result.is_ok() && user_ops && self.outbound.has_remaining() {
                result = tls.session.send_plaintext(&mut self.outbound);
            }
            tls.session.poll_ciphertext(&mut tls.outgoing);
            if let Err(e) = result {
                let reason = ConnectionError::Tls(e.to_string());
                self.drop_connection(reason);
                return None;
            }
        }
        let tls = self.tls.as_mut()?;
        if tls.outgoing.is_empty() {
            None
        } else {
            Some(&mut tls.outgoing)
        }
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.timers.next(), self.deadlines.next()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ===================== inputs =====================

    /// The driver's TCP connection (asked for by [`Directive::Connect`]) is up.
    pub fn handle_connected(&mut self, now: Instant) {
        self.advance_clock(now);
        if self.state != State::Connecting {
            return;
        }
        self.decoder.reset();
        self.control.clear();
        self.pongs.clear();
        self.pings_out = 0;
        self.state = State::AwaitInfo;
        #[cfg(feature = "tls")]
        if self.opts.tls.tls_first {
            if let Err(e) = self.start_tls() {
                self.drop_connection(e);
            }
        }
    }

    /// The driver could not open the connection asked for by [`Directive::Connect`].
    pub fn handle_connect_failed(&mut self, now: Instant, reason: &str) {
        self.advance_clock(now);
        if self.state == State::Connecting {
            self.on_connection_lost(ConnectionError::Io(reason.to_owned()));
        }
    }

    /// The transport failed or the peer closed it.
    pub fn handle_disconnected(&mut self, now: Instant, reason: &str) {
        self.advance_clock(now);
        if matches!(
            self.state,
            State::Connecting | State::AwaitInfo | State::AwaitPong | State::Connected
        ) {
            self.on_connection_lost(ConnectionError::Io(reason.to_owned()));
        }
    }

    /// Bytes read from the transport.
    pub fn handle_received(&mut self, now: Instant, data: &[u8]) {
        self.recv_buf().extend_from_slice(data);
        self.handle_recv_buf(now);
    }

    /// The buffer a driver may read transport bytes straight into; call
    /// [`handle_recv_buf`](Self::handle_recv_buf) after filling it.
    pub fn recv_buf(&mut self) -> &mut BytesMut {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_mut() {
            return &mut tls.incoming;
        }
        self.decoder.buffer_mut()
    }

    /// Processes what the driver put into [`recv_buf`](Self::recv_buf).
    pub fn handle_recv_buf(&mut self, now: Instant) {
        self.advance_clock(now);
        if !matches!(
            self.state,
            State::AwaitInfo | State::AwaitPong | State::Connected
        ) {
            self.recv_buf().clear();
            return;
        }
        if let Err(e) = self.decrypt_incoming() {
            self.drop_connection(e);
            return;
        }
        self.decode_all();
    }

    /// Fires the timers due at `now`. Spurious calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance_clock(now);
        let now = self.now;
        for timer in Timer::VALUES {
            if self.timers.take_expired(timer, now) {
                self.on_timer(timer);
            }
        }
        while let Some(deadline) = self.deadlines.pop_expired(now) {
            match deadline {
                Deadline::Request(token) => {
                    if self.requests.finish(token) {
                        self.events.push_back(Event::Response {
                            id: RequestId(token),
                            result: Err(RequestError::TimedOut),
                        });
                    }
                }
                Deadline::Flush(id) => {
                    if self.flushes.remove(&id).is_some() {
                        self.events.push_back(Event::Flushed {
                            id: FlushId(id),
                            result: Err(FlushError::TimedOut),
                        });
                    }
                }
            }
        }
    }

    // ===================== commands =====================

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
        validate_publish(subject).map_err(PublishError::InvalidSubject)?;
        if let Some(reply) = reply {
            validate_publish(reply).map_err(PublishError::InvalidReply)?;
        }
        self.queue_publish(subject, reply, headers, &payload)
    }

    /// Checks state and limits, then queues an already validated publish.
    fn queue_publish(
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

    /// Subscribes to a subject (wildcards allowed), optionally in a queue group. Messages
    /// are fetched with [`next_message`](Self::next_message).
    pub fn subscribe(
        &mut self,
        subject: &str,
        queue_group: Option<&str>,
    ) -> Result<Sid, SubscribeError> {
        match self.state {
            State::Closed => return Err(SubscribeError::Closed),
            _ if self.draining => return Err(SubscribeError::Draining),
            _ => {}
        }
        let subject = Subject::new(subject).map_err(SubscribeError::InvalidSubject)?;
        let queue_group = match queue_group {
            Some(q) => {
                validate_queue_group(q).map_err(SubscribeError::InvalidQueueGroup)?;
                Some(QueueGroup::new(q).map_err(SubscribeError::InvalidQueueGroup)?)
            }
            None => None,
        };
        let sub = Subscription::new(
            subject,
            queue_group,
            self.opts.subscription_pending_messages,
            self.opts.subscription_pending_bytes,
        );
        let sid = self.subs.insert(sub);
        if self.state == State::Connected {
            if let Some(sub) = self.subs.by_sid.get(&sid) {
                self.outbound.encoder.subscribe(
                    sid,
                    sub.subject.as_str(),
                    sub.queue_group.as_ref().map(QueueGroup::as_str),
                );
            }
        }
        Ok(sid)
    }

    /// Stops a subscription now; messages already queued are discarded. Unknown sids are
    /// ignored.
    pub fn unsubscribe(&mut self, sid: Sid) {
        if self.subs.by_sid.remove(&sid).is_none() {
            return;
        }
        if self.state == State::Connected {
            self.outbound.encoder.unsubscribe(sid, None);
        }
    }

    /// Ends a subscription after it has received `max` messages in total (counted from the
    /// subscribe, across reconnects). If it already has, it ends now.
    pub fn unsubscribe_after(&mut self, sid: Sid, max: u64) {
        let Some(sub) = self.subs.get_mut(sid) else {
            return;
        };
        if matches!(sub.phase, Phase::Ended(_)) {
            return;
        }
        sub.max = Some(max);
        if sub.delivered >= max {
            self.end_subscription(sid, SubscriptionEnd::MaxMessages);
            if self.state == State::Connected {
                self.outbound.encoder.unsubscribe(sid, None);
            }
        } else if self.state == State::Connected {
            self.outbound.encoder.unsubscribe(sid, Some(max));
        }
    }

    /// Drains one subscription: unsubscribes, lets messages already in flight arrive, then
    /// ends it. Queued messages can still be fetched.
    pub fn drain_subscription(&mut self, now: Instant, sid: Sid) {
        self.advance_clock(now);
        let Some(sub) = self.subs.get_mut(sid) else {
            return;
        };
        if sub.phase != Phase::Active {
            return;
        }
        if self.state == State::Connected {
            sub.phase = Phase::Draining;
            self.outbound.encoder.unsubscribe(sid, None);
            self.outbound.encoder.ping();
            self.pongs.push_back(PongFor::DrainSubscription(sid));
        } else {
            self.end_subscription(sid, SubscriptionEnd::Drained);
        }
    }

    /// The next queued message of a subscription.
    pub fn next_message(&mut self, sid: Sid) -> Delivery {
        let Some(sub) = self.subs.by_sid.get_mut(&sid) else {
            return Delivery::Ended;
        };
        if let Some(message) = sub.pop() {
            return Delivery::Message(message);
        }
        if matches!(sub.phase, Phase::Ended(_)) {
            self.subs.by_sid.remove(&sid);
            return Delivery::Ended;
        }
        Delivery::Empty
    }

    /// A new unique inbox subject (`<inbox prefix>.<random token>`).
    pub fn new_inbox(&mut self) -> String {
        format!("{}.{}", self.opts.inbox_prefix, self.rng.token(22))
    }

    /// Sends a request and waits for one reply, delivered as [`Event::Response`]. `timeout`
    /// of `None` uses the options' request timeout. A `503` status reply is
    /// [`RequestError::NoResponders`].
    pub fn request(
        &mut self,
        now: Instant,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: Bytes,
        timeout: Option<Duration>,
    ) -> Result<RequestId, PublishError> {
        self.request_borrowed(now, subject, headers, &payload, timeout)
    }

    /// [`request`](Self::request) with a borrowed payload, for callers that keep it (to
    /// retry, say): a clone of a `Vec`-backed `Bytes` would allocate.
    pub fn request_borrowed(
        &mut self,
        now: Instant,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: &Bytes,
        timeout: Option<Duration>,
    ) -> Result<RequestId, PublishError> {
        self.advance_clock(now);
        validate_publish(subject).map_err(PublishError::InvalidSubject)?;
        match self.state {
            State::Closed => return Err(PublishError::Closed),
            _ if self.draining => return Err(PublishError::Draining),
            _ => {}
        }
        if self.requests.sid.is_none() {
            self.start_mux_subscription();
        }
        let token = self.requests.start(self.state == State::Connected);
        // The reply subject is moved out and back so `self` can be borrowed for the publish.
        let reply = std::mem::take(&mut self.requests.reply);
        let queued = self.queue_publish(subject, Some(&reply), headers, payload);
        self.requests.reply = reply;
        if let Err(e) = queued {
            self.requests.finish(token);
            return Err(e);
        }
        if let Some(timeout) = timeout.or(self.opts.request_timeout) {
            self.deadlines
                .push(self.now + timeout, Deadline::Request(token));
            self.compact_deadlines();
        }
        Ok(RequestId(token))
    }

    /// Forgets a pending request; a late reply is ignored.
    pub fn cancel_request(&mut self, id: RequestId) {
        self.requests.finish(id.0);
    }

    fn start_mux_subscription(&mut self) {
        let prefix = format!("{}.{}.", self.opts.inbox_prefix, self.rng.token(22));
        let subject = format!("{prefix}*");
        // The prefix was validated in `new`, and the token is alphanumeric.
        let Ok(subject) = Subject::new(subject) else {
            return;
        };
        let sub = Subscription::new(subject, None, usize::MAX, usize::MAX);
        let sid = self.subs.insert(sub);
        if self.state == State::Connected {
            self.outbound
                .encoder
                .subscribe(sid, &format!("{prefix}*"), None);
        }
        self.requests.prefix = Some(prefix);
        self.requests.sid = Some(sid);
    }

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

    /// Drains the client: unsubscribes everything, lets messages in flight arrive, then
    /// closes ([`Event::Closed`] with no reason). Queued messages can still be fetched.
    pub fn drain(&mut self, now: Instant) {
        self.advance_clock(now);
        if self.state == State::Closed || self.draining {
            return;
        }
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

    /// Closes the connection now. Pending requests and flushes fail; queued messages can
    /// still be fetched.
    pub fn close(&mut self, now: Instant) {
        self.advance_clock(now);
        self.shut_down(None);
    }

    // ===================== reactions =====================

    fn advance_clock(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    /// Picks the next server and asks the driver to connect, now or after the back-off.
    fn start_attempt(&mut self) {
        if self.state == State::Closed {
            return;
        }
        let jitter = if self.uses_tls() {
            self.opts.reconnect_jitter_tls
        } else {
            self.opts.reconnect_jitter
        };
        let delay = pool::backoff(
            self.attempt,
            self.opts.reconnect_delay,
            self.opts.max_reconnect_delay,
            jitter,
            &mut self.rng,
        );
        self.state = State::Idle;
        if delay.is_zero() {
            self.on_reconnect_backoff();
        } else {
            self.timers.set(Timer::ReconnectBackoff, self.now + delay);
        }
    }

    fn on_reconnect_backoff(&mut self) {
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

    fn uses_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        {
            self.opts.tls.required
                || self.opts.tls.tls_first
                || self.pool.current().is_some_and(|s| s.addr.tls_required())
        }
        #[cfg(not(feature = "tls"))]
        false
    }

    fn on_timer(&mut self, timer: Timer) {
        match timer {
            Timer::PingInterval => self.on_ping_interval(),
            Timer::ConnectTimeout => {
                if matches!(
                    self.state,
                    State::Connecting | State::AwaitInfo | State::AwaitPong
                ) {
                    self.drop_connection(ConnectionError::ConnectTimeout);
                }
            }
            Timer::ReconnectBackoff => {
                if self.state == State::Idle {
                    self.on_reconnect_backoff();
                }
            }
            Timer::DrainTimeout => {
                if self.draining {
                    self.finish_drain();
                }
            }
        }
    }

    fn on_ping_interval(&mut self) {
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

    fn decode_all(&mut self) {
        loop {
            match self.decoder.decode() {
                Ok(Some(op)) => {
                    self.on_op(op);
                    if !matches!(
                        self.state,
                        State::AwaitInfo | State::AwaitPong | State::Connected
                    ) {
                        return;
                    }
                }
                // A TLS upgrade after INFO may have left ciphertext to decrypt.
                Ok(None) => match self.decrypt_incoming() {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        self.drop_connection(e);
                        return;
                    }
                },
                Err(e) => {
                    self.drop_connection(e.into());
                    return;
                }
            }
        }
    }

    /// Moves decrypted bytes into the decoder; true when there were any.
    fn decrypt_incoming(&mut self) -> Result<bool, ConnectionError> {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_mut() {
            if tls.incoming.is_empty() {
                return Ok(false);
            }
            let before = self.decoder.buffered();
            tls.session
                .receive_ciphertext(&mut tls.incoming, self.decoder.buffer_mut())
                .map_err(|e| ConnectionError::Tls(e.to_string()))?;
            return Ok(self.decoder.buffered() > before);
        }
        Ok(false)
    }

    fn on_op(&mut self, op: ServerOp) {
        match op {
            ServerOp::Msg { sid, message } => self.on_message(sid, message),
            ServerOp::Ping => {
                if self.state == State::Connected {
                    self.outbound.encoder.pong();
                } else {
                    self.control.pong();
                }
            }
            ServerOp::Pong => self.on_pong(),
            ServerOp::Info(info) => self.on_info(*info),
            ServerOp::Ok => {}
            ServerOp::Err(text) => self.on_server_error(text),
        }
    }

    fn on_info(&mut self, info: ServerInfo) {
        if info.max_payload > 0 {
            self.max_payload = info.max_payload;
        }
        if !self.opts.ignore_discovered_servers {
            let rng = if self.opts.retain_servers_order {
                None
            } else {
                Some(&mut self.rng)
            };
            let new = self.pool.discover(&info.connect_urls, rng);
            if !new.is_empty() {
                self.events
                    .push_back(Event::ServersDiscovered { servers: new });
            }
        }
        if info.ldm {
            if let Some(server) = self.current_server().cloned() {
                self.events.push_back(Event::LameDuck { server });
            }
        }
        let first = self.state == State::AwaitInfo;
        self.info = Some(info);
        if first {
            if let Err(e) = self.on_first_info() {
                self.drop_connection(e);
            }
        }
    }

    /// INFO arrived on a new socket: upgrade to TLS if needed, then CONNECT and PING.
    fn on_first_info(&mut self) -> Result<(), ConnectionError> {
        let info = self.info.as_ref().cloned().unwrap_or_default();
        let Some(server) = self.pool.current().map(|s| s.addr.clone()) else {
            return Err(ConnectionError::NoServers);
        };
        #[cfg(feature = "tls")]
        {
            let want_tls =
                self.opts.tls.required || self.opts.tls.tls_first || server.tls_required();
            if self.tls.is_none() && (want_tls || info.tls_required) {
                if want_tls && !(info.tls_required || info.tls_available) {
                    return Err(ConnectionError::TlsNotAvailable);
                }
                self.start_tls()?;
            }
        }
        #[cfg(not(feature = "tls"))]
        if info.tls_required || server.tls_required() {
            return Err(ConnectionError::TlsNotAvailable);
        }
        // A discovered server has no credentials of its own: use those of the URLs given.
        let credentials = if server.has_credentials() {
            &server
        } else {
            self.opts
                .servers
                .iter()
                .find(|s| s.has_credentials())
                .unwrap_or(&server)
        };
        let fields = auth::resolve(&self.opts.auth, credentials, info.nonce.as_deref())?;
        let connect = ConnectInfo {
            verbose: false,
            pedantic: false,
            tls_required: self.tls_active(),
            auth_token: fields.auth_token,
            user: fields.user,
            pass: fields.pass,
            name: self.opts.name.clone(),
            lang: "rust".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            protocol: 1,
            echo: self.opts.echo,
            sig: fields.sig,
            jwt: fields.jwt,
            nkey: fields.nkey,
            headers: info.headers,
            no_responders: info.headers,
        };
        // Publishes buffered before this server said its limits must fit them.
        let max_payload = if info.max_payload > 0 {
            info.max_payload
        } else {
            self.max_payload
        };
        if let Some(reason) = self.outbound.first_unfit(max_payload, info.headers) {
            let messages = self.outbound.discard();
            self.events
                .push_back(Event::PublishesDiscarded { messages, reason });
        }
        self.control.connect(&connect);
        self.control.ping();
        self.pongs.push_back(PongFor::Handshake);
        self.state = State::AwaitPong;
        Ok(())
    }

    fn tls_active(&self) -> bool {
        #[cfg(feature = "tls")]
        {
            self.tls.is_some()
        }
        #[cfg(not(feature = "tls"))]
        false
    }

    #[cfg(feature = "tls")]
    fn start_tls(&mut self) -> Result<(), ConnectionError> {
        let config = self
            .opts
            .tls
            .client_config()
            .map_err(|e| ConnectionError::Tls(e.to_string()))?;
        let Some(server) = self.pool.current() else {
            return Err(ConnectionError::NoServers);
        };
        let name = self.tls_server_name(&server.addr, server.discovered);
        let session =
            TlsSession::new(config, &name).map_err(|e| ConnectionError::Tls(e.to_string()))?;
        // Bytes already buffered after INFO belong to the TLS stream.
        let incoming = self.decoder.buffer_mut().split();
        self.tls = Some(Tls {
            session,
            incoming,
            outgoing: BytesMut::new(),
        });
        Ok(())
    }

    /// The name to verify the certificate against: a discovered server advertised by IP
    /// keeps the host name of the user's first server.
    #[cfg(feature = "tls")]
    fn tls_server_name(&self, addr: &ServerAddr, discovered: bool) -> String {
        let is_ip = addr.host().parse::<std::net::IpAddr>().is_ok();
        if discovered && is_ip {
            if let Some(named) = self
                .opts
                .servers
                .iter()
                .find(|s| s.host().parse::<std::net::IpAddr>().is_err())
            {
                return named.host().to_owned();
            }
        }
        addr.host().to_owned()
    }

    fn on_pong(&mut self) {
        self.pings_out = 0;
        match self.pongs.pop_front() {
            Some(PongFor::Handshake) => self.on_handshake_complete(),
            Some(PongFor::Keepalive) | None => {}
            Some(PongFor::Flush(id)) => {
                if self.flushes.remove(&id).is_some() {
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

    fn on_handshake_complete(&mut self) {
        if self.state != State::AwaitPong {
            return;
        }
        self.state = State::Connected;
        self.link_epoch += 1;
        self.timers.stop(Timer::ConnectTimeout);
        self.timers
            .set(Timer::PingInterval, self.now + self.opts.ping_interval);
        self.attempt = 0;
        if let Some(server) = self.pool.current_mut() {
            server.failed_attempts = 0;
            server.auth_failures = 0;
        }
        self.requests.mark_all_sent();
        // Restore subscriptions before replaying the reconnect buffer.
        for sid in self.subs.receiving() {
            let Some(sub) = self.subs.by_sid.get(&sid) else {
                continue;
            };
            let queue = sub.queue_group.as_ref().map(QueueGroup::as_str);
            self.control.subscribe(sid, sub.subject.as_str(), queue);
            if let Some(remaining) = sub.remaining() {
                self.control.unsubscribe(sid, Some(remaining));
            }
        }
        self.stats.connects += 1;
        let server = self.current_server().cloned();
        let Some(server) = server else { return };
        if self.ever_connected {
            self.stats.reconnects += 1;
            self.events.push_back(Event::Reconnected { server });
        } else {
            self.ever_connected = true;
            self.events.push_back(Event::Connected { server });
        }
    }

    fn on_message(&mut self, sid: Sid, message: Message) {
        self.stats.in_messages += 1;
        self.stats.in_bytes += message.length as u64;
        if Some(sid) == self.requests.sid {
            self.on_response(message);
            return;
        }
        let Some(sub) = self.subs.get_mut(sid) else {
            return;
        };
        let pushed = sub.push(message);
        let reached_max = sub.max.is_some_and(|max| sub.delivered >= max);
        match pushed {
            Pushed::Queued { first } => {
                if first {
                    self.events.push_back(Event::MessagesReady { sid });
                }
            }
            Pushed::Dropped { episode_start } => {
                self.stats.dropped_messages += 1;
                if episode_start {
                    self.events.push_back(Event::SlowConsumer { sid });
                }
            }
            Pushed::Ignored => {}
        }
        if reached_max {
            self.end_subscription(sid, SubscriptionEnd::MaxMessages);
        }
    }

    fn on_response(&mut self, message: Message) {
        let Some(token) = self.requests.token_of(message.subject.as_str()) else {
            return;
        };
        if !self.requests.finish(token) {
            return;
        }
        let no_responders =
            message.status() == Some(StatusCode::NO_RESPONDERS) && message.payload.is_empty();
        let result = if no_responders {
            Err(RequestError::NoResponders)
        } else {
            Ok(message)
        };
        self.events.push_back(Event::Response {
            id: RequestId(token),
            result,
        });
    }

    fn on_server_error(&mut self, text: String) {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("permissions violation") {
            self.on_permissions_violation(&text, &lower);
            self.events.push_back(Event::ServerError { message: text });
            return;
        }
        let non_fatal = lower.starts_with("invalid subject")
            || lower.starts_with("invalid publish subject")
            || lower.starts_with("maximum subscriptions exceeded");
        if non_fatal {
            self.events.push_back(Event::ServerError { message: text });
            return;
        }
        let reason = if lower.starts_with("authorization violation")
            || lower.starts_with("authentication")
            || lower.starts_with("user authentication")
            || lower.starts_with("account authentication")
        {
            if let Some(server) = self.pool.current_mut() {
                server.auth_failures += 1;
            }
            ConnectionError::AuthorizationViolation(text)
        } else {
            ConnectionError::Server(text)
        };
        self.drop_connection(reason);
    }

    /// `Permissions Violation for Subscription to "<subject>"[ using queue "<queue>"]` ends
    /// the matching subscription.
    fn on_permissions_violation(&mut self, text: &str, lower: &str) {
        if !lower.starts_with("permissions violation for subscription to ") {
            return;
        }
        let mut quoted = text.split('"').skip(1).step_by(2);
        let Some(subject) = quoted.next() else { return };
        let queue = if lower.contains(" using queue ") {
            quoted.next()
        } else {
            None
        };
        let sid = self.subs.receiving().into_iter().find(|sid| {
            self.subs.by_sid.get(sid).is_some_and(|s| {
                s.subject.as_str() == subject
                    && s.queue_group.as_ref().map(QueueGroup::as_str) == queue
            })
        });
        if let Some(sid) = sid {
            self.end_subscription(sid, SubscriptionEnd::PermissionDenied(text.to_owned()));
        }
    }

    fn end_subscription(&mut self, sid: Sid, reason: SubscriptionEnd) {
        let Some(sub) = self.subs.get_mut(sid) else {
            return;
        };
        if matches!(sub.phase, Phase::Ended(_)) {
            return;
        }
        sub.phase = Phase::Ended(reason.clone());
        let empty = sub.is_empty();
        self.events
            .push_back(Event::SubscriptionClosed { sid, reason });
        if empty {
            // Let a waiting reader see the end.
            self.events.push_back(Event::MessagesReady { sid });
        }
    }

    fn finish_drain(&mut self) {
        self.timers.stop(Timer::DrainTimeout);
        for sid in self.subs.receiving() {
            if Some(sid) != self.requests.sid {
                self.end_subscription(sid, SubscriptionEnd::Drained);
            }
        }
        self.shut_down(None);
    }

    /// The machine itself gives up on the current socket.
    fn drop_connection(&mut self, reason: ConnectionError) {
        if matches!(
            self.state,
            State::Connecting | State::AwaitInfo | State::AwaitPong | State::Connected
        ) {
            self.directives.push_back(Directive::Close);
        }
        self.on_connection_lost(reason);
    }

    fn on_connection_lost(&mut self, reason: ConnectionError) {
        let was_connected = self.state == State::Connected;
        // The socket is gone (closed by the driver or asked to be): nothing below may ask
        // for another Close.
        self.state = State::Idle;
        self.timers.stop(Timer::PingInterval);
        self.timers.stop(Timer::ConnectTimeout);
        self.decoder.reset();
        self.control.clear();
        #[cfg(feature = "tls")]
        {
            self.tls = None;
        }
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
        if was_connected {
            // Their replies would come on the dead socket: they fail now, not at their timeout.
            for token in self.requests.take_sent() {
                self.events.push_back(Event::Response {
                    id: RequestId(token),
                    result: Err(RequestError::Disconnected),
                });
            }
            let unsent_messages = self.outbound.discard();
            self.events.push_back(Event::Disconnected {
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
        let exhausted = self.pool.current().is_some_and(|s| {
            s.auth_failures >= 2
                || self
                    .opts
                    .max_reconnects
                    .is_some_and(|max| s.failed_attempts > max)
        });
        if exhausted {
            self.pool.remove_current();
            if self.pool.is_empty() {
                self.shut_down(Some(reason));
                return;
            }
        }
        self.start_attempt();
    }

    fn fail_flushes(&mut self, error: FlushError) {
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
    fn shut_down(&mut self, reason: Option<ConnectionError>) {
        if self.state == State::Closed {
            return;
        }
        if matches!(
            self.state,
            State::AwaitInfo | State::AwaitPong | State::Connected | State::Connecting
        ) {
            self.directives.push_back(Directive::Close);
        }
        // A close the application asked for still lets the driver write what is queued.
        self.flush_on_close = reason.is_none() && self.state == State::Connected;
        self.state = State::Closed;
        self.draining = false;
        self.timers = TimerTable::default();
        self.deadlines = DeadlineQueue::default();
        if !self.flush_on_close {
            self.control.clear();
            self.outbound.discard();
            #[cfg(feature = "tls")]
            {
                self.tls = None;
            }
        }
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
        self.events.push_back(Event::Closed { reason });
    }

    /// Keeps the deadline heap from filling with entries of finished requests.
    fn compact_deadlines(&mut self) {
        let live = self.requests.len() + self.flushes.len();
        if self.deadlines.len() > 2 * live + 64 {
            let requests = &self.requests;
            let flushes = &self.flushes;
            self.deadlines.retain(|d| match d {
                Deadline::Request(t) => requests.is_pending(*t),
                Deadline::Flush(id) => flushes.contains_key(id),
            });
        }
    }
}
