//! Reading JetStream in bulk against a real nats-server, on tokio, smol and async-std: stream
//! info subjects past the server's page size, and batched Direct Gets.
//!
//! Each scenario asserts what a user sees: every subject counted, every message of a batch
//! in order, the end-of-batch numbers, errors with the kinds the spec gives them.

use std::time::Duration;

use nats_client::jetstream::api::{StorageType, StreamConfig, StreamInfoRequest};
use nats_client::jetstream;
use nats_tests::NatsServer;

#[macro_use]
mod common;
use common::runtime::{within, Rt};

const WAIT: Duration = Duration::from_secs(60);

fn js_server() -> NatsServer {
    NatsServer::builder().jetstream(true).start()
}

fn stream_config(name: &str, subjects: &[&str]) -> StreamConfig {
    let mut config = StreamConfig::new(name);
    config.subjects = subjects.iter().map(|s| s.to_string()).collect();
    config
}

/// The server sends at most 100,000 subjects per stream info (`JSMaxSubjectDetails`): a
/// stream with more distinct subjects comes back complete, from several pages.
async fn stream_info_subjects_past_one_page(rt: Rt) {
    const SUBJECTS: usize = 100_000 + 1_500;
    let server = js_server();
    let client = rt.connect(&server.url()).await;
    let js = jetstream::new(client.clone());
    let mut config = stream_config("WIDE", &["wide.>"]);
    config.storage = StorageType::Memory;
    js.create_stream(config).await.unwrap();
    // Plain publishes (no acks) are the fastest way in; the stream count says when all
    // are stored.
    within(WAIT, "the publishes", async {
        for i in 0..SUBJECTS {
            client
                .publish(&format!("wide.{i}"), "x")
                .await
                .unwrap();
        }
        client.flush().await.unwrap();
    })
    .await;
    within(WAIT, "every message stored", async {
        while js.stream_info("WIDE").await.unwrap().state.messages < SUBJECTS as u64 {
            async_io::Timer::after(Duration::from_millis(50)).await;
        }
    })
    .await;
    let info = within(
        WAIT,
        "the stream info with subjects",
        js.stream_info_with(
            "WIDE",
            &StreamInfoRequest {
                subjects_filter: "wide.>".into(),
                ..StreamInfoRequest::default()
            },
        ),
    )
    .await
    .unwrap();
    assert_eq!(info.state.subjects.len(), SUBJECTS, "every subject, from every page");
    assert_eq!(info.state.subjects.get("wide.0"), Some(&1));
    assert_eq!(info.state.subjects.get(&format!("wide.{}", SUBJECTS - 1)), Some(&1));
    assert_eq!(info.state.messages, SUBJECTS as u64);
}

on_every_runtime!(stream_info_subjects_past_one_page,);
