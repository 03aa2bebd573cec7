//! Object metadata as stored (spec §5.2): [`ObjectInfo`] is the JSON payload of the last
//! message on an object's meta subject; [`ObjectMeta`] is what a put or an update is given.
//!
//! Invariant: what is written is what nats.go writes: `name`, `description`, `headers`
//! (name → values), `metadata`, `options` (`link` {`bucket`, `name`}, `max_chunk_size`),
//! `bucket`, `nuid`, `size`, `mtime` (always the zero time `0001-01-01T00:00:00Z`), `chunks`,
//! `digest`, `deleted`; what is read accepts every record nats.go, nats.rs and nats.py write
//! (a bucket link's `name` missing, `null` or `""`, `null` maps, any stored `mtime`, unknown
//! keys), and a read's `mtime` is always the meta message's timestamp, never the stored one.
//! Every meta publish carries `Nats-Rollup: sub`, so a name keeps exactly one meta message.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::jetstream::api::DateTime;
use crate::jetstream::publish::{NATS_ROLLUP, ROLLUP_SUBJECT};
use crate::machine::Publish;
use crate::proto::HeaderMap;

use super::names::BucketSubjects;
use super::ObjectStoreError;

/// The chunk size of a put that does not set one: 128 KiB.
pub const DEFAULT_CHUNK_SIZE: u32 = 128 * 1024;

/// What a put or a metadata update is given about an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object's name (any non-empty string).
    pub name: String,
    /// Free text.
    pub description: String,
    /// Headers, name → values.
    pub headers: BTreeMap<String, Vec<String>>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// The size of each chunk a put cuts (default [`DEFAULT_CHUNK_SIZE`]).
    pub chunk_size: Option<u32>,
}

impl ObjectMeta {
    /// Metadata with only a name.
    pub fn new(name: impl Into<String>) -> ObjectMeta {
        ObjectMeta {
            name: name.into(),
            ..ObjectMeta::default()
        }
    }
}

impl From<&str> for ObjectMeta {
    /// The metadata of an object that has only a name.
    fn from(name: &str) -> ObjectMeta {
        ObjectMeta::new(name)
    }
}

impl From<String> for ObjectMeta {
    fn from(name: String) -> ObjectMeta {
        ObjectMeta::new(name)
    }
}

/// A link's target: an object (`name` set) or a whole bucket (`name` empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLink {
    /// The bucket linked to.
    #[serde(default, deserialize_with = "crate::jetstream::api::null_default")]
    pub bucket: String,
    /// The object linked to; empty for a bucket link (Go omits it, nats.rs writes `null`).
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "crate::jetstream::api::null_default"
    )]
    pub name: String,
}

impl ObjectLink {
    /// Whether this links a whole bucket rather than one object.
    pub fn is_bucket_link(&self) -> bool {
        self.name.is_empty()
    }
}

/// The `options` of an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectOptions {
    /// The link, if the object is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<ObjectLink>,
    /// The chunk size the object was cut into.
    #[serde(
        default,
        rename = "max_chunk_size",
        skip_serializing_if = "is_zero",
        deserialize_with = "crate::jetstream::api::null_default"
    )]
    pub max_chunk_size: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What the bucket stores about one object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    /// The object's name.
    pub name: String,
    /// Free text.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "crate::jetstream::api::null_default"
    )]
    pub description: String,
    /// Headers, name → values.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::jetstream::api::null_default"
    )]
    pub headers: BTreeMap<String, Vec<String>>,
    /// User metadata.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::jetstream::api::null_default"
    )]
    pub metadata: BTreeMap<String, String>,
    /// Link and chunk size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<ObjectOptions>,
    /// The bucket.
    #[serde(default, deserialize_with = "crate::jetstream::api::null_default")]
    pub bucket: String,
    /// The NUID of its chunk subject `$O.<bucket>.C.<nuid>`.
    #[serde(default, deserialize_with = "crate::jetstream::api::null_default")]
    pub nuid: String,
    /// Its size in bytes.
    #[serde(default, deserialize_with = "crate::jetstream::api::null_default")]
    pub size: u64,
    /// When its metadata was stored (read from the meta message; written as the zero time).
    #[serde(
        default,
        serialize_with = "write_zero_time",
        deserialize_with = "ignore_time"
    )]
    pub mtime: DateTime,
    /// How many chunks it was cut into.
    #[serde(default, deserialize_with = "crate::jetstream::api::null_default")]
    pub chunks: u64,
    /// `SHA-256=` and the padded URL-safe base64 of the SHA-256 of its bytes.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "crate::jetstream::api::null_default"
    )]
    pub digest: String,
    /// Whether it was deleted (its chunks purged, this record kept).
    #[serde(
        default,
        skip_serializing_if = "std::ops::Not::not",
        deserialize_with = "crate::jetstream::api::null_default"
    )]
    pub deleted: bool,
}

/// `mtime` is never stored meaningfully: nats.go writes the zero time; so do we.
fn write_zero_time<S: Serializer>(_: &DateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(crate::jetstream::api::GO_ZERO_TIME)
}

/// A stored `mtime` (any JSON value) is read and dropped: the message time replaces it.
fn ignore_time<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime, D::Error> {
    serde::de::IgnoredAny::deserialize(d)?;
    Ok(DateTime::default())
}

impl ObjectInfo {
    /// Reads a meta message's payload. `mtime` is left at the zero time for the caller to
    /// set from the message's timestamp.
    ///
    /// # Errors
    ///
    /// [`ObjectStoreError::BadMeta`] for JSON that is not an object record, or a record
    /// without a NUID (nats.go refuses those too).
    pub fn from_json(payload: &[u8]) -> Result<ObjectInfo, ObjectStoreError> {
        let info: ObjectInfo = serde_json::from_slice(payload)
            .map_err(|e| ObjectStoreError::BadMeta(format!("unreadable metadata: {e}")))?;
        if info.nuid.is_empty() {
            return Err(ObjectStoreError::BadMeta(format!(
                "object {:?} has no NUID",
                info.name
            )));
        }
        Ok(info)
    }

    /// The JSON payload of the meta message.
    pub fn to_json(&self) -> Vec<u8> {
        // Strings, numbers and maps of strings: serializing cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The link, if the object is one.
    pub fn link(&self) -> Option<&ObjectLink> {
        self.options.as_ref()?.link.as_ref()
    }

    /// Whether the object is a link (to an object or to a bucket).
    pub fn is_link(&self) -> bool {
        self.link().is_some()
    }

    /// The chunk size recorded (0 when the writer recorded none).
    pub fn chunk_size(&self) -> u32 {
        self.options.as_ref().map_or(0, |o| o.max_chunk_size)
    }

    /// The metadata part (name, description, headers, metadata, chunk size).
    pub fn meta(&self) -> ObjectMeta {
        ObjectMeta {
            name: self.name.clone(),
            description: self.description.clone(),
            headers: self.headers.clone(),
            metadata: self.metadata.clone(),
            chunk_size: Some(self.chunk_size()).filter(|c| *c > 0),
        }
    }

    /// The meta publish that stores this record under its name in `bucket`, with
    /// `Nats-Rollup: sub` (send it as a JetStream publish; its reply is a PubAck).
    ///
    /// # Errors
    ///
    /// [`ObjectStoreError::NameRequired`] for an empty name.
    pub fn publish(&self, bucket: &BucketSubjects) -> Result<Publish, ObjectStoreError> {
        let mut headers = HeaderMap::new();
        headers.insert(NATS_ROLLUP, ROLLUP_SUBJECT);
        Ok(Publish {
            subject: bucket.meta_subject(&self.name)?,
            reply: None,
            headers: Some(headers),
            payload: self.to_json().into(),
        })
    }
}

#[cfg(test)]
mod tests;
