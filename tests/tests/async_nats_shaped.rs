//! Small programs that use our API the way async-nats 0.51's examples use theirs
//! (`examples/docs_*.rs`, `examples/jetstream_pull.rs`, the crate docs), each written so
//! that the async-nats version would differ only in its imports and its connect line
//! (`nats_client::tokio::connect(url)` here, `async_nats::connect(url)` there) — except
//! where listed below. Each `#[test]` runs one program against a real nats-server on a
//! current-thread tokio runtime and checks what the program returns.
//!
//! Everywhere: the error type is `nats_client::Error`, the same boxed error as
//! `async_nats::Error` (imports only); payloads are `Bytes`, written `"data".into()` as in
//! async-nats.
//!
//! Per program, beyond imports and the connect line:
//! 1. `program_publish_subscribe` (publish, `subscribe(..).take(n)`, `next().await`): no
//!    difference.
//! 2. `program_queue_group` (two worker clients in one queue group, requests split between
//!    them): no difference in the code. One in behaviour: the workers call `flush()` after
//!    `queue_subscribe` so their subscriptions reach the server before the first request
//!    (they are other connections than the requester's). Our `flush()` is a PING/PONG
//!    round trip, so that suffices; async-nats's `flush()` only writes the buffer out, so
//!    there the same line does not guarantee the server has the subscription.
//! 3. `program_request_reply` (responder task, `request`): no difference.
//! 4. `program_headers` (`request_with_headers`, a reply with headers): `HeaderMap::get`
//!    returns `Option<&str>`, not `Option<&HeaderValue>`, so the example's
//!    `request_id.as_str()` does not compile; `.to_string()` (written here) works on both.
//! 5. `program_jetstream_publish` (stream created with `jetstream::stream::Config`,
//!    publishes acked): the ack's sequence is `ack.seq` (async-nats: `ack.sequence`): our
//!    API types keep the server's JSON field names.
//! 6. `program_pull_consume` (durable `jetstream::consumer::pull::Config`, `messages()`,
//!    acks): `durable_name` is a `String`, written `"consumer".into()` (async-nats:
//!    `Some("consumer".into())`): in our configs an unset string is empty, as on the wire.
//! 7. `program_fetch_batch` (`fetch().max_messages(10).messages()` repeated until a batch
//!    comes back empty): `durable_name` as in 6.
//! 8. `program_key_value` (`create_key_value`, `put`, `get`, `history`, `keys`, `watch`): no
//!    difference (the keys are collected with futures-lite's `try_collect::<_, _, Vec<_>>`,
//!    which works on both); `watch` sends only what is written after it, as async-nats's.
//! 9. `program_object_store` (`create_object_store`, `put` from a `tokio::fs::File`, `get`
//!    read with tokio's `read_to_end`): `put` takes a `futures` reader (any runtime's), so
//!    the tokio file is wrapped: `&mut TokioReader::new(file)` instead of `&mut file`.
//! 10. `program_service` (`service_builder().description(..).start(name, version)`,
//!     `endpoint`, `request.respond(Ok(..))`, `stop`): no difference.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures_lite::StreamExt;
use nats_client::jetstream;
use nats_client::{Error, HeaderMap};
use nats_tests::NatsServer;

#[macro_use]
mod common;
use common::runtime::within;

/// How long a program (or a check after it) may take before the test fails.
const WAIT: Duration = Duration::from_secs(30);

// ---- The programs -------------------------------------------------------------------------

/// Publishes ten messages and reads them back on a subscription (async-nats's crate-level
/// example). Returns the payloads received, in order.
async fn program_publish_subscribe(url: String) -> Result<Vec<Bytes>, Error> {
    let client = nats_client::tokio::connect(url).await?;

    let mut subscriber = client.subscribe("messages").await?.take(10);
    for i in 0..10 {
        client
            .publish("messages", format!("data {i}").into())
            .await?;
    }

    let mut received = Vec::new();
    while let Some(message) = subscriber.next().await {
        received.push(message.payload);
    }
    Ok(received)
}

/// Two workers, each its own client with default options, in the queue group
/// `api-workers`, answer requests (`docs_queue_groups_request_reply.rs`). Returns how many
/// requests each worker handled, by the name it answered with.
async fn program_queue_group(url: String) -> Result<BTreeMap<String, usize>, Error> {
    let client = nats_client::tokio::connect(url.clone()).await?;

    for worker in ["worker-a", "worker-b"] {
        let worker_client = nats_client::tokio::connect(url.clone()).await?;
        let mut sub = worker_client
            .queue_subscribe("api.calculate", "api-workers".to_string())
            .await?;
        worker_client.flush().await?;

        tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                if let Some(reply) = msg.reply {
                    worker_client.publish(reply, worker.into()).await.ok();
                }
            }
        });
    }

    let mut handled = BTreeMap::new();
    for i in 0..50 {
        let response = client
            .request("api.calculate", format!("request {i}").into())
            .await?;
        let worker = String::from_utf8(response.payload.to_vec())?;
        *handled.entry(worker).or_insert(0) += 1;
    }
    Ok(handled)
}

/// A responder task answers on `time`; the program asks five times
/// (`docs_request_reply_basic.rs`). Returns the answers.
async fn program_request_reply(url: String) -> Result<Vec<String>, Error> {
    let client = nats_client::tokio::connect(url).await?;

    let mut sub = client.subscribe("time").await?;
    let service_client = client.clone();

    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let answer = format!("answer to {}", String::from_utf8_lossy(&msg.payload));
            if let Some(reply) = msg.reply {
                service_client.publish(reply, answer.into()).await.ok();
            }
        }
    });

    let mut answers = Vec::new();
    for i in 0..5 {
        let response = client
            .request("time", format!("question {i}").into())
            .await?;
        answers.push(String::from_utf8(response.payload.to_vec())?);
    }
    Ok(answers)
}

/// What `program_headers` saw.
#[derive(Debug)]
struct HeadersSeen {
    payload: Bytes,
    response_id: Option<String>,
    priority_seen_by_service: Option<String>,
}

/// A request with headers; the service echoes the payload and copies `X-Request-ID` into
/// `X-Response-ID` (`docs_request_reply_headers.rs`), and reports the `X-Priority` it saw
/// in an `X-Priority-Seen` header.
async fn program_headers(url: String) -> Result<HeadersSeen, Error> {
    let client = nats_client::tokio::connect(url).await?;

    let mut sub = client.subscribe("service").await?;
    let service_client = client.clone();
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let Some(reply) = msg.reply else { continue };
            let mut headers = HeaderMap::new();
            if let Some(request_id) = msg.headers.as_ref().and_then(|h| h.get("X-Request-ID")) {
                headers.insert("X-Response-ID", request_id.to_string());
            }
            if let Some(priority) = msg.headers.as_ref().and_then(|h| h.get("X-Priority")) {
                headers.insert("X-Priority-Seen", priority.to_string());
            }
            service_client
                .publish_with_headers(reply, headers, msg.payload)
                .await
                .ok();
        }
    });

    let mut headers = HeaderMap::new();
    headers.insert("X-Request-ID", "123");
    headers.insert("X-Priority", "high");

    let response = client
        .request_with_headers("service", headers, "data".into())
        .await?;

    let header = |name: &str| {
        response
            .headers
            .as_ref()
            .and_then(|h| h.get(name))
            .map(|value| value.to_string())
    };
    Ok(HeadersSeen {
        response_id: header("X-Response-ID"),
        priority_seen_by_service: header("X-Priority-Seen"),
        payload: response.payload,
    })
}

/// What `program_jetstream_publish` saw.
#[derive(Debug)]
struct Published {
    streams: Vec<String>,
    sequences: Vec<u64>,
    stored: u64,
}

/// Creates the stream `EVENTS` on `events.>` and publishes ten messages, awaiting each ack
/// (`jetstream_pull.rs`, `docs_learn_jetstream_publishing_pub_ack.rs`). Returns the acks'
/// streams and sequences and how many messages the stream then holds.
async fn program_jetstream_publish(url: String) -> Result<Published, Error> {
    let client = nats_client::tokio::connect(url).await?;
    let jetstream = jetstream::new(client);

    let mut stream = jetstream
        .create_stream(jetstream::stream::Config {
            name: "EVENTS".to_string(),
            subjects: vec!["events.>".into()],
            ..Default::default()
        })
        .await?;

    let mut streams = Vec::new();
    let mut sequences = Vec::new();
    for i in 0..10 {
        let ack = jetstream
            .publish(format!("events.{i}"), "data".into())
            .await?
            .await?;
        streams.push(ack.stream);
        sequences.push(ack.seq);
    }

    let stored = stream.info().await?.state.messages;
    Ok(Published {
        streams,
        sequences,
        stored,
    })
}

/// Creates the stream `EVENTS` and a durable pull consumer on it, publishes ten messages,
/// then consumes them with `messages()`, acking each (`jetstream_pull.rs`). Returns the
/// subjects consumed, in order.
async fn program_pull_consume(url: String) -> Result<Vec<String>, Error> {
    let client = nats_client::tokio::connect(url).await?;
    let jetstream = jetstream::new(client);

    let consumer = jetstream
        .create_stream(jetstream::stream::Config {
            name: "EVENTS".to_string(),
            subjects: vec!["events.>".into()],
            ..Default::default()
        })
        .await?
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: "consumer".into(),
            ..Default::default()
        })
        .await?;

    for i in 0..10 {
        jetstream
            .publish(format!("events.{i}"), "data".into())
            .await?
            .await?;
    }

    let mut messages = consumer.messages().await?.take(10);

    let mut subjects = Vec::new();
    while let Some(message) = messages.next().await {
        let message = message?;
        subjects.push(message.subject.to_string());
        message.ack().await?;
    }
    Ok(subjects)
}

/// Creates the stream `ORDERS` and the durable consumer `shipping`, publishes fifteen
/// orders, then fetches batches of at most ten, acking each message, until a fetch comes
/// back empty (`docs_learn_jetstream_pull_consumers_fetch_batch.rs`). Returns the size of
/// each non-empty batch.
async fn program_fetch_batch(url: String) -> Result<Vec<usize>, Error> {
    let client = nats_client::tokio::connect(url).await?;
    let js = jetstream::new(client);

    let stream = js
        .create_stream(jetstream::stream::Config {
            name: "ORDERS".to_string(),
            subjects: vec!["orders.>".to_string()],
            ..Default::default()
        })
        .await?;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: "shipping".to_string(),
            ..Default::default()
        })
        .await?;

    for i in 0..15 {
        js.publish(format!("orders.{i}"), format!("order {i}").into())
            .await?
            .await?;
    }

    let mut batches = Vec::new();
    loop {
        let mut messages = consumer.fetch().max_messages(10).messages().await?;
        let mut batch = 0;
        while let Some(msg) = messages.next().await {
            let msg = msg?;
            msg.ack().await?;
            batch += 1;
        }
        if batch == 0 {
            break;
        }
        batches.push(batch);
    }
    Ok(batches)
}

/// What `program_key_value` saw.
#[derive(Debug)]
struct KeyValueSeen {
    value: Option<Bytes>,
    revisions: Vec<u64>,
    history: Vec<String>,
    keys: Vec<String>,
    watched: Vec<String>,
}

/// Creates the bucket `kv` (history 10), writes and reads keys, lists the history and the
/// keys, and watches a key while another write lands (`examples/kv.rs`,
/// `docs_learn_kv_*.rs`). Returns what it read.
async fn program_key_value(url: String) -> Result<KeyValueSeen, Error> {
    let client = nats_client::tokio::connect(url).await?;
    let jetstream = jetstream::new(client);

    let kv = jetstream
        .create_key_value(jetstream::kv::Config {
            bucket: "kv".to_string(),
            history: 10,
            ..Default::default()
        })
        .await?;

    let mut revisions = Vec::new();
    revisions.push(kv.put("sue.color", "blue".into()).await?);
    revisions.push(kv.put("sue.color", "green".into()).await?);
    revisions.push(kv.put("sue.age", "42".into()).await?);
    let value = kv.get("sue.color").await?;

    let mut entries = kv.history("sue.color").await?;
    let mut history = Vec::new();
    while let Some(entry) = entries.next().await {
        let entry = entry?;
        history.push(String::from_utf8_lossy(&entry.value).into_owned());
    }

    let mut keys = kv.keys().await?.try_collect::<_, _, Vec<String>>().await?;
    keys.sort();

    let mut watch = kv.watch("sue.*").await?;
    kv.put("sue.color", "red".into()).await?;
    kv.put("sue.age", "43".into()).await?;
    kv.put("sue.color", "blue".into()).await?;
    let mut watched = Vec::new();
    while let Some(entry) = watch.next().await {
        let entry = entry?;
        watched.push(format!(
            "{}={}",
            entry.key,
            String::from_utf8_lossy(&entry.value)
        ));
        if watched.len() == 3 {
            break;
        }
    }
    Ok(KeyValueSeen {
        value,
        revisions,
        history,
        keys,
        watched,
    })
}

/// Creates the object store `bucket`, puts a file into it and reads the object back
/// (async-nats's object-store example). Returns the bytes read and the stored size.
async fn program_object_store(
    url: String,
    path: std::path::PathBuf,
) -> Result<(Vec<u8>, u64), Error> {
    use nats_client::jetstream::object_store::TokioReader;
    use tokio::io::AsyncReadExt;

    let client = nats_client::tokio::connect(url).await?;
    let jetstream = jetstream::new(client);

    let bucket = jetstream
        .create_object_store(jetstream::object_store::Config {
            bucket: "bucket".to_string(),
            ..Default::default()
        })
        .await?;

    let file = tokio::fs::File::open(path).await?;
    let info = bucket.put("FOO", &mut TokioReader::new(file)).await?;

    let mut object = bucket.get("FOO").await?;
    let mut result = Vec::new();
    object.read_to_end(&mut result).await?;
    Ok((result, info.size))
}

/// Starts the service `generator` with an endpoint `echo` that answers each request with its
/// payload, and calls it (async-nats's service example). Returns the replies.
async fn program_service(url: String) -> Result<Vec<String>, Error> {
    use nats_client::service::ServiceExt;

    let client = nats_client::tokio::connect(url).await?;

    let service = client
        .service_builder()
        .description("a service that echoes")
        .start("generator", "1.0.0")
        .await?;

    let mut endpoint = service.endpoint("echo").await?;
    tokio::spawn(async move {
        while let Some(request) = endpoint.next().await {
            let payload = request.message.payload.clone();
            request.respond(Ok(payload)).await.ok();
        }
    });

    let mut replies = Vec::new();
    for word in ["one", "two", "three"] {
        let reply = client.request("echo", word.into()).await?;
        replies.push(String::from_utf8(reply.payload.to_vec())?);
    }
    service.stop().await?;
    Ok(replies)
}

// ---- The tests ----------------------------------------------------------------------------

/// Runs `future` to completion on a current-thread tokio runtime.
fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

/// A nats-server with JetStream enabled.
fn server() -> NatsServer {
    NatsServer::builder().jetstream(true).start()
}

/// Runs `program` against a fresh server (at most `WAIT`), then `check` with what it
/// returned and the server's URL, on the program's runtime (whose driver writes the acks the
/// program queued last).
fn run_then<T, F, C>(
    name: &str,
    program: impl FnOnce(String) -> F,
    check: impl FnOnce(T, String) -> C,
) where
    F: Future<Output = Result<T, Error>>,
    C: Future<Output = ()>,
{
    let server = server();
    block_on(async {
        let out = within(WAIT, name, program(server.url()))
            .await
            .expect("the program returns Ok");
        check(out, server.url()).await;
    });
}

/// Runs `program` against a fresh server (at most `WAIT`); returns the server and what the
/// program returned.
fn run<T, F: Future<Output = Result<T, Error>>>(
    name: &str,
    program: impl FnOnce(String) -> F,
) -> (NatsServer, T) {
    let server = server();
    let result = block_on(within(WAIT, name, program(server.url())));
    (server, result.expect("the program returns Ok"))
}

/// Waits (at most `WAIT`) until the server counts every message of `consumer` on `stream`
/// up to stream sequence `last` as acknowledged: acks are fire-and-forget, so the server
/// may process them after the program returns.
async fn all_acked(url: &str, stream: &str, consumer: &str, last: u64) {
    let js = jetstream::new(nats_client::tokio::connect(url).await.unwrap());
    within(
        WAIT,
        "the consumer's ack floor to reach the last message",
        async {
            loop {
                let info = js
                    .get_consumer_from_stream(consumer, stream)
                    .await
                    .unwrap()
                    .cached_info()
                    .clone();
                if info.num_ack_pending == 0 && info.ack_floor.stream_seq == last {
                    assert_eq!(info.num_pending, 0, "nothing left to deliver");
                    return;
                }
            }
        },
    )
    .await
}

#[test]
fn publish_subscribe() {
    let (_server, received) = run("program_publish_subscribe", program_publish_subscribe);
    let expected: Vec<Bytes> = (0..10).map(|i| format!("data {i}").into()).collect();
    assert_eq!(received, expected);
}

#[test]
fn queue_group() {
    let (_server, handled) = run("program_queue_group", program_queue_group);
    assert_eq!(handled.values().sum::<usize>(), 50, "{handled:?}");
    // The server picks a member at random for each request: both get some of 50 (all 50 to
    // one worker has a chance of 2^-49).
    assert_eq!(
        handled.keys().map(String::as_str).collect::<Vec<_>>(),
        ["worker-a", "worker-b"],
        "both workers took requests: {handled:?}"
    );
}

#[test]
fn request_reply() {
    let (_server, answers) = run("program_request_reply", program_request_reply);
    let expected: Vec<String> = (0..5).map(|i| format!("answer to question {i}")).collect();
    assert_eq!(answers, expected);
}

#[test]
fn headers() {
    let (_server, seen) = run("program_headers", program_headers);
    assert_eq!(&seen.payload[..], b"data");
    assert_eq!(seen.response_id.as_deref(), Some("123"));
    assert_eq!(seen.priority_seen_by_service.as_deref(), Some("high"));
}

#[test]
fn jetstream_publish() {
    let (_server, published) = run("program_jetstream_publish", program_jetstream_publish);
    assert_eq!(published.sequences, (1..=10).collect::<Vec<u64>>());
    assert!(
        published.streams.iter().all(|s| s == "EVENTS"),
        "{published:?}"
    );
    assert_eq!(published.stored, 10);
}

#[test]
fn pull_consume() {
    run_then(
        "program_pull_consume",
        program_pull_consume,
        |subjects, url| async move {
            let expected: Vec<String> = (0..10).map(|i| format!("events.{i}")).collect();
            assert_eq!(subjects, expected);
            all_acked(&url, "EVENTS", "consumer", 10).await;
        },
    );
}

#[test]
fn fetch_batch() {
    run_then(
        "program_fetch_batch",
        program_fetch_batch,
        |batches, url| async move {
            assert_eq!(batches, [10, 5]);
            all_acked(&url, "ORDERS", "shipping", 15).await;
        },
    );
}

#[test]
fn key_value() {
    let (_server, seen) = run("the key-value program", program_key_value);
    assert_eq!(seen.value.as_deref(), Some(&b"green"[..]));
    assert_eq!(seen.revisions, [1, 2, 3]);
    assert_eq!(seen.history, ["blue", "green"]);
    assert_eq!(seen.keys, ["sue.age", "sue.color"]);
    // `watch` sends what is written after it, in order (async-nats's meaning).
    assert_eq!(
        seen.watched,
        ["sue.color=red", "sue.age=43", "sue.color=blue"]
    );
}

#[test]
fn object_store() {
    let dir = nats_tests::TempDir::new("object-store-program");
    let path = dir.path().join("foo.txt");
    let contents: Vec<u8> = (0..300_000).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &contents).unwrap();
    let (_server, (read, size)) = run("the object-store program", |url| {
        program_object_store(url, path)
    });
    assert_eq!(size, contents.len() as u64);
    assert!(read == contents, "the bytes read back are the file's");
}

#[test]
fn service() {
    let (_server, replies) = run("the service program", program_service);
    assert_eq!(replies, ["one", "two", "three"]);
}
