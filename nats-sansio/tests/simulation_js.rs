//! Deterministic simulation of the JetStream consumer machines riding on `Connection`s over
//! the faulty virtual network, against the simulated server's JetStream subset: a pull
//! consume with acks and an ordered consume, across disconnects, stalls, chunking, latency,
//! lost deliveries (server side, and a client-side slow consumer in one seed in four) and a
//! server that loses the consumer.
//!
//! Every scenario runs over many seeds. A failure prints `SEED=<n>`; replay just that seed with
//! `SIM_SEED=<n> cargo test -p nats-sansio --test simulation_js <scenario>`.

mod sim;

use std::time::Duration;

use bytes::Bytes;
use nats_sansio::connection::RequestId;
use nats_sansio::jetstream::api::{
    AckPolicy, ApiPrefix, ConsumerConfig, ConsumerInfo, CreateConsumerRequest, PubAck,
    StreamConfig, StreamConfigRequest, StreamCreateResponse,
};
use nats_sansio::jetstream::consume::{OrderedConsume, PullConsume};
use nats_sansio::jetstream::ordered::OrderedConfig;
use nats_sansio::jetstream::pull::{ConsumeOptions, PullMachine};
use nats_sansio::rng::Rng;
use sim::acker::{Acker, Delivered};
use sim::api::{api, response};
use sim::machine_app::{JustRead, MachineApp};
use sim::server::ServerConfig;
use sim::{for_seeds, ms, secs, World};

const STREAM: &str = "ORDERS";

/// A pull consume on the generic driver, its messages settled by an [`Acker`].
type PullApp = MachineApp<PullConsume, Acker>;
/// An ordered consume on the generic driver, its messages only read.
type OrderedApp = MachineApp<OrderedConsume, JustRead>;
/// The consumer's client.
const CONSUMER: usize = 0;
/// The publishing client (its link is never faulted: the stream is the ground truth anyway).
const PRODUCER: usize = 1;

// ===================== helpers =====================

/// Two connected clients and the stream `ORDERS` on `orders.>`. One seed in four, the
/// consumer's client holds only a few messages per subscription, so a burst read at once
/// overflows it and the connection drops some (a client-side slow consumer).
fn js_world(seed: u64, rng: &mut Rng) -> World {
    let mut w = World::new(seed, vec![ServerConfig::new("s0")]);
    let slow = rng.chance(25).then(|| rng.range(2, 6) as usize);
    w.add_client("nats://s0:4222", |o| {
        if let Some(limit) = slow {
            o.subscription_pending_messages = limit;
        }
    });
    w.add_client("nats://s0:4222", |_| {});
    w.run_until("connected", secs(5), |w| {
        w.is_connected(CONSUMER) && w.is_connected(PRODUCER)
    });
    let request = StreamConfigRequest {
        config: StreamConfig {
            subjects: vec!["orders.>".into()],
            ..StreamConfig::new(STREAM)
        },
        pedantic: false,
    };
    let subject = ApiPrefix::default().stream_create(STREAM).unwrap();
    let created: StreamCreateResponse = api(
        &mut w,
        PRODUCER,
        &subject,
        serde_json::to_vec(&request).unwrap(),
    );
    assert_eq!(created.info.config.name, STREAM);
    w
}

/// Publishes `n` more messages into the stream, as JetStream publishes (requests whose ids
/// are added to `sent`).
fn produce(w: &mut World, sent: &mut Vec<RequestId>, n: u64) {
    for _ in 0..n {
        let k = sent.len() + 1;
        let id = w
            .with(PRODUCER, |conn, now| {
                let payload = Bytes::from(format!("order {k}"));
                conn.request(now, &format!("orders.{}", k % 3), None, payload, None)
            })
            .expect("publish");
        sent.push(id);
    }
}

/// Every publish was stored: one PubAck per message, sequences 1..=n; returns n.
fn assert_all_stored(w: &mut World, sent: &[RequestId]) -> u64 {
    w.run_until("PubAcks", secs(15), |w| {
        sent.iter().all(|&id| response(w, PRODUCER, id).is_some())
    });
    let mut seqs: Vec<u64> = sent
        .iter()
        .map(|&id| {
            let reply = response(w, PRODUCER, id)
                .expect("answered")
                .expect("a PubAck");
            PubAck::parse(&reply.payload).expect("a PubAck").seq
        })
        .collect();
    seqs.sort_unstable();
    let n = sent.len() as u64;
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "SEED={}", w.seed);
    assert_eq!(w.cluster.js.stream(STREAM).unwrap().last_seq, n);
    n
}

/// The stored message `seq`: (subject, payload).
fn stored(w: &World, seq: u64) -> Option<(String, Vec<u8>)> {
    let m = w.cluster.js.stream(STREAM)?.messages.get(&seq)?;
    Some((m.subject.clone(), m.payload.clone()))
}

/// What can go wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// The consumer's link is cut (bytes in flight both ways are lost).
    Cut,
    /// Nothing moves on the consumer's link for up to 4 s.
    Stall,
    /// The server loses one or two of its next deliveries (as to a slow consumer).
    LoseDeliveries,
    /// The server loses the newest consumer, telling its pulls or not.
    LoseConsumer,
}

/// One seeded fault among `kinds` (listing one twice doubles its odds), or none (two
/// chances more).
fn fault(w: &mut World, rng: &mut Rng, kinds: &[Fault]) {
    let pick = rng.below(kinds.len() as u64 + 2) as usize;
    match kinds.get(pick) {
        Some(Fault::Cut) => w.cut(CONSUMER),
        Some(Fault::Stall) => {
            let d = rng.duration(ms(50), secs(4));
            w.stall(CONSUMER, d);
        }
        Some(Fault::LoseDeliveries) => w.cluster.js.lose_deliveries += rng.range(1, 2) as u32,
        Some(Fault::LoseConsumer) => {
            if let Some(name) = w.cluster.js.newest_consumer(STREAM) {
                let notify = rng.chance(50);
                w.lose_consumer(STREAM, &name, notify);
            }
        }
        None => {}
    }
}

// ===================== pull consume =====================

const PULL_FAULTS: &[Fault] = &[
    Fault::Cut,
    Fault::Stall,
    Fault::Stall,
    Fault::LoseDeliveries,
];

/// A durable pull consumer with explicit acks, consumed continuously while the consumer's
/// link is cut and stalled and its application acks, naks, terminates, delays or forgets
/// acks: every stored message reaches the application and is settled at least once, nothing
/// that was never stored is delivered, and the consume never ends.
#[test]
fn pull_consume_across_disconnects_and_stalls() {
    for_seeds("pull_consume_across_disconnects_and_stalls", 200, |seed| {
        pull_consume(seed, false)
    });
}

/// The same, and at some point the server loses the durable consumer without a word to
/// its pulls (as when a JetStream node's state is lost); an operator recreates it (it
/// starts over from the first message). The consume neither ends nor stalls: its missed
/// heartbeats make it pull again until the consumer is back, and every stored message is
/// still delivered and settled.
#[test]
fn pull_consume_across_a_silently_lost_consumer() {
    for_seeds(
        "pull_consume_across_a_silently_lost_consumer",
        200,
        |seed| pull_consume(seed, true),
    );
}

fn pull_consume(seed: u64, lose_consumer: bool) {
    {
        let mut rng = Rng::new(seed ^ 0x00C0_FFEE);
        let mut w = js_world(seed, &mut rng);
        let ack_wait = secs(2);
        let request = CreateConsumerRequest {
            stream_name: STREAM.into(),
            config: ConsumerConfig {
                durable_name: "worker".into(),
                ack_policy: AckPolicy::Explicit,
                ack_wait,
                ..ConsumerConfig::default()
            },
            ..CreateConsumerRequest::default()
        };
        let subject = ApiPrefix::default()
            .consumer_create(STREAM, "worker", None)
            .unwrap();
        let create = |w: &mut World, c: usize| {
            let info: ConsumerInfo = api(w, c, &subject, serde_json::to_vec(&request).unwrap());
            assert_eq!(info.name, "worker");
        };
        create(&mut w, CONSUMER);
        let options = ConsumeOptions {
            max_messages: Some(rng.range(1, 8) as usize),
            expires: Some(rng.duration(secs(1), secs(3))),
            ..ConsumeOptions::default()
        };
        w.set_app(
            CONSUMER,
            MachineApp::new(
                move |cx| {
                    let pull = PullMachine::consume(cx.now, options).expect("options");
                    let inbox = cx.conn.new_inbox();
                    PullConsume::new(&ApiPrefix::default(), STREAM, "worker", inbox, pull)
                        .expect("valid names")
                },
                Acker::new(ack_wait, seed),
            ),
        );
        let mut sent = Vec::new();
        let rounds = rng.range(4, 10);
        let lose_at = lose_consumer.then(|| rng.range(0, rounds - 1));
        for round in 0..rounds {
            let n = rng.range(0, 6);
            produce(&mut w, &mut sent, n);
            fault(&mut w, &mut rng, PULL_FAULTS);
            if lose_at == Some(round) {
                assert!(w.lose_consumer(STREAM, "worker", false), "SEED={seed}");
                let gone = rng.duration(Duration::ZERO, secs(8));
                w.run_for(gone);
                create(&mut w, PRODUCER);
            }
            let d = rng.duration(Duration::ZERO, ms(1500));
            w.run_for(d);
        }
        produce(&mut w, &mut sent, 1);
        w.run_until("everything acked", secs(120), |w| {
            let app = &w.app::<PullApp>(CONSUMER).handler;
            let stream = w.cluster.js.stream(STREAM).unwrap();
            app.settled.len() == sent.len() && stream.consumers["worker"].settled(stream.last_seq)
        });
        let sent = assert_all_stored(&mut w, &sent);
        let app = w.app::<PullApp>(CONSUMER);
        for d in &app.handler.received {
            let (subject, payload) = stored(&w, d.stream_sequence)
                .unwrap_or_else(|| panic!("SEED={seed}: delivered {d:?}, never stored"));
            assert_eq!(
                (&d.subject, &d.payload),
                (&subject, &payload),
                "SEED={seed}"
            );
        }
        let settled: Vec<u64> = app.handler.settled.iter().copied().collect();
        assert_eq!(settled, (1..=sent).collect::<Vec<_>>(), "SEED={seed}");
        assert!(
            app.errors.is_empty() && !app.finished,
            "SEED={seed}: the consume ended: {:?}",
            app.errors
        );
        w.assert_no_violations();
    }
}

// ===================== ordered consume =====================

const ORDERED_FAULTS: &[Fault] = &[
    Fault::Cut,
    Fault::Stall,
    Fault::Stall,
    Fault::LoseDeliveries,
    Fault::LoseConsumer,
];

/// An ordered consumer (pull form) read while its link is cut and stalled, the server loses
/// deliveries, and the server loses its consumer (with or without telling): the application
/// gets every stored message exactly once, in stream order, and nothing else, and the
/// consumer never gives up.
#[test]
fn ordered_consume_across_faults_and_lost_consumers() {
    for_seeds(
        "ordered_consume_across_faults_and_lost_consumers",
        200,
        |seed| {
            let mut rng = Rng::new(seed ^ 0x0DE2_ED00);
            let mut w = js_world(seed, &mut rng);
            let config = OrderedConfig {
                consume: ConsumeOptions {
                    max_messages: Some(rng.range(1, 10) as usize),
                    expires: Some(rng.duration(secs(1), secs(4))),
                    ..ConsumeOptions::default()
                },
                ..OrderedConfig::new()
            };
            let mut sent = Vec::new();
            produce(&mut w, &mut sent, rng.range(0, 4));
            w.set_app(
                CONSUMER,
                MachineApp::new(
                    move |cx| {
                        let inbox = cx.conn.new_inbox();
                        OrderedConsume::new(cx.now, &ApiPrefix::default(), STREAM, &inbox, config)
                            .expect("valid ordered config")
                    },
                    JustRead,
                ),
            );
            // As the adapter, which returns the consumer once the first creation succeeded.
            w.run_until("first consumer", secs(15), |w| {
                w.app::<OrderedApp>(CONSUMER)
                    .machine()
                    .consumer_name()
                    .is_some()
            });
            for _ in 0..rng.range(4, 10) {
                let n = rng.range(0, 6);
                produce(&mut w, &mut sent, n);
                fault(&mut w, &mut rng, ORDERED_FAULTS);
                let d = rng.duration(Duration::ZERO, ms(1500));
                w.run_for(d);
            }
            produce(&mut w, &mut sent, 1);
            w.run_until("everything delivered", secs(120), |w| {
                w.app::<OrderedApp>(CONSUMER).delivered.len() >= sent.len()
            });
            // Whatever is still on its way must not be delivered again.
            w.run_for(secs(5));
            let sent = assert_all_stored(&mut w, &sent);
            let app = w.app::<OrderedApp>(CONSUMER);
            let delivered: Vec<Delivered> = app.delivered.iter().map(Delivered::of).collect();
            let seqs: Vec<u64> = delivered.iter().map(|d| d.stream_sequence).collect();
            assert_eq!(seqs, (1..=sent).collect::<Vec<_>>(), "SEED={seed}");
            for d in &delivered {
                let stored = stored(&w, d.stream_sequence);
                assert_eq!(
                    Some((d.subject.clone(), d.payload.clone())),
                    stored,
                    "SEED={seed}"
                );
            }
            assert!(
                app.errors.is_empty() && !app.finished,
                "SEED={seed}: the ordered consumer ended: {:?}",
                app.errors
            );
            assert_eq!(app.machine().last_stream_sequence(), sent);
            w.assert_no_violations();
        },
    );
}
