//! What a [`Connection`](super::Connection) is configured with.
//!
//! Invariant: options are plain data. Nothing here does IO or reads a clock; the seed is the
//! only source of randomness the machine has.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::pool::ServerStatus;
use crate::auth::{Auth, ServerAddr};
use crate::proto::ServerInfo;
#[cfg(feature = "tls")]
use crate::tls::TlsOptions;

/// The signature of a [`ReconnectDelay`] function.
type DelayFn = dyn Fn(u32) -> Duration + Send + Sync;

/// A user function that decides the wait before each reconnect attempt (as async-nats's
/// `reconnect_delay_callback`). It is pure: it gets the attempt number, not the clock.
#[derive(Clone)]
pub struct ReconnectDelay(Arc<DelayFn>);

impl ReconnectDelay {
    /// Wraps a function of the number of attempts since the last successful connect.
    pub fn new(f: impl Fn(u32) -> Duration + Send + Sync + 'static) -> Self {
        ReconnectDelay(Arc::new(f))
    }

    /// The wait before attempt number `attempt`.
    pub fn delay(&self, attempt: u32) -> Duration {
        (self.0)(attempt)
    }
}

impl fmt::Debug for ReconnectDelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReconnectDelay(..)")
    }
}

/// The signature of a [`ServerChooser`] function.
type ChooseFn =
    dyn Fn(&[ServerStatus], Option<&ServerInfo>) -> Option<(ServerAddr, Duration)> + Send + Sync;

/// A user function that picks the server of each connect attempt, and the wait before it
/// ([`Options::reconnect_to_server`]).
#[derive(Clone)]
pub struct ServerChooser(Arc<ChooseFn>);

impl ServerChooser {
    /// Wraps a function of the pool (in rotation order, with each server's attempts and
    /// last error) and the last INFO received. It returns the server to try and the wait
    /// before trying it, or `None` for the default choice and back-off; a server that is
    /// not in the pool also gets the default. A zero wait connects at once.
    pub fn new(
        f: impl Fn(&[ServerStatus], Option<&ServerInfo>) -> Option<(ServerAddr, Duration)>
            + Send
            + Sync
            + 'static,
    ) -> ServerChooser {
        ServerChooser(Arc::new(f))
    }

    /// Asks the function.
    pub fn choose(
        &self,
        pool: &[ServerStatus],
        info: Option<&ServerInfo>,
    ) -> Option<(ServerAddr, Duration)> {
        (self.0)(pool, info)
    }
}

impl fmt::Debug for ServerChooser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerChooser(..)")
    }
}

/// Configuration of a connection. Build with [`Options::default`] or [`Options::new`] and
/// set the fields you need.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// The servers given by the user, tried in random order unless
    /// [`retain_servers_order`](Self::retain_servers_order) is set.
    pub servers: Vec<ServerAddr>,
    /// Connection name sent in CONNECT (shown by the server's monitoring).
    pub name: Option<String>,
    /// Whether the server echoes this connection's own publishes to its subscriptions.
    pub echo: bool,
    /// Credentials. URL credentials (`nats://user:pass@host`, `nats://token@host`) apply when
    /// this is [`Auth::None`].
    pub auth: Auth,
    /// TLS settings: required, TLS-first, roots, client certificate or a whole config.
    /// For a `ws://` server, `required` (or `tls_first`) makes it WebSocket over TLS, as
    /// `wss://` does.
    #[cfg(feature = "tls")]
    pub tls: TlsOptions,
    /// Extra headers for the WebSocket upgrade request (`ws://`, `wss://`), for example a
    /// proxy's `Authorization`. Names the handshake writes itself (`Host`, `Upgrade`,
    /// `Connection`, `Sec-WebSocket-*`) are refused.
    #[cfg(feature = "websocket")]
    pub websocket_headers: Vec<(String, String)>,
    /// Offer permessage-deflate on WebSocket connections: used when the server allows it
    /// (`websocket { compression: true }`), else frames stay plain. Worth it on slow links
    /// with compressible payloads; it costs CPU both ways.
    #[cfg(feature = "websocket")]
    pub websocket_compression: bool,
    /// The whole connect (TCP, TLS, INFO, CONNECT, PONG) must finish within this.
    pub connect_timeout: Duration,
    /// Interval between keep-alive PINGs.
    pub ping_interval: Duration,
    /// After this many PINGs without a PONG the connection is stale and is dropped.
    pub max_pings_out: u32,
    /// Attempts per server before it leaves the pool; `None` retries forever.
    pub max_reconnects: Option<u32>,
    /// First reconnect back-off after an immediate first attempt; doubles on each attempt.
    pub reconnect_delay: Duration,
    /// Upper bound of the exponential back-off (before jitter).
    pub max_reconnect_delay: Duration,
    /// Replaces the back-off: called with the number of attempts since the last successful
    /// connect (0 for the immediate first one), it returns the wait before the next; no
    /// jitter is added.
    pub reconnect_delay_callback: Option<ReconnectDelay>,
    /// Picks the server and the wait of every connect attempt, first included; wins over
    /// the rotation and over both back-offs when it returns a server of the pool.
    pub reconnect_to_server: Option<ServerChooser>,
    /// Upper bound of the uniform random delay added to each back-off (plain connections).
    pub reconnect_jitter: Duration,
    /// Upper bound of the random delay added to each back-off for TLS connections.
    pub reconnect_jitter_tls: Duration,
    /// Bytes of publishes kept while disconnected and replayed on reconnect. `0` disables
    /// the buffer: every publish while disconnected fails at once.
    pub reconnect_buffer_size: usize,
    /// Keep retrying when the very first connect fails, instead of closing.
    pub retry_on_initial_connect: bool,
    /// Check publish and reply subjects only for what would break the protocol's framing
    /// (empty, whitespace or control bytes), not for empty tokens or wildcards, as
    /// async-nats's `skip_subject_validation`. The server drops what it cannot route.
    pub skip_subject_validation: bool,
    /// Do not add servers the cluster advertises in INFO `connect_urls`.
    pub ignore_discovered_servers: bool,
    /// Try servers in the given order instead of shuffling them.
    pub retain_servers_order: bool,
    /// Per-subscription limit of queued messages; past it messages are dropped and counted.
    pub subscription_pending_messages: usize,
    /// Per-subscription limit of queued payload and header bytes.
    pub subscription_pending_bytes: usize,
    /// Prefix of reply inboxes (`_INBOX` by default).
    pub inbox_prefix: String,
    /// Default request timeout; `None` waits forever.
    pub request_timeout: Option<Duration>,
    /// A client drain that has not finished within this closes anyway; and a close (or the
    /// end of a drain) gives the transport this long to take the last queued publishes
    /// before it discards and counts them.
    pub drain_timeout: Duration,
    /// Longest control line accepted from the server.
    pub max_control_line: usize,
    /// Seed of the machine's randomness: the inbox prefix, request tokens, server shuffles and
    /// reconnect jitter all derive from it. It must differ between connections, or they share
    /// reply inboxes and reconnect in lockstep, so it has no default: [`Connection::new`]
    /// refuses `None` with [`ConfigError::NoSeed`]. Draw it from the operating system's entropy
    /// (the `nats-client` adapters do when it is unset); fix it only to replay a run, knowing
    /// that two connections given the same seed behave alike by design.
    ///
    /// [`Connection::new`]: super::Connection::new
    /// [`ConfigError::NoSeed`]: super::ConfigError::NoSeed
    pub seed: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            servers: Vec::new(),
            name: None,
            echo: true,
            auth: Auth::None,
            #[cfg(feature = "tls")]
            tls: TlsOptions::default(),
            #[cfg(feature = "websocket")]
            websocket_headers: Vec::new(),
            #[cfg(feature = "websocket")]
            websocket_compression: false,
            connect_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(60),
            max_pings_out: 2,
            max_reconnects: None,
            reconnect_delay: Duration::from_millis(10),
            max_reconnect_delay: Duration::from_secs(4),
            reconnect_delay_callback: None,
            reconnect_jitter: Duration::from_millis(100),
            reconnect_jitter_tls: Duration::from_secs(1),
            reconnect_buffer_size: 8 * 1024 * 1024,
            retry_on_initial_connect: false,
            skip_subject_validation: false,
            reconnect_to_server: None,
            ignore_discovered_servers: false,
            retain_servers_order: false,
            subscription_pending_messages: 500_000,
            subscription_pending_bytes: 64 * 1024 * 1024,
            inbox_prefix: "_INBOX".to_owned(),
            request_timeout: Some(Duration::from_secs(10)),
            drain_timeout: Duration::from_secs(30),
            max_control_line: crate::proto::Decoder::DEFAULT_MAX_CONTROL_LINE,
            seed: None,
        }
    }
}

impl Options {
    /// Options for one or more comma-separated server URLs, with every other field at its
    /// default.
    pub fn new(urls: &str) -> Result<Options, crate::auth::AddrError> {
        let servers = urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(ServerAddr::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Options {
            servers,
            ..Options::default()
        })
    }
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
    /// [`Options::seed`] is unset. The machine reads no entropy itself: draw a seed from the
    /// operating system (distinct per connection) and set it.
    #[error(
        "no seed: set Options::seed from the operating system's entropy (distinct per connection)"
    )]
    NoSeed,
    /// A `ws://` or `wss://` server in a build without the `websocket` feature.
    #[error(
        "{0}: WebSocket (ws://, wss://) needs the `websocket` feature; use a nats:// or tls:// URL"
    )]
    WebSocketUnsupported(Box<ServerAddr>),
    /// The servers mix WebSocket (`ws://`, `wss://`) and plain NATS (`nats://`, `tls://`)
    /// URLs: a pool is one or the other, since discovered servers take its scheme.
    #[error("the server URLs mix WebSocket (ws://, wss://) with nats:// or tls://; use one kind")]
    MixedWebSocket,
    /// A header for the WebSocket upgrade request
    /// ([`Options::websocket_headers`]) is not valid.
    #[error("invalid WebSocket header: {0}")]
    InvalidWebSocketHeader(String),
    /// The connection is closed: there is nothing left to configure.
    #[error("the connection is closed")]
    Closed,
    /// TLS was asked for in a build without the `tls` feature.
    #[error("TLS requested but the `tls` feature is disabled")]
    TlsDisabled,
    /// The TLS options cannot make a client configuration (a CA or client certificate PEM
    /// that cannot be parsed or used).
    #[cfg(feature = "tls")]
    #[error("invalid TLS configuration: {0}")]
    Tls(crate::tls::TlsError),
}
