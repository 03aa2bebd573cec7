//! An object-store bucket handle: object records (info, delete, metadata, links), listing
//! and watching, and the bucket's status and seal. Puts and gets are in `put.rs` and
//! `get.rs`.
//!
//! Invariant: every change is decided by the core's `ops` from what the name holds now (one
//! lookup first), published with its acknowledgement awaited, and only then followed by the
//! purge it needs, so a failure never leaves a record pointing at purged chunks.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use futures_lite::Stream;
use nats_sansio::jetstream::api::StreamInfo;
use nats_sansio::machine::Publish;
use nats_sansio::object_store::config::seal_request;
use nats_sansio::object_store::{
    ops, BucketSubjects, InfoGet, ObjectInfo, ObjectMeta, ObjectStoreError, Status, WatchConfig,
    WatchItem,
};

use super::error::Error;
use crate::jetstream::Context;
use crate::machine_stream::MachineStream;
use crate::Request;

/// An object-store bucket (async-nats's `ObjectStore`). Cheap to clone.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    pub(super) context: Context,
    pub(super) bucket: BucketSubjects,
}

impl ObjectStore {
    /// The bucket's name.
    pub fn name(&self) -> &str {
        self.bucket.bucket()
    }

    /// The bucket's status: description, TTL, storage, replicas, sealed, size, ...
    pub async fn status(&self) -> Result<Status, Error> {
        let info: StreamInfo = self.context.stream_info(self.bucket.stream()).await?;
        Ok(Status::from_info(info)?)
    }

    /// Seals the bucket: from now on nothing can be put, changed or deleted in it (the
    /// server refuses with [`ObjectStoreError::BucketSealed`]). There is no unseal.
    pub async fn seal(&self) -> Result<Status, Error> {
        let current = self.context.stream_info(self.bucket.stream()).await?;
        let info = self
            .context
            .update_stream(seal_request(&current.config).config)
            .await?;
        Ok(Status::from_info(info)?)
    }

    /// The record of the object `name` (a deleted object is
    /// [`ObjectStoreError::ObjectNotFound`]). A link's record is the link's, not its
    /// target's.
    pub async fn info(&self, name: impl AsRef<str>) -> Result<ObjectInfo, Error> {
        let lookup = InfoGet::new(&self.bucket, name.as_ref())?;
        let reply = self.request(&lookup.subject, lookup.payload.clone()).await;
        Ok(lookup.live_info(reply)?)
    }

    /// Deletes the object: its record is kept, marked deleted, and its chunks are purged.
    /// Deleting a deleted object does nothing; a missing one is
    /// [`ObjectStoreError::ObjectNotFound`].
    pub async fn delete(&self, name: impl AsRef<str>) -> Result<(), Error> {
        let current = self.lookup(name.as_ref()).await?;
        let Some(delete) = ops::delete(&self.bucket, &current)? else {
            return Ok(());
        };
        self.publish_record(delete.record).await?;
        self.purge(delete.purge).await
    }

    /// Changes the object's name, description, headers or metadata (its bytes stay). A new
    /// name must not hold a live object ([`ObjectStoreError::ObjectExists`]).
    pub async fn update_metadata(
        &self,
        name: impl AsRef<str>,
        meta: impl Into<ObjectMeta>,
    ) -> Result<ObjectInfo, Error> {
        let meta = meta.into();
        let current = self.lookup(name.as_ref()).await?;
        let at_new_name = if meta.name == current.name {
            None
        } else {
            self.existing(&meta.name).await?
        };
        let update = ops::update_meta(&self.bucket, &current, &meta, at_new_name.as_ref())?;
        let record = self.publish_record(update.record).await?;
        if let Some(purge) = update.purge_old {
            self.purge(purge).await?;
        }
        Ok(record)
    }

    /// Adds `name` as a link to the object `target` (a record from this bucket or another):
    /// reading `name` reads the target. It may replace a link, never an object.
    pub async fn add_link(
        &self,
        name: impl AsRef<str>,
        target: &ObjectInfo,
    ) -> Result<ObjectInfo, Error> {
        let name = name.as_ref();
        let existing = self.existing(name).await?;
        let record = ops::add_link(&self.bucket, name, target, existing.as_ref(), &nuid())?;
        self.publish_record(record).await
    }

    /// Adds `name` as a link to the whole bucket `bucket`.
    pub async fn add_bucket_link(
        &self,
        name: impl AsRef<str>,
        bucket: impl AsRef<str>,
    ) -> Result<ObjectInfo, Error> {
        let name = name.as_ref();
        let existing = self.existing(name).await?;
        let record = ops::add_bucket_link(
            &self.bucket,
            name,
            bucket.as_ref(),
            existing.as_ref(),
            &nuid(),
        )?;
        self.publish_record(record).await
    }

    /// The records of every object (links included, deleted objects left out), each once;
    /// the stream ends after the last.
    pub async fn list(&self) -> Result<List, Error> {
        Ok(List {
            inner: self.watch_with(WatchConfig::list()).await?.inner,
        })
    }

    /// Changes to the bucket's records made after the watch starts (puts, deletions,
    /// metadata updates): async-nats's `watch`. Never ends by itself.
    pub async fn watch(&self) -> Result<Watch, Error> {
        let config = WatchConfig {
            updates_only: true,
            ..WatchConfig::all()
        };
        self.watch_with(config).await
    }

    /// Each object's latest record first, then every change: async-nats's
    /// `watch_with_history` and nats.go's `Watch`. Every kept record first instead is
    /// `watch_with(WatchConfig { include_history: true, .. })`.
    pub async fn watch_with_history(&self) -> Result<Watch, Error> {
        self.watch_with(WatchConfig::all()).await
    }

    /// A watch with every option of [`WatchConfig`]; its defaults are nats.go's: each
    /// object's latest record first, then every change.
    pub async fn watch_with(&self, config: WatchConfig) -> Result<Watch, Error> {
        let client = self.context.client().clone();
        let now = client.shared_state().runtime.now();
        let inbox = client.new_inbox();
        let machine = nats_sansio::object_store::Watch::new(now, &self.bucket, &inbox, config)?;
        let inner = MachineStream::start(client, machine, self.context.timeout()).await?;
        Ok(Watch { inner })
    }

    /// What `name` holds now, deleted objects included.
    pub(super) async fn lookup(&self, name: &str) -> Result<ObjectInfo, Error> {
        let lookup = InfoGet::new(&self.bucket, name)?;
        let reply = self.request(&lookup.subject, lookup.payload.clone()).await;
        Ok(lookup.info(reply)?)
    }

    /// What `name` holds now, or `None`.
    async fn existing(&self, name: &str) -> Result<Option<ObjectInfo>, Error> {
        match self.lookup(name).await {
            Ok(info) => Ok(Some(info)),
            Err(Error::ObjectStore(ObjectStoreError::ObjectNotFound { .. })) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Publishes a record and awaits its acknowledgement; the record as stored.
    async fn publish_record(&self, record: Publish) -> Result<ObjectInfo, Error> {
        let mut info = ObjectInfo::from_json(&record.payload)?;
        let acked = self
            .context
            .publish_with_headers(
                record.subject,
                record.headers.unwrap_or_default(),
                record.payload,
            )
            .await?
            .await;
        let outcome = match acked {
            Ok(ack) => Ok(ack),
            Err(e) => Err(e.into_publish_failure().map_err(Error::JetStream)?),
        };
        ops::publish_outcome(&self.bucket, outcome)?;
        info.mtime = now_utc();
        Ok(info)
    }

    async fn purge(&self, (subject, body): ops::PurgeCall) -> Result<(), Error> {
        let reply = self.request(&subject, body).await;
        ops::purge_outcome(&self.bucket, reply)?;
        Ok(())
    }

    async fn request(
        &self,
        subject: &str,
        payload: Bytes,
    ) -> Result<nats_sansio::proto::Message, nats_sansio::connection::RequestError> {
        let request = Request::new()
            .payload(payload)
            .timeout(self.context.timeout());
        self.context.client().send_request(subject, request).await
    }
}

/// A fresh NUID for a put's chunks or a link's record.
pub(super) fn nuid() -> String {
    nuid::next().to_string()
}

/// Now as the record of a put or a change reports it (the stored record keeps the zero
/// time; a read takes the time from the stored message).
pub(super) fn now_utc() -> nats_sansio::jetstream::api::DateTime {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as i128);
    nats_sansio::jetstream::api::DateTime::from_unix_nanos(nanos).unwrap_or_default()
}

/// Changes to a bucket's records ([`ObjectStore::watch`]).
#[derive(Debug)]
pub struct Watch {
    inner: MachineStream<nats_sansio::object_store::Watch, Error>,
}

impl Stream for Watch {
    type Item = Result<ObjectInfo, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        poll_record(&mut self.inner, cx)
    }
}

/// The records of a bucket's objects ([`ObjectStore::list`]); ends after the last.
#[derive(Debug)]
pub struct List {
    inner: MachineStream<nats_sansio::object_store::Watch, Error>,
}

impl Stream for List {
    type Item = Result<ObjectInfo, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        poll_record(&mut self.inner, cx)
    }
}

/// The next record, past the caught-up marker.
fn poll_record(
    inner: &mut MachineStream<nats_sansio::object_store::Watch, Error>,
    cx: &mut TaskContext<'_>,
) -> Poll<Option<Result<ObjectInfo, Error>>> {
    loop {
        return Poll::Ready(match inner.poll_item(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(Ok(WatchItem::CaughtUp))) => continue,
            Poll::Ready(Some(Ok(WatchItem::Entry(info)))) => Some(Ok(info)),
            Poll::Ready(Some(Err(e))) => Some(Err(e)),
            Poll::Ready(None) => None,
        });
    }
}
