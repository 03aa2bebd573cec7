//! The one-shot operations on object records (spec §5.3): delete, metadata update and
//! rename, links to objects and to buckets; each as the records to publish and the purges to
//! send, decided from what the name (and the target name) holds now, and what their replies
//! mean.
//!
//! Invariant: every record published here is a whole record with `Nats-Rollup: sub` (so its
//! name keeps one), carries a NUID, and is refused before anything is sent when the rules
//! say so: no update of a deleted object, no rename onto a live object, no link to a link, a
//! deleted object or an unnamed one, and no link over a regular object, deleted or not
//! (nats.go's rule, spec §5.3). A deletion keeps the record (deleted, no size, no chunks, no
//! digest) and purges the chunks only after the record is stored, so a failed delete never
//! leaves a record pointing at purged chunks.

use bytes::Bytes;

use crate::connection::RequestError;
use crate::jetstream::api::{parse_response, PubAck, PurgeResponse};
use crate::jetstream::publish::PublishFailure;
use crate::machine::Publish;
use crate::proto::Message;

use super::info::{ObjectInfo, ObjectLink, ObjectMeta, ObjectOptions};
use super::names::{validate_nuid, BucketSubjects};
use super::ObjectStoreError;

/// A `STREAM.PURGE` request: where to send it and its body.
pub type PurgeCall = (String, Bytes);

/// A delete: first publish `record`, then (once it is acknowledged) send `purge`.
#[derive(Debug, Clone, PartialEq)]
pub struct Delete {
    /// The record marking the object deleted.
    pub record: Publish,
    /// The purge of its chunks.
    pub purge: PurgeCall,
}

/// The delete of the object `current` (what a lookup of its name returned, deleted or
/// not): `None` when it is already deleted (nothing to do).
///
/// ```
/// use nats_sansio::jetstream::api::ApiPrefix;
/// use nats_sansio::object_store::{ops, BucketSubjects, ObjectInfo};
///
/// let bucket = BucketSubjects::new("files", &ApiPrefix::default()).unwrap();
/// let info = ObjectInfo { name: "a".into(), bucket: "files".into(), nuid: "N".into(),
///     size: 5, chunks: 1, digest: "SHA-256=x".into(), ..ObjectInfo::default() };
/// let delete = ops::delete(&bucket, &info).unwrap().unwrap();
/// let record: serde_json::Value = serde_json::from_slice(&delete.record.payload).unwrap();
/// assert_eq!((record["deleted"].as_bool(), record["size"].as_u64()), (Some(true), Some(0)));
/// assert_eq!(delete.purge.1, r#"{"filter":"$O.files.C.N"}"#);
/// ```
///
/// # Errors
///
/// [`ObjectStoreError::NameRequired`] for a record without a name.
pub fn delete(
    bucket: &BucketSubjects,
    current: &ObjectInfo,
) -> Result<Option<Delete>, ObjectStoreError> {
    if current.deleted {
        return Ok(None);
    }
    let record = ObjectInfo {
        deleted: true,
        size: 0,
        chunks: 0,
        digest: String::new(),
        ..current.clone()
    };
    Ok(Some(Delete {
        record: record.publish(bucket)?,
        purge: bucket.purge(&bucket.chunk_subject(&current.nuid))?,
    }))
}

/// A metadata update: publish `record`, then (once acknowledged, for a rename) send
/// `purge_old`, which removes the old name's record.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The record under the (new) name.
    pub record: Publish,
    /// A rename: the purge of the old name's meta subject.
    pub purge_old: Option<PurgeCall>,
}

/// The update of `current` (the object's record) to `meta`'s name, description, headers and
/// metadata (its chunks, digest, link and chunk size are kept). `at_new_name` is what a
/// lookup of the new name returned, for a rename.
///
/// # Errors
///
/// [`ObjectStoreError::ObjectDeleted`] for a deleted object,
/// [`ObjectStoreError::ObjectExists`] for a rename onto a live object,
/// [`ObjectStoreError::NameRequired`].
pub fn update_meta(
    bucket: &BucketSubjects,
    current: &ObjectInfo,
    meta: &ObjectMeta,
    at_new_name: Option<&ObjectInfo>,
) -> Result<Update, ObjectStoreError> {
    if current.deleted {
        return Err(ObjectStoreError::ObjectDeleted {
            name: current.name.clone(),
        });
    }
    let rename = meta.name != current.name;
    if rename && at_new_name.is_some_and(|existing| !existing.deleted) {
        return Err(ObjectStoreError::ObjectExists {
            name: meta.name.clone(),
        });
    }
    let record = ObjectInfo {
        name: meta.name.clone(),
        description: meta.description.clone(),
        headers: meta.headers.clone(),
        metadata: meta.metadata.clone(),
        ..current.clone()
    };
    let purge_old = if rename {
        Some(bucket.purge(&bucket.meta_subject(&current.name)?)?)
    } else {
        None
    };
    Ok(Update {
        record: record.publish(bucket)?,
        purge_old,
    })
}

/// The record of a link named `name` to the object `target` (what a lookup of it returned),
/// with `nuid` (a fresh NUID). `existing` is what a lookup of `name` in this bucket returned.
///
/// # Errors
///
/// [`ObjectStoreError::NameRequired`]; [`ObjectStoreError::BadLinkTarget`] for a target
/// without a name, deleted, or itself a link; [`ObjectStoreError::ObjectExists`] when `name`
/// holds a regular object (deleted or not); [`ObjectStoreError::InvalidNuid`].
pub fn add_link(
    bucket: &BucketSubjects,
    name: &str,
    target: &ObjectInfo,
    existing: Option<&ObjectInfo>,
    nuid: &str,
) -> Result<Publish, ObjectStoreError> {
    let bad = |reason| ObjectStoreError::BadLinkTarget {
        name: target.name.clone(),
        reason,
    };
    if target.name.is_empty() {
        return Err(bad("the target has no name"));
    }
    if target.deleted {
        return Err(bad("the target is deleted"));
    }
    if target.is_link() {
        return Err(bad("the target is itself a link"));
    }
    link_record(
        bucket,
        name,
        ObjectLink {
            bucket: target.bucket.clone(),
            name: target.name.clone(),
        },
        existing,
        nuid,
    )
}

/// The record of a link named `name` to the whole bucket `target_bucket`.
///
/// # Errors
///
/// As [`add_link`], and [`ObjectStoreError::InvalidBucket`] for the target bucket.
pub fn add_bucket_link(
    bucket: &BucketSubjects,
    name: &str,
    target_bucket: &str,
    existing: Option<&ObjectInfo>,
    nuid: &str,
) -> Result<Publish, ObjectStoreError> {
    super::names::validate_bucket(target_bucket)?;
    link_record(
        bucket,
        name,
        ObjectLink {
            bucket: target_bucket.to_owned(),
            name: String::new(),
        },
        existing,
        nuid,
    )
}

fn link_record(
    bucket: &BucketSubjects,
    name: &str,
    link: ObjectLink,
    existing: Option<&ObjectInfo>,
    nuid: &str,
) -> Result<Publish, ObjectStoreError> {
    if name.is_empty() {
        return Err(ObjectStoreError::NameRequired);
    }
    validate_nuid(nuid)?;
    if existing.is_some_and(|e| !e.is_link()) {
        return Err(ObjectStoreError::ObjectExists {
            name: name.to_owned(),
        });
    }
    ObjectInfo {
        name: name.to_owned(),
        bucket: bucket.bucket().to_owned(),
        nuid: nuid.to_owned(),
        options: Some(ObjectOptions {
            link: Some(link),
            max_chunk_size: 0,
        }),
        ..ObjectInfo::default()
    }
    .publish(bucket)
}

/// What a record publish's outcome (the ack, or why it failed for good) means: the record's
/// stream sequence, or a typed error (10109: [`ObjectStoreError::BucketSealed`]).
///
/// # Errors
///
/// The typed refusal, or the request's or response's error.
pub fn publish_outcome(
    bucket: &BucketSubjects,
    result: Result<PubAck, PublishFailure>,
) -> Result<u64, ObjectStoreError> {
    match result {
        Ok(ack) => Ok(ack.seq),
        Err(PublishFailure::Request(e)) => Err(ObjectStoreError::Request(e)),
        Err(PublishFailure::Response(e)) => {
            Err(ObjectStoreError::from_response(bucket.bucket(), e))
        }
    }
}

/// What a purge's reply means: how many messages went, or a typed error.
///
/// # Errors
///
/// [`ObjectStoreError::BucketSealed`] (10109), the request's or response's error, or
/// [`ObjectStoreError::Malformed`] for a purge that says it did not succeed.
pub fn purge_outcome(
    bucket: &BucketSubjects,
    reply: Result<Message, RequestError>,
) -> Result<u64, ObjectStoreError> {
    let message = reply?;
    match parse_response::<PurgeResponse>(&message.payload) {
        Ok(r) if r.success => Ok(r.purged),
        Ok(_) => Err(ObjectStoreError::Malformed("purge did not succeed".into())),
        Err(e) => Err(ObjectStoreError::from_response(bucket.bucket(), e)),
    }
}

#[cfg(test)]
mod tests;
