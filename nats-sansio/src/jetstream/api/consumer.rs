//! Consumer configuration and info, and the bodies of the `CONSUMER.*` APIs.
//!
//! Invariant: field names, types and omission rules follow the server's `ConsumerConfig`
//! (srv:consumer.go, server 2.14). A field is left out exactly when it holds the server's zero
//! value, except `ack_policy`, which is always written because our default (`explicit`, as in
//! the other clients) is not the server's zero (`none`). Unknown fields are kept.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::stream::ClusterInfo;
use super::time::{nanos, DateTime};
use super::{is_default, null_default, wire_enum};

/// Where a new consumer starts (`deliver_policy`, with `opt_start_seq` / `opt_start_time`).
///
/// On the wire this is up to three fields of the consumer config; [`ConsumerConfig`]
/// flattens it, so it serializes as those fields rather than as a value of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeliverPolicy {
    /// From the first message (the default).
    #[default]
    All,
    /// From the last message.
    Last,
    /// Only messages published after creation.
    New,
    /// From a stream sequence (`by_start_sequence` + `opt_start_seq`).
    ByStartSequence {
        /// The first stream sequence to deliver.
        start_seq: u64,
    },
    /// From a time (`by_start_time` + `opt_start_time`).
    ByStartTime {
        /// The earliest publish time to deliver.
        start_time: DateTime,
    },
    /// The last message of each subject.
    LastPerSubject,
    /// A value this version does not know, kept verbatim.
    Other(String),
}

impl DeliverPolicy {
    /// The `deliver_policy` string.
    pub fn as_str(&self) -> &str {
        match self {
            DeliverPolicy::All => "all",
            DeliverPolicy::Last => "last",
            DeliverPolicy::New => "new",
            DeliverPolicy::ByStartSequence { .. } => "by_start_sequence",
            DeliverPolicy::ByStartTime { .. } => "by_start_time",
            DeliverPolicy::LastPerSubject => "last_per_subject",
            DeliverPolicy::Other(s) => s,
        }
    }
}

impl Serialize for DeliverPolicy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match self {
            // The server's zero value: left out.
            DeliverPolicy::All => {}
            DeliverPolicy::ByStartSequence { start_seq } => {
                map.serialize_entry("deliver_policy", self.as_str())?;
                map.serialize_entry("opt_start_seq", start_seq)?;
            }
            DeliverPolicy::ByStartTime { start_time } => {
                map.serialize_entry("deliver_policy", self.as_str())?;
                map.serialize_entry("opt_start_time", start_time)?;
            }
            _ => map.serialize_entry("deliver_policy", self.as_str())?,
        }
        map.end()
    }
}

/// The three wire fields behind [`DeliverPolicy`].
#[derive(Deserialize)]
struct DeliverWire {
    #[serde(default)]
    deliver_policy: Option<String>,
    #[serde(default)]
    opt_start_seq: Option<u64>,
    #[serde(default)]
    opt_start_time: Option<DateTime>,
}

impl<'de> Deserialize<'de> for DeliverPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<DeliverPolicy, D::Error> {
        let wire = DeliverWire::deserialize(deserializer)?;
        Ok(match wire.deliver_policy.as_deref().unwrap_or("all") {
            "all" | "" => DeliverPolicy::All,
            "last" => DeliverPolicy::Last,
            "new" => DeliverPolicy::New,
            "by_start_sequence" => DeliverPolicy::ByStartSequence {
                start_seq: wire.opt_start_seq.unwrap_or(0),
            },
            "by_start_time" => DeliverPolicy::ByStartTime {
                start_time: wire.opt_start_time.unwrap_or_default(),
            },
            "last_per_subject" => DeliverPolicy::LastPerSubject,
            other => DeliverPolicy::Other(other.to_owned()),
        })
    }
}

wire_enum! {
    /// How messages are acknowledged (`ack_policy`).
    ///
    /// The default here is `Explicit`, as in the other clients; the server's own default for
    /// an absent field is `none`, so the field is always written.
    pub enum AckPolicy {
        /// No acks.
        None = "none",
        /// Acking one message acks every earlier one.
        All = "all",
        /// Every message is acked on its own (the default).
        Explicit = "explicit",
        /// Acks are implied by flow control replies (server 2.14, push consumers only).
        FlowControl = "flow_control",
    }
    default = Explicit;
}

wire_enum! {
    /// Delivery pace (`replay_policy`).
    pub enum ReplayPolicy {
        /// As fast as possible (the default).
        Instant = "instant",
        /// At the pace they were published.
        Original = "original",
    }
    default = Instant;
}

wire_enum! {
    /// How pull requests of a priority group are served (`priority_policy`, server 2.11).
    pub enum PriorityPolicy {
        /// No priority groups (the default).
        None = "none" | "",
        /// Pulls with `min_pending` / `min_ack_pending` only get messages past those levels.
        Overflow = "overflow",
        /// One client is pinned and gets everything; others stand by.
        PinnedClient = "pinned_client",
        /// Pulls with a lower `priority` are served first (server 2.12).
        Prioritized = "prioritized",
    }
    default = None;
}

wire_enum! {
    /// What a consumer create request may do (`action`).
    pub enum ConsumerAction {
        /// Create, or update if it exists (the default, `""`).
        CreateOrUpdate = "",
        /// Create only; a differing existing consumer is error 10148.
        Create = "create",
        /// Update only; a missing consumer is error 10149.
        Update = "update",
    }
    default = CreateOrUpdate;
}

/// A consumer's configuration, every field the server accepts up to 2.14.
///
/// Integer limits use the server's convention: `0` means "not set" and the server fills its
/// default. A default config serializes to `{"ack_policy":"explicit"}`.
///
/// ```
/// use nats_sansio::jetstream::api::{ConsumerConfig, DeliverPolicy};
///
/// let cfg = ConsumerConfig {
///     durable_name: "worker".into(),
///     deliver_policy: DeliverPolicy::ByStartSequence { start_seq: 42 },
///     ..ConsumerConfig::default()
/// };
/// assert_eq!(
///     serde_json::to_string(&cfg).unwrap(),
///     r#"{"durable_name":"worker","deliver_policy":"by_start_sequence","opt_start_seq":42,"ack_policy":"explicit"}"#
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumerConfig {
    /// Consumer name (server 2.9+; for durables, equal to `durable_name`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Durable name; a consumer without one is ephemeral.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub durable_name: String,
    /// Free text (≤ 4 KiB).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Where to start (`deliver_policy`, `opt_start_seq`, `opt_start_time`).
    #[serde(flatten)]
    pub deliver_policy: DeliverPolicy,
    /// Ack policy (always written).
    pub ack_policy: AckPolicy,
    /// Time to wait for an ack before redelivering (zero = server default, 30 s).
    #[serde(with = "nanos", skip_serializing_if = "Duration::is_zero")]
    pub ack_wait: Duration,
    /// Maximum deliveries (`-1` = unlimited).
    #[serde(skip_serializing_if = "is_default")]
    pub max_deliver: i64,
    /// Redelivery delays; the first replaces `ack_wait`.
    #[serde(with = "nanos::vec", skip_serializing_if = "Vec::is_empty")]
    pub backoff: Vec<Duration>,
    /// Only messages on this subject.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub filter_subject: String,
    /// Only messages on these subjects (server 2.10; instead of `filter_subject`).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub filter_subjects: Vec<String>,
    /// Replay pace.
    #[serde(skip_serializing_if = "is_default")]
    pub replay_policy: ReplayPolicy,
    /// Delivery rate limit in bits per second (push).
    #[serde(skip_serializing_if = "is_default")]
    pub rate_limit_bps: u64,
    /// Percentage of acks to sample for advisories, e.g. `"100%"`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sample_freq: String,
    /// Maximum outstanding pull requests (pull; default 512).
    #[serde(skip_serializing_if = "is_default")]
    pub max_waiting: i64,
    /// Maximum unacknowledged messages (default 1000 unless ack none).
    #[serde(skip_serializing_if = "is_default")]
    pub max_ack_pending: i64,
    /// Flow control (push; needs `idle_heartbeat`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub flow_control: bool,
    /// Deliver headers only, with the size in `Nats-Msg-Size`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub headers_only: bool,
    /// Largest `batch` a pull may ask for (pull).
    #[serde(skip_serializing_if = "is_default")]
    pub max_batch: i64,
    /// Longest `expires` a pull may ask for (pull).
    #[serde(with = "nanos", skip_serializing_if = "Duration::is_zero")]
    pub max_expires: Duration,
    /// Largest `max_bytes` a pull may ask for (pull).
    #[serde(skip_serializing_if = "is_default")]
    pub max_bytes: i64,
    /// Push consumers: where messages are delivered.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub deliver_subject: String,
    /// Push consumers: the queue group that receives them.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub deliver_group: String,
    /// Push consumers: idle heartbeat interval (≥ 100 ms).
    #[serde(with = "nanos", skip_serializing_if = "Duration::is_zero")]
    pub idle_heartbeat: Duration,
    /// Remove the consumer after this long without interest.
    #[serde(with = "nanos", skip_serializing_if = "Duration::is_zero")]
    pub inactive_threshold: Duration,
    /// Replicas (0 = the stream's).
    #[serde(skip_serializing_if = "is_default")]
    pub num_replicas: usize,
    /// Keep state in memory regardless of the stream's storage.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mem_storage: bool,
    /// User metadata (and the server's `_nats.*` keys).
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub metadata: BTreeMap<String, String>,
    /// Paused until this time (server 2.11).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_until: Option<DateTime>,
    /// Priority group names (pull; server 2.11).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub priority_groups: Vec<String>,
    /// Priority policy (server 2.11).
    #[serde(skip_serializing_if = "is_default")]
    pub priority_policy: PriorityPolicy,
    /// How long a pinned client stays pinned without pulling (`pinned_client`; default 2 min).
    #[serde(with = "nanos", skip_serializing_if = "Duration::is_zero")]
    pub priority_timeout: Duration,
    /// Fields this version does not know, kept for round trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The body of `CONSUMER.CREATE` (and the legacy durable create).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateConsumerRequest {
    /// The stream.
    pub stream_name: String,
    /// The consumer's configuration.
    pub config: ConsumerConfig,
    /// Create, update or either (left out for "either", which older servers expect).
    #[serde(skip_serializing_if = "is_default")]
    pub action: ConsumerAction,
    /// Refuse configs the server would otherwise adjust (server 2.11).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pedantic: bool,
}

/// A consumer and stream sequence pair (`delivered`, `ack_floor`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SequenceInfo {
    /// Consumer sequence.
    pub consumer_seq: u64,
    /// Stream sequence.
    pub stream_seq: u64,
    /// Last activity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_active: Option<DateTime>,
}

/// The state of one priority group (consumer info, server 2.11).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PriorityGroupState {
    /// Group name.
    pub group: String,
    /// The pinned client's id (`Nats-Pin-Id`), if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pinned_client_id: String,
    /// When it was pinned (Go zero time when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned_ts: Option<DateTime>,
}

/// A consumer's config and state (`CONSUMER.INFO`, `CONSUMER.CREATE`, list items).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumerInfo {
    /// The stream.
    pub stream_name: String,
    /// The consumer's name.
    pub name: String,
    /// Creation time.
    pub created: DateTime,
    /// Configuration (with the server's defaults filled in).
    pub config: ConsumerConfig,
    /// Last delivered sequences.
    pub delivered: SequenceInfo,
    /// Acknowledgement floor.
    pub ack_floor: SequenceInfo,
    /// Delivered but not yet acknowledged.
    pub num_ack_pending: u64,
    /// Redelivered and not yet acknowledged.
    pub num_redelivered: u64,
    /// Waiting pull requests.
    pub num_waiting: u64,
    /// Messages not yet delivered.
    pub num_pending: u64,
    /// Replica group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterInfo>,
    /// Push consumers: someone is subscribed to the deliver subject.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub push_bound: bool,
    /// Paused (server 2.11).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// Time left paused.
    #[serde(with = "nanos::option", skip_serializing_if = "Option::is_none")]
    pub pause_remaining: Option<Duration>,
    /// Priority group states.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub priority_groups: Vec<PriorityGroupState>,
    /// When the server gathered this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<DateTime>,
}

/// The `CONSUMER.NAMES` (and `CONSUMER.LIST`) request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumerNamesRequest {
    /// Page offset.
    #[serde(skip_serializing_if = "is_default")]
    pub offset: usize,
}

/// The `CONSUMER.NAMES` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumerNamesResponse {
    /// Consumers in total.
    pub total: usize,
    /// This page's offset.
    pub offset: usize,
    /// Page size.
    pub limit: usize,
    /// The names on this page.
    #[serde(deserialize_with = "null_default")]
    pub consumers: Vec<String>,
}

/// The `CONSUMER.LIST` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumerListResponse {
    /// Consumers in total.
    pub total: usize,
    /// This page's offset.
    pub offset: usize,
    /// Page size.
    pub limit: usize,
    /// The consumers on this page.
    #[serde(deserialize_with = "null_default")]
    pub consumers: Vec<ConsumerInfo>,
    /// Consumers that did not answer in time.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub missing: Vec<String>,
    /// Offline consumers and why.
    #[serde(
        skip_serializing_if = "HashMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub offline: HashMap<String, String>,
}

/// The `CONSUMER.PAUSE` request body; `None` (or a past time) resumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumerPauseRequest {
    /// Pause until this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_until: Option<DateTime>,
}

/// The `CONSUMER.PAUSE` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumerPauseResponse {
    /// Whether the consumer is now paused.
    pub paused: bool,
    /// Until when (Go zero time when resumed).
    pub pause_until: DateTime,
    /// Time left paused.
    #[serde(with = "nanos::option", skip_serializing_if = "Option::is_none")]
    pub pause_remaining: Option<Duration>,
}

/// The `CONSUMER.UNPIN` request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumerUnpinRequest {
    /// The priority group whose pinned client to release.
    pub group: String,
}

/// The `CONSUMER.RESET` request body (server 2.14).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumerResetRequest {
    /// The stream sequence to restart from (0 = the consumer's deliver policy start).
    #[serde(skip_serializing_if = "is_default")]
    pub seq: u64,
}

/// The `CONSUMER.RESET` reply: the consumer's info and the sequence it was reset to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerResetResponse {
    /// The consumer.
    #[serde(flatten)]
    pub info: ConsumerInfo,
    /// The sequence delivery restarts from.
    #[serde(default)]
    pub reset_seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jetstream::api::{parse_response, ApiErrorKind};
    use serde_json::{json, Value};

    const INFO_2_14: &str = r#"{
      "type": "io.nats.jetstream.api.v1.consumer_info_response",
      "stream_name": "ORDERS",
      "name": "worker",
      "created": "2025-03-04T05:06:07.123456789Z",
      "config": {
        "durable_name": "worker",
        "name": "worker",
        "description": "processes orders",
        "deliver_policy": "by_start_time",
        "opt_start_time": "2025-03-01T00:00:00Z",
        "ack_policy": "explicit",
        "ack_wait": 30000000000,
        "max_deliver": 5,
        "backoff": [1000000000, 5000000000, 30000000000],
        "filter_subjects": ["orders.new", "orders.retry"],
        "replay_policy": "instant",
        "sample_freq": "50%",
        "max_waiting": 512,
        "max_ack_pending": 1000,
        "headers_only": true,
        "max_batch": 100,
        "max_expires": 60000000000,
        "max_bytes": 1048576,
        "inactive_threshold": 300000000000,
        "num_replicas": 3,
        "mem_storage": true,
        "metadata": {"_nats.ver": "2.14.5", "_nats.level": "4", "_nats.req.level": "1"},
        "pause_until": "2030-01-01T00:00:00Z",
        "priority_groups": ["jobs"],
        "priority_policy": "pinned_client",
        "priority_timeout": 120000000000,
        "direct": false,
        "brand_new_option": true
      },
      "delivered": {"consumer_seq": 10, "stream_seq": 18446744073709551615,
                    "last_active": "2025-03-04T05:06:08Z"},
      "ack_floor": {"consumer_seq": 9, "stream_seq": 18446744073709551614},
      "num_ack_pending": 1,
      "num_redelivered": 2,
      "num_waiting": 3,
      "num_pending": 4,
      "cluster": {"leader": "n1", "replicas": [{"name": "n2", "current": true, "active": 5, "peer": "p"}]},
      "paused": true,
      "pause_remaining": 157766400000000000,
      "priority_groups": [{"group": "jobs", "pinned_client_id": "ABC", "pinned_ts": "2025-03-04T05:06:09Z"}],
      "ts": "2025-03-04T05:06:10Z"
    }"#;

    #[test]
    fn default_config_is_minimal() {
        let cfg = ConsumerConfig::default();
        assert_eq!(
            serde_json::to_string(&cfg).unwrap(),
            r#"{"ack_policy":"explicit"}"#
        );
        let back: ConsumerConfig = serde_json::from_str(r#"{"ack_policy":"explicit"}"#).unwrap();
        assert_eq!(back, cfg);
        // The server's reading of an absent ack_policy is `none`; ours is the default.
        let absent: ConsumerConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(absent.ack_policy, AckPolicy::Explicit);
    }

    #[test]
    fn full_info_parses_and_round_trips() {
        let info: ConsumerInfo = parse_response(INFO_2_14.as_bytes()).unwrap();
        assert_eq!(info.stream_name, "ORDERS");
        let c = &info.config;
        assert_eq!(c.durable_name, "worker");
        assert_eq!(
            c.deliver_policy,
            DeliverPolicy::ByStartTime {
                start_time: DateTime::new("2025-03-01T00:00:00Z")
            }
        );
        assert_eq!(c.ack_policy, AckPolicy::Explicit);
        assert_eq!(c.ack_wait, Duration::from_secs(30));
        assert_eq!(c.backoff, [1, 5, 30].map(Duration::from_secs).to_vec());
        assert_eq!(c.filter_subjects, ["orders.new", "orders.retry"]);
        assert_eq!(c.max_expires, Duration::from_secs(60));
        assert_eq!(c.priority_policy, PriorityPolicy::PinnedClient);
        assert_eq!(c.priority_timeout, Duration::from_secs(120));
        assert_eq!(
            c.pause_until.as_ref().unwrap().as_str(),
            "2030-01-01T00:00:00Z"
        );
        // Unknown fields survive; the deliver policy fields are not duplicated into them.
        assert_eq!(c.extra.len(), 2, "{:?}", c.extra);
        assert_eq!(c.extra["brand_new_option"], json!(true));
        assert_eq!(c.extra["direct"], json!(false));
        assert_eq!(info.delivered.stream_seq, u64::MAX);
        assert!(info.delivered.last_active.is_some());
        assert_eq!(info.ack_floor.last_active, None);
        assert_eq!(info.num_pending, 4);
        assert!(info.paused);
        assert_eq!(
            info.pause_remaining,
            Some(Duration::from_nanos(157_766_400_000_000_000))
        );
        assert_eq!(info.priority_groups[0].pinned_client_id, "ABC");
        assert_eq!(info.cluster.as_ref().unwrap().leader, "n1");

        let original: Value = serde_json::from_str(INFO_2_14).unwrap();
        let mut want = original["config"].clone();
        want.as_object_mut().unwrap().remove("replay_policy"); // the zero value
        assert_eq!(serde_json::to_value(c).unwrap(), want);
        let again: ConsumerInfo =
            serde_json::from_value(serde_json::to_value(&info).unwrap()).unwrap();
        assert_eq!(again, info);
    }

    #[test]
    fn deliver_policies_on_the_wire() {
        let cases = [
            (DeliverPolicy::All, json!({})),
            (DeliverPolicy::Last, json!({"deliver_policy": "last"})),
            (DeliverPolicy::New, json!({"deliver_policy": "new"})),
            (
                DeliverPolicy::ByStartSequence { start_seq: 7 },
                json!({"deliver_policy": "by_start_sequence", "opt_start_seq": 7}),
            ),
            (
                DeliverPolicy::ByStartTime {
                    start_time: DateTime::new("2025-01-01T00:00:00Z"),
                },
                json!({"deliver_policy": "by_start_time", "opt_start_time": "2025-01-01T00:00:00Z"}),
            ),
            (
                DeliverPolicy::LastPerSubject,
                json!({"deliver_policy": "last_per_subject"}),
            ),
            (
                DeliverPolicy::Other("undefined".into()),
                json!({"deliver_policy": "undefined"}),
            ),
        ];
        for (policy, fields) in cases {
            let cfg = ConsumerConfig {
                deliver_policy: policy.clone(),
                ack_policy: AckPolicy::None,
                ..ConsumerConfig::default()
            };
            let mut want = fields.as_object().unwrap().clone();
            want.insert("ack_policy".into(), json!("none"));
            let got = serde_json::to_value(&cfg).unwrap();
            assert_eq!(got, Value::Object(want), "{policy:?}");
            let back: ConsumerConfig = serde_json::from_value(got).unwrap();
            assert_eq!(back.deliver_policy, policy);
            assert!(back.extra.is_empty());
        }
        // The server writes "all" explicitly; it reads back as All.
        let all: ConsumerConfig =
            serde_json::from_value(json!({"deliver_policy": "all", "ack_policy": "all"})).unwrap();
        assert_eq!(all.deliver_policy, DeliverPolicy::All);
        assert_eq!(all.ack_policy, AckPolicy::All);
    }

    #[test]
    fn unknown_policies_fall_back() {
        let cfg: ConsumerConfig = serde_json::from_value(json!({
            "ack_policy": "quorum", "replay_policy": "reverse",
            "priority_policy": "weighted", "backoff": null, "filter_subjects": null
        }))
        .unwrap();
        assert_eq!(cfg.ack_policy, AckPolicy::Other("quorum".into()));
        assert_eq!(cfg.replay_policy, ReplayPolicy::Other("reverse".into()));
        assert_eq!(
            cfg.priority_policy,
            PriorityPolicy::Other("weighted".into())
        );
        assert!(cfg.backoff.is_empty());
        let flow: ConsumerConfig =
            serde_json::from_value(json!({"ack_policy": "flow_control", "flow_control": true}))
                .unwrap();
        assert_eq!(flow.ack_policy, AckPolicy::FlowControl);
    }

    #[test]
    fn create_request_body() {
        let req = CreateConsumerRequest {
            stream_name: "S".into(),
            config: ConsumerConfig {
                name: "c".into(),
                filter_subject: "s.a".into(),
                inactive_threshold: Duration::from_secs(5),
                ..ConsumerConfig::default()
            },
            action: ConsumerAction::Create,
            pedantic: false,
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"stream_name": "S", "config": {"name": "c", "ack_policy": "explicit",
                "filter_subject": "s.a", "inactive_threshold": 5_000_000_000u64},
                "action": "create"})
        );
        let either = CreateConsumerRequest {
            stream_name: "S".into(),
            ..CreateConsumerRequest::default()
        };
        assert_eq!(
            serde_json::to_value(&either).unwrap(),
            json!({"stream_name": "S", "config": {"ack_policy": "explicit"}})
        );
        let parsed: CreateConsumerRequest =
            serde_json::from_value(json!({"stream_name": "S", "config": {}, "action": ""}))
                .unwrap();
        assert_eq!(parsed.action, ConsumerAction::CreateOrUpdate);
        assert_eq!(
            serde_json::to_value(ConsumerAction::Update).unwrap(),
            json!("update")
        );
    }

    #[test]
    fn small_bodies_and_replies() {
        assert_eq!(
            serde_json::to_value(ConsumerPauseRequest {
                pause_until: Some(DateTime::new("2030-01-01T00:00:00Z"))
            })
            .unwrap(),
            json!({"pause_until": "2030-01-01T00:00:00Z"})
        );
        assert_eq!(
            serde_json::to_string(&ConsumerPauseRequest::default()).unwrap(),
            "{}"
        );
        let paused: ConsumerPauseResponse = parse_response(
            br#"{"type":"io.nats.jetstream.api.v1.consumer_pause_response","paused":true,
                 "pause_until":"2030-01-01T00:00:00Z","pause_remaining":1000}"#,
        )
        .unwrap();
        assert!(paused.paused);
        assert_eq!(paused.pause_remaining, Some(Duration::from_nanos(1000)));
        assert_eq!(
            serde_json::to_value(ConsumerUnpinRequest {
                group: "jobs".into()
            })
            .unwrap(),
            json!({"group": "jobs"})
        );
        assert_eq!(
            serde_json::to_value(ConsumerResetRequest { seq: 9 }).unwrap(),
            json!({"seq": 9})
        );
        let mut reset: Value = serde_json::from_str(INFO_2_14).unwrap();
        reset["reset_seq"] = json!(77);
        let reset: ConsumerResetResponse = parse_response(reset.to_string().as_bytes()).unwrap();
        assert_eq!(reset.reset_seq, 77);
        assert_eq!(reset.info.name, "worker");

        let names: ConsumerNamesResponse = parse_response(
            br#"{"type":"io.nats.jetstream.api.v1.consumer_names_response","total":0,"offset":0,"limit":1024,"consumers":null}"#,
        )
        .unwrap();
        assert!(names.consumers.is_empty());
        let list: ConsumerListResponse = parse_response(
            format!(
                r#"{{"type":"t","total":1,"offset":0,"limit":256,"consumers":[{INFO_2_14}],"missing":null}}"#
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(list.consumers[0].config.max_deliver, 5);

        let missing = parse_response::<ConsumerInfo>(
            br#"{"type":"io.nats.jetstream.api.v1.consumer_info_response","error":{"code":404,"err_code":10014,"description":"consumer not found"}}"#,
        )
        .unwrap_err();
        assert_eq!(missing.kind(), ApiErrorKind::ConsumerNotFound);
    }
}
