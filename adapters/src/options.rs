//! `ConnectOptions`: a builder over the machine's options plus what only an IO layer can do
//! (read credential and certificate files).
//!
//! Invariant: every option of the machine can be set here, and nothing here changes protocol
//! behaviour by itself; files are read at connect time (credentials files on every connect,
//! so rotated credentials apply).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::future::Future;

use nats_sansio::auth::ServerAddr;
use nats_sansio::auth::{self, Auth, AuthCallback, AuthResponse};
use nats_sansio::connection::{
    ConnectionError, Options, ReconnectDelay, ServerChooser, ServerStatus,
};
use nats_sansio::proto::ServerInfo;

use crate::error::ConnectError;
use crate::runtime::Runtime;
use crate::{Client, ToServerAddrs};

/// Bytes queued for the socket above which publishers wait for room.
pub const DEFAULT_MAX_PENDING_BYTES: usize = 1024 * 1024;

/// Connection options, built with chained calls and finished with
/// a runtime module's `connect_with_options` (for example `nats_client::tokio`) or
/// [`connect_with_runtime`](ConnectOptions::connect_with_runtime).
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub(crate) options: Options,
    pub(crate) max_pending_bytes: usize,
    pub(crate) credentials_file: Option<String>,
    pub(crate) root_certificate_files: Vec<String>,
    pub(crate) client_certificate_files: Option<(String, String)>,
    /// Awaited by the driver on each connect when the machine's auth is `Deferred`.
    pub(crate) auth_callback: Option<crate::auth::Callback>,
    /// Sockets are bound to this before connecting.
    pub(crate) local_address: Option<SocketAddr>,
    /// The most bytes read from the socket at once.
    pub(crate) read_buffer_capacity: usize,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions::new()
    }
}

impl ConnectOptions {
    /// The default options.
    pub fn new() -> ConnectOptions {
        #[allow(unused_mut)]
        let mut options = Options::default();
        #[cfg(feature = "native-roots")]
        {
            options.tls.platform_roots = Some(crate::native_roots::platform_roots());
        }
        ConnectOptions {
            options,
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
            credentials_file: None,
            root_certificate_files: Vec::new(),
            client_certificate_files: None,
            auth_callback: None,
            local_address: None,
            read_buffer_capacity: crate::driver::DEFAULT_READ_BUFFER_CAPACITY,
        }
    }

    /// Options with token authentication (async-nats's constructor).
    pub fn with_token(token: impl Into<String>) -> ConnectOptions {
        ConnectOptions::new().token(token)
    }

    /// Options with user and password authentication.
    pub fn with_user_and_password(
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> ConnectOptions {
        ConnectOptions::new().user_and_password(user, password)
    }

    /// Options with NKey authentication.
    pub fn with_nkey(seed: impl Into<String>) -> ConnectOptions {
        ConnectOptions::new().nkey(seed)
    }

    /// Options with a JWT and a nonce-signing callback (see [`jwt`](Self::jwt)).
    pub fn with_jwt<F, Fut>(jwt: impl Into<String>, sign: F) -> ConnectOptions
    where
        F: Fn(Vec<u8>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<u8>, crate::AuthError>> + Send + 'static,
    {
        ConnectOptions::new().jwt(jwt, sign)
    }

    /// Options with the credentials of a `.creds` file's contents.
    pub fn with_credentials(contents: &str) -> Result<ConnectOptions, ConnectError> {
        ConnectOptions::new().credentials(contents)
    }

    /// Options with a `.creds` file, read again on every connect. As in async-nats this is
    /// awaited, and fails at once if the file is unreadable or not a `.creds` file.
    pub async fn with_credentials_file(
        path: impl Into<String>,
    ) -> Result<ConnectOptions, ConnectError> {
        let mut options = ConnectOptions::new().credentials_file(path);
        options.load_files()?;
        Ok(options)
    }

    /// Options with an async auth callback (see [`auth_callback`](Self::auth_callback)).
    pub fn with_auth_callback<F, Fut>(callback: F) -> ConnectOptions
    where
        F: Fn(Vec<u8>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<crate::Auth, crate::AuthError>> + Send + 'static,
    {
        ConnectOptions::new().auth_callback(callback)
    }

    /// The machine's options, for settings without a builder method.
    pub fn machine_options(mut self, f: impl FnOnce(&mut Options)) -> ConnectOptions {
        f(&mut self.options);
        self
    }

    /// Binds every connection to this local address (a source IP; port 0 lets the system
    /// choose) before connecting, for hosts with several interfaces. Only the server
    /// addresses of the same family (IPv4 or IPv6) are tried. A runtime of your own must
    /// implement [`Runtime::connect_from`](crate::runtime::Runtime::connect_from).
    pub fn local_address(mut self, address: SocketAddr) -> ConnectOptions {
        self.local_address = Some(address);
        self
    }

    /// The most bytes read from the socket at once (default 64 KiB, at least 1 KiB). The
    /// read buffer starts small and grows to this only while reads fill it.
    pub fn read_buffer_capacity(mut self, bytes: u16) -> ConnectOptions {
        self.read_buffer_capacity = usize::from(bytes);
        self
    }

    /// Check publish subjects only for what would break the protocol line (empty,
    /// whitespace), not for empty tokens or wildcards, as async-nats's option of the same
    /// name. Subscriptions are always checked.
    pub fn skip_subject_validation(mut self, skip: bool) -> ConnectOptions {
        self.options.skip_subject_validation = skip;
        self
    }

    /// Connection name shown by the server.
    pub fn name(mut self, name: impl Into<String>) -> ConnectOptions {
        self.options.name = Some(name.into());
        self
    }

    /// Do not receive this connection's own publishes.
    pub fn no_echo(mut self) -> ConnectOptions {
        self.options.echo = false;
        self
    }

    /// Token authentication.
    pub fn token(mut self, token: impl Into<String>) -> ConnectOptions {
        self.options.auth = Auth::Token(token.into());
        self
    }

    /// User and password authentication.
    pub fn user_and_password(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> ConnectOptions {
        self.options.auth = Auth::UserPassword {
            user: user.into(),
            password: password.into(),
        };
        self
    }

    /// NKey authentication: the user seed signs the server's nonce.
    pub fn nkey(mut self, seed: impl Into<String>) -> ConnectOptions {
        self.options.auth = Auth::NKey { seed: seed.into() };
        self
    }

    /// JWT authentication: the user's JWT, and a callback that signs the server's nonce
    /// (with a key held elsewhere: an HSM, a signing service), as async-nats's `jwt`. The
    /// callback gets the nonce and returns the raw signature; it is awaited on every
    /// connect, beside the socket.
    ///
    /// ```no_run
    /// # #[cfg(feature = "tokio")]
    /// # async fn run(jwt: String) -> Result<(), nats_client::Error> {
    /// use nats_client::{AuthError, ConnectOptions};
    ///
    /// let options = ConnectOptions::new().jwt(jwt, |nonce| async move {
    ///     signing_service(&nonce).await.map_err(AuthError::new)
    /// });
    /// # async fn signing_service(_: &[u8]) -> Result<Vec<u8>, String> { Ok(Vec::new()) }
    /// let client = nats_client::tokio::connect_with_options("nats://127.0.0.1:4222", options).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn jwt<F, Fut>(mut self, jwt: impl Into<String>, sign: F) -> ConnectOptions
    where
        F: Fn(Vec<u8>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<u8>, crate::AuthError>> + Send + 'static,
    {
        self.options.auth = Auth::Deferred;
        self.auth_callback = Some(crate::auth::Callback::jwt(jwt.into(), sign));
        self
    }

    /// JWT authentication with the user's JWT and its NKey seed (the two parts of a
    /// `.creds` file); the nonce is signed here.
    pub fn jwt_with_seed(
        mut self,
        jwt: impl Into<String>,
        seed: impl Into<String>,
    ) -> ConnectOptions {
        self.options.auth = Auth::Jwt {
            jwt: jwt.into(),
            seed: seed.into(),
        };
        self
    }

    /// JWT authentication from the contents of a `.creds` file.
    pub fn credentials(mut self, contents: &str) -> Result<ConnectOptions, ConnectError> {
        let creds =
            auth::parse_creds(contents).map_err(nats_sansio::connection::ConnectionError::Auth)?;
        self.options.auth = Auth::Jwt {
            jwt: creds.jwt,
            seed: creds.seed,
        };
        Ok(self)
    }

    /// JWT authentication from a `.creds` file, read again on every connect.
    pub fn credentials_file(mut self, path: impl Into<String>) -> ConnectOptions {
        self.credentials_file = Some(path.into());
        self
    }

    /// Computes the credentials on every connect, as async-nats's `auth_callback`: the
    /// callback gets the server's nonce (empty when it sent none) and returns an
    /// [`Auth`](crate::Auth), or an [`AuthError`](crate::AuthError) that fails this connect
    /// (retried as any failed connect). It is awaited beside the socket, so it may await a
    /// vault or a signing service; the connection timeout bounds it.
    ///
    /// ```no_run
    /// # #[cfg(feature = "tokio")]
    /// # async fn run() -> Result<(), nats_client::Error> {
    /// use nats_client::{Auth, ConnectOptions};
    ///
    /// let options = ConnectOptions::new().auth_callback(|_nonce| async {
    ///     let mut auth = Auth::new();
    ///     auth.token = Some(fetch_token().await);
    ///     Ok(auth)
    /// });
    /// # async fn fetch_token() -> String { String::new() }
    /// let client = nats_client::tokio::connect_with_options("nats://127.0.0.1:4222", options).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn auth_callback<F, Fut>(mut self, callback: F) -> ConnectOptions
    where
        F: Fn(Vec<u8>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<crate::Auth, crate::AuthError>> + Send + 'static,
    {
        self.options.auth = Auth::Deferred;
        self.auth_callback = Some(crate::auth::Callback::new(callback));
        self
    }

    /// Adds a header to the WebSocket upgrade request of `ws://` and `wss://` servers (for
    /// example a proxy's `Authorization`). Names the handshake writes itself (`Host`,
    /// `Upgrade`, `Connection`, `Sec-WebSocket-*`) and values with line breaks are refused
    /// at connect with [`ConfigError::InvalidWebSocketHeader`](crate::error::ConfigError::InvalidWebSocketHeader).
    #[cfg(feature = "websocket")]
    pub fn websocket_header(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> ConnectOptions {
        self.options
            .websocket_headers
            .push((name.into(), value.into()));
        self
    }

    /// Offers permessage-deflate compression on `ws://` and `wss://` connections (off by
    /// default, as in nats.go): used when the server allows it (`websocket { compression:
    /// true }`), plain frames otherwise. It saves bandwidth on compressible traffic and
    /// costs CPU both ways.
    #[cfg(feature = "websocket")]
    pub fn websocket_compression(mut self, compression: bool) -> ConnectOptions {
        self.options.websocket_compression = compression;
        self
    }

    /// Require TLS even for `nats://` URLs (and for `ws://` ones, which makes them
    /// `wss://`).
    pub fn require_tls(mut self, required: bool) -> ConnectOptions {
        self.options.tls.required = required;
        self
    }

    /// TLS handshake before the server's INFO (server option `handshake_first`).
    pub fn tls_first(mut self) -> ConnectOptions {
        self.options.tls.tls_first = true;
        self.options.tls.required = true;
        self
    }

    /// Trust the CA certificates in this PEM file (instead of the built-in roots).
    pub fn add_root_certificates(mut self, path: impl Into<String>) -> ConnectOptions {
        self.root_certificate_files.push(path.into());
        self
    }

    /// Trust the CA certificates in this PEM text.
    pub fn add_root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> ConnectOptions {
        self.options.tls.root_certificates_pem.push(pem.into());
        self
    }

    /// Present this client certificate and key (PEM files) for mutual TLS.
    pub fn add_client_certificate(
        mut self,
        cert: impl Into<String>,
        key: impl Into<String>,
    ) -> ConnectOptions {
        self.client_certificate_files = Some((cert.into(), key.into()));
        self
    }

    /// Present this client certificate and key (PEM text) for mutual TLS.
    pub fn add_client_certificate_pem(
        mut self,
        cert: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> ConnectOptions {
        self.options.tls.client_certificate_pem = Some((cert.into(), key.into()));
        self
    }

    /// Use this rustls configuration as it is.
    pub fn tls_client_config(
        mut self,
        config: nats_sansio::tls::rustls::ClientConfig,
    ) -> ConnectOptions {
        self.options.tls.config = Some(Arc::new(config));
        self
    }

    /// Time allowed for TCP, TLS, INFO, CONNECT and PONG together.
    pub fn connection_timeout(mut self, timeout: Duration) -> ConnectOptions {
        self.options.connect_timeout = timeout;
        self
    }

    /// Interval between keep-alive PINGs.
    pub fn ping_interval(mut self, interval: Duration) -> ConnectOptions {
        self.options.ping_interval = interval;
        self
    }

    /// Failed attempts per server before it leaves the pool (`None`: forever).
    pub fn max_reconnects(mut self, max: impl Into<Option<u32>>) -> ConnectOptions {
        self.options.max_reconnects = max.into();
        self
    }

    /// First back-off and its upper bound (it doubles per attempt, plus seeded jitter).
    pub fn reconnect_delay(mut self, first: Duration, max: Duration) -> ConnectOptions {
        self.options.reconnect_delay = first;
        self.options.max_reconnect_delay = max;
        self
    }

    /// Replaces the back-off with `delay(attempts)`: the wait before each reconnect attempt,
    /// given the attempts since the last successful connect (0 for the first, which is
    /// otherwise immediate); no jitter is added (as async-nats's `reconnect_delay_callback`).
    pub fn reconnect_delay_callback(
        mut self,
        delay: impl Fn(u32) -> Duration + Send + Sync + 'static,
    ) -> ConnectOptions {
        self.options.reconnect_delay_callback = Some(ReconnectDelay::new(delay));
        self
    }

    /// Picks the server of every connect attempt and the wait before it, as async-nats's
    /// `reconnect_to_server_callback`: the function gets the pool (each server with its
    /// failed attempts, whether it was ever connected to and its last error) and the last
    /// INFO, and returns a server of the pool and the wait, or `None` for the default
    /// rotation and back-off (a server not in the pool also gets the default). It is a
    /// plain function, not async: it runs in the connection machine, which decides only
    /// among servers it knows.
    pub fn reconnect_to_server_callback(
        mut self,
        choose: impl Fn(&[ServerStatus], Option<&ServerInfo>) -> Option<(ServerAddr, Duration)>
            + Send
            + Sync
            + 'static,
    ) -> ConnectOptions {
        self.options.reconnect_to_server = Some(ServerChooser::new(choose));
        self
    }

    /// Bytes of publishes kept while disconnected; `0` disables the buffer.
    pub fn reconnect_buffer_size(mut self, bytes: usize) -> ConnectOptions {
        self.options.reconnect_buffer_size = bytes;
        self
    }

    /// Keep retrying when the first connect fails; `connect` then returns at once and the
    /// client connects in the background (publishes are buffered meanwhile).
    pub fn retry_on_initial_connect(mut self) -> ConnectOptions {
        self.options.retry_on_initial_connect = true;
        self
    }

    /// Ignore the servers the cluster advertises.
    pub fn ignore_discovered_servers(mut self) -> ConnectOptions {
        self.options.ignore_discovered_servers = true;
        self
    }

    /// Try servers in the given order.
    pub fn retain_servers_order(mut self) -> ConnectOptions {
        self.options.retain_servers_order = true;
        self
    }

    /// Per-subscription limits of queued messages and bytes; past them messages are dropped
    /// and a slow-consumer event is raised.
    pub fn subscription_capacity(mut self, messages: usize, bytes: usize) -> ConnectOptions {
        self.options.subscription_pending_messages = messages;
        self.options.subscription_pending_bytes = bytes;
        self
    }

    /// Prefix of reply inboxes.
    pub fn custom_inbox_prefix(mut self, prefix: impl Into<String>) -> ConnectOptions {
        self.options.inbox_prefix = prefix.into();
        self
    }

    /// Default request timeout (`None`: wait forever).
    pub fn request_timeout(mut self, timeout: Option<Duration>) -> ConnectOptions {
        self.options.request_timeout = timeout;
        self
    }

    /// A drain that has not finished by then closes anyway.
    pub fn drain_timeout(mut self, timeout: Duration) -> ConnectOptions {
        self.options.drain_timeout = timeout;
        self
    }

    /// Bytes queued for the socket above which publishers wait for room.
    pub fn max_pending_bytes(mut self, bytes: usize) -> ConnectOptions {
        self.max_pending_bytes = bytes.max(1);
        self
    }

    /// Fixes the seed of the machine's randomness (inbox prefix, request tokens, server
    /// shuffling, reconnect jitter), to replay a run. Unset (the default), every client
    /// draws its own from the operating system's entropy. Two clients given the same seed
    /// behave alike by design: they share an inbox prefix, so each may receive the other's
    /// replies. Never give one seed to clients that run at the same time.
    pub fn seed(mut self, seed: u64) -> ConnectOptions {
        self.options.seed = Some(seed);
        self
    }

    /// Connects to `servers` (see [`ToServerAddrs`]) on the given runtime. Runtime modules
    /// offer `connect_with_options`.
    pub async fn connect_with_runtime(
        mut self,
        servers: impl ToServerAddrs,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Client, ConnectError> {
        self.options.servers = servers.to_server_addrs()?;
        self.load_files()?;
        Client::connect(self, runtime).await
    }

    /// Reads certificate files, and turns a credentials file into a callback that reads it
    /// on every connect.
    fn load_files(&mut self) -> Result<(), ConnectError> {
        for path in &self.root_certificate_files {
            let pem = read(path)?;
            self.options.tls.root_certificates_pem.push(pem);
        }
        if let Some((cert, key)) = &self.client_certificate_files {
            self.options.tls.client_certificate_pem = Some((read(cert)?, read(key)?));
        }
        if let Some(path) = self.credentials_file.clone() {
            // Fail early, with the same errors as `credentials`, if it is unusable now.
            let contents = String::from_utf8_lossy(&read(&path)?).into_owned();
            let creds = auth::parse_creds(&contents).map_err(ConnectionError::Auth)?;
            auth::sign_nonce(&creds.seed, b"check").map_err(ConnectionError::Auth)?;
            self.options.auth = Auth::Callback(AuthCallback::new(move |nonce| {
                let contents = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {path}: {e}"))?;
                let creds = auth::parse_creds(&contents).map_err(|e| e.to_string())?;
                let nonce = nonce.ok_or("the server sent no nonce to sign")?;
                let signed =
                    auth::sign_nonce(&creds.seed, nonce.as_bytes()).map_err(|e| e.to_string())?;
                Ok(AuthResponse {
                    jwt: Some(creds.jwt),
                    signature: Some(signed.signature),
                    ..AuthResponse::default()
                })
            }));
        }
        Ok(())
    }
}

fn read(path: &str) -> Result<Vec<u8>, ConnectError> {
    std::fs::read(path).map_err(|e| ConnectError::File {
        path: path.to_owned(),
        message: e.to_string(),
    })
}
