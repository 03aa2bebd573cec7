//! Key-value interoperability with nats-py (the Python client, installed by the harness
//! from PyPI like nats-server): a bucket written by nats-py is read correctly by ours, and
//! one written by ours is read correctly by nats-py — values, revisions, deletes and purges.
//!
//! Both directions perform the same sequence of writes (`tests/python/kv_interop.py`: put
//! a=1, b=2, a=3, create c=4, update c=5, delete b, purge a, put d=6), and both readings are
//! compared with `tests/python/kv_interop_expected.json`. The tests skip, saying why, only
//! when Python's pip is unusable.

use std::time::Duration;

use futures_lite::StreamExt;
use nats_client::jetstream;
use nats_client::jetstream::kv::{self, Operation, Store, WatchConfig, WatchItem};
use nats_tests::{nats_py_or_skip, script};
use serde_json::{json, Map, Value};

#[macro_use]
mod common;
use common::js::js_server;
use common::runtime::{within, Rt};

const WAIT: Duration = Duration::from_secs(30);

/// What both clients must read from the sequence of writes.
fn expected() -> Value {
    let text = std::fs::read_to_string(script("kv_interop_expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The bucket as our client reads it, in the shape of the expected file: every kept entry
/// of every key (deletions included) in revision order, and each key's value.
async fn read_with_ours(store: &Store) -> Value {
    let config = WatchConfig {
        include_history: true,
        ..WatchConfig::all()
    };
    let mut items = store.watch_items(config).await.unwrap();
    let mut history: Map<String, Value> = Map::new();
    loop {
        let item = within(WAIT, "the bucket's entries", items.next())
            .await
            .expect("the watch goes on")
            .unwrap();
        let WatchItem::Entry(entry) = item else { break };
        let (operation, value) = match entry.operation {
            Operation::Put => ("PUT", json!(String::from_utf8_lossy(&entry.value))),
            Operation::Delete => ("DEL", Value::Null),
            Operation::Purge => ("PURGE", Value::Null),
        };
        let entries = history
            .entry(entry.key.clone())
            .or_insert_with(|| json!([]));
        entries.as_array_mut().unwrap().push(json!({
            "key": entry.key,
            "operation": operation,
            "revision": entry.revision,
            "value": value,
        }));
    }
    let mut latest = Map::new();
    for key in history.keys() {
        let value = store.get(key).await.unwrap();
        let value = value.map_or(Value::Null, |v| json!(String::from_utf8_lossy(&v)));
        latest.insert(key.clone(), value);
    }
    json!({ "history": history, "latest": latest })
}

/// The interop sequence of writes, with our client.
async fn write_with_ours(store: &Store) {
    store.put("a", "1".into()).await.unwrap();
    store.put("b", "2".into()).await.unwrap();
    let a = store.put("a", "3".into()).await.unwrap();
    assert_eq!(a, 3);
    let c = store.create("c", "4".into()).await.unwrap();
    store.update("c", "5".into(), c).await.unwrap();
    store.delete("b").await.unwrap();
    store.purge("a").await.unwrap();
    assert_eq!(store.put("d", "6".into()).await.unwrap(), 8);
}

/// nats-py creates the bucket and writes; ours reads every entry and value as written.
async fn a_bucket_written_by_nats_py_reads_back(rt: Rt) {
    let Some(py) = nats_py_or_skip() else { return };
    let server = js_server();
    let written = py.run_ok(
        &script("kv_interop.py"),
        &["write", &server.url(), "frompy"],
    );
    assert_eq!(
        written.lines().count(),
        8,
        "nats-py reported each write: {written}"
    );

    let js = jetstream::new(rt.connect(&server.url()).await);
    let store = js.get_key_value("frompy").await.unwrap();
    assert_eq!(store.status().await.unwrap().history(), 10);
    assert_eq!(read_with_ours(&store).await, expected());
    // And ours writes on into nats-py's bucket.
    let next = store.put("e", "7".into()).await.unwrap();
    assert_eq!(next, 9);
}

/// Ours creates the bucket and writes; nats-py reads every entry and value as written.
async fn a_bucket_written_by_ours_reads_back_in_nats_py(rt: Rt) {
    let Some(py) = nats_py_or_skip() else { return };
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let config = kv::Config {
        bucket: "fromrust".into(),
        history: 10,
        ..Default::default()
    };
    let store = js.create_key_value(config).await.unwrap();
    write_with_ours(&store).await;
    // Our own reading first, so a failure says which side disagrees.
    assert_eq!(read_with_ours(&store).await, expected());
    let checked = py.run_ok(
        &script("kv_interop.py"),
        &["check", &server.url(), "fromrust"],
    );
    assert_eq!(checked.trim(), "ok");
}

on_every_runtime!(
    a_bucket_written_by_nats_py_reads_back,
    a_bucket_written_by_ours_reads_back_in_nats_py,
);
