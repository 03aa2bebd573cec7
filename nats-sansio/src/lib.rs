//! A pure, sans-IO NATS client: bytes in; bytes, events and timer deadlines out.
//!
//! # The contract
//!
//! - **No IO.** Nothing in this crate opens a socket, reads a file, spawns a task or blocks.
//! - **No clock.** Nothing reads `Instant::now()` or `SystemTime::now()`. Every call that can
//!   arm or fire a timer takes `now: Instant` from the caller, and time never goes backwards:
//!   an older `now` than one already seen is treated as the newest one seen.
//! - **No unseeded randomness.** Reconnect jitter, server shuffling and inbox tokens come from
//!   a seed in the options, so a run is reproducible from its seed.
//! - **Inputs** are `handle_*` methods, **outputs** are `poll_*` methods, user commands are
//!   plain verbs (`publish`, `subscribe`, `request`, `flush`, `drain`, `close`). After every
//!   input or command the caller drains `poll_transmit` and `poll_event`, then sleeps until
//!   `poll_timeout` (see [`Connection`] for the run loop as a doctest).
//! - **Never panic on peer input.** Local misuse is a `Result` error; peer violations and
//!   `-ERR` become events and, where fatal, a sticky state. A panic here is a bug.
//!
//! # Layout
//!
//! - [`proto`]: the wire format (decoder, encoder, subjects, headers, INFO/CONNECT).
//! - [`connection`]: the connection state machine.
//! - [`auth`]: credentials and nonce signing.
//! - [`id_map`]: maps and sets keyed by the client's own ids (cheap, deterministic hashing).
//! - `kv` (feature `kv`): the key-value store, in pure parts above JetStream.
//! - `object_store` (feature `object-store`): the object store, in pure parts and machines
//!   above JetStream.
//! - [`machine`]: the one shape of every machine above the connection.
//! - [`request_many`]: scatter-gather, one request and every reply until a stop condition.
//! - `service` (feature `service`): the service API's pure core (config, verb subjects,
//!   stats bookkeeping, the PING/INFO/STATS JSON, error headers, discovery).
//! - [`rng`]: the seeded generator every machine, simulation and test draws from.
//! - `tls` (feature `tls`): rustls driven in memory.
//! - `websocket` (feature `websocket`): the WebSocket handshake and framing, a byte layer of
//!   the transport under the codec (and over TLS for `wss://`).
#![deny(missing_docs)]

pub mod auth;
pub mod connection;
pub mod id_map;
pub mod jetstream;
#[cfg(feature = "kv")]
pub mod kv;
pub mod machine;
#[cfg(feature = "object-store")]
pub mod object_store;
pub mod proto;
pub mod request_many;
pub mod rng;
#[cfg(feature = "service")]
pub mod service;
#[cfg(test)]
mod test_clock;
mod timer;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "websocket")]
pub mod websocket;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;

pub use connection::{Connection, ConnectionEvent, Directive, Event};
