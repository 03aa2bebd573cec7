//! Stream configuration, state and info, and the bodies of the `STREAM.*` APIs.
//!
//! Invariant: field names, types and omission rules follow the server's `StreamConfig`
//! (srv:stream.go, server 2.14); a field is left out exactly when it holds the server's zero
//! value, so omitting it never changes what the server stores, and unknown fields read from a
//! newer server are written back unchanged.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::time::{nanos, DateTime};
use super::{is_default, null_default, wire_enum};

wire_enum! {
    /// How messages are retained (`retention`).
    pub enum RetentionPolicy {
        /// Kept until a limit (messages, bytes, age) removes them (the default).
        Limits = "limits",
        /// Kept while some consumer has yet to acknowledge them.
        Interest = "interest",
        /// Removed once acknowledged by the (single) consumer.
        WorkQueue = "workqueue",
    }
    default = Limits;
}

wire_enum! {
    /// What happens when a limit is reached (`discard`).
    pub enum DiscardPolicy {
        /// Remove old messages to make room (the default).
        Old = "old",
        /// Refuse new messages.
        New = "new",
    }
    default = Old;
}

wire_enum! {
    /// Where messages are stored (`storage`).
    pub enum StorageType {
        /// On disk (the default).
        File = "file",
        /// In memory.
        Memory = "memory",
    }
    default = File;
}

wire_enum! {
    /// On-disk compression (`compression`).
    pub enum Compression {
        /// No compression (the default).
        None = "none",
        /// S2.
        S2 = "s2",
    }
    default = None;
}

wire_enum! {
    /// When a publish is acknowledged relative to persisting it (`persist_mode`, server 2.12).
    pub enum PersistMode {
        /// Acknowledge after the write is flushed (the default).
        Default = "default" | "",
        /// Acknowledge before the asynchronous flush; a hard kill can lose acknowledged writes.
        Async = "async",
    }
    default = Default;
}

/// Where a stream's replicas are placed (`placement`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Placement {
    /// The cluster to place the stream in.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// Server tags every replica's server must have.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub tags: Vec<String>,
    /// The preferred leader (server name); used by leader step-down requests.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub preferred: String,
}

/// A subject transform: `src` (a filter) to `dest` (`subject_transform`,
/// `subject_transforms`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubjectTransform {
    /// The subjects the transform applies to.
    pub src: String,
    /// The destination pattern.
    pub dest: String,
}

/// Republish stored messages to another subject (`republish`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Republish {
    /// The subjects to republish (empty = all).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub src: String,
    /// The destination pattern.
    pub dest: String,
    /// Republish headers only, with the payload size in `Nats-Msg-Size`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub headers_only: bool,
}

/// Access to a stream in another account or domain (`external`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct External {
    /// The API prefix of the other account or domain, e.g. `$JS.hub.API`.
    pub api: String,
    /// The delivery prefix.
    pub deliver: String,
}

/// Source through a durable consumer with this name (`consumer` of a source, server 2.14).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamConsumerSource {
    /// The durable consumer's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Its delivery subject.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub deliver_subject: String,
}

/// A stream to mirror or source from (`mirror`, `sources[]`).
///
/// The server has no `domain` field; use [`StreamSource::from_domain`], which sets
/// [`external`](StreamSource::external) the way the other clients do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamSource {
    /// The upstream stream.
    pub name: String,
    /// Start at this upstream sequence.
    #[serde(skip_serializing_if = "is_default")]
    pub opt_start_seq: u64,
    /// Start at this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opt_start_time: Option<DateTime>,
    /// Only messages on these subjects.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub filter_subject: String,
    /// Filter-and-transform pairs (instead of `filter_subject`).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub subject_transforms: Vec<SubjectTransform>,
    /// The upstream's account or domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<External>,
    /// Source through a durable consumer (server 2.14).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<StreamConsumerSource>,
    /// Fields this version does not know, kept for round trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl StreamSource {
    /// A source named `name` in JetStream domain `domain` (`external.api = $JS.<domain>.API`).
    pub fn from_domain(name: impl Into<String>, domain: &str) -> StreamSource {
        StreamSource {
            name: name.into(),
            external: Some(External {
                api: format!("$JS.{domain}.API"),
                deliver: String::new(),
            }),
            ..StreamSource::default()
        }
    }
}

/// Defaults a stream gives its consumers (`consumer_limits`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumerLimits {
    /// Default `inactive_threshold`.
    #[serde(with = "nanos", skip_serializing_if = "Duration::is_zero")]
    pub inactive_threshold: Duration,
    /// Default (and maximum) `max_ack_pending`.
    #[serde(skip_serializing_if = "is_default")]
    pub max_ack_pending: i64,
}

/// A stream's configuration, every field the server accepts up to 2.14.
///
/// Integer limits use the server's convention: `0` here means "not set" (the server then
/// reports `-1`, unlimited). A default config with a name serializes to `{"name":".."}`.
///
/// ```
/// use nats_sansio::jetstream::api::StreamConfig;
///
/// let cfg = StreamConfig::new("ORDERS");
/// assert_eq!(serde_json::to_string(&cfg).unwrap(), r#"{"name":"ORDERS"}"#);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamConfig {
    /// The stream's name.
    pub name: String,
    /// Free text.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Subjects stored (empty = the name, unless a mirror or sources).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub subjects: Vec<String>,
    /// Retention policy.
    #[serde(skip_serializing_if = "is_default")]
    pub retention: RetentionPolicy,
    /// Maximum consumers (`-1` or `0` = unlimited).
    #[serde(skip_serializing_if = "is_default")]
    pub max_consumers: i64,
    /// Maximum messages.
    #[serde(skip_serializing_if = "is_default")]
    pub max_msgs: i64,
    /// Maximum bytes.
    #[serde(skip_serializing_if = "is_default")]
    pub max_bytes: i64,
    /// Maximum message age (zero = unlimited).
    #[serde(with = "nanos", skip_serializing_if = "Duration::is_zero")]
    pub max_age: Duration,
    /// Maximum messages per subject.
    #[serde(skip_serializing_if = "is_default")]
    pub max_msgs_per_subject: i64,
    /// Maximum message size in bytes.
    #[serde(skip_serializing_if = "is_default")]
    pub max_msg_size: i32,
    /// Discard policy.
    #[serde(skip_serializing_if = "is_default")]
    pub discard: DiscardPolicy,
    /// With `discard: new` and `max_msgs_per_subject`, refuse per subject.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub discard_new_per_subject: bool,
    /// Storage type.
    #[serde(skip_serializing_if = "is_default")]
    pub storage: StorageType,
    /// Replicas (0 = 1).
    #[serde(skip_serializing_if = "is_default")]
    pub num_replicas: usize,
    /// Do not acknowledge publishes.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_ack: bool,
    /// Stream template owner; servers before 2.11 only (kept for round trips with them).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub template_owner: String,
    /// Deduplication window for `Nats-Msg-Id` (zero = server default, 2 minutes).
    #[serde(with = "nanos", skip_serializing_if = "Duration::is_zero")]
    pub duplicate_window: Duration,
    /// Replica placement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// Mirror another stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<StreamSource>,
    /// Source from other streams.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub sources: Vec<StreamSource>,
    /// Refuse every change (cannot be undone).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sealed: bool,
    /// Refuse message deletes.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deny_delete: bool,
    /// Refuse purges.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deny_purge: bool,
    /// Allow `Nats-Rollup` headers.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_rollup_hdrs: bool,
    /// Answer `DIRECT.GET` on every replica.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_direct: bool,
    /// Let a mirror answer its origin's Direct Gets.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mirror_direct: bool,
    /// Republish stored messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub republish: Option<Republish>,
    /// Transform subjects on the way in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_transform: Option<SubjectTransform>,
    /// Compression.
    #[serde(skip_serializing_if = "is_default")]
    pub compression: Compression,
    /// The first sequence of a new stream.
    #[serde(skip_serializing_if = "is_default")]
    pub first_seq: u64,
    /// User metadata (and the server's `_nats.*` keys).
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub metadata: BTreeMap<String, String>,
    /// Defaults for consumers.
    #[serde(skip_serializing_if = "is_default")]
    pub consumer_limits: ConsumerLimits,
    /// Allow per-message TTLs (`Nats-TTL`; server 2.11; cannot be turned off).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_msg_ttl: bool,
    /// Leave delete markers with this TTL when age removes a subject's last message (2.11).
    #[serde(with = "nanos", skip_serializing_if = "Duration::is_zero")]
    pub subject_delete_marker_ttl: Duration,
    /// Counter CRDT stream (server 2.12).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_msg_counter: bool,
    /// Allow atomic batch publishing (server 2.12).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_atomic: bool,
    /// Allow message schedules (server 2.12).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_msg_schedules: bool,
    /// Persistence mode (server 2.12).
    #[serde(skip_serializing_if = "is_default")]
    pub persist_mode: PersistMode,
    /// Allow fast batch publishing (server 2.14).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_batched: bool,
    /// Fields this version does not know, kept for round trips (info, change, update).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl StreamConfig {
    /// A config with only a name; the server fills in every default.
    pub fn new(name: impl Into<String>) -> StreamConfig {
        StreamConfig {
            name: name.into(),
            ..StreamConfig::default()
        }
    }
}

/// The body of `STREAM.CREATE` and `STREAM.UPDATE`: the config, plus `pedantic` (refuse
/// instead of adjusting a config the server would change).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamConfigRequest {
    /// The configuration.
    #[serde(flatten)]
    pub config: StreamConfig,
    /// Refuse configs the server would otherwise adjust (server 2.11).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pedantic: bool,
}

/// Messages lost to storage damage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LostStreamData {
    /// Sequences lost.
    #[serde(deserialize_with = "null_default")]
    pub msgs: Vec<u64>,
    /// Bytes lost.
    pub bytes: u64,
}

/// A stream's current state (`state`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamState {
    /// Messages stored.
    pub messages: u64,
    /// Bytes stored.
    pub bytes: u64,
    /// The first sequence.
    pub first_seq: u64,
    /// The first message's time (Go zero time when empty).
    pub first_ts: DateTime,
    /// The last sequence.
    pub last_seq: u64,
    /// The last message's time.
    pub last_ts: DateTime,
    /// Deleted sequences between first and last.
    #[serde(skip_serializing_if = "is_default")]
    pub num_deleted: u64,
    /// The deleted sequences (with `deleted_details`).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub deleted: Vec<u64>,
    /// Distinct subjects.
    #[serde(skip_serializing_if = "is_default")]
    pub num_subjects: u64,
    /// Message counts per subject (with `subjects_filter`; may be paged).
    #[serde(
        skip_serializing_if = "HashMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub subjects: HashMap<String, u64>,
    /// Lost data, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<LostStreamData>,
    /// Consumers on the stream.
    pub consumer_count: usize,
}

/// One member of a replica group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeerInfo {
    /// Server name.
    pub name: String,
    /// Caught up and seen recently.
    pub current: bool,
    /// Not seen recently.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub offline: bool,
    /// Time since last seen.
    #[serde(with = "nanos")]
    pub active: Duration,
    /// Operations behind.
    #[serde(skip_serializing_if = "is_default")]
    pub lag: u64,
    /// Peer id.
    pub peer: String,
}

/// The replica group of a stream or consumer (`cluster`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterInfo {
    /// Cluster name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Raft group name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub raft_group: String,
    /// Current leader (server name).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub leader: String,
    /// Leader since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_since: Option<DateTime>,
    /// Hosted in the system account.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub system_account: bool,
    /// Account carrying replication traffic.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub traffic_account: String,
    /// The other replicas.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub replicas: Vec<PeerInfo>,
}

/// Progress of a mirror or source (`mirror`, `sources[]` in stream info).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamSourceInfo {
    /// Upstream stream.
    pub name: String,
    /// Upstream account or domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<External>,
    /// Messages behind.
    pub lag: u64,
    /// Time since last contact; `None` when never active (the server's `-1`).
    #[serde(with = "nanos::option")]
    pub active: Option<Duration>,
    /// The last error sourcing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
    /// Filter.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub filter_subject: String,
    /// Transforms.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub subject_transforms: Vec<SubjectTransform>,
}

/// A mirror of this stream that can answer Direct Gets (`alternates[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamAlternate {
    /// Stream name.
    pub name: String,
    /// Domain.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// Cluster.
    pub cluster: String,
}

/// A stream's config and state (`STREAM.INFO`, `STREAM.CREATE`, `STREAM.UPDATE`, list items).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamInfo {
    /// Configuration (with the server's defaults filled in).
    pub config: StreamConfig,
    /// Creation time.
    pub created: DateTime,
    /// Current state.
    pub state: StreamState,
    /// Domain.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// Replica group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterInfo>,
    /// Mirror progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<StreamSourceInfo>,
    /// Sources progress.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub sources: Vec<StreamSourceInfo>,
    /// Mirrors that can answer Direct Gets.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub alternates: Vec<StreamAlternate>,
    /// When the server gathered this (absent before server 2.10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<DateTime>,
}

/// The `STREAM.CREATE` reply: the info, and whether this call created the stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCreateResponse {
    /// The stream.
    #[serde(flatten)]
    pub info: StreamInfo,
    /// `true` if created now, `false` if an identical stream existed (server 2.11).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub did_create: bool,
}

/// The `STREAM.INFO` request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamInfoRequest {
    /// List deleted sequences in `state.deleted`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted_details: bool,
    /// Fill `state.subjects` for subjects matching this filter.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subjects_filter: String,
    /// Page offset into the subjects.
    #[serde(skip_serializing_if = "is_default")]
    pub offset: usize,
}

/// The `STREAM.INFO` reply: the info, and paging of `state.subjects`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfoResponse {
    /// The stream.
    #[serde(flatten)]
    pub info: StreamInfo,
    /// Subjects in total.
    #[serde(default)]
    pub total: usize,
    /// This page's offset.
    #[serde(default)]
    pub offset: usize,
    /// Page size.
    #[serde(default)]
    pub limit: usize,
}

/// The `STREAM.NAMES` request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamNamesRequest {
    /// Page offset.
    #[serde(skip_serializing_if = "is_default")]
    pub offset: usize,
    /// Only streams that store this subject (wildcards allowed).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subject: String,
}

/// The `STREAM.LIST` request body (same shape as [`StreamNamesRequest`]).
pub type StreamListRequest = StreamNamesRequest;

/// The `STREAM.NAMES` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamNamesResponse {
    /// Streams in total.
    pub total: usize,
    /// This page's offset.
    pub offset: usize,
    /// Page size (1024).
    pub limit: usize,
    /// The names on this page.
    #[serde(deserialize_with = "null_default")]
    pub streams: Vec<String>,
}

/// The `STREAM.LIST` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamListResponse {
    /// Streams in total.
    pub total: usize,
    /// This page's offset.
    pub offset: usize,
    /// Page size (256).
    pub limit: usize,
    /// The streams on this page.
    #[serde(deserialize_with = "null_default")]
    pub streams: Vec<StreamInfo>,
    /// Streams that did not answer in time (clustered).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub missing: Vec<String>,
    /// Offline streams and why.
    #[serde(
        skip_serializing_if = "HashMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub offline: HashMap<String, String>,
}

/// The `STREAM.PURGE` request body; empty purges everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PurgeRequest {
    /// Only messages on this subject (wildcards allowed).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub filter: String,
    /// Purge up to, not including, this sequence.
    #[serde(skip_serializing_if = "is_default")]
    pub seq: u64,
    /// Keep this many of the newest messages.
    #[serde(skip_serializing_if = "is_default")]
    pub keep: u64,
}

/// The `STREAM.PURGE` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PurgeResponse {
    /// Whether it succeeded.
    pub success: bool,
    /// Messages removed.
    pub purged: u64,
}

/// A `{"success":true}` reply (stream and consumer delete, message delete, step-down).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SuccessResponse {
    /// Whether it succeeded.
    pub success: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jetstream::api::parse_response;
    use serde_json::{json, Value};

    /// A `STREAM.INFO` reply as a 2.14 server writes it, with fields this version does not
    /// model (`future_field`, `offline_reason`, unknown enum values in a second sample).
    const INFO_2_14: &str = r#"{
      "type": "io.nats.jetstream.api.v1.stream_info_response",
      "total": 2, "offset": 0, "limit": 100000,
      "config": {
        "name": "ORDERS",
        "description": "all orders",
        "subjects": ["orders.>"],
        "retention": "limits",
        "max_consumers": -1,
        "max_msgs": -1,
        "max_bytes": 1073741824,
        "max_age": 86400000000000,
        "max_msgs_per_subject": 10,
        "max_msg_size": 1048576,
        "discard": "new",
        "storage": "file",
        "num_replicas": 3,
        "duplicate_window": 120000000000,
        "placement": {"cluster": "east", "tags": ["ssd"]},
        "sources": [{"name": "EU", "opt_start_seq": 5,
                     "opt_start_time": "2025-01-02T03:04:05.123456789Z",
                     "subject_transforms": [{"src": "eu.>", "dest": "orders.eu.>"}],
                     "external": {"api": "$JS.eu.API", "deliver": ""}}],
        "compression": "s2",
        "first_seq": 1,
        "republish": {"src": "orders.>", "dest": "copy.>", "headers_only": true},
        "subject_transform": {"src": "in.>", "dest": "orders.>"},
        "allow_direct": true,
        "mirror_direct": false,
        "discard_new_per_subject": true,
        "sealed": false,
        "deny_delete": true,
        "deny_purge": false,
        "allow_rollup_hdrs": true,
        "consumer_limits": {"inactive_threshold": 300000000000, "max_ack_pending": 1000},
        "allow_msg_ttl": true,
        "subject_delete_marker_ttl": 60000000000,
        "allow_msg_counter": false,
        "allow_atomic": true,
        "allow_msg_schedules": true,
        "persist_mode": "async",
        "allow_batched": true,
        "metadata": {"_nats.req.level": "0", "_nats.ver": "2.14.5", "_nats.level": "4", "team": "a"},
        "future_field": {"nested": [1, 2, 3]}
      },
      "created": "2025-01-01T00:00:00.5Z",
      "state": {
        "messages": 3, "bytes": 300, "first_seq": 18446744073709551610,
        "first_ts": "2025-01-01T00:00:01Z", "last_seq": 18446744073709551615,
        "last_ts": "2025-01-01T00:00:02.000000001Z",
        "num_deleted": 3, "deleted": [18446744073709551611, 18446744073709551612, 18446744073709551613],
        "num_subjects": 2, "subjects": {"orders.a": 2, "orders.b": 1},
        "lost": {"msgs": null, "bytes": 0},
        "consumer_count": 4
      },
      "cluster": {"name": "east", "raft_group": "S-R3F-abc", "leader": "n1",
                  "leader_since": "2025-01-01T00:00:00Z", "system_account": true,
                  "traffic_account": "SYS",
                  "replicas": [{"name": "n2", "current": true, "active": 1200000, "peer": "x1"},
                               {"name": "n3", "current": false, "offline": true, "active": 0,
                                "lag": 7, "peer": "x2"}]},
      "sources": [{"name": "EU", "external": {"api": "$JS.eu.API", "deliver": ""},
                   "lag": 0, "active": -1,
                   "error": {"code": 503, "err_code": 10008, "description": "unavailable"}}],
      "alternates": [{"name": "ORDERS", "cluster": "east"}],
      "ts": "2025-01-01T00:00:03.123Z",
      "offline_reason": "x"
    }"#;

    #[test]
    fn default_config_is_minimal() {
        let cfg = StreamConfig::new("S");
        assert_eq!(serde_json::to_string(&cfg).unwrap(), r#"{"name":"S"}"#);
        let back: StreamConfig = serde_json::from_str(r#"{"name":"S"}"#).unwrap();
        assert_eq!(back, cfg);
        let req = StreamConfigRequest {
            config: cfg,
            pedantic: true,
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"name":"S","pedantic":true}"#
        );
    }

    #[test]
    fn full_info_parses_and_round_trips() {
        let resp: StreamInfoResponse = parse_response(INFO_2_14.as_bytes()).unwrap();
        assert_eq!((resp.total, resp.offset, resp.limit), (2, 0, 100_000));
        let info = &resp.info;
        let c = &info.config;
        assert_eq!(c.name, "ORDERS");
        assert_eq!(c.subjects, ["orders.>"]);
        assert_eq!(c.retention, RetentionPolicy::Limits);
        assert_eq!(c.max_consumers, -1);
        assert_eq!(c.max_bytes, 1 << 30);
        assert_eq!(c.max_age, Duration::from_secs(86_400));
        assert_eq!(c.max_msg_size, 1 << 20);
        assert_eq!(c.discard, DiscardPolicy::New);
        assert_eq!(c.storage, StorageType::File);
        assert_eq!(c.num_replicas, 3);
        assert_eq!(c.duplicate_window, Duration::from_secs(120));
        assert_eq!(c.placement.as_ref().unwrap().tags, ["ssd"]);
        let src = &c.sources[0];
        assert_eq!(src.opt_start_seq, 5);
        assert_eq!(
            src.opt_start_time.as_ref().unwrap().unix_nanos(),
            Some(1_735_787_045_123_456_789)
        );
        assert_eq!(src.external.as_ref().unwrap().api, "$JS.eu.API");
        assert_eq!(c.compression, Compression::S2);
        assert!(c.republish.as_ref().unwrap().headers_only);
        assert_eq!(c.subject_transform.as_ref().unwrap().dest, "orders.>");
        assert!(c.allow_direct && c.deny_delete && c.allow_rollup_hdrs);
        assert_eq!(
            c.consumer_limits,
            ConsumerLimits {
                inactive_threshold: Duration::from_secs(300),
                max_ack_pending: 1000
            }
        );
        assert!(c.allow_msg_ttl && c.allow_atomic && c.allow_msg_schedules && c.allow_batched);
        assert_eq!(c.subject_delete_marker_ttl, Duration::from_secs(60));
        assert_eq!(c.persist_mode, PersistMode::Async);
        assert_eq!(c.metadata["_nats.level"], "4");
        assert_eq!(c.extra["future_field"], json!({"nested": [1, 2, 3]}));

        let s = &info.state;
        assert_eq!(s.first_seq, 18_446_744_073_709_551_610);
        assert_eq!(s.last_seq, u64::MAX);
        assert_eq!(s.deleted.len(), 3);
        assert_eq!(s.subjects["orders.a"], 2);
        assert_eq!(s.lost, Some(LostStreamData::default()));
        assert_eq!(s.consumer_count, 4);
        let cl = info.cluster.as_ref().unwrap();
        assert_eq!(cl.leader, "n1");
        assert_eq!(cl.replicas[0].active, Duration::from_micros(1200));
        assert!(cl.replicas[1].offline);
        assert_eq!(info.sources[0].active, None);
        assert_eq!(
            info.sources[0].error.as_ref().unwrap().kind(),
            crate::jetstream::api::ApiErrorKind::ClusterNotAvailable
        );
        assert_eq!(info.alternates[0].cluster, "east");
        assert!(info.ts.is_some());

        // The config we would send back (an update) has every field, including the unknown
        // one, with the same values.
        let original: Value = serde_json::from_str(INFO_2_14).unwrap();
        let mut want = original["config"].clone();
        // Fields equal to the server's zero value are omitted, which the server reads back
        // as the same value.
        for zero in [
            "mirror_direct",
            "sealed",
            "deny_purge",
            "allow_msg_counter",
            "retention",
            "storage",
        ] {
            want.as_object_mut().unwrap().remove(zero);
        }
        assert_eq!(serde_json::to_value(c).unwrap(), want);

        // Re-reading our own serialization gives the same value.
        let again: StreamInfoResponse =
            serde_json::from_value(serde_json::to_value(&resp).unwrap()).unwrap();
        assert_eq!(again, resp);
    }

    #[test]
    fn unknown_enum_values_do_not_break_parsing() {
        let cfg: StreamConfig = serde_json::from_value(json!({
            "name": "S", "retention": "quantum", "discard": "sideways",
            "storage": "tape", "compression": "zstd", "persist_mode": "",
            "subjects": null, "sources": null, "metadata": null
        }))
        .unwrap();
        assert_eq!(cfg.retention, RetentionPolicy::Other("quantum".into()));
        assert_eq!(cfg.discard, DiscardPolicy::Other("sideways".into()));
        assert_eq!(cfg.storage, StorageType::Other("tape".into()));
        assert_eq!(cfg.compression, Compression::Other("zstd".into()));
        assert_eq!(cfg.persist_mode, PersistMode::Default);
        let back = serde_json::to_value(&cfg).unwrap();
        assert_eq!(
            back,
            json!({"name": "S", "retention": "quantum", "discard": "sideways",
                   "storage": "tape", "compression": "zstd"})
        );
    }

    #[test]
    fn enums_write_the_server_strings() {
        let cfg = StreamConfig {
            retention: RetentionPolicy::WorkQueue,
            storage: StorageType::Memory,
            persist_mode: PersistMode::Async,
            mirror: Some(StreamSource::from_domain("UP", "leaf")),
            ..StreamConfig::new("S")
        };
        assert_eq!(
            serde_json::to_value(&cfg).unwrap(),
            json!({"name": "S", "retention": "workqueue", "storage": "memory",
                   "persist_mode": "async",
                   "mirror": {"name": "UP", "external": {"api": "$JS.leaf.API", "deliver": ""}}})
        );
        assert_eq!(RetentionPolicy::Interest.as_str(), "interest");
        assert_eq!(DiscardPolicy::from_wire("new"), DiscardPolicy::New);
    }

    #[test]
    fn request_and_small_replies() {
        assert_eq!(
            serde_json::to_string(&StreamInfoRequest::default()).unwrap(),
            "{}"
        );
        let req = StreamInfoRequest {
            deleted_details: true,
            subjects_filter: ">".into(),
            offset: 1000,
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"deleted_details": true, "subjects_filter": ">", "offset": 1000})
        );
        assert_eq!(
            serde_json::to_value(PurgeRequest {
                filter: "a.*".into(),
                seq: 0,
                keep: 5
            })
            .unwrap(),
            json!({"filter": "a.*", "keep": 5})
        );
        let p: PurgeResponse = parse_response(
            br#"{"type":"io.nats.jetstream.api.v1.stream_purge_response","success":true,"purged":12}"#,
        )
        .unwrap();
        assert_eq!(
            p,
            PurgeResponse {
                success: true,
                purged: 12
            }
        );
        let d: SuccessResponse = parse_response(
            br#"{"type":"io.nats.jetstream.api.v1.stream_delete_response","success":true}"#,
        )
        .unwrap();
        assert!(d.success);
        assert_eq!(
            serde_json::to_value(StreamNamesRequest {
                offset: 0,
                subject: "orders.>".into()
            })
            .unwrap(),
            json!({"subject": "orders.>"})
        );
    }

    #[test]
    fn names_and_list_replies() {
        let names: StreamNamesResponse = parse_response(
            br#"{"type":"io.nats.jetstream.api.v1.stream_names_response","total":0,"offset":0,"limit":1024,"streams":null}"#,
        )
        .unwrap();
        assert!(names.streams.is_empty());
        assert_eq!(names.limit, 1024);
        let names: StreamNamesResponse = parse_response(
            br#"{"type":"t","total":2,"offset":0,"limit":1024,"streams":["A","B"]}"#,
        )
        .unwrap();
        assert_eq!(names.streams, ["A", "B"]);

        let mut item: Value = serde_json::from_str(INFO_2_14).unwrap();
        item.as_object_mut().unwrap().remove("type");
        let list = json!({"type": "io.nats.jetstream.api.v1.stream_list_response",
            "total": 3, "offset": 0, "limit": 256, "streams": [item],
            "missing": ["C"], "offline": {"D": "no quorum"}});
        let list: StreamListResponse = parse_response(list.to_string().as_bytes()).unwrap();
        assert_eq!(list.streams[0].config.name, "ORDERS");
        assert_eq!(list.missing, ["C"]);
        assert_eq!(list.offline["D"], "no quorum");
    }

    #[test]
    fn create_reply_and_minimal_info() {
        let created: StreamCreateResponse = parse_response(
            br#"{"type":"io.nats.jetstream.api.v1.stream_create_response",
                 "config":{"name":"S","subjects":["s"],"retention":"limits","max_consumers":-1,
                   "max_msgs":-1,"max_bytes":-1,"max_age":0,"max_msgs_per_subject":-1,
                   "max_msg_size":-1,"discard":"old","storage":"memory","num_replicas":1,
                   "duplicate_window":120000000000,"compression":"none","allow_direct":false,
                   "mirror_direct":false,"sealed":false,"deny_delete":false,"deny_purge":false,
                   "allow_rollup_hdrs":false,"consumer_limits":{},"allow_msg_ttl":false},
                 "created":"2025-06-01T10:00:00.000000001Z",
                 "state":{"messages":0,"bytes":0,"first_seq":0,"first_ts":"0001-01-01T00:00:00Z",
                   "last_seq":0,"last_ts":"0001-01-01T00:00:00Z","consumer_count":0},
                 "ts":"2025-06-01T10:00:00.000000002Z","did_create":true}"#,
        )
        .unwrap();
        assert!(created.did_create);
        assert_eq!(created.info.config.storage, StorageType::Memory);
        assert_eq!(created.info.config.max_msg_size, -1);
        assert!(created.info.state.first_ts.is_go_zero());
        assert_eq!(
            created.info.created.unix_nanos(),
            Some(1_748_772_000_000_000_001)
        );
    }
}
