//! The response envelope and its errors.
//!
//! Invariant: an error is recognised by its numeric `err_code` only, never by its
//! `description` (ADR-7); a reply is an error exactly when it has an `error` object or is a
//! legacy `-ERR` text line.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A JetStream error code (`err_code`, from the server's `errors.json`).
///
/// The constants name the codes a client acts on (spec §3.2); any other value is still
/// carried and compared as a number.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct ErrorCode(pub u16);

impl ErrorCode {
    /// 10008 (503): JetStream system temporarily unavailable; retry.
    pub const CLUSTER_NOT_AVAILABLE: ErrorCode = ErrorCode(10008);
    /// 10013 (400): consumer name already in use (legacy durable create).
    pub const CONSUMER_NAME_EXISTS: ErrorCode = ErrorCode(10013);
    /// 10014 (404): consumer not found.
    pub const CONSUMER_NOT_FOUND: ErrorCode = ErrorCode(10014);
    /// 10037 (404): no message found (a `STREAM.MSG.GET` miss).
    pub const NO_MESSAGE_FOUND: ErrorCode = ErrorCode(10037);
    /// 10039 (503): JetStream not enabled for the account.
    pub const NOT_ENABLED_FOR_ACCOUNT: ErrorCode = ErrorCode(10039);
    /// 10054 (400): message size exceeds the stream's maximum.
    pub const MESSAGE_TOO_LARGE: ErrorCode = ErrorCode(10054);
    /// 10058 (400): stream name already in use with a different configuration.
    pub const STREAM_NAME_IN_USE: ErrorCode = ErrorCode(10058);
    /// 10059 (404): stream not found.
    pub const STREAM_NOT_FOUND: ErrorCode = ErrorCode(10059);
    /// 10060 (400): `Nats-Expected-Stream` does not match.
    pub const STREAM_NOT_MATCH: ErrorCode = ErrorCode(10060);
    /// 10070 (400): wrong last msg ID (`Nats-Expected-Last-Msg-Id` failed).
    pub const WRONG_LAST_MSG_ID: ErrorCode = ErrorCode(10070);
    /// 10071 (400): wrong last sequence: {seq} (a CAS failure).
    pub const WRONG_LAST_SEQUENCE: ErrorCode = ErrorCode(10071);
    /// 10076 (503): JetStream not enabled.
    pub const NOT_ENABLED: ErrorCode = ErrorCode(10076);
    /// 10097 (400): headers exceed the 64 KiB maximum.
    pub const HEADER_TOO_LARGE: ErrorCode = ErrorCode(10097);
    /// 10109 (400): invalid operation on a sealed stream.
    pub const STREAM_SEALED: ErrorCode = ErrorCode(10109);
    /// 10148 (400): consumer already exists (action `create` with a different config).
    pub const CONSUMER_ALREADY_EXISTS: ErrorCode = ErrorCode(10148);
    /// 10149 (400): consumer does not exist (action `update`).
    pub const CONSUMER_DOES_NOT_EXIST: ErrorCode = ErrorCode(10149);
    /// 10158 (409): a message with this id is being processed; retry later.
    pub const DUPLICATE_MESSAGE_CONFLICT: ErrorCode = ErrorCode(10158);
    /// 10159 (400): a priority policy needs at least one priority group.
    pub const PRIORITY_POLICY_WITHOUT_GROUP: ErrorCode = ErrorCode(10159);
    /// 10160 (400): the priority group does not exist on this consumer.
    pub const INVALID_PRIORITY_GROUP: ErrorCode = ErrorCode(10160);
    /// 10161 (400): empty priority group name.
    pub const EMPTY_GROUP_NAME: ErrorCode = ErrorCode(10161);
    /// 10162 (400): invalid priority group name.
    pub const INVALID_GROUP_NAME: ErrorCode = ErrorCode(10162);
    /// 10163 (503): expected last sequence per subject temporarily unavailable; retry.
    pub const EXPECTED_LAST_SEQ_PER_SUBJECT_NOT_READY: ErrorCode = ErrorCode(10163);
    /// 10164 (400): wrong last sequence, without the number (replicated streams); the same
    /// CAS failure as [`WRONG_LAST_SEQUENCE`](ErrorCode::WRONG_LAST_SEQUENCE).
    pub const WRONG_LAST_SEQUENCE_CONCURRENT: ErrorCode = ErrorCode(10164);
    /// 10165 (400): invalid per-message TTL.
    pub const MESSAGE_TTL_INVALID: ErrorCode = ErrorCode(10165);
    /// 10166 (400): per-message TTL is disabled on the stream.
    pub const MESSAGE_TTL_DISABLED: ErrorCode = ErrorCode(10166);
    /// 10167 (429): too many requests (stream ingest queue full); back off and retry.
    pub const TOO_MANY_REQUESTS: ErrorCode = ErrorCode(10167);
    /// 10178 (400): priority groups on a push consumer.
    pub const PUSH_WITH_PRIORITY_GROUP: ErrorCode = ErrorCode(10178);
    /// 10185 (412): the request's `Nats-Required-Api-Level` is above the server's.
    pub const REQUIRED_API_LEVEL: ErrorCode = ErrorCode(10185);
    /// 10193 (400): missing sequence for expected last sequence per subject.
    pub const EXPECTED_LAST_SEQ_PER_SUBJECT_INVALID: ErrorCode = ErrorCode(10193);
    /// 10196 (400): priority groups with priority policy `none`.
    pub const PRIORITY_GROUP_WITH_POLICY_NONE: ErrorCode = ErrorCode(10196);
    /// 10197 (400): `priority_timeout` set with priority policy `none`.
    pub const PINNED_TTL_WITHOUT_PRIORITY_POLICY: ErrorCode = ErrorCode(10197);
    /// 10210 (429): too many atomic batch publishes in flight.
    pub const ATOMIC_PUBLISH_TOO_MANY_INFLIGHT: ErrorCode = ErrorCode(10210);
    /// 10211 (429): too many batch publishes in flight.
    pub const BATCH_PUBLISH_TOO_MANY_INFLIGHT: ErrorCode = ErrorCode(10211);
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What an [`ApiError`] means to a client, decided by `err_code` alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// 10059.
    StreamNotFound,
    /// 10014.
    ConsumerNotFound,
    /// 10037.
    NoMessageFound,
    /// 10071 or 10164: an expected-last-sequence check failed.
    WrongLastSequence,
    /// 10070.
    WrongLastMsgId,
    /// 10058: the stream exists with a different configuration.
    StreamNameInUse,
    /// 10148: action `create` found a consumer with a different configuration.
    ConsumerExists,
    /// 10149: action `update` found no consumer.
    ConsumerDoesNotExist,
    /// 10039 or 10076.
    JetStreamNotEnabled,
    /// 10008: the cluster is temporarily unavailable.
    ClusterNotAvailable,
    /// 10167: publish back-pressure.
    TooManyRequests,
    /// 10210 or 10211: too many batch publishes in flight.
    TooManyInflightBatches,
    /// 10060.
    StreamNotMatch,
    /// 10109.
    StreamSealed,
    /// 10185.
    RequiredApiLevel,
    /// Any other code.
    Other,
}

/// An error reply from the JetStream API: `{"code":..,"err_code":..,"description":..}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{description} (status {code}, err_code {err_code})")]
pub struct ApiError {
    /// The HTTP-like status (400, 404, 429, 503, ...).
    #[serde(default)]
    pub code: u16,
    /// The JetStream error code; 0 if the server sent none.
    #[serde(default, skip_serializing_if = "is_zero_code")]
    pub err_code: ErrorCode,
    /// Human-readable text; for display only, never for matching.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

fn is_zero_code(code: &ErrorCode) -> bool {
    code.0 == 0
}

impl ApiError {
    /// What the error means, from `err_code`.
    pub fn kind(&self) -> ApiErrorKind {
        match self.err_code {
            ErrorCode::STREAM_NOT_FOUND => ApiErrorKind::StreamNotFound,
            ErrorCode::CONSUMER_NOT_FOUND => ApiErrorKind::ConsumerNotFound,
            ErrorCode::NO_MESSAGE_FOUND => ApiErrorKind::NoMessageFound,
            ErrorCode::WRONG_LAST_SEQUENCE | ErrorCode::WRONG_LAST_SEQUENCE_CONCURRENT => {
                ApiErrorKind::WrongLastSequence
            }
            ErrorCode::WRONG_LAST_MSG_ID => ApiErrorKind::WrongLastMsgId,
            ErrorCode::STREAM_NAME_IN_USE => ApiErrorKind::StreamNameInUse,
            ErrorCode::CONSUMER_ALREADY_EXISTS => ApiErrorKind::ConsumerExists,
            ErrorCode::CONSUMER_DOES_NOT_EXIST => ApiErrorKind::ConsumerDoesNotExist,
            ErrorCode::NOT_ENABLED_FOR_ACCOUNT | ErrorCode::NOT_ENABLED => {
                ApiErrorKind::JetStreamNotEnabled
            }
            ErrorCode::CLUSTER_NOT_AVAILABLE => ApiErrorKind::ClusterNotAvailable,
            ErrorCode::TOO_MANY_REQUESTS => ApiErrorKind::TooManyRequests,
            ErrorCode::ATOMIC_PUBLISH_TOO_MANY_INFLIGHT
            | ErrorCode::BATCH_PUBLISH_TOO_MANY_INFLIGHT => ApiErrorKind::TooManyInflightBatches,
            ErrorCode::STREAM_NOT_MATCH => ApiErrorKind::StreamNotMatch,
            ErrorCode::STREAM_SEALED => ApiErrorKind::StreamSealed,
            ErrorCode::REQUIRED_API_LEVEL => ApiErrorKind::RequiredApiLevel,
            _ => ApiErrorKind::Other,
        }
    }
}

/// Why a JetStream API reply is not the expected success body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The server answered with an error object.
    #[error("JetStream API error: {0}")]
    Api(#[from] ApiError),
    /// The server answered with a legacy text error, `-ERR '<text>'`; the text is unquoted.
    #[error("JetStream API error: {0}")]
    Legacy(String),
    /// The reply is neither an error nor the expected body (bad JSON or wrong shape).
    #[error("malformed JetStream API response: {0}")]
    Malformed(String),
}

impl ResponseError {
    /// The API error, if the server sent one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            ResponseError::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The error's [`ApiErrorKind`]; [`ApiErrorKind::Other`] for legacy and malformed replies.
    pub fn kind(&self) -> ApiErrorKind {
        self.api().map_or(ApiErrorKind::Other, ApiError::kind)
    }
}

/// Just enough of a reply to see whether it is an error; other fields are skipped.
#[derive(Deserialize)]
struct ErrorProbe {
    #[serde(default)]
    error: Option<ApiError>,
}

/// If `payload` is a legacy `-ERR` text reply, its text without the quotes.
pub(crate) fn legacy_error(payload: &[u8]) -> Option<ResponseError> {
    let rest = payload.trim_ascii_start().strip_prefix(b"-ERR")?;
    let text = String::from_utf8_lossy(rest.trim_ascii());
    let text = text
        .strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .unwrap_or(&text);
    Some(ResponseError::Legacy(text.to_owned()))
}

/// Parses a JetStream API reply: the success body `T`, or the error it carries.
///
/// Every `$JS.API` reply is JSON with a `type` (ignored here) and, on failure, an `error`
/// object; a few legacy paths answer `-ERR '<text>'`.
///
/// ```
/// use nats_sansio::jetstream::api::{parse_response, ApiErrorKind, StreamInfo};
///
/// let reply = br#"{"type":"io.nats.jetstream.api.v1.stream_info_response",
///     "error":{"code":404,"err_code":10059,"description":"stream not found"}}"#;
/// let err = parse_response::<StreamInfo>(reply).unwrap_err();
/// assert_eq!(err.kind(), ApiErrorKind::StreamNotFound);
/// ```
///
/// # Errors
///
/// [`ResponseError::Api`] for an error object, [`ResponseError::Legacy`] for `-ERR` text, and
/// [`ResponseError::Malformed`] if the payload is not JSON of the expected shape.
pub fn parse_response<T: DeserializeOwned>(payload: &[u8]) -> Result<T, ResponseError> {
    if let Some(err) = legacy_error(payload) {
        return Err(err);
    }
    match serde_json::from_slice::<ErrorProbe>(payload) {
        Ok(ErrorProbe { error: Some(e) }) => return Err(ResponseError::Api(e)),
        Ok(ErrorProbe { error: None }) => {}
        Err(e) => return Err(ResponseError::Malformed(e.to_string())),
    }
    serde_json::from_slice(payload).map_err(|e| ResponseError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Body {
        success: bool,
    }

    #[test]
    fn every_code_maps_to_its_kind() {
        let table = [
            (10059, ApiErrorKind::StreamNotFound),
            (10014, ApiErrorKind::ConsumerNotFound),
            (10037, ApiErrorKind::NoMessageFound),
            (10071, ApiErrorKind::WrongLastSequence),
            (10164, ApiErrorKind::WrongLastSequence),
            (10070, ApiErrorKind::WrongLastMsgId),
            (10058, ApiErrorKind::StreamNameInUse),
            (10148, ApiErrorKind::ConsumerExists),
            (10149, ApiErrorKind::ConsumerDoesNotExist),
            (10039, ApiErrorKind::JetStreamNotEnabled),
            (10076, ApiErrorKind::JetStreamNotEnabled),
            (10008, ApiErrorKind::ClusterNotAvailable),
            (10167, ApiErrorKind::TooManyRequests),
            (10210, ApiErrorKind::TooManyInflightBatches),
            (10211, ApiErrorKind::TooManyInflightBatches),
            (10060, ApiErrorKind::StreamNotMatch),
            (10109, ApiErrorKind::StreamSealed),
            (10185, ApiErrorKind::RequiredApiLevel),
            (10013, ApiErrorKind::Other),
            (10054, ApiErrorKind::Other),
            (10097, ApiErrorKind::Other),
            (10158, ApiErrorKind::Other),
            (10159, ApiErrorKind::Other),
            (10160, ApiErrorKind::Other),
            (10161, ApiErrorKind::Other),
            (10162, ApiErrorKind::Other),
            (10163, ApiErrorKind::Other),
            (10165, ApiErrorKind::Other),
            (10166, ApiErrorKind::Other),
            (10178, ApiErrorKind::Other),
            (10193, ApiErrorKind::Other),
            (10196, ApiErrorKind::Other),
            (10197, ApiErrorKind::Other),
            (0, ApiErrorKind::Other),
            (65535, ApiErrorKind::Other),
        ];
        for (code, kind) in table {
            let e = ApiError {
                code: 400,
                err_code: ErrorCode(code),
                description: "stream not found".into(),
            };
            assert_eq!(e.kind(), kind, "{code}");
        }
    }

    #[test]
    fn constants_have_the_spec_values() {
        assert_eq!(ErrorCode::STREAM_NOT_FOUND.0, 10059);
        assert_eq!(ErrorCode::CONSUMER_NOT_FOUND.0, 10014);
        assert_eq!(ErrorCode::NO_MESSAGE_FOUND.0, 10037);
        assert_eq!(ErrorCode::WRONG_LAST_SEQUENCE.0, 10071);
        assert_eq!(ErrorCode::WRONG_LAST_SEQUENCE_CONCURRENT.0, 10164);
        assert_eq!(ErrorCode::STREAM_NAME_IN_USE.0, 10058);
        assert_eq!(ErrorCode::TOO_MANY_REQUESTS.0, 10167);
        assert_eq!(ErrorCode::REQUIRED_API_LEVEL.0, 10185);
    }

    #[test]
    fn description_is_never_matched() {
        let reply = br#"{"type":"t","error":{"code":404,"err_code":10014,"description":"stream not found"}}"#;
        let err = parse_response::<Body>(reply).unwrap_err();
        assert_eq!(err.kind(), ApiErrorKind::ConsumerNotFound);
        let api = err.api().unwrap();
        assert_eq!(api.code, 404);
        assert_eq!(api.err_code, ErrorCode::CONSUMER_NOT_FOUND);
        assert_eq!(
            err.to_string(),
            "JetStream API error: stream not found (status 404, err_code 10014)"
        );
    }

    #[test]
    fn success_and_malformed() {
        let ok = br#"{"type":"io.nats.jetstream.api.v1.stream_delete_response","success":true,"extra":[1,{"a":null}]}"#;
        assert_eq!(parse_response::<Body>(ok).unwrap(), Body { success: true });
        assert!(matches!(
            parse_response::<Body>(b"not json"),
            Err(ResponseError::Malformed(_))
        ));
        assert!(matches!(
            parse_response::<Body>(b""),
            Err(ResponseError::Malformed(_))
        ));
        assert!(matches!(
            parse_response::<Body>(br#"{"type":"t"}"#),
            Err(ResponseError::Malformed(_))
        ));
        // An error with only a status still is an error.
        let bare = parse_response::<Body>(br#"{"error":{"code":503}}"#).unwrap_err();
        assert_eq!(bare.api().unwrap().err_code, ErrorCode(0));
        assert_eq!(bare.kind(), ApiErrorKind::Other);
        // `"error": null` is no error.
        assert!(parse_response::<Body>(br#"{"error":null,"success":false}"#).is_ok());
    }

    #[test]
    fn legacy_err_text() {
        let err = parse_response::<Body>(b"-ERR 'Invalid JetStream request'\r\n").unwrap_err();
        assert_eq!(
            err,
            ResponseError::Legacy("Invalid JetStream request".into())
        );
        assert_eq!(err.kind(), ApiErrorKind::Other);
        assert_eq!(
            parse_response::<Body>(b"-ERR bare words").unwrap_err(),
            ResponseError::Legacy("bare words".into())
        );
    }

    #[test]
    fn api_error_round_trips() {
        let e = ApiError {
            code: 400,
            err_code: ErrorCode::WRONG_LAST_SEQUENCE,
            description: "wrong last sequence: 7".into(),
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"code":400,"err_code":10071,"description":"wrong last sequence: 7"}"#
        );
        assert_eq!(serde_json::from_str::<ApiError>(&json).unwrap(), e);
    }
}
