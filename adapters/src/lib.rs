//! A NATS client on tokio, smol or async-std, written once over the sans-IO
//! [`nats_sansio`] machine, plus a blocking driver.
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use futures_lite::StreamExt;
//!
//! let client = nats_client::tokio::connect("nats://127.0.0.1:4222").await?;
//! let mut sub = client.subscribe("greet.*").await?;
//! client.publish("greet.joe", "hello").await?;
//! let message = sub.next().await.unwrap();
//! assert_eq!(&message.payload[..], b"hello");
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
mod options;
pub mod runtime;
mod shared;
mod subscriber;

pub use addrs::ToServerAddrs;
pub use blocking::BlockingConnection;
pub use client::{Client, Request};
pub use error::{CloseError, ConnectError};
pub use events::{ClientEvent, Events};
pub use nats_sansio;
pub use nats_sansio::connection::{ConnectionState, Statistics};
/// The core's message, re-exported. Where async-nats's `Message` has `status` and
/// `description` fields, these are the methods [`Message::status`] and
/// [`Message::description`], computed on demand from the header block (deliberately: a
/// message that never asks pays nothing for them).
///
pub use nats_sansio::proto::Message;
pub use nats_sansio::proto::{HeaderMap, StatusCode};
pub use options::{ConnectOptions, DEFAULT_MAX_PENDING_BYTES};
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
            /// or a slice or `Vec` of them (see [`ToServerAddrs`]).
            pub async fn connect(servers: impl ToServerAddrs) -> Result<Client, ConnectError> {
                connect_with_options(servers, ConnectOptions::new()).await
            }

            /// Connects with the given options.
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
