//! The ordered consumer against a real nats-server (JetStream enabled), on tokio, smol and
//! async-std, in pull and in push mode: every stream message exactly once and in order,
//! plainly, across a server restart (the file store persists), and after its consumer is
//! deleted from under it.

use std::time::Duration;

use futures_lite::StreamExt;
use nats_client::jetstream::ordered::{OrderedConfig, OrderedMode};
use nats_client::jetstream::pull::ConsumeOptions;
use nats_client::jetstream::{self, OrderedMessages, Stream};

#[macro_use]
mod common;
use common::js::{all, create_stream, js_server, publish_range};
use common::runtime::{reconnected, within, Rt};

const WAIT: Duration = Duration::from_secs(30);

/// An ordered consumer's config: pulls of `batch` messages, or push consumers.
fn ordered_config(mode: &OrderedMode, batch: usize) -> OrderedConfig {
    OrderedConfig {
        consume: ConsumeOptions::messages(batch),
        mode: mode.clone(),
        ..OrderedConfig::new()
    }
}

/// Reads until `until` stream sequences were yielded; checks each is the next one and that
/// its payload is what was published at that sequence.
async fn read_in_order(messages: &mut OrderedMessages, seen: &mut Vec<u64>, until: u64) {
    within(WAIT, "ordered messages", async {
        while (seen.len() as u64) < until {
            let message = match messages.next().await {
                Some(Ok(message)) => message,
                Some(Err(e)) => panic!("the ordered consumer failed: {e}"),
                None => panic!("the ordered consumer ended"),
            };
            let seq = message.metadata().unwrap().stream_sequence;
            assert_eq!(seq, seen.len() as u64 + 1, "in order, no gap, no duplicate");
            assert_eq!(message.payload, format!("{}", seq - 1).as_bytes());
            seen.push(seq);
        }
    })
    .await;
}

/// Nothing more arrives for a while: no duplicate after the last message.
async fn nothing_more(messages: &mut OrderedMessages) {
    let extra = futures_lite::future::or(async { Some(messages.next().await) }, async {
        async_io::Timer::after(Duration::from_millis(500)).await;
        None
    })
    .await;
    assert!(extra.is_none(), "an extra message: {extra:?}");
}

/// Waits (within `WAIT`) until `stream` has no consumer left.
async fn until_no_consumer(stream: &Stream) {
    within(WAIT, "the consumer deleted", async {
        while !all(stream.consumer_names()).await.is_empty() {
            async_io::Timer::after(Duration::from_millis(20)).await;
        }
    })
    .await;
}

async fn reads_500_in_order(rt: Rt) {
    reads_500(rt, OrderedMode::Pull).await
}

async fn push_reads_500_in_order(rt: Rt) {
    reads_500(rt, OrderedMode::push()).await
}

async fn reads_500(rt: Rt, mode: OrderedMode) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let stream = create_stream(&js, "ORDERED", &["ordered.>"]).await;
    publish_range(&js, "ordered.x", 0..300).await;
    let mut messages = stream
        .ordered_messages(ordered_config(&mode, 100))
        .await
        .unwrap();
    let consumer = messages.consumer_name().unwrap().to_owned();
    let info = stream.consumer_info(&consumer).await.unwrap();
    assert!(info.config.mem_storage && info.config.durable_name.is_empty());
    if mode != OrderedMode::Pull {
        let c = &info.config;
        assert!(!c.deliver_subject.is_empty() && c.flow_control);
        assert_eq!(c.idle_heartbeat, Duration::from_secs(5));
        assert_eq!(c.max_deliver, 1);
    }
    let mut seen = Vec::new();
    read_in_order(&mut messages, &mut seen, 150).await;
    // Published while reading.
    publish_range(&js, "ordered.x", 300..500).await;
    read_in_order(&mut messages, &mut seen, 500).await;
    nothing_more(&mut messages).await;
    assert_eq!(seen, (1..=500).collect::<Vec<u64>>());
    assert_eq!(messages.resets(), 0);
    println!(
        "{mode:?}: checked {} messages in order, {} flow-control answers",
        seen.len(),
        messages.flow_control_answered()
    );
}

async fn exactly_once_across_a_server_restart(rt: Rt) {
    across_a_restart(rt, OrderedMode::Pull).await
}

async fn push_exactly_once_across_a_server_restart(rt: Rt) {
    across_a_restart(rt, OrderedMode::push()).await
}

async fn across_a_restart(rt: Rt, mode: OrderedMode) {
    let mut server = js_server();
    let client = rt.connect(&server.url()).await;
    let mut events = client.events();
    let js = jetstream::new(client);
    let stream = create_stream(&js, "RESTART", &["restart.>"]).await;
    publish_range(&js, "restart.x", 0..200).await;
    let mut messages = stream
        .ordered_messages(ordered_config(&mode, 25))
        .await
        .unwrap();
    let first = messages.consumer_name().unwrap().to_owned();
    let mut seen = Vec::new();
    read_in_order(&mut messages, &mut seen, 80).await;

    server.restart();
    reconnected(&mut events, WAIT).await;
    publish_range(&js, "restart.x", 200..300).await;
    read_in_order(&mut messages, &mut seen, 300).await;
    nothing_more(&mut messages).await;
    assert_eq!(seen, (1..=300).collect::<Vec<u64>>());
    assert!(
        messages.resets() >= 1,
        "the reconnect replaced the consumer"
    );
    assert_ne!(messages.consumer_name(), Some(first.as_str()));
    println!(
        "{mode:?}: checked {} messages across a restart, {} consumer resets",
        seen.len(),
        messages.resets()
    );
}

async fn recreates_a_consumer_deleted_from_under_it(rt: Rt) {
    consumer_deleted(rt, OrderedMode::Pull).await
}

/// Nothing tells a push consumer it was deleted: the silence does, after two heartbeats.
async fn push_recreates_a_consumer_deleted_from_under_it(rt: Rt) {
    let mode = OrderedMode::Push {
        idle_heartbeat: Duration::from_secs(1),
    };
    consumer_deleted(rt, mode).await
}

async fn consumer_deleted(rt: Rt, mode: OrderedMode) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let stream = create_stream(&js, "DELETED", &["deleted.>"]).await;
    publish_range(&js, "deleted.x", 0..100).await;
    let mut messages = stream
        .ordered_messages(ordered_config(&mode, 10))
        .await
        .unwrap();
    let first = messages.consumer_name().unwrap().to_owned();
    let mut seen = Vec::new();
    read_in_order(&mut messages, &mut seen, 30).await;

    stream.delete_consumer(&first).await.unwrap();
    read_in_order(&mut messages, &mut seen, 100).await;
    publish_range(&js, "deleted.x", 100..150).await;
    read_in_order(&mut messages, &mut seen, 150).await;
    nothing_more(&mut messages).await;
    assert_eq!(seen, (1..=150).collect::<Vec<u64>>());
    assert!(messages.resets() >= 1);
    let current = messages.consumer_name().unwrap().to_owned();
    assert_ne!(current, first, "a new consumer took over");
    let names = all(stream.consumer_names()).await;
    assert_eq!(
        names,
        vec![current],
        "the old consumer is gone, the new one exists"
    );
    println!(
        "{mode:?}: checked {} messages across a consumer deletion, {} resets",
        seen.len(),
        messages.resets()
    );
}

async fn dropping_deletes_the_consumer(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let stream = create_stream(&js, "DROPPED", &["dropped.>"]).await;
    let messages = js
        .ordered_messages("DROPPED", OrderedConfig::new())
        .await
        .unwrap();
    assert_eq!(all(stream.consumer_names()).await.len(), 1);
    drop(messages);
    until_no_consumer(&stream).await;
    let missing = js
        .ordered_messages("NOSUCH", OrderedConfig::new())
        .await
        .unwrap_err();
    assert_eq!(
        missing.api_kind(),
        Some(nats_client::jetstream::api::ApiErrorKind::StreamNotFound)
    );
}

on_every_runtime!(
    reads_500_in_order,
    exactly_once_across_a_server_restart,
    recreates_a_consumer_deleted_from_under_it,
    dropping_deletes_the_consumer,
    push_reads_500_in_order,
    push_exactly_once_across_a_server_restart,
    push_recreates_a_consumer_deleted_from_under_it,
    push_by_the_stream_method,
    push_answers_flow_control,
);

/// `Stream::ordered_push_messages` reads with push consumers, and dropping deletes them.
async fn push_by_the_stream_method(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let stream = create_stream(&js, "VIAPUSH", &["viapush.>"]).await;
    publish_range(&js, "viapush.x", 0..20).await;
    let mut messages = stream
        .ordered_push_messages(OrderedConfig::new())
        .await
        .unwrap();
    let consumer = messages.consumer_name().unwrap().to_owned();
    let info = stream.consumer_info(&consumer).await.unwrap();
    assert!(info.config.deliver_subject.ends_with(".1"));
    let mut seen = Vec::new();
    read_in_order(&mut messages, &mut seen, 20).await;
    drop(messages);
    until_no_consumer(&stream).await;
}

/// Enough bytes in flight make the server ask for flow control; answered as the stream
/// reaches each request, the consumer goes on to the end, in order.
async fn push_answers_flow_control(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let stream = create_stream(&js, "FLOW", &["flow.>"]).await;
    let total = 300u64;
    let payload = vec![b'x'; 128 * 1024];
    for _ in 0..total {
        within(WAIT, "a publish ack", async {
            js.publish("flow.x", payload.clone().into())
                .await
                .unwrap()
                .await
        })
        .await
        .unwrap();
    }
    let mut messages = stream
        .ordered_push_messages(OrderedConfig::new())
        .await
        .unwrap();
    let mut next = 1;
    within(WAIT, "ordered messages", async {
        while next <= total {
            let message = messages.next().await.unwrap().unwrap();
            assert_eq!(message.metadata().unwrap().stream_sequence, next);
            assert_eq!(message.payload.len(), payload.len());
            next += 1;
        }
    })
    .await;
    nothing_more(&mut messages).await;
    assert_eq!(messages.resets(), 0);
    assert!(
        messages.flow_control_answered() > 0,
        "flow control was asked for"
    );
    println!(
        "push: {total} messages of 128 KiB in order, {} flow-control answers",
        messages.flow_control_answered()
    );
}
