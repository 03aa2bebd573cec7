//! JetStream over the client: a thin async front end of the core's pure JetStream pieces
//! (`nats_sansio::jetstream`).
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use futures_lite::StreamExt;
//! use nats_client::jetstream::{self, consumer, stream};
//!
//! let client = nats_client::tokio::connect("nats://127.0.0.1:4222").await?;
//! let js = jetstream::new(client);
//! let stream = js
//!     .create_stream(stream::Config {
//!         name: "ORDERS".into(),
//!         subjects: vec!["orders.>".into()],
//!         ..Default::default()
//!     })
//!     .await?;
//! let ack = js.publish("orders.new", "{\"id\":1}".into()).await?.await?;
//! println!("stored as #{}", ack.seq);
//!
//! let consumer = stream
//!     .create_consumer(consumer::pull::Config {
//!         durable_name: "processor".into(),
//!         ..Default::default()
//!     })
//!     .await?;
//! let mut messages = consumer.messages().await?;
//! while let Some(message) = messages.next().await {
//!     let message = message?;
//!     message.ack().await?;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Invariant: protocol decisions (subjects, envelopes, error codes, pull bookkeeping,
//! statuses, ack payloads and metadata) are the core's; this module only awaits them.

pub mod consumer;
mod context;
mod direct_get;
mod error;
#[cfg(feature = "kv")]
pub mod kv;
mod message;
#[cfg(feature = "object-store")]
pub mod object_store;
mod ordered_messages;
mod pages;
mod push_consumer;
pub mod stream;

pub use consumer::{Consumer, FetchBuilder, Messages, StreamBuilder};
pub use context::{
    Context, ContextBuilder, Publish, PublishAckFuture, DEFAULT_MAX_ACKS_IN_FLIGHT, DEFAULT_TIMEOUT,
};
pub use direct_get::DirectGetBatch;
pub use error::{JetStreamError, JetStreamErrorKind};
pub use message::{Acker, JsMessage};
pub use nats_sansio::jetstream::{ack, api, direct, ordered, publish, pull, push};
pub use ordered_messages::OrderedMessages;
pub use pages::{Listing, Pages};
pub use push_consumer::{PushItem, PushMessages};
pub use stream::Stream;

use nats_sansio::jetstream::api::ApiPrefix;

use crate::Client;

/// A JetStream context with the default API prefix (`$JS.API`), as `async_nats::jetstream::new`.
///
/// The context is cheap to clone and holds the client. API requests and publish acks wait
/// [`DEFAULT_TIMEOUT`] (change it with [`Context::set_timeout`] or [`ContextBuilder`]).
///
/// ```no_run
/// # async fn run(client: nats_client::Client) -> Result<(), nats_client::jetstream::JetStreamError> {
/// use nats_client::jetstream;
///
/// let js = jetstream::new(client);
/// let account = js.account_info().await?;
/// println!("{account:?}");
/// let ack = js.publish("orders.new", "{}".into()).await?.await?;
/// println!("stored in {} as #{}", ack.stream, ack.seq);
/// # Ok(())
/// # }
/// ```
pub fn new(client: Client) -> Context {
    Context::new(client, ApiPrefix::default())
}

/// A JetStream context for a domain (`$JS.<domain>.API`).
pub fn with_domain(client: Client, domain: &str) -> Result<Context, JetStreamError> {
    Ok(Context::new(client, ApiPrefix::domain(domain)?))
}

/// A JetStream context with a custom API prefix (an imported JetStream).
pub fn with_prefix(client: Client, prefix: &str) -> Result<Context, JetStreamError> {
    Ok(Context::new(client, ApiPrefix::custom(prefix)?))
}

/// A JetStream context with the settings of `builder` (prefix or domain, timeout, acks in
/// flight, publish retries); the same as [`ContextBuilder::build`].
pub fn with_options(client: Client, builder: ContextBuilder) -> Result<Context, JetStreamError> {
    builder.build(client)
}
