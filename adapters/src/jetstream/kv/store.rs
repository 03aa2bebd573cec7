//! A bucket handle: gets, writes, status, and the key listings and watches of `watch.rs`.
//!
//! Invariant: every write is one JetStream publish whose ack the core turns into a revision
//! or a typed error; only `create` may send a second (the core's one retry over a delete
//! marker); every get is one request (Direct Get when the bucket allows it).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_lite::StreamExt;
use nats_sansio::connection::RequestError;
use nats_sansio::jetstream::api::{PurgeResponse, StreamInfo};
use nats_sansio::kv::purge::{purge_deletes, MarkerAge};
use nats_sansio::kv::{BucketSubjects, Entry, Get, KvError, Status, WatchConfig, Write};
use nats_sansio::proto::Message;

use super::error::Error;
use crate::jetstream::{Context, JetStreamError};
use crate::Request;

/// A key-value bucket (async-nats's `kv::Store`). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub(super) context: Context,
    pub(super) bucket: BucketSubjects,
}

impl Store {
    /// The bucket's name.
    pub fn name(&self) -> &str {
        self.bucket.bucket()
    }

    /// The bucket's status: values, bytes, history, TTL, configuration, and the backing
    /// stream's info.
    pub async fn status(&self) -> Result<Status, Error> {
        let info: StreamInfo = self.context.stream_info(self.bucket.stream()).await?;
        Ok(Status::from_info(info)?)
    }

    /// The key's value, or `None` when it has none (never written, deleted or purged).
    pub async fn get(&self, key: impl AsRef<str>) -> Result<Option<Bytes>, Error> {
        let (get, reply) = self.ask(key.as_ref(), None).await?;
        match get.value(&self.bucket, reply) {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The key's latest entry, deletions included (their `operation` says so), or `None`
    /// when it was never written (or its history expired).
    pub async fn entry(&self, key: impl AsRef<str>) -> Result<Option<Entry>, Error> {
        found(self.read(key.as_ref(), None).await)
    }

    /// The key's entry at `revision`, or `None` when that revision is not one of this
    /// key's (another key's, or no longer kept).
    pub async fn entry_for_revision(
        &self,
        key: impl AsRef<str>,
        revision: u64,
    ) -> Result<Option<Entry>, Error> {
        found(self.read(key.as_ref(), Some(revision)).await)
    }

    /// Writes `value`, whatever the key holds; returns the new revision.
    pub async fn put(&self, key: impl AsRef<str>, value: Bytes) -> Result<u64, Error> {
        self.write(key.as_ref(), &Write::Put(value)).await
    }

    /// Writes `value` only if the key has no value (never written, or its last entry is a
    /// deletion); otherwise [`KvError::KeyExists`].
    pub async fn create(&self, key: impl AsRef<str>, value: Bytes) -> Result<u64, Error> {
        self.create_inner(key.as_ref(), value, None).await
    }

    /// As [`create`](Self::create), and the entry expires after `ttl` (the bucket needs
    /// limit markers; the server then leaves a marker where it expired).
    pub async fn create_with_ttl(
        &self,
        key: impl AsRef<str>,
        value: Bytes,
        ttl: Duration,
    ) -> Result<u64, Error> {
        self.create_inner(key.as_ref(), value, Some(ttl)).await
    }

    /// Writes `value` only if the key's last entry is at `revision` (compare-and-set);
    /// otherwise [`KvError::WrongLastRevision`].
    pub async fn update(
        &self,
        key: impl AsRef<str>,
        value: Bytes,
        revision: u64,
    ) -> Result<u64, Error> {
        self.write(key.as_ref(), &Write::Update { value, revision })
            .await
    }

    /// Deletes the key, keeping its history (a `Delete` entry).
    pub async fn delete(&self, key: impl AsRef<str>) -> Result<(), Error> {
        self.delete_expect_revision(key, None).await
    }

    /// Deletes the key only if its last entry is at `revision` (when given).
    pub async fn delete_expect_revision(
        &self,
        key: impl AsRef<str>,
        revision: Option<u64>,
    ) -> Result<(), Error> {
        self.write(key.as_ref(), &Write::Delete { revision })
            .await
            .map(drop)
    }

    /// Purges the key: a `Purge` entry replaces its whole history.
    pub async fn purge(&self, key: impl AsRef<str>) -> Result<(), Error> {
        self.purge_expect_revision(key, None).await
    }

    /// Purges the key only if its last entry is at `revision` (when given).
    pub async fn purge_expect_revision(
        &self,
        key: impl AsRef<str>,
        revision: Option<u64>,
    ) -> Result<(), Error> {
        let purge = Write::Purge {
            revision,
            ttl: None,
        };
        self.write(key.as_ref(), &purge).await.map(drop)
    }

    /// Purges the key with a marker that itself expires after `ttl` (limit markers).
    pub async fn purge_with_ttl(&self, key: impl AsRef<str>, ttl: Duration) -> Result<(), Error> {
        let purge = Write::Purge {
            revision: None,
            ttl: Some(ttl),
        };
        self.write(key.as_ref(), &purge).await.map(drop)
    }

    /// Drops old delete and purge markers (nats.go's `PurgeDeletes`): every deleted key's
    /// history goes, and its marker too unless it is younger than `age` says (by default
    /// 30 minutes), so watchers that have not seen a recent deletion still will.
    pub async fn purge_deletes(&self, age: MarkerAge) -> Result<(), Error> {
        let snapshot = WatchConfig {
            finish_at_caught_up: true,
            ..WatchConfig::all()
        };
        let entries: Vec<Entry> = self.watch_with(snapshot).await?.try_collect().await?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as i128);
        let subject = self
            .context
            .prefix()
            .stream_purge(self.bucket.stream())
            .map_err(JetStreamError::from)?;
        for request in purge_deletes(&self.bucket, &entries, now, age)? {
            let _: PurgeResponse = self
                .context
                .api_request(subject.clone(), Some(&request))
                .await?;
        }
        Ok(())
    }

    /// A create, and the core's one retry when the key's last entry is a deletion.
    async fn create_inner(
        &self,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<u64, Error> {
        let create = Write::Create { value, ttl };
        let first = self.write(key, &create).await;
        if !matches!(first, Err(Error::Kv(KvError::KeyExists { .. }))) {
            return first;
        }
        let latest = match self.read(key, None).await {
            Ok(entry) => Ok(entry),
            Err(Error::Kv(e)) => Err(e),
            Err(other) => return Err(other),
        };
        match create.retry_create(&latest) {
            Some(retry) => self.write(key, &retry).await,
            None => first,
        }
    }

    /// One write: the core's publish, its ack read by the core.
    async fn write(&self, key: &str, write: &Write) -> Result<u64, Error> {
        let publish = write.publish(&self.bucket, key)?;
        let acked = self
            .context
            .publish_with_headers(
                publish.subject,
                publish.headers.unwrap_or_default(),
                publish.payload,
            )
            .await?
            .await;
        let outcome = match acked {
            Ok(ack) => Ok(ack),
            Err(e) => Err(e.into_publish_failure()?),
        };
        Ok(write.outcome(key, outcome)?)
    }

    /// One get: the key's latest entry or the one at `revision`, deletions included.
    async fn read(&self, key: &str, revision: Option<u64>) -> Result<Entry, Error> {
        let (get, reply) = self.ask(key, revision).await?;
        Ok(get.entry(&self.bucket, reply)?)
    }

    /// Sends the get of `key` (at `revision`) and waits for its reply.
    async fn ask(
        &self,
        key: &str,
        revision: Option<u64>,
    ) -> Result<(Get, Result<Message, RequestError>), Error> {
        let get = Get::new(&self.bucket, key, revision)?;
        let request = Request::new()
            .payload(get.payload.clone())
            .timeout(self.context.timeout());
        let reply = self
            .context
            .client()
            .send_request(get.subject(), request)
            .await;
        Ok((get, reply))
    }
}

/// A missing entry as `None`; every other error stays one.
fn found(read: Result<Entry, Error>) -> Result<Option<Entry>, Error> {
    match read {
        Ok(entry) => Ok(Some(entry)),
        Err(Error::Kv(KvError::KeyNotFound { .. })) => Ok(None),
        Err(e) => Err(e),
    }
}
