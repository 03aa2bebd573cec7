//! The put machine driven by hand against a small stream that stores what it is sent: what
//! a user would notice (the bytes stored, the record, the purges, the errors), and the
//! window it never exceeds.

use super::*;
use crate::jetstream::api::ApiPrefix;
use crate::object_store::digest::digest_of;
use crate::proto::{HeaderMap, Subject};
use serde_json::json;

const INBOX: &str = "_INBOX.p";
const CHUNK: usize = 8;

fn message(subject: &str, headers: Option<HeaderMap>, payload: Vec<u8>) -> Message {
    Message {
        subject: Subject::new(subject).unwrap(),
        reply: None,
        length: payload.len() + headers.as_ref().map_or(0, |_| 0),
        headers,
        payload: Bytes::from(payload),
    }
}

/// How the stream answers a publish.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Answer {
    Store,
    NoResponders,
    Refuse(u16),
    Silence,
}

/// A publish waiting for its answer.
#[derive(Debug)]
struct Sent {
    subject: String,
    reply: String,
    headers: Option<HeaderMap>,
    payload: Bytes,
}

struct Harness {
    put: Put,
    now: Instant,
    seq: u64,
    /// What the stream stores: (seq, subject, payload).
    stored: Vec<(u64, String, Bytes)>,
    /// Publishes not answered yet, in the order sent.
    unanswered: VecDeque<Sent>,
    /// API requests seen: (token, subject, body).
    requests: Vec<(u64, String, String)>,
    delivered: Vec<ObjectInfo>,
    errors: Vec<ObjectStoreError>,
    finished: bool,
    most_in_flight: usize,
}

impl Harness {
    fn new(window: usize) -> Harness {
        let now = crate::test_clock::base();
        let bucket = BucketSubjects::new("b", &ApiPrefix::default()).unwrap();
        let meta = ObjectMeta {
            chunk_size: Some(CHUNK as u32),
            ..ObjectMeta::new("obj")
        };
        let options = PutOptions {
            window,
            ..PutOptions::default()
        };
        let put = Put::new(now, &bucket, meta, "NEW", INBOX, options).unwrap();
        let mut h = Harness {
            put,
            now,
            seq: 0,
            stored: Vec::new(),
            unanswered: VecDeque::new(),
            requests: Vec::new(),
            delivered: Vec::new(),
            errors: Vec::new(),
            finished: false,
            most_in_flight: 0,
        };
        h.drain();
        h
    }

    fn drain(&mut self) {
        while let Some(output) = self.put.poll_output() {
            match output {
                Output::Publish(p) => self.unanswered.push_back(Sent {
                    subject: p.subject,
                    reply: p.reply.expect("a JetStream publish has a reply"),
                    headers: p.headers,
                    payload: p.payload,
                }),
                Output::Request {
                    token,
                    subject,
                    payload,
                } => self.requests.push((
                    token,
                    subject,
                    String::from_utf8(payload.to_vec()).unwrap(),
                )),
                Output::Deliver(info) => self.delivered.push(info),
                Output::Error(e) => self.errors.push(e),
                Output::Finished => self.finished = true,
                Output::Subscribe { subject, .. } => assert_eq!(subject, "_INBOX.p.*"),
                Output::Unsubscribe { .. } => {}
            }
        }
        let chunks = self
            .unanswered
            .iter()
            .filter(|s| s.subject.contains(".C."))
            .count();
        self.most_in_flight = self.most_in_flight.max(chunks);
    }

    /// Answers the lookup of the name (None: not found).
    fn answer_lookup(&mut self, previous: Option<ObjectInfo>) {
        let (token, subject, _) = self.requests.remove(0);
        assert_eq!(subject, "$JS.API.DIRECT.GET.OBJ_b.$O.b.M.b2Jq");
        let reply = match previous {
            Some(info) => message("_INBOX.r", None, info.to_json()),
            None => {
                let mut h = HeaderMap::new();
                h.set_status(StatusCode::NOT_FOUND, Some("Message Not Found".into()));
                message("_INBOX.r", Some(h), Vec::new())
            }
        };
        self.put.handle_reply(self.now, token, Ok(reply));
        self.drain();
    }

    /// Answers the oldest unanswered publish.
    fn answer(&mut self, answer: Answer) {
        let sent = self.unanswered.pop_front().expect("a publish to answer");
        let reply = match answer {
            Answer::Store => {
                self.seq += 1;
                self.stored
                    .push((self.seq, sent.subject.clone(), sent.payload.clone()));
                message(
                    &sent.reply,
                    None,
                    json!({"stream": "OBJ_b", "seq": self.seq})
                        .to_string()
                        .into(),
                )
            }
            Answer::NoResponders => {
                let mut h = HeaderMap::new();
                h.set_status(StatusCode::NO_RESPONDERS, None);
                message(&sent.reply, Some(h), Vec::new())
            }
            Answer::Refuse(code) => message(
                &sent.reply,
                None,
                json!({"error": {"code": 400, "err_code": code, "description": "no"}})
                    .to_string()
                    .into(),
            ),
            Answer::Silence => return,
        };
        self.put.handle_message(self.now, reply);
        self.drain();
    }

    /// Stores everything sent, feeding `data` in pieces of `piece` bytes while the machine
    /// wants input, then ends it; checks the window at every step.
    fn run(&mut self, data: &[u8], piece: usize, window: usize) {
        let mut rest = Bytes::copy_from_slice(data);
        loop {
            while self.put.wants_input() && !rest.is_empty() {
                let n = piece.min(rest.len());
                self.put.handle_data(self.now, rest.split_to(n));
                self.drain();
                assert!(self.put.in_flight() <= window);
                assert!(
                    self.put.held_bytes() <= window * CHUNK + CHUNK + piece,
                    "held {}",
                    self.put.held_bytes()
                );
            }
            if rest.is_empty() && self.put.wants_input() {
                self.put.handle_end(self.now);
                self.drain();
            }
            if self.unanswered.is_empty() {
                break;
            }
            self.answer(Answer::Store);
        }
    }

    fn chunks_stored(&self) -> Vec<Bytes> {
        self.stored
            .iter()
            .filter(|(_, s, _)| s == "$O.b.C.NEW")
            .map(|(_, _, p)| p.clone())
            .collect()
    }

    fn purges(&self) -> Vec<&str> {
        self.requests
            .iter()
            .filter(|(_, s, _)| s.ends_with("STREAM.PURGE.OBJ_b"))
            .map(|(_, _, body)| body.as_str())
            .collect()
    }
}

#[test]
fn chunks_are_cut_at_the_boundaries_and_the_record_follows() {
    for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5] {
        for piece in [1, 3, CHUNK, 100] {
            for window in [1, 2, 4] {
                let data: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
                let mut h = Harness::new(window);
                h.answer_lookup(None);
                h.run(&data, piece, window);
                let case = format!("size {size}, piece {piece}, window {window}");
                assert!(h.errors.is_empty(), "{case}: {:?}", h.errors);
                assert!(h.finished, "{case}");
                let chunks = h.chunks_stored();
                assert_eq!(chunks.len(), size.div_ceil(CHUNK), "{case}");
                assert!(chunks.iter().all(|c| !c.is_empty() && c.len() <= CHUNK));
                assert_eq!(chunks.concat(), data, "{case}: bytes in order");
                assert!(h.most_in_flight <= window, "{case}: window");
                // The record is the last thing stored, after every chunk.
                let (_, subject, record) = h.stored.last().unwrap();
                assert_eq!(subject, "$O.b.M.b2Jq", "{case}");
                let info = ObjectInfo::from_json(record).unwrap();
                assert_eq!((info.size, info.chunks), (size as u64, chunks.len() as u64));
                assert_eq!(info.digest, digest_of(&data), "{case}");
                assert_eq!(info.chunk_size(), CHUNK as u32);
                assert_eq!((info.nuid.as_str(), info.bucket.as_str()), ("NEW", "b"));
                assert_eq!(h.delivered, [info], "{case}");
                assert!(h.purges().is_empty(), "{case}: nothing replaced");
            }
        }
    }
}

#[test]
fn the_record_rolls_up_and_waits_for_every_chunk_ack() {
    let mut h = Harness::new(4);
    h.answer_lookup(None);
    h.put.handle_data(h.now, Bytes::from(vec![1; 3 * CHUNK]));
    h.put.handle_end(h.now);
    h.drain();
    assert_eq!(h.unanswered.len(), 3, "three chunks, no record yet");
    h.answer(Answer::Store);
    h.answer(Answer::Store);
    assert_eq!(h.unanswered.len(), 1, "still no record");
    h.answer(Answer::Store);
    let meta = h.unanswered.front().unwrap();
    assert_eq!(meta.subject, "$O.b.M.b2Jq");
    assert_eq!(
        meta.headers.as_ref().unwrap().get("Nats-Rollup"),
        Some("sub")
    );
}

#[test]
fn input_stops_while_a_chunk_waits_behind_a_full_window() {
    let mut h = Harness::new(2);
    h.answer_lookup(None);
    h.put.handle_data(h.now, Bytes::from(vec![0; 2 * CHUNK]));
    h.drain();
    assert!(h.put.wants_input(), "the window took both chunks");
    h.put.handle_data(h.now, Bytes::from(vec![0; CHUNK]));
    h.drain();
    assert!(!h.put.wants_input(), "a whole chunk waits");
    assert_eq!(h.put.in_flight(), 2);
    h.answer(Answer::Store);
    assert!(h.put.wants_input(), "the ack made room");
    assert_eq!(h.put.in_flight(), 2, "the waiting chunk went out");
}

#[test]
fn the_replaced_object_is_purged_after_the_record() {
    let old = ObjectInfo {
        name: "obj".into(),
        bucket: "b".into(),
        nuid: "OLD".into(),
        size: 3,
        chunks: 1,
        ..ObjectInfo::default()
    };
    let mut h = Harness::new(4);
    h.answer_lookup(Some(old.clone()));
    h.run(b"abc", 10, 4);
    assert_eq!(h.purges(), [r#"{"filter":"$O.b.C.OLD"}"#]);
    assert!(
        h.delivered.is_empty(),
        "delivered once the purge is answered"
    );
    let token = h.requests.last().unwrap().0;
    let ok = message("_INBOX.r", None, br#"{"success":true,"purged":1}"#.to_vec());
    h.put.handle_reply(h.now, token, Ok(ok));
    h.drain();
    assert_eq!(h.delivered.len(), 1);
    assert!(h.finished && h.errors.is_empty());

    // A deleted previous object has no chunks to purge.
    let mut h = Harness::new(4);
    h.answer_lookup(Some(ObjectInfo {
        deleted: true,
        ..old
    }));
    h.run(b"abc", 10, 4);
    assert!(h.purges().is_empty());
    assert_eq!(h.delivered.len(), 1);
}

#[test]
fn a_refused_chunk_fails_the_put_and_purges_its_chunks() {
    let mut h = Harness::new(4);
    h.answer_lookup(None);
    h.put.handle_data(h.now, Bytes::from(vec![0; 3 * CHUNK]));
    h.drain();
    h.answer(Answer::Store);
    h.answer(Answer::Refuse(10054));
    assert!(h.errors.is_empty() && !h.finished, "waits for the purge");
    assert_eq!(h.purges(), [r#"{"filter":"$O.b.C.NEW"}"#]);
    assert!(!h.put.wants_input());
    let token = h.requests.last().unwrap().0;
    let ok = message("_INBOX.r", None, br#"{"success":true,"purged":1}"#.to_vec());
    h.put.handle_reply(h.now, token, Ok(ok));
    h.drain();
    assert!(h.finished && h.delivered.is_empty());
    assert!(matches!(&h.errors[..], [ObjectStoreError::Api(e)] if e.err_code.0 == 10054));
    // A late ack changes nothing; no record was ever sent.
    h.answer(Answer::Store);
    assert!(h.stored.iter().all(|(_, s, _)| s.contains(".C.")));
}

#[test]
fn a_failed_cleanup_is_reported_with_the_cause() {
    let mut h = Harness::new(4);
    h.answer_lookup(None);
    h.put.handle_data(h.now, Bytes::from(vec![0; CHUNK]));
    h.drain();
    h.answer(Answer::Refuse(10054));
    for attempt in 1..=CLEANUP_ATTEMPTS {
        let token = h.requests.last().unwrap().0;
        assert_eq!(h.purges().len(), attempt as usize);
        h.put
            .handle_reply(h.now, token, Err(RequestError::TimedOut));
        h.drain();
    }
    assert!(
        matches!(&h.errors[..], [ObjectStoreError::CleanupFailed { subject, .. }, ObjectStoreError::Api(_)] if subject == "$O.b.C.NEW")
    );
    assert!(h.finished);
}

#[test]
fn a_sealed_bucket_is_a_typed_error_without_cleanup() {
    let mut h = Harness::new(4);
    h.answer_lookup(None);
    h.put.handle_data(h.now, Bytes::from(vec![0; CHUNK]));
    h.drain();
    h.answer(Answer::Refuse(10109));
    assert_eq!(
        h.errors,
        [ObjectStoreError::BucketSealed { bucket: "b".into() }]
    );
    assert!(h.finished && h.purges().is_empty());
}

#[test]
fn refused_chunks_are_retried_in_order_once_the_window_is_answered() {
    let mut h = Harness::new(4);
    h.answer_lookup(None);
    let data: Vec<u8> = (0..4 * CHUNK as u32).map(|i| i as u8).collect();
    h.put.handle_data(h.now, Bytes::from(data.clone()));
    h.put.handle_end(h.now);
    h.drain();
    h.answer(Answer::Store);
    h.answer(Answer::NoResponders);
    assert!(h.put.poll_timeout().is_some());
    h.answer(Answer::NoResponders);
    // The retry waits for the last chunk in flight, and for its back-off.
    assert!(h.unanswered.len() == 1);
    h.answer(Answer::NoResponders);
    h.now = h.put.poll_timeout().unwrap();
    h.put.handle_timeout(h.now);
    h.drain();
    assert_eq!(h.unanswered.len(), 3, "chunks 1 to 3 again, in order");
    h.run(&[], 1, 4);
    assert!(h.errors.is_empty(), "{:?}", h.errors);
    assert_eq!(h.chunks_stored().concat(), data);
    assert_eq!(h.delivered.len(), 1);
}

#[test]
fn a_chunk_stored_before_an_earlier_one_fails_the_put() {
    let mut h = Harness::new(4);
    h.answer_lookup(None);
    h.put.handle_data(h.now, Bytes::from(vec![0; 3 * CHUNK]));
    h.put.handle_end(h.now);
    h.drain();
    h.answer(Answer::NoResponders); // chunk 0 refused...
    h.answer(Answer::Store); // ...chunk 1 stored
    h.answer(Answer::Store);
    h.now = h.put.poll_timeout().unwrap();
    h.put.handle_timeout(h.now);
    h.drain();
    h.answer(Answer::Store); // chunk 0 stored after 1 and 2
    assert_eq!(h.purges(), [r#"{"filter":"$O.b.C.NEW"}"#]);
    let token = h.requests.last().unwrap().0;
    let ok = message("_INBOX.r", None, br#"{"success":true,"purged":3}"#.to_vec());
    h.put.handle_reply(h.now, token, Ok(ok));
    h.drain();
    assert_eq!(h.errors, [ObjectStoreError::ChunkOutOfOrder { chunk: 1 }]);
    assert!(h.delivered.is_empty() && h.finished);
    assert!(
        h.stored.iter().all(|(_, s, _)| s.contains(".C.")),
        "no record"
    );
}

#[test]
fn a_lost_link_fails_the_put_and_purges_once_back() {
    let mut h = Harness::new(4);
    h.answer_lookup(None);
    h.put.handle_data(h.now, Bytes::from(vec![0; 2 * CHUNK]));
    h.drain();
    h.answer(Answer::Store);
    h.put.handle_link(h.now, Link::Down);
    h.drain();
    assert!(h.purges().is_empty(), "not while the link is down");
    h.put.handle_link(h.now, Link::Up);
    h.drain();
    assert_eq!(h.purges().len(), 1);
    let token = h.requests.last().unwrap().0;
    let ok = message("_INBOX.r", None, br#"{"success":true,"purged":1}"#.to_vec());
    h.put.handle_reply(h.now, token, Ok(ok));
    h.drain();
    assert_eq!(
        h.errors,
        [ObjectStoreError::Request(RequestError::Disconnected)]
    );
}

#[test]
fn a_silent_chunk_ack_times_out_and_a_silent_record_keeps_the_chunks() {
    let mut h = Harness::new(4);
    h.answer_lookup(None);
    h.put.handle_data(h.now, Bytes::from(vec![0; CHUNK]));
    h.drain();
    h.answer(Answer::Silence);
    h.now = h.put.poll_timeout().unwrap();
    h.put.handle_timeout(h.now);
    h.drain();
    assert_eq!(h.purges().len(), 1, "a chunk may be stored: purge");

    let mut h = Harness::new(4);
    h.answer_lookup(None);
    h.run(b"abc", 3, 4);
    // `run` stored the record too; do it again with the record unanswered.
    let mut h2 = Harness::new(4);
    h2.answer_lookup(None);
    h2.put.handle_data(h2.now, Bytes::from_static(b"abc"));
    h2.put.handle_end(h2.now);
    h2.drain();
    h2.answer(Answer::Store);
    h2.answer(Answer::Silence);
    h2.now = h2.put.poll_timeout().unwrap();
    h2.put.handle_timeout(h2.now);
    h2.drain();
    assert!(matches!(
        &h2.errors[..],
        [ObjectStoreError::MetaUnacknowledged {
            cause: RequestError::TimedOut,
            ..
        }]
    ));
    assert!(
        h2.purges().is_empty(),
        "the record may be stored: keep its chunks"
    );
    assert!(h2.finished);
    assert_eq!(h.delivered.len(), 1);
}

#[test]
fn stopping_mid_put_purges_what_was_sent() {
    let mut h = Harness::new(4);
    h.answer_lookup(None);
    h.put.handle_data(h.now, Bytes::from(vec![0; CHUNK]));
    h.drain();
    h.put.stop();
    h.drain();
    assert_eq!(h.purges().len(), 1);
    assert!(h.finished);
}
