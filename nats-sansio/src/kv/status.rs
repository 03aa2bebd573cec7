//! A bucket's status (what its stream info says about it) and listing the buckets of an
//! account.
//!
//! Invariant: a status exists only for a bucket's stream (`KV_` name); listing keeps exactly
//! the streams named `KV_<bucket>` and hands out their bucket names, so another stream that
//! happens to store `$KV.` subjects is never taken for a bucket.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::jetstream::api::{
    Compression, StreamInfo, StreamListResponse, StreamNamesRequest, StreamNamesResponse,
};

use super::config::Config;
use super::KvError;

/// The subject filter that selects bucket streams in `STREAM.NAMES` and `STREAM.LIST`.
pub const LIST_FILTER: &str = "$KV.*.>";

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
    /// [`KvError::BadBucket`] if the stream is not a bucket's.
    pub fn from_info(info: StreamInfo) -> Result<Status, KvError> {
        let config = Config::from_stream(&info.config)?;
        Ok(Status { config, info })
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.config.bucket
    }

    /// How many entries the bucket stores (every kept revision and deletion).
    pub fn values(&self) -> u64 {
        self.info.state.messages
    }

    /// Revisions kept per key.
    pub fn history(&self) -> i64 {
        self.info.config.max_msgs_per_subject
    }

    /// How long entries live (zero: for ever).
    pub fn ttl(&self) -> Duration {
        self.info.config.max_age
    }

    /// The lifetime of limit markers, when the bucket has them (per-key TTLs allowed).
    pub fn limit_marker_ttl(&self) -> Option<Duration> {
        self.config.limit_markers
    }

    /// Bytes stored.
    pub fn bytes(&self) -> u64 {
        self.info.state.bytes
    }

    /// Whether stored values are compressed.
    pub fn is_compressed(&self) -> bool {
        self.info.config.compression == Compression::S2
    }

    /// What stores the bucket: always `"JetStream"`.
    pub fn backing_store(&self) -> &'static str {
        "JetStream"
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

/// The bucket names on one `STREAM.NAMES` page (the `KV_` streams, prefix stripped).
pub fn bucket_names(page: &StreamNamesResponse) -> impl Iterator<Item = &str> {
    crate::jetstream::bucket::bucket_names(page, super::names::STREAM_PREFIX)
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
    use crate::jetstream::api::StreamConfig;
    use serde_json::json;

    fn info() -> StreamInfo {
        serde_json::from_value(json!({
            "config": {
                "name": "KV_cfg", "subjects": ["$KV.cfg.>"], "max_msgs_per_subject": 5,
                "max_age": 60_000_000_000u64, "subject_delete_marker_ttl": 1_000_000_000u64,
                "allow_msg_ttl": true, "compression": "s2", "num_replicas": 1,
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
        let status = Status::from_info(info()).unwrap();
        assert_eq!(status.bucket(), "cfg");
        assert_eq!(
            (status.values(), status.bytes(), status.history()),
            (7, 420, 5)
        );
        assert_eq!(status.ttl(), Duration::from_secs(60));
        assert_eq!(status.limit_marker_ttl(), Some(Duration::from_secs(1)));
        assert!(status.is_compressed());
        assert_eq!(status.backing_store(), "JetStream");
        assert_eq!(status.metadata().len(), 2);
        assert_eq!(
            status.config().metadata,
            BTreeMap::from([("owner".to_owned(), "me".to_owned())])
        );
        assert_eq!(status.stream_info().state.last_seq, 9);
        let mut other = info();
        other.config = StreamConfig::new("ORDERS");
        assert!(Status::from_info(other).is_err());
    }

    #[test]
    fn listing_keeps_only_buckets() {
        assert_eq!(
            serde_json::to_string(&list_request(0)).unwrap(),
            r#"{"subject":"$KV.*.>"}"#
        );
        assert_eq!(
            serde_json::to_string(&list_request(256)).unwrap(),
            r#"{"offset":256,"subject":"$KV.*.>"}"#
        );
        let page = StreamNamesResponse {
            total: 4,
            offset: 0,
            limit: 1024,
            streams: vec![
                "KV_a".into(),
                "ORDERS".into(),
                "KV_".into(),
                "KV_b-2".into(),
            ],
        };
        assert_eq!(bucket_names(&page).collect::<Vec<_>>(), ["a", "b-2"]);
        let mut orders = info();
        orders.config.name = "ORDERS".into();
        let list = StreamListResponse {
            total: 2,
            streams: vec![info(), orders],
            ..StreamListResponse::default()
        };
        let statuses: Vec<Status> = bucket_statuses(list).collect();
        assert_eq!(statuses.len(), 1);
        assert_eq!(statuses[0].bucket(), "cfg");
    }
}
