//! The service API ("micro", spec §6, ADR-32) as pure parts: services that any NATS tool can
//! find, ping and measure, and the client side that finds them.
//!
//! Invariant: nothing here does IO, reads a clock or draws randomness: an instance is given
//! its id (a NUID, from the adapter) and every wall-clock time, and is told how long each
//! request took. The adapter subscribes, runs the handlers and publishes; every rule (which
//! subjects, which queue group, what JSON, which headers, what counts as an error) is here.
//!
//! - [`config`]: [`Config`], [`EndpointConfig`], [`Group`], [`QueueGroup`] and every
//!   validation rule (names, the semantic version, metadata, queue groups, subjects).
//! - [`subjects`]: the verbs and their `$SRV` subjects, for a service and for discovery.
//! - [`instance`]: [`Service`], one instance's endpoints and stats, and its verb answers.
//! - [`response`]: the PING, INFO and STATS JSON, written by a service and read by
//!   discovery ([`VerbResponse::from_message`]).
//! - [`error`](mod@error): [`ServiceError`] and its headers ([`error_headers`],
//!   [`service_error`]), the configuration and discovery errors.
//!
//! Discovery gathers the answers of every instance with
//! [`RequestMany`](crate::request_many::RequestMany) on a [`verb_subject`].

pub mod config;
pub mod error;
pub mod instance;
pub mod response;
pub mod subjects;

pub use config::{
    validate_metadata, validate_name, validate_version, Config, EndpointConfig, Group, Metadata,
    QueueGroup, DEFAULT_API_PREFIX, DEFAULT_QUEUE_GROUP, MAX_METADATA_BYTES,
    RESERVED_METADATA_PREFIX,
};
pub use error::{
    error_headers, service_error, DiscoveryError, ServiceConfigError, ServiceError,
    ERROR_CODE_HEADER, ERROR_HEADER,
};
pub use instance::{started_at, Endpoint, EndpointId, Service};
pub use response::{
    EndpointInfo, EndpointStats, InfoResponse, PingResponse, StatsResponse, VerbResponse,
    INFO_RESPONSE_TYPE, PING_RESPONSE_TYPE, STATS_RESPONSE_TYPE,
};
pub use subjects::{validate_id, verb_subject, Verb};
