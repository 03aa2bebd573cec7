//! A bucket's status (what its stream info says about it) and listing the buckets of an
//! account (spec §5.3).
//!
//! Invariant: a status exists only for a bucket's stream (`OBJ_` name); listing keeps exactly
//! the streams named `OBJ_<bucket>` among those storing `$O.*.C.>`, and hands out their bucket
//! names, so another stream that happens to store `$O.` subjects is never taken for a bucket.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::jetstream::api::{
    Compression, StorageType, StreamInfo, StreamListResponse, StreamNamesRequest,
    StreamNamesResponse,
};

use super::config::Config;
use super::names::STREAM_PREFIX;
use super::ObjectStoreError;

/// The subject filter that selects bucket streams in `STREAM.NAMES` and `STREAM.LIST`.
pub const LIST_FILTER: &str = "$O.*.C.>";

/// What a bucket's stream info says about the bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    config: Config,
    info: StreamInfo,
}

impl Status {
    /// The status of the bucket whose stream info this is.
    ///
    /// # Errors
    ///
    /// [`ObjectStoreError::BadBucket`] if the stream is not a bucket's.
    pub fn from_info(info: StreamInfo) -> Result<Status, ObjectStoreError> {
        let config = Config::from_stream(&info.config)?;
        Ok(Status { config, info })
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.config.bucket
    }

    /// Free text.
    pub fn description(&self) -> &str {
        &self.info.config.description
    }

    /// How long objects live (zero: for ever).
    pub fn ttl(&self) -> Duration {
        self.info.config.max_age
    }

    /// File or memory.
    pub fn storage(&self) -> &StorageType {
        &self.info.config.storage
    }

    /// Replicas.
    pub fn replicas(&self) -> usize {
        self.info.config.num_replicas.max(1)
    }

    /// Whether the bucket is sealed (read only for ever).
    pub fn sealed(&self) -> bool {
        self.info.config.sealed
    }

    /// Bytes stored: every chunk and meta message.
    pub fn size(&self) -> u64 {
        self.info.state.bytes
    }

    /// What stores the bucket: always `"JetStream"`.
    pub fn backing_store(&self) -> &'static str {
        "JetStream"
    }

    /// Whether stored chunks are compressed.
    pub fn is_compressed(&self) -> bool {
        self.info.config.compression == Compression::S2
    }

    /// The stream's metadata, the server's `_nats.*` keys included (the bucket
    /// [`config`](Status::config) has only the user's).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.info.config.metadata
    }

    /// The bucket's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The backing stream's info.
    pub fn stream_info(&self) -> &StreamInfo {
        &self.info
    }
}

/// The `STREAM.NAMES` (or `STREAM.LIST`) request body for one page of buckets.
pub fn list_request(offset: usize) -> StreamNamesRequest {
    crate::jetstream::bucket::list_request(LIST_FILTER, offset)
}

/// The bucket names on one `STREAM.NAMES` page (the `OBJ_` streams, prefix stripped).
pub fn bucket_names(page: &StreamNamesResponse) -> impl Iterator<Item = &str> {
    crate::jetstream::bucket::bucket_names(page, STREAM_PREFIX)
}

/// The bucket statuses on one `STREAM.LIST` page (other streams left out).
pub fn bucket_statuses(page: StreamListResponse) -> impl Iterator<Item = Status> {
    page.streams
        .into_iter()
        .filter_map(|info| Status::from_info(info).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn info(name: &str) -> StreamInfo {
        serde_json::from_value(json!({
            "config": {
                "name": name, "description": "d", "subjects": ["$O.pics.C.>", "$O.pics.M.>"],
                "max_age": 60_000_000_000u64, "storage": "memory", "num_replicas": 3,
                "sealed": true, "compression": "s2",
                "metadata": {"_nats.ver": "2.11.0", "owner": "me"}
            },
            "created": "2025-01-01T00:00:00Z",
            "state": {"messages": 7, "bytes": 420, "first_seq": 1, "last_seq": 9,
                      "first_ts": "2025-01-01T00:00:00Z", "last_ts": "2025-01-01T00:00:00Z",
                      "consumer_count": 0}
        }))
        .unwrap()
    }

    #[test]
    fn status_reads_the_stream_info() {
        let s = Status::from_info(info("OBJ_pics")).unwrap();
        assert_eq!((s.bucket(), s.description()), ("pics", "d"));
        assert_eq!(s.ttl(), Duration::from_secs(60));
        assert_eq!((s.storage(), s.replicas()), (&StorageType::Memory, 3));
        assert!(s.sealed() && s.is_compressed());
        assert_eq!((s.size(), s.backing_store()), (420, "JetStream"));
        assert_eq!(s.metadata().len(), 2);
        assert_eq!(s.config().metadata.len(), 1);
        assert!(Status::from_info(info("KV_pics")).is_err());
    }

    #[test]
    fn listing_keeps_only_buckets() {
        assert_eq!(
            serde_json::to_string(&list_request(0)).unwrap(),
            r#"{"subject":"$O.*.C.>"}"#
        );
        let page = StreamNamesResponse {
            streams: vec![
                "OBJ_a".into(),
                "ORDERS".into(),
                "OBJ_".into(),
                "KV_b".into(),
            ],
            ..StreamNamesResponse::default()
        };
        assert_eq!(bucket_names(&page).collect::<Vec<_>>(), ["a"]);
        let list = StreamListResponse {
            streams: vec![info("OBJ_pics"), info("ORDERS")],
            ..StreamListResponse::default()
        };
        let statuses: Vec<Status> = bucket_statuses(list).collect();
        assert_eq!(statuses.len(), 1);
        assert_eq!(statuses[0].bucket(), "pics");
    }
}
