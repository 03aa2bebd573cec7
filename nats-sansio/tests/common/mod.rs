//! Messages as JetStream sends them, shared by the machine tests: user messages with a
//! `$JS.ACK` reply, status messages (`NATS/1.0 <code> <description>` and headers), consumer
//! infos; and, in `ordered`, the ordered consumer driven by hand over a virtual clock.
#![allow(dead_code)]

pub(crate) mod ordered;

use bytes::Bytes;
use nats_sansio::jetstream::api::{ConsumerInfo, SequenceInfo};
use nats_sansio::proto::{HeaderMap, Message, StatusCode, Subject};

/// The stream every test message comes from.
pub(crate) const STREAM: &str = "ORDERS";

/// A user message on `subject` as JetStream delivers it for `consumer` of [`STREAM`]: payload
/// `m<sseq>`, and an ack reply carrying the stream and consumer sequences.
pub(crate) fn js_message(subject: &str, consumer: &str, sseq: u64, cseq: u64) -> Message {
    let payload = Bytes::from(format!("m{sseq}"));
    Message {
        subject: Subject::new(subject.to_owned()).unwrap(),
        reply: Some(
            Subject::new(format!(
                "$JS.ACK.{STREAM}.{consumer}.1.{sseq}.{cseq}.1700000000000000000.0"
            ))
            .unwrap(),
        ),
        headers: None,
        length: payload.len(),
        payload,
    }
}

/// A status message on `subject` (`NATS/1.0 <code> <description>` and `headers`, empty
/// payload), with `reply` if the server wants an answer.
pub(crate) fn status_message(
    subject: &str,
    code: u16,
    description: &str,
    reply: Option<&str>,
    headers: &[(&str, &str)],
) -> Message {
    let mut map = HeaderMap::new();
    map.set_status(
        StatusCode::from_u16(code).unwrap(),
        Some(description.to_owned()),
    );
    for (name, value) in headers {
        map.append(*name, *value);
    }
    Message {
        subject: Subject::new(subject.to_owned()).unwrap(),
        reply: reply.map(|r| Subject::new(r.to_owned()).unwrap()),
        length: map.encoded_len(),
        headers: Some(map),
        payload: Bytes::new(),
    }
}

/// The server's info of consumer `name` on [`STREAM`] that has delivered up to stream
/// sequence `delivered_sseq`.
pub(crate) fn consumer_info(name: &str, delivered_sseq: u64) -> ConsumerInfo {
    ConsumerInfo {
        stream_name: STREAM.into(),
        name: name.into(),
        delivered: SequenceInfo {
            consumer_seq: 0,
            stream_seq: delivered_sseq,
            last_active: None,
        },
        ..ConsumerInfo::default()
    }
}
