//! A bucket's configuration and the stream configuration it becomes (spec §4.2), with the
//! rules for updating a bucket and for a create that meets an existing stream.
//!
//! Invariant: the stream config of a bucket always has `subjects ["$KV.<b>.>"]` (none on a
//! mirror), `max_msgs_per_subject` = history in 1..=64, `discard: new`,
//! `allow_rollup_hdrs: true` (never `rollup_hdrs`, which strict servers refuse),
//! `deny_delete: true`, `allow_direct: true`, and a duplicate window of at most 2 minutes
//! and never longer than the TTL; limit markers appear only when the server's API level is
//! at least 1 and never on a mirror, and an update never turns them off.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::jetstream::api::{
    Compression, DiscardPolicy, Placement, Republish, StorageType, StreamConfig, StreamSource,
    SubjectTransform,
};

use super::names::{bucket_of_stream, stream_name, validate_bucket, STREAM_PREFIX, SUBJECT_PREFIX};
use super::KvError;

/// The most revisions a bucket keeps per key.
pub const MAX_HISTORY: u32 = 64;
/// The longest duplicate window a bucket's stream gets.
pub const MAX_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
pub use crate::jetstream::bucket::{user_metadata, SERVER_METADATA_PREFIX};

/// A bucket's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The bucket's name.
    pub bucket: String,
    /// Free text.
    pub description: String,
    /// Revisions kept per key, 1 to 64 (default 1).
    pub history: u32,
    /// The largest value, in bytes (-1: unlimited, the default).
    pub max_value_size: i32,
    /// The most bytes the bucket holds (-1: unlimited, the default).
    pub max_bytes: i64,
    /// How long an entry lives (zero: for ever, the default).
    pub max_age: Duration,
    /// Per-key TTLs, and the lifetime of the markers the server leaves where an entry
    /// expired (server 2.11, API level 1; cannot be turned off later).
    pub limit_markers: Option<Duration>,
    /// File (default) or memory.
    pub storage: StorageType,
    /// Replicas (default 1).
    pub num_replicas: usize,
    /// Compress stored values (S2).
    pub compression: bool,
    /// Where the replicas go.
    pub placement: Option<Placement>,
    /// Republish every write to another subject.
    pub republish: Option<Republish>,
    /// Mirror another bucket (its name with or without `KV_`).
    pub mirror: Option<StreamSource>,
    /// Source entries from other buckets.
    pub sources: Vec<StreamSource>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            bucket: String::new(),
            description: String::new(),
            history: 1,
            max_value_size: -1,
            max_bytes: -1,
            max_age: Duration::ZERO,
            limit_markers: None,
            storage: StorageType::File,
            num_replicas: 1,
            compression: false,
            placement: None,
            republish: None,
            mirror: None,
            sources: Vec::new(),
            metadata: BTreeMap::new(),
        }
    }
}

impl Config {
    /// A bucket with every default: one revision per key, no limits, file storage, R1.
    pub fn new(bucket: impl Into<String>) -> Config {
        Config {
            bucket: bucket.into(),
            ..Config::default()
        }
    }

    /// Whether building the stream config needs the server's API level (limit markers).
    pub fn needs_api_level(&self) -> bool {
        self.limit_markers.is_some()
    }

    /// The stream config to create (or update) the bucket with; `api_level` is the
    /// server's (`$JS.API.INFO` → `api.level`; only read when
    /// [`needs_api_level`](Config::needs_api_level)).
    ///
    /// ```
    /// use nats_sansio::kv::Config;
    ///
    /// let stream = Config::new("cfg").stream_config(0).unwrap();
    /// assert_eq!(stream.name, "KV_cfg");
    /// assert_eq!(stream.subjects, ["$KV.cfg.>"]);
    /// assert!(stream.allow_rollup_hdrs && stream.deny_delete && stream.allow_direct);
    /// ```
    ///
    /// # Errors
    ///
    /// [`KvError::InvalidBucket`], [`KvError::HistoryOutOfRange`],
    /// [`KvError::LimitMarkersUnsupported`], [`KvError::LimitMarkersOnMirror`].
    pub fn stream_config(&self, api_level: u32) -> Result<StreamConfig, KvError> {
        validate_bucket(&self.bucket)?;
        if !(1..=MAX_HISTORY).contains(&self.history) {
            return Err(KvError::HistoryOutOfRange {
                history: self.history,
            });
        }
        let unlimited = |n: i64| if n == 0 { -1 } else { n };
        let duplicate_window = if self.max_age.is_zero() {
            MAX_DUPLICATE_WINDOW
        } else {
            self.max_age.min(MAX_DUPLICATE_WINDOW)
        };
        let mut config = StreamConfig {
            description: self.description.clone(),
            subjects: vec![self.all_subjects(&self.bucket)],
            max_msgs_per_subject: i64::from(self.history),
            max_bytes: unlimited(self.max_bytes),
            max_age: self.max_age,
            max_msg_size: if self.max_value_size == 0 {
                -1
            } else {
                self.max_value_size
            },
            max_msgs: -1,
            max_consumers: -1,
            storage: self.storage.clone(),
            num_replicas: self.num_replicas.max(1),
            placement: self.placement.clone(),
            republish: self.republish.clone(),
            compression: if self.compression {
                Compression::S2
            } else {
                Compression::None
            },
            discard: DiscardPolicy::New,
            allow_rollup_hdrs: true,
            deny_delete: true,
            allow_direct: true,
            duplicate_window,
            metadata: self.metadata.clone(),
            ..StreamConfig::new(stream_name(&self.bucket))
        };
        if let Some(marker_ttl) = self.limit_markers {
            if self.mirror.is_some() {
                return Err(KvError::LimitMarkersOnMirror);
            }
            if api_level < 1 {
                return Err(KvError::LimitMarkersUnsupported { api_level });
            }
            config.allow_msg_ttl = true;
            config.subject_delete_marker_ttl = marker_ttl;
        }
        if let Some(mirror) = &self.mirror {
            let mut mirror = mirror.clone();
            if !mirror.name.starts_with(STREAM_PREFIX) {
                mirror.name = stream_name(&mirror.name);
            }
            config.mirror = Some(mirror);
            config.mirror_direct = true;
            config.subjects.clear();
        } else {
            config.sources = self.sources.iter().map(|s| self.source(s)).collect();
        }
        Ok(config)
    }

    /// `$KV.<bucket>.>`.
    fn all_subjects(&self, bucket: &str) -> String {
        format!("{SUBJECT_PREFIX}.{bucket}.>")
    }

    /// A source as ADR-57 wants it: `KV_` name and a transform into this bucket's keys,
    /// unless it brings its own transforms (kept as given) or is the same bucket elsewhere.
    fn source(&self, source: &StreamSource) -> StreamSource {
        if !source.subject_transforms.is_empty() {
            return source.clone();
        }
        let mut source = source.clone();
        let origin = match source.name.strip_prefix(STREAM_PREFIX) {
            Some(origin) => origin.to_owned(),
            None => {
                let origin = source.name.clone();
                source.name = stream_name(&origin);
                origin
            }
        };
        if source.external.is_none() || origin != self.bucket {
            source.subject_transforms = vec![SubjectTransform {
                src: self.all_subjects(&origin),
                dest: self.all_subjects(&self.bucket),
            }];
        }
        source
    }

    /// The bucket configuration a bucket's stream config says (server metadata left out).
    ///
    /// # Errors
    ///
    /// [`KvError::BadBucket`] for a stream that is not a bucket's.
    pub fn from_stream(config: &StreamConfig) -> Result<Config, KvError> {
        let bucket = bucket_of_stream(&config.name).ok_or_else(|| KvError::BadBucket {
            stream: config.name.clone(),
            reason: "no KV_ prefix",
        })?;
        Ok(Config {
            bucket: bucket.to_owned(),
            description: config.description.clone(),
            history: u32::try_from(config.max_msgs_per_subject.max(0)).unwrap_or(u32::MAX),
            max_value_size: config.max_msg_size,
            max_bytes: config.max_bytes,
            max_age: config.max_age,
            limit_markers: (!config.subject_delete_marker_ttl.is_zero())
                .then_some(config.subject_delete_marker_ttl),
            storage: config.storage.clone(),
            num_replicas: config.num_replicas.max(1),
            compression: config.compression == Compression::S2,
            placement: config.placement.clone(),
            republish: config.republish.clone(),
            mirror: config.mirror.clone(),
            sources: config.sources.clone(),
            metadata: user_metadata(&config.metadata),
        })
    }
}

/// The stream config to update a bucket with: `wanted` (from
/// [`Config::stream_config`]), with the limit markers of `existing` carried forward, since
/// the server refuses to turn them off (ADR-48).
pub fn update_stream_config(existing: &StreamConfig, mut wanted: StreamConfig) -> StreamConfig {
    wanted.allow_msg_ttl |= existing.allow_msg_ttl;
    if wanted.subject_delete_marker_ttl.is_zero() {
        wanted.subject_delete_marker_ttl = existing.subject_delete_marker_ttl;
    }
    wanted
}

/// A create met `10058` (the stream exists with another configuration): whether the
/// existing stream differs from `wanted` only in `discard` and `allow_direct` (a bucket
/// from before server 2.7.2 or 2.9), in which case the bucket is updated to `wanted`
/// instead of failing with [`KvError::BucketExists`]. Server metadata and the defaults the
/// server fills in are not differences.
pub fn update_instead_of_create(existing: &StreamConfig, wanted: &StreamConfig) -> bool {
    let mut existing = canonical(existing);
    existing.discard = wanted.discard.clone();
    existing.allow_direct = wanted.allow_direct;
    existing == canonical(wanted)
}

/// A stream config with the server's fill-ins and metadata normalised, for comparison.
fn canonical(config: &StreamConfig) -> StreamConfig {
    let unlimited = |n: i64| if n == 0 { -1 } else { n };
    let mut c = config.clone();
    c.metadata = user_metadata(&c.metadata);
    c.extra.clear();
    c.num_replicas = c.num_replicas.max(1);
    c.max_msgs = unlimited(c.max_msgs);
    c.max_bytes = unlimited(c.max_bytes);
    c.max_consumers = unlimited(c.max_consumers);
    c.max_msg_size = if c.max_msg_size == 0 {
        -1
    } else {
        c.max_msg_size
    };
    if c.duplicate_window.is_zero() {
        c.duplicate_window = MAX_DUPLICATE_WINDOW;
    }
    if c.placement.as_ref() == Some(&Placement::default()) {
        c.placement = None;
    }
    c
}

#[cfg(test)]
mod tests;
