//! The get machine driven by hand: the consumer creation and the chunks a server would
//! send, what the application gets, and the budget its pulls keep to.

use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::jetstream::api::ApiPrefix;
use crate::object_store::digest::digest_of;
use crate::object_store::info::{ObjectLink, ObjectOptions};
use crate::proto::{HeaderMap, StatusCode, Subject};

const INBOX: &str = "_INBOX.g1";
/// Large enough that the per-chunk allowance for the ack subject is a small part of it.
const CHUNK: usize = 4000;

fn message(subject: &str, reply: Option<&str>, payload: Vec<u8>) -> Message {
    Message {
        subject: Subject::new(subject).unwrap(),
        reply: reply.map(|r| Subject::new(r).unwrap()),
        headers: None,
        length: payload.len(),
        payload: Bytes::from(payload),
    }
}

fn object(data: &[u8]) -> ObjectInfo {
    ObjectInfo {
        name: "obj".into(),
        bucket: "b".into(),
        nuid: "N".into(),
        size: data.len() as u64,
        chunks: data.len().div_ceil(CHUNK) as u64,
        digest: digest_of(data),
        options: Some(ObjectOptions {
            link: None,
            max_chunk_size: CHUNK as u32,
        }),
        ..ObjectInfo::default()
    }
}

struct Harness {
    get: Get,
    now: Instant,
    /// Consumer creations: (token, body).
    creations: Vec<(u64, Value)>,
    /// Other requests: (token, subject).
    requests: Vec<(u64, String)>,
    /// The `max_bytes` of each pull.
    pulls: Vec<u64>,
    chunks: Vec<Bytes>,
    errors: Vec<ObjectStoreError>,
    finished: bool,
    cseq: u64,
}

impl Harness {
    fn new(info: ObjectInfo, window: usize) -> Harness {
        let now = crate::test_clock::base();
        let bucket = BucketSubjects::new("b", &ApiPrefix::default()).unwrap();
        let get = Get::new(now, &bucket, info, INBOX, GetOptions { window }).unwrap();
        let mut h = Harness {
            get,
            now,
            creations: Vec::new(),
            requests: Vec::new(),
            pulls: Vec::new(),
            chunks: Vec::new(),
            errors: Vec::new(),
            finished: false,
            cseq: 0,
        };
        h.drain();
        h
    }

    fn drain(&mut self) {
        while let Some(output) = self.get.poll_output() {
            match output {
                Output::Deliver(chunk) => self.chunks.push(chunk),
                Output::Error(e) => self.errors.push(e),
                Output::Finished => self.finished = true,
                Output::Request {
                    token,
                    subject,
                    payload,
                } if subject.contains(".CONSUMER.CREATE.") => self
                    .creations
                    .push((token, serde_json::from_slice(&payload).unwrap())),
                Output::Request { token, subject, .. } => self.requests.push((token, subject)),
                Output::Publish(p) => {
                    assert!(
                        p.subject.contains(".CONSUMER.MSG.NEXT.OBJ_b."),
                        "{}",
                        p.subject
                    );
                    let body: Value = serde_json::from_slice(&p.payload).unwrap();
                    self.pulls.push(body["max_bytes"].as_u64().unwrap());
                }
                Output::Subscribe { subject, .. } => assert_eq!(subject, "_INBOX.g1.*"),
                Output::Unsubscribe { .. } => {}
            }
        }
    }

    fn created(&mut self, pending: u64) {
        let (token, body) = self.creations.last().cloned().expect("a creation");
        assert_eq!(body["config"]["filter_subject"], "$O.b.C.N");
        let info = json!({
            "type": "io.nats.jetstream.api.v1.consumer_create_response",
            "stream_name": "OBJ_b", "name": body["config"]["name"], "created": "2025-01-01T00:00:00Z",
            "config": body["config"],
            "delivered": {"consumer_seq": 0, "stream_seq": 0},
            "ack_floor": {"consumer_seq": 0, "stream_seq": 0},
            "num_pending": pending, "num_ack_pending": 0, "num_redelivered": 0, "num_waiting": 0
        });
        let reply = message("_INBOX.reply", None, info.to_string().into_bytes());
        self.get.handle_reply(self.now, token, Ok(reply));
        self.drain();
    }

    /// The consumer delivers the next chunk, `pending` more after it.
    fn chunk(&mut self, payload: &[u8], pending: u64) {
        self.cseq += 1;
        let name = self.creations[0].1["config"]["name"]
            .as_str()
            .unwrap()
            .to_owned();
        let ack = format!(
            "$JS.ACK.OBJ_b.{name}.1.{}.{}.1700000000000000000.{pending}",
            self.cseq + 10,
            self.cseq
        );
        let m = message("_INBOX.g1.1", None, payload.to_vec());
        let m = Message {
            subject: Subject::new("$O.b.C.N").unwrap(),
            reply: Some(Subject::new(&ack).unwrap()),
            ..m
        };
        self.now += Duration::from_millis(1);
        self.get.handle_message(self.now, m);
        self.drain();
    }

    fn consume(&mut self) {
        self.get.handle_consumed(self.now);
        self.drain();
    }
}

fn data(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn chunks_come_in_order_and_the_digest_is_checked_at_the_end() {
    let bytes = data(3 * CHUNK + 7);
    let mut h = Harness::new(object(&bytes), 4);
    assert_eq!(h.creations.len(), 1);
    let body = &h.creations[0].1["config"];
    assert_eq!(body["ack_policy"], "none");
    assert!(body.get("deliver_subject").is_none(), "the pull form");
    h.created(4);
    let pieces: Vec<&[u8]> = bytes.chunks(CHUNK).collect();
    for (i, piece) in pieces.iter().enumerate() {
        assert!(!h.finished);
        h.chunk(piece, (pieces.len() - i - 1) as u64);
    }
    assert_eq!(h.chunks.concat(), bytes);
    assert!(h.errors.is_empty(), "{:?}", h.errors);
    assert!(h.finished);
    assert!(
        h.requests
            .iter()
            .any(|(_, s)| s.contains(".CONSUMER.DELETE.")),
        "cleaned up"
    );
    assert_eq!(h.get.delivered(), (4, bytes.len() as u64));
}

#[test]
fn pulls_never_ask_beyond_what_the_application_has_room_for() {
    let bytes = data(10 * CHUNK);
    let mut h = Harness::new(object(&bytes), 4);
    h.created(10);
    let budget = h.get.budget();
    assert!((4 * CHUNK..4 * (CHUNK + 2 * CHUNK_OVERHEAD)).contains(&budget));
    assert_eq!(h.pulls, [budget as u64], "one pull of the whole budget");
    let pieces: Vec<&[u8]> = bytes.chunks(CHUNK).collect();
    // The application reads nothing: four chunks arrive, no new pull goes out.
    for (i, piece) in pieces[..4].iter().enumerate() {
        h.chunk(piece, (9 - i) as u64);
        assert!(h.get.held_bytes() <= budget);
    }
    assert_eq!(
        h.pulls.len(),
        1,
        "nothing more while the application holds the budget"
    );
    assert!(
        h.get.poll_timeout().is_some(),
        "the pull's remnant waits at the server"
    );
    // The next chunk does not fit the remnant: the server ends the pull. Nothing is
    // requested any more, so no heartbeat can come, and no alarm is armed.
    let left = (budget - h.get.held_bytes()).to_string();
    let mut status = HeaderMap::new();
    status.set_status(
        StatusCode::from_u16(409).unwrap(),
        Some("Message Size Exceeds MaxBytes".into()),
    );
    status.insert("Nats-Pending-Messages", "999996");
    status.insert("Nats-Pending-Bytes", left.as_str());
    let ended = Message {
        headers: Some(status),
        ..message("_INBOX.g1.1", None, Vec::new())
    };
    h.get.handle_message(h.now, ended);
    h.drain();
    assert_eq!(
        h.get.poll_timeout(),
        None,
        "no alarm while the application holds it all"
    );
    assert_eq!(h.pulls.len(), 1);
    h.consume();
    assert_eq!(
        h.pulls.len(),
        2,
        "a quarter of the budget freed, more than a tenth: pull it"
    );
    let held_then = h.get.held_bytes();
    assert!(
        h.pulls[1] as usize + held_then <= budget,
        "pull + held within budget"
    );
    for (i, piece) in pieces[4..].iter().enumerate() {
        h.chunk(piece, (5 - i) as u64);
        h.consume();
    }
    assert!(h.errors.is_empty(), "{:?}", h.errors);
    assert_eq!(h.chunks.concat(), bytes);
    assert!(h.finished);
}

#[test]
fn a_corrupt_object_is_an_error_naming_both_digests() {
    let bytes = data(2 * CHUNK);
    let mut info = object(&bytes);
    info.digest = digest_of(b"something else");
    let mut h = Harness::new(info.clone(), 4);
    h.created(2);
    h.chunk(&bytes[..CHUNK], 1);
    h.chunk(&bytes[CHUNK..], 0);
    assert_eq!(h.chunks.len(), 2);
    assert_eq!(
        h.errors,
        [ObjectStoreError::DigestMismatch {
            name: "obj".into(),
            expected: info.digest,
            actual: digest_of(&bytes),
        }]
    );
    assert!(h.finished);
}

#[test]
fn a_missing_chunk_is_an_error_not_a_short_read() {
    let bytes = data(3 * CHUNK);
    let mut h = Harness::new(object(&bytes), 4);
    h.created(2);
    h.chunk(&bytes[..CHUNK], 1);
    h.chunk(&bytes[2 * CHUNK..], 0);
    assert_eq!(
        h.errors,
        [ObjectStoreError::SizeMismatch {
            name: "obj".into(),
            expected_chunks: 3,
            expected_size: 3 * CHUNK as u64,
            chunks: 2,
            size: 2 * CHUNK as u64,
        }]
    );
    assert!(h.finished);

    // Every chunk purged: the consumer has nothing at all.
    let mut h = Harness::new(object(&bytes), 4);
    h.created(0);
    assert!(matches!(
        &h.errors[..],
        [ObjectStoreError::SizeMismatch { chunks: 0, .. }]
    ));
    assert!(h.finished);

    // More than the record says fails at once.
    let mut h = Harness::new(object(&bytes[..CHUNK]), 4);
    h.created(2);
    h.chunk(&bytes[..CHUNK], 1);
    h.chunk(&bytes[..CHUNK], 0);
    assert!(matches!(
        &h.errors[..],
        [ObjectStoreError::SizeMismatch { chunks: 2, .. }]
    ));
}

#[test]
fn empty_deleted_and_bucket_link_objects_need_no_consumer() {
    let h = Harness::new(object(b""), 4);
    assert!(h.finished && h.errors.is_empty() && h.chunks.is_empty());
    assert!(h.creations.is_empty());

    let mut deleted = object(b"abc");
    deleted.deleted = true;
    let h = Harness::new(deleted, 4);
    assert!(matches!(
        &h.errors[..],
        [ObjectStoreError::ObjectNotFound { .. }]
    ));

    let mut link = object(b"");
    link.options = Some(ObjectOptions {
        link: Some(ObjectLink {
            bucket: "other".into(),
            name: String::new(),
        }),
        max_chunk_size: 0,
    });
    let h = Harness::new(link, 4);
    assert_eq!(
        h.errors,
        [ObjectStoreError::BucketLink {
            name: "obj".into(),
            bucket: "other".into()
        }]
    );
    assert!(h.finished && h.creations.is_empty());
}

#[test]
fn an_object_link_is_followed_to_its_target() {
    let bytes = data(CHUNK / 2);
    let mut link = object(b"");
    link.name = "l".into();
    link.nuid = "L".into();
    link.options = Some(ObjectOptions {
        link: Some(ObjectLink {
            bucket: "other".into(),
            name: "obj".into(),
        }),
        max_chunk_size: 0,
    });
    let mut h = Harness::new(link, 4);
    let (token, subject) = h.requests.pop().expect("the target's lookup");
    assert_eq!(subject, "$JS.API.STREAM.MSG.GET.OBJ_other");
    let mut target = object(&bytes);
    target.bucket = "other".into();
    use base64::Engine;
    let stored = json!({"message": {"subject": "$O.other.M.b2Jq", "seq": 3,
        "data": base64::engine::general_purpose::STANDARD.encode(target.to_json()),
        "time": "2025-01-01T00:00:00Z"}});
    h.get.handle_reply(
        h.now,
        token,
        Ok(message("_INBOX.r", None, stored.to_string().into())),
    );
    h.drain();
    let (_, body) = h.creations.last().unwrap();
    assert_eq!(body["stream_name"], "OBJ_other");
    assert_eq!(body["config"]["filter_subject"], "$O.other.C.N");
    assert_eq!(h.get.info().unwrap().bucket, "other");

    // A missing target is not found.
    let mut h = Harness::new(
        h.get
            .info()
            .cloned()
            .map(|mut i| {
                i.options = Some(ObjectOptions {
                    link: Some(ObjectLink {
                        bucket: "b".into(),
                        name: "gone".into(),
                    }),
                    max_chunk_size: 0,
                });
                i
            })
            .unwrap(),
        4,
    );
    let (token, subject) = h.requests.pop().unwrap();
    assert!(
        subject.contains("DIRECT.GET.OBJ_b"),
        "same bucket: this handle's lookup"
    );
    let mut not_found = HeaderMap::new();
    not_found.set_status(StatusCode::NOT_FOUND, Some("Message Not Found".into()));
    let reply = Message {
        headers: Some(not_found),
        ..message("_INBOX.r", None, Vec::new())
    };
    h.get.handle_reply(h.now, token, Ok(reply));
    h.drain();
    assert!(matches!(
        &h.errors[..],
        [ObjectStoreError::ObjectNotFound { .. }]
    ));
}
