//! A NATS client on tokio, smol or async-std, written once over the sans-IO
//! [`nats_sansio`] machine, plus a blocking driver.
//!
//! The protocol (handshake, subscriptions, requests, reconnects, TLS, JetStream pulls and
//! acks) lives in the pure [`nats_sansio`] core, which never touches a socket, a clock or an
//! executor. This crate drives that machine: a [`Client`] handle you clone freely, a
//! [`Subscriber`] per subscription (a `Stream` of [`Message`]s), a stream of
//! [`ClientEvent`]s, and the [`jetstream`] front end. The API follows async-nats where it
//! can, so most code moves over by changing the `connect` line.
//!
//! # Choosing the runtime
//!
//! The same client runs on every runtime; only the module you connect through changes:
//!
//! - `nats_client::tokio::connect` (feature `tokio`, on by default): call it from within a
//!   tokio runtime; the driver task is spawned on it.
//! - `nats_client::smol::connect` (feature `smol`): runs on smol's global executor, for
//!   example inside `smol::block_on`.
//! - `nats_client::async_std::connect` (feature `async-std`): async-std is discontinued
//!   upstream; this shares the smol implementation and differs only in how it spawns.
//! - No async runtime at all: [`BlockingConnection`] drives the machine over `std::net` in
//!   the calling thread (always available, no feature needed).
//! - Your own executor: implement [`runtime::Runtime`] (connect, timer, spawn) and pass it to
//!   [`ConnectOptions::connect_with_runtime`].
//!
//! To drop tokio, turn default features off: `nats-client = { default-features = false,
//! features = ["smol", "tracing"] }`.
//!
//! # Cargo features
//!
//! | Feature | Default | What it adds |
//! |---|---|---|
//! | `tokio` | yes | the `nats_client::tokio` module (`connect`, `connect_with_options`, `TokioRuntime`) |
//! | `tracing` | yes | connection events logged through the [`tracing`](https://docs.rs/tracing) crate |
//! | `smol` | no | the `nats_client::smol` module (`SmolRuntime`, over async-io and async-net) |
//! | `object-store` | yes | object stores, [`jetstream::object_store`] (as async-nats's feature of that name) |
//! | `service` | yes | services discoverable with PING, INFO and STATS, [`service`] (as async-nats's feature of that name) |
//! | `kv` | yes | key-value buckets, [`jetstream::kv`] (as async-nats's feature of that name) |
//! | `native-roots` | no | TLS trusts the operating system's root certificates (rustls-native-certs, honouring `SSL_CERT_FILE`) instead of the bundled Mozilla set when no CA is given; read only when a connection uses TLS |
//! | `async-std` | no | the `nats_client::async_std` module (`AsyncStdRuntime`, the smol implementation spawned on async-std) |
//!
//! TLS (rustls), JWT and nkey authentication and JetStream are always built in; there is no
//! feature to turn on for them.
//!
//! # Quickstart
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use futures_lite::StreamExt;
//!
//! let client = nats_client::tokio::connect("nats://127.0.0.1:4222").await?;
//! let mut sub = client.subscribe("greet.*").await?;
//! client.publish("greet.joe", "hello".into()).await?;
//! let message = sub.next().await.unwrap();
//! assert_eq!(&message.payload[..], b"hello");
//!
//! // Request/reply: fails at once with `NoResponders` when nobody listens.
//! match client.request("service.time", "now?".into()).await {
//!     Ok(reply) => println!("{:?}", reply.payload),
//!     Err(error) => println!("no answer: {error}"),
//! }
//! client.drain().await?;
//! # Ok(())
//! # }
//! ```
//!
//! With options, the same on every runtime:
//!
//! ```no_run
//! # #[cfg(feature = "smol")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use nats_client::ConnectOptions;
//!
//! let options = ConnectOptions::new()
//!     .name("billing")
//!     .request_timeout(Some(Duration::from_secs(2)))
//!     .max_reconnects(10);
//! let client = nats_client::smol::connect_with_options("nats://a:4222,nats://b:4222", options).await?;
//! client.flush().await?;
//! # Ok(())
//! # }
//! ```
//!
//! The blocking driver, with no runtime:
//!
//! ```no_run
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use nats_client::nats_sansio::connection::Options;
//! use nats_client::BlockingConnection;
//!
//! let mut conn = BlockingConnection::connect(Options::new("nats://127.0.0.1:4222")?)?;
//! let sid = conn.subscribe("greet.*", None)?;
//! conn.publish("greet.joe", "hello")?;
//! let message = conn.next_message(sid, Duration::from_secs(1));
//! println!("{message:?}");
//! conn.close();
//! # Ok(())
//! # }
//! ```
//!
//! Invariant: nothing in this crate decides anything about the protocol. The runtime
//! modules are glue (connect, timer, spawn); [`Client`] turns calls into machine commands; one
//! driver future moves bytes and dispatches events.
//!
//! With the cargo feature `tracing` (on by default), connection events (connected,
//! reconnected, disconnected, closed, lame duck, server errors, slow consumers, ...) are
//! also logged through the [`tracing`](https://docs.rs/tracing) crate, for whatever
//! subscriber the application installs; nothing is logged without one.
#![deny(missing_docs)]

mod addrs;
mod auth;
pub mod blocking;
mod client;
mod driver;
mod entropy;
pub mod error;
/// Names of the headers NATS and JetStream give meaning to, for [`HeaderMap`] (as
/// `async_nats::header`).
///
/// ```
/// use nats_client::header::NATS_MSG_ID;
///
/// let mut headers = nats_client::HeaderMap::new();
/// headers.insert(NATS_MSG_ID, "order-1");
/// assert_eq!(headers.get("Nats-Msg-Id"), Some("order-1"));
/// ```
pub mod header {
    pub use nats_sansio::jetstream::direct::{
        NATS_LAST_SEQUENCE, NATS_NUM_PENDING, NATS_SEQUENCE, NATS_STREAM, NATS_SUBJECT,
        NATS_TIME_STAMP, NATS_UP_TO_SEQUENCE,
    };
    pub use nats_sansio::jetstream::publish::{
        NATS_EXPECTED_LAST_MSG_ID, NATS_EXPECTED_LAST_SEQUENCE,
        NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, NATS_EXPECTED_STREAM, NATS_MSG_ID, NATS_TTL,
    };
    pub use nats_sansio::jetstream::pull::{
        PENDING_BYTES as NATS_PENDING_BYTES, PENDING_MESSAGES as NATS_PENDING_MESSAGES,
        PIN_ID as NATS_PIN_ID,
    };
    pub use nats_sansio::jetstream::push::{
        CONSUMER_STALLED as NATS_CONSUMER_STALLED, LAST_CONSUMER as NATS_LAST_CONSUMER,
    };
}
mod events;
pub mod jetstream;
mod link;
mod log;
mod machine_stream;
#[cfg(feature = "native-roots")]
mod native_roots;
mod options;
mod reading;
mod request_many;
pub mod runtime;
#[cfg(feature = "service")]
pub mod service;
mod shared;
mod subscriber;

pub use addrs::ToServerAddrs;
pub use auth::{Auth, AuthError};

/// Any error, boxed, for functions that return several kinds with `?` (as
/// `async_nats::Error`).
pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;
pub use blocking::BlockingConnection;
pub use client::{Client, Request};
pub use error::{CloseError, ConnectError};
pub use events::{ClientEvent, Events};
pub use nats_sansio;
pub use nats_sansio::connection::{ConnectionState, ServerStatus, Statistics};
/// The core's message, re-exported. Where async-nats's `Message` has `status` and
/// `description` fields, these are the methods [`Message::status`] and
/// [`Message::description`], computed on demand from the header block (deliberately: a
/// message that never asks pays nothing for them).
///
pub use nats_sansio::proto::Message;
pub use nats_sansio::proto::{HeaderMap, StatusCode};
/// Request-many's stop rules and sentinels (the core's).
pub use nats_sansio::request_many::Sentinel;
/// The rustls version the TLS layer uses, for a custom `ClientConfig`
/// ([`ConnectOptions::tls_client_config`]).
pub use nats_sansio::tls::rustls;
pub use options::{ConnectOptions, DEFAULT_MAX_PENDING_BYTES};
pub use request_many::{Replies, RequestManyBuilder, RequestManyError};
pub use subscriber::Subscriber;

/// Defines a runtime module: `connect(url)` and `connect_with_options(url, options)`.
macro_rules! runtime_module {
    ($(#[$doc:meta])* $module:ident, $feature:literal, $runtime:path) => {
        $(#[$doc])*
        #[cfg(feature = $feature)]
        pub mod $module {
            use std::sync::Arc;

            use crate::{Client, ConnectError, ConnectOptions, ToServerAddrs};

            pub use $runtime;

            /// Connects with default options to `servers`: a URL, several comma-separated,
            /// or a slice or `Vec` of them (see [`ToServerAddrs`]). Returns once the first
            /// server accepted the connection (with
            /// [`ConnectOptions::retry_on_initial_connect`], at once); the client then
            /// reconnects by itself.
            ///
            /// ```no_run
            #[doc = concat!("# #[cfg(feature = \"", $feature, "\")]")]
            /// # async fn run() -> Result<(), nats_client::ConnectError> {
            #[doc = concat!("let client = nats_client::", stringify!($module), "::connect(\"nats://127.0.0.1:4222\").await?;")]
            /// // Several servers: one string, comma-separated, or a Vec or slice of URLs.
            #[doc = concat!("let cluster = nats_client::", stringify!($module), "::connect(vec![\"nats://a:4222\", \"nats://b:4222\"]).await?;")]
            /// println!("{:?} {:?}", client.connection_state(), cluster.server_info().map(|info| info.version));
            /// # Ok(())
            /// # }
            /// ```
            pub async fn connect(servers: impl ToServerAddrs) -> Result<Client, ConnectError> {
                connect_with_options(servers, ConnectOptions::new()).await
            }

            /// Connects with the given options (as `ConnectOptions::connect` in async-nats).
            ///
            /// ```no_run
            #[doc = concat!("# #[cfg(feature = \"", $feature, "\")]")]
            /// # async fn run() -> Result<(), nats_client::ConnectError> {
            /// let options = nats_client::ConnectOptions::new()
            ///     .name("billing")
            ///     .credentials_file("user.creds");
            #[doc = concat!("let client = nats_client::", stringify!($module), "::connect_with_options(\"tls://nats.example.com\", options).await?;")]
            /// # Ok(())
            /// # }
            /// ```
            pub async fn connect_with_options(
                servers: impl ToServerAddrs,
                options: ConnectOptions,
            ) -> Result<Client, ConnectError> {
                options.connect_with_runtime(servers, Arc::new(runtime())).await
            }

            fn runtime() -> impl crate::runtime::Runtime {
                <$runtime>::default()
            }
        }
    };
}

runtime_module!(
    /// The client on tokio (call from within a tokio runtime).
    tokio,
    "tokio",
    crate::runtime::tokio::TokioRuntime
);
runtime_module!(
    /// The client on smol.
    smol,
    "smol",
    crate::runtime::async_io::SmolRuntime
);
runtime_module!(
    /// The client on async-std (discontinued upstream; shares the smol implementation).
    async_std,
    "async-std",
    crate::runtime::async_io::AsyncStdRuntime
);

#[cfg(test)]
mod tests {
    /// The handles can be shared across tasks and threads.
    #[test]
    fn handles_are_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<crate::Client>();
        send::<crate::Subscriber>();
        send::<crate::Events>();
        send_sync::<crate::ConnectOptions>();
    }
}
