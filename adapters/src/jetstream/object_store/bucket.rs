//! Object-store buckets on the JetStream context: create, bind, delete, seal, and the
//! listings of names and statuses.
//!
//! Invariant: a bucket's stream config is always the core's (`Config::stream_config`, and
//! `seal_request` for a seal), and an [`ObjectStore`] is bound from the stream's own config.

use nats_sansio::jetstream::api::{
    ApiErrorKind, StreamConfig, StreamInfo, StreamListResponse, StreamNamesResponse,
};
use nats_sansio::jetstream::bucket::bucket_of_stream;
use nats_sansio::object_store::names::{stream_name, validate_bucket, STREAM_PREFIX};
use nats_sansio::object_store::status::list_request;
use nats_sansio::object_store::{BucketSubjects, Config, ObjectStoreError, Status};

use super::error::Error;
use super::store::ObjectStore;
use crate::jetstream::{Context, JetStreamError, Listing, Pages};

/// Bucket names ([`Context::object_store_names`]).
pub type ObjectStoreNames = Listing<String, String>;

/// Bucket statuses ([`Context::object_stores`]).
pub type ObjectStores = Listing<StreamInfo, Status>;

impl Context {
    /// Creates the object store (async-nats's `create_object_store`). One of that name
    /// with the same configuration is bound as it is; another configuration is refused
    /// with the server's error.
    pub async fn create_object_store(&self, config: Config) -> Result<ObjectStore, Error> {
        let stream = config.stream_config()?;
        match self.create_stream(stream).await {
            Ok(stream) => self.bind_object_store(&stream.cached_info().config),
            Err(e) if e.api_kind() == Some(ApiErrorKind::StreamNameInUse) => {
                Err(ObjectStoreError::BucketExists {
                    bucket: config.bucket,
                }
                .into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The object store `bucket` (async-nats's `get_object_store`);
    /// [`ObjectStoreError::BucketNotFound`] when there is none.
    pub async fn get_object_store(&self, bucket: &str) -> Result<ObjectStore, Error> {
        validate_bucket(bucket)?;
        let info = self
            .stream_info(&stream_name(bucket))
            .await
            .map_err(|e| not_found_as_bucket(e, bucket))?;
        self.bind_object_store(&info.config)
    }

    /// Deletes the object store and every object in it.
    pub async fn delete_object_store(&self, bucket: &str) -> Result<(), Error> {
        validate_bucket(bucket)?;
        self.delete_stream(&stream_name(bucket))
            .await
            .map_err(|e| not_found_as_bucket(e, bucket))
    }

    /// The names of every object store, page by page (async-nats has no listing).
    pub fn object_store_names(&self) -> ObjectStoreNames {
        let pages =
            Pages::new::<StreamNamesResponse, _>(self, self.prefix().stream_names(), list_request);
        Listing::new(pages, |stream| {
            bucket_of_stream(&stream, STREAM_PREFIX).map(str::to_owned)
        })
    }

    /// The status of every object store, page by page.
    pub fn object_stores(&self) -> ObjectStores {
        let pages =
            Pages::new::<StreamListResponse, _>(self, self.prefix().stream_list(), list_request);
        Listing::new(pages, |info| Status::from_info(info).ok())
    }

    fn bind_object_store(&self, stream: &StreamConfig) -> Result<ObjectStore, Error> {
        Ok(ObjectStore {
            context: self.clone(),
            bucket: BucketSubjects::from_stream(self.prefix(), stream)?,
        })
    }
}

/// A missing stream as a missing bucket; any other error as it is.
fn not_found_as_bucket(e: JetStreamError, bucket: &str) -> Error {
    if e.api_kind() == Some(ApiErrorKind::StreamNotFound) {
        ObjectStoreError::BucketNotFound {
            bucket: bucket.to_owned(),
        }
        .into()
    } else {
        e.into()
    }
}
