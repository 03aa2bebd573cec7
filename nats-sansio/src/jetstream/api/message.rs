//! Stored messages (`STREAM.MSG.GET`), message get and delete requests, Direct Get requests,
//! and publish acknowledgements.
//!
//! Invariant: payloads and headers cross JSON as standard base64 (Go's `[]byte`), decoded by
//! our own codec so this module needs no optional feature; a [`PubAck`] is parsed in one pass
//! and an `error` in it always wins over its other fields.

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::{legacy_error, ApiError, ResponseError};
use super::time::DateTime;
use super::{is_default, null_default};
use crate::proto::{HeaderError, HeaderMap};

/// Standard base64 (RFC 4648 §4, `+/`, padded), as Go's `encoding/json` writes `[]byte`.
mod base64 {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    fn value(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }

    /// Decodes padded or unpadded standard base64; `None` on any other byte or a bad
    /// length. Non-zero trailing bits are tolerated.
    pub(super) fn decode(input: &[u8]) -> Option<Vec<u8>> {
        let trimmed = match input {
            [rest @ .., b'=', b'='] if input.len() % 4 == 0 => rest,
            [rest @ .., b'='] if input.len() % 4 == 0 => rest,
            _ => input,
        };
        if trimmed.len() % 4 == 1 {
            return None;
        }
        let mut out = Vec::with_capacity(trimmed.len() / 4 * 3 + 2);
        for chunk in trimmed.chunks(4) {
            let mut acc = 0u32;
            for &c in chunk {
                acc = (acc << 6) | value(c)?;
            }
            match chunk.len() {
                4 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]),
                3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
                2 => out.push((acc >> 4) as u8),
                _ => return None,
            }
        }
        Some(out)
    }

    /// Encodes with padding.
    pub(super) fn encode(input: &[u8]) -> String {
        let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
        for chunk in input.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let acc = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[(acc >> (18 - 6 * i)) as usize & 63]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

/// Serde for `Bytes` as base64; `null` or absent is empty.
mod b64_bytes {
    use super::*;

    pub(super) fn serialize<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::encode(b))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        match text {
            None => Ok(Bytes::new()),
            Some(t) => base64::decode(t.as_bytes())
                .map(Bytes::from)
                .ok_or_else(|| serde::de::Error::custom("invalid base64")),
        }
    }
}

/// A message read with `STREAM.MSG.GET` (the `message` of the reply).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoredMessage {
    /// The subject it was published to.
    pub subject: String,
    /// Its stream sequence.
    pub seq: u64,
    /// The raw header block (`NATS/1.0\r\n...`), empty if none; see
    /// [`headers`](StoredMessage::headers).
    #[serde(
        rename = "hdrs",
        with = "b64_bytes",
        skip_serializing_if = "Bytes::is_empty"
    )]
    pub raw_headers: Bytes,
    /// The payload.
    #[serde(
        rename = "data",
        with = "b64_bytes",
        skip_serializing_if = "Bytes::is_empty"
    )]
    pub payload: Bytes,
    /// When it was stored.
    pub time: DateTime,
}

impl StoredMessage {
    /// The headers, parsed; `None` if the message has none.
    ///
    /// # Errors
    ///
    /// If the stored header block is malformed.
    pub fn headers(&self) -> Result<Option<HeaderMap>, HeaderError> {
        if self.raw_headers.is_empty() {
            return Ok(None);
        }
        HeaderMap::decode(&self.raw_headers).map(Some)
    }
}

/// The `STREAM.MSG.GET` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MsgGetResponse {
    /// The message.
    pub message: StoredMessage,
}

/// The `STREAM.MSG.GET` request body: which message to read through the stream leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MsgGetRequest {
    /// The message with this sequence (`{"seq":N}`).
    Sequence(u64),
    /// The last message on a subject (`{"last_by_subj":".."}`).
    LastBySubject(String),
    /// The first message on a subject at or after a sequence (`{"next_by_subj":"..","seq":N}`).
    NextBySubject {
        /// The subject (wildcards allowed).
        subject: String,
        /// The lowest sequence to consider.
        seq: u64,
    },
}

#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
struct MsgGetWire {
    #[serde(skip_serializing_if = "is_default")]
    seq: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    last_by_subj: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    next_by_subj: String,
}

impl Serialize for MsgGetRequest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let wire = match self {
            MsgGetRequest::Sequence(seq) => MsgGetWire {
                seq: *seq,
                ..MsgGetWire::default()
            },
            MsgGetRequest::LastBySubject(subject) => MsgGetWire {
                last_by_subj: subject.clone(),
                ..MsgGetWire::default()
            },
            MsgGetRequest::NextBySubject { subject, seq } => MsgGetWire {
                seq: *seq,
                next_by_subj: subject.clone(),
                ..MsgGetWire::default()
            },
        };
        wire.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for MsgGetRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<MsgGetRequest, D::Error> {
        let wire = MsgGetWire::deserialize(deserializer)?;
        match (wire.last_by_subj.is_empty(), wire.next_by_subj.is_empty()) {
            (true, true) => Ok(MsgGetRequest::Sequence(wire.seq)),
            (false, true) if wire.seq == 0 => Ok(MsgGetRequest::LastBySubject(wire.last_by_subj)),
            (true, false) => Ok(MsgGetRequest::NextBySubject {
                subject: wire.next_by_subj,
                seq: wire.seq,
            }),
            _ => Err(serde::de::Error::custom(
                "a message get request has exactly one of seq, last_by_subj, next_by_subj",
            )),
        }
    }
}

/// The `DIRECT.GET.<stream>` request body (ADR-31): a single message, a batch, or the last
/// messages of many subjects. Replies are raw messages, not JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DirectGetRequest {
    /// By sequence; with `next_by_subj` or `batch`, the lowest sequence.
    #[serde(skip_serializing_if = "is_default")]
    pub seq: u64,
    /// The last message on this subject.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_by_subj: String,
    /// The first message on this subject at or after `seq`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub next_by_subj: String,
    /// Up to this many messages, ending with a `204 EOB` status.
    #[serde(skip_serializing_if = "is_default")]
    pub batch: usize,
    /// Stop a batch past this many bytes.
    #[serde(skip_serializing_if = "is_default")]
    pub max_bytes: usize,
    /// Start at the first message at or after this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime>,
    /// The last message of each of these subjects (wildcards allowed; ≤ 1024 matches).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub multi_last: Vec<String>,
    /// `multi_last` as of this sequence.
    #[serde(skip_serializing_if = "is_default")]
    pub up_to_seq: u64,
    /// `multi_last` as of this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub up_to_time: Option<DateTime>,
    /// Reply with the payload only, no headers at all.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_hdr: bool,
}

/// The `STREAM.MSG.DELETE` request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MsgDeleteRequest {
    /// The sequence to delete.
    pub seq: u64,
    /// Only mark it deleted; do not overwrite its bytes.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_erase: bool,
}

/// A publish acknowledgement: the reply to a JetStream publish (no `type` field).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PubAck {
    /// The stream that stored the message.
    pub stream: String,
    /// Its sequence.
    pub seq: u64,
    /// The stream's domain.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// The message id was seen within the duplicate window; nothing new was stored.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    /// Counter streams: the counter's value after this publish (a decimal string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val: Option<String>,
    /// Batch publishes: the batch id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    /// Batch publishes: messages committed.
    #[serde(skip_serializing_if = "is_default")]
    pub count: u64,
}

/// A PubAck as sent, possibly carrying an error (`{"stream":"S","error":{..}}` with 429).
/// The fields are spelled out rather than flattened: `serde(flatten)` buffers every field
/// into an intermediate map, which costs allocations on every publish.
#[derive(Deserialize, Default)]
#[serde(default)]
struct PubAckWire {
    error: Option<ApiError>,
    stream: String,
    seq: u64,
    domain: String,
    duplicate: bool,
    val: Option<String>,
    batch: Option<String>,
    count: u64,
}

impl PubAck {
    /// Parses a publish reply payload: the ack, or the error it carries (also when it came
    /// with a `429 Too Many Requests` status: read the body, it has err_code 10167).
    ///
    /// ```
    /// use nats_sansio::jetstream::api::{ApiErrorKind, PubAck};
    ///
    /// let ack = PubAck::parse(br#"{"stream":"S","seq":5,"duplicate":true}"#).unwrap();
    /// assert!(ack.duplicate);
    /// let busy = PubAck::parse(
    ///     br#"{"stream":"S","error":{"code":429,"err_code":10167,"description":"too many requests"}}"#,
    /// ).unwrap_err();
    /// assert_eq!(busy.kind(), ApiErrorKind::TooManyRequests);
    /// ```
    ///
    /// # Errors
    ///
    /// [`ResponseError::Api`] for an error, [`ResponseError::Legacy`] for `-ERR` text,
    /// [`ResponseError::Malformed`] for anything that is not a PubAck (an empty payload, a
    /// missing `stream`).
    pub fn parse(payload: &[u8]) -> Result<PubAck, ResponseError> {
        match fast_pub_ack(payload) {
            Some(ack) => Ok(ack),
            None => PubAck::parse_json(payload),
        }
    }

    /// [`parse`](Self::parse) through the JSON parser, for every form.
    fn parse_json(payload: &[u8]) -> Result<PubAck, ResponseError> {
        if let Some(err) = legacy_error(payload) {
            return Err(err);
        }
        let wire: PubAckWire =
            serde_json::from_slice(payload).map_err(|e| ResponseError::Malformed(e.to_string()))?;
        if let Some(error) = wire.error {
            return Err(ResponseError::Api(error));
        }
        let ack = PubAck {
            stream: wire.stream,
            seq: wire.seq,
            domain: wire.domain,
            duplicate: wire.duplicate,
            val: wire.val,
            batch: wire.batch,
            count: wire.count,
        };
        if ack.stream.is_empty() {
            return Err(ResponseError::Malformed("PubAck without a stream".into()));
        }
        Ok(ack)
    }
}

/// The common PubAck, read without a JSON parser: a flat object of the known keys with
/// plain strings (no escapes), decimal integers and booleans, as the server writes it
/// (`{"stream":"S","seq":5}`, `,"domain":"D"`, `,"duplicate":true`). Anything else (an
/// error, an escape, an unknown key, odd spacing) is `None`, for the full parser.
fn fast_pub_ack(payload: &[u8]) -> Option<PubAck> {
    let mut rest = payload.strip_prefix(b"{")?.strip_suffix(b"}")?;
    let mut ack = PubAck {
        stream: String::new(),
        seq: 0,
        domain: String::new(),
        duplicate: false,
        val: None,
        batch: None,
        count: 0,
    };
    while !rest.is_empty() {
        let after_quote = rest.strip_prefix(b"\"")?;
        let end = memchr::memchr(b'"', after_quote)?;
        let key = &after_quote[..end];
        rest = after_quote[end + 1..].strip_prefix(b":")?;
        // A value runs to the next comma outside a string; strings hold no escapes here.
        let (value, next) = if let Some(text) = rest.strip_prefix(b"\"") {
            let end = memchr::memchr(b'"', text)?;
            let value = &text[..end];
            if value.contains(&b'\\') {
                return None;
            }
            (
                Value::Text(std::str::from_utf8(value).ok()?),
                &text[end + 1..],
            )
        } else {
            let end = memchr::memchr(b',', rest).unwrap_or(rest.len());
            (Value::Bare(&rest[..end]), &rest[end..])
        };
        match (key, value) {
            (b"stream", Value::Text(v)) => ack.stream = v.to_owned(),
            (b"domain", Value::Text(v)) => ack.domain = v.to_owned(),
            (b"val", Value::Text(v)) => ack.val = Some(v.to_owned()),
            (b"batch", Value::Text(v)) => ack.batch = Some(v.to_owned()),
            (b"seq", Value::Bare(v)) => ack.seq = decimal(v)?,
            (b"count", Value::Bare(v)) => ack.count = decimal(v)?,
            (b"duplicate", Value::Bare(b"true")) => ack.duplicate = true,
            (b"duplicate", Value::Bare(b"false")) => ack.duplicate = false,
            _ => return None,
        }
        rest = match next {
            [] => next,
            [b',', more @ ..] if !more.is_empty() => more,
            _ => return None,
        };
    }
    (!ack.stream.is_empty()).then_some(ack)
}

/// A value of [`fast_pub_ack`]'s flat object.
enum Value<'a> {
    Text(&'a str),
    Bare(&'a [u8]),
}

/// A non-empty run of decimal digits that fits a `u64`.
fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit()
            .then(|| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
            .flatten()
    })
}

impl fmt::Display for PubAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stream {} seq {}", self.stream, self.seq)?;
        if self.duplicate {
            f.write_str(" (duplicate)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_fast_pub_ack_reads_what_the_json_parser_reads_or_leaves_it_to_it() {
        let fast = [
            r#"{"stream":"S","seq":5}"#,
            r#"{"stream":"ORDERS","seq":18446744073709551615,"duplicate":true}"#,
            r#"{"stream":"S","seq":1,"domain":"hub"}"#,
            r#"{"stream":"S","seq":2,"duplicate":false}"#,
            r#"{"stream":"C","seq":3,"val":"42"}"#,
            r#"{"stream":"B","seq":9,"batch":"b1","count":3}"#,
            r#"{"stream":"ÜTF","seq":7}"#,
        ];
        for payload in fast {
            let got = super::fast_pub_ack(payload.as_bytes()).expect(payload);
            assert_eq!(Ok(got), PubAck::parse_json(payload.as_bytes()), "{payload}");
        }
        let slow = [
            r#"{"stream":"S","seq":5,"error":{"code":503,"err_code":10077,"description":"x"}}"#,
            r#"{"error":{"code":400,"err_code":10060,"description":"expected stream does not match"}}"#,
            r#"{"stream":"S\"q","seq":5}"#,
            r#"{ "stream": "S", "seq": 5 }"#,
            r#"{"stream":"S","seq":5,"unknown":1}"#,
            r#"{"stream":"S","seq":-1}"#,
            r#"{"stream":"S","seq":99999999999999999999}"#,
            r#"{"stream":"S","seq":5,}"#,
            r#"{"stream":"","seq":5}"#,
            r#"{"seq":5}"#,
            r#"{}"#,
            "",
            "-ERR 'nope'",
            r#"{"stream":"S","seq":5"#,
            r#"{"stream":"S","seq":"5"}"#,
            r#"{"stream":"S","duplicate":yes}"#,
        ];
        for payload in slow {
            assert!(
                super::fast_pub_ack(payload.as_bytes()).is_none(),
                "{payload}"
            );
            // ... and the full parser still decides, as before.
            let _ = PubAck::parse(payload.as_bytes());
        }
    }
    use super::*;
    use crate::jetstream::api::{parse_response, ApiErrorKind, ErrorCode};
    use serde_json::json;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64::encode(plain.as_bytes()), coded);
            assert_eq!(base64::decode(coded.as_bytes()).unwrap(), plain.as_bytes());
            let unpadded = coded.trim_end_matches('=');
            assert_eq!(
                base64::decode(unpadded.as_bytes()).unwrap(),
                plain.as_bytes()
            );
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(
            base64::decode(base64::encode(&all).as_bytes()).unwrap(),
            all
        );
        assert_eq!(base64::encode(&[0xfb, 0xff]), "+/8=");
        for bad in ["Z", "Zm9vY", "Zm9v!A==", "Zm-v", "Z===", "=Zm9"] {
            assert_eq!(base64::decode(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn stored_message_from_msg_get() {
        // hdrs = "NATS/1.0\r\nNats-Msg-Id: 1\r\n\r\n", data = "hello"
        let reply = br#"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response",
            "message":{"subject":"orders.a","seq":42,
            "hdrs":"TkFUUy8xLjANCk5hdHMtTXNnLUlkOiAxDQoNCg==",
            "data":"aGVsbG8=","time":"2025-01-01T00:00:00.000000001Z"}}"#;
        let got: MsgGetResponse = parse_response(reply).unwrap();
        let m = &got.message;
        assert_eq!(m.subject, "orders.a");
        assert_eq!(m.seq, 42);
        assert_eq!(&m.payload[..], b"hello");
        assert_eq!(&m.raw_headers[..], b"NATS/1.0\r\nNats-Msg-Id: 1\r\n\r\n");
        let headers = m.headers().unwrap().unwrap();
        assert_eq!(headers.get("Nats-Msg-Id"), Some("1"));
        assert_eq!(m.time.unix_nanos(), Some(1_735_689_600_000_000_001));
        let again: MsgGetResponse =
            serde_json::from_value(serde_json::to_value(&got).unwrap()).unwrap();
        assert_eq!(again, got);

        let bare: MsgGetResponse = parse_response(
            br#"{"type":"t","message":{"subject":"s","seq":1,"time":"2025-01-01T00:00:00Z"}}"#,
        )
        .unwrap();
        assert!(bare.message.payload.is_empty());
        assert_eq!(bare.message.headers().unwrap(), None);
        assert!(parse_response::<MsgGetResponse>(
            br#"{"message":{"subject":"s","seq":1,"data":"%%%"}}"#
        )
        .is_err());

        let miss = parse_response::<MsgGetResponse>(
            br#"{"type":"t","error":{"code":404,"err_code":10037,"description":"no message found"}}"#,
        )
        .unwrap_err();
        assert_eq!(miss.kind(), ApiErrorKind::NoMessageFound);
    }

    #[test]
    fn msg_get_request_variants() {
        let cases = [
            (MsgGetRequest::Sequence(5), json!({"seq": 5})),
            (
                MsgGetRequest::LastBySubject("a.b".into()),
                json!({"last_by_subj": "a.b"}),
            ),
            (
                MsgGetRequest::NextBySubject {
                    subject: "a.*".into(),
                    seq: 10,
                },
                json!({"seq": 10, "next_by_subj": "a.*"}),
            ),
        ];
        for (req, want) in cases {
            assert_eq!(serde_json::to_value(&req).unwrap(), want);
            assert_eq!(serde_json::from_value::<MsgGetRequest>(want).unwrap(), req);
        }
        assert!(serde_json::from_value::<MsgGetRequest>(
            json!({"last_by_subj": "a", "next_by_subj": "b"})
        )
        .is_err());
    }

    #[test]
    fn direct_get_and_delete_bodies() {
        assert_eq!(
            serde_json::to_string(&DirectGetRequest::default()).unwrap(),
            "{}"
        );
        let req = DirectGetRequest {
            multi_last: vec!["$KV.b.>".into()],
            batch: 100,
            up_to_time: Some(DateTime::new("2025-01-01T00:00:00Z")),
            no_hdr: true,
            ..DirectGetRequest::default()
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"batch": 100, "multi_last": ["$KV.b.>"],
                   "up_to_time": "2025-01-01T00:00:00Z", "no_hdr": true})
        );
        assert_eq!(
            serde_json::to_value(MsgDeleteRequest {
                seq: 3,
                no_erase: true
            })
            .unwrap(),
            json!({"seq": 3, "no_erase": true})
        );
        assert_eq!(
            serde_json::to_value(MsgDeleteRequest {
                seq: 3,
                no_erase: false
            })
            .unwrap(),
            json!({"seq": 3})
        );
    }

    #[test]
    fn pub_acks() {
        let ack =
            PubAck::parse(br#"{"stream":"ORDERS","seq":18446744073709551615,"domain":"hub"}"#)
                .unwrap();
        assert_eq!(ack.seq, u64::MAX);
        assert_eq!(ack.domain, "hub");
        assert!(!ack.duplicate);
        assert_eq!(ack.to_string(), format!("stream ORDERS seq {}", u64::MAX));

        let counter = PubAck::parse(br#"{"stream":"C","seq":3,"val":"-12"}"#).unwrap();
        assert_eq!(counter.val.as_deref(), Some("-12"));
        let batch =
            PubAck::parse(br#"{"stream":"B","seq":9,"batch":"b1","count":3,"new_thing":1}"#)
                .unwrap();
        assert_eq!((batch.batch.as_deref(), batch.count), (Some("b1"), 3));

        let cas = PubAck::parse(
            br#"{"error":{"code":400,"err_code":10164,"description":"wrong last sequence"}}"#,
        )
        .unwrap_err();
        assert_eq!(cas.kind(), ApiErrorKind::WrongLastSequence);
        let busy = PubAck::parse(
            br#"{"stream":"S","error":{"code":429,"err_code":10167,"description":"too many requests"}}"#,
        )
        .unwrap_err();
        assert_eq!(busy.api().unwrap().err_code, ErrorCode::TOO_MANY_REQUESTS);
        assert_eq!(busy.api().unwrap().code, 429);

        assert!(matches!(
            PubAck::parse(b""),
            Err(ResponseError::Malformed(_))
        ));
        assert!(matches!(
            PubAck::parse(b"{}"),
            Err(ResponseError::Malformed(_))
        ));
        assert!(matches!(
            PubAck::parse(b"-ERR 'bad'"),
            Err(ResponseError::Legacy(_))
        ));
        assert_eq!(
            serde_json::to_value(&ack).unwrap(),
            json!({"stream": "ORDERS", "seq": u64::MAX, "domain": "hub"})
        );
    }
}
