//! Account information (`$JS.API.INFO`): usage, limits, API statistics and level.
//!
//! Invariant: mirrors the server's `JetStreamAccountStats` (srv:jetstream.go); every field
//! defaults when absent, so older servers (no `level`, no tiers) parse too.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{is_default, null_default};

/// Limits of an account or tier (`-1` = unlimited).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountLimits {
    /// Memory storage limit in bytes.
    pub max_memory: i64,
    /// File storage limit in bytes.
    pub max_storage: i64,
    /// Stream count limit.
    pub max_streams: i64,
    /// Consumer count limit.
    pub max_consumers: i64,
    /// Per-consumer `max_ack_pending` limit.
    pub max_ack_pending: i64,
    /// Largest memory stream in bytes.
    pub memory_max_stream_bytes: i64,
    /// Largest file stream in bytes.
    pub storage_max_stream_bytes: i64,
    /// Streams must set `max_bytes`.
    pub max_bytes_required: bool,
}

/// JetStream API statistics (`api`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiStats {
    /// The server's API level (ADR-44; 0 before 2.11). Compare numerically; never map it to
    /// a version.
    pub level: u32,
    /// Requests received.
    pub total: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Requests being served.
    #[serde(skip_serializing_if = "is_default")]
    pub inflight: u64,
}

/// Usage and limits of one tier (`tiers`, e.g. `R1`, `R3`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tier {
    /// Memory used in bytes.
    pub memory: u64,
    /// File storage used in bytes.
    pub storage: u64,
    /// Memory reserved by `max_bytes` of memory streams.
    pub reserved_memory: u64,
    /// Storage reserved by `max_bytes` of file streams.
    pub reserved_storage: u64,
    /// Streams.
    pub streams: usize,
    /// Consumers.
    pub consumers: usize,
    /// Limits.
    pub limits: AccountLimits,
}

/// The `INFO` reply: the account's JetStream usage and limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountInfo {
    /// Memory used in bytes.
    pub memory: u64,
    /// File storage used in bytes.
    pub storage: u64,
    /// Memory reserved.
    pub reserved_memory: u64,
    /// Storage reserved.
    pub reserved_storage: u64,
    /// Streams.
    pub streams: usize,
    /// Consumers.
    pub consumers: usize,
    /// Limits (untiered accounts).
    pub limits: AccountLimits,
    /// The JetStream domain.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// API statistics and level.
    pub api: ApiStats,
    /// Per-tier usage and limits.
    #[serde(
        skip_serializing_if = "HashMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub tiers: HashMap<String, Tier>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jetstream::api::{parse_response, ApiErrorKind};

    #[test]
    fn account_info_from_a_2_14_server() {
        let reply = br#"{"type":"io.nats.jetstream.api.v1.account_info_response",
            "memory":1024,"storage":2048,"reserved_memory":0,"reserved_storage":1073741824,
            "streams":2,"consumers":3,
            "limits":{"max_memory":-1,"max_storage":-1,"max_streams":-1,"max_consumers":-1,
                      "max_ack_pending":-1,"memory_max_stream_bytes":-1,
                      "storage_max_stream_bytes":-1,"max_bytes_required":false},
            "domain":"hub",
            "api":{"level":4,"total":100,"errors":2,"inflight":1},
            "tiers":{"R1":{"memory":1024,"storage":2048,"reserved_memory":0,
                           "reserved_storage":0,"streams":2,"consumers":3,
                           "limits":{"max_memory":1000000,"max_storage":-1,"max_streams":10,
                                     "max_consumers":-1,"max_ack_pending":-1,
                                     "memory_max_stream_bytes":-1,
                                     "storage_max_stream_bytes":-1,
                                     "max_bytes_required":true}}},
            "unmodelled":{"a":1}}"#;
        let info: AccountInfo = parse_response(reply).unwrap();
        assert_eq!(info.memory, 1024);
        assert_eq!(info.reserved_storage, 1 << 30);
        assert_eq!(info.streams, 2);
        assert_eq!(info.limits.max_streams, -1);
        assert_eq!(info.domain, "hub");
        assert_eq!(info.api.level, 4);
        assert_eq!(info.api.errors, 2);
        let r1 = &info.tiers["R1"];
        assert_eq!(r1.limits.max_memory, 1_000_000);
        assert!(r1.limits.max_bytes_required);
        let again: AccountInfo =
            serde_json::from_value(serde_json::to_value(&info).unwrap()).unwrap();
        assert_eq!(again, info);
    }

    #[test]
    fn old_server_without_level_and_errors() {
        let old: AccountInfo = parse_response(
            br#"{"type":"io.nats.jetstream.api.v1.account_info_response","memory":0,
                 "storage":0,"streams":0,"consumers":0,"limits":{},"api":{"total":0,"errors":0}}"#,
        )
        .unwrap();
        assert_eq!(old.api.level, 0);
        assert!(old.tiers.is_empty());

        let off = parse_response::<AccountInfo>(
            br#"{"type":"io.nats.jetstream.api.v1.account_info_response","error":{"code":503,"err_code":10039,"description":"jetstream not enabled for account"}}"#,
        )
        .unwrap_err();
        assert_eq!(off.kind(), ApiErrorKind::JetStreamNotEnabled);
    }
}
