//! JetStream as pure state machines above [`Connection`](crate::Connection): messages in,
//! publishes and deadlines out.
//!
//! Invariant: nothing here does IO or reads a clock; every machine is driven by the messages
//! and the `now` its caller hands it, and its output is requests to publish and events.
//!
//! - [`api`]: the `$JS.API` envelope, subjects with domain and prefix, stream and consumer
//!   configuration and info types, and typed errors.
//! - [`ack`]: message metadata from ack reply subjects, and the ack payloads.
//! - [`direct`]: Direct Get replies (messages, the `204 EOB` of a batch, error statuses).
//! - [`pull`]: the pull consumer machine (fetch, batch, continuous consume).
//! - [`publish`]: the ack window, the publish retry policy, the headers a publish sets and
//!   the `Nats-TTL` value.
//! - [`push`]: the push consumer's heartbeats, flow control and gap detection.
//! - [`ordered`]: the ordered consumer, a chain of ephemeral pull (or push) consumers read in
//!   order.
//! - [`bucket`]: what the key-value store and the object store share about buckets (names,
//!   server metadata, listing).
//! - [`consume`]: the readers above in the one machine shape
//!   ([`Machine`](crate::machine::Machine)), with their subjects and API calls.
//! - [`watch`]: the watcher the key-value store and the object store share (latest record
//!   per subject, caught-up marker, listings).

pub mod ack;
pub mod api;
pub mod bucket;
pub mod consume;
pub mod direct;
pub mod ordered;
pub mod publish;
pub mod pull;
pub mod push;
pub mod watch;
