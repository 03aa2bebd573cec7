//! Deterministic simulation of the key-value watch machine on a `Connection` over the faulty
//! virtual network, against the simulated server's JetStream (push consumers with flow
//! control and heartbeats, last-per-subject, headers-only, rollups): a writer puts, deletes
//! and purges keys while the watcher's link is cut and stalled, deliveries are lost and the
//! server loses the watcher's consumer.
//!
//! Every scenario runs over many seeds. A failure prints `SEED=<n>`; replay just that seed with
//! `SIM_SEED=<n> cargo test -p nats-sansio --features kv --test simulation_kv <scenario>`.

#![cfg(feature = "kv")]

mod sim;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use nats_sansio::connection::RequestId;
use nats_sansio::jetstream::api::{ApiPrefix, PubAck, StreamConfigRequest, StreamCreateResponse};
use nats_sansio::kv::{BucketSubjects, Config, Operation, Watch, WatchConfig, WatchItem, Write};
use nats_sansio::rng::Rng;
use sim::api::{api, response};
use sim::machine_app::{JustRead, MachineApp};
use sim::server::ServerConfig;
use sim::{for_seeds, ms, secs, World};

const BUCKET: &str = "b";
const STREAM: &str = "KV_b";
/// The keys written; `c.*` ones let a filter take part of the bucket.
const KEYS: &[&str] = &["a", "b", "c.x", "c.y", "d"];

type WatchApp = MachineApp<Watch, JustRead>;
/// The watcher's client (its link is faulted).
const WATCHER: usize = 0;
/// The writing client (its link is never faulted: the log of writes is the ground truth).
const WRITER: usize = 1;

// ===================== helpers =====================

/// Two connected clients and the bucket `b` (64 revisions per key), bound as a user would.
fn kv_world(seed: u64) -> (World, BucketSubjects) {
    let mut w = World::new(seed, vec![ServerConfig::new("s0")]);
    w.add_client("nats://s0:4222", |_| {});
    w.add_client("nats://s0:4222", |_| {});
    w.run_until("connected", secs(5), |w| {
        w.is_connected(WATCHER) && w.is_connected(WRITER)
    });
    let config = Config {
        history: 64,
        ..Config::new(BUCKET)
    };
    let request = StreamConfigRequest {
        config: config.stream_config(0).expect("valid bucket"),
        pedantic: false,
    };
    let prefix = ApiPrefix::default();
    let subject = prefix.stream_create(STREAM).unwrap();
    let created: StreamCreateResponse = api(
        &mut w,
        WRITER,
        &subject,
        serde_json::to_vec(&request).unwrap(),
    );
    let bucket = BucketSubjects::from_stream(&prefix, &created.info.config).expect("a bucket");
    (w, bucket)
}

/// One write as the writer sent it.
#[derive(Debug, Clone, PartialEq)]
struct Written {
    key: String,
    operation: Operation,
    value: Vec<u8>,
}

/// The writer: its writes in flight, then the log by revision.
struct Writer {
    bucket: BucketSubjects,
    sent: Vec<(RequestId, Written)>,
}

impl Writer {
    /// Sends `n` random writes (puts mostly, deletes and purges) as JetStream publishes.
    fn write(&mut self, w: &mut World, rng: &mut Rng, n: u64) {
        for _ in 0..n {
            let key = KEYS[rng.below(KEYS.len() as u64) as usize];
            let roll = rng.below(100);
            let k = self.sent.len();
            let (write, operation) = match roll {
                0..70 => (
                    Write::Put(Bytes::from(format!("{key}={k}"))),
                    Operation::Put,
                ),
                70..85 => (Write::Delete { revision: None }, Operation::Delete),
                _ => (
                    Write::Purge {
                        revision: None,
                        ttl: None,
                    },
                    Operation::Purge,
                ),
            };
            self.send(w, key, write, operation);
        }
    }

    fn send(&mut self, w: &mut World, key: &str, write: Write, operation: Operation) {
        let publish = write.publish(&self.bucket, key).expect("valid key");
        let value = publish.payload.to_vec();
        let id = w
            .with(WRITER, |conn, now| {
                conn.request(
                    now,
                    &publish.subject,
                    publish.headers.as_ref(),
                    publish.payload.clone(),
                    None,
                )
            })
            .expect("publish");
        let written = Written {
            key: key.to_owned(),
            operation,
            value,
        };
        self.sent.push((id, written));
    }

    /// Every write was stored: revision → what was written.
    fn log(&self, w: &mut World) -> BTreeMap<u64, Written> {
        w.run_until("PubAcks", secs(15), |w| {
            self.sent
                .iter()
                .all(|(id, _)| response(w, WRITER, *id).is_some())
        });
        let log: BTreeMap<u64, Written> = self
            .sent
            .iter()
            .map(|(id, written)| {
                let reply = response(w, WRITER, *id).unwrap().expect("a PubAck");
                let ack = PubAck::parse(&reply.payload).expect("a PubAck");
                (ack.seq, written.clone())
            })
            .collect();
        assert_eq!(log.len(), self.sent.len(), "SEED={}", w.seed);
        log
    }
}

/// Does `key` match one of `filters` (none: every key)?
fn watched(filters: &[String], key: &str) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| {
            let (mut f, mut k) = (f.split('.'), key.split('.'));
            loop {
                match (f.next(), k.next()) {
                    (Some(">"), Some(_)) => return true,
                    (Some("*"), Some(_)) => {}
                    (Some(a), Some(b)) if a == b => {}
                    (None, None) => return true,
                    _ => return false,
                }
            }
        })
}

/// A seeded watch configuration; a resumed one starts at most at `next_revision`.
fn watch_config(rng: &mut Rng, next_revision: u64) -> WatchConfig {
    let filters: Vec<String> = match rng.below(4) {
        0 => vec!["c.*".into()],
        1 => vec!["a".into(), "c.>".into()],
        _ => Vec::new(),
    };
    let mut config = WatchConfig {
        ignore_deletes: rng.chance(25),
        meta_only: rng.chance(15),
        ..WatchConfig::filters(filters)
    };
    match rng.below(10) {
        0..3 => config.include_history = true,
        3 => config.updates_only = true,
        4 => config.resume_from = Some(rng.range(1, next_revision)),
        _ => {}
    }
    config
}

/// What can go wrong.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Cut,
    Stall,
    LoseDeliveries,
    LoseConsumer,
}

const FAULTS: &[Fault] = &[
    Fault::Cut,
    Fault::Stall,
    Fault::LoseDeliveries,
    Fault::LoseConsumer,
];

/// One seeded fault (or none, two chances in six).
fn fault(w: &mut World, rng: &mut Rng) {
    match FAULTS.get(rng.below(FAULTS.len() as u64 + 2) as usize) {
        Some(Fault::Cut) => w.cut(WATCHER),
        Some(Fault::Stall) => {
            let d = rng.duration(ms(50), secs(4));
            w.stall(WATCHER, d);
        }
        Some(Fault::LoseDeliveries) => w.cluster.js.lose_deliveries += rng.range(1, 2) as u32,
        Some(Fault::LoseConsumer) => {
            if let Some(name) = w.cluster.js.newest_consumer(STREAM) {
                w.lose_consumer(STREAM, &name, false);
            }
        }
        None => {}
    }
}

fn start_watch(w: &mut World, bucket: &BucketSubjects, config: WatchConfig) {
    let bucket = bucket.clone();
    w.set_app(
        WATCHER,
        MachineApp::new(
            move |cx| {
                let inbox = cx.conn.new_inbox();
                Watch::new(cx.now, &bucket, &inbox, config).expect("valid watch")
            },
            JustRead,
        ),
    );
    // As the adapter, which returns the watcher once its first consumer exists.
    w.run_until("first consumer", secs(15), |w| {
        let consumer = w.app::<WatchApp>(WATCHER).machine().consumer();
        consumer.first_consumer().is_some()
    });
}

// ===================== watch =====================

/// A watcher (all keys or filtered; latest values, full history, updates only or resumed
/// from a revision; deletions or not; values or metadata only) runs while a writer puts, deletes and purges keys and the
/// watcher's link is cut and stalled, deliveries are lost and its consumer vanishes: every
/// entry it reports is a write that happened, in revision order, none twice; every write
/// still stored at the end that it should see, it saw; and `CaughtUp` came exactly once,
/// after every initial value.
#[test]
fn watch_sees_every_change_once_across_faults() {
    for_seeds("watch_sees_every_change_once_across_faults", 200, |seed| {
        let mut rng = Rng::new(seed ^ 0x00CA_FE00);
        let (mut w, bucket) = kv_world(seed);
        let mut writer = Writer {
            bucket: bucket.clone(),
            sent: Vec::new(),
        };
        let initial = rng.range(0, 12);
        writer.write(&mut w, &mut rng, initial);
        w.run_for(ms(200));
        let config = watch_config(&mut rng, initial + 1);
        start_watch(&mut w, &bucket, config.clone());
        for _ in 0..rng.range(4, 10) {
            let n = rng.range(0, 6);
            writer.write(&mut w, &mut rng, n);
            fault(&mut w, &mut rng);
            let d = rng.duration(Duration::ZERO, ms(1500));
            w.run_for(d);
        }
        // A last put every watcher sees: when it arrives, everything before it has.
        let last_key = KEYS
            .iter()
            .find(|k| watched(&config.filters, k))
            .expect("a watched key");
        writer.send(
            &mut w,
            last_key,
            Write::Put(Bytes::from("last")),
            Operation::Put,
        );
        let log = writer.log(&mut w);
        let last = *log.keys().next_back().unwrap();
        w.run_until("the last write seen", secs(120), |w| {
            w.app::<WatchApp>(WATCHER)
                .delivered
                .iter()
                .any(|i| matches!(i, WatchItem::Entry(e) if e.revision == last))
        });
        // Whatever is still on its way must not be delivered again.
        w.run_for(secs(5));
        check_watch(&w, &config, &log);
        w.assert_no_violations();
    });
}

/// The assertions of the watch scenario.
fn check_watch(w: &World, config: &WatchConfig, log: &BTreeMap<u64, Written>) {
    let seed = w.seed;
    let app = w.app::<WatchApp>(WATCHER);
    assert!(
        app.errors.is_empty() && !app.finished,
        "SEED={seed}: the watch ended: {:?}",
        app.errors
    );
    let caught_up: Vec<usize> = app
        .delivered
        .iter()
        .enumerate()
        .filter(|(_, i)| **i == WatchItem::CaughtUp)
        .map(|(n, _)| n)
        .collect();
    assert_eq!(caught_up.len(), 1, "SEED={seed}: CaughtUp exactly once");
    let caught_up_at = caught_up[0];
    let entries: Vec<(usize, &nats_sansio::kv::Entry)> = app
        .delivered
        .iter()
        .enumerate()
        .filter_map(|(n, i)| match i {
            WatchItem::Entry(e) => Some((n, e)),
            WatchItem::CaughtUp => None,
        })
        .collect();
    // Each entry is a write that happened, as written, once, in revision order.
    let mut previous = 0;
    for (_, e) in &entries {
        let written = log
            .get(&e.revision)
            .unwrap_or_else(|| panic!("SEED={seed}: {e:?} was never written"));
        assert_eq!(
            (e.key.as_str(), e.operation, e.bucket.as_str()),
            (written.key.as_str(), written.operation, BUCKET),
            "SEED={seed}"
        );
        let value: &[u8] = if config.meta_only {
            b""
        } else {
            &written.value
        };
        assert_eq!(&e.value[..], value, "SEED={seed}: rev {}", e.revision);
        assert!(watched(&config.filters, &e.key), "SEED={seed}: {e:?}");
        assert!(
            !(config.ignore_deletes && e.operation.is_deletion()),
            "SEED={seed}: {e:?} is a deletion"
        );
        assert!(
            e.revision > previous,
            "SEED={seed}: {e:?} after rev {previous}"
        );
        previous = e.revision;
    }
    // Nothing the watcher should see and that is still stored was missed.
    let stream = w.cluster.js.stream(STREAM).unwrap();
    let first = &w.cluster.js.created_at[0];
    let s0 = first.1;
    // The revision of each key's latest write when the watch started.
    let mut latest_at_start: BTreeMap<&str, u64> = BTreeMap::new();
    for (&seq, written) in log.range(..=s0) {
        latest_at_start.insert(&written.key, seq);
    }
    let expected: BTreeSet<u64> = stream
        .messages
        .keys()
        .copied()
        .filter(|seq| {
            let written = &log[seq];
            let initial_value = latest_at_start.get(written.key.as_str()) == Some(seq);
            watched(&config.filters, &written.key)
                && !(config.ignore_deletes && written.operation.is_deletion())
                && match config.resume_from {
                    Some(start) => *seq >= start,
                    None if config.include_history => true,
                    None if config.updates_only => *seq > s0,
                    None => *seq > s0 || initial_value,
                }
        })
        .collect();
    let got: BTreeMap<u64, usize> = entries.iter().map(|(n, e)| (e.revision, *n)).collect();
    for seq in &expected {
        let at = got.get(seq);
        assert!(
            at.is_some(),
            "SEED={seed}: revision {seq} ({:?}) missed",
            log[seq]
        );
        if *seq <= s0 {
            assert!(
                at < Some(&caught_up_at),
                "SEED={seed}: initial revision {seq} came after CaughtUp"
            );
        }
    }
}

// ===================== keys and history =====================

/// Listing the keys and reading a key's history, each while the link is cut or stalled and
/// deliveries are lost: the listing names exactly the keys that hold a value, the history
/// has every kept revision of its key in order, and both end by themselves.
#[test]
fn keys_and_history_finish_at_caught_up_across_faults() {
    for_seeds(
        "keys_and_history_finish_at_caught_up_across_faults",
        200,
        |seed| {
            let mut rng = Rng::new(seed ^ 0x0000_4E75);
            let (mut w, bucket) = kv_world(seed);
            let mut writer = Writer {
                bucket: bucket.clone(),
                sent: Vec::new(),
            };
            let n = rng.range(1, 30);
            writer.write(&mut w, &mut rng, n);
            let log = writer.log(&mut w);
            let history = rng.chance(50);
            let key = KEYS[rng.below(KEYS.len() as u64) as usize];
            let config = if history {
                WatchConfig::history(key)
            } else {
                WatchConfig::keys(Vec::<String>::new())
            };
            start_watch(&mut w, &bucket, config);
            for _ in 0..rng.range(0, 3) {
                fault(&mut w, &mut rng);
                let d = rng.duration(Duration::ZERO, ms(800));
                w.run_for(d);
            }
            w.run_until("the end", secs(120), |w| {
                w.app::<WatchApp>(WATCHER).finished
            });
            let app = w.app::<WatchApp>(WATCHER);
            let stream = w.cluster.js.stream(STREAM).unwrap();
            let entries: Vec<&nats_sansio::kv::Entry> = app
                .delivered
                .iter()
                .filter_map(|i| match i {
                    WatchItem::Entry(e) => Some(e),
                    WatchItem::CaughtUp => None,
                })
                .collect();
            assert_eq!(
                app.delivered.last(),
                Some(&WatchItem::CaughtUp),
                "SEED={seed}"
            );
            if history {
                let kept: Vec<u64> = stream
                    .messages
                    .iter()
                    .filter(|(_, m)| m.subject == format!("$KV.{BUCKET}.{key}"))
                    .map(|(seq, _)| *seq)
                    .collect();
                let got: Vec<u64> = entries.iter().map(|e| e.revision).collect();
                assert_eq!(got, kept, "SEED={seed}: history of {key}");
                let not_found = kept.is_empty();
                assert_eq!(
                    app.errors.len(),
                    usize::from(not_found),
                    "SEED={seed}: {:?}",
                    app.errors
                );
            } else {
                let mut live: BTreeMap<&str, Operation> = BTreeMap::new();
                for written in log.values() {
                    live.insert(&written.key, written.operation);
                }
                let want: BTreeSet<&str> = live
                    .iter()
                    .filter(|(_, op)| **op == Operation::Put)
                    .map(|(k, _)| *k)
                    .collect();
                let got: BTreeSet<&str> = entries.iter().map(|e| e.key.as_str()).collect();
                assert_eq!(got, want, "SEED={seed}: keys");
                assert!(entries
                    .iter()
                    .all(|e| e.value.is_empty() && !e.operation.is_deletion()));
                assert!(app.errors.is_empty(), "SEED={seed}: {:?}", app.errors);
            }
            w.assert_no_violations();
        },
    );
}
