//! The ordered consumer in push mode, driven by hand over a virtual clock: the push settings
//! of every generation, gaps told by a heartbeat's `Nats-Last-Consumer`, flow control answered
//! once when reached, the missed-heartbeat alarm, messages arriving before their consumer's
//! creation is confirmed, and a seeded simulation of a pushing server that loses messages,
//! stalls on flow control, restarts and deletes consumers, checking that the application sees
//! every stream sequence exactly once and in order.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use nats_sansio::jetstream::api::{AckPolicy, ConsumerInfo, DeliverPolicy};
use nats_sansio::jetstream::ordered::{
    CreateError, Dropped, OrderedAction, OrderedConfig, OrderedConfigError, OrderedConsumer,
    OrderedMode, OrderedReceived, ResetReason, PUSH_ACK_WAIT,
};
use nats_sansio::jetstream::push::{Pushed, CONSUMER_STALLED, LAST_CONSUMER};
use nats_sansio::proto::Message;
use nats_sansio::rng::Rng;

mod common;
use common::ordered::{read_some, restart_server, Harness};
use common::{consumer_info, js_message, status_message, STREAM};

const PREFIX: &str = "op";
const INBOX: &str = "_INBOX.op";
const HEARTBEAT: Duration = Duration::from_secs(5);

/// A message of `consumer` pushed to `deliver`.
fn user(deliver: &str, consumer: &str, sseq: u64, cseq: u64) -> Message {
    js_message(deliver, consumer, sseq, cseq)
}

fn heartbeat(deliver: &str, last_cseq: u64, stalled: Option<&str>) -> Message {
    let last = last_cseq.to_string();
    let mut headers = vec![(LAST_CONSUMER, last.as_str())];
    if let Some(subject) = stalled {
        headers.push((CONSUMER_STALLED, subject));
    }
    status_message(deliver, 100, "Idle Heartbeat", None, &headers)
}

fn flow_control(deliver: &str, reply: &str) -> Message {
    status_message(deliver, 100, "FlowControl Request", Some(reply), &[])
}

fn push_config() -> OrderedConfig {
    OrderedConfig {
        mode: OrderedMode::push(),
        ..OrderedConfig::new()
    }
}

impl Harness {
    fn new() -> Harness {
        Harness::start(PREFIX, INBOX, push_config())
    }

    /// A machine whose first consumer (`op_1`, pushing to `_INBOX.op.1`) exists.
    fn started() -> Harness {
        let mut h = Harness::new();
        h.create_ok(0);
        h.take();
        h
    }

    /// Feeds user messages of generation `serial`; returns the stream sequences delivered.
    fn feed_all(&mut self, serial: u64, seqs: &[(u64, u64)]) -> Vec<u64> {
        let deliver = format!("{INBOX}.{serial}");
        let consumer = format!("{PREFIX}_{serial}");
        self.feed_each(
            seqs.iter()
                .map(|&(sseq, cseq)| user(&deliver, &consumer, sseq, cseq)),
        )
    }
}

fn start_seq(h: &Harness) -> Option<u64> {
    match h.last_create().config.deliver_policy {
        DeliverPolicy::ByStartSequence { start_seq } => Some(start_seq),
        _ => None,
    }
}

#[test]
fn every_generation_is_a_push_consumer_on_a_fresh_deliver_subject() {
    let mut h = Harness::new();
    let c = h.last_create().config;
    assert_eq!(c.name, "op_1");
    assert_eq!(c.deliver_subject, "_INBOX.op.1");
    assert!(c.flow_control);
    assert_eq!(c.idle_heartbeat, HEARTBEAT);
    assert_eq!(c.max_deliver, 1);
    assert_eq!(c.ack_wait, PUSH_ACK_WAIT);
    assert_eq!(c.ack_policy, AckPolicy::None);
    assert!(c.mem_storage && c.durable_name.is_empty());
    assert_eq!(c.num_replicas, 1);
    assert_eq!(c.deliver_policy, DeliverPolicy::All);

    h.create_ok(0);
    assert_eq!(h.m.consumer_name(), Some("op_1"));
    assert_eq!(h.feed_all(1, &[(1, 1), (2, 2)]), [1, 2]);
    h.m.handle_consumer_not_found(h.now, "op_1");
    h.drain();
    let c = h.last_create().config;
    assert_eq!(
        c.deliver_subject, "_INBOX.op.2",
        "a fresh subject per generation"
    );
    assert_eq!(start_seq(&h), Some(3));
    assert!(c.flow_control && c.max_deliver == 1);

    // A zero heartbeat is refused; the pull options are not checked in push mode.
    let zero = OrderedConfig {
        mode: OrderedMode::Push {
            idle_heartbeat: Duration::ZERO,
        },
        ..OrderedConfig::new()
    };
    assert_eq!(
        OrderedConsumer::new(h.now, STREAM, PREFIX, INBOX, zero).unwrap_err(),
        OrderedConfigError::ZeroHeartbeat
    );
}

#[test]
fn a_heartbeat_reporting_more_than_was_seen_is_a_gap() {
    let mut h = Harness::started();
    assert_eq!(h.feed_all(1, &[(1, 1), (2, 2), (3, 3)]), [1, 2, 3]);
    // In step: nothing happens.
    let r = h.feed(&heartbeat("_INBOX.op.1", 3, None));
    assert_eq!(
        r,
        OrderedReceived::Dropped(Dropped::Push(Pushed::Heartbeat { unstall: None }))
    );
    assert!(h.resets().is_empty());
    // Consumer sequence 4 never arrived.
    h.feed(&heartbeat("_INBOX.op.1", 4, None));
    assert_eq!(
        h.resets(),
        [ResetReason::Gap {
            expected: 4,
            received: 4
        }]
    );
    assert_eq!(start_seq(&h), Some(4));
    assert_eq!(h.deletes(), ["op_1"]);
    // The lost message comes with the replacement, once.
    h.create_ok(3);
    assert_eq!(h.feed_all(2, &[(4, 1), (5, 2)]), [4, 5]);
    // A heartbeat of the old consumer is stale.
    assert_eq!(
        h.feed(&heartbeat("_INBOX.op.1", 9, None)),
        OrderedReceived::Dropped(Dropped::Stale)
    );
    assert_eq!(h.resets().len(), 1);
}

#[test]
fn flow_control_is_answered_once_when_reached() {
    let mut h = Harness::started();
    assert_eq!(h.feed_all(1, &[(1, 1), (2, 2)]), [1, 2]);
    assert!(h.publishes().is_empty());
    let fc = "$JS.FC.ORDERS.op_1.abc";
    let r = h.feed(&flow_control("_INBOX.op.1", fc));
    assert_eq!(
        r,
        OrderedReceived::Dropped(Dropped::Push(Pushed::FlowControl { reply: fc.into() }))
    );
    assert_eq!(
        h.publishes(),
        [fc],
        "answered when the application reached it"
    );
    // A heartbeat naming it as stalled (the answer crossed it) is not answered again.
    h.feed(&heartbeat("_INBOX.op.1", 2, Some(fc)));
    assert_eq!(h.publishes(), [fc]);
    // A stall on a request never seen (lost) is answered, once.
    let lost = "$JS.FC.ORDERS.op_1.def";
    assert_eq!(h.feed_all(1, &[(3, 3)]), [3]);
    h.feed(&heartbeat("_INBOX.op.1", 3, Some(lost)));
    h.feed(&heartbeat("_INBOX.op.1", 3, Some(lost)));
    assert_eq!(h.publishes(), [fc, lost]);
    // A flow-control request of a consumer no longer followed is not answered.
    h.m.handle_reconnected(h.now);
    h.drain();
    h.feed(&flow_control("_INBOX.op.1", "$JS.FC.ORDERS.op_1.ghi"));
    assert_eq!(h.publishes(), [fc, lost]);
    assert!(h.resets() == [ResetReason::Reconnected]);
}

#[test]
fn a_missed_heartbeat_recreates_and_keeps_what_the_old_consumer_still_delivers() {
    let mut h = Harness::started();
    assert_eq!(h.feed_all(1, &[(1, 1)]), [1]);
    assert_eq!(h.m.poll_timeout(), Some(h.now + HEARTBEAT * 2));
    // Heartbeats keep it alive.
    h.advance(HEARTBEAT);
    h.feed(&heartbeat("_INBOX.op.1", 1, None));
    h.advance(HEARTBEAT + Duration::from_secs(1));
    assert!(h.resets().is_empty());
    h.advance(HEARTBEAT);
    assert_eq!(h.resets(), [ResetReason::MissedHeartbeat]);
    assert_eq!(start_seq(&h), Some(2));
    // A false alarm: the old consumer's next messages still arrive, in order.
    assert_eq!(h.feed_all(1, &[(2, 2), (3, 3)]), [2, 3]);
    h.create_ok(1);
    // The replacement starts at 2: what the old one delivered is not delivered again.
    assert_eq!(h.feed_all(2, &[(2, 1), (3, 2), (4, 3)]), [4]);
    // Once the replacement delivered, the old one is done.
    assert!(h.feed_all(1, &[(4, 4), (5, 5)]).is_empty());
    assert_eq!(h.m.last_stream_sequence(), 4);
}

#[test]
fn messages_before_the_creation_is_confirmed_are_kept_in_order() {
    let mut h = Harness::started();
    assert_eq!(h.feed_all(1, &[(1, 1)]), [1]);
    h.m.handle_consumer_not_found(h.now, "op_1");
    h.drain();
    // The new consumer pushes before its creation's answer arrives.
    assert_eq!(h.feed_all(2, &[(2, 1), (3, 2)]), [2, 3]);
    h.create_ok(1);
    // A heartbeat reporting what was seen early is no gap.
    h.feed(&heartbeat("_INBOX.op.2", 2, None));
    assert_eq!(h.resets(), [ResetReason::ConsumerNotFound]);
    assert_eq!(h.feed_all(2, &[(4, 3)]), [4]);

    // Out of order before the answer: replaced as soon as it is confirmed.
    h.take();
    h.m.handle_consumer_not_found(h.now, "op_2");
    h.drain();
    assert_eq!(h.feed_all(3, &[(5, 1), (7, 3)]), [5]);
    h.create_ok(4);
    assert_eq!(
        h.resets(),
        [
            ResetReason::ConsumerNotFound,
            ResetReason::Gap {
                expected: 2,
                received: 3
            }
        ]
    );
    assert_eq!(start_seq(&h), Some(6));
    assert_eq!(h.deletes(), ["op_2", "op_3"]);
}

#[test]
fn no_stream_sequence_is_delivered_twice_across_generations() {
    let mut h = Harness::started();
    assert_eq!(h.feed_all(1, &[(1, 1), (2, 2), (3, 3)]), [1, 2, 3]);
    h.m.handle_disconnected(h.now);
    h.m.handle_reconnected(h.now);
    h.drain();
    assert_eq!(h.resets(), [ResetReason::Reconnected]);
    assert_eq!(start_seq(&h), Some(4));
    // A replacement that (wrongly) starts early: what was delivered is dropped.
    h.create_ok(1);
    let r = h.feed(&user("_INBOX.op.2", "op_2", 2, 1));
    assert_eq!(r, OrderedReceived::Dropped(Dropped::Duplicate));
    assert_eq!(h.feed_all(2, &[(3, 2), (4, 3)]), [4]);
}

// ===================== simulation =====================

/// A push consumer on the fake server: it stops after each flow-control request until the
/// request is answered.
struct SimConsumer {
    deliver: String,
    next_sseq: u64,
    cseq: u64,
    since_fc: u64,
    fc_pending: Option<String>,
}

/// What a simulated run saw.
struct Run {
    received: Vec<u64>,
    consumers: u64,
    answers: HashMap<String, u32>,
}

/// Stream sequences 1..=`total` (every third filtered out), a fake pushing server with flow
/// control every 5 messages, and faults.
fn simulate(seed: u64, total: u64) -> Run {
    let mut rng = Rng::new(seed);
    let mut now = Instant::now();
    let mut m = OrderedConsumer::new(now, STREAM, PREFIX, INBOX, push_config()).unwrap();
    let mut server: BTreeMap<String, SimConsumer> = BTreeMap::new();
    let mut wire: VecDeque<Message> = VecDeque::new();
    let mut pending_answer: Option<Result<ConsumerInfo, CreateError>> = None;
    let mut received = Vec::new();
    let mut answers: HashMap<String, u32> = HashMap::new();
    let mut fc_serial = 0;
    let matches = |sseq: u64| sseq % 3 != 0;
    let want = (1..=total).filter(|s| matches(*s)).count();
    for _ in 0..50_000 {
        // A creation's answer, delayed by a step so the consumer may push first.
        if let Some(result) = pending_answer.take() {
            m.handle_consumer_created(now, result);
        }
        while let Some(action) = m.poll_action() {
            match action {
                OrderedAction::CreateConsumer(request) => {
                    let c = &request.config;
                    let start = match c.deliver_policy {
                        DeliverPolicy::ByStartSequence { start_seq } => start_seq,
                        _ => 1,
                    };
                    let result = if m.serial() > 1 && rng.chance(15) {
                        Err(CreateError::Unavailable("timeout".into()))
                    } else {
                        server.insert(
                            c.name.clone(),
                            SimConsumer {
                                deliver: c.deliver_subject.clone(),
                                next_sseq: start,
                                cseq: 0,
                                since_fc: 0,
                                fc_pending: None,
                            },
                        );
                        Ok(consumer_info(&c.name, start - 1))
                    };
                    if rng.chance(50) {
                        pending_answer = Some(result);
                    } else {
                        m.handle_consumer_created(now, result);
                    }
                }
                OrderedAction::DeleteConsumer(name) => {
                    server.remove(&name);
                }
                OrderedAction::Publish(subject) => {
                    *answers.entry(subject.clone()).or_default() += 1;
                    for c in server.values_mut() {
                        if c.fc_pending.as_deref() == Some(subject.as_str()) {
                            c.fc_pending = None;
                        }
                    }
                }
            }
        }
        assert!(m.poll_pull().is_none());
        while m.poll_event().is_some() {}
        if m.is_finished() || received.len() == want {
            break;
        }
        // Every consumer not stalled pushes a little.
        for (name, c) in server.iter_mut() {
            for _ in 0..rng.next_u64() % 3 {
                while c.next_sseq <= total && !matches(c.next_sseq) {
                    c.next_sseq += 1;
                }
                if c.fc_pending.is_some() || c.next_sseq > total {
                    break;
                }
                c.cseq += 1;
                wire.push_back(user(&c.deliver, name, c.next_sseq, c.cseq));
                c.next_sseq += 1;
                c.since_fc += 1;
                if c.since_fc == 5 {
                    c.since_fc = 0;
                    fc_serial += 1;
                    let reply = format!("$JS.FC.{STREAM}.{name}.{fc_serial}");
                    wire.push_back(flow_control(&c.deliver, &reply));
                    c.fc_pending = Some(reply);
                }
            }
        }
        // Faults.
        if rng.chance(3) && !wire.is_empty() {
            wire.pop_front(); // lost: a gap, or an unanswered flow-control request
        }
        if rng.chance(1) {
            now += Duration::from_secs(11); // a (false) heartbeat alarm, and back-off
            m.handle_timeout(now);
            continue;
        }
        if rng.chance(1) {
            restart_server(&mut m, now, &mut wire, &mut server);
            continue;
        }
        if rng.chance(1) {
            // The consumer deleted under it: only the silence tells.
            if let Some(name) = m.consumer_name().map(str::to_owned) {
                server.remove(&name);
            }
        }
        read_some(&mut m, &mut rng, &mut now, &mut wire, &mut received);
        // Idle: the server sends heartbeats (naming a pending flow control as stalled),
        // or, with nothing to say, the timers run.
        if wire.is_empty() {
            if rng.chance(70) && !server.is_empty() {
                now += HEARTBEAT;
                for c in server.values() {
                    wire.push_back(heartbeat(&c.deliver, c.cseq, c.fc_pending.as_deref()));
                }
            } else if let Some(at) = m.poll_timeout() {
                now = now.max(at);
            }
            m.handle_timeout(now);
        }
    }
    Run {
        received,
        consumers: m.serial(),
        answers,
    }
}

#[test]
fn simulation_delivers_every_message_once_in_order_despite_faults() {
    let total = 300;
    let want: Vec<u64> = (1..=total).filter(|s| s % 3 != 0).collect();
    let mut consumers = 0;
    let mut answered = 0;
    for seed in 0..64 {
        let run = simulate(seed, total);
        assert_eq!(run.received, want, "seed {seed}");
        for (subject, times) in &run.answers {
            assert_eq!(*times, 1, "seed {seed}: {subject} answered {times} times");
        }
        consumers += run.consumers;
        answered += run.answers.len();
    }
    assert!(
        consumers > 64 * 3,
        "the faults made the machine replace consumers ({consumers} created)"
    );
    assert!(
        answered > 64 * 10,
        "flow control was exercised ({answered})"
    );
    println!("64 seeds: {consumers} consumers created, {answered} flow-control answers");
}
