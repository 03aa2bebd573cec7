//! Each stop condition alone and combined, the status replies, the link, and the order of the
//! outputs, driven by hand on a virtual clock.

use super::*;
use crate::proto::Subject;
use crate::test_clock;

const INBOX: &str = "_INBOX.abc.rm";

fn reply(payload: &[u8]) -> Message {
    message(INBOX, None, payload)
}

fn message(subject: &str, headers: Option<HeaderMap>, payload: &[u8]) -> Message {
    Message {
        subject: Subject::new(subject).unwrap(),
        reply: None,
        length: payload.len(),
        headers,
        payload: Bytes::copy_from_slice(payload),
    }
}

fn status(code: u16, description: Option<&str>) -> Message {
    let mut headers = HeaderMap::new();
    headers.set_status(
        StatusCode::from_u16(code).unwrap(),
        description.map(str::to_owned),
    );
    message(INBOX, Some(headers), b"")
}

/// What the driver saw, in a comparable form.
#[derive(Debug, PartialEq)]
enum Seen {
    Subscribe(String),
    Unsubscribe(String),
    Publish {
        subject: String,
        reply: Option<String>,
        payload: Vec<u8>,
    },
    Deliver(Vec<u8>),
    Error(RequestManyError),
    Finished,
}

fn drain(m: &mut RequestMany) -> Vec<Seen> {
    let mut seen = Vec::new();
    while let Some(output) = m.poll_output() {
        seen.push(match output {
            Output::Subscribe {
                subject,
                queue_group,
            } => {
                assert_eq!(queue_group, None);
                Seen::Subscribe(subject)
            }
            Output::Unsubscribe { subject } => Seen::Unsubscribe(subject),
            Output::Publish(p) => Seen::Publish {
                subject: p.subject,
                reply: p.reply,
                payload: p.payload.to_vec(),
            },
            Output::Request { .. } => panic!("request-many sends no API requests"),
            Output::Deliver(m) => Seen::Deliver(m.payload.to_vec()),
            Output::Error(e) => Seen::Error(e),
            Output::Finished => Seen::Finished,
        });
    }
    seen
}

fn start(now: Instant, options: RequestManyOptions) -> RequestMany {
    let mut m = RequestMany::new(
        now,
        INBOX,
        "svc.ping",
        None,
        Bytes::from_static(b"hi"),
        options,
    )
    .unwrap();
    assert_eq!(
        drain(&mut m),
        vec![
            Seen::Subscribe(INBOX.into()),
            Seen::Publish {
                subject: "svc.ping".into(),
                reply: Some(INBOX.into()),
                payload: b"hi".to_vec(),
            },
        ],
        "subscribe first, then the request"
    );
    m
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn ending(error: Option<RequestManyError>) -> Vec<Seen> {
    let mut v = vec![Seen::Unsubscribe(INBOX.into())];
    v.extend(error.map(Seen::Error));
    v.push(Seen::Finished);
    v
}

#[test]
fn total_timeout_bounds_the_call_and_is_not_an_error() {
    let t0 = test_clock::base();
    let options = RequestManyOptions {
        timeout: ms(1000),
        ..RequestManyOptions::default()
    };
    let mut m = start(t0, options);
    assert_eq!(m.poll_timeout(), Some(t0 + ms(1000)));
    m.handle_message(t0 + ms(100), reply(b"a"));
    m.handle_message(t0 + ms(900), reply(b"b"));
    assert_eq!(
        drain(&mut m),
        vec![Seen::Deliver(b"a".to_vec()), Seen::Deliver(b"b".to_vec())]
    );
    // Early calls do nothing.
    m.handle_timeout(t0 + ms(999));
    assert!(drain(&mut m).is_empty());
    m.handle_timeout(t0 + ms(1000));
    assert_eq!(drain(&mut m), ending(None));
    assert_eq!(m.end(), Some(End::TimedOut));
    assert_eq!(m.poll_timeout(), None);
    // Late replies are dropped.
    m.handle_message(t0 + ms(1001), reply(b"late"));
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.received(), 2);
}

#[test]
fn no_reply_at_all_ends_at_the_total_timeout_without_error() {
    let t0 = test_clock::base();
    let mut m = start(t0, RequestManyOptions::default());
    assert_eq!(m.poll_timeout(), Some(t0 + DEFAULT_TIMEOUT));
    m.handle_timeout(t0 + DEFAULT_TIMEOUT);
    assert_eq!(drain(&mut m), ending(None));
    assert_eq!(m.end(), Some(End::TimedOut));
}

#[test]
fn stall_ends_the_call_after_a_silence_following_a_reply() {
    let t0 = test_clock::base();
    let options = RequestManyOptions {
        timeout: ms(5000),
        stall: Some(ms(300)),
        ..RequestManyOptions::default()
    };
    let mut m = start(t0, options);
    // The first reply is awaited with the total timeout, not the stall.
    assert_eq!(m.poll_timeout(), Some(t0 + ms(5000)));
    m.handle_message(t0 + ms(2000), reply(b"a"));
    assert_eq!(m.poll_timeout(), Some(t0 + ms(2300)));
    m.handle_message(t0 + ms(2200), reply(b"b"));
    assert_eq!(
        m.poll_timeout(),
        Some(t0 + ms(2500)),
        "each reply rearms it"
    );
    m.handle_timeout(t0 + ms(2499));
    assert_eq!(drain(&mut m).len(), 2);
    m.handle_timeout(t0 + ms(2500));
    assert_eq!(drain(&mut m), ending(None));
    assert_eq!(m.end(), Some(End::Stalled));
}

#[test]
fn stall_never_extends_the_call_past_the_total_timeout() {
    let t0 = test_clock::base();
    let options = RequestManyOptions {
        timeout: ms(1000),
        stall: Some(ms(300)),
        ..RequestManyOptions::default()
    };
    let mut m = start(t0, options);
    m.handle_message(t0 + ms(900), reply(b"a"));
    // min(stall, time left) = 100 ms.
    assert_eq!(m.poll_timeout(), Some(t0 + ms(1000)));
    m.handle_timeout(t0 + ms(1000));
    drain(&mut m);
    assert_eq!(m.end(), Some(End::TimedOut));
}

#[test]
fn a_zero_stall_or_one_not_shorter_than_the_total_is_unset() {
    for stall in [Duration::ZERO, ms(1000), ms(5000)] {
        let options = RequestManyOptions {
            timeout: ms(1000),
            stall: Some(stall),
            ..RequestManyOptions::default()
        };
        assert_eq!(options.effective_stall(), None, "{stall:?}");
        let t0 = test_clock::base();
        let mut m = start(t0, options);
        m.handle_message(t0 + ms(10), reply(b"a"));
        assert_eq!(m.poll_timeout(), Some(t0 + ms(1000)), "{stall:?}");
    }
    let options = RequestManyOptions {
        timeout: ms(1000),
        stall: Some(ms(999)),
        ..RequestManyOptions::default()
    };
    assert_eq!(options.effective_stall(), Some(ms(999)));
}

#[test]
fn max_messages_ends_the_call_at_the_nth_reply() {
    let t0 = test_clock::base();
    let options = RequestManyOptions {
        max_messages: Some(2),
        stall: Some(ms(100)),
        ..RequestManyOptions::default()
    };
    let mut m = start(t0, options);
    m.handle_message(t0 + ms(1), reply(b"a"));
    m.handle_message(t0 + ms(2), reply(b"b"));
    m.handle_message(t0 + ms(3), reply(b"c"));
    let mut want = vec![Seen::Deliver(b"a".to_vec()), Seen::Deliver(b"b".to_vec())];
    want.extend(ending(None));
    assert_eq!(drain(&mut m), want);
    assert_eq!(m.end(), Some(End::MaxMessages));
    assert_eq!(m.received(), 2);
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn max_messages_of_zero_is_refused() {
    let options = RequestManyOptions {
        max_messages: Some(0),
        ..RequestManyOptions::default()
    };
    let err =
        RequestMany::new(test_clock::base(), INBOX, "a", None, Bytes::new(), options).unwrap_err();
    assert_eq!(err, RequestManyError::ZeroMaxMessages);
}

#[test]
fn invalid_subject_or_inbox_is_refused() {
    let t0 = test_clock::base();
    let o = RequestManyOptions::default;
    assert!(matches!(
        RequestMany::new(t0, INBOX, "a.*", None, Bytes::new(), o()),
        Err(RequestManyError::InvalidSubject {
            reason: SubjectError::WildcardInPublish,
            ..
        })
    ));
    assert!(matches!(
        RequestMany::new(t0, "_INBOX.>", "a", None, Bytes::new(), o()),
        Err(RequestManyError::InvalidInbox { .. })
    ));
    assert!(matches!(
        RequestMany::new(t0, INBOX, "", None, Bytes::new(), o()),
        Err(RequestManyError::InvalidSubject {
            reason: SubjectError::Empty,
            ..
        })
    ));
}

#[test]
fn the_standard_sentinel_ends_the_call_and_is_not_delivered() {
    let t0 = test_clock::base();
    let options = RequestManyOptions {
        sentinel: Some(Sentinel::EmptyPayload),
        ..RequestManyOptions::default()
    };
    let mut m = start(t0, options);
    m.handle_message(t0 + ms(1), reply(b"a"));
    // ADR-47: an empty payload, headers or not.
    let mut headers = HeaderMap::new();
    headers.insert("X", "y");
    m.handle_message(t0 + ms(2), message(INBOX, Some(headers), b""));
    m.handle_message(t0 + ms(3), reply(b"after"));
    let mut want = vec![Seen::Deliver(b"a".to_vec())];
    want.extend(ending(None));
    assert_eq!(drain(&mut m), want);
    assert_eq!(m.end(), Some(End::Sentinel));
}

#[test]
fn the_strict_sentinel_lets_header_only_replies_through() {
    let t0 = test_clock::base();
    let options = RequestManyOptions {
        sentinel: Some(Sentinel::EmptyMessage),
        ..RequestManyOptions::default()
    };
    let mut m = start(t0, options);
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Service-Error", "boom");
    m.handle_message(t0 + ms(1), message(INBOX, Some(headers), b""));
    m.handle_message(t0 + ms(2), reply(b""));
    let mut want = vec![Seen::Deliver(b"".to_vec())];
    want.extend(ending(None));
    assert_eq!(drain(&mut m), want);
    assert_eq!(m.end(), Some(End::Sentinel));
}

#[test]
fn a_custom_sentinel_is_the_callers_predicate() {
    let t0 = test_clock::base();
    let options = RequestManyOptions {
        sentinel: Some(Sentinel::Custom(Arc::new(|m: &Message| {
            m.payload.as_ref() == b"done"
        }))),
        ..RequestManyOptions::default()
    };
    assert_eq!(format!("{:?}", options.sentinel), "Some(Custom(..))");
    let mut m = start(t0, options);
    m.handle_message(t0, reply(b""));
    m.handle_message(t0, reply(b"done"));
    let mut want = vec![Seen::Deliver(Vec::new())];
    want.extend(ending(None));
    assert_eq!(drain(&mut m), want);
}

#[test]
fn no_responders_ends_the_call_with_an_error_before_the_sentinel_is_checked() {
    let t0 = test_clock::base();
    let options = RequestManyOptions {
        sentinel: Some(Sentinel::EmptyPayload),
        ..RequestManyOptions::default()
    };
    let mut m = start(t0, options);
    m.handle_message(t0 + ms(1), status(503, None));
    assert_eq!(drain(&mut m), ending(Some(RequestManyError::NoResponders)));
    assert_eq!(m.end(), Some(End::Failed));
    assert_eq!(m.received(), 0);
}

#[test]
fn any_other_status_in_place_of_a_reply_is_terminal() {
    let t0 = test_clock::base();
    let mut m = start(t0, RequestManyOptions::default());
    m.handle_message(t0, reply(b"a"));
    m.handle_message(t0, status(408, Some("Request Timeout")));
    let error = RequestManyError::Status {
        code: StatusCode::TIMEOUT,
        description: Some("Request Timeout".into()),
    };
    assert_eq!(
        error.to_string(),
        "status 408 in place of a reply: Request Timeout"
    );
    let mut want = vec![Seen::Deliver(b"a".to_vec())];
    want.extend(ending(Some(error)));
    assert_eq!(drain(&mut m), want);
}

#[test]
fn messages_on_other_subjects_are_ignored() {
    let t0 = test_clock::base();
    let mut m = start(t0, RequestManyOptions::default());
    m.handle_message(t0, message("_INBOX.other", None, b"x"));
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.received(), 0);
}

#[test]
fn losing_the_link_after_the_request_went_out_is_an_error() {
    let t0 = test_clock::base();
    let mut m = start(t0, RequestManyOptions::default());
    m.handle_message(t0, reply(b"a"));
    m.handle_link(t0 + ms(5), Link::Down);
    let mut want = vec![Seen::Deliver(b"a".to_vec())];
    want.extend(ending(Some(RequestManyError::Disconnected)));
    assert_eq!(drain(&mut m), want);
    // The link coming back changes nothing.
    m.handle_link(t0 + ms(6), Link::Up);
    assert!(drain(&mut m).is_empty());
}

#[test]
fn a_request_made_while_down_waits_for_the_next_link() {
    let t0 = test_clock::base();
    let mut m = RequestMany::new(
        t0,
        INBOX,
        "svc",
        None,
        Bytes::new(),
        RequestManyOptions::default(),
    )
    .unwrap();
    // As a driver does when the connection is down at the start.
    m.handle_link(t0, Link::Down);
    assert_eq!(drain(&mut m).len(), 2, "subscribe and (buffered) publish");
    // A flap before the buffered request went out loses nothing.
    m.handle_link(t0 + ms(1), Link::Down);
    assert!(drain(&mut m).is_empty());
    m.handle_link(t0 + ms(2), Link::Up);
    m.handle_message(t0 + ms(3), reply(b"a"));
    assert_eq!(drain(&mut m), vec![Seen::Deliver(b"a".to_vec())]);
    // Now it went out on that link: losing it is an error.
    m.handle_link(t0 + ms(4), Link::Down);
    assert_eq!(drain(&mut m), ending(Some(RequestManyError::Disconnected)));
}

#[test]
fn stop_ends_once_and_before_the_first_poll_sends_nothing() {
    let t0 = test_clock::base();
    let mut m = start(t0, RequestManyOptions::default());
    m.stop();
    m.stop();
    m.handle_timeout(t0 + DEFAULT_TIMEOUT);
    assert_eq!(drain(&mut m), ending(None));
    assert_eq!(m.end(), Some(End::Stopped));

    let mut fresh = RequestMany::new(
        t0,
        INBOX,
        "svc",
        None,
        Bytes::new(),
        RequestManyOptions::default(),
    )
    .unwrap();
    fresh.stop();
    assert_eq!(drain(&mut fresh), vec![Seen::Finished]);
}

#[test]
fn conditions_combine_whichever_comes_first_wins() {
    // max 3, stall 200 ms, total 1 s: the replies decide which one ends it.
    let cases: &[(&[u64], End, usize)] = &[
        (&[10, 20, 30, 40], End::MaxMessages, 3),
        (&[10, 20], End::Stalled, 2),
        (&[900, 950], End::TimedOut, 2),
        (&[], End::TimedOut, 0),
    ];
    for (times, want, count) in cases {
        let t0 = test_clock::base();
        let options = RequestManyOptions {
            timeout: ms(1000),
            stall: Some(ms(200)),
            max_messages: Some(3),
            sentinel: Some(Sentinel::EmptyPayload),
        };
        let mut m = start(t0, options);
        for t in *times {
            m.handle_message(t0 + ms(*t), reply(b"r"));
        }
        while m.end().is_none() {
            let at = m.poll_timeout().expect("a deadline until the end");
            m.handle_timeout(at);
        }
        assert_eq!(m.end(), Some(*want), "{times:?}");
        assert_eq!(m.received(), *count, "{times:?}");
        let seen = drain(&mut m);
        assert_eq!(seen.last(), Some(&Seen::Finished));
    }
}
