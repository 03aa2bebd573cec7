//! Reading what nats.go, nats.py and nats.js services send (null metadata, `data` absent or
//! null, millisecond timestamps), and the typed errors for everything else.

use bytes::Bytes;
use serde_json::json;

use super::*;
use crate::proto::{HeaderMap, StatusCode, Subject};
use crate::service::ServiceError;

fn reply(payload: &[u8]) -> Message {
    Message {
        subject: Subject::new("_INBOX.r").unwrap(),
        reply: None,
        headers: None,
        payload: Bytes::copy_from_slice(payload),
        length: payload.len(),
    }
}

/// A STATS response as nats.go writes it (Go map metadata, endpoint without `data`).
const GO_STATS: &str = r#"{
  "name": "calc", "id": "AbC", "version": "1.0.0", "metadata": {},
  "type": "io.nats.micro.v1.stats_response",
  "started": "2024-05-06T07:08:09.123456789Z",
  "endpoints": [
    {"name": "add", "subject": "calc.add", "queue_group": "q", "num_requests": 3,
     "num_errors": 1, "last_error": "500:boom", "processing_time": 1500,
     "average_processing_time": 500}
  ]
}"#;

/// The same as nats.py writes it (`data: null`, milliseconds, metadata null on the service).
const PY_STATS: &str = r#"{
  "type": "io.nats.micro.v1.stats_response", "name": "calc", "id": "AbC",
  "version": "1.0.0", "started": "2024-05-06T07:08:09.123Z",
  "endpoints": [
    {"name": "add", "subject": "calc.add", "queue_group": "q", "num_requests": 3,
     "num_errors": 1, "last_error": "", "processing_time": 1500,
     "average_processing_time": 500, "data": null}
  ],
  "metadata": null
}"#;

#[test]
fn stats_from_go_and_python() {
    let go = StatsResponse::from_message(&reply(GO_STATS.as_bytes())).unwrap();
    assert_eq!(go.name, "calc");
    assert_eq!(go.metadata, Metadata::new());
    assert_eq!(go.started.unix_nanos(), Some(1_714_979_289_123_456_789));
    let e = &go.endpoints[0];
    assert_eq!(
        (e.num_requests, e.num_errors, e.last_error.as_str()),
        (3, 1, "500:boom")
    );
    assert_eq!(e.processing_time, Duration::from_nanos(1500));
    assert_eq!(e.average_processing_time, Duration::from_nanos(500));
    assert_eq!(e.data, None);

    let py = StatsResponse::from_message(&reply(PY_STATS.as_bytes())).unwrap();
    assert_eq!(py.metadata, Metadata::new(), "null metadata reads as empty");
    assert_eq!(py.endpoints[0].data, None, "data: null reads as none");
    assert_eq!(py.started.unix_nanos(), Some(1_714_979_289_123_000_000));
}

#[test]
fn info_and_ping_from_other_clients() {
    let info = InfoResponse::from_json(
        br#"{"type":"io.nats.micro.v1.info_response","name":"s","id":"i","version":"0.1.0",
             "metadata":null,"description":null,
             "endpoints":[{"name":"e","subject":"e","queue_group":"q","metadata":null},
                          {"name":"f","subject":"f","metadata":{"k":"v"}}]}"#,
    )
    .unwrap();
    assert_eq!(info.description, "");
    assert_eq!(info.endpoints[0].metadata, None);
    assert_eq!(
        info.endpoints[1].queue_group, "",
        "a missing queue group is \"\""
    );
    assert_eq!(
        info.endpoints[1].metadata,
        Some([("k".to_owned(), "v".to_owned())].into())
    );
    // Endpoints null or absent, description absent.
    let bare = InfoResponse::from_json(
        br#"{"type":"io.nats.micro.v1.info_response","name":"s","id":"i","version":"0.1.0",
             "endpoints":null}"#,
    )
    .unwrap();
    assert!(bare.endpoints.is_empty());
    let ping = PingResponse::from_json(
        br#"{"type":"io.nats.micro.v1.ping_response","name":"s","id":"i","version":"0.1.0",
             "extra":[1,2]}"#,
    )
    .unwrap();
    assert_eq!(ping.metadata, Metadata::new());
}

#[test]
fn lenient_counters_and_errors() {
    let stats = StatsResponse::from_json(
        br#"{"type":"io.nats.micro.v1.stats_response","name":"s","id":"i","version":"1.0.0",
             "started":"2024-01-01T00:00:00Z",
             "endpoints":[{"name":"e","subject":"e","num_requests":null,
                           "last_error":{"code":500},"processing_time":-1}]}"#,
    )
    .unwrap();
    let e = &stats.endpoints[0];
    assert_eq!(e.num_requests, 0);
    assert_eq!(e.num_errors, 0);
    assert_eq!(e.last_error, r#"{"code":500}"#);
    assert_eq!(e.processing_time, Duration::ZERO);
}

#[test]
fn written_as_go_writes_it() {
    let e = EndpointStats {
        name: "e".into(),
        subject: "s".into(),
        queue_group: String::new(),
        num_requests: 2,
        num_errors: 0,
        last_error: String::new(),
        processing_time: Duration::from_secs(1),
        average_processing_time: Duration::from_millis(500),
        data: None,
    };
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        json!({"name":"e","subject":"s","queue_group":"","num_requests":2,"num_errors":0,
               "last_error":"","processing_time":1_000_000_000u64,
               "average_processing_time":500_000_000u64})
    );
    let info = EndpointInfo {
        name: "e".into(),
        subject: "s".into(),
        queue_group: "q".into(),
        metadata: None,
    };
    assert_eq!(
        serde_json::to_value(&info).unwrap(),
        json!({"name":"e","subject":"s","queue_group":"q","metadata":null})
    );
}

#[test]
fn malformed_replies_are_typed_errors() {
    for bad in [
        &b""[..],
        b"garbage",
        b"\xff\xfe",
        b"[]",
        b"{\"type\":\"io.nats.micro.v1.ping_response\"}",
        b"{\"type\":\"io.nats.micro.v1.ping_response\",\"name\":1,\"id\":\"i\",\"version\":\"v\"}",
    ] {
        assert!(
            matches!(
                PingResponse::from_message(&reply(bad)),
                Err(DiscoveryError::Malformed {
                    expected: PING_RESPONSE_TYPE,
                    ..
                })
            ),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let ping =
        br#"{"type":"io.nats.micro.v1.ping_response","name":"s","id":"i","version":"1.0.0"}"#;
    assert_eq!(
        InfoResponse::from_message(&reply(ping)),
        Err(DiscoveryError::WrongType {
            expected: INFO_RESPONSE_TYPE,
            found: PING_RESPONSE_TYPE.into()
        })
    );
    let untyped = br#"{"name":"s","id":"i","version":"1.0.0"}"#;
    assert_eq!(
        PingResponse::from_message(&reply(untyped)),
        Err(DiscoveryError::WrongType {
            expected: PING_RESPONSE_TYPE,
            found: String::new()
        })
    );
}

#[test]
fn statuses_and_service_errors_come_before_the_json() {
    let mut no_responders = reply(b"");
    let mut h = HeaderMap::new();
    h.set_status(StatusCode::NO_RESPONDERS, None);
    no_responders.headers = Some(h);
    assert_eq!(
        StatsResponse::from_message(&no_responders),
        Err(DiscoveryError::Status(StatusCode::NO_RESPONDERS))
    );
    // A 500 answer from a service whose STATS failed (payload ignored).
    let mut failed = reply(GO_STATS.as_bytes());
    let mut h = HeaderMap::new();
    h.insert("Nats-Service-Error", "Error handling STATS request: x");
    h.insert("Nats-Service-Error-Code", "500");
    failed.headers = Some(h);
    assert_eq!(
        StatsResponse::from_message(&failed),
        Err(DiscoveryError::Service(ServiceError::new(
            500,
            "Error handling STATS request: x"
        )))
    );
}
