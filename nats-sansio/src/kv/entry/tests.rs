//! Entry decoding from every kind of reply, and gets.

use super::*;
use crate::jetstream::api::{ApiPrefix, StoredMessage, StreamConfig};
use crate::proto::{StatusCode, Subject};

fn bucket() -> BucketSubjects {
    BucketSubjects::new("b", &ApiPrefix::default()).unwrap()
}

fn legacy_bucket() -> BucketSubjects {
    let config = StreamConfig {
        max_msgs_per_subject: 1,
        ..StreamConfig::new("KV_b")
    };
    BucketSubjects::from_stream(&ApiPrefix::default(), &config).unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> Option<HeaderMap> {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.insert(*k, *v);
    }
    (!pairs.is_empty()).then_some(map)
}

fn reply(headers: Option<HeaderMap>, body: &str) -> Message {
    Message {
        subject: Subject::new("_INBOX.r").unwrap(),
        reply: None,
        headers,
        payload: Bytes::from(body.to_owned()),
        length: body.len(),
    }
}

fn direct_reply(subject: &str, seq: u64, extra: &[(&str, &str)], body: &str) -> Message {
    let seq = seq.to_string();
    let mut pairs = vec![
        ("Nats-Stream", "KV_b"),
        ("Nats-Subject", subject),
        ("Nats-Sequence", seq.as_str()),
        ("Nats-Time-Stamp", "2025-01-01T00:00:00.5Z"),
    ];
    pairs.extend_from_slice(extra);
    reply(headers(&pairs), body)
}

#[test]
fn operations_follow_nats_go() {
    let table: &[(&[(&str, &str)], Operation)] = &[
        (&[], Operation::Put),
        (&[("KV-Operation", "DEL")], Operation::Delete),
        (&[("KV-Operation", "PURGE")], Operation::Purge),
        (&[("KV-Operation", "del")], Operation::Put),
        (&[("KV-Operation", "SOMETHING")], Operation::Put),
        (&[("Nats-Marker-Reason", "MaxAge")], Operation::Purge),
        (&[("Nats-Marker-Reason", "Purge")], Operation::Purge),
        (&[("Nats-Marker-Reason", "Remove")], Operation::Delete),
        (&[("Nats-Marker-Reason", "Other")], Operation::Put),
        (
            &[("KV-Operation", "DEL"), ("Nats-Marker-Reason", "MaxAge")],
            Operation::Purge,
        ),
        (&[("Nats-Rollup", "sub")], Operation::Put),
    ];
    for (pairs, want) in table {
        assert_eq!(
            Operation::from_headers(headers(pairs).as_ref()),
            *want,
            "{pairs:?}"
        );
    }
}

#[test]
fn direct_get_of_a_value() {
    let b = bucket();
    let get = Get::new(&b, "a.b", None).unwrap();
    let answer = || Ok(direct_reply("$KV.b.a.b", 7, &[], "v1"));
    assert_eq!(&get.value(&b, answer()).unwrap()[..], b"v1");
    let entry = get.entry(&b, answer()).unwrap();
    assert_eq!(
        (
            entry.key.as_str(),
            &entry.value[..],
            entry.revision,
            entry.delta
        ),
        ("a.b", &b"v1"[..], 7, 0)
    );
    assert_eq!(entry.bucket, "b");
    assert_eq!(entry.operation, Operation::Put);
    assert_eq!(entry.created.unix_nanos(), Some(1_735_689_600_500_000_000));
}

#[test]
fn a_get_of_a_deleted_key_is_not_found_but_its_entry_is_readable() {
    let b = bucket();
    let get = Get::new(&b, "k", None).unwrap();
    for (pairs, operation) in [
        (&[("KV-Operation", "DEL")][..], Operation::Delete),
        (
            &[("KV-Operation", "PURGE"), ("Nats-Rollup", "sub")][..],
            Operation::Purge,
        ),
        (
            &[("Nats-Marker-Reason", "MaxAge"), ("Nats-TTL", "1m0s")][..],
            Operation::Purge,
        ),
    ] {
        let answer = || Ok(direct_reply("$KV.b.k", 9, pairs, ""));
        let err = get.value(&b, answer()).unwrap_err();
        assert_eq!(
            err,
            KvError::KeyDeleted {
                key: "k".into(),
                revision: 9,
                operation
            }
        );
        assert!(err.is_not_found());
        assert_eq!(get.entry(&b, answer()).unwrap().operation, operation);
    }
}

#[test]
fn missing_keys_and_failures() {
    let b = bucket();
    let get = Get::new(&b, "k", None).unwrap();
    let mut status = HeaderMap::new();
    status.set_status(StatusCode::NOT_FOUND, Some("Message Not Found".into()));
    let err = get.value(&b, Ok(reply(Some(status), ""))).unwrap_err();
    assert_eq!(err, KvError::KeyNotFound { key: "k".into() });
    assert_eq!(
        get.value(&b, Err(RequestError::TimedOut)).unwrap_err(),
        KvError::Request(RequestError::TimedOut)
    );
    // A reply for another key (a stale or confused responder) is not this key's.
    assert!(get
        .value(&b, Ok(direct_reply("$KV.b.other", 3, &[], "x")))
        .unwrap_err()
        .is_not_found());
}

#[test]
fn get_at_a_revision_checks_the_subject() {
    let b = bucket();
    let get = Get::new(&b, "k", Some(4)).unwrap();
    assert_eq!(get.subject(), "$JS.API.DIRECT.GET.KV_b");
    assert_eq!(&get.payload[..], br#"{"seq":4}"#);
    assert_eq!(
        &get.value(&b, Ok(direct_reply("$KV.b.k", 4, &[], "x")))
            .unwrap()[..],
        b"x"
    );
    assert_eq!(
        get.entry(&b, Ok(direct_reply("$KV.b.k", 4, &[], "x")))
            .unwrap()
            .revision,
        4
    );
    // Another revision of the same key is not the one asked for.
    assert!(get
        .value(&b, Ok(direct_reply("$KV.b.k", 5, &[], "x")))
        .unwrap_err()
        .is_not_found());
    let other = get.value(&b, Ok(direct_reply("$KV.b.j", 4, &[], "x")));
    assert_eq!(other.unwrap_err(), KvError::KeyNotFound { key: "k".into() });
}

#[test]
fn legacy_get_reads_stream_msg_get() {
    let b = legacy_bucket();
    let get = Get::new(&b, "k", None).unwrap();
    assert_eq!(get.subject(), "$JS.API.STREAM.MSG.GET.KV_b");
    assert_eq!(&get.payload[..], br#"{"last_by_subj":"$KV.b.k"}"#);
    let stored = StoredMessage {
        subject: "$KV.b.k".into(),
        seq: 12,
        raw_headers: Bytes::from_static(b"NATS/1.0\r\nKV-Operation: PURGE\r\n\r\n"),
        payload: Bytes::new(),
        time: DateTime::new("2025-01-01T00:00:00Z"),
    };
    let body = serde_json::to_string(&MsgGetResponse { message: stored }).unwrap();
    let entry = get.entry(&b, Ok(reply(None, &body))).unwrap();
    assert_eq!((entry.revision, entry.operation), (12, Operation::Purge));
    let missing = r#"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response",
        "error":{"code":404,"err_code":10037,"description":"no message found"}}"#;
    assert!(get
        .value(&b, Ok(reply(None, missing)))
        .unwrap_err()
        .is_not_found());
    let at = Get::new(&b, "k", Some(3)).unwrap();
    assert_eq!(&at.payload[..], br#"{"seq":3}"#);
}

#[test]
fn delivered_entries_take_their_metadata_from_the_ack_subject() {
    let b = bucket();
    let message = Message {
        subject: Subject::new("$KV.b.x.y").unwrap(),
        reply: None,
        headers: headers(&[("KV-Operation", "DEL")]),
        payload: Bytes::new(),
        length: 0,
    };
    let meta =
        crate::jetstream::ack::parse_ref("$JS.ACK.KV_b.c.1.42.3.1700000000000000001.5").unwrap();
    let entry = Entry::from_delivered(&b, &message, &meta).unwrap();
    assert_eq!(entry.key, "x.y");
    assert_eq!((entry.revision, entry.delta), (42, 5));
    assert_eq!(entry.operation, Operation::Delete);
    assert_eq!(entry.created.unix_nanos(), Some(1_700_000_000_000_000_001));
    let elsewhere = Message {
        subject: Subject::new("$KV.c.x").unwrap(),
        ..message
    };
    assert!(matches!(
        Entry::from_delivered(&b, &elsewhere, &meta),
        Err(KvError::Malformed(_))
    ));
}
