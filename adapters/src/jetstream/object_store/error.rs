//! The one error of every object-store call: the core's [`ObjectStoreError`] (what the
//! bucket, the object or a check says), the JetStream call underneath, or the application's
//! reader.
//!
//! Invariant: a digest or size mismatch, a missing object and a sealed bucket are always
//! [`Error::ObjectStore`] with the core's typed variant, so the application matches one
//! variant per case.

use std::io;

use nats_sansio::connection::{RequestError, SubscribeError};
use nats_sansio::object_store::ObjectStoreError;

use crate::jetstream::JetStreamError;

/// Why an object-store call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// What the bucket or object says: not found, sealed, digest mismatch, ...
    #[error(transparent)]
    ObjectStore(#[from] ObjectStoreError),
    /// The JetStream call underneath failed (no responders, timeout, ...).
    #[error(transparent)]
    JetStream(#[from] JetStreamError),
    /// Reading the object to put failed; nothing was stored under the name.
    #[error("reading the object to put failed: {0}")]
    Read(#[source] io::Error),
}

impl Error {
    /// The object-store error, if this is one.
    pub fn object_store(&self) -> Option<&ObjectStoreError> {
        match self {
            Error::ObjectStore(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SubscribeError> for Error {
    fn from(e: SubscribeError) -> Error {
        Error::JetStream(e.into())
    }
}

impl From<RequestError> for Error {
    fn from(e: RequestError) -> Error {
        Error::ObjectStore(ObjectStoreError::Request(e))
    }
}

impl From<Error> for io::Error {
    /// For readers: a failed read of an object is an `io::Error` carrying this one
    /// (`InvalidData` for a digest or size mismatch).
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::ObjectStore(
                ObjectStoreError::DigestMismatch { .. } | ObjectStoreError::SizeMismatch { .. },
            ) => io::ErrorKind::InvalidData,
            Error::ObjectStore(ObjectStoreError::ObjectNotFound { .. }) => io::ErrorKind::NotFound,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}
