//! The one error type of the object store.
//!
//! Invariant: every refusal the application can act on has its own variant, decided from
//! the server's `err_code` (never its description) or from our own checks; a corrupt or
//! incomplete read names what was expected and what was found; what the layers below report
//! is carried unchanged in the pass-through variants.

use crate::connection::RequestError;
use crate::jetstream::api::{ApiError, ApiErrorKind, ResponseError};
use crate::jetstream::bucket::BucketNameError;
use crate::jetstream::direct::DirectGetError;
use crate::jetstream::ordered::{OrderedConfigError, OrderedError};

/// Why an object-store operation failed.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ObjectStoreError {
    /// The bucket name is not valid.
    #[error("invalid bucket name {bucket:?}: {reason}")]
    InvalidBucket {
        /// The name given.
        bucket: String,
        /// What is wrong with it.
        reason: BucketNameError,
    },
    /// An object name is required (it was empty).
    #[error("an object name is required")]
    NameRequired,
    /// The NUID given to a put or a link is not a valid subject token.
    #[error("invalid NUID {0:?}: a NUID is one or more of A-Z a-z 0-9 _ -")]
    InvalidNuid(String),
    /// A chunk size or window of zero.
    #[error("invalid put options: {0}")]
    InvalidOptions(&'static str),
    /// The stream is not an object store bucket's.
    #[error("stream {stream:?} is not an object store bucket: {reason}")]
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
    /// The bucket is sealed: nothing can be written, deleted or purged (10109).
    #[error("bucket {bucket:?} is sealed")]
    BucketSealed {
        /// The bucket.
        bucket: String,
    },
    /// No object of that name (or it is deleted).
    #[error("object {name:?} not found in bucket {bucket:?}")]
    ObjectNotFound {
        /// The bucket.
        bucket: String,
        /// The object name.
        name: String,
    },
    /// A live object (not a link) already has that name: a rename or a link cannot replace it.
    #[error("object {name:?} already exists")]
    ObjectExists {
        /// The object name.
        name: String,
    },
    /// The object is deleted: its metadata cannot be updated.
    #[error("object {name:?} is deleted")]
    ObjectDeleted {
        /// The object name.
        name: String,
    },
    /// The stored metadata cannot be used (no NUID, unreadable JSON, a link with no bucket).
    #[error("bad object metadata: {0}")]
    BadMeta(String),
    /// The object is a link to a whole bucket: there are no bytes to read.
    #[error("object {name:?} links to bucket {bucket:?}; a bucket link cannot be read")]
    BucketLink {
        /// The link's name.
        name: String,
        /// The bucket it links to.
        bucket: String,
    },
    /// A link target that is itself a link, deleted, or unnamed.
    #[error("cannot link to {name:?}: {reason}")]
    BadLinkTarget {
        /// The target's name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// Links lead to links more than [`MAX_LINK_HOPS`](super::get::MAX_LINK_HOPS) times.
    #[error("too many links followed from {name:?}")]
    TooManyLinks {
        /// The object first asked for.
        name: String,
    },
    /// The bytes read do not hash to the digest the metadata names.
    #[error("digest mismatch for {name:?}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The object.
        name: String,
        /// The digest in the metadata.
        expected: String,
        /// The digest of the bytes read.
        actual: String,
    },
    /// Fewer (or more) chunks or bytes than the metadata says.
    #[error(
        "object {name:?} is incomplete: expected {expected_chunks} chunks of {expected_size} \
         bytes in all, read {chunks} chunks of {size} bytes"
    )]
    SizeMismatch {
        /// The object.
        name: String,
        /// Chunks the metadata names.
        expected_chunks: u64,
        /// Bytes the metadata names.
        expected_size: u64,
        /// Chunks read.
        chunks: u64,
        /// Bytes read.
        size: u64,
    },
    /// The stream stored a put's chunks out of their order (a chunk refused and retried after
    /// a later one was stored): the put was undone.
    #[error("chunk {chunk} was stored out of order; the put was undone")]
    ChunkOutOfOrder {
        /// The chunk (0-based) stored before one that precedes it.
        chunk: u64,
    },
    /// A put's metadata was sent but its acknowledgement never came: the object may or may not
    /// have been replaced. Its chunks are kept, so whichever object is stored is whole.
    #[error("the metadata of {name:?} was sent but not acknowledged: {cause}")]
    MetaUnacknowledged {
        /// The object.
        name: String,
        /// Why no acknowledgement came.
        cause: RequestError,
    },
    /// The cleanup after a failed put (purging its chunks) failed too: the chunks remain,
    /// unreachable, on this subject.
    #[error("chunks left on {subject:?} after a failed put: {cause}")]
    CleanupFailed {
        /// The chunk subject.
        subject: String,
        /// Why the purge failed.
        cause: Box<ObjectStoreError>,
    },
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
    /// The reader's consumer options are invalid.
    #[error(transparent)]
    ConsumerConfig(OrderedConfigError),
    /// The reader's ordered consumer gave up.
    #[error(transparent)]
    Consumer(#[from] OrderedError),
    /// A message the bucket cannot have sent (a subject outside the bucket, bad headers).
    #[error("malformed object store message: {0}")]
    Malformed(String),
}

impl ObjectStoreError {
    /// Whether the object (or bucket) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            ObjectStoreError::ObjectNotFound { .. } | ObjectStoreError::BucketNotFound { .. }
        )
    }

    /// The error an API refusal means for `bucket`: 10109 is [`BucketSealed`], 10059
    /// [`BucketNotFound`], anything else passes through.
    ///
    /// [`BucketSealed`]: ObjectStoreError::BucketSealed
    /// [`BucketNotFound`]: ObjectStoreError::BucketNotFound
    pub fn from_api(bucket: &str, error: ApiError) -> ObjectStoreError {
        match error.kind() {
            ApiErrorKind::StreamSealed => ObjectStoreError::BucketSealed {
                bucket: bucket.to_owned(),
            },
            ApiErrorKind::StreamNotFound => ObjectStoreError::BucketNotFound {
                bucket: bucket.to_owned(),
            },
            _ => ObjectStoreError::Api(error),
        }
    }

    /// As [`from_api`](Self::from_api), for any response error.
    pub fn from_response(bucket: &str, error: ResponseError) -> ObjectStoreError {
        match error {
            ResponseError::Api(api) => ObjectStoreError::from_api(bucket, api),
            other => ObjectStoreError::Response(other),
        }
    }
}
