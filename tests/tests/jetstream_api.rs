//! The JetStream API as an async-nats user writes it, against a real nats-server, on tokio,
//! smol and async-std: create-or-update consumers (and the strict create), get-or-create,
//! consumers by stream name, the raw API request, the context builder, publishing with
//! headers, waiting for every ack, listings that page lazily, and the pull builders
//! (`fetch()`, `batch()`, `stream()`).
//!
//! Each scenario asserts what a user sees: the config the server holds, the server's error
//! kinds, stored headers and message counts, and every item of a listing once.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use nats_client::jetstream::api::{ApiErrorKind, ConsumerConfig, StreamInfo};
use nats_client::jetstream::{self, ContextBuilder, JetStreamErrorKind};
use nats_client::HeaderMap;
use nats_tests::NatsServer;

#[macro_use]
mod common;
use common::js::{all, create_stream, durable, js_server, publish_range, stream_config};
use common::runtime::{within, Rt};

const WAIT: Duration = Duration::from_secs(15);

/// A durable consumer `name` that gives up after `max_deliver` deliveries.
fn delivering(name: &str, max_deliver: i64) -> ConsumerConfig {
    ConsumerConfig {
        max_deliver,
        ..durable(name)
    }
}

async fn create_consumer_updates_and_strict_refuses(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let stream = create_stream(&js, "DEPLOY", &["deploy.>"]).await;

    let first = stream.create_consumer(delivering("svc", 3)).await.unwrap();
    assert_eq!(first.cached_info().config.max_deliver, 3);
    // Redeploying with a changed config updates the consumer.
    let second = stream.create_consumer(delivering("svc", 5)).await.unwrap();
    assert_eq!(second.cached_info().config.max_deliver, 5);
    let held = stream.consumer_info("svc").await.unwrap();
    assert_eq!(
        held.config.max_deliver, 5,
        "the server holds the new config"
    );
    // The alias does the same.
    let third = stream
        .create_or_update_consumer(delivering("svc", 6))
        .await
        .unwrap();
    assert_eq!(third.cached_info().config.max_deliver, 6);

    // The strict create refuses to change it, with the server's error kind.
    let refused = stream
        .create_consumer_strict(delivering("svc", 7))
        .await
        .unwrap_err();
    assert_eq!(refused.api_kind(), Some(ApiErrorKind::ConsumerExists));
    let held = stream.consumer_info("svc").await.unwrap();
    assert_eq!(
        held.config.max_deliver, 6,
        "the refused config was not applied"
    );
    // It creates a new one, and an update of a missing one is refused.
    stream
        .create_consumer_strict(delivering("fresh", 2))
        .await
        .unwrap();
    let missing = stream
        .update_consumer(delivering("nobody", 2))
        .await
        .unwrap_err();
    assert_eq!(missing.api_kind(), Some(ApiErrorKind::ConsumerDoesNotExist));
    assert!(!stream.has_consumer("nobody").await.unwrap());
}

async fn get_or_create_creates_then_gets(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);

    let created = js
        .get_or_create_stream(stream_config("LAZY", &["lazy.a"]))
        .await
        .unwrap();
    assert_eq!(created.cached_info().config.subjects, vec!["lazy.a"]);
    // The second call gets the stream as it is: the other config is not applied.
    let got = js
        .get_or_create_stream(stream_config("LAZY", &["lazy.b"]))
        .await
        .unwrap();
    assert_eq!(got.cached_info().config.subjects, vec!["lazy.a"]);
    assert_eq!(got.cached_info().created, created.cached_info().created);

    // A config without a name gets the asked name as its durable name.
    let consumer = got
        .get_or_create_consumer("reader", ConsumerConfig::default())
        .await
        .unwrap();
    assert_eq!(consumer.name(), "reader");
    let again = got
        .get_or_create_consumer("reader", delivering("reader", 9))
        .await
        .unwrap();
    assert_eq!(again.cached_info().created, consumer.cached_info().created);
    assert_ne!(again.cached_info().config.max_deliver, 9, "not changed");
    assert_eq!(all(got.consumer_names()).await, vec!["reader"]);
}

async fn consumers_by_stream_name(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    create_stream(&js, "NAMED", &["named.>"]).await;
    publish_range(&js, "named.x", 0..3).await;

    let created = js
        .create_consumer_on_stream(delivering("c", 3), "NAMED")
        .await
        .unwrap();
    assert_eq!(created.cached_info().stream_name, "NAMED");
    let updated = js
        .update_consumer_on_stream(delivering("c", 4), "NAMED")
        .await
        .unwrap();
    assert_eq!(updated.cached_info().config.max_deliver, 4);
    let recreated = js
        .create_consumer_on_stream(delivering("c", 5), "NAMED")
        .await
        .unwrap();
    assert_eq!(recreated.cached_info().config.max_deliver, 5);
    let refused = js
        .create_consumer_strict_on_stream(delivering("c", 6), "NAMED")
        .await
        .unwrap_err();
    assert_eq!(refused.api_kind(), Some(ApiErrorKind::ConsumerExists));

    let mut got = js.get_consumer_from_stream("c", "NAMED").await.unwrap();
    assert_eq!(got.info().await.unwrap().num_pending, 3);
    js.delete_consumer_from_stream("c", "NAMED").await.unwrap();
    let gone = js.get_consumer_from_stream("c", "NAMED").await.unwrap_err();
    assert_eq!(gone.api_kind(), Some(ApiErrorKind::ConsumerNotFound));
    let no_stream = js
        .create_consumer_on_stream(durable("c"), "NOPE")
        .await
        .unwrap_err();
    assert_eq!(no_stream.api_kind(), Some(ApiErrorKind::StreamNotFound));

    // A handle without info asks nothing until used.
    let mut handle = js.get_stream_no_info("NAMED").unwrap();
    assert_eq!(handle.name(), "NAMED");
    assert_eq!(handle.get_message(2).await.unwrap().payload, "1");
    assert_eq!(handle.info().await.unwrap().state.messages, 3);
    let bad = js.get_stream_no_info("a.b").unwrap_err();
    assert_eq!(bad.kind(), JetStreamErrorKind::InvalidRequest);
    let missing = js.get_stream_no_info("ABSENT").unwrap();
    let error = missing.get_message(1).await.unwrap_err();
    assert_eq!(error.api_kind(), Some(ApiErrorKind::StreamNotFound));
}

async fn raw_api_request(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    create_stream(&js, "RAW", &["raw.>"]).await;
    publish_range(&js, "raw.x", 0..4).await;

    let info: StreamInfo = js.request("STREAM.INFO.RAW", &()).await.unwrap();
    assert_eq!(info.config.name, "RAW");
    assert_eq!(info.state.messages, 4);
    let names: serde_json::Value = js
        .request("STREAM.NAMES", &serde_json::json!({"subject": "raw.x"}))
        .await
        .unwrap();
    assert_eq!(names["streams"], serde_json::json!(["RAW"]));

    let missing = js
        .request::<StreamInfo>("STREAM.INFO.ABSENT", &())
        .await
        .unwrap_err();
    assert_eq!(missing.api_kind(), Some(ApiErrorKind::StreamNotFound));
    let wildcard = js
        .request::<serde_json::Value>("STREAM.INFO.*", &())
        .await
        .unwrap_err();
    assert_eq!(wildcard.kind(), JetStreamErrorKind::InvalidRequest);
}

async fn context_builder_settings(rt: Rt) {
    let server = NatsServer::builder()
        .jetstream(true)
        .config("jetstream { domain: hub }")
        .start();
    let client = rt.connect(&server.url()).await;

    let hub = ContextBuilder::new()
        .domain("hub")
        .build(client.clone())
        .unwrap();
    assert_eq!(hub.prefix().as_str(), "$JS.hub.API");
    let account = within(WAIT, "account info in the domain", hub.account_info())
        .await
        .unwrap();
    assert_eq!(account.domain, "hub");
    let via_with_options = jetstream::with_options(
        client.clone(),
        ContextBuilder::new().api_prefix("$JS.hub.API"),
    )
    .unwrap();
    create_stream(&via_with_options, "HUB", &["hub.>"]).await;
    assert_eq!(all(hub.stream_names(None)).await, vec!["HUB"]);

    // A wrong domain or prefix: nobody answers, and the caller knows at once.
    for wrong in [
        ContextBuilder::new().domain("elsewhere"),
        ContextBuilder::new().api_prefix("$WRONG.API"),
    ] {
        let js = wrong.timeout(WAIT).build(client.clone()).unwrap();
        let started = Instant::now();
        let error = within(WAIT, "the no-responders answer", js.account_info())
            .await
            .unwrap_err();
        assert_eq!(error.kind(), JetStreamErrorKind::NoResponders);
        assert!(
            started.elapsed() < WAIT / 2,
            "no responders is not a timeout"
        );
    }

    // The timeout: an API that receives requests but never answers.
    let _silent = client.subscribe("$SILENT.API.>").await.unwrap();
    client.flush().await.unwrap();
    let timeout = Duration::from_millis(300);
    let js = ContextBuilder::new()
        .api_prefix("$SILENT.API")
        .timeout(timeout)
        .max_acks_in_flight(4)
        .build(client.clone())
        .unwrap();
    let started = Instant::now();
    let error = within(WAIT, "the timed-out request", js.account_info())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), JetStreamErrorKind::TimedOut);
    let waited = started.elapsed();
    assert!(
        waited >= timeout && waited < jetstream::DEFAULT_TIMEOUT,
        "waited {waited:?}: the builder's timeout, not the default"
    );

    let invalid = ContextBuilder::new()
        .domain("a.b")
        .build(client)
        .unwrap_err();
    assert_eq!(invalid.kind(), JetStreamErrorKind::InvalidRequest);
}

async fn publish_with_headers_stores_them(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let stream = create_stream(&js, "HDRS", &["hdrs.>"]).await;

    let mut headers = HeaderMap::new();
    headers.insert("Order-Kind", "express");
    headers.insert("Nats-Msg-Id", "order-1");
    let ack = within(WAIT, "the ack", async {
        js.publish_with_headers("hdrs.new", headers.clone(), "{}".into())
            .await
            .unwrap()
            .await
    })
    .await
    .unwrap();
    let stored = stream.get_message(ack.seq).await.unwrap();
    let stored_headers = stored.headers().unwrap().expect("headers stored");
    assert_eq!(stored_headers.get("Order-Kind"), Some("express"));
    assert_eq!(stored.payload, "{}");
    // The headers reach the server as headers: the message id deduplicates.
    let repeat = within(WAIT, "the repeat's ack", async {
        js.publish_with_headers("hdrs.new", headers, "{}".into())
            .await
            .unwrap()
            .await
    })
    .await
    .unwrap();
    assert!(repeat.duplicate);
}

async fn wait_for_acks_after_unawaited_publishes(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let mut stream = create_stream(&js, "BULK", &["bulk.>"]).await;
    // Nothing in flight: it resolves at once.
    within(WAIT, "waiting with nothing in flight", js.wait_for_acks()).await;

    const N: u64 = 500;
    let mut acks = Vec::new();
    for i in 0..N {
        acks.push(
            js.publish("bulk.item", format!("{i}").into())
                .await
                .unwrap(),
        );
    }
    within(WAIT, "every ack", js.wait_for_acks()).await;
    // Every ack future holds its answer now: none has to wait.
    let mut sequences = BTreeSet::new();
    for ack in acks {
        let ack = futures_lite::future::poll_once(ack)
            .await
            .expect("the ack arrived before wait_for_acks resolved");
        sequences.insert(ack.unwrap().seq);
    }
    assert_eq!(sequences, (1..=N).collect());
    assert_eq!(stream.info().await.unwrap().state.messages, N);
}

async fn listings_page_lazily(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    // The server lists at most 256 consumer infos per page: 300 take two pages.
    let mut config = stream_config("MANY", &["many.>"]);
    config.storage = jetstream::api::StorageType::Memory;
    let stream = js.create_stream(config).await.unwrap();
    const CONSUMERS: usize = 300;
    for i in 0..CONSUMERS {
        let config = ConsumerConfig {
            mem_storage: true,
            ..durable(&format!("c{i:03}"))
        };
        within(WAIT, "a consumer create", stream.create_consumer(config))
            .await
            .unwrap();
    }
    let expected: BTreeSet<String> = (0..CONSUMERS).map(|i| format!("c{i:03}")).collect();
    let infos = within(WAIT, "every consumer info", all(stream.consumers())).await;
    assert_eq!(infos.len(), CONSUMERS, "every page, no repeats");
    let listed: BTreeSet<String> = infos.into_iter().map(|info| info.name).collect();
    assert_eq!(listed, expected);
    let names = within(WAIT, "every consumer name", all(stream.consumer_names())).await;
    assert_eq!(names.len(), CONSUMERS);
    assert_eq!(names.into_iter().collect::<BTreeSet<_>>(), expected);

    // Read item by item, as a stream.
    let mut pages = stream.consumers();
    let first = within(WAIT, "the first consumer", pages.next())
        .await
        .unwrap()
        .unwrap();
    assert!(expected.contains(&first.name));

    // Streams: a few, and a filter.
    create_stream(&js, "OTHER", &["other.>"]).await;
    let mut streams: Vec<String> = all(js.streams())
        .await
        .into_iter()
        .map(|info| info.config.name)
        .collect();
    streams.sort();
    assert_eq!(streams, vec!["MANY", "OTHER"]);
    assert_eq!(all(js.stream_names(Some("other.x"))).await, vec!["OTHER"]);

    // A failing page is the listing's last item.
    let wrong = jetstream::with_prefix(js.client().clone(), "$WRONG.API").unwrap();
    let mut names = wrong.stream_names(None);
    let error = within(WAIT, "the failed page", names.next())
        .await
        .expect("the error is an item")
        .unwrap_err();
    assert_eq!(error.kind(), JetStreamErrorKind::NoResponders);
    assert!(
        names.next().await.is_none(),
        "the listing ends after an error"
    );
}

/// The payloads of a pull's messages, each acked, until the pull ends.
async fn drain_pull(mut messages: jetstream::Messages) -> Vec<String> {
    let mut payloads = Vec::new();
    while let Some(message) = within(WAIT, "a message of the pull", messages.next()).await {
        let message = message.unwrap();
        payloads.push(String::from_utf8_lossy(&message.payload).into_owned());
        message.ack().await.unwrap();
    }
    payloads
}

/// `fetch()`, `batch()` and `stream()` as async-nats's builders: a fetch takes what is
/// there and ends (empty, without an error, when nothing is), a batch waits for messages
/// published after it started, and a stream with a small batch yields everything.
async fn pull_builders(rt: Rt) {
    let (_server, js, stream) = common::js::stream_with_items(rt, "PULLS", "pulls", 7).await;
    let consumer = stream.create_consumer(durable("puller")).await.unwrap();

    let first = consumer.fetch().max_messages(5).messages().await.unwrap();
    assert_eq!(drain_pull(first).await, ["0", "1", "2", "3", "4"]);
    let rest = consumer.fetch().messages().await.unwrap();
    assert_eq!(
        drain_pull(rest).await,
        ["5", "6"],
        "the default asks for more"
    );
    let empty = consumer.fetch().max_messages(5).messages().await.unwrap();
    assert!(
        drain_pull(empty).await.is_empty(),
        "nothing left: ends empty"
    );

    // A batch started before the messages exist waits for them.
    let waiting = consumer
        .batch()
        .max_messages(2)
        .expires(Duration::from_secs(20))
        .messages()
        .await
        .unwrap();
    publish_range(&js, "pulls.item", 7..9).await;
    assert_eq!(drain_pull(waiting).await, ["7", "8"]);

    // A continuous stream pulling two at a time sees every later message once.
    publish_range(&js, "pulls.item", 9..14).await;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(2)
        .messages()
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let message = within(WAIT, "a streamed message", messages.next())
            .await
            .expect("the stream goes on")
            .unwrap();
        seen.push(String::from_utf8_lossy(&message.payload).into_owned());
        message.ack().await.unwrap();
    }
    assert_eq!(seen, ["9", "10", "11", "12", "13"]);
}

on_every_runtime!(
    pull_builders,
    create_consumer_updates_and_strict_refuses,
    get_or_create_creates_then_gets,
    consumers_by_stream_name,
    raw_api_request,
    context_builder_settings,
    publish_with_headers_stores_them,
    wait_for_acks_after_unawaited_publishes,
    listings_page_lazily,
);
