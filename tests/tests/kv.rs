//! Key-value buckets against a real nats-server (JetStream), on tokio, smol and async-std:
//! bucket management and listing, entries and compare-and-set, keys and history, per-key
//! TTL with its marker, and watchers (options, another client writing, a server restart).
//!
//! Each scenario asserts what a user sees: values and revisions read back, typed errors to
//! match on, the entries a watcher yields in order and each once.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use futures_lite::{Stream, StreamExt};
use nats_client::jetstream::kv::{self, Entry, Error, KvError, Operation, WatchConfig, WatchItem};
use nats_client::jetstream::{self, Context};
use nats_tests::NatsServer;

#[macro_use]
mod common;
use common::js::{create_stream, js_server};
use common::runtime::{reconnected, within, Rt};

const WAIT: Duration = Duration::from_secs(20);

/// A bucket `name` keeping `history` revisions per key.
fn bucket(name: &str, history: u32) -> kv::Config {
    kv::Config {
        bucket: name.into(),
        history,
        ..Default::default()
    }
}

/// The next item of `stream`, or a panic naming `what` after [`WAIT`].
async fn next<S: Stream + Unpin>(stream: &mut S, what: &str) -> S::Item {
    within(WAIT, what, stream.next())
        .await
        .unwrap_or_else(|| panic!("the stream ended before {what}"))
}

/// Every item of a finite stream (keys, history), each unwrapped.
async fn all<T, E, S>(mut stream: S, what: &str) -> Vec<T>
where
    E: std::fmt::Display,
    S: Stream<Item = Result<T, E>> + Unpin,
{
    let mut items = Vec::new();
    while let Some(item) = within(WAIT, what, stream.next()).await {
        items.push(item.unwrap_or_else(|e| panic!("{what}: {e}")));
    }
    items
}

/// (key, value as text, operation) of an entry, for comparisons.
fn seen(entry: &Entry) -> (String, String, Operation) {
    (
        entry.key.clone(),
        String::from_utf8_lossy(&entry.value).into_owned(),
        entry.operation,
    )
}

/// What `probe` finds once it finds something, asked again every 50 ms (at most [`WAIT`]):
/// for what the server does in the background (mirrors, sources, expiries).
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    within(WAIT, what, async {
        loop {
            if let Some(found) = probe().await {
                break found;
            }
            async_io::Timer::after(Duration::from_millis(50)).await;
        }
    })
    .await
}

fn kv_error(result: Result<impl std::fmt::Debug, Error>) -> KvError {
    match result {
        Err(Error::Kv(e)) => e,
        other => panic!("expected a key-value error, got {other:?}"),
    }
}

async fn buckets_are_created_bound_listed_and_deleted(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);

    let store = js.create_key_value(bucket("settings", 5)).await.unwrap();
    assert_eq!(store.name(), "settings");
    let status = store.status().await.unwrap();
    assert_eq!(
        (status.bucket(), status.history(), status.values()),
        ("settings", 5, 0)
    );
    assert_eq!(status.backing_store(), "JetStream");

    // The same config again binds; another config is refused; an update changes it.
    js.create_key_value(bucket("settings", 5)).await.unwrap();
    let refused = kv_error(js.create_key_value(bucket("settings", 9)).await);
    assert!(
        matches!(refused, KvError::BucketExists { .. }),
        "{refused:?}"
    );
    let updated = js.update_key_value(bucket("settings", 9)).await.unwrap();
    assert_eq!(updated.status().await.unwrap().history(), 9);
    js.create_or_update_key_value(bucket("other", 1))
        .await
        .unwrap();
    let missing = kv_error(js.update_key_value(bucket("absent", 1)).await);
    assert!(
        matches!(missing, KvError::BucketNotFound { .. }),
        "{missing:?}"
    );

    // Listing: the buckets, not a plain stream.
    create_stream(&js, "PLAIN", &["plain.>"]).await;
    let names: BTreeSet<String> = all(js.key_value_store_names(), "bucket names")
        .await
        .into_iter()
        .collect();
    assert_eq!(names, BTreeSet::from(["other".into(), "settings".into()]));
    let statuses = all(js.key_value_stores(), "bucket statuses").await;
    assert_eq!(statuses.len(), 2);

    // A bad name is refused before any request; a stream that is not a bucket too.
    let bad = kv_error(js.get_key_value("no.dots").await);
    assert!(matches!(bad, KvError::InvalidBucket { .. }), "{bad:?}");
    js.delete_key_value("other").await.unwrap();
    let gone = kv_error(js.get_key_value("other").await);
    assert!(matches!(gone, KvError::BucketNotFound { .. }), "{gone:?}");
}

async fn entries_with_compare_and_set(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let store = js.create_key_value(bucket("cas", 10)).await.unwrap();

    let first = store.put("color", "red".into()).await.unwrap();
    let second = store.update("color", "blue".into(), first).await.unwrap();
    assert!(second > first);
    assert_eq!(
        store.get("color").await.unwrap().as_deref(),
        Some(&b"blue"[..])
    );
    let old = store
        .entry_for_revision("color", first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen(&old), ("color".into(), "red".into(), Operation::Put));
    assert_eq!(old.revision, first);

    // A stale revision, a create over a value, a conditional delete: typed errors, and
    // nothing written.
    let stale = kv_error(store.update("color", "green".into(), first).await);
    assert_eq!(
        stale,
        KvError::WrongLastRevision {
            key: "color".into(),
            expected: first
        }
    );
    let exists = kv_error(store.create("color", "green".into()).await);
    assert!(matches!(exists, KvError::KeyExists { .. }), "{exists:?}");
    let wrong = kv_error(store.delete_expect_revision("color", Some(first)).await);
    assert!(
        matches!(wrong, KvError::WrongLastRevision { .. }),
        "{wrong:?}"
    );
    assert_eq!(
        store.entry("color").await.unwrap().unwrap().revision,
        second
    );

    // Deleted: no value, the entry says so; create works again over the marker.
    store.delete("color").await.unwrap();
    assert_eq!(store.get("color").await.unwrap(), None);
    let marker = store.entry("color").await.unwrap().unwrap();
    assert_eq!(marker.operation, Operation::Delete);
    let recreated = store.create("color", "green".into()).await.unwrap();
    assert!(recreated > marker.revision);

    // Purge drops the history; create works over its marker too.
    store.purge("color").await.unwrap();
    let history = all(store.history("color").await.unwrap(), "history").await;
    assert_eq!(
        history.len(),
        1,
        "a purge leaves only its marker: {history:?}"
    );
    assert_eq!(history[0].operation, Operation::Purge);
    store.create("color", "again".into()).await.unwrap();

    // Missing keys and invalid keys.
    assert_eq!(store.get("never").await.unwrap(), None);
    assert!(store.entry("never").await.unwrap().is_none());
    let none = kv_error(store.history("never").await);
    assert!(matches!(none, KvError::KeyNotFound { .. }), "{none:?}");
    for key in ["", "a b", ".a", "a..b", "a.*"] {
        let invalid = kv_error(store.put(key, "x".into()).await);
        assert!(
            matches!(invalid, KvError::InvalidKey { .. }),
            "{key:?}: {invalid:?}"
        );
    }
    let reserved = kv_error(store.put("_kv.internal", "x".into()).await);
    assert!(
        matches!(reserved, KvError::InvalidKey { .. }),
        "{reserved:?}"
    );
}

/// `purge_deletes`: old markers go with their keys' history; by default a fresh marker
/// stays (a watcher may not have seen it); values are untouched.
async fn purge_deletes_drops_old_markers(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let store = js.create_key_value(bucket("markers", 5)).await.unwrap();
    for key in ["gone", "wiped", "kept"] {
        store.put(key, "v".into()).await.unwrap();
    }
    store.delete("gone").await.unwrap();
    store.purge("wiped").await.unwrap();

    store.purge_deletes(kv::MarkerAge::Default).await.unwrap();
    let fresh = store
        .entry("gone")
        .await
        .unwrap()
        .expect("a fresh marker stays");
    assert_eq!(fresh.operation, Operation::Delete);
    assert_eq!(
        all(store.history("gone").await.unwrap(), "history")
            .await
            .len(),
        1
    );

    store.purge_deletes(kv::MarkerAge::All).await.unwrap();
    assert!(
        store.entry("gone").await.unwrap().is_none(),
        "the marker went"
    );
    assert!(store.entry("wiped").await.unwrap().is_none());
    assert_eq!(store.get("kept").await.unwrap().as_deref(), Some(&b"v"[..]));
}

async fn keys_and_history(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let store = js.create_key_value(bucket("tree", 5)).await.unwrap();
    for (key, value) in [
        ("a.x", "1"),
        ("a.y", "2"),
        ("b.x", "3"),
        ("a.x", "4"),
        ("c", "5"),
    ] {
        store.put(key, Bytes::from(value)).await.unwrap();
    }
    store.delete("c").await.unwrap();

    let mut keys = all(store.keys().await.unwrap(), "keys").await;
    keys.sort();
    assert_eq!(keys, ["a.x", "a.y", "b.x"], "a deleted key is not listed");
    let mut under_a = all(store.keys_filtered(["a.*"]).await.unwrap(), "keys a.*").await;
    under_a.sort();
    assert_eq!(under_a, ["a.x", "a.y"]);
    let several = all(store.keys_filtered(["a.y", "b.>"]).await.unwrap(), "keys").await;
    assert_eq!(several.len(), 2);

    let history = all(store.history("a.x").await.unwrap(), "history").await;
    let values: Vec<_> = history.iter().map(seen).collect();
    assert_eq!(
        values,
        [
            ("a.x".into(), "1".into(), Operation::Put),
            ("a.x".into(), "4".into(), Operation::Put)
        ]
    );
    assert!(history[0].revision < history[1].revision);
    assert_eq!(history[0].bucket, "tree");
}

/// Per-key TTL: an entry created with a TTL is gone after it, and a watcher sees the marker
/// the server leaves.
async fn per_key_ttl_expires_with_a_marker(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let config = kv::Config {
        limit_markers: Some(Duration::from_secs(60)),
        ..bucket("leases", 1)
    };
    let store = js.create_key_value(config).await.unwrap();
    assert_eq!(
        store.status().await.unwrap().limit_marker_ttl(),
        Some(Duration::from_secs(60))
    );
    let mut watch = store.watch("lease.*").await.unwrap();
    store
        .create_with_ttl("lease.a", "holder".into(), Duration::from_secs(1))
        .await
        .unwrap();
    store.put("lease.b", "kept".into()).await.unwrap();
    let created = next(&mut watch, "the created lease").await.unwrap();
    assert_eq!(
        seen(&created),
        ("lease.a".into(), "holder".into(), Operation::Put)
    );
    next(&mut watch, "the kept lease").await.unwrap();
    let expired = next(&mut watch, "the expiry marker").await.unwrap();
    assert_eq!(expired.key, "lease.a");
    assert_eq!(
        expired.operation,
        Operation::Purge,
        "a MaxAge marker purges"
    );
    assert_eq!(store.get("lease.a").await.unwrap(), None);
    assert_eq!(
        store.get("lease.b").await.unwrap().as_deref(),
        Some(&b"kept"[..])
    );
    // The lease can be taken again.
    store.create("lease.a", "next".into()).await.unwrap();

    // A purge whose marker expires: afterwards the key has no entry at all.
    store
        .purge_with_ttl("lease.b", Duration::from_secs(1))
        .await
        .unwrap();
    let purged = next(&mut watch, "the lease's creation").await.unwrap();
    assert_eq!(purged.key, "lease.a");
    let marker = next(&mut watch, "the purge marker").await.unwrap();
    assert_eq!(
        (marker.key.as_str(), marker.operation),
        ("lease.b", Operation::Purge)
    );
    eventually("the purge marker to expire", || async {
        store
            .entry("lease.b")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
}

/// A watcher and a writer, each a client with default options: the watcher gets the
/// initial values, then `CaughtUp`, then every change in order.
async fn a_watcher_sees_another_clients_changes(rt: Rt) {
    let server = js_server();
    let watcher_js = jetstream::new(rt.connect(&server.url()).await);
    let writer_js = jetstream::new(rt.connect(&server.url()).await);
    let writer = writer_js.create_key_value(bucket("feed", 3)).await.unwrap();
    writer.put("k1", "one".into()).await.unwrap();
    writer.put("k2", "two".into()).await.unwrap();
    writer.put("k1", "uno".into()).await.unwrap();

    let store = watcher_js.get_key_value("feed").await.unwrap();
    let mut items = store.watch_items(WatchConfig::all()).await.unwrap();
    let mut initial = Vec::new();
    while let WatchItem::Entry(entry) = next(&mut items, "an initial value").await.unwrap() {
        initial.push(seen(&entry));
    }
    initial.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        initial,
        [
            ("k1".into(), "uno".into(), Operation::Put),
            ("k2".into(), "two".into(), Operation::Put)
        ],
        "each key's latest, before CaughtUp"
    );
    writer.put("k3", "three".into()).await.unwrap();
    writer.delete("k2").await.unwrap();
    writer.purge("k1").await.unwrap();
    let mut changes = Vec::new();
    for _ in 0..3 {
        match next(&mut items, "a change").await.unwrap() {
            WatchItem::Entry(entry) => changes.push((entry.key.clone(), entry.operation)),
            WatchItem::CaughtUp => panic!("CaughtUp came twice"),
        }
    }
    assert_eq!(
        changes,
        [
            ("k3".into(), Operation::Put),
            ("k2".into(), Operation::Delete),
            ("k1".into(), Operation::Purge)
        ]
    );
}

/// The watch options: updates only, resume from a revision, ignore deletes, metadata only,
/// and a watch with history.
async fn watch_options(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let store = js.create_key_value(bucket("opts", 10)).await.unwrap();
    let r1 = store.put("x", "1".into()).await.unwrap();
    let r2 = store.put("x", "2".into()).await.unwrap();
    store.delete("y").await.unwrap();

    let updates_only = WatchConfig {
        updates_only: true,
        ..WatchConfig::all()
    };
    let mut updates = store.watch_with(updates_only).await.unwrap();
    let every_revision = WatchConfig {
        include_history: true,
        ..WatchConfig::key("x")
    };
    let mut history = store.watch_with(every_revision).await.unwrap();
    let mut resumed = store.watch_from_revision("x", r2).await.unwrap();
    // async-nats's meanings: `watch` from now on, `watch_with_history` from the latest.
    let mut plain = store.watch("x").await.unwrap();
    let mut latest_first = store.watch_with_history("x").await.unwrap();
    let quiet = WatchConfig {
        ignore_deletes: true,
        meta_only: true,
        ..WatchConfig::all()
    };
    let mut no_deletes = store.watch_with(quiet).await.unwrap();

    let h1 = next(&mut history, "revision 1").await.unwrap();
    let h2 = next(&mut history, "revision 2").await.unwrap();
    assert_eq!((h1.revision, h2.revision), (r1, r2));
    let from = next(&mut resumed, "the resumed entry").await.unwrap();
    assert_eq!(from.revision, r2, "resumes at the revision asked");

    let r4 = store.put("x", "3".into()).await.unwrap();
    store.delete("x").await.unwrap();
    store.put("z", "4".into()).await.unwrap();
    let first_update = next(&mut updates, "the first update").await.unwrap();
    assert_eq!(first_update.revision, r4, "nothing from before the watch");
    let first_change = next(&mut plain, "the first change").await.unwrap();
    assert_eq!(first_change.revision, r4, "watch: nothing from before it");
    let latest = next(&mut latest_first, "the latest entry").await.unwrap();
    assert_eq!(
        latest.revision, r2,
        "watch_with_history: the latest entry first"
    );
    let then = next(&mut latest_first, "the change after it")
        .await
        .unwrap();
    assert_eq!(then.revision, r4);
    let meta = next(&mut no_deletes, "an entry").await.unwrap();
    assert_eq!((meta.key.as_str(), meta.revision), ("x", r2));
    assert!(meta.value.is_empty(), "metadata only: no value");
    let mut quiet_ops = Vec::new();
    for _ in 0..2 {
        let entry = next(&mut no_deletes, "a later entry").await.unwrap();
        quiet_ops.push((entry.key, entry.operation));
    }
    assert_eq!(
        quiet_ops,
        [
            ("x".to_string(), Operation::Put),
            ("z".to_string(), Operation::Put)
        ],
        "deletions left out"
    );
    assert!(no_deletes.caught_up());
}

/// A watcher keeps going across a server restart: every change before and after arrives
/// once, in order.
async fn a_watcher_survives_a_server_restart(rt: Rt) {
    let mut server = NatsServer::builder().jetstream(true).start();
    let client = rt
        .connect_with(&server.url(), Default::default())
        .await
        .unwrap();
    let js: Context = jetstream::new(client.clone());
    let store = js.create_key_value(bucket("durable", 1)).await.unwrap();
    let mut watch = store.watch_all().await.unwrap();
    let mut written = Vec::new();
    for i in 0..5 {
        written.push(store.put(format!("k{i}"), "before".into()).await.unwrap());
    }
    let mut revisions = Vec::new();
    for _ in 0..5 {
        revisions.push(
            next(&mut watch, "a change before the restart")
                .await
                .unwrap()
                .revision,
        );
    }

    let mut events = client.events();
    server.restart();
    reconnected(&mut events, WAIT).await;
    for i in 0..5 {
        let revision = within(WAIT, "a put after the restart", async {
            loop {
                // The first puts may race JetStream's recovery; retry until stored.
                match store.put(format!("k{i}"), "after".into()).await {
                    Ok(revision) => break revision,
                    Err(_) => async_io::Timer::after(Duration::from_millis(100)).await,
                };
            }
        })
        .await;
        written.push(revision);
    }
    while revisions.len() < written.len() {
        let entry = next(&mut watch, "a change after the restart")
            .await
            .unwrap();
        revisions.push(entry.revision);
    }
    assert_eq!(revisions, written, "every change once, in order");
}

/// The bucket settings reach the server and show in the status: a value over the size
/// limit is refused, and a mirror bucket's handle reads the origin's entries and writes to
/// the origin; a bucket sourcing another gets its keys under its own name.
async fn bucket_settings_mirrors_and_sources(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let config = kv::Config {
        description: "small values".into(),
        max_value_size: 16,
        max_bytes: 1 << 20,
        max_age: Duration::from_secs(3600),
        storage: jetstream::stream::StorageType::Memory,
        compression: true,
        ..bucket("origin", 3)
    };
    let origin = js.create_key_value(config).await.unwrap();
    let status = origin.status().await.unwrap();
    assert_eq!(status.ttl(), Duration::from_secs(3600));
    assert!(status.is_compressed());
    let held = status.config();
    assert_eq!(
        (held.max_value_size, held.max_bytes, held.history),
        (16, 1 << 20, 3)
    );
    assert_eq!(held.storage, jetstream::stream::StorageType::Memory);
    assert_eq!(held.description, "small values");
    let too_big = origin.put("big", Bytes::from(vec![b'x'; 17])).await;
    assert!(too_big.is_err(), "a value over max_value_size is refused");
    assert_eq!(origin.get("big").await.unwrap(), None, "and not stored");
    origin.put("shared", "from origin".into()).await.unwrap();

    let mirror_config = kv::Config {
        mirror: Some(jetstream::stream::Source {
            name: "origin".into(),
            ..Default::default()
        }),
        ..bucket("replica", 3)
    };
    let replica = js.create_key_value(mirror_config).await.unwrap();
    // The mirror catches up in the background: wait until it has the entry.
    let mirrored = eventually("the mirrored entry", || async {
        replica.get("shared").await.unwrap()
    })
    .await;
    assert_eq!(&mirrored[..], b"from origin");
    // A write through the mirror's handle lands in the origin: its revision is the
    // origin's next. (A read right after may be answered by the mirror, which also serves
    // the origin's direct gets and may not have it yet: no read-after-write, ADR-8.)
    let revision = replica.put("via.mirror", "written".into()).await.unwrap();
    assert_eq!(revision, 2, "the origin's sequence: shared=1, via.mirror=2");
    let read = eventually("the write in the origin", || async {
        origin.entry("via.mirror").await.unwrap()
    })
    .await;
    assert_eq!((read.revision, &read.value[..]), (2, &b"written"[..]));

    let sourcing = kv::Config {
        sources: vec![jetstream::stream::Source {
            name: "origin".into(),
            ..Default::default()
        }],
        ..bucket("aggregate", 3)
    };
    let aggregate = js.create_key_value(sourcing).await.unwrap();
    let sourced = eventually("the sourced entry", || async {
        aggregate.get("shared").await.unwrap()
    })
    .await;
    assert_eq!(
        &sourced[..],
        b"from origin",
        "sourced under the bucket's own subjects"
    );
}

/// What the second process prints before each result line.
const CHILD_LINE: &str = "CHILD ";
/// Tells this binary, run again, to watch a bucket: `<url> <bucket> <entries>`.
const CHILD_WATCH: &str = "NATS_TEST_KV_WATCH";

/// The second process: a watcher with default options that prints `caught-up`, then each
/// entry as `key=value@revision`, and exits after as many entries as asked.
#[test]
fn child_process() {
    let Ok(args) = std::env::var(CHILD_WATCH) else {
        return;
    };
    let mut args = args.split(' ');
    let (url, bucket, wanted) = (
        args.next().unwrap(),
        args.next().unwrap(),
        args.next().unwrap(),
    );
    let wanted: usize = wanted.parse().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let js = jetstream::new(nats_client::tokio::connect(url).await.unwrap());
        let store = js.get_key_value(bucket).await.unwrap();
        let mut items = store.watch_items(WatchConfig::all()).await.unwrap();
        let mut entries = 0;
        while entries < wanted {
            match next(&mut items, "a watched entry").await.unwrap() {
                WatchItem::CaughtUp => println!("{CHILD_LINE}caught-up"),
                WatchItem::Entry(entry) => {
                    entries += 1;
                    let value = String::from_utf8_lossy(&entry.value);
                    println!("{CHILD_LINE}{}={value}@{}", entry.key, entry.revision);
                }
            }
        }
    });
}

/// The second process, killed when dropped, so a failing test leaves none behind.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A watcher in another process (default options) and a writer here: the watcher prints
/// the initial values, catches up, then every later change in order.
#[test]
fn a_watcher_in_another_process_sees_every_change() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let server = js_server();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = runtime.block_on(async {
        let js = jetstream::new(nats_client::tokio::connect(server.url()).await.unwrap());
        let store = js.create_key_value(bucket("shared", 1)).await.unwrap();
        store.put("before", "1".into()).await.unwrap();
        store
    });
    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_process",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_WATCH, format!("{} shared 4", server.url()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Some((_, result)) = line.split_once(CHILD_LINE) {
                let _ = lines_tx.send(result.to_owned());
            }
        }
    });
    let line = |what: &str| {
        lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("the watcher process printed no {what}"))
    };
    assert_eq!(line("initial value"), "before=1@1");
    assert_eq!(line("caught-up"), "caught-up");
    let written: Vec<u64> = runtime.block_on(async {
        let mut revisions = Vec::new();
        revisions.push(store.put("a", "2".into()).await.unwrap());
        store.delete("before").await.unwrap();
        revisions.push(store.put("a", "3".into()).await.unwrap());
        revisions
    });
    assert_eq!(line("a change"), format!("a=2@{}", written[0]));
    assert_eq!(line("a deletion"), "before=@3");
    assert_eq!(line("a change"), format!("a=3@{}", written[1]));
    let status = child.0.wait().unwrap();
    assert!(status.success(), "the watcher process failed: {status}");
}

on_every_runtime!(
    bucket_settings_mirrors_and_sources,
    buckets_are_created_bound_listed_and_deleted,
    entries_with_compare_and_set,
    purge_deletes_drops_old_markers,
    keys_and_history,
    per_key_ttl_expires_with_a_marker,
    a_watcher_sees_another_clients_changes,
    watch_options,
    a_watcher_survives_a_server_restart,
);
