//! The service API's errors: configuration refusals ([`ServiceConfigError`]), an endpoint's
//! error reply ([`ServiceError`], carried in the `Nats-Service-Error` and
//! `Nats-Service-Error-Code` headers, spec §6 and ADR-32), and what discovery reports about a
//! reply it cannot read ([`DiscoveryError`]).
//!
//! Invariant: [`error_headers`] always yields headers that pass
//! [`HeaderMap::validate`] (a CR or LF in a description becomes a space) with a numeric code,
//! and [`service_error`] reads back exactly the code and (trimmed) description it wrote; a
//! reply carrying either header is an error, never data, whatever else it holds.

use std::fmt;

use crate::proto::{HeaderMap, Message, StatusCode};

/// The header carrying an error reply's description.
pub const ERROR_HEADER: &str = "Nats-Service-Error";
/// The header carrying an error reply's code, always a number.
pub const ERROR_CODE_HEADER: &str = "Nats-Service-Error-Code";

/// An endpoint's error reply: a numeric code and a description.
///
/// Displayed as `<code>:<description>`, which is also what the endpoint's stats report as
/// `last_error` after it (nats.go's form).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceError {
    /// The code (ADR-32: always a number; HTTP-like by convention, 500 for internal errors).
    pub code: u32,
    /// What went wrong, fit to show a user.
    pub description: String,
}

impl ServiceError {
    /// An error with this code and description.
    pub fn new(code: u32, description: impl Into<String>) -> ServiceError {
        ServiceError {
            code,
            description: description.into(),
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.code, self.description)
    }
}

impl std::error::Error for ServiceError {}

/// The headers of an error reply: `Nats-Service-Error: <description>` and
/// `Nats-Service-Error-Code: <code>`. A CR or LF in the description (which no header value
/// may hold) is sent as a space.
///
/// ```
/// use nats_sansio::service::{error_headers, ServiceError};
///
/// let headers = error_headers(&ServiceError::new(404, "no such user"));
/// assert_eq!(headers.get("Nats-Service-Error"), Some("no such user"));
/// assert_eq!(headers.get("Nats-Service-Error-Code"), Some("404"));
/// ```
pub fn error_headers(error: &ServiceError) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let description: String = error
        .description
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    headers.insert(ERROR_HEADER, description);
    headers.insert(ERROR_CODE_HEADER, error.code.to_string());
    headers
}

/// The service error a reply carries, if any: a reply with either header is one. A missing
/// description reads as empty; a missing code, or one that is not a number (ADR-32 requires
/// one; nats.go does not check), reads as 500 so the reply still counts as an error.
pub fn service_error(message: &Message) -> Option<ServiceError> {
    let headers = message.headers.as_ref()?;
    let description = headers.get(ERROR_HEADER);
    let code = headers.get(ERROR_CODE_HEADER);
    if description.is_none() && code.is_none() {
        return None;
    }
    let code = code
        .and_then(|c| c.trim().parse::<u32>().ok())
        .unwrap_or(u32::from(StatusCode::INTERNAL_ERROR.as_u16()));
    Some(ServiceError {
        code,
        description: description.unwrap_or_default().trim().to_owned(),
    })
}

/// Why a service, group or endpoint was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceConfigError {
    /// A service name must match `^[A-Za-z0-9\-_]+$`.
    #[error("invalid service name {0:?}: use letters, digits, '-' and '_' only")]
    InvalidName(String),
    /// The version must be a semantic version (semver.org's regular expression).
    #[error("invalid service version {0:?}: it must be a semantic version such as 1.0.0")]
    InvalidVersion(String),
    /// The instance id must be one subject token (no '.', wildcard or whitespace).
    #[error("invalid service id {0:?}: it must be a single subject token")]
    InvalidId(String),
    /// The discovery prefix must be a subject without wildcards.
    #[error("invalid service API prefix {0:?}")]
    InvalidApiPrefix(String),
    /// Metadata keys and values take more than 128 KiB in all.
    #[error("metadata takes {size} bytes; at most {max} are allowed")]
    MetadataTooLarge {
        /// The bytes of every key and value.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Metadata keys starting with `_nats` are reserved.
    #[error("metadata key {0:?} is reserved: keys starting with '_nats' belong to NATS")]
    ReservedMetadataKey(String),
    /// A queue group must be non-empty, match `^[^ >]*[>]?$` and hold no whitespace.
    #[error("invalid queue group {0:?}")]
    InvalidQueueGroup(String),
    /// A group name must be empty or a subject without `>`.
    #[error("invalid group name {0:?}: a group is a subject prefix without '>'")]
    InvalidGroup(String),
    /// An endpoint name must match `^[A-Za-z0-9\-_]+$`.
    #[error("invalid endpoint name {0:?}: use letters, digits, '-' and '_' only")]
    InvalidEndpointName(String),
    /// An endpoint subject must match `^[^ >]*[>]?$` and be a valid subscription subject.
    #[error("invalid endpoint subject {0:?}")]
    InvalidEndpointSubject(String),
    /// A discovery subject names an instance id without a service name.
    #[error("a service id needs a service name")]
    IdWithoutName,
}

/// Why a discovery reply could not be read.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The service answered with an error reply (ADR-32 headers).
    #[error("service error {0}")]
    Service(ServiceError),
    /// A status in place of a reply (503: nobody answers on that subject).
    #[error("status {0} in place of a reply")]
    Status(StatusCode),
    /// The payload is not the JSON of that response.
    #[error("malformed {expected} response: {reason}")]
    Malformed {
        /// The response type expected.
        expected: &'static str,
        /// What the JSON parser said.
        reason: String,
    },
    /// The JSON is a response of another type.
    #[error("expected a {expected} response, got type {found:?}")]
    WrongType {
        /// The response type expected.
        expected: &'static str,
        /// The `type` field received.
        found: String,
    },
}
