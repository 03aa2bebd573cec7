//! JetStream when things go wrong, against a real nats-server, on tokio, smol and async-std:
//! publish back-pressure retried, TTLs kept to the millisecond, consumers that resume after a
//! reconnect they were not polled for, and subscribe failures reported as such.
//!
//! Each scenario asserts what a user sees: acks that arrive, stored headers, messages
//! delivered after a restart, error kinds to match on.

use std::future::Future;
use std::time::Duration;

use futures_lite::StreamExt;
use nats_client::jetstream::api::{ApiErrorKind, ErrorCode, PubAck};
use nats_client::jetstream::publish::PublishRetry;
use nats_client::jetstream::pull::{ConsumeOptions, FetchOptions};
use nats_client::jetstream::{self, JetStreamError, JetStreamErrorKind, Publish};
use nats_client::nats_sansio::connection::SubscribeError;
use nats_client::ClientEvent;
use nats_tests::NatsServer;

#[macro_use]
mod common;
use common::js::{create_stream, durable, js_server, publish_range, stream_config};
use common::runtime::{reconnected, within, Rt};

const WAIT: Duration = Duration::from_secs(15);

/// A consumer read on a closed client fails because its inbox cannot be subscribed: the
/// error says so and its kind is `Disconnected`, not a malformed server reply.
async fn consumer_on_a_closed_client_is_a_subscribe_error(rt: Rt) {
    let server = js_server();
    let client = rt.connect(&server.url()).await;
    let js = jetstream::new(client.clone());
    let stream = create_stream(&js, "CLOSED", &["closed.>"]).await;
    let consumer = stream.create_consumer(durable("reader")).await.unwrap();
    within(WAIT, "the close", client.close()).await.unwrap();
    let error = consumer
        .fetch_with(FetchOptions::messages(1))
        .await
        .expect_err("no inbox can be subscribed on a closed client");
    assert_eq!(error.kind(), JetStreamErrorKind::Disconnected, "{error}");
    assert_eq!(error, JetStreamError::Subscribe(SubscribeError::Closed));
}

/// A consume whose client closes under it says so (an error of kind `Disconnected`), then
/// ends, instead of ending as if the stream had been read to its end.
async fn a_consume_tells_when_its_client_closes(rt: Rt) {
    let server = js_server();
    let client = rt.connect(&server.url()).await;
    let js = jetstream::new(client.clone());
    let stream = create_stream(&js, "CLOSING", &["closing.>"]).await;
    let consumer = stream.create_consumer(durable("reader")).await.unwrap();
    publish_range(&js, "closing.x", 0..3).await;
    let mut messages = consumer.messages().await.unwrap();
    for _ in 0..3 {
        within(WAIT, "a stored message", messages.next())
            .await
            .expect("open")
            .expect("a message");
    }
    within(WAIT, "the close", client.close()).await.unwrap();
    let error = within(WAIT, "the consume's last item", messages.next())
        .await
        .expect("an item before the end")
        .expect_err("the close is reported");
    assert_eq!(error.kind(), JetStreamErrorKind::Disconnected, "{error}");
    assert!(within(WAIT, "the end", messages.next()).await.is_none());
}

/// A server whose streams take at most a handful of messages into their ingest queue: a
/// burst of publishes gets `429 Too Many Requests` (10167) for what does not fit.
fn back_pressure_server() -> NatsServer {
    NatsServer::builder()
        .jetstream(true)
        .config("jetstream {\n  max_buffered_msgs: 4\n}\n")
        .start()
}

/// Publishes `count` messages at once and waits for every ack (all at once, as a pipelined
/// publisher does): how many were stored and how many were refused with back-pressure.
async fn burst(js: &jetstream::Context, count: usize) -> (usize, usize) {
    let mut acks = Vec::new();
    for i in 0..count {
        acks.push(Some(Box::pin(
            js.publish("busy.x", format!("{i}").into()).await.unwrap(),
        )));
    }
    let mut results = Vec::new();
    within(
        WAIT,
        "every ack",
        futures_lite::future::poll_fn(|cx| {
            for slot in acks.iter_mut() {
                if let Some(ack) = slot {
                    if let std::task::Poll::Ready(result) = ack.as_mut().poll(cx) {
                        results.push(result);
                        *slot = None;
                    }
                }
            }
            if acks.iter().all(Option::is_none) {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        }),
    )
    .await;
    let (mut stored, mut refused) = (0, 0);
    for result in results {
        match result {
            Ok(_) => stored += 1,
            Err(e) => {
                assert_eq!(e.api_kind(), Some(ApiErrorKind::TooManyRequests), "{e}");
                refused += 1;
            }
        }
    }
    (stored, refused)
}

/// The stream's ingest queue overflows under a burst: without retries some publishes are
/// refused with 10167 (so the burst does provoke back-pressure); with the default policy
/// every publish is retried after a back-off until stored, and the stream has them all.
async fn publish_back_pressure_is_retried(rt: Rt) {
    let server = back_pressure_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    create_stream(&js, "BUSY", &["busy.>"]).await;

    let impatient = js.clone().with_publish_retry(PublishRetry::never());
    let mut refused = 0;
    for _ in 0..20 {
        refused += burst(&impatient, 500).await.1;
        if refused > 0 {
            break;
        }
    }
    assert!(refused > 0, "the burst provokes 429 back-pressure");
    let before = js.stream_info("BUSY").await.unwrap().state.messages;

    // Patient: that every publish is retried until stored is the point, not whether the
    // default's five attempts outlast a busy machine's back-pressure.
    let patient = js.clone().with_publish_retry(PublishRetry {
        max_attempts: 100,
        ..PublishRetry::default()
    });
    let (stored, refused) = burst(&patient, 500).await;
    assert_eq!(
        (stored, refused),
        (500, 0),
        "every publish retried until stored"
    );
    let after = js.stream_info("BUSY").await.unwrap().state.messages;
    assert_eq!(after - before, 500, "the stream stored each message once");
}

/// Publishes `payload` to `subject` with a message TTL, and waits for the ack.
async fn publish_with_ttl(
    js: &jetstream::Context,
    subject: &str,
    payload: &'static str,
    ttl: Duration,
) -> Result<PubAck, JetStreamError> {
    let publish = Publish::new().payload(payload.into()).ttl(ttl);
    within(WAIT, "the ack of a publish with a TTL", async {
        js.send_publish(subject, publish).await.unwrap().await
    })
    .await
}

/// `ttl(1.9 s)` reaches the server as `1900ms`, not truncated to `1` second: the stored
/// message carries the TTL as published.
async fn publish_ttl_keeps_milliseconds(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let mut config = stream_config("TTL", &["ttl.>"]);
    config.allow_msg_ttl = true;
    let stream = js.create_stream(config).await.unwrap();
    let ack = publish_with_ttl(&js, "ttl.x", "soon gone", Duration::from_millis(1900))
        .await
        .unwrap();
    let stored = stream.get_message(ack.seq).await.unwrap();
    let headers = stored.headers().unwrap().unwrap();
    assert_eq!(headers.get("Nats-TTL"), Some("1900ms"));

    // Under the server's one-second minimum: refused, not silently lengthened.
    let refused = publish_with_ttl(&js, "ttl.y", "too short", Duration::from_millis(500))
        .await
        .unwrap_err();
    match refused {
        JetStreamError::Api(e) => assert_eq!(e.err_code, ErrorCode::MESSAGE_TTL_INVALID),
        other => panic!("expected the server's 10165, got {other:?}"),
    }
}

/// More events than an event listener keeps (1,024): permission violations the server reports
/// one by one.
const EVENT_FLOOD: usize = 1_500;

/// A consume that is not polled while the server restarts and then more than 1,024 other
/// connection events happen (so an event listener would have dropped the disconnect and the
/// reconnect) still resumes: it learns of the reconnect from the link epoch and pulls again,
/// long before its heartbeat alarm (30 s) would have told it.
async fn consume_resumes_after_a_reconnect_it_was_not_polled_for(rt: Rt) {
    let mut server = NatsServer::builder()
        .jetstream(true)
        .config(
            "authorization {\n  users = [\n    { user: \"app\", password: \"secret\", \
             permissions: { publish: { deny: [\"forbidden.>\"] } } }\n  ]\n}\n",
        )
        .start();
    let client = rt.connect(&server.client_url_with("app:secret")).await;
    let mut events = client.events();
    let js = jetstream::new(client.clone());
    let stream = create_stream(&js, "IDLE", &["idle.>"]).await;
    let consumer = stream.create_consumer(durable("sleeper")).await.unwrap();
    publish_range(&js, "idle.x", 0..5).await;
    let mut messages = consumer
        .messages_with(ConsumeOptions::messages(5))
        .await
        .unwrap();
    for _ in 0..5 {
        let message = within(WAIT, "before the restart", messages.next())
            .await
            .unwrap()
            .unwrap();
        message.double_ack().await.unwrap();
    }

    // The consume is not polled from here until the end. A killed server sends no
    // `409 Server Shutdown` that would make the consume pull again by itself.
    server.kill9();
    server.restart();
    reconnected(&mut events, WAIT).await;
    for _ in 0..EVENT_FLOOD {
        client.publish("forbidden.x", "no".into()).await.unwrap();
    }
    // The server reports each violation before it answers the flush's PING.
    within(WAIT, "the flush", client.flush()).await.unwrap();
    let mut violations = 0;
    while let Ok(Some(event)) = futures_lite::future::poll_once(events.next())
        .await
        .ok_or(())
    {
        if matches!(event, ClientEvent::ServerError { .. }) {
            violations += 1;
        }
    }
    // A listener keeps the newest 1,024: this one (like the old consume's) lost the rest,
    // and with them the disconnect and the reconnect.
    assert!(
        (1_024..EVENT_FLOOD).contains(&violations),
        "the flood overflowed a listener: {violations} of {EVENT_FLOOD} kept"
    );

    publish_range(&js, "idle.x", 5..10).await;
    // Anything whose ack the killed server did not persist may come again; what matters
    // is that the new messages come at all.
    let mut after = std::collections::BTreeSet::new();
    within(
        Duration::from_secs(10),
        "the messages published after the reconnect",
        async {
            while !(6..=10).all(|seq| after.contains(&seq)) {
                match messages.next().await {
                    Some(Ok(message)) => {
                        after.insert(message.metadata().unwrap().stream_sequence);
                        message.double_ack().await.unwrap();
                    }
                    Some(Err(_)) => {}
                    None => panic!("the consume ended"),
                }
            }
        },
    )
    .await;
}

on_every_runtime!(
    a_consume_tells_when_its_client_closes,
    consumer_on_a_closed_client_is_a_subscribe_error,
    consume_resumes_after_a_reconnect_it_was_not_polled_for,
    publish_back_pressure_is_retried,
    publish_ttl_keeps_milliseconds,
);
