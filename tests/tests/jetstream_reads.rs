//! Reading JetStream in bulk against a real nats-server, on tokio, smol and async-std: stream
//! info subjects past the server's page size, and batched Direct Gets.
//!
//! Each scenario asserts what a user sees: every subject counted, every message of a batch
//! in order, the end-of-batch numbers, errors with the kinds the spec gives them.

use std::time::Duration;

use futures_lite::StreamExt;
use nats_client::jetstream::api::{ApiErrorKind, DirectGetRequest, StorageType, StreamInfoRequest};
use nats_client::jetstream::direct::{DirectMessage, EndOfBatch};
use nats_client::jetstream::{self, JetStreamError, JetStreamErrorKind, Stream};

#[macro_use]
mod common;
use common::js::{js_server, stream_config};
use common::runtime::{within, Rt};

const WAIT: Duration = Duration::from_secs(60);

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
    // Acknowledged publishes, a window at a time: a plain publish the stream's ingest queue
    // cannot take would be dropped without a word.
    within(WAIT, "the publishes", async {
        let subjects: Vec<usize> = (0..SUBJECTS).collect();
        for window in subjects.chunks(2_000) {
            let mut acks = Vec::with_capacity(window.len());
            for i in window {
                acks.push(js.publish(&format!("wide.{i}"), "x".into()).await.unwrap());
            }
            for ack in acks {
                ack.await.unwrap();
            }
        }
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
    assert_eq!(
        info.state.subjects.len(),
        SUBJECTS,
        "every subject, from every page"
    );
    assert_eq!(info.state.subjects.get("wide.0"), Some(&1));
    assert_eq!(
        info.state.subjects.get(&format!("wide.{}", SUBJECTS - 1)),
        Some(&1)
    );
    assert_eq!(info.state.messages, SUBJECTS as u64);
}

/// Every item of the batched direct get `request` on `stream`, until it ends.
async fn direct_get_batch(
    stream: &Stream,
    request: DirectGetRequest,
) -> (
    Vec<Result<DirectMessage, JetStreamError>>,
    Option<EndOfBatch>,
) {
    let mut batch = stream.direct_get_batch(&request).await.unwrap();
    let mut items = Vec::new();
    while let Some(item) = within(WAIT, "the next direct get reply", batch.next()).await {
        items.push(item);
    }
    (items, batch.end_of_batch())
}

fn sequences(items: &[Result<DirectMessage, JetStreamError>]) -> Vec<u64> {
    items
        .iter()
        .map(|item| item.as_ref().expect("a message").sequence)
        .collect()
}

/// A batch or `multi_last` direct get yields every message, not just the first, then ends
/// at the server's `204 EOB` with its numbers; no match is a `NoMessageFound` error.
async fn direct_get_batches_yield_every_message(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let mut config = stream_config("KV", &["kv.>"]);
    config.allow_direct = true;
    let stream = js.create_stream(config).await.unwrap();
    // kv.a: 1 3 5 7 9, kv.b: 2 4 6 8 10.
    for i in 1..=10 {
        let key = if i % 2 == 1 { "kv.a" } else { "kv.b" };
        js.publish(key, format!("v{i}").into())
            .await
            .unwrap()
            .await
            .unwrap();
    }

    // A batch of 4 from sequence 3: 3, 4, 5, 6, with 4 more pending.
    let (items, end) = direct_get_batch(
        &stream,
        DirectGetRequest {
            seq: 3,
            batch: 4,
            ..DirectGetRequest::default()
        },
    )
    .await;
    assert_eq!(sequences(&items), [3, 4, 5, 6]);
    let first = items[0].as_ref().unwrap();
    assert_eq!(
        (first.subject(), &first.message.payload[..]),
        ("kv.a", &b"v3"[..])
    );
    let end = end.expect("the batch ended at its EOB");
    assert_eq!((end.num_pending, end.last_sequence), (4, 6));

    // One subject, next-by-subject: every message of kv.b from 1.
    let (items, end) = direct_get_batch(
        &stream,
        DirectGetRequest {
            seq: 1,
            next_by_subj: "kv.b".into(),
            batch: 100,
            ..DirectGetRequest::default()
        },
    )
    .await;
    assert_eq!(sequences(&items), [2, 4, 6, 8, 10]);
    assert_eq!(end.unwrap().num_pending, 0);

    // The last message of every subject, without a batch size: still a batch with an EOB.
    let (items, end) = direct_get_batch(
        &stream,
        DirectGetRequest {
            multi_last: vec!["kv.*".into()],
            ..DirectGetRequest::default()
        },
    )
    .await;
    assert_eq!(sequences(&items), [9, 10]);
    assert_eq!(end.unwrap().up_to_sequence, Some(10));

    // No match: one error item, then the end.
    let (items, end) = direct_get_batch(
        &stream,
        DirectGetRequest {
            multi_last: vec!["kv.none".into()],
            ..DirectGetRequest::default()
        },
    )
    .await;
    assert_eq!(items.len(), 1);
    let error = items[0].as_ref().unwrap_err();
    assert_eq!(
        error.api_kind(),
        Some(ApiErrorKind::NoMessageFound),
        "{error}"
    );
    assert_eq!(end, None);
    // Past the end of the stream: the same.
    let (items, _) = direct_get_batch(
        &stream,
        DirectGetRequest {
            seq: 50,
            batch: 3,
            ..DirectGetRequest::default()
        },
    )
    .await;
    assert_eq!(
        items[0].as_ref().unwrap_err().api_kind(),
        Some(ApiErrorKind::NoMessageFound)
    );

    // Conflicting selectors: the server refuses the request (408), an invalid request.
    let (items, _) = direct_get_batch(
        &stream,
        DirectGetRequest {
            last_by_subj: "kv.a".into(),
            batch: 2,
            ..DirectGetRequest::default()
        },
    )
    .await;
    let error = items[0].as_ref().unwrap_err();
    assert_eq!(error.kind(), JetStreamErrorKind::InvalidRequest, "{error}");

    // The single-message call does not silently drop the rest of a batch.
    let refused = stream
        .direct_get(&DirectGetRequest {
            seq: 1,
            batch: 3,
            ..DirectGetRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        refused.kind(),
        JetStreamErrorKind::InvalidRequest,
        "{refused}"
    );
}

on_every_runtime!(
    stream_info_subjects_past_one_page,
    direct_get_batches_yield_every_message,
);
