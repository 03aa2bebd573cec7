//! Buckets on the JetStream context: create, update, create-or-update, bind, delete, and
//! the listings of names and statuses (paged as the streams listing is).
//!
//! Invariant: a bucket's stream config is always the core's (`Config::stream_config`, and
//! `update_stream_config` on an update, so limit markers are never turned off), and a
//! [`Store`] is only ever bound from the stream's own config, so a mirror's handle writes to
//! its origin.

use nats_sansio::jetstream::api::{ApiErrorKind, StreamConfig, StreamInfo, StreamListResponse};
use nats_sansio::kv::config::{update_instead_of_create, update_stream_config};
use nats_sansio::kv::names::{bucket_of_stream, stream_name, validate_bucket};
use nats_sansio::kv::status::list_request;
use nats_sansio::kv::{BucketSubjects, Config, KvError, Status};

use super::error::Error;
use super::store::Store;
use crate::jetstream::{Context, JetStreamError, Listing, Pages};

impl Context {
    /// Creates the bucket (async-nats's `create_key_value`). A bucket of that name with the
    /// same configuration is bound as it is; one with another configuration is
    /// [`KvError::BucketExists`] (except a bucket from before server 2.9 that differs only
    /// in what newer servers need, which is updated, as nats.go does).
    pub async fn create_key_value(&self, config: Config) -> Result<Store, Error> {
        let wanted = self.bucket_stream_config(&config).await?;
        match self.create_stream(wanted.clone()).await {
            Ok(stream) => self.bind_key_value(&stream.cached_info().config),
            Err(e) if e.api_kind() == Some(ApiErrorKind::StreamNameInUse) => {
                let existing = self.stream_info(&wanted.name).await?;
                if !update_instead_of_create(&existing.config, &wanted) {
                    return Err(KvError::BucketExists {
                        bucket: config.bucket,
                    }
                    .into());
                }
                let updated = update_stream_config(&existing.config, wanted);
                let info = self.update_stream(updated).await?;
                self.bind_key_value(&info.config)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Changes an existing bucket's configuration; [`KvError::BucketNotFound`] when there
    /// is none. Limit markers, once on, stay on.
    pub async fn update_key_value(&self, config: Config) -> Result<Store, Error> {
        let existing = self.bucket_info(&config.bucket).await?;
        let wanted = self.bucket_stream_config(&config).await?;
        let info = self
            .update_stream(update_stream_config(&existing.config, wanted))
            .await?;
        self.bind_key_value(&info.config)
    }

    /// Creates the bucket, or changes its configuration if it exists.
    pub async fn create_or_update_key_value(&self, config: Config) -> Result<Store, Error> {
        match self.update_key_value(config.clone()).await {
            Err(Error::Kv(KvError::BucketNotFound { .. })) => self.create_key_value(config).await,
            other => other,
        }
    }

    /// The bucket `bucket` (async-nats's `get_key_value`); [`KvError::BucketNotFound`]
    /// when there is none, [`KvError::BadBucket`] when the stream of that name is not a
    /// bucket.
    pub async fn get_key_value(&self, bucket: &str) -> Result<Store, Error> {
        let info = self.bucket_info(bucket).await?;
        self.bind_key_value(&info.config)
    }

    /// Deletes the bucket and everything in it; [`KvError::BucketNotFound`] when there is
    /// none.
    pub async fn delete_key_value(&self, bucket: &str) -> Result<(), Error> {
        validate_bucket(bucket)?;
        self.delete_stream(&stream_name(bucket))
            .await
            .map_err(|e| not_found_as_bucket(e, bucket))
    }

    /// The names of every bucket, page by page as the stream is read (async-nats has no
    /// listing; nats.go's `KeyValueStoreNames`). Mirror buckets, which store no subjects of
    /// their own, are not listed.
    pub fn key_value_store_names(&self) -> BucketNames {
        let pages = Pages::new::<nats_sansio::jetstream::api::StreamNamesResponse, _>(
            self,
            self.prefix().stream_names(),
            list_request,
        );
        Listing::new(pages, |stream| bucket_of_stream(&stream).map(str::to_owned))
    }

    /// The status of every bucket, page by page (nats.go's `KeyValueStores`).
    pub fn key_value_stores(&self) -> BucketStatuses {
        let pages =
            Pages::new::<StreamListResponse, _>(self, self.prefix().stream_list(), list_request);
        Listing::new(pages, |info| Status::from_info(info).ok())
    }

    /// The stream config of `config`, with the server's API level when it matters.
    async fn bucket_stream_config(&self, config: &Config) -> Result<StreamConfig, Error> {
        let api_level = if config.needs_api_level() {
            self.account_info().await?.api.level
        } else {
            0
        };
        Ok(config.stream_config(api_level)?)
    }

    /// The info of the bucket's stream; a missing stream is [`KvError::BucketNotFound`].
    async fn bucket_info(&self, bucket: &str) -> Result<StreamInfo, Error> {
        validate_bucket(bucket)?;
        self.stream_info(&stream_name(bucket))
            .await
            .map_err(|e| not_found_as_bucket(e, bucket))
    }

    fn bind_key_value(&self, stream: &StreamConfig) -> Result<Store, Error> {
        Ok(Store {
            context: self.clone(),
            bucket: BucketSubjects::from_stream(self.prefix(), stream)?,
        })
    }
}

/// A missing stream as a missing bucket; any other error as it is.
fn not_found_as_bucket(e: JetStreamError, bucket: &str) -> Error {
    if e.api_kind() == Some(ApiErrorKind::StreamNotFound) {
        KvError::BucketNotFound {
            bucket: bucket.to_owned(),
        }
        .into()
    } else {
        e.into()
    }
}

/// Bucket names ([`Context::key_value_store_names`]).
pub type BucketNames = Listing<String, String>;

/// Bucket statuses ([`Context::key_value_stores`]); a stream on `$KV.*.>` that is not a
/// bucket is left out.
pub type BucketStatuses = Listing<StreamInfo, Status>;
