//! A bucket's configuration and the stream configuration it becomes (spec §5.1), and sealing.
//!
//! Invariant: the stream config of a bucket always has the subjects `$O.<b>.C.>` and
//! `$O.<b>.M.>`, `discard: new`, `allow_rollup_hdrs: true` (never `rollup_hdrs`, which
//! strict servers refuse) and `allow_direct: true`; a zero `max_bytes` is written as
//! unlimited (-1); server `_nats.*` metadata never comes back into a [`Config`]. Sealing sends
//! the stream's own config with only `sealed` changed, so it changes nothing else a user set.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::jetstream::api::{
    Compression, DiscardPolicy, Placement, StorageType, StreamConfig, StreamConfigRequest,
};
use crate::jetstream::bucket::{bucket_of_stream, user_metadata};

use super::names::{stream_name, validate_bucket, STREAM_PREFIX, SUBJECT_PREFIX};
use super::ObjectStoreError;

/// A bucket's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The bucket's name.
    pub bucket: String,
    /// Free text.
    pub description: String,
    /// How long an object lives (zero: for ever, the default).
    pub max_age: Duration,
    /// The most bytes the bucket holds (-1: unlimited, the default).
    pub max_bytes: i64,
    /// File (default) or memory.
    pub storage: StorageType,
    /// Replicas (default 1).
    pub num_replicas: usize,
    /// Compress stored chunks (S2).
    pub compression: bool,
    /// Where the replicas go.
    pub placement: Option<Placement>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            bucket: String::new(),
            description: String::new(),
            max_age: Duration::ZERO,
            max_bytes: -1,
            storage: StorageType::File,
            num_replicas: 1,
            compression: false,
            placement: None,
            metadata: BTreeMap::new(),
        }
    }
}

impl Config {
    /// A bucket with every default: no limits, file storage, R1.
    pub fn new(bucket: impl Into<String>) -> Config {
        Config {
            bucket: bucket.into(),
            ..Config::default()
        }
    }

    /// The stream config to create (or update) the bucket with.
    ///
    /// ```
    /// use nats_sansio::object_store::Config;
    ///
    /// let stream = Config::new("files").stream_config().unwrap();
    /// assert_eq!(stream.name, "OBJ_files");
    /// assert_eq!(stream.subjects, ["$O.files.C.>", "$O.files.M.>"]);
    /// assert!(stream.allow_rollup_hdrs && stream.allow_direct && !stream.deny_delete);
    /// ```
    ///
    /// # Errors
    ///
    /// [`ObjectStoreError::InvalidBucket`].
    pub fn stream_config(&self) -> Result<StreamConfig, ObjectStoreError> {
        validate_bucket(&self.bucket)?;
        let b = &self.bucket;
        Ok(StreamConfig {
            description: self.description.clone(),
            subjects: vec![
                format!("{SUBJECT_PREFIX}.{b}.C.>"),
                format!("{SUBJECT_PREFIX}.{b}.M.>"),
            ],
            max_age: self.max_age,
            max_bytes: if self.max_bytes == 0 {
                -1
            } else {
                self.max_bytes
            },
            storage: self.storage.clone(),
            num_replicas: self.num_replicas.max(1),
            placement: self.placement.clone(),
            metadata: self.metadata.clone(),
            compression: if self.compression {
                Compression::S2
            } else {
                Compression::None
            },
            discard: DiscardPolicy::New,
            allow_rollup_hdrs: true,
            allow_direct: true,
            ..StreamConfig::new(stream_name(b))
        })
    }

    /// The bucket configuration a bucket's stream config says (server metadata left out).
    ///
    /// # Errors
    ///
    /// [`ObjectStoreError::BadBucket`] for a stream that is not a bucket's.
    pub fn from_stream(config: &StreamConfig) -> Result<Config, ObjectStoreError> {
        let bucket = bucket_of_stream(&config.name, STREAM_PREFIX).ok_or_else(|| {
            ObjectStoreError::BadBucket {
                stream: config.name.clone(),
                reason: "no OBJ_ prefix",
            }
        })?;
        Ok(Config {
            bucket: bucket.to_owned(),
            description: config.description.clone(),
            max_age: config.max_age,
            max_bytes: config.max_bytes,
            storage: config.storage.clone(),
            num_replicas: config.num_replicas.max(1),
            compression: config.compression == Compression::S2,
            placement: config.placement.clone(),
            metadata: user_metadata(&config.metadata),
        })
    }
}

/// The `STREAM.UPDATE` body that seals a bucket: its stream's current config (from
/// `STREAM.INFO`) with `sealed: true`. The server then also forces `max_age` 0,
/// `deny_delete`, `deny_purge` and no rollups, and later writes, purges and deletes fail with
/// 10109 ([`ObjectStoreError::BucketSealed`]); a bucket cannot be unsealed.
pub fn seal_request(current: &StreamConfig) -> StreamConfigRequest {
    StreamConfigRequest {
        config: StreamConfig {
            sealed: true,
            ..current.clone()
        },
        pedantic: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn stream_config_is_exactly_the_layout() {
        let config = Config {
            description: "photos".into(),
            max_age: Duration::from_secs(3600),
            max_bytes: 0,
            storage: StorageType::Memory,
            num_replicas: 3,
            compression: true,
            placement: Some(Placement {
                cluster: "east".into(),
                ..Placement::default()
            }),
            metadata: BTreeMap::from([("owner".into(), "me".into())]),
            ..Config::new("pics")
        };
        let stream = config.stream_config().unwrap();
        let written: Value = serde_json::to_value(&stream).unwrap();
        assert_eq!(
            written,
            json!({
                "name": "OBJ_pics", "description": "photos",
                "subjects": ["$O.pics.C.>", "$O.pics.M.>"],
                "max_bytes": -1, "max_age": 3_600_000_000_000u64,
                "discard": "new", "storage": "memory", "num_replicas": 3,
                "placement": {"cluster": "east"},
                "allow_rollup_hdrs": true, "allow_direct": true,
                "compression": "s2", "metadata": {"owner": "me"}
            })
        );
        let mut back = stream.clone();
        back.metadata.insert("_nats.level".into(), "1".into());
        let read = Config::from_stream(&back).unwrap();
        assert_eq!(read.metadata, config.metadata, "server keys left out");
        assert_eq!(read.max_bytes, -1);
        assert_eq!((read.num_replicas, read.compression), (3, true));
        assert!(Config::new("a.b").stream_config().is_err());
        assert!(Config::from_stream(&StreamConfig::new("KV_x")).is_err());
    }

    #[test]
    fn sealing_changes_only_sealed() {
        let current = Config::new("pics").stream_config().unwrap();
        let request = seal_request(&current);
        assert!(request.config.sealed);
        assert_eq!(
            StreamConfig {
                sealed: false,
                ..request.config
            },
            current
        );
        let body: Value = serde_json::to_value(seal_request(&current)).unwrap();
        assert_eq!(body["sealed"], json!(true));
        assert_eq!(body["name"], json!("OBJ_pics"));
    }
}
