//! The one error type of the key-value store.
//!
//! Invariant: every refusal the application can act on has its own variant, decided from
//! the server's `err_code` (never its description) or from our own validation; what the
//! layers below report is carried unchanged in the pass-through variants.

use crate::connection::RequestError;
use crate::jetstream::api::{ApiError, ResponseError};
use crate::jetstream::direct::DirectGetError;
use crate::jetstream::ordered::{OrderedConfigError, OrderedError};

use super::entry::Operation;
use super::names::{BucketNameError, KeyError};

/// Why a key-value operation failed.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum KvError {
    /// The bucket name is not valid.
    #[error("invalid bucket name {bucket:?}: {reason}")]
    InvalidBucket {
        /// The name given.
        bucket: String,
        /// What is wrong with it.
        reason: BucketNameError,
    },
    /// The key is not valid (or reserved, for a write).
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The key given.
        key: String,
        /// What is wrong with it.
        reason: KeyError,
    },
    /// The watch or list filter is not valid.
    #[error("invalid key filter {filter:?}: {reason}")]
    InvalidFilter {
        /// The filter given.
        filter: String,
        /// What is wrong with it.
        reason: KeyError,
    },
    /// Create found the key holding a value.
    #[error("key {key:?} already exists")]
    KeyExists {
        /// The key.
        key: String,
    },
    /// Update (or delete or purge with an expected revision) found another revision last.
    #[error("key {key:?} is not at revision {expected}")]
    WrongLastRevision {
        /// The key.
        key: String,
        /// The revision the write expected to be the key's last.
        expected: u64,
    },
    /// The key has never been written, or its history is gone.
    #[error("key {key:?} not found")]
    KeyNotFound {
        /// The key.
        key: String,
    },
    /// The key's latest entry is a deletion: to a get, the key does not exist.
    #[error("key {key:?} was deleted (revision {revision}, {operation:?})")]
    KeyDeleted {
        /// The key.
        key: String,
        /// The revision of the deletion.
        revision: u64,
        /// Delete or purge.
        operation: Operation,
    },
    /// The stream is not a key-value bucket's.
    #[error("stream {stream:?} is not a key-value bucket: {reason}")]
    BadBucket {
        /// The stream.
        stream: String,
        /// Why.
        reason: &'static str,
    },
    /// The bucket does not exist.
    #[error("bucket {bucket:?} not found")]
    BucketNotFound {
        /// The bucket.
        bucket: String,
    },
    /// A bucket of that name exists with another configuration.
    #[error("bucket {bucket:?} already exists with another configuration")]
    BucketExists {
        /// The bucket.
        bucket: String,
    },
    /// History must be 1 to 64 revisions per key.
    #[error("history {history} is out of range: a bucket keeps 1 to 64 revisions per key")]
    HistoryOutOfRange {
        /// The history asked for.
        history: u32,
    },
    /// Limit markers (per-key TTL) need JetStream API level 1 (server 2.11).
    #[error("limit markers need JetStream API level 1 or more; the server has {api_level}")]
    LimitMarkersUnsupported {
        /// The server's API level.
        api_level: u32,
    },
    /// A mirror bucket cannot have limit markers (the server refuses them on mirrors).
    #[error("a mirror bucket cannot have limit markers")]
    LimitMarkersOnMirror,
    /// Include-history and updates-only exclude each other.
    #[error("a watch cannot both include history and deliver updates only")]
    ConflictingWatchOptions,
    /// The server refused with an API error not listed above.
    #[error(transparent)]
    Api(ApiError),
    /// An API reply that is neither the expected body nor an error object.
    #[error(transparent)]
    Response(ResponseError),
    /// The request got no reply (no responders, timeout, disconnect).
    #[error(transparent)]
    Request(#[from] RequestError),
    /// A Direct Get failed in a way not listed above.
    #[error(transparent)]
    DirectGet(DirectGetError),
    /// The watcher's consumer options are invalid (a zero heartbeat).
    #[error(transparent)]
    ConsumerConfig(OrderedConfigError),
    /// The watcher's ordered consumer gave up.
    #[error(transparent)]
    Consumer(#[from] OrderedError),
    /// A message the bucket cannot have sent (a subject outside the bucket, bad headers).
    #[error("malformed key-value message: {0}")]
    Malformed(String),
}

impl KvError {
    /// Whether a get found no live value: the key is missing or its latest entry deletes it.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            KvError::KeyNotFound { .. } | KvError::KeyDeleted { .. }
        )
    }
}

impl From<ResponseError> for KvError {
    fn from(error: ResponseError) -> KvError {
        match error {
            ResponseError::Api(api) => KvError::Api(api),
            other => KvError::Response(other),
        }
    }
}
