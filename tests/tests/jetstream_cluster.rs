//! JetStream on a 3-node cluster: an R3 stream while nodes are killed -9 in rotation.
//!
//! A publisher sends with `Nats-Msg-Id` and retries each message until it is acknowledged;
//! afterwards every acknowledged message must be in the stream exactly once. The killer runs
//! on its own thread (the harness is blocking); the client runs on a multi-thread tokio
//! runtime.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use nats_client::jetstream::api::{AckPolicy, ConsumerConfig, StreamConfig};
use nats_client::jetstream::pull::FetchOptions;
use nats_client::jetstream::{self, Publish};
use nats_client::ConnectOptions;
use nats_tests::Cluster;

/// Messages the publisher must get acknowledged.
const MESSAGES: usize = 300;

#[test]
fn r3_stream_keeps_every_acknowledged_message_once_while_nodes_are_killed() {
    let mut cluster = Cluster::builder().nodes(3).jetstream(true).start();
    let urls = cluster.urls().join(",");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let options = ConnectOptions::new()
        .reconnect_delay(Duration::from_millis(20), Duration::from_millis(250))
        .request_timeout(Some(Duration::from_secs(2)));
    let client = runtime
        .block_on(nats_client::tokio::connect_with_options(&urls, options))
        .unwrap();
    let mut js = jetstream::new(client);
    js.set_timeout(Duration::from_secs(2));
    runtime.block_on(async {
        let mut config = StreamConfig::new("REPLICATED");
        config.subjects = vec!["replicated.>".into()];
        config.num_replicas = 3;
        // Stream creation may race the cluster settling: retry for a while.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match js.create_stream(config.clone()).await {
                Ok(_) => break,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("create stream: {e}; retrying");
                    async_io::Timer::after(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("the R3 stream was never created: {e}"),
            }
        }
    });

    // The killer: every `KILL_EVERY` acknowledged messages, kill -9 the next node, then
    // restart it. The publisher does not run ahead of the kills, and keeps publishing while a
    // node is down.
    const KILL_EVERY: usize = 75;
    let acked = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let killer = {
        let acked = Arc::clone(&acked);
        let killed = Arc::clone(&killed);
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                let kills = killed.load(Ordering::SeqCst);
                if acked.load(Ordering::SeqCst) >= KILL_EVERY * (kills + 1) {
                    let node = kills % 3;
                    cluster.kill9(node);
                    killed.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(300));
                    cluster.restart(node);
                } else {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            cluster
        })
    };

    let attempts = runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(240);
        let mut attempts = 0usize;
        for i in 0..MESSAGES {
            while killed.load(Ordering::SeqCst) < i / KILL_EVERY {
                assert!(Instant::now() < deadline, "the killer fell behind");
                async_io::Timer::after(Duration::from_millis(5)).await;
            }
            loop {
                attempts += 1;
                assert!(Instant::now() < deadline, "message {i} never acknowledged");
                let publish = Publish::new()
                    .payload(format!("{i}").into())
                    .message_id(format!("msg-{i}"));
                let ack = match js.send_publish("replicated.events", publish).await {
                    Ok(future) => future.await,
                    Err(e) => Err(e),
                };
                match ack {
                    Ok(ack) => {
                        assert_eq!(ack.stream, "REPLICATED");
                        acked.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    Err(_) => {
                        async_io::Timer::after(Duration::from_millis(50)).await;
                    }
                }
            }
        }
        attempts
    });
    done.store(true, Ordering::SeqCst);
    let cluster = killer.join().unwrap();
    let kills = killed.load(Ordering::SeqCst);
    assert!(kills >= 3, "nodes were killed in rotation ({kills} kills)");

    // Read the whole stream back: every id once.
    let counts = runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let result = async {
                let stream = js.get_stream("REPLICATED").await?;
                let consumer = stream
                    .create_consumer(ConsumerConfig {
                        ack_policy: AckPolicy::None,
                        ..ConsumerConfig::default()
                    })
                    .await?;
                let mut counts: BTreeMap<String, usize> = BTreeMap::new();
                let mut fetch = consumer
                    .fetch_with(FetchOptions::no_wait(MESSAGES * 2))
                    .await?;
                while let Some(message) = fetch.next().await {
                    let message = message?;
                    let id = message
                        .headers
                        .as_ref()
                        .and_then(|h| h.get("Nats-Msg-Id"))
                        .unwrap_or("<none>")
                        .to_owned();
                    *counts.entry(id).or_default() += 1;
                }
                Ok::<_, nats_client::jetstream::JetStreamError>(counts)
            }
            .await;
            match result {
                Ok(counts) if counts.values().sum::<usize>() >= MESSAGES => return counts,
                _ if Instant::now() < deadline => {
                    async_io::Timer::after(Duration::from_millis(500)).await;
                }
                other => panic!("could not read the stream back: {other:?}"),
            }
        }
    });
    drop(cluster);
    let duplicates: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicates.is_empty(),
        "stored more than once: {duplicates:?}"
    );
    for i in 0..MESSAGES {
        assert_eq!(
            counts.get(&format!("msg-{i}")),
            Some(&1),
            "msg-{i} stored once"
        );
    }
    assert_eq!(counts.len(), MESSAGES);
    println!(
        "checked {MESSAGES} acknowledged messages, each stored exactly once, over {kills} kill -9s \
         ({attempts} publish attempts)"
    );
}
