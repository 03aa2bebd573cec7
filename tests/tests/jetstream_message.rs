//! The JetStream message as an async-nats user writes it, against a real nats-server, on
//! tokio, smol and async-std: acks through a shared reference, the once-only rule for
//! terminal acks (also under concurrent acks), `info()` as `metadata()`, and `split()` into
//! the core message and an `Acker` that acks from another future or another thread.
//!
//! Each scenario ends by asking the server: a fetch that outlives the consumer's ack wait
//! returns nothing (an ack that was lost would have been redelivered within it) and the
//! consumer has no ack pending.

use std::sync::Arc;
use std::time::Duration;

use futures_lite::future;
use futures_lite::StreamExt;
use nats_client::jetstream::api::ConsumerConfig;
use nats_client::jetstream::pull::FetchOptions;
use nats_client::jetstream::{Acker, Consumer, JetStreamError, JsMessage, Stream};

#[macro_use]
mod common;
use common::js::{durable, stream_with_items};
use common::runtime::{within, Rt};

const WAIT: Duration = Duration::from_secs(15);
/// The consumers' ack wait: an unacked message is redelivered after it.
const ACK_WAIT: Duration = Duration::from_secs(2);

/// A durable consumer `name` whose unacked messages come back after [`ACK_WAIT`].
fn redelivering(name: &str) -> ConsumerConfig {
    ConsumerConfig {
        ack_wait: ACK_WAIT,
        ..durable(name)
    }
}

/// Exactly `n` messages from one fetch.
async fn fetch(consumer: &Consumer, n: usize) -> Vec<JsMessage> {
    let mut batch = consumer
        .fetch_with(FetchOptions::messages(n))
        .await
        .unwrap();
    let mut messages = Vec::new();
    while let Some(message) = within(WAIT, "a fetched message", batch.next()).await {
        messages.push(message.unwrap());
    }
    assert_eq!(messages.len(), n, "the fetch returned every message");
    messages
}

/// The server redelivers nothing within a fetch longer than the ack wait, and the consumer
/// `name` has no ack pending.
async fn all_acked(stream: &Stream, consumer: &Consumer, name: &str) {
    let options = FetchOptions {
        expires: Some(ACK_WAIT + Duration::from_secs(1)),
        ..FetchOptions::messages(10)
    };
    let mut fetch = consumer.fetch_with(options).await.unwrap();
    if let Some(message) = within(WAIT, "the end of the fetch", fetch.next()).await {
        let message = message.unwrap();
        panic!("redelivered: {:?}", message.info().unwrap());
    }
    let info = stream.consumer_info(name).await.unwrap();
    assert_eq!(info.num_ack_pending, 0, "no ack is pending");
    assert_eq!(info.num_pending, 0, "nothing is left to deliver");
}

fn is_refused<T: std::fmt::Debug>(result: Result<T, JetStreamError>) -> bool {
    matches!(result, Err(JetStreamError::AlreadyAcked))
}

fn send_sync<T: Send + Sync>(_: &T) {}

/// Terminal acks through `&JsMessage`: whoever holds it may ack; the first terminal ack wins.
async fn ack(message: &JsMessage) -> Result<(), JetStreamError> {
    message.ack().await
}

async fn acks_through_shared_references(rt: Rt) {
    let (_server, _js, stream) = stream_with_items(rt, "SHARED", "shared", 3).await;
    let consumer = stream
        .create_consumer(redelivering("shared"))
        .await
        .unwrap();
    let mut messages = fetch(&consumer, 3).await.into_iter();

    // In an Arc, acked through one clone; the other clone sees it acked.
    let first = Arc::new(messages.next().unwrap());
    send_sync(&first);
    let info = first.info().unwrap();
    assert_eq!(info, first.metadata().unwrap(), "info() is metadata()");
    assert_eq!(
        (
            info.stream.as_str(),
            info.consumer.as_str(),
            info.stream_sequence
        ),
        ("SHARED", "shared", 1)
    );
    let other = Arc::clone(&first);
    let acking = first.ack();
    send_sync(&acking);
    acking.await.unwrap();
    assert!(is_refused(other.ack().await), "a second ack is refused");
    assert!(is_refused(other.nak(None).await), "a nak after the ack");
    assert!(is_refused(other.term(None).await), "a term after the ack");
    assert!(
        is_refused(other.double_ack().await),
        "a double ack after the ack"
    );
    assert!(
        is_refused(other.in_progress().await),
        "progress after the ack"
    );

    // Two terminal acks at once on one shared reference: exactly one goes out.
    let second = messages.next().unwrap();
    let (a, b) = future::zip(ack(&second), second.term(Some("dup".into()))).await;
    assert!(
        a.is_ok() != b.is_ok() && (is_refused(a.clone()) || is_refused(b.clone())),
        "one of two concurrent terminal acks is refused: {a:?}, {b:?}"
    );

    // Progress may repeat; the double ack is terminal.
    let third = messages.next().unwrap();
    third.in_progress().await.unwrap();
    third.in_progress().await.unwrap();
    third.double_ack().await.unwrap();
    assert!(is_refused(ack(&third).await), "an ack after the double ack");

    all_acked(&stream, &consumer, "shared").await;
}

async fn split_acks_from_another_future_and_thread(rt: Rt) {
    let (_server, _js, stream) = stream_with_items(rt, "SPLIT", "split", 3).await;
    let consumer = stream.create_consumer(redelivering("split")).await.unwrap();
    let mut messages = fetch(&consumer, 3).await.into_iter();

    // The core message to one future, the acks to another, joined.
    let (message, acker) = messages.next().unwrap().split();
    send_sync(&acker);
    let application = async move {
        assert_eq!(&message.payload[..], b"0");
        message.subject.to_string()
    };
    let acking = async move {
        acker.ack().await.unwrap();
        acker
    };
    let (subject, acker) = within(WAIT, "the split ack", future::zip(application, acking)).await;
    assert_eq!(subject, "split.item");
    assert!(is_refused(acker.ack().await), "the Acker acks once");
    assert!(
        is_refused(acker.in_progress().await),
        "no progress after it"
    );

    // The Acker moved into a thread that acks on its own executor.
    let (message, acker) = messages.next().unwrap().split();
    assert_eq!(&message.payload[..], b"1");
    let (sent, done) = smol::channel::bounded::<(Acker, Result<(), JetStreamError>)>(1);
    let thread = std::thread::spawn(move || {
        let result = future::block_on(async {
            acker.in_progress().await?;
            acker.double_ack().await
        });
        sent.send_blocking((acker, result)).unwrap();
    });
    let (acker, result) = within(WAIT, "the thread's double ack", done.recv())
        .await
        .unwrap();
    thread.join().unwrap();
    result.unwrap();
    assert!(
        is_refused(acker.nak(None).await),
        "no nak after the double ack"
    );

    // A message acked before the split gives an Acker that refuses.
    let third = messages.next().unwrap();
    third.ack().await.unwrap();
    let (message, acker) = third.split();
    assert_eq!(&message.payload[..], b"2");
    assert!(is_refused(acker.ack().await), "acked before the split");
    assert!(is_refused(acker.term(None).await), "acked before the split");

    all_acked(&stream, &consumer, "split").await;
}

on_every_runtime!(
    acks_through_shared_references,
    split_acks_from_another_future_and_thread,
);
