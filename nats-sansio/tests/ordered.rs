//! The ordered consumer machine driven by hand over a virtual clock: each reset trigger, the
//! consumers it asks for, back-off, and a seeded simulation with a fake server that loses
//! messages, raises false alarms, restarts and deletes consumers, checking that the
//! application sees every stream sequence exactly once and in order.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use nats_sansio::jetstream::api::{
    AckPolicy, ApiError, CreateConsumerRequest, DateTime, DeliverPolicy, ErrorCode,
};
use nats_sansio::jetstream::ordered::{
    backoff, CreateError, Dropped, OrderedAction, OrderedConfig, OrderedConfigError,
    OrderedConsumer, OrderedError, OrderedEvent, OrderedReceived, ResetReason, INACTIVE_THRESHOLD,
};
use nats_sansio::jetstream::pull::{ConsumeOptions, PriorityOptions, PullStatus};
use nats_sansio::proto::Message;
use nats_sansio::rng::Rng;

mod common;
use common::ordered::{read_some, restart_server, Harness};
use common::{consumer_info, js_message, status_message, STREAM};

const PREFIX: &str = "oc";
const INBOX: &str = "_INBOX.oc";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A message of `consumer` as JetStream delivers it.
fn user(consumer: &str, sseq: u64, cseq: u64) -> Message {
    js_message("orders.new", consumer, sseq, cseq)
}

/// A status sent to a pull's reply subject.
fn status(reply: &str, code: u16, description: &str) -> Message {
    status_message(reply, code, description, None, &[])
}

fn api_error(err_code: u16) -> CreateError {
    CreateError::Api(ApiError {
        code: 404,
        err_code: ErrorCode(err_code),
        description: "x".into(),
    })
}

impl Harness {
    fn new(config: OrderedConfig) -> Harness {
        Harness::start(PREFIX, INBOX, config)
    }

    /// A machine whose first consumer (`oc_1`, from the start of the stream) exists.
    fn started() -> Harness {
        let mut h = Harness::new(OrderedConfig::new());
        h.create_ok(0);
        h.take();
        h
    }

    /// Feeds user messages of `consumer`; returns the stream sequences delivered.
    fn feed_all(&mut self, consumer: &str, seqs: &[(u64, u64)]) -> Vec<u64> {
        self.feed_each(seqs.iter().map(|&(sseq, cseq)| user(consumer, sseq, cseq)))
    }
}

fn start_seq(request: &CreateConsumerRequest) -> Option<u64> {
    match request.config.deliver_policy {
        DeliverPolicy::ByStartSequence { start_seq } => Some(start_seq),
        _ => None,
    }
}

// ===================== creation =====================

#[test]
fn first_consumer_uses_the_user_policy_and_the_ordered_settings() {
    let config = OrderedConfig {
        deliver_policy: DeliverPolicy::New,
        filter_subjects: vec!["orders.>".into()],
        ..OrderedConfig::new()
    };
    let mut h = Harness::new(config);
    assert_eq!(h.creates(), 1);
    assert!(h.pulls.is_empty(), "no pull before the consumer exists");
    let request = h.last_create();
    assert_eq!(request.stream_name, STREAM);
    let c = &request.config;
    assert_eq!(c.name, "oc_1");
    assert!(c.durable_name.is_empty());
    assert_eq!(c.deliver_policy, DeliverPolicy::New);
    assert_eq!(c.ack_policy, AckPolicy::None);
    assert!(c.mem_storage);
    assert_eq!(c.num_replicas, 1);
    assert_eq!(c.inactive_threshold, INACTIVE_THRESHOLD);
    assert_eq!(c.filter_subject, "orders.>");
    assert!(c.filter_subjects.is_empty());

    h.create_ok(0);
    assert_eq!(h.m.consumer_name(), Some("oc_1"));
    assert_eq!(h.pulls.len(), 1);
    let pull = &h.pulls[0];
    assert_eq!(pull.consumer, "oc_1");
    assert_eq!(pull.reply, "_INBOX.oc.1");
    assert_eq!(pull.request.batch, 500);
    assert_eq!(pull.request.idle_heartbeat, Some(secs(5)));
    assert_eq!(pull.request.expires, Some(secs(30)));
    assert!(h.events.contains(&OrderedEvent::ConsumerCreated {
        name: "oc_1".into()
    }));
}

#[test]
fn short_expiry_gets_half_of_it_as_heartbeat_and_priority_groups_are_refused() {
    let config = OrderedConfig {
        consume: ConsumeOptions {
            expires: Some(secs(4)),
            ..ConsumeOptions::messages(10)
        },
        ..OrderedConfig::new()
    };
    let mut h = Harness::new(config);
    h.create_ok(0);
    assert_eq!(h.pulls[0].request.idle_heartbeat, Some(secs(2)));

    let grouped = OrderedConfig {
        consume: ConsumeOptions {
            priority: Some(PriorityOptions::new("g")),
            ..ConsumeOptions::new()
        },
        ..OrderedConfig::new()
    };
    let err = OrderedConsumer::new(Instant::now(), STREAM, PREFIX, INBOX, grouped).unwrap_err();
    assert_eq!(err, OrderedConfigError::PriorityGroup);
    let bad_prefix =
        OrderedConsumer::new(Instant::now(), STREAM, "a.b", INBOX, OrderedConfig::new());
    assert!(matches!(bad_prefix, Err(OrderedConfigError::Name(_))));
}

#[test]
fn in_order_messages_are_delivered() {
    let mut h = Harness::started();
    let got = h.feed_all("oc_1", &[(1, 1), (2, 2), (5, 3), (9, 4)]);
    assert_eq!(
        got,
        [1, 2, 5, 9],
        "stream gaps (a filter) are not consumer gaps"
    );
    assert_eq!(h.m.last_stream_sequence(), 9);
    assert_eq!(h.m.delivered(), 4);
    assert!(h.resets().is_empty());
    assert_eq!(
        h.feed(&status("_INBOX.oc.1", 100, "Idle Heartbeat")),
        OrderedReceived::Dropped(Dropped::Status(PullStatus::IdleHeartbeat))
    );
}

// ===================== reset triggers =====================

/// An idle heartbeat of a pull, saying which consumer sequence the server delivered last.
fn heartbeat(reply: &str, last_consumer: u64) -> Message {
    let last_consumer = last_consumer.to_string();
    let headers = [
        ("Nats-Last-Consumer", last_consumer.as_str()),
        ("Nats-Last-Stream", "0"),
    ];
    status_message(reply, 100, "Idle Heartbeat", None, &headers)
}

/// Found by the simulation (`simulation_js`, `ordered_consume_across_faults_and_lost_consumers`,
/// seed 51 once lost deliveries were among its faults): the last deliveries of a consumer
/// were lost while its pull stayed alive on heartbeats, so no later message ever revealed
/// the gap and the tail of the stream was never delivered.
#[test]
fn a_heartbeat_past_the_last_consumer_sequence_seen_is_a_gap() {
    let mut h = Harness::started();
    assert_eq!(h.feed_all("oc_1", &[(1, 1), (2, 2)]), [1, 2]);
    assert_eq!(
        h.feed(&heartbeat("_INBOX.oc.1", 2)),
        OrderedReceived::Dropped(Dropped::Status(PullStatus::IdleHeartbeat))
    );
    assert!(h.resets().is_empty(), "nothing is missing yet");

    // The server delivered consumer sequences 3 and 4; neither arrived.
    h.feed(&heartbeat("_INBOX.oc.1", 4));
    assert_eq!(
        h.resets(),
        [ResetReason::Gap {
            expected: 3,
            received: 4
        }]
    );
    assert_eq!(start_seq(&h.last_create()), Some(3));
    assert_eq!(h.deletes(), ["oc_1"]);

    // The replacement is not judged by what the old consumer's pulls still hear.
    h.create_ok(2);
    h.take();
    assert_eq!(
        h.feed(&heartbeat("_INBOX.oc.1", 9)),
        OrderedReceived::Dropped(Dropped::Stale)
    );
    assert!(h.resets().is_empty());
    assert_eq!(h.feed_all("oc_2", &[(3, 1), (4, 2)]), [3, 4]);
}

#[test]
fn a_consumer_sequence_gap_recreates_from_the_last_stream_sequence_plus_one() {
    let mut h = Harness::started();
    assert_eq!(h.feed_all("oc_1", &[(1, 1), (2, 2)]), [1, 2]);
    assert_eq!(
        h.feed(&user("oc_1", 4, 4)),
        OrderedReceived::Dropped(Dropped::Gap)
    );
    assert_eq!(
        h.resets(),
        [ResetReason::Gap {
            expected: 3,
            received: 4
        }]
    );
    assert_eq!(h.deletes(), ["oc_1"], "the old consumer is deleted");
    let request = h.last_create();
    assert_eq!(request.config.name, "oc_2");
    assert_eq!(start_seq(&request), Some(3));
    assert_eq!(h.m.consumer_name(), None);
    h.take();

    // Later messages of the old consumer are not delivered.
    assert_eq!(
        h.feed(&user("oc_1", 5, 5)),
        OrderedReceived::Dropped(Dropped::Stale)
    );
    h.create_ok(2);
    assert_eq!(h.pulls[0].consumer, "oc_2");
    assert_eq!(h.pulls[0].reply, "_INBOX.oc.2");
    // The new consumer counts from 1.
    assert_eq!(h.feed_all("oc_2", &[(3, 1), (4, 2), (5, 3)]), [3, 4, 5]);
}

#[test]
fn a_missed_heartbeat_recreates_and_keeps_what_the_old_consumer_still_delivers() {
    let mut h = Harness::started();
    assert_eq!(h.feed_all("oc_1", &[(1, 1), (2, 2), (3, 3)]), [1, 2, 3]);
    h.advance(secs(9));
    assert!(
        h.resets().is_empty(),
        "the alarm is at twice the 5 s heartbeat"
    );
    h.advance(secs(1));
    assert_eq!(h.resets(), [ResetReason::MissedHeartbeat]);
    assert_eq!(start_seq(&h.last_create()), Some(4));
    h.take();

    // A false alarm: what the old consumer had on its way still arrives, in order.
    assert_eq!(h.feed_all("oc_1", &[(4, 4), (5, 5)]), [4, 5]);
    h.create_ok(3);
    // The new consumer started at 4: it repeats 4 and 5, which are not delivered again.
    assert_eq!(
        h.feed(&user("oc_2", 4, 1)),
        OrderedReceived::Dropped(Dropped::Duplicate)
    );
    assert_eq!(h.feed_all("oc_2", &[(5, 2), (6, 3), (7, 4)]), [6, 7]);
    // Once the new consumer delivered, the old one is no longer followed.
    assert_eq!(
        h.feed(&user("oc_1", 6, 6)),
        OrderedReceived::Dropped(Dropped::Stale)
    );
    assert_eq!(h.m.delivered(), 7);
}

#[test]
fn consumer_deleted_recreates_but_the_old_pulls_status_does_not() {
    let mut h = Harness::started();
    assert_eq!(h.feed_all("oc_1", &[(1, 1)]), [1]);
    h.feed(&status("_INBOX.oc.1", 409, "Consumer Deleted"));
    assert_eq!(h.resets(), [ResetReason::ConsumerDeleted]);
    assert_eq!(start_seq(&h.last_create()), Some(2));
    h.take();
    h.create_ok(1);
    h.take();
    // Our own best-effort delete of oc_1 ends its pull with a 409 on its own reply.
    assert_eq!(
        h.feed(&status("_INBOX.oc.1", 409, "Consumer Deleted")),
        OrderedReceived::Dropped(Dropped::Stale)
    );
    assert!(h.resets().is_empty());
    assert_eq!(h.m.consumer_name(), Some("oc_2"));
}

#[test]
fn consumer_not_found_recreates() {
    let mut h = Harness::started();
    h.feed_all("oc_1", &[(1, 1), (2, 2)]);
    h.m.handle_consumer_not_found(h.now, "oc_9");
    h.drain();
    assert!(h.resets().is_empty(), "another consumer: nothing to do");
    h.m.handle_consumer_not_found(h.now, "oc_1");
    h.drain();
    assert_eq!(h.resets(), [ResetReason::ConsumerNotFound]);
    assert_eq!(start_seq(&h.last_create()), Some(3));
}

#[test]
fn no_responders_recreates() {
    let mut h = Harness::started();
    h.feed_all("oc_1", &[(1, 1)]);
    h.feed(&status("_INBOX.oc.1", 503, ""));
    assert_eq!(h.resets(), [ResetReason::NoResponders]);
    assert_eq!(start_seq(&h.last_create()), Some(2));
}

#[test]
fn a_reconnect_recreates_and_nothing_is_pulled_while_disconnected() {
    let mut h = Harness::started();
    h.feed_all("oc_1", &[(1, 1), (2, 2)]);
    h.m.handle_disconnected(h.now);
    h.drain();
    h.advance(secs(60));
    assert!(
        h.resets().is_empty(),
        "no heartbeat alarm while disconnected"
    );
    assert!(h.pulls.is_empty());
    h.m.handle_reconnected(h.now);
    h.drain();
    assert_eq!(h.resets(), [ResetReason::Reconnected]);
    assert_eq!(h.deletes(), ["oc_1"]);
    assert_eq!(start_seq(&h.last_create()), Some(3));
    assert!(h.pulls.is_empty(), "no pull before the new consumer exists");
    h.create_ok(2);
    assert_eq!(h.pulls.len(), 1);
    assert_eq!(h.pulls[0].consumer, "oc_2");
}

#[test]
fn a_consumer_created_across_a_reconnect_is_replaced() {
    let mut h = Harness::started();
    h.feed_all("oc_1", &[(1, 1)]);
    h.feed(&status("_INBOX.oc.1", 503, ""));
    h.take();
    h.m.handle_disconnected(h.now);
    h.m.handle_reconnected(h.now);
    h.drain();
    assert_eq!(h.creates(), 0, "the creation in flight is awaited");
    h.create_ok(1);
    assert_eq!(h.deletes(), ["oc_2"]);
    assert_eq!(h.last_create().config.name, "oc_3");
    assert_eq!(start_seq(&h.last_create()), Some(2));
}

#[test]
fn a_start_time_is_not_reused_and_new_does_not_skip_what_was_published_meanwhile() {
    for policy in [
        DeliverPolicy::ByStartTime {
            start_time: DateTime::parse("2025-01-01T00:00:00Z").unwrap(),
        },
        DeliverPolicy::New,
    ] {
        let mut h = Harness::new(OrderedConfig {
            deliver_policy: policy.clone(),
            ..OrderedConfig::new()
        });
        assert_eq!(h.last_create().config.deliver_policy, policy);
        // The server says the consumer starts after stream sequence 41.
        h.create_ok(41);
        h.take();
        h.advance(secs(10));
        assert_eq!(h.resets(), [ResetReason::MissedHeartbeat]);
        let request = h.last_create();
        assert_eq!(start_seq(&request), Some(42));
        let json = serde_json::to_string(&request).unwrap();
        assert!(!json.contains("opt_start_time"), "{json}");
        assert!(json.contains(r#""opt_start_seq":42"#), "{json}");
    }
}

// ===================== back-off and failures =====================

#[test]
fn recreation_backs_off_from_one_second_doubling_to_ten() {
    assert_eq!(
        (1..=7).map(backoff).collect::<Vec<_>>(),
        [1, 2, 4, 8, 10, 10, 10].map(secs)
    );
    let mut h = Harness::started();
    h.feed_all("oc_1", &[(1, 1)]);
    h.feed(&status("_INBOX.oc.1", 503, ""));
    h.take();
    let mut waits = Vec::new();
    for attempt in 1..=6u32 {
        let name = h.asked.clone().unwrap().config.name;
        let before = h.now;
        h.take();
        h.create_err(CreateError::Unavailable("timed out".into()));
        assert_eq!(h.deletes(), [name], "a timed-out creation may have worked");
        let retry_at = h.m.poll_timeout().unwrap();
        assert!(h.events.contains(&OrderedEvent::CreateFailed {
            error: CreateError::Unavailable("timed out".into()),
            attempt,
            retry_at,
        }));
        waits.push(retry_at - before);
        h.take();
        h.advance(retry_at - before - Duration::from_millis(1));
        assert_eq!(h.creates(), 0, "not before the back-off");
        h.advance(Duration::from_millis(1));
        assert_eq!(h.creates(), 1);
        assert_eq!(start_seq(&h.last_create()), Some(2));
    }
    assert_eq!(waits, [1, 2, 4, 8, 10, 10].map(secs));
    // Success resets the back-off.
    h.create_ok(1);
    h.feed(&status("_INBOX.oc.8", 503, ""));
    assert_eq!(h.resets(), [ResetReason::NoResponders]);
    let before = h.now;
    h.create_err(CreateError::NoResponders);
    assert_eq!(h.m.poll_timeout(), Some(before + secs(1)));
}

#[test]
fn a_reconnect_during_back_off_retries_at_once() {
    let mut h = Harness::started();
    h.feed(&status("_INBOX.oc.1", 503, ""));
    h.create_err(CreateError::NoResponders);
    h.m.handle_disconnected(h.now);
    h.take();
    h.advance(secs(5));
    assert_eq!(h.creates(), 0, "nothing is created while disconnected");
    h.m.handle_reconnected(h.now);
    h.drain();
    assert_eq!(h.creates(), 1);
    // Nothing was delivered: the first consumer's start (1) is kept.
    assert_eq!(start_seq(&h.last_create()), Some(1));
}

#[test]
fn terminal_failures() {
    // The first creation failing is the caller's error.
    let mut h = Harness::new(OrderedConfig::new());
    h.create_err(api_error(10059));
    assert_eq!(
        h.events,
        [
            OrderedEvent::Error(OrderedError::Create(api_error(10059))),
            OrderedEvent::Finished
        ]
    );
    assert!(h.m.is_finished());

    // The stream deleted under a running consumer.
    let mut h = Harness::started();
    h.feed(&status("_INBOX.oc.1", 409, "Consumer Deleted"));
    h.take();
    h.create_err(api_error(10059));
    assert!(h.m.is_finished());

    // A limit on consecutive failed re-creations.
    let mut h = Harness::new(OrderedConfig {
        max_reset_attempts: Some(2),
        ..OrderedConfig::new()
    });
    h.create_ok(0);
    h.feed(&status("_INBOX.oc.1", 503, ""));
    h.create_err(CreateError::NoResponders);
    h.advance(secs(1));
    h.take();
    h.create_err(CreateError::NoResponders);
    assert_eq!(
        h.events,
        [
            OrderedEvent::Error(OrderedError::ResetAttemptsExhausted {
                attempts: 2,
                last: CreateError::NoResponders
            }),
            OrderedEvent::Finished
        ]
    );
    // Any other API error on a re-creation is retried.
    let mut h = Harness::started();
    h.feed(&status("_INBOX.oc.1", 503, ""));
    h.create_err(api_error(10008));
    assert!(!h.m.is_finished());
}

#[test]
fn stop_deletes_the_consumer_and_drops_later_messages() {
    let mut h = Harness::started();
    h.feed_all("oc_1", &[(1, 1)]);
    h.m.stop();
    h.drain();
    assert_eq!(h.deletes(), ["oc_1"]);
    assert_eq!(h.events, [OrderedEvent::Finished]);
    assert_eq!(
        h.feed(&user("oc_1", 2, 2)),
        OrderedReceived::Dropped(Dropped::Finished)
    );
    assert!(h.m.poll_pull().is_none());
    assert_eq!(h.m.poll_timeout(), None);
}

// ===================== simulation =====================

/// A consumer on the fake server.
struct SimConsumer {
    next_sseq: u64,
    cseq: u64,
    credit: usize,
    reply: String,
}

/// Stream sequences 1..=`total` (every third one filtered out, so stream sequences have
/// holes), a fake server, and faults; returns what the application received.
fn simulate(seed: u64, total: u64) -> (Vec<u64>, usize) {
    let mut rng = Rng::new(seed);
    let config = OrderedConfig {
        consume: ConsumeOptions::messages(7),
        ..OrderedConfig::new()
    };
    let mut now = Instant::now();
    let mut m = OrderedConsumer::new(now, STREAM, PREFIX, INBOX, config).unwrap();
    let mut server: BTreeMap<String, SimConsumer> = BTreeMap::new();
    let mut wire: VecDeque<Message> = VecDeque::new();
    let mut received = Vec::new();
    let mut resets = 0;
    let matches = |sseq: u64| sseq % 3 != 0;
    for _ in 0..20_000 {
        // The caller's side of the run loop.
        while let Some(action) = m.poll_action() {
            match action {
                OrderedAction::CreateConsumer(request) => {
                    let name = request.config.name.clone();
                    let start = match request.config.deliver_policy {
                        DeliverPolicy::ByStartSequence { start_seq } => start_seq,
                        _ => 1,
                    };
                    // The first creation failing is terminal (and tested elsewhere).
                    let result = if m.serial() > 1 && rng.chance(20) {
                        Err(CreateError::Unavailable("timeout".into()))
                    } else {
                        server.insert(
                            name.clone(),
                            SimConsumer {
                                next_sseq: start,
                                cseq: 0,
                                credit: 0,
                                reply: String::new(),
                            },
                        );
                        Ok(consumer_info(&name, start - 1))
                    };
                    m.handle_consumer_created(now, result);
                }
                OrderedAction::Publish(_) => unreachable!("pull mode has no flow control"),
                OrderedAction::DeleteConsumer(name) => {
                    if let Some(c) = server.remove(&name) {
                        if !c.reply.is_empty() {
                            wire.push_back(status(&c.reply, 409, "Consumer Deleted"));
                        }
                    }
                }
            }
        }
        while let Some(pull) = m.poll_pull() {
            if let Some(c) = server.get_mut(&pull.consumer) {
                c.credit += pull.request.batch;
                c.reply = pull.reply;
            }
        }
        while m.poll_event().is_some() {}
        if m.is_finished() {
            break;
        }
        if received.len() as u64 == (1..=total).filter(|s| matches(*s)).count() as u64 {
            break;
        }
        // The server delivers a little from every consumer with credit.
        for (name, c) in server.iter_mut() {
            for _ in 0..rng.next_u64() % 3 {
                while c.next_sseq <= total && !matches(c.next_sseq) {
                    c.next_sseq += 1;
                }
                if c.credit == 0 || c.next_sseq > total {
                    break;
                }
                c.cseq += 1;
                c.credit -= 1;
                wire.push_back(user(name, c.next_sseq, c.cseq));
                c.next_sseq += 1;
            }
        }
        // Faults.
        if rng.chance(3) && !wire.is_empty() {
            wire.pop_front(); // a lost message: a consumer-sequence gap
        }
        if rng.chance(2) {
            now += secs(11); // a (false) heartbeat alarm, and back-off timers
            m.handle_timeout(now);
            continue;
        }
        if rng.chance(1) {
            restart_server(&mut m, now, &mut wire, &mut server);
            resets += 1;
            continue;
        }
        if rng.chance(1) {
            if let Some(name) = m.consumer_name().map(str::to_owned) {
                if let Some(c) = server.remove(&name) {
                    wire.push_back(status(&c.reply, 409, "Consumer Deleted"));
                }
            }
        }
        // The client reads some of what is on the wire.
        read_some(&mut m, &mut rng, &mut now, &mut wire, &mut received);
        // Idle: let the timers run.
        if wire.is_empty() {
            if let Some(at) = m.poll_timeout() {
                now = now.max(at);
                m.handle_timeout(now);
            }
        }
    }
    let _ = resets;
    (received, m.serial() as usize)
}

#[test]
fn simulation_delivers_every_message_once_in_order_despite_faults() {
    let total = 300;
    let want: Vec<u64> = (1..=total).filter(|s| s % 3 != 0).collect();
    let mut consumers = 0;
    for seed in 0..64 {
        let (got, serial) = simulate(seed, total);
        assert_eq!(got, want, "seed {seed}");
        consumers += serial;
    }
    assert!(
        consumers > 64 * 3,
        "the faults made the machine replace consumers ({consumers} created)"
    );
}
