//! The connection state machine.
//!
//! Invariant: the machine's only inputs are the `handle_*` methods and the user commands, and
//! its only outputs are what `poll_transmit`, `poll_event`, `poll_directive` and
//! `poll_timeout` return. Protocol ops for the handshake and for restoring subscriptions go to
//! a control queue that is always transmitted before the user's queue; while not connected,
//! the user's queue is the bounded reconnect buffer.

mod event;
mod handshake;
mod keepalive;
mod lent_buf;
mod lifecycle;
mod options;
mod outbound;
mod pool;
mod publish;
mod request;
mod requests;
mod server_error;
mod server_pool;
mod statistics;
mod subscribe;
mod subscriptions;
mod timer;
mod transport;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Buf, BytesMut};

use crate::auth::ServerAddr;
use crate::proto::{validate_subscribe, Decoder, Encoder, HeaderMap, ServerInfo, ServerOp};

pub use event::{
    ConnectionError, ConnectionEvent, Directive, Event, FlushError, FlushId, PublishError,
    RequestError, RequestId, Sid, SubscribeError, SubscriptionEnd,
};
pub use lent_buf::LentRecvBuf;
pub use lifecycle::ConnectionState;
pub use options::{ConfigError, Options, ReconnectDelay, ServerChooser};
pub use pool::ServerStatus;
pub use statistics::Statistics;
pub use subscriptions::{Delivery, SubscriptionStats, Taken};

use crate::rng::Rng;
use crate::timer::TimerName;
use keepalive::{IdleCheck, PongFor};
use outbound::Outbound;
use pool::ServerPool;
use requests::Requests;
use subscriptions::{DetMap, Subscriptions};
use timer::{Deadline, DeadlineQueue, Timer, TimerTable};
use transport::Transport;

/// The `max_payload` assumed before the server's INFO says otherwise.
const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the back-off before the next attempt.
    Idle,
    /// Asked the driver to connect; waiting for `handle_connected`.
    Connecting,
    /// Socket up; waiting for INFO (after the TLS handshake with TLS-first).
    AwaitInfo,
    /// INFO read; waiting for the driver's credentials ([`Directive::Authenticate`]).
    AwaitCredentials,
    /// CONNECT and PING sent; waiting for PONG.
    AwaitPong,
    /// Handshake complete.
    Connected,
    /// Closed for good.
    Closed,
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
/// use nats_sansio::{Connection, ConnectionEvent, Directive, Event};
/// use nats_sansio::connection::Options;
/// use bytes::Buf;
///
/// let now = Instant::now();
/// let mut options = Options::new("nats://127.0.0.1:4222").unwrap();
/// options.seed = Some(0x5eed); // a real program draws it from the OS's entropy
/// let mut conn = Connection::new(options, now).unwrap();
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
/// assert!(matches!(conn.poll_event(), Some(Event::Connection(ConnectionEvent::Connected { .. }))));
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
    /// The byte layers (TLS) between the socket and the codec.
    transport: Transport,
    info: Option<ServerInfo>,
    max_payload: usize,
    subs: Subscriptions,
    requests: Requests,
    pongs: VecDeque<PongFor>,
    pings_out: u32,
    /// The read side's idle check: messages received at the last keep-alive tick, and
    /// whether a tick found none since the one before.
    idle: IdleCheck,
    next_flush: u64,
    flushes: DetMap<u64, ()>,
    events: VecDeque<Event>,
    directives: VecDeque<Directive>,
    stats: Statistics,
    ever_connected: bool,
    /// Closed by the application while connected: what is queued is still being written,
    /// and `ConnectionEvent::Closed` waits for it.
    flush_on_close: bool,
    /// Why the connection closed, kept until `ConnectionEvent::Closed` is raised.
    close_reason: Option<ConnectionError>,
    /// Connect attempts since the last successful handshake.
    attempt: u32,
    draining: bool,
    /// Completed handshakes (see [`Connection::link_epoch`]).
    link_epoch: u64,
    /// Sockets begun or lost so far: a lent receive buffer belongs to the socket it was
    /// lent for ([`Connection::lend_recv_buf`]).
    socket_epoch: u64,
    /// Credentials asked of the driver so far; names the current request.
    credential_requests: u64,
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

/// Refuses servers this build cannot reach (WebSocket URLs without `websocket`, TLS ones
/// without `tls`) and a pool that mixes WebSocket with plain NATS URLs.
fn check_servers(servers: &[ServerAddr]) -> Result<(), ConfigError> {
    if servers.is_empty() {
        return Err(ConfigError::NoServers);
    }
    let websocket = servers.iter().filter(|s| s.is_websocket()).count();
    if websocket > 0 && websocket < servers.len() {
        return Err(ConfigError::MixedWebSocket);
    }
    #[cfg(not(feature = "websocket"))]
    if let Some(ws) = servers.iter().find(|s| s.is_websocket()) {
        return Err(ConfigError::WebSocketUnsupported(Box::new(ws.clone())));
    }
    #[cfg(not(feature = "tls"))]
    if servers.iter().any(ServerAddr::tls_required) {
        return Err(ConfigError::TlsDisabled);
    }
    Ok(())
}

impl Connection {
    /// Creates the machine; its first directive asks the driver to connect.
    pub fn new(options: Options, now: Instant) -> Result<Connection, ConfigError> {
        if options.servers.is_empty() {
            return Err(ConfigError::NoServers);
        }
        validate_subscribe(&options.inbox_prefix).map_err(ConfigError::InvalidInboxPrefix)?;
        check_servers(&options.servers)?;
        #[cfg(feature = "websocket")]
        for (name, value) in &options.websocket_headers {
            crate::websocket::handshake::check_header(name, value)
                .map_err(ConfigError::InvalidWebSocketHeader)?;
        }
        // Built once, here when TLS is asked for (so a bad PEM is this call's error), else at
        // the first TLS upgrade a server requires: every session shares it, and with it
        // rustls' session cache. A plain connection never holds one (a root store is
        // kilobytes per connection).
        #[cfg(feature = "tls")]
        let options = {
            let mut options = options;
            let tls = &options.tls;
            let asked = tls.required
                || tls.tls_first
                || !tls.root_certificates_pem.is_empty()
                || tls.client_certificate_pem.is_some()
                || options.servers.iter().any(ServerAddr::tls_required);
            if asked {
                options.tls.prepare().map_err(ConfigError::Tls)?;
            }
            options
        };
        let mut rng = Rng::new(options.seed.ok_or(ConfigError::NoSeed)?);
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
            transport: Transport::default(),
            info: None,
            max_payload: DEFAULT_MAX_PAYLOAD,
            subs: Subscriptions::default(),
            requests: Requests::default(),
            pongs: VecDeque::new(),
            pings_out: 0,
            idle: IdleCheck::default(),
            next_flush: 0,
            flushes: DetMap::default(),
            events: VecDeque::new(),
            directives: VecDeque::new(),
            stats: Statistics::default(),
            ever_connected: false,
            flush_on_close: false,
            close_reason: None,
            attempt: 0,
            draining: false,
            link_epoch: 0,
            socket_epoch: 0,
            credential_requests: 0,
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

    /// The options the connection was made with (as validated, its server pool aside).
    pub fn options(&self) -> &Options {
        &self.opts
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

    /// The number of the current socket: it changes each time a socket is connected or
    /// lost. Bytes taken from [`poll_transmit`](Self::poll_transmit) belong to the socket of
    /// the epoch they were taken in, and must never be written to another (a driver that
    /// hands bytes between writers checks it).
    pub fn socket_epoch(&self) -> u64 {
        self.socket_epoch
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

    /// True when [`poll_directive`](Self::poll_directive) has something: a driver that lets
    /// other tasks feed the machine checks this after they did.
    pub fn has_directive(&self) -> bool {
        !self.directives.is_empty()
    }

    /// Bytes to write to the transport, or `None` when there are none. Write what you can,
    /// then `advance` the buffer by that many bytes; call again until `None`.
    pub fn poll_transmit(&mut self) -> Option<&mut dyn Buf> {
        if self.flush_on_close && !self.has_transmit() {
            // A close's last publishes are all written: now it is closed.
            self.finish_close(0);
            return None;
        }
        let writable = matches!(
            self.state,
            State::AwaitInfo | State::AwaitCredentials | State::AwaitPong | State::Connected
        ) || self.flush_on_close;
        if !writable {
            return None;
        }
        let user_ops = self.state == State::Connected || self.flush_on_close;
        let outbound = user_ops.then_some(&mut self.outbound);
        if let Err(e) = self.transport.prepare(&mut self.control, outbound) {
            self.drop_connection(e);
            return None;
        }
        let outbound = user_ops.then_some(&mut self.outbound);
        self.transport.next(&mut self.control, outbound)
    }

    /// Whether anything is left to hand to the transport.
    fn has_transmit(&self) -> bool {
        self.transport.has_pending()
            || self.control.has_remaining()
            || self.outbound.has_remaining()
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
        self.socket_epoch += 1;
        self.decoder.reset();
        self.control.clear();
        self.pongs.clear();
        self.pings_out = 0;
        self.state = State::AwaitInfo;
        if let Err(e) = self.start_layers() {
            self.drop_connection(e);
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
        if self.flush_on_close {
            // The socket failed while the close's last publishes were being written.
            let unsent = self.discard_queued();
            self.finish_close(unsent);
            return;
        }
        if matches!(
            self.state,
            State::Connecting
                | State::AwaitInfo
                | State::AwaitCredentials
                | State::AwaitPong
                | State::Connected
        ) {
            self.on_connection_lost(ConnectionError::Io(reason.to_owned()));
        }
    }

    /// Bytes read from the transport.
    pub fn handle_received(&mut self, now: Instant, data: &[u8]) {
        // Room for the plain bytes these will become (no more than `data`) in the codec's
        // buffer, which grows by doubling; the layers' own buffers grow as they do.
        self.decoder.make_room(data.len());
        self.recv_buf().extend_from_slice(data);
        self.handle_recv_buf(now);
    }

    /// The buffer a driver may read transport bytes straight into; call
    /// [`handle_recv_buf`](Self::handle_recv_buf) after filling it.
    pub fn recv_buf(&mut self) -> &mut BytesMut {
        self.transport.recv_buf(&mut self.decoder)
    }

    /// Lends the receive buffer (the one [`recv_buf`](Self::recv_buf) gives) with room for
    /// a read of up to `n` bytes ([`LentRecvBuf::room`] says how many this read may take),
    /// so a driver can read the socket straight into it without holding the machine: no
    /// copy between a read buffer and the codec's. Until it comes back through
    /// [`handle_lent_recv_buf`](Self::handle_lent_recv_buf) the machine has none: the
    /// driver feeds it nothing else meanwhile. One lent before the socket was lost or
    /// replaced is dropped when it comes back, never decoded.
    pub fn lend_recv_buf(&mut self, n: usize) -> LentRecvBuf {
        let room = if self.transport.is_layered() {
            // Room in the codec's buffer for the plain bytes these will become; the layer's
            // buffer grows as it does.
            self.decoder.make_room(n);
            self.recv_buf().reserve(n);
            n
        } else {
            self.decoder.room_for_read(n)
        };
        LentRecvBuf {
            buf: std::mem::take(self.recv_buf()),
            epoch: self.socket_epoch,
            room,
        }
    }

    /// Takes back a lent receive buffer holding what the driver read into it, and processes
    /// it as [`handle_recv_buf`](Self::handle_recv_buf) does.
    pub fn handle_lent_recv_buf(&mut self, now: Instant, lent: LentRecvBuf) {
        if lent.epoch != self.socket_epoch {
            self.advance_clock(now);
            return;
        }
        *self.recv_buf() = lent.buf;
        self.handle_recv_buf(now);
    }

    /// Processes what the driver put into [`recv_buf`](Self::recv_buf).
    pub fn handle_recv_buf(&mut self, now: Instant) {
        self.advance_clock(now);
        if !matches!(
            self.state,
            State::AwaitInfo | State::AwaitCredentials | State::AwaitPong | State::Connected
        ) {
            self.recv_buf().clear();
            return;
        }
        if let Err(e) = self.transport.receive(&mut self.decoder) {
            self.drop_connection(e);
            return;
        }
        self.decode_all();
        self.release_idle_read_memory();
    }

    /// Fires the timers due at `now`. Spurious calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance_clock(now);
        let now = self.now;
        for &timer in Timer::ALL {
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

    // ===================== reactions =====================

    fn advance_clock(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    fn on_timer(&mut self, timer: Timer) {
        match timer {
            Timer::PingInterval => self.on_ping_interval(),
            Timer::ConnectTimeout => {
                if matches!(
                    self.state,
                    State::Connecting
                        | State::AwaitInfo
                        | State::AwaitCredentials
                        | State::AwaitPong
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
            Timer::CloseLinger => {
                if self.flush_on_close {
                    let unsent = self.discard_queued();
                    self.finish_close(unsent);
                }
            }
        }
    }

    fn decode_all(&mut self) {
        loop {
            match self.decoder.decode() {
                Ok(Some(op)) => {
                    self.on_op(op);
                    if !matches!(
                        self.state,
                        State::AwaitInfo
                            | State::AwaitCredentials
                            | State::AwaitPong
                            | State::Connected
                    ) {
                        return;
                    }
                }
                // A TLS upgrade after INFO may have left ciphertext to decrypt.
                Ok(None) => match self.transport.receive(&mut self.decoder) {
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

    fn on_op(&mut self, op: ServerOp) {
        match op {
            ServerOp::Msg { sid, message } => self.on_message(sid, message),
            ServerOp::Unreadable {
                sid,
                length,
                reason,
            } => {
                self.stats.in_messages += 1;
                self.stats.in_bytes += length as u64;
                self.stats.unreadable_messages += 1;
                self.raise(ConnectionEvent::UnreadableMessage { sid, reason });
            }
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

    /// Raises a connection event for the application.
    fn raise(&mut self, event: ConnectionEvent) {
        self.events.push_back(Event::Connection(event));
    }

    /// Drops the deadlines of finished requests and flushes from the front of the queue, so
    /// `poll_timeout` names one still waited on (a driver would otherwise wake, long after,
    /// once for every request answered in time).
    fn prune_deadlines(&mut self) {
        let requests = &self.requests;
        let flushes = &self.flushes;
        self.deadlines.drop_finished_front(|d| match d {
            Deadline::Request(t) => requests.is_pending(*t),
            Deadline::Flush(id) => flushes.contains_key(id),
        });
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
