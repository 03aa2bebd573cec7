//! Object stores against a real nats-server (JetStream), on tokio, smol and async-std:
//! buckets (create, bind, list, status, seal, delete), objects put from a reader and read
//! back byte for byte at every size around the chunk boundaries, metadata and renames,
//! deletes, links, listing and watching, a corrupted chunk caught by the digest check, and a
//! put interrupted by a server restart.
//!
//! Each scenario asserts what a user sees: the bytes read back, the records, typed errors.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_lite::{AsyncRead, AsyncReadExt, StreamExt};
use nats_client::jetstream::object_store::{self, Error, ObjectMeta, ObjectStoreError};
use nats_client::jetstream::{self, Context};
use nats_tests::NatsServer;

#[macro_use]
mod common;
use common::js::{js_server, pattern, read_object};
use common::runtime::{within, Rt};

const WAIT: Duration = Duration::from_secs(30);
/// The default chunk size.
const CHUNK: usize = 128 * 1024;

fn bucket(name: &str) -> object_store::Config {
    object_store::Config {
        bucket: name.into(),
        ..Default::default()
    }
}

fn os_error<T: std::fmt::Debug>(result: Result<T, Error>) -> ObjectStoreError {
    match result {
        Err(Error::ObjectStore(e)) => e,
        other => panic!("expected an object-store error, got {other:?}"),
    }
}

async fn objects_round_trip_at_every_size(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let store = js.create_object_store(bucket("sizes")).await.unwrap();
    for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5] {
        let data = pattern(size);
        let name = format!("object-{size}");
        let info = store.put(name.as_str(), &mut &data[..]).await.unwrap();
        assert_eq!(info.size, size as u64);
        assert_eq!(info.chunks, size.div_ceil(CHUNK) as u64, "{size} bytes");
        assert!(info.digest.starts_with("SHA-256="), "{}", info.digest);
        assert_eq!(
            read_object(&store, &name).await,
            data,
            "{size} bytes read back"
        );
        let stored = store.info(&name).await.unwrap();
        assert_eq!((stored.size, stored.digest), (info.size, info.digest));
    }
    // Replacing an object: the new bytes, the old chunks gone.
    store
        .put_bytes("object-1", Bytes::from_static(b"replaced"))
        .await
        .unwrap();
    assert_eq!(read_object(&store, "object-1").await, b"replaced");
    // A reader yielding odd-sized pieces, and a custom chunk size.
    let data = pattern(300_000);
    let meta = ObjectMeta {
        chunk_size: Some(50_000),
        ..ObjectMeta::new("custom")
    };
    let info = store
        .put(meta, &mut Trickle::new(&data, 777))
        .await
        .unwrap();
    assert_eq!(info.chunks, 6);
    assert_eq!(read_object(&store, "custom").await, data);
}

/// A put with a window of one chunk: every chunk waits for the one before it to be
/// acknowledged, and the next read follows each acknowledgement (the ack timeout is set
/// longer than the test, so a put that waited for it would fail here).
async fn a_put_reads_on_as_soon_as_its_window_opens(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let store = js.create_object_store(bucket("narrow")).await.unwrap();
    let data = pattern(6 * CHUNK + 1);
    let options = object_store::PutOptions {
        window: 1,
        ack_timeout: Duration::from_secs(600),
        ..Default::default()
    };
    let mut reader = &data[..];
    let put = store.put_with("narrow", &mut reader, options);
    let info = within(WAIT, "a put with a window of one", put)
        .await
        .unwrap();
    assert_eq!(info.chunks, 7);
    assert_eq!(read_object(&store, "narrow").await, data);
}

async fn metadata_renames_deletes_and_links(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let store = js.create_object_store(bucket("docs")).await.unwrap();
    let meta = ObjectMeta {
        description: "the manual".into(),
        headers: BTreeMap::from([("Content-Type".into(), vec!["text/plain".into()])]),
        metadata: BTreeMap::from([("owner".into(), "ops".into())]),
        ..ObjectMeta::new("manual.txt")
    };
    store.put(meta, &mut &b"read me"[..]).await.unwrap();
    let info = store.info("manual.txt").await.unwrap();
    assert_eq!(info.description, "the manual");
    assert_eq!(info.headers["Content-Type"], ["text/plain"]);
    assert_eq!(info.metadata["owner"], "ops");

    // Rename: the bytes follow, the old name is gone; a rename onto a live object fails.
    store.put_bytes("other", "x".into()).await.unwrap();
    let taken = os_error(store.update_metadata("manual.txt", "other").await);
    assert!(
        matches!(taken, ObjectStoreError::ObjectExists { .. }),
        "{taken:?}"
    );
    let renamed = ObjectMeta {
        description: "renamed".into(),
        ..ObjectMeta::new("guide.txt")
    };
    store.update_metadata("manual.txt", renamed).await.unwrap();
    assert_eq!(read_object(&store, "guide.txt").await, b"read me");
    assert_eq!(
        store.info("guide.txt").await.unwrap().description,
        "renamed"
    );
    let gone = os_error(store.info("manual.txt").await);
    assert!(
        matches!(gone, ObjectStoreError::ObjectNotFound { .. }),
        "{gone:?}"
    );

    // Links: reading a link reads its target; a link to a link, or over an object, is
    // refused; a bucket link cannot be read.
    let target = store.info("guide.txt").await.unwrap();
    store.add_link("latest", &target).await.unwrap();
    assert_eq!(read_object(&store, "latest").await, b"read me");
    assert!(store.info("latest").await.unwrap().is_link());
    let link = store.info("latest").await.unwrap();
    let chained = os_error(store.add_link("chained", &link).await);
    assert!(
        matches!(chained, ObjectStoreError::BadLinkTarget { .. }),
        "{chained:?}"
    );
    let over = os_error(store.add_link("other", &target).await);
    assert!(
        matches!(over, ObjectStoreError::ObjectExists { .. }),
        "{over:?}"
    );
    store.add_bucket_link("everything", "sizes").await.unwrap();
    let bucket_link = os_error(store.get("everything").await);
    assert!(
        matches!(bucket_link, ObjectStoreError::BucketLink { .. }),
        "{bucket_link:?}"
    );

    // Delete: the object is gone for reads and listings; deleting again does nothing.
    store.delete("other").await.unwrap();
    let deleted = os_error(store.get("other").await);
    assert!(
        matches!(deleted, ObjectStoreError::ObjectNotFound { .. }),
        "{deleted:?}"
    );
    store.delete("other").await.unwrap();
    let missing = os_error(store.delete("never").await);
    assert!(
        matches!(missing, ObjectStoreError::ObjectNotFound { .. }),
        "{missing:?}"
    );
    let mut names: Vec<String> = store
        .list()
        .await
        .unwrap()
        .map(|info| info.unwrap().name)
        .collect()
        .await;
    names.sort();
    assert_eq!(names, ["everything", "guide.txt", "latest"]);
}

async fn buckets_are_listed_sealed_and_deleted(rt: Rt) {
    let server = js_server();
    let js: Context = jetstream::new(rt.connect(&server.url()).await);
    let config = object_store::Config {
        description: "archive".into(),
        max_age: Duration::from_secs(3600),
        max_bytes: 8 << 20,
        storage: jetstream::stream::StorageType::Memory,
        compression: true,
        metadata: BTreeMap::from([("owner".into(), "archive-team".into())]),
        ..bucket("archive")
    };
    let store = js.create_object_store(config).await.unwrap();
    js.create_object_store(bucket("scratch")).await.unwrap();
    store
        .put_bytes("a", Bytes::from(pattern(1000)))
        .await
        .unwrap();
    let status = store.status().await.unwrap();
    assert_eq!(
        (status.bucket(), status.description()),
        ("archive", "archive")
    );
    assert_eq!(status.ttl(), Duration::from_secs(3600));
    assert!(status.size() >= 1000 && !status.sealed());
    assert!(status.is_compressed());
    assert_eq!(status.metadata()["owner"], "archive-team");
    assert_eq!(status.config().max_bytes, 8 << 20);
    assert_eq!(
        status.config().storage,
        jetstream::stream::StorageType::Memory
    );
    // Over the bucket's byte limit: the put is refused and nothing readable is left.
    let too_much = store.put_bytes("huge", Bytes::from(pattern(9 << 20))).await;
    assert!(too_much.is_err(), "a put over max_bytes is refused");
    let absent = os_error(store.info("huge").await);
    assert!(
        matches!(absent, ObjectStoreError::ObjectNotFound { .. }),
        "{absent:?}"
    );

    let mut names: Vec<String> = js.object_store_names().try_collect().await.unwrap();
    names.sort();
    assert_eq!(names, ["archive", "scratch"]);
    let statuses: Vec<_> = js.object_stores().try_collect().await.unwrap();
    assert_eq!(statuses.len(), 2);

    // Sealed: reads work, writes are refused with their own error.
    assert!(store.seal().await.unwrap().sealed());
    assert_eq!(read_object(&store, "a").await, pattern(1000));
    let refused = os_error(store.put_bytes("b", "x".into()).await);
    assert!(
        matches!(refused, ObjectStoreError::BucketSealed { .. }),
        "{refused:?}"
    );
    let refused = os_error(store.delete("a").await);
    assert!(
        matches!(refused, ObjectStoreError::BucketSealed { .. }),
        "{refused:?}"
    );

    js.delete_object_store("scratch").await.unwrap();
    let gone = os_error(js.get_object_store("scratch").await);
    assert!(
        matches!(gone, ObjectStoreError::BucketNotFound { .. }),
        "{gone:?}"
    );
}

/// A chunk changed in the stream (one deleted and a different one stored in its place):
/// the read fails at its end with a digest mismatch, as an `InvalidData` I/O error.
async fn a_corrupted_chunk_fails_the_read(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let store = js.create_object_store(bucket("fragile")).await.unwrap();
    let data = pattern(3 * CHUNK);
    let info = store.put("victim", &mut &data[..]).await.unwrap();
    // The chunks are the stream's messages 1 to 3; replace the second's bytes.
    let stream = js.get_stream("OBJ_fragile").await.unwrap();
    stream.delete_message(2, false).await.unwrap();
    let forged = vec![0u8; CHUNK];
    js.publish(format!("$O.fragile.C.{}", info.nuid), forged.into())
        .await
        .unwrap()
        .await
        .unwrap();

    let mut object = store.get("victim").await.unwrap();
    let mut bytes = Vec::new();
    let error = within(WAIT, "the read", object.read_to_end(&mut bytes))
        .await
        .expect_err("a changed chunk must fail the read");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    let inner = error.into_inner().unwrap();
    let inner = inner.downcast_ref::<Error>().unwrap();
    assert!(
        matches!(
            inner,
            Error::ObjectStore(ObjectStoreError::DigestMismatch { .. })
        ),
        "{inner:?}"
    );
}

/// A chunk missing from the stream: the read fails at its end with a size mismatch, never
/// a silent short read.
async fn a_missing_chunk_fails_the_read(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let store = js.create_object_store(bucket("holes")).await.unwrap();
    store
        .put("holed", &mut &pattern(3 * CHUNK)[..])
        .await
        .unwrap();
    let stream = js.get_stream("OBJ_holes").await.unwrap();
    stream.delete_message(2, false).await.unwrap();
    let mut object = store.get("holed").await.unwrap();
    let mut bytes = Vec::new();
    let error = within(WAIT, "the read", object.read_to_end(&mut bytes))
        .await
        .expect_err("a missing chunk must fail the read");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    let inner = error.into_inner().unwrap();
    let inner = inner.downcast_ref::<Error>().unwrap();
    assert!(
        matches!(
            inner,
            Error::ObjectStore(
                ObjectStoreError::SizeMismatch { .. } | ObjectStoreError::DigestMismatch { .. }
            )
        ),
        "{inner:?}"
    );
}

/// A put interrupted by a server restart either fails clearly or completes whole; the name
/// never holds a readable half object.
async fn a_put_interrupted_by_a_restart_is_whole_or_absent(rt: Rt) {
    let mut server = NatsServer::builder().jetstream(true).start();
    let client = rt
        .connect_with(&server.url(), Default::default())
        .await
        .unwrap();
    let js = jetstream::new(client);
    let store = js.create_object_store(bucket("restarts")).await.unwrap();
    let data = pattern(24 * CHUNK);
    let halfway = Arc::new(AtomicBool::new(false));
    let mut reader = Flagging::new(&data, data.len() / 2, Arc::clone(&halfway));
    let put = store.put("big", &mut reader);
    let restart = async {
        within(WAIT, "half of the object read", async {
            while !halfway.load(Ordering::SeqCst) {
                async_io::Timer::after(Duration::from_millis(5)).await;
            }
        })
        .await;
        server.restart();
    };
    let (outcome, ()) = within(WAIT * 2, "the put", futures_lite::future::zip(put, restart)).await;

    // Once reconnected, the name holds the whole object or nothing.
    let reading = within(WAIT, "a read after the restart", async {
        loop {
            match store.get("big").await {
                Ok(mut object) => {
                    let mut bytes = Vec::new();
                    object.read_to_end(&mut bytes).await.unwrap();
                    break Some(bytes);
                }
                Err(Error::ObjectStore(ObjectStoreError::ObjectNotFound { .. })) => break None,
                // JetStream recovering: ask again.
                Err(_) => {
                    async_io::Timer::after(Duration::from_millis(100)).await;
                }
            }
        }
    })
    .await;
    match (outcome, reading) {
        (Ok(info), Some(bytes)) => {
            assert_eq!(info.size, data.len() as u64);
            assert!(bytes == data, "a completed put reads back whole");
        }
        (Err(error), None) => {
            assert!(!error.to_string().is_empty(), "the failure says why");
        }
        (Err(error), Some(bytes)) => {
            // The record may have been stored before its ack was lost: then it is whole.
            assert!(bytes == data, "a stored object is whole ({error})");
        }
        (Ok(_), None) => panic!("a put that succeeded must be readable"),
    }
}

async fn list_and_watch(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let writer = js.create_object_store(bucket("watched")).await.unwrap();
    writer.put_bytes("first", "1".into()).await.unwrap();
    let reader_js = jetstream::new(rt.connect(&server.url()).await);
    let store = reader_js.get_object_store("watched").await.unwrap();
    // async-nats's meanings: `watch` from now on, `watch_with_history` from the latest.
    let mut watch = store.watch().await.unwrap();
    let mut history = store.watch_with_history().await.unwrap();
    let first = within(WAIT, "the existing record", history.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.name, "first");
    writer.put_bytes("second", "2".into()).await.unwrap();
    writer.delete("first").await.unwrap();
    for watch in [&mut watch, &mut history] {
        let second = within(WAIT, "a new record", watch.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((second.name.as_str(), second.size), ("second", 1));
        let deletion = within(WAIT, "a deletion", watch.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(deletion.name, "first");
        assert!(deletion.deleted);
    }
    let listed: Vec<String> = store
        .list()
        .await
        .unwrap()
        .map(|i| i.unwrap().name)
        .collect()
        .await;
    assert_eq!(listed, ["second"]);
}

on_every_runtime!(
    objects_round_trip_at_every_size,
    a_put_reads_on_as_soon_as_its_window_opens,
    metadata_renames_deletes_and_links,
    buckets_are_listed_sealed_and_deleted,
    a_corrupted_chunk_fails_the_read,
    a_missing_chunk_fails_the_read,
    a_put_interrupted_by_a_restart_is_whole_or_absent,
    list_and_watch,
);

/// A reader that yields at most `piece` bytes per read.
struct Trickle<'a> {
    data: &'a [u8],
    piece: usize,
}

impl<'a> Trickle<'a> {
    fn new(data: &'a [u8], piece: usize) -> Trickle<'a> {
        Trickle { data, piece }
    }
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut TaskContext<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        let n = buf.len().min(self.piece).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Poll::Ready(Ok(n))
    }
}

/// A reader that raises a flag once `mark` bytes were read, and then yields a piece only
/// every few milliseconds, so a restart lands in the middle of the put.
struct Flagging<'a> {
    data: &'a [u8],
    read: usize,
    mark: usize,
    flag: Arc<AtomicBool>,
    timer: Option<async_io::Timer>,
}

impl<'a> Flagging<'a> {
    fn new(data: &'a [u8], mark: usize, flag: Arc<AtomicBool>) -> Flagging<'a> {
        Flagging {
            data,
            read: 0,
            mark,
            flag,
            timer: None,
        }
    }
}

impl AsyncRead for Flagging<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.read >= self.mark {
            let timer = self
                .timer
                .get_or_insert_with(|| async_io::Timer::after(Duration::from_millis(20)));
            if Pin::new(timer).poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.timer = None;
        }
        let n = buf.len().min(32 * 1024).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.read += n;
        if self.read >= self.mark {
            self.flag.store(true, Ordering::SeqCst);
        }
        Poll::Ready(Ok(n))
    }
}
