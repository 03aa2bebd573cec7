//! The watch machine driven by hand: the creation replies and deliveries a server would
//! send, and what the application gets.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};

use super::*;
use crate::jetstream::api::ApiPrefix;
use crate::kv::Operation;
use crate::machine::{Link, Machine, Output};
use crate::proto::{HeaderMap, StatusCode, Subject};

const INBOX: &str = "_INBOX.w1";

/// A watch and what it asked for so far.
struct Harness {
    watch: Watch,
    now: Instant,
    items: Vec<WatchItem>,
    errors: Vec<KvError>,
    finished: bool,
    /// Creation requests: (token, body).
    creations: Vec<(u64, Value)>,
    deletions: Vec<String>,
    subscribed: Vec<String>,
    published: Vec<String>,
}

impl Harness {
    fn new(config: WatchConfig) -> Harness {
        let now = crate::test_clock::base();
        let bucket = BucketSubjects::new("b", &ApiPrefix::default()).unwrap();
        let watch = Watch::new(now, &bucket, INBOX, config).unwrap();
        let mut h = Harness {
            watch,
            now,
            items: Vec::new(),
            errors: Vec::new(),
            finished: false,
            creations: Vec::new(),
            deletions: Vec::new(),
            subscribed: Vec::new(),
            published: Vec::new(),
        };
        h.drain();
        h
    }

    fn drain(&mut self) {
        while let Some(output) = self.watch.poll_output() {
            match output {
                Output::Deliver(item) => self.items.push(item),
                Output::Error(e) => self.errors.push(e),
                Output::Finished => self.finished = true,
                Output::Request {
                    token,
                    subject,
                    payload,
                } => {
                    if subject.contains(".CONSUMER.CREATE.") {
                        self.creations
                            .push((token, serde_json::from_slice(&payload).unwrap()));
                    } else {
                        assert!(subject.contains(".CONSUMER.DELETE."), "{subject}");
                        self.deletions.push(subject);
                    }
                }
                Output::Subscribe { subject, .. } => self.subscribed.push(subject),
                Output::Publish(p) => self.published.push(p.subject),
                Output::Unsubscribe { .. } => {}
            }
        }
    }

    /// The config of the latest creation request.
    fn config(&self) -> &Value {
        &self.creations.last().expect("a creation").1["config"]
    }

    /// The deliver policy of the latest creation (absent: the server's default, `all`).
    fn policy(&self) -> &str {
        self.config()["deliver_policy"].as_str().unwrap_or("all")
    }

    /// Confirms the latest creation: the consumer had `pending` messages, had pushed
    /// `pushed` already.
    fn created(&mut self, pending: u64, pushed: u64) {
        self.created_at(pending, pushed, 0);
    }

    /// As [`created`](Self::created), the server reporting `start - 1` as the stream
    /// sequence delivered (where a last-per-subject consumer starts).
    fn created_at(&mut self, pending: u64, pushed: u64, start: u64) {
        let (token, body) = self.creations.last().cloned().expect("a creation");
        let name = body["config"]["name"].as_str().unwrap().to_owned();
        let info = json!({
            "type": "io.nats.jetstream.api.v1.consumer_create_response",
            "stream_name": "KV_b", "name": name, "created": "2025-01-01T00:00:00Z",
            "config": body["config"],
            "delivered": {"consumer_seq": pushed, "stream_seq": start.saturating_sub(1)},
            "ack_floor": {"consumer_seq": 0, "stream_seq": 0},
            "num_pending": pending, "num_ack_pending": 0, "num_redelivered": 0,
            "num_waiting": 0
        });
        let reply = message("_INBOX.reply", None, None, info.to_string());
        self.now += Duration::from_millis(1);
        self.watch.handle_reply(self.now, token, Ok(reply));
        self.drain();
    }

    /// The consumer of creation `serial` (1-based) delivers revision `sseq` of `key`.
    fn deliver(&mut self, serial: u64, cseq: u64, sseq: u64, pending: u64, key: &str, op: &str) {
        let name = self.creations[serial as usize - 1].1["config"]["name"]
            .as_str()
            .unwrap()
            .to_owned();
        let ack = format!("$JS.ACK.KV_b.{name}.1.{sseq}.{cseq}.1700000000000000000.{pending}");
        let headers = (!op.is_empty()).then(|| {
            let mut h = HeaderMap::new();
            h.insert("KV-Operation", op);
            h
        });
        let body = if op.is_empty() {
            format!("v{sseq}")
        } else {
            String::new()
        };
        let m = message(&format!("$KV.b.{key}"), Some(&ack), headers, body);
        self.now += Duration::from_millis(1);
        self.watch.handle_message(self.now, m);
        self.drain();
    }

    /// The revisions delivered, with `0` standing for `CaughtUp`.
    fn seen(&self) -> Vec<u64> {
        self.items
            .iter()
            .map(|i| match i {
                WatchItem::Entry(e) => e.revision,
                WatchItem::CaughtUp => 0,
            })
            .collect()
    }
}

fn message(
    subject: &str,
    reply: Option<&str>,
    headers: Option<HeaderMap>,
    body: String,
) -> Message {
    Message {
        subject: Subject::new(subject).unwrap(),
        reply: reply.map(|r| Subject::new(r).unwrap()),
        headers,
        length: body.len(),
        payload: Bytes::from(body),
    }
}

#[test]
fn the_consumer_is_nats_go_s_push_ordered_consumer_on_the_bucket() {
    let h = Harness::new(WatchConfig::all());
    assert_eq!(
        h.subscribed,
        ["_INBOX.w1.1"],
        "deliver subject subscribed before creation"
    );
    let config = h.config();
    assert_eq!(h.policy(), "last_per_subject");
    assert_eq!(config["filter_subject"], "$KV.b.>");
    assert_eq!(config["ack_policy"], "none");
    assert_eq!(config["flow_control"], true);
    assert_eq!(config["idle_heartbeat"], 5_000_000_000u64);
    assert_eq!(config["mem_storage"], true);
    assert_eq!(config["num_replicas"], 1);
    assert_eq!(config["deliver_subject"], "_INBOX.w1.1");
    assert!(config.get("headers_only").is_none());
}

#[test]
fn options_map_to_the_consumer_config() {
    let h = Harness::new(WatchConfig {
        include_history: true,
        meta_only: true,
        ..WatchConfig::filters(["a.*", "b.>"])
    });
    assert_eq!(h.policy(), "all");
    assert_eq!(h.config()["headers_only"], true);
    assert_eq!(
        h.config()["filter_subjects"],
        json!(["$KV.b.a.*", "$KV.b.b.>"])
    );
    let h = Harness::new(WatchConfig {
        updates_only: true,
        ..WatchConfig::key("k")
    });
    assert_eq!(h.policy(), "new");
    assert_eq!(h.config()["filter_subject"], "$KV.b.k");
    let h = Harness::new(WatchConfig {
        resume_from: Some(42),
        ..WatchConfig::all()
    });
    assert_eq!(h.policy(), "by_start_sequence");
    assert_eq!(h.config()["opt_start_seq"], 42);
}

#[test]
fn invalid_options_are_refused() {
    let now = crate::test_clock::base();
    let bucket = BucketSubjects::new("b", &ApiPrefix::default()).unwrap();
    let both = WatchConfig {
        include_history: true,
        updates_only: true,
        ..WatchConfig::all()
    };
    assert_eq!(
        Watch::new(now, &bucket, INBOX, both).unwrap_err(),
        KvError::ConflictingWatchOptions
    );
    assert!(matches!(
        Watch::new(now, &bucket, INBOX, WatchConfig::key("a*")),
        Err(KvError::InvalidFilter { .. })
    ));
    assert!(matches!(
        Watch::new(now, &bucket, INBOX, WatchConfig::key("")),
        Err(KvError::InvalidFilter { .. })
    ));
}

#[test]
fn an_empty_bucket_is_caught_up_at_creation() {
    let mut h = Harness::new(WatchConfig::all());
    assert!(h.items.is_empty(), "nothing before the consumer exists");
    h.created(0, 0);
    assert_eq!(h.seen(), [0]);
    h.deliver(1, 1, 7, 0, "k", "");
    assert_eq!(h.seen(), [0, 7], "changes follow, CaughtUp is not repeated");
}

#[test]
fn caught_up_follows_the_last_initial_value() {
    let mut h = Harness::new(WatchConfig::all());
    h.created(2, 0);
    h.deliver(1, 1, 3, 1, "a", "");
    assert_eq!(h.seen(), [3]);
    h.deliver(1, 2, 5, 0, "b", "");
    assert_eq!(h.seen(), [3, 5, 0]);
    h.deliver(1, 3, 6, 0, "a", "DEL");
    assert_eq!(h.seen(), [3, 5, 0, 6]);
    match &h.items[3] {
        WatchItem::Entry(e) => {
            assert_eq!((e.key.as_str(), e.operation), ("a", Operation::Delete));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn under_constant_writes_the_backlog_count_ends_the_initial_data() {
    let mut h = Harness::new(WatchConfig::all());
    h.created(2, 0);
    h.deliver(1, 1, 3, 4, "a", "");
    h.deliver(1, 2, 5, 4, "b", "");
    h.deliver(1, 3, 8, 4, "c", "");
    assert_eq!(h.seen(), [3, 5, 0, 8]);
}

#[test]
fn values_pushed_before_the_creation_reply_count() {
    let mut h = Harness::new(WatchConfig::all());
    h.deliver(1, 1, 4, 3, "a", "");
    assert_eq!(h.seen(), [4]);
    // The server wrote the reply after pushing one: one delivered, none pending.
    h.created(0, 1);
    assert_eq!(h.seen(), [4, 0]);
}

#[test]
fn ignored_deletions_still_count_toward_catching_up() {
    let mut h = Harness::new(WatchConfig {
        ignore_deletes: true,
        ..WatchConfig::all()
    });
    h.created(2, 0);
    h.deliver(1, 1, 2, 1, "a", "");
    h.deliver(1, 2, 3, 0, "b", "PURGE");
    assert_eq!(h.seen(), [2, 0]);
    h.deliver(1, 3, 4, 0, "c", "DEL");
    h.deliver(1, 4, 5, 0, "c", "");
    assert_eq!(h.seen(), [2, 0, 5]);
}

#[test]
fn updates_only_is_caught_up_at_once() {
    let mut h = Harness::new(WatchConfig {
        updates_only: true,
        ..WatchConfig::all()
    });
    h.created(0, 0);
    h.deliver(1, 1, 10, 0, "a", "");
    assert_eq!(h.seen(), [0, 10]);
}

#[test]
fn a_gap_replaces_the_consumer_and_nothing_is_delivered_twice() {
    let mut h = Harness::new(WatchConfig::all());
    h.created(3, 0);
    h.deliver(1, 1, 1, 2, "a", "");
    // cseq 2 (revision 2) was lost: revision 3 arrives out of order and is held back.
    h.deliver(1, 3, 3, 0, "c", "");
    assert_eq!(h.seen(), [1]);
    assert_eq!(h.creations.len(), 2, "a replacement was asked for");
    assert_eq!(h.policy(), "by_start_sequence");
    assert_eq!(h.config()["opt_start_seq"], 2);
    assert_eq!(h.deletions.len(), 1, "the broken consumer is deleted");
    h.created(2, 0);
    h.deliver(2, 1, 2, 1, "b", "");
    // A straggler of the old consumer, already superseded: not delivered again.
    h.deliver(1, 2, 2, 1, "b", "");
    h.deliver(2, 2, 3, 0, "c", "");
    assert_eq!(h.seen(), [1, 2, 3, 0]);
    h.deliver(2, 3, 4, 0, "a", "");
    assert_eq!(h.seen(), [1, 2, 3, 0, 4], "CaughtUp exactly once");
}

#[test]
fn a_replacement_s_entries_do_not_count_as_initial_values() {
    // Last-per-key start: the initial values are revisions 2 and 9 (of a and b).
    let mut h = Harness::new(WatchConfig::all());
    h.created(2, 0);
    h.deliver(1, 1, 2, 1, "a", "");
    h.now += Duration::from_secs(1);
    h.watch.handle_link(h.now, Link::Down);
    h.watch.handle_link(h.now, Link::Up);
    h.drain();
    assert_eq!(h.creations.len(), 2);
    h.created(7, 0);
    // The replacement starts after revision 2 and so also brings b's older revisions.
    h.deliver(2, 1, 3, 6, "b", "");
    h.deliver(2, 2, 4, 5, "b", "");
    assert_eq!(h.seen(), [2, 3, 4], "no CaughtUp before b's initial value");
    for (cseq, sseq) in (3..=7).zip(5..=9) {
        h.deliver(2, cseq, sseq, 9 - sseq, "b", "");
    }
    assert_eq!(h.seen(), [2, 3, 4, 5, 6, 7, 8, 9, 0]);
}

#[test]
fn flow_control_is_answered() {
    let mut h = Harness::new(WatchConfig::all());
    h.created(0, 0);
    let mut status = HeaderMap::new();
    status.set_status(
        StatusCode::from_u16(100).unwrap(),
        Some("FlowControl Request".into()),
    );
    let fc = message(
        "_INBOX.w1.1",
        Some("$JS.FC.KV_b.x.1"),
        Some(status),
        String::new(),
    );
    h.watch.handle_message(h.now, fc);
    h.drain();
    assert_eq!(h.published, ["$JS.FC.KV_b.x.1"]);
    assert_eq!(h.seen(), [0]);
}

#[test]
fn keys_end_at_caught_up_and_clean_up() {
    let mut h = Harness::new(WatchConfig::keys(Vec::<String>::new()));
    assert_eq!(h.config()["headers_only"], true);
    h.created(3, 0);
    h.deliver(1, 1, 1, 2, "a", "");
    h.deliver(1, 2, 2, 1, "b", "DEL");
    assert!(!h.finished);
    h.deliver(1, 3, 3, 0, "c", "");
    assert_eq!(h.seen(), [1, 3, 0]);
    assert!(h.finished);
    assert_eq!(h.deletions.len(), 1, "its consumer is deleted");
    assert_eq!(h.watch.poll_timeout(), None);
    h.deliver(1, 4, 4, 0, "d", "");
    assert_eq!(h.seen(), [1, 3, 0], "nothing after the end");
}

#[test]
fn history_of_a_key_without_any_is_not_found() {
    let mut h = Harness::new(WatchConfig::history("k"));
    assert_eq!(h.policy(), "all");
    h.created(0, 0);
    assert_eq!(h.errors, [KvError::KeyNotFound { key: "k".into() }]);
    assert_eq!(h.seen(), [0]);
    assert!(h.finished);

    let mut h = Harness::new(WatchConfig::history("k"));
    h.created(2, 0);
    h.deliver(1, 1, 4, 1, "k", "");
    h.deliver(1, 2, 6, 0, "k", "DEL");
    assert_eq!(h.seen(), [4, 6, 0]);
    assert!(h.errors.is_empty() && h.finished);
}

#[test]
fn stop_deletes_the_consumer_and_finishes() {
    let mut h = Harness::new(WatchConfig::all());
    h.created(1, 0);
    h.watch.stop();
    h.drain();
    assert!(h.finished);
    assert_eq!(h.deletions.len(), 1);
}

#[test]
fn a_reset_before_anything_arrived_starts_where_the_first_consumer_did() {
    // Last-per-key start: the server says the first initial value is revision 4.
    let mut h = Harness::new(WatchConfig::all());
    h.created_at(2, 0, 4);
    h.now += Duration::from_secs(1);
    h.watch.handle_link(h.now, Link::Down);
    h.watch.handle_link(h.now, Link::Up);
    h.drain();
    // Not last-per-key again, which would skip what changed meanwhile.
    assert_eq!(h.policy(), "by_start_sequence");
    assert_eq!(h.config()["opt_start_seq"], 4);
}

#[test]
fn a_key_listing_collapses_what_a_replacement_brings_to_each_key_s_latest() {
    let mut h = Harness::new(WatchConfig::keys(Vec::<String>::new()));
    h.created_at(3, 0, 2);
    h.deliver(1, 1, 2, 2, "a", "");
    h.now += Duration::from_secs(1);
    h.watch.handle_link(h.now, Link::Down);
    h.watch.handle_link(h.now, Link::Up);
    h.drain();
    h.created(4, 0);
    // From revision 3 on: d's old value, then its deletion, then b and c.
    h.deliver(2, 1, 3, 3, "d", "");
    h.deliver(2, 2, 4, 2, "b", "");
    h.deliver(2, 3, 5, 1, "d", "DEL");
    assert_eq!(h.seen(), [2], "held back until the listing is complete");
    h.deliver(2, 4, 6, 0, "c", "");
    assert_eq!(h.seen(), [2, 4, 6, 0], "d was deleted: never listed");
    assert!(h.finished);
}
