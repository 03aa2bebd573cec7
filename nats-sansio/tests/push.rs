//! The push consumer machine: what is data, what is answered, when the alarm fires.

use std::time::{Duration, Instant};

use nats_sansio::jetstream::push::{PushEvent, PushMachine, Pushed};
use nats_sansio::proto::{Message, StatusCode};

mod common;
use common::{js_message, status_message};

/// A user message as JetStream pushes it, with an ack reply subject.
fn data(cseq: u64) -> Message {
    js_message("orders.new", "C", cseq, cseq)
}

/// A `100` status on the deliver subject.
fn status(description: &str, reply: Option<&str>, headers: &[(&str, &str)]) -> Message {
    status_message("deliver.here", 100, description, reply, headers)
}

/// A heartbeat naming the flow-control request `subject` as stalled.
fn stalled_heartbeat(subject: &str) -> Message {
    status(
        "Idle Heartbeat",
        None,
        &[("Nats-Consumer-Stalled", subject)],
    )
}

fn events(m: &mut PushMachine) -> Vec<PushEvent> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

#[test]
fn data_flow_control_and_heartbeats_are_told_apart() {
    let now = Instant::now();
    let mut m = PushMachine::new(now, Some(Duration::from_secs(1)), false);
    assert_eq!(m.handle_message(now, &data(1)), Pushed::Message);
    assert_eq!(
        m.handle_message(
            now,
            &status("FlowControl Request", Some("$JS.FC.S.x.1"), &[])
        ),
        Pushed::FlowControl {
            reply: "$JS.FC.S.x.1".into()
        }
    );
    let stalled = stalled_heartbeat("$JS.FC.S.y");
    assert_eq!(
        m.handle_message(now, &stalled),
        Pushed::Heartbeat {
            unstall: Some("$JS.FC.S.y".into())
        }
    );
    assert_eq!(
        m.handle_message(now, &stalled),
        Pushed::Heartbeat { unstall: None },
        "each stalled subject is answered once"
    );
    assert!(events(&mut m).is_empty());
}

#[test]
fn gaps_are_reported_from_data_and_heartbeats_but_not_for_queues() {
    let now = Instant::now();
    let mut m = PushMachine::new(now, None, false);
    m.handle_message(now, &data(1));
    m.handle_message(now, &data(2));
    m.handle_message(now, &data(5));
    assert_eq!(
        events(&mut m),
        vec![PushEvent::Gap {
            expected: 3,
            got: 5
        }]
    );
    m.handle_message(
        now,
        &status("Idle Heartbeat", None, &[("Nats-Last-Consumer", "7")]),
    );
    assert_eq!(
        events(&mut m),
        vec![PushEvent::Gap {
            expected: 6,
            got: 7
        }]
    );
    m.handle_message(now, &data(8));
    assert!(events(&mut m).is_empty());

    let mut queue = PushMachine::new(now, None, true);
    queue.handle_message(now, &data(1));
    queue.handle_message(now, &data(9));
    assert!(events(&mut queue).is_empty());
}

#[test]
fn the_alarm_fires_once_per_silence_of_twice_the_heartbeat() {
    let t0 = Instant::now();
    let hb = Duration::from_secs(1);
    let mut m = PushMachine::new(t0, Some(hb), false);
    assert_eq!(m.poll_timeout(), Some(t0 + 2 * hb));
    m.handle_timeout(t0 + hb);
    assert!(events(&mut m).is_empty());
    m.handle_message(t0 + hb, &status("Idle Heartbeat", None, &[]));
    assert_eq!(
        m.poll_timeout(),
        Some(t0 + 3 * hb),
        "any message resets the alarm"
    );
    m.handle_timeout(t0 + 3 * hb);
    assert_eq!(events(&mut m), vec![PushEvent::MissedHeartbeat]);
    assert_eq!(m.poll_timeout(), None, "once per silence");
    m.handle_message(t0 + 4 * hb, &data(1));
    assert_eq!(m.poll_timeout(), Some(t0 + 6 * hb));
}

#[test]
fn unknown_statuses_are_never_data() {
    let now = Instant::now();
    let mut m = PushMachine::new(now, None, false);
    let msg = status_message("deliver.here", 409, "Consumer Deleted", None, &[]);
    assert_eq!(
        m.handle_message(now, &msg),
        Pushed::UnknownStatus(StatusCode::CONFLICT)
    );
}

#[test]
fn answered_subjects_are_bounded_and_a_recent_one_is_not_answered_twice() {
    let now = Instant::now();
    let mut m = PushMachine::new(now, Some(Duration::from_secs(1)), false);
    for i in 0..10_000 {
        let reply = format!("$JS.FC.S.x.{i}");
        assert_eq!(
            m.handle_message(now, &status("FlowControl Request", Some(&reply), &[])),
            Pushed::FlowControl { reply }
        );
    }
    assert!(
        m.remembered_subjects() <= nats_sansio::jetstream::push::REMEMBERED_SUBJECTS,
        "a long-running consumer keeps {} subjects",
        m.remembered_subjects()
    );
    // The heartbeat naming the latest request as stalled: it was answered already.
    let stalled = stalled_heartbeat("$JS.FC.S.x.9999");
    assert_eq!(
        m.handle_message(now, &stalled),
        Pushed::Heartbeat { unstall: None }
    );
}

/// A server (or another client on the deliver subject) can name the largest consumer
/// sequence; the machine must not overflow on the next message.
#[test]
fn the_largest_consumer_sequence_does_not_overflow() {
    let now = Instant::now();
    let mut m = PushMachine::new(now, Some(Duration::from_secs(1)), false);
    assert_eq!(m.handle_message(now, &data(1)), Pushed::Message);
    let last = u64::MAX.to_string();
    m.handle_message(
        now,
        &status("Idle Heartbeat", None, &[("Nats-Last-Consumer", &last)]),
    );
    assert_eq!(m.last_consumer_sequence(), u64::MAX);
    assert_eq!(m.handle_message(now, &data(5)), Pushed::Message);
    assert!(matches!(
        events(&mut m).as_slice(),
        [PushEvent::Gap {
            expected: 2,
            got: u64::MAX
        }]
    ));
}

#[test]
fn data_read_by_the_caller_counts_as_the_message_would() {
    // `handle_data` (the ordered consumer has read the ack subject already) keeps the same
    // gap and heartbeat state as `handle_message` with the whole message.
    let start = Instant::now();
    let beat = Duration::from_secs(1);
    let mut by_message = PushMachine::new(start, Some(beat), false);
    let mut by_sequence = PushMachine::new(start, Some(beat), false);
    for (at, cseq) in [(1, 1), (2, 2), (3, 5), (4, 6)] {
        let now = start + Duration::from_millis(at * 300);
        by_message.handle_message(now, &data(cseq));
        by_sequence.handle_data(now, cseq);
        assert_eq!(events(&mut by_message), events(&mut by_sequence));
        assert_eq!(by_message.poll_timeout(), by_sequence.poll_timeout());
    }
    let gap = PushEvent::Gap {
        expected: 3,
        got: 5,
    };
    let mut a = PushMachine::new(start, Some(beat), false);
    for cseq in [1, 2, 5] {
        a.handle_data(start, cseq);
    }
    assert_eq!(events(&mut a), vec![gap]);
}
