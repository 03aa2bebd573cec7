//! The object store (spec §5, ADR-20) as pure parts above JetStream: a bucket is the stream
//! `OBJ_<bucket>`; an object is its chunks on `$O.<bucket>.C.<nuid>` and one metadata record
//! on `$O.<bucket>.M.<base64url(name)>`, with a SHA-256 digest of its bytes.
//!
//! Invariant: nothing here does IO, reads a clock or draws randomness (a put is given its
//! NUID). Each part turns what the application asks into the JetStream requests and
//! publishes that carry it out, and the replies into object records, bytes and typed errors
//! ([`ObjectStoreError`]); memory is bounded by a window of chunks whatever the object size,
//! in a put ([`Put`]) and in a get ([`Get`]) alike. An adapter only moves messages and bytes.
//!
//! - [`names`]: bucket and object names, NUIDs, [`BucketSubjects`], and [`InfoGet`], the
//!   lookup of an object's record.
//! - [`config`]: the bucket [`Config`] and its stream config; sealing.
//! - [`status`]: a bucket's [`Status`], listing buckets.
//! - [`info`]: [`ObjectInfo`], [`ObjectMeta`], links; the stored JSON.
//! - [`digest`]: [`Digest`], the incremental SHA-256 and its check.
//! - [`put`]: the [`Put`] machine (chunks with an ack window, then the record).
//! - [`get`]: the [`Get`] machine (links resolved, chunks read in order through the ordered
//!   pull consumer within a byte budget, digest and size checked).
//! - [`ops`]: delete, metadata update and rename, links: the records and purges each needs.
//! - [`watch`]: the [`Watch`] machine (watch and list of object records).

pub mod config;
pub mod digest;
mod error;
pub mod get;
pub mod info;
pub mod names;
pub mod ops;
pub mod put;
pub mod status;
pub mod watch;

pub use config::Config;
pub use digest::Digest;
pub use error::ObjectStoreError;
pub use get::{Get, GetOptions};
pub use info::{ObjectInfo, ObjectLink, ObjectMeta, ObjectOptions};
pub use names::{BucketSubjects, InfoGet};
pub use put::{Put, PutOptions};
pub use status::Status;
pub use watch::{Watch, WatchConfig, WatchItem};
