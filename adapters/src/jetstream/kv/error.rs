//! The one error of every key-value call: the core's [`KvError`] (what the bucket, the key
//! or a condition says), or the JetStream call underneath that failed.
//!
//! Invariant: a failed condition is always [`KvError::KeyExists`] or
//! [`KvError::WrongLastRevision`] under [`Error::Kv`], never a raw API error, so a
//! compare-and-set loop matches one variant.

use nats_sansio::connection::{RequestError, SubscribeError};
use nats_sansio::kv::KvError;

use crate::jetstream::JetStreamError;

/// Why a key-value call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// What the bucket or key says: not found, deleted, exists, wrong revision, invalid
    /// name, ...
    #[error(transparent)]
    Kv(#[from] KvError),
    /// The JetStream call underneath failed (no responders, timeout, ...).
    #[error(transparent)]
    JetStream(#[from] JetStreamError),
}

impl Error {
    /// The key-value error, if this is one.
    pub fn kv(&self) -> Option<&KvError> {
        match self {
            Error::Kv(e) => Some(e),
            Error::JetStream(_) => None,
        }
    }

    /// The key (or the revision asked for) is not there, or was deleted.
    pub fn is_not_found(&self) -> bool {
        self.kv().is_some_and(KvError::is_not_found)
    }
}

impl From<SubscribeError> for Error {
    fn from(e: SubscribeError) -> Error {
        Error::JetStream(e.into())
    }
}

impl From<RequestError> for Error {
    fn from(e: RequestError) -> Error {
        Error::Kv(KvError::Request(e))
    }
}
