//! The key-value store (spec §4, ADR-8) as pure parts above JetStream: buckets are streams
//! `KV_<bucket>`, keys are subjects `$KV.<bucket>.<key>`, revisions are stream sequences.
//!
//! Invariant: nothing here does IO or reads a clock. Each part turns what the application
//! asks into the JetStream requests and publishes that carry it out, and the replies into
//! entries and typed errors ([`KvError`]), so an adapter only moves messages: it never
//! builds a KV subject, a header or a stream config itself.
//!
//! - [`names`]: bucket, key and filter validation, and [`BucketSubjects`], every subject of
//!   a bucket handle (API prefix, mirrors).
//! - [`config`]: the bucket [`Config`] and the stream config it becomes, the update and
//!   create-conflict rules.
//! - [`status`]: a bucket's [`Status`], listing buckets.
//! - [`entry`]: [`Entry`] and [`Operation`] decoded from gets and deliveries, and [`Get`].
//! - [`write`](mod@write): [`Write`], the publish each write needs and how its reply maps to a
//!   revision or a typed error (compare-and-set included).
//! - [`watch`]: the [`Watch`] machine (watch, keys, history) on the ordered consumer.
//! - [`purge`]: the `STREAM.PURGE` requests that drop old delete markers.

pub mod config;
pub mod entry;
mod error;
pub mod names;
pub mod purge;
pub mod status;
pub mod watch;
pub mod write;

pub use config::Config;
pub use entry::{Entry, Get, Operation};
pub use error::KvError;
pub use names::BucketSubjects;
pub use status::Status;
pub use watch::{Watch, WatchConfig, WatchItem};
pub use write::Write;
