//! The pull consumer machine driven by hand over a virtual clock: one behaviour per test.
//! Status rows refer to the table in spec §3.5.

use std::time::{Duration, Instant};

use bytes::Bytes;
use nats_sansio::jetstream::pull::{
    ConsumeOptions, FetchOptions, FinishReason, PriorityOptions, PullConfigError, PullError,
    PullEvent, PullMachine, PullRequest, PullStatus, PullWarning, Received,
};
use nats_sansio::proto::{HeaderMap, Message, StatusCode, Subject};

mod common;
use common::{js_message, status_message};

const INBOX: &str = "_INBOX.pull";
const SECOND: Duration = Duration::from_secs(1);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A user message whose size (subject + reply + payload) is exactly `size` bytes (at least 4).
fn sized(size: usize) -> Message {
    let payload = Bytes::from(vec![b'x'; size - 3]);
    Message {
        subject: Subject::from_static("a.b"),
        reply: None,
        headers: None,
        length: payload.len(),
        payload,
    }
}

/// A user message as JetStream delivers it, with an ack reply subject.
fn user(seq: u64) -> Message {
    js_message("orders.new", "w", seq, seq)
}

/// A status message (`NATS/1.0 <code> <description>` plus headers, empty payload).
fn status(code: u16, description: &str, headers: &[(&str, &str)]) -> Message {
    status_message(INBOX, code, description, None, headers)
}

/// A status carrying `Nats-Pending-Messages` and `Nats-Pending-Bytes`.
fn pending_status(code: u16, description: &str, messages: u64, bytes: u64) -> Message {
    status(
        code,
        description,
        &[
            ("Nats-Pending-Messages", &messages.to_string()),
            ("Nats-Pending-Bytes", &bytes.to_string()),
        ],
    )
}

fn pulls(m: &mut PullMachine) -> Vec<PullRequest> {
    std::iter::from_fn(|| m.poll_pull()).collect()
}

fn batches(m: &mut PullMachine) -> Vec<usize> {
    pulls(m).iter().map(|p| p.batch).collect()
}

fn events(m: &mut PullMachine) -> Vec<PullEvent> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

fn finished(reason: FinishReason) -> Vec<PullEvent> {
    vec![PullEvent::Finished(reason)]
}

fn failed(error: PullError) -> Vec<PullEvent> {
    vec![
        PullEvent::Error(error),
        PullEvent::Finished(FinishReason::Failed),
    ]
}

/// A consume of 10 messages (threshold 5) whose first pull has been taken.
fn consume10(t0: Instant) -> PullMachine {
    let mut m = PullMachine::consume(t0, ConsumeOptions::messages(10)).unwrap();
    assert_eq!(batches(&mut m), [10]);
    m
}

/// A no-wait fetch of 5 messages without `expires`.
fn no_wait_fetch5(t0: Instant) -> PullMachine {
    let options = FetchOptions {
        no_wait: true,
        expires: None,
        ..FetchOptions::messages(5)
    };
    PullMachine::fetch(t0, options).unwrap()
}

/// A fetch of 10 messages that expires after 5 s, whose pull has been taken.
fn fetch10_expiring_in_5s(t0: Instant) -> PullMachine {
    let options = FetchOptions {
        expires: Some(secs(5)),
        ..FetchOptions::messages(10)
    };
    let mut m = PullMachine::fetch(t0, options).unwrap();
    pulls(&mut m);
    m
}

/// At `at` a consume of 10 misses its heartbeats: it says so and pulls 10 afresh.
fn missed_heartbeat_repulls(m: &mut PullMachine, at: Instant) {
    m.handle_timeout(at);
    assert_eq!(
        events(m),
        [PullEvent::MissedHeartbeat],
        "the alarm at {at:?}"
    );
    assert_eq!(batches(m), [10], "a full pull after the alarm");
}

// ===================== fetch =====================

#[test]
fn fetch_of_n_is_filled_by_n_messages() {
    let t0 = Instant::now();
    let mut m = PullMachine::fetch(t0, FetchOptions::messages(3)).unwrap();
    let requests = pulls(&mut m);
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].to_json(),
        br#"{"batch":3,"expires":30000000000}"#
    );
    assert!(pulls(&mut m).is_empty(), "one pull only");
    for seq in 1..=2 {
        assert_eq!(m.handle_message(t0, &user(seq)), Received::Message);
        assert!(events(&mut m).is_empty());
    }
    assert_eq!(m.pending_messages(), 1);
    assert_eq!(m.handle_message(t0, &user(3)), Received::Message);
    assert_eq!(events(&mut m), finished(FinishReason::BatchFilled));
    assert!(m.is_finished());
    assert_eq!(m.poll_timeout(), None);
    assert_eq!(m.delivered_messages(), 3);
    // Anything later (a late 409 Batch Completed, a stray message) is not for this fetch.
    assert_eq!(m.handle_message(t0, &user(4)), Received::Ignored);
    assert_eq!(
        m.handle_message(t0, &pending_status(409, "Batch Completed", 0, 10)),
        Received::Ignored
    );
    assert!(events(&mut m).is_empty());
    assert!(pulls(&mut m).is_empty());
}

#[test]
fn fetch_no_wait_ends_with_404() {
    let t0 = Instant::now();
    let mut m = no_wait_fetch5(t0);
    assert_eq!(pulls(&mut m)[0].to_json(), br#"{"batch":5,"no_wait":true}"#);
    m.handle_message(t0, &user(1));
    assert_eq!(
        m.handle_message(t0, &status(404, "No Messages", &[])),
        Received::Status(PullStatus::NoMessages)
    );
    assert_eq!(events(&mut m), finished(FinishReason::NoMessages));
    assert_eq!(m.delivered_messages(), 1, "the status is not a message");
}

#[test]
fn fetch_no_wait_without_expires_still_has_a_client_deadline() {
    let t0 = Instant::now();
    let m = no_wait_fetch5(t0);
    assert_eq!(m.poll_timeout(), Some(t0 + secs(5)));
}

#[test]
fn fetch_ends_with_408() {
    let t0 = Instant::now();
    let mut m = fetch10_expiring_in_5s(t0);
    m.handle_message(t0 + SECOND, &user(1));
    assert_eq!(
        m.handle_message(t0 + secs(5), &pending_status(408, "Request Timeout", 9, 0)),
        Received::Status(PullStatus::RequestTimeout)
    );
    assert_eq!(events(&mut m), finished(FinishReason::Expired));
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn fetch_expires_by_its_own_deadline_after_the_servers() {
    let t0 = Instant::now();
    let mut m = fetch10_expiring_in_5s(t0);
    let deadline = m.poll_timeout().unwrap();
    assert!(
        deadline > t0 + secs(5),
        "the client waits longer than expires"
    );
    assert_eq!(deadline, t0 + secs(6));
    m.handle_timeout(t0 + secs(5));
    assert!(events(&mut m).is_empty());
    m.handle_timeout(deadline);
    assert_eq!(events(&mut m), finished(FinishReason::Expired));
    // The server's 408 arriving afterwards changes nothing.
    assert_eq!(
        m.handle_message(deadline, &status(408, "Request Timeout", &[])),
        Received::Ignored
    );
    assert!(events(&mut m).is_empty());
}

#[test]
fn fetch_by_bytes_ends_when_the_budget_is_used() {
    let t0 = Instant::now();
    let mut m = PullMachine::fetch(t0, FetchOptions::bytes(250)).unwrap();
    let request = &pulls(&mut m)[0];
    assert_eq!((request.batch, request.max_bytes), (1_000_000, 250));
    m.handle_message(t0, &sized(100));
    m.handle_message(t0, &sized(100));
    assert!(events(&mut m).is_empty());
    // 50 bytes left: the next message does not fit, the server says so.
    m.handle_message(
        t0,
        &pending_status(409, "Message Size Exceeds MaxBytes", 999_998, 50),
    );
    assert_eq!(events(&mut m), finished(FinishReason::MaxBytesReached));
    assert_eq!(m.delivered_bytes(), 200);

    // A budget used exactly: the server sends nothing more, so the fetch ends by itself.
    let mut m = PullMachine::fetch(t0, FetchOptions::bytes(200)).unwrap();
    pulls(&mut m);
    m.handle_message(t0, &sized(100));
    m.handle_message(t0, &sized(100));
    assert_eq!(events(&mut m), finished(FinishReason::MaxBytesReached));
}

#[test]
fn fetch_counts_size_as_subject_reply_headers_payload() {
    let t0 = Instant::now();
    let mut m = PullMachine::fetch(t0, FetchOptions::bytes(10_000)).unwrap();
    pulls(&mut m);
    let mut message = user(7);
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", "abc");
    message.length = headers.encoded_len() + message.payload.len();
    message.headers = Some(headers);
    let want = message.subject.as_str().len()
        + message.reply.as_ref().unwrap().as_str().len()
        + message.length;
    m.handle_message(t0, &message);
    assert_eq!(m.delivered_bytes(), want as u64);
    assert_eq!(m.pending_bytes(), 10_000 - want);
}

#[test]
fn fetch_status_table() {
    use FinishReason::*;
    let t0 = Instant::now();
    let interrupted = |s: PullStatus| finished(Interrupted(s));
    let rows: Vec<(Message, Vec<PullEvent>)> = vec![
        // 100: not terminal.
        (status(100, "Idle Heartbeat", &[]), vec![]),
        (status(404, "No Messages", &[]), finished(NoMessages)),
        (
            pending_status(408, "Request Timeout", 5, 0),
            finished(Expired),
        ),
        (
            pending_status(408, "Interest Expired", 5, 0),
            finished(Expired),
        ),
        (status(408, "Requests Pending", &[]), finished(NoMessages)),
        (
            pending_status(409, "Message Size Exceeds MaxBytes", 5, 10),
            finished(MaxBytesReached),
        ),
        (
            pending_status(409, "Batch Completed", 0, 10),
            finished(BatchFilled),
        ),
        (
            status(409, "Exceeded MaxRequestBatch of 3", &[]),
            vec![
                PullEvent::Warning(PullWarning::LimitExceeded(
                    "Exceeded MaxRequestBatch of 3".into(),
                )),
                PullEvent::Finished(Interrupted(PullStatus::LimitExceeded(
                    "Exceeded MaxRequestBatch of 3".into(),
                ))),
            ],
        ),
        (
            status(409, "Exceeded MaxWaiting", &[]),
            vec![
                PullEvent::Warning(PullWarning::LimitExceeded("Exceeded MaxWaiting".into())),
                PullEvent::Finished(Interrupted(PullStatus::LimitExceeded(
                    "Exceeded MaxWaiting".into(),
                ))),
            ],
        ),
        (
            status(409, "Leadership Change", &[]),
            interrupted(PullStatus::LeadershipChange),
        ),
        (
            pending_status(409, "Server Shutdown", 5, 0),
            interrupted(PullStatus::ServerShutdown),
        ),
        (
            status(423, "Nats-Pin-Id mismatch", &[]),
            interrupted(PullStatus::PinIdMismatch),
        ),
        (
            pending_status(423, "Nats-Wrong-Pin-Id", 5, 0),
            interrupted(PullStatus::PinIdMismatch),
        ),
        (
            status(400, "Bad Request - heartbeat value too large", &[]),
            failed(PullError::BadRequest(
                "Bad Request - heartbeat value too large".into(),
            )),
        ),
        (
            status(409, "Consumer Deleted", &[]),
            failed(PullError::ConsumerDeleted),
        ),
        (
            status(409, "Consumer is push based", &[]),
            failed(PullError::ConsumerIsPushBased),
        ),
        (status(503, "", &[]), failed(PullError::NoResponders)),
        (
            status(418, "Teapot", &[]),
            failed(PullError::UnknownStatus {
                code: StatusCode::from_u16(418).unwrap(),
                description: Some("Teapot".into()),
            }),
        ),
    ];
    for (message, want) in rows {
        let mut m = PullMachine::fetch(t0, FetchOptions::messages(5)).unwrap();
        pulls(&mut m);
        let received = m.handle_message(t0, &message);
        assert!(
            matches!(received, Received::Status(_) | Received::Heartbeat),
            "{message:?}"
        );
        assert_eq!(events(&mut m), want, "{:?}", message.description());
        assert_eq!(m.is_finished(), !want.is_empty());
        assert_eq!(m.delivered_messages(), 0, "a status is never a message");
    }
}

#[test]
fn fetch_missed_heartbeat_ends_it() {
    let t0 = Instant::now();
    let options = FetchOptions {
        expires: Some(secs(30)),
        idle_heartbeat: Some(secs(5)),
        ..FetchOptions::messages(5)
    };
    let mut m = PullMachine::fetch(t0, options).unwrap();
    assert_eq!(
        pulls(&mut m)[0].to_json(),
        br#"{"batch":5,"expires":30000000000,"idle_heartbeat":5000000000}"#
    );
    assert_eq!(m.poll_timeout(), Some(t0 + secs(10)));
    m.handle_message(t0 + secs(4), &status(100, "Idle Heartbeat", &[]));
    assert_eq!(m.poll_timeout(), Some(t0 + secs(14)));
    m.handle_timeout(t0 + secs(14));
    assert_eq!(
        events(&mut m),
        [
            PullEvent::MissedHeartbeat,
            PullEvent::Finished(FinishReason::MissedHeartbeat)
        ]
    );
}

#[test]
fn fetch_options_the_server_would_refuse_are_refused() {
    let t0 = Instant::now();
    let too_large = FetchOptions {
        expires: Some(secs(10)),
        idle_heartbeat: Some(secs(6)),
        ..FetchOptions::messages(1)
    };
    assert!(matches!(
        PullMachine::fetch(t0, too_large),
        Err(PullConfigError::HeartbeatTooLarge { .. })
    ));
    assert_eq!(
        PullMachine::fetch(t0, FetchOptions::messages(0)).unwrap_err(),
        PullConfigError::NoLimit
    );
}

// ===================== consume: budgets =====================

#[test]
fn consume_keeps_pulls_in_flight_by_message_threshold() {
    let t0 = Instant::now();
    let mut m = PullMachine::consume(t0, ConsumeOptions::messages(10)).unwrap();
    let first = pulls(&mut m);
    assert_eq!(
        first[0].to_json(),
        br#"{"batch":10,"expires":30000000000,"idle_heartbeat":15000000000}"#
    );
    // After every message, what was pulled.
    let mut requested = vec![];
    for seq in 1..=23 {
        assert_eq!(m.handle_message(t0, &user(seq)), Received::Message);
        requested.push(batches(&mut m));
    }
    let mut want = vec![vec![]; 23];
    for after in [5, 10, 15, 20] {
        want[after - 1] = vec![5];
    }
    assert_eq!(requested, want);
    assert_eq!(m.pending_messages(), 7);
    assert!(events(&mut m).is_empty());
    assert!(!m.is_finished());
}

#[test]
fn consume_with_explicit_threshold() {
    let t0 = Instant::now();
    let options = ConsumeOptions {
        threshold_messages: Some(2),
        ..ConsumeOptions::messages(10)
    };
    let mut m = PullMachine::consume(t0, options).unwrap();
    assert_eq!(batches(&mut m), [10]);
    let mut requested = vec![];
    for seq in 1..=8 {
        m.handle_message(t0, &user(seq));
        requested.extend(batches(&mut m));
    }
    assert_eq!(requested, [8]);
}

#[test]
fn consume_keeps_pulls_in_flight_by_byte_threshold() {
    let t0 = Instant::now();
    let mut m = PullMachine::consume(t0, ConsumeOptions::bytes(1000)).unwrap();
    let first = pulls(&mut m);
    assert_eq!((first[0].batch, first[0].max_bytes), (1_000_000, 1000));
    let mut requested = vec![];
    for _ in 0..12 {
        m.handle_message(t0, &sized(100));
        requested.push(
            pulls(&mut m)
                .iter()
                .map(|p| p.max_bytes)
                .collect::<Vec<_>>(),
        );
    }
    // Threshold 500: at 500 bytes pending, pull the other 500.
    let mut want = vec![vec![]; 12];
    want[4] = vec![500];
    want[9] = vec![500];
    assert_eq!(requested, want);
    assert_eq!(m.pending_bytes(), 800);

    // A 408 gives back what its pull left: 300 of the 800 are released, 500 pending.
    m.handle_message(t0, &pending_status(408, "Request Timeout", 999_997, 300));
    assert_eq!(
        pulls(&mut m)
            .iter()
            .map(|p| p.max_bytes)
            .collect::<Vec<_>>(),
        [500]
    );
    assert_eq!(m.pending_bytes(), 1000);
}

#[test]
fn consume_of_one_message_never_stalls() {
    let t0 = Instant::now();
    let mut m = PullMachine::consume(t0, ConsumeOptions::messages(1)).unwrap();
    assert_eq!(batches(&mut m), [1]);
    for seq in 1..=100 {
        assert!(pulls(&mut m).is_empty(), "one in flight at most");
        m.handle_message(t0, &user(seq));
        assert_eq!(batches(&mut m), [1], "after message {seq}");
    }
    // The pull expires unfilled: pull again.
    m.handle_message(t0, &pending_status(408, "Request Timeout", 1, 0));
    assert_eq!(batches(&mut m), [1]);
    // Heartbeats alone do not pull.
    m.handle_message(t0, &status(100, "Idle Heartbeat", &[]));
    assert!(pulls(&mut m).is_empty());
}

#[test]
fn consume_options_are_validated() {
    let t0 = Instant::now();
    let both = ConsumeOptions {
        max_messages: Some(10),
        max_bytes: Some(1000),
        ..ConsumeOptions::new()
    };
    assert_eq!(
        PullMachine::consume(t0, both).unwrap_err(),
        PullConfigError::BothLimits
    );
    let mut m = PullMachine::consume(t0, ConsumeOptions::new()).unwrap();
    assert_eq!(batches(&mut m), [500]);
    assert_eq!(m.idle_heartbeat(), Some(secs(15)));
}

// ===================== consume: the status table, one test per row =====================

#[test]
fn consume_100_heartbeat_only_resets_the_alarm() {
    let t0 = Instant::now();
    let mut m = consume10(t0);
    assert_eq!(
        m.handle_message(t0 + secs(10), &status(100, "Idle Heartbeat", &[])),
        Received::Heartbeat
    );
    assert_eq!(
        m.handle_message(t0 + secs(11), &status(100, "FlowControl Request", &[])),
        Received::Heartbeat
    );
    assert!(pulls(&mut m).is_empty());
    assert!(events(&mut m).is_empty());
    assert_eq!(m.pending_messages(), 10);
    assert_eq!(m.poll_timeout(), Some(t0 + secs(41)));
}

#[test]
fn consume_404_reissues() {
    let t0 = Instant::now();
    let mut m = consume10(t0);
    m.handle_message(t0, &user(1));
    m.handle_message(t0, &status(404, "No Messages", &[]));
    assert_eq!(batches(&mut m), [10]);
    assert!(events(&mut m).is_empty());
}

#[test]
fn consume_408_request_timeout_subtracts_and_reissues() {
    let t0 = Instant::now();
    let mut m = consume10(t0);
    for seq in 1..=3 {
        m.handle_message(t0, &user(seq));
    }
    assert_eq!(m.pending_messages(), 7);
    assert_eq!(
        m.handle_message(t0, &pending_status(408, "Request Timeout", 7, 0)),
        Received::Status(PullStatus::RequestTimeout)
    );
    assert_eq!(batches(&mut m), [10]);
    assert!(events(&mut m).is_empty(), "not surfaced as an error");
    assert_eq!(m.delivered_messages(), 3);
}

#[test]
fn consume_408_interest_expired_subtracts_and_reissues() {
    let t0 = Instant::now();
    let mut m = consume10(t0);
    m.handle_message(t0, &pending_status(408, "Interest Expired", 6, 0));
    assert_eq!(batches(&mut m), [6]);
    assert!(events(&mut m).is_empty());
}

#[test]
fn consume_408_without_pending_headers_reissues_in_full() {
    let t0 = Instant::now();
    let mut m = consume10(t0);
    m.handle_message(t0, &status(408, "Request Timeout", &[]));
    assert_eq!(batches(&mut m), [10]);
}

#[test]
fn consume_409_message_size_exceeds_max_bytes_subtracts_and_reissues() {
    let t0 = Instant::now();
    let mut m = PullMachine::consume(t0, ConsumeOptions::bytes(1000)).unwrap();
    pulls(&mut m);
    m.handle_message(t0, &sized(400));
    assert!(pulls(&mut m).is_empty());
    m.handle_message(
        t0,
        &pending_status(409, "Message Size Exceeds MaxBytes", 999_999, 600),
    );
    assert_eq!(
        pulls(&mut m)
            .iter()
            .map(|p| p.max_bytes)
            .collect::<Vec<_>>(),
        [1000]
    );
    assert!(events(&mut m).is_empty());
}

#[test]
fn consume_409_message_larger_than_the_whole_budget_is_an_error() {
    let t0 = Instant::now();
    let mut m = PullMachine::consume(t0, ConsumeOptions::bytes(1000)).unwrap();
    pulls(&mut m);
    m.handle_message(
        t0,
        &pending_status(409, "Message Size Exceeds MaxBytes", 1_000_000, 1000),
    );
    assert_eq!(
        events(&mut m),
        failed(PullError::MessageTooLarge { max_bytes: 1000 })
    );
    assert!(pulls(&mut m).is_empty());
}

#[test]
fn consume_409_batch_completed_subtracts_and_reissues() {
    let t0 = Instant::now();
    let mut m = consume10(t0);
    for seq in 1..=4 {
        m.handle_message(t0, &user(seq));
    }
    m.handle_message(t0, &pending_status(409, "Batch Completed", 0, 0));
    assert!(pulls(&mut m).is_empty(), "6 still pending, above 5");
    m.handle_message(t0, &pending_status(409, "Batch Completed", 6, 0));
    assert_eq!(batches(&mut m), [10]);
    assert!(events(&mut m).is_empty());
}

#[test]
fn consume_409_exceeded_limits_warn_and_continue() {
    let t0 = Instant::now();
    for description in [
        "Exceeded MaxRequestBatch of 5",
        "Exceeded MaxRequestExpires of 10s",
        "Exceeded MaxRequestMaxBytes of 100",
        "Exceeded MaxWaiting",
    ] {
        let mut m = consume10(t0);
        assert_eq!(
            m.handle_message(t0, &status(409, description, &[])),
            Received::Status(PullStatus::LimitExceeded(description.into()))
        );
        assert_eq!(
            events(&mut m),
            [PullEvent::Warning(PullWarning::LimitExceeded(
                description.into()
            ))]
        );
        assert!(!m.is_finished());
        assert!(pulls(&mut m).is_empty(), "no hot loop");
        assert_eq!(m.pending_messages(), 10);
        // The missed-heartbeat path recovers.
        missed_heartbeat_repulls(&mut m, t0 + secs(30));
    }
}

#[test]
fn consume_409_leadership_change_zeroes_pending_and_reissues() {
    let t0 = Instant::now();
    let mut m = consume10(t0);
    m.handle_message(t0, &user(1));
    m.handle_message(t0, &status(409, "Leadership Change", &[]));
    assert_eq!(m.pending_messages(), 0);
    assert_eq!(batches(&mut m), [10]);
    assert!(events(&mut m).is_empty());
}

#[test]
fn consume_409_server_shutdown_subtracts_and_reissues() {
    let t0 = Instant::now();
    let mut m = consume10(t0);
    m.handle_message(t0, &pending_status(409, "Server Shutdown", 10, 0));
    assert_eq!(batches(&mut m), [10]);
    assert!(!m.is_finished());
}

#[test]
fn consume_423_clears_the_pin_zeroes_pending_and_reissues() {
    let t0 = Instant::now();
    let options = ConsumeOptions {
        priority: Some(PriorityOptions::new("jobs")),
        ..ConsumeOptions::messages(10)
    };
    let mut m = PullMachine::consume(t0, options).unwrap();
    pulls(&mut m);
    let mut pinned = user(1);
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Pin-Id", "PIN-A");
    pinned.headers = Some(headers);
    m.handle_message(t0, &pinned);
    assert_eq!(m.pin_id(), Some("PIN-A"));
    for description in ["Nats-Pin-Id mismatch", "Nats-Wrong-Pin-Id"] {
        m.handle_message(t0, &status(423, description, &[]));
        assert_eq!(m.pin_id(), None);
        let again = pulls(&mut m);
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].batch, again[0].id.as_deref()), (10, None));
        assert_eq!(again[0].group.as_deref(), Some("jobs"));
    }
    assert!(events(&mut m).is_empty(), "not surfaced as an error");
}

#[test]
fn consume_400_is_terminal() {
    let t0 = Instant::now();
    let mut m = consume10(t0);
    m.handle_message(
        t0,
        &status(400, "Bad Request - Priority Group missing", &[]),
    );
    assert_eq!(
        events(&mut m),
        failed(PullError::BadRequest(
            "Bad Request - Priority Group missing".into()
        ))
    );
    assert!(m.is_finished());
    assert!(pulls(&mut m).is_empty());
    assert_eq!(m.poll_timeout(), None);
    assert_eq!(m.handle_message(t0, &user(1)), Received::Ignored);
}

#[test]
fn consume_409_consumer_deleted_and_push_based_are_terminal() {
    let t0 = Instant::now();
    for (description, error) in [
        ("Consumer Deleted", PullError::ConsumerDeleted),
        ("Consumer is push based", PullError::ConsumerIsPushBased),
    ] {
        let mut m = consume10(t0);
        m.handle_message(t0, &status(409, description, &[]));
        assert_eq!(events(&mut m), failed(error));
        assert!(pulls(&mut m).is_empty());
    }
}

#[test]
fn consume_503_warns_and_continues() {
    let t0 = Instant::now();
    let mut m = consume10(t0);
    m.handle_message(t0, &status(503, "", &[]));
    assert_eq!(
        events(&mut m),
        [PullEvent::Warning(PullWarning::NoResponders)]
    );
    assert!(!m.is_finished());
    assert!(
        pulls(&mut m).is_empty(),
        "no hot loop against a missing server"
    );
    missed_heartbeat_repulls(&mut m, t0 + secs(30));
}

#[test]
fn consume_unknown_status_is_terminal() {
    let t0 = Instant::now();
    let mut m = consume10(t0);
    m.handle_message(t0, &status(409, "Something New", &[]));
    assert_eq!(
        events(&mut m),
        failed(PullError::UnknownStatus {
            code: StatusCode::CONFLICT,
            description: Some("Something New".into()),
        })
    );
}

// ===================== heartbeats and the connection =====================

#[test]
fn consume_heartbeat_alarm_after_twice_the_interval() {
    let t0 = Instant::now();
    let mut m = consume10(t0);
    assert_eq!(m.poll_timeout(), Some(t0 + secs(30)));
    m.handle_timeout(t0 + secs(29));
    assert!(events(&mut m).is_empty());
    m.handle_timeout(t0 + secs(30));
    assert_eq!(events(&mut m), [PullEvent::MissedHeartbeat]);
    assert!(!m.is_finished(), "a warning, not terminal");
    assert_eq!(batches(&mut m), [10], "pending reset, full pull");
    assert_eq!(m.poll_timeout(), Some(t0 + secs(60)));
    missed_heartbeat_repulls(&mut m, t0 + secs(60));
}

#[test]
fn consume_heartbeat_alarm_is_reset_by_any_message() {
    let t0 = Instant::now();
    let mut m = consume10(t0);
    m.handle_message(t0 + secs(20), &status(100, "Idle Heartbeat", &[]));
    assert_eq!(m.poll_timeout(), Some(t0 + secs(50)));
    m.handle_message(t0 + secs(45), &user(1));
    assert_eq!(m.poll_timeout(), Some(t0 + secs(75)));
    m.handle_message(t0 + secs(70), &pending_status(408, "Request Timeout", 9, 0));
    assert_eq!(m.poll_timeout(), Some(t0 + secs(100)));
    m.handle_timeout(t0 + secs(99));
    assert!(events(&mut m).is_empty());
    // Time never goes backwards: an older `now` counts as the newest seen.
    m.handle_message(t0, &status(100, "Idle Heartbeat", &[]));
    assert_eq!(m.poll_timeout(), Some(t0 + secs(129)));
}

#[test]
fn consume_disconnect_pauses_and_reconnect_reissues() {
    let t0 = Instant::now();
    let mut m = consume10(t0);
    for seq in 1..=3 {
        m.handle_message(t0, &user(seq));
    }
    m.handle_disconnected(t0 + secs(10));
    assert_eq!(m.poll_timeout(), None, "heartbeat alarm paused");
    // Messages already in flight still count, but no pull goes out while disconnected.
    for seq in 4..=8 {
        m.handle_message(t0 + secs(10), &user(seq));
    }
    m.handle_message(t0 + secs(10), &status(409, "Leadership Change", &[]));
    assert!(pulls(&mut m).is_empty());
    m.handle_timeout(t0 + secs(500));
    assert!(events(&mut m).is_empty(), "no alarm while disconnected");
    assert!(!m.is_finished());

    m.handle_reconnected(t0 + secs(600));
    assert_eq!(batches(&mut m), [10], "a fresh full pull");
    assert_eq!(m.poll_timeout(), Some(t0 + secs(630)));
    assert!(events(&mut m).is_empty());
    assert!(!m.is_finished());
    // And it carries on as before.
    for seq in 9..=13 {
        m.handle_message(t0 + secs(601), &user(seq));
    }
    assert_eq!(batches(&mut m), [5]);
}

#[test]
fn fetch_survives_a_reconnect_and_keeps_its_deadline() {
    let t0 = Instant::now();
    let options = FetchOptions {
        expires: Some(secs(10)),
        idle_heartbeat: Some(secs(2)),
        ..FetchOptions::messages(3)
    };
    let mut m = PullMachine::fetch(t0, options).unwrap();
    pulls(&mut m);
    m.handle_disconnected(t0 + SECOND);
    assert_eq!(m.poll_timeout(), Some(t0 + secs(11)), "only the deadline");
    m.handle_reconnected(t0 + secs(2));
    assert!(pulls(&mut m).is_empty(), "a fetch pulls once");
    assert_eq!(m.poll_timeout(), Some(t0 + secs(6)));
    m.handle_message(t0 + secs(3), &user(1));
    m.handle_message(t0 + secs(6), &status(100, "Idle Heartbeat", &[]));
    m.handle_message(t0 + secs(9), &status(100, "Idle Heartbeat", &[]));
    m.handle_timeout(t0 + secs(11));
    assert_eq!(events(&mut m), finished(FinishReason::Expired));
}

#[test]
fn fetch_created_while_disconnected_pulls_on_reconnect() {
    let t0 = Instant::now();
    let mut m = PullMachine::fetch(t0, FetchOptions::messages(2)).unwrap();
    m.handle_disconnected(t0);
    assert!(pulls(&mut m).is_empty());
    m.handle_reconnected(t0 + SECOND);
    assert_eq!(batches(&mut m), [2]);
}

#[test]
fn stop_ends_a_consume() {
    let t0 = Instant::now();
    let mut m = consume10(t0);
    m.stop();
    assert_eq!(events(&mut m), finished(FinishReason::Stopped));
    assert!(pulls(&mut m).is_empty());
    assert_eq!(m.poll_timeout(), None);
    m.stop();
    assert!(events(&mut m).is_empty(), "Finished only once");
}

// ===================== priority groups =====================

#[test]
fn pin_id_is_stored_sent_and_cleared_on_423() {
    let t0 = Instant::now();
    let options = ConsumeOptions {
        priority: Some(PriorityOptions {
            min_pending: Some(100),
            ..PriorityOptions::new("jobs")
        }),
        ..ConsumeOptions::messages(2)
    };
    let mut m = PullMachine::consume(t0, options).unwrap();
    let first = pulls(&mut m);
    assert_eq!(
        first[0].to_json(),
        br#"{"batch":2,"expires":30000000000,"idle_heartbeat":15000000000,"group":"jobs","min_pending":100}"#
    );

    // Any message carrying Nats-Pin-Id stores (or refreshes) it.
    let mut pinned = user(1);
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Pin-Id", "PIN-1");
    pinned.headers = Some(headers);
    m.handle_message(t0, &pinned);
    let second = pulls(&mut m);
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].id.as_deref(), Some("PIN-1"));
    assert_eq!(second[0].group.as_deref(), Some("jobs"));
    assert_eq!(second[0].min_pending, Some(100));

    let mut heartbeat = status(100, "Idle Heartbeat", &[("Nats-Pin-Id", "PIN-2")]);
    heartbeat.length = heartbeat.headers.as_ref().unwrap().encoded_len();
    m.handle_message(t0, &heartbeat);
    assert_eq!(m.pin_id(), Some("PIN-2"));

    m.handle_message(t0, &status(423, "Nats-Pin-Id mismatch", &[]));
    assert_eq!(m.pin_id(), None);
    let third = pulls(&mut m);
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].id, None);
    assert_eq!(third[0].group.as_deref(), Some("jobs"));
}

#[test]
fn fetch_sends_a_pin_id_given_in_its_options() {
    let t0 = Instant::now();
    let options = FetchOptions {
        priority: Some(PriorityOptions {
            pin_id: Some("PIN-9".into()),
            priority: Some(2),
            ..PriorityOptions::new("g1")
        }),
        ..FetchOptions::messages(1)
    };
    let mut m = PullMachine::fetch(t0, options).unwrap();
    assert_eq!(
        pulls(&mut m)[0].to_json(),
        br#"{"batch":1,"expires":30000000000,"group":"g1","id":"PIN-9","priority":2}"#
    );
    m.handle_message(t0, &status(423, "Nats-Wrong-Pin-Id", &[]));
    assert_eq!(m.pin_id(), None);
    assert_eq!(
        events(&mut m),
        finished(FinishReason::Interrupted(PullStatus::PinIdMismatch))
    );
}

// ===================== ack metadata =====================

#[test]
fn no_wait_fetch_sends_no_expiry() {
    let now = std::time::Instant::now();
    let mut machine = nats_sansio::jetstream::pull::PullMachine::fetch(
        now,
        nats_sansio::jetstream::pull::FetchOptions::no_wait(10),
    )
    .unwrap();
    let pull = machine.poll_pull().unwrap();
    assert!(pull.no_wait);
    assert_eq!(pull.expires, None);
    assert_eq!(pull.batch, 10);
}
