//! The JSON of each verb against literal JSON, the stats bookkeeping (errors, averages,
//! reset), the answers to verb messages (the nine subjects, garbage payloads, other
//! instances' subjects), and the error headers both ways.

use bytes::Bytes;
use serde_json::{json, Value};

use super::*;
use crate::proto::{HeaderMap, Subject};
use crate::service::{error_headers, service_error, VerbResponse};

const ID: &str = "NUID123";
const T0: &str = "2024-05-06T07:08:09.123456Z";

fn config() -> Config {
    let mut c = Config::new("calc", "1.2.3-rc.1");
    c.description = Some("adds things".into());
    c.metadata = [("region".to_owned(), "eu".to_owned())].into();
    c
}

/// A service with one endpoint at the root (with metadata), one in a group without metadata
/// and a disabled queue group, and one in a group with its own queue group.
fn service() -> (Service, [EndpointId; 3]) {
    let mut s = Service::new(config(), ID, DateTime::new(T0)).unwrap();
    let add = s
        .add_endpoint(
            None,
            EndpointConfig::new("add").metadata([("unit".to_owned(), "n".to_owned())].into()),
        )
        .unwrap();
    let g = s.group("math", QueueGroup::Disabled).unwrap();
    let sub = s
        .add_endpoint(Some(&g), EndpointConfig::new("sub").subject("minus"))
        .unwrap();
    let w = s.group("w", QueueGroup::named("workers")).unwrap();
    let mul = s
        .add_endpoint(Some(&w), EndpointConfig::new("mul"))
        .unwrap();
    (s, [add, sub, mul])
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

/// Field-by-field equality with a message naming the first field that differs.
fn assert_json(got: &Value, want: &Value) {
    let (Value::Object(g), Value::Object(w)) = (got, want) else {
        assert_eq!(got, want);
        return;
    };
    let gk: Vec<&String> = g.keys().collect();
    let wk: Vec<&String> = w.keys().collect();
    assert_eq!(gk, wk, "field names");
    for (k, wv) in w {
        if let (Value::Array(ga), Value::Array(wa)) = (&g[k], wv) {
            assert_eq!(ga.len(), wa.len(), "{k}: length");
            for (gi, wi) in ga.iter().zip(wa) {
                assert_json(gi, wi);
            }
        } else {
            assert_eq!(&g[k], wv, "field {k:?}");
        }
    }
}

#[test]
fn ping_json() {
    let (s, _) = service();
    assert_json(
        &to_value(&s.ping()),
        &json!({
            "name": "calc",
            "id": ID,
            "version": "1.2.3-rc.1",
            "metadata": {"region": "eu"},
            "type": "io.nats.micro.v1.ping_response",
        }),
    );
    // No metadata is `{}`, never null.
    let bare = Service::new(Config::new("x", "0.0.1"), ID, DateTime::new(T0)).unwrap();
    assert_eq!(to_value(&bare.ping())["metadata"], json!({}));
}

#[test]
fn info_json() {
    let (s, _) = service();
    assert_json(
        &to_value(&s.info()),
        &json!({
            "name": "calc",
            "id": ID,
            "version": "1.2.3-rc.1",
            "metadata": {"region": "eu"},
            "type": "io.nats.micro.v1.info_response",
            "description": "adds things",
            "endpoints": [
                {"name": "add", "subject": "add", "queue_group": "q", "metadata": {"unit": "n"}},
                {"name": "sub", "subject": "math.minus", "queue_group": "", "metadata": null},
                {"name": "mul", "subject": "w.mul", "queue_group": "workers", "metadata": null},
            ],
        }),
    );
    let bare = Service::new(Config::new("x", "0.0.1"), ID, DateTime::new(T0)).unwrap();
    let info = to_value(&bare.info());
    assert_eq!(info["description"], json!(""), "no description is \"\"");
    assert_eq!(info["endpoints"], json!([]), "endpoints is always an array");
}

#[test]
fn stats_json_without_and_with_a_stats_handler() {
    let (mut s, [add, sub, _]) = service();
    s.record_request(add, Duration::from_nanos(300));
    s.record_request(add, Duration::from_nanos(500));
    s.record_request(sub, Duration::from_nanos(10));
    s.record_error(sub, &ServiceError::new(400, "bad operand"));
    let want = json!({
        "name": "calc",
        "id": ID,
        "version": "1.2.3-rc.1",
        "metadata": {"region": "eu"},
        "type": "io.nats.micro.v1.stats_response",
        "started": T0,
        "endpoints": [
            {"name": "add", "subject": "add", "queue_group": "q",
             "num_requests": 2, "num_errors": 0, "last_error": "",
             "processing_time": 800, "average_processing_time": 400},
            {"name": "sub", "subject": "math.minus", "queue_group": "",
             "num_requests": 1, "num_errors": 1, "last_error": "400:bad operand",
             "processing_time": 10, "average_processing_time": 10},
            {"name": "mul", "subject": "w.mul", "queue_group": "workers",
             "num_requests": 0, "num_errors": 0, "last_error": "",
             "processing_time": 0, "average_processing_time": 0},
        ],
    });
    // No handler: no `data` field at all.
    assert_json(&to_value(&s.stats(|_| None)), &want);
    // A handler: its value per endpoint, asked with that endpoint's stats.
    let mut asked = Vec::new();
    let with = s.stats(|e| {
        asked.push(e.name.clone());
        (e.name != "mul").then(|| json!({"seen": e.num_requests}))
    });
    assert_eq!(asked, ["add", "sub", "mul"]);
    let v = to_value(&with);
    assert_eq!(v["endpoints"][0]["data"], json!({"seen": 2}));
    assert_eq!(v["endpoints"][1]["data"], json!({"seen": 1}));
    assert!(v["endpoints"][2].get("data").is_none());
}

#[test]
fn averages_are_integer_nanoseconds() {
    let (mut s, [add, _, _]) = service();
    for n in [1, 2, 2] {
        s.record_request(add, Duration::from_nanos(n));
    }
    let e = s.endpoint(add).unwrap();
    assert_eq!(e.processing_time, Duration::from_nanos(5));
    assert_eq!(
        e.average_processing_time(),
        Duration::from_nanos(1),
        "5 / 3"
    );
}

#[test]
fn errors_are_counted_and_the_last_one_kept() {
    let (mut s, [add, _, _]) = service();
    s.record_error(add, &ServiceError::new(500, "boom"));
    s.record_error(add, &ServiceError::new(503, "busy: try later"));
    s.record_failure(add, "publish failed");
    let e = s.endpoint(add).unwrap();
    assert_eq!(e.num_errors, 3);
    assert_eq!(e.num_requests, 0, "an error is not a request by itself");
    assert_eq!(e.last_error, "publish failed");
    s.record_error(add, &ServiceError::new(503, "busy: try later"));
    assert_eq!(s.endpoint(add).unwrap().last_error, "503:busy: try later");
}

#[test]
fn reset_zeroes_the_stats_and_moves_started() {
    let (mut s, [add, sub, mul]) = service();
    s.record_request(add, Duration::from_millis(3));
    s.record_error(sub, &ServiceError::new(500, "x"));
    s.record_request(mul, Duration::from_millis(1));
    let later = "2024-05-06T08:00:00.000001Z";
    s.reset(DateTime::new(later));
    let stats = to_value(&s.stats(|_| None));
    assert_eq!(stats["started"], json!(later));
    for (n, qg) in ["q", "", "workers"].iter().enumerate() {
        let e = &stats["endpoints"][n];
        assert_eq!(e["num_requests"], json!(0));
        assert_eq!(e["num_errors"], json!(0));
        assert_eq!(e["last_error"], json!(""));
        assert_eq!(e["processing_time"], json!(0));
        assert_eq!(e["average_processing_time"], json!(0));
        assert_eq!(e["queue_group"], json!(qg), "queue groups survive a reset");
    }
    // Counting goes on after a reset.
    s.record_request(add, Duration::from_nanos(7));
    assert_eq!(s.endpoint(add).unwrap().num_requests, 1);
}

#[test]
fn endpoints_can_be_added_at_any_time_and_list_in_order() {
    let (mut s, _) = service();
    s.record_request(EndpointId(0), Duration::from_nanos(1));
    let late = s.add_endpoint(None, EndpointConfig::new("late")).unwrap();
    assert_eq!(late, EndpointId(3));
    let names: Vec<&str> = s.endpoints().map(|(_, e)| e.name.as_str()).collect();
    assert_eq!(names, ["add", "sub", "mul", "late"]);
    assert_eq!(s.info().endpoints.len(), 4);
    // Unknown ids are ignored.
    s.record_request(EndpointId(99), Duration::from_secs(1));
    s.record_failure(EndpointId(99), "x");
    assert!(s.endpoint(EndpointId(99)).is_none());
}

#[test]
fn new_checks_the_config_and_the_id() {
    let started = || DateTime::new(T0);
    assert!(matches!(
        Service::new(Config::new("a b", "1.0.0"), ID, started()),
        Err(ServiceConfigError::InvalidName(_))
    ));
    for id in ["", "a.b", "*", "a b"] {
        assert_eq!(
            Service::new(config(), id, started()).unwrap_err(),
            ServiceConfigError::InvalidId(id.into())
        );
    }
}

#[test]
fn disabled_service_queue_group_reaches_its_endpoints() {
    let mut c = config();
    c.queue_group = QueueGroup::Disabled;
    let mut s = Service::new(c, ID, DateTime::new(T0)).unwrap();
    let e = s.add_endpoint(None, EndpointConfig::new("e")).unwrap();
    assert_eq!(s.endpoint(e).unwrap().queue_group, None);
    assert_eq!(
        to_value(&s.info())["endpoints"][0]["queue_group"],
        json!("")
    );
}

// ===================== answering verb messages =====================

fn verb_message(subject: &str, reply: Option<&str>, payload: &[u8]) -> Message {
    Message {
        subject: Subject::new(subject).unwrap(),
        reply: reply.map(|r| Subject::new(r).unwrap()),
        headers: None,
        payload: Bytes::copy_from_slice(payload),
        length: payload.len(),
    }
}

#[test]
fn the_nine_verb_subjects() {
    let (s, _) = service();
    let subjects: Vec<String> = s.verb_subjects().into_iter().map(|(_, s)| s).collect();
    assert_eq!(
        subjects,
        [
            "$SRV.PING",
            "$SRV.PING.calc",
            "$SRV.PING.calc.NUID123",
            "$SRV.INFO",
            "$SRV.INFO.calc",
            "$SRV.INFO.calc.NUID123",
            "$SRV.STATS",
            "$SRV.STATS.calc",
            "$SRV.STATS.calc.NUID123",
        ]
    );
    let mut c = config();
    c.api_prefix = "acme.SRV".into();
    let prefixed = Service::new(c, ID, DateTime::new(T0)).unwrap();
    assert_eq!(prefixed.verb_subjects()[8].1, "acme.SRV.STATS.calc.NUID123");
}

#[test]
fn every_verb_subject_is_answered_whatever_the_payload() {
    let (s, _) = service();
    for (verb, subject) in s.verb_subjects() {
        for payload in [&b""[..], b"garbage \xff\x00", b"{\"not\":\"asked\"}"] {
            let p = s
                .respond(&verb_message(&subject, Some("_INBOX.r.1"), payload), |_| {
                    None
                })
                .unwrap_or_else(|| panic!("{subject} answered"));
            assert_eq!(p.subject, "_INBOX.r.1");
            assert_eq!(p.headers, None);
            let got: Value = serde_json::from_slice(&p.payload).unwrap();
            let want = match verb {
                Verb::Ping => to_value(&s.ping()),
                Verb::Info => to_value(&s.info()),
                Verb::Stats => to_value(&s.stats(|_| None)),
            };
            assert_eq!(got, want, "{subject}");
        }
    }
}

#[test]
fn answers_read_back_as_the_typed_responses() {
    let (mut s, [add, _, _]) = service();
    s.record_request(add, Duration::from_micros(5));
    let ask = |s: &Service, subject: &str| {
        let p = s
            .respond(&verb_message(subject, Some("r"), b""), |_| Some(json!(1)))
            .unwrap();
        verb_message("r", None, &p.payload)
    };
    let ping = PingResponse::from_message(&ask(&s, "$SRV.PING")).unwrap();
    assert_eq!(ping, s.ping());
    let info = InfoResponse::from_message(&ask(&s, "$SRV.INFO.calc")).unwrap();
    assert_eq!(info, s.info());
    let stats = StatsResponse::from_message(&ask(&s, "$SRV.STATS.calc.NUID123")).unwrap();
    assert_eq!(stats, s.stats(|_| Some(json!(1))));
}

#[test]
fn other_instances_and_non_verbs_get_no_answer() {
    let (s, _) = service();
    for subject in [
        "$SRV.PING.other",
        "$SRV.PING.calc.OTHERID",
        "$SRV.SCHEMA.calc",
        "$SRV.PING.calc.NUID123.x",
        "add",
        "acme.SRV.PING",
    ] {
        assert_eq!(
            s.respond(&verb_message(subject, Some("r"), b""), |_| None),
            None,
            "{subject}"
        );
    }
    // No reply subject: nothing to answer.
    assert_eq!(
        s.respond(&verb_message("$SRV.PING", None, b""), |_| None),
        None
    );
}

#[test]
fn a_failed_answer_is_a_500_service_error() {
    let failure = serde_json::from_str::<Value>("{").unwrap_err();
    let p = verb_reply(Verb::Stats, "_INBOX.x", Err(failure));
    assert_eq!(p.subject, "_INBOX.x");
    assert!(p.payload.is_empty());
    let headers = p.headers.expect("error headers");
    assert_eq!(headers.get(ERROR_CODE), Some("500"));
    assert!(headers
        .get(ERROR)
        .unwrap()
        .starts_with("Error handling STATS request: "));
    assert_eq!(headers.validate(), Ok(()));
}

const ERROR: &str = "Nats-Service-Error";
const ERROR_CODE: &str = "Nats-Service-Error-Code";

#[test]
fn started_has_microseconds() {
    assert_eq!(
        started_at(1_700_000_000_123_456_789).unwrap().as_str(),
        "2023-11-14T22:13:20.123456Z"
    );
    assert_eq!(
        started_at(0).unwrap().as_str(),
        "1970-01-01T00:00:00.000000Z"
    );
    assert_eq!(
        started_at(1_700_000_000_123_456_789).unwrap().unix_nanos(),
        Some(1_700_000_000_123_456_000)
    );
    assert!(started_at(i128::MAX).is_none());
}

// ===================== error headers both ways =====================

fn reply_with(headers: HeaderMap) -> Message {
    Message {
        subject: Subject::new("_INBOX.r").unwrap(),
        reply: None,
        headers: Some(headers),
        payload: Bytes::new(),
        length: 0,
    }
}

#[test]
fn error_headers_round_trip_through_the_wire() {
    for (code, description) in [
        (400, "bad request"),
        (0, ""),
        (u32::MAX, "big: code"),
        (503, "  padded  "),
    ] {
        let error = ServiceError::new(code, description);
        let headers = error_headers(&error);
        assert_eq!(headers.get(ERROR), Some(description));
        assert_eq!(headers.get(ERROR_CODE), Some(code.to_string().as_str()));
        // Through the encoder and the decoder, as a reply would travel.
        let mut wire = bytes::BytesMut::new();
        headers.encode(&mut wire);
        let decoded = HeaderMap::decode(&wire).unwrap();
        let got = service_error(&reply_with(decoded)).unwrap();
        assert_eq!(got.code, code);
        assert_eq!(got.description, description.trim());
    }
}

#[test]
fn error_headers_never_break_the_header_block() {
    let headers = error_headers(&ServiceError::new(500, "line one\r\nline two\n"));
    assert_eq!(headers.validate(), Ok(()));
    assert_eq!(headers.get(ERROR), Some("line one  line two "));
}

#[test]
fn service_error_reads_what_other_clients_send() {
    let mut h = HeaderMap::new();
    h.insert(ERROR, "nope");
    h.insert(ERROR_CODE, "404");
    assert_eq!(
        service_error(&reply_with(h)),
        Some(ServiceError::new(404, "nope"))
    );
    // nats.py and nats.go take any string as the code: not a number reads as 500.
    let mut h = HeaderMap::new();
    h.insert(ERROR, "odd");
    h.insert(ERROR_CODE, "E42");
    assert_eq!(
        service_error(&reply_with(h)),
        Some(ServiceError::new(500, "odd"))
    );
    // Either header alone makes it an error.
    let mut h = HeaderMap::new();
    h.insert(ERROR_CODE, "409");
    assert_eq!(
        service_error(&reply_with(h)),
        Some(ServiceError::new(409, ""))
    );
    let mut h = HeaderMap::new();
    h.insert(ERROR, "no code");
    assert_eq!(
        service_error(&reply_with(h)),
        Some(ServiceError::new(500, "no code"))
    );
    // Neither: not an error, whatever else is there.
    let mut h = HeaderMap::new();
    h.insert("Other", "x");
    assert_eq!(service_error(&reply_with(h)), None);
    assert_eq!(service_error(&verb_message("a", None, b"x")), None);
    assert_eq!(
        ServiceError::new(404, "not found").to_string(),
        "404:not found"
    );
}
