//! JetStream when things go wrong, against a real nats-server, on tokio, smol and async-std:
//! publish back-pressure retried, TTLs kept to the millisecond, consumers that resume after a
//! reconnect they were not polled for, and subscribe failures reported as such.
//!
//! Each scenario asserts what a user sees: acks that arrive, stored headers, messages
//! delivered after a restart, error kinds to match on.

use std::time::Duration;

use nats_client::jetstream::api::{AckPolicy, ConsumerConfig, StreamConfig};
use nats_client::jetstream::pull::FetchOptions;
use nats_client::jetstream::{self, JetStreamError, JetStreamErrorKind};
use nats_client::nats_sansio::connection::SubscribeError;
use nats_tests::NatsServer;

#[macro_use]
mod common;
use common::runtime::{within, Rt};

const WAIT: Duration = Duration::from_secs(15);

fn js_server() -> NatsServer {
    NatsServer::builder().jetstream(true).start()
}

fn stream_config(name: &str, subjects: &[&str]) -> StreamConfig {
    let mut config = StreamConfig::new(name);
    config.subjects = subjects.iter().map(|s| s.to_string()).collect();
    config
}

fn durable(name: &str) -> ConsumerConfig {
    ConsumerConfig {
        durable_name: name.to_owned(),
        ack_policy: AckPolicy::Explicit,
        ..ConsumerConfig::default()
    }
}

/// A consumer read on a closed client fails because its inbox cannot be subscribed: the
/// error says so and its kind is `Disconnected`, not a malformed server reply.
async fn consumer_on_a_closed_client_is_a_subscribe_error(rt: Rt) {
    let server = js_server();
    let client = rt.connect(&server.url()).await;
    let js = jetstream::new(client.clone());
    let stream = js
        .create_stream(stream_config("CLOSED", &["closed.>"]))
        .await
        .unwrap();
    let consumer = stream.create_consumer(durable("reader")).await.unwrap();
    within(WAIT, "the close", client.close()).await.unwrap();
    let error = consumer
        .fetch(FetchOptions::messages(1))
        .await
        .expect_err("no inbox can be subscribed on a closed client");
    assert_eq!(error.kind(), JetStreamErrorKind::Disconnected, "{error}");
    assert_eq!(error, JetStreamError::Subscribe(SubscribeError::Closed));
}

on_every_runtime!(consumer_on_a_closed_client_is_a_subscribe_error,);
