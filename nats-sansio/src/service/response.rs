//! The JSON of the PING, INFO and STATS responses (spec §6, ADR-32, the jsm.go schemas), in
//! one set of types that the service writes and discovery reads.
//!
//! Written as nats.go writes them: the service's `metadata` always an object (`{}` when
//! empty), an endpoint's `metadata` `null` when it has none, `endpoints` always an array,
//! `queue_group` `""` when disabled, `last_error` `""` when none, durations in integer
//! nanoseconds, `data` left out without a stats handler. Read leniently, as the other clients
//! send them: `null` or a missing `metadata`, `description`, `endpoints`, `queue_group`,
//! `last_error` or counters read as empty or zero, unknown fields are ignored.
//!
//! Invariant: reading a reply never panics; a reply that is a status, a service error or not
//! the JSON of the expected type is a typed [`DiscoveryError`], never a half-filled value.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::jetstream::api::{nanos, DateTime};
use crate::proto::Message;

use super::config::Metadata;
use super::error::{service_error, DiscoveryError};

/// The `type` of a PING response.
pub const PING_RESPONSE_TYPE: &str = "io.nats.micro.v1.ping_response";
/// The `type` of an INFO response.
pub const INFO_RESPONSE_TYPE: &str = "io.nats.micro.v1.info_response";
/// The `type` of a STATS response.
pub const STATS_RESPONSE_TYPE: &str = "io.nats.micro.v1.stats_response";

/// `null` (or a missing field, with `#[serde(default)]`) as the type's default.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A string, or `null`; any other JSON value as its text (an error object, say).
fn lenient_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Null => String::new(),
        Value::String(s) => s,
        other => other.to_string(),
    })
}

/// An instance answering PING.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingResponse {
    /// The service name.
    pub name: String,
    /// The instance id.
    pub id: String,
    /// The service version.
    pub version: String,
    /// The service metadata (`{}` when none).
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// [`PING_RESPONSE_TYPE`].
    #[serde(rename = "type", default)]
    pub kind: String,
}

/// An instance answering INFO.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoResponse {
    /// The service name.
    pub name: String,
    /// The instance id.
    pub id: String,
    /// The service version.
    pub version: String,
    /// The service metadata (`{}` when none).
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// [`INFO_RESPONSE_TYPE`].
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The description (`""` when none).
    #[serde(default, deserialize_with = "null_as_default")]
    pub description: String,
    /// Every endpoint (`[]` when none).
    #[serde(default, deserialize_with = "null_as_default")]
    pub endpoints: Vec<EndpointInfo>,
}

/// One endpoint in an INFO response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointInfo {
    /// The endpoint name.
    pub name: String,
    /// Its subject.
    pub subject: String,
    /// Its queue group, `""` when disabled.
    #[serde(default, deserialize_with = "null_as_default")]
    pub queue_group: String,
    /// Its metadata; `None` is written `null`.
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// An instance answering STATS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsResponse {
    /// The service name.
    pub name: String,
    /// The instance id.
    pub id: String,
    /// The service version.
    pub version: String,
    /// The service metadata (`{}` when none).
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// [`STATS_RESPONSE_TYPE`].
    #[serde(rename = "type", default)]
    pub kind: String,
    /// When the instance started, or its stats were last reset (RFC 3339, UTC).
    #[serde(default)]
    pub started: DateTime,
    /// Every endpoint's stats (`[]` when none).
    #[serde(default, deserialize_with = "null_as_default")]
    pub endpoints: Vec<EndpointStats>,
}

/// One endpoint in a STATS response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointStats {
    /// The endpoint name.
    pub name: String,
    /// Its subject.
    pub subject: String,
    /// Its queue group, `""` when disabled.
    #[serde(default, deserialize_with = "null_as_default")]
    pub queue_group: String,
    /// Requests handled.
    #[serde(default, deserialize_with = "null_as_default")]
    pub num_requests: u64,
    /// Requests answered with an error.
    #[serde(default, deserialize_with = "null_as_default")]
    pub num_errors: u64,
    /// The last error, `<code>:<description>`; `""` when none.
    #[serde(default, deserialize_with = "lenient_string")]
    pub last_error: String,
    /// Time spent in the handler, in all (integer nanoseconds on the wire).
    #[serde(default, with = "nanos")]
    pub processing_time: Duration,
    /// `processing_time / num_requests` (integer nanoseconds).
    #[serde(default, with = "nanos")]
    pub average_processing_time: Duration,
    /// What the stats handler returned; left out without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A discovery response type: its `type` string, read from a reply.
pub trait VerbResponse: DeserializeOwned {
    /// The `type` field this response carries.
    const TYPE: &'static str;

    /// The `type` field received.
    fn kind(&self) -> &str;

    /// Reads a reply: a status (`503`: nobody there) or service-error headers come first,
    /// then the JSON, whose `type` must be [`Self::TYPE`].
    ///
    /// # Errors
    ///
    /// [`DiscoveryError`] saying which.
    fn from_message(message: &Message) -> Result<Self, DiscoveryError> {
        if let Some(status) = message.status() {
            return Err(DiscoveryError::Status(status));
        }
        if let Some(error) = service_error(message) {
            return Err(DiscoveryError::Service(error));
        }
        Self::from_json(&message.payload)
    }

    /// Reads the JSON payload, checking its `type`.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::Malformed`], [`DiscoveryError::WrongType`].
    fn from_json(payload: &[u8]) -> Result<Self, DiscoveryError> {
        let response: Self =
            serde_json::from_slice(payload).map_err(|e| DiscoveryError::Malformed {
                expected: Self::TYPE,
                reason: e.to_string(),
            })?;
        if response.kind() != Self::TYPE {
            return Err(DiscoveryError::WrongType {
                expected: Self::TYPE,
                found: response.kind().to_owned(),
            });
        }
        Ok(response)
    }
}

impl VerbResponse for PingResponse {
    const TYPE: &'static str = PING_RESPONSE_TYPE;

    fn kind(&self) -> &str {
        &self.kind
    }
}

impl VerbResponse for InfoResponse {
    const TYPE: &'static str = INFO_RESPONSE_TYPE;

    fn kind(&self) -> &str {
        &self.kind
    }
}

impl VerbResponse for StatsResponse {
    const TYPE: &'static str = STATS_RESPONSE_TYPE;

    fn kind(&self) -> &str {
        &self.kind
    }
}

#[cfg(test)]
mod tests;
