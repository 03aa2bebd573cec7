//! JetStream test material shared by the integration tests: a JetStream-enabled server,
//! streams and durable-consumer configurations, and publishing with every ack awaited.

use std::ops::Range;
use std::time::Duration;

use futures_lite::StreamExt;
use nats_client::jetstream::api::{AckPolicy, ConsumerConfig, StreamConfig};
use nats_client::jetstream::{Context, Pages, Stream};
use nats_tests::NatsServer;

use super::runtime::within;

/// How long one publish may wait for its ack.
const ACK_WAIT: Duration = Duration::from_secs(30);

/// A nats-server with JetStream enabled.
pub(crate) fn js_server() -> NatsServer {
    NatsServer::builder().jetstream(true).start()
}

/// A stream `name` that stores the `subjects`; otherwise the server's defaults.
pub(crate) fn stream_config(name: &str, subjects: &[&str]) -> StreamConfig {
    let mut config = StreamConfig::new(name);
    config.subjects = subjects.iter().map(|s| s.to_string()).collect();
    config
}

/// Creates the stream `name` that stores the `subjects`.
pub(crate) async fn create_stream(js: &Context, name: &str, subjects: &[&str]) -> Stream {
    js.create_stream(stream_config(name, subjects))
        .await
        .unwrap_or_else(|e| panic!("creating the stream {name}: {e}"))
}

/// A durable pull consumer `name` with explicit acks.
pub(crate) fn durable(name: &str) -> ConsumerConfig {
    ConsumerConfig {
        durable_name: name.to_owned(),
        ack_policy: AckPolicy::Explicit,
        ..ConsumerConfig::default()
    }
}

/// Publishes the numbers of `range` as payloads to `subject`, one at a time, each stored
/// (its ack awaited) before the next.
pub(crate) async fn publish_range(js: &Context, subject: &str, range: Range<u64>) {
    for i in range {
        let what = format!("the ack of {subject} {i}");
        within(ACK_WAIT, &what, async {
            js.publish(subject, format!("{i}").into())
                .await
                .unwrap()
                .await
        })
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    }
}

/// Every item of a listing (all its pages), or a panic naming the error.
pub(crate) async fn all<T>(pages: Pages<T>) -> Vec<T> {
    pages
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("listing: {e}"))
}

/// A JetStream server, a context on a client of it with default options, and the stream
/// `name` on `<prefix>.>` holding `messages` messages published to `<prefix>.item`.
pub(crate) async fn stream_with_items(
    rt: super::runtime::Rt,
    name: &str,
    prefix: &str,
    messages: u64,
) -> (NatsServer, Context, Stream) {
    let server = js_server();
    let js = nats_client::jetstream::new(rt.connect(&server.url()).await);
    let stream = create_stream(&js, name, &[&format!("{prefix}.>")]).await;
    publish_range(&js, &format!("{prefix}.item"), 0..messages).await;
    (server, js, stream)
}

/// `n` bytes of the fixed pattern the object-store tests put (the nats-py interop script
/// generates the same).
pub(crate) fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + 3) % 251) as u8).collect()
}

/// The bytes of object `name`, read to the end through its async reader.
pub(crate) async fn read_object(
    store: &nats_client::jetstream::object_store::ObjectStore,
    name: &str,
) -> Vec<u8> {
    use futures_lite::AsyncReadExt;
    let mut object = store
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("getting {name}: {e}"));
    let mut bytes = Vec::new();
    within(
        Duration::from_secs(60),
        "an object's bytes",
        object.read_to_end(&mut bytes),
    )
    .await
    .unwrap_or_else(|e| panic!("reading {name}: {e}"));
    bytes
}
