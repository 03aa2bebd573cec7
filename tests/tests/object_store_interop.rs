//! Object-store interoperability with nats-py (installed by the harness from PyPI): objects
//! put by nats-py read back byte for byte in ours, metadata and links included, and the same
//! set put by ours reads back in nats-py (`tests/python/obj_interop.py check`, against
//! `obj_interop_expected.json`); a 16 MiB object crosses both ways byte for byte. The tests
//! skip, saying why, only when Python's pip is unusable.
//!
//! nats-py 2.16 writes no user metadata and no links itself: its script stores those records
//! raw, in the shape nats.go writes them, and reads them back through nats-py.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures_lite::StreamExt;
use nats_client::jetstream::object_store::{
    self, Error, ObjectMeta, ObjectStore, ObjectStoreError,
};
use nats_client::jetstream::{self, Context};
use nats_tests::{nats_py_or_skip, script};

#[macro_use]
mod common;
use common::js::{js_server, pattern, read_object};
use common::runtime::Rt;

const SCRIPT: &str = "obj_interop.py";
/// The bucket the fixed set's bucket link points at (the script creates it too).
const OTHER: &str = "interop-other";

/// The fixed set, written by ours the way the script writes it.
async fn write_fixed_set(js: &Context, bucket: &str) -> ObjectStore {
    let config = object_store::Config {
        bucket: bucket.into(),
        description: "object-store interop bucket".into(),
        ..Default::default()
    };
    let store = js.create_object_store(config).await.unwrap();
    js.create_object_store(object_store::Config {
        bucket: OTHER.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    for (name, size) in [
        ("empty", 0),
        ("small", 10),
        ("exact", 131_072),
        ("multi", 393_221),
    ] {
        store.put(name, &mut &pattern(size)[..]).await.unwrap();
    }
    let custom = ObjectMeta {
        chunk_size: Some(50_000),
        ..ObjectMeta::new("custom")
    };
    store.put(custom, &mut &pattern(300_000)[..]).await.unwrap();
    let described = ObjectMeta {
        description: "an object with a description, headers and metadata".into(),
        headers: BTreeMap::from([
            (
                "Content-Type".into(),
                vec!["application/octet-stream".into()],
            ),
            ("X-Interop".into(), vec!["one".into(), "two".into()]),
        ]),
        metadata: BTreeMap::from([
            ("origin".into(), "interop".into()),
            ("kind".into(), "described".into()),
        ]),
        ..ObjectMeta::new("described")
    };
    store.put(described, &mut &pattern(1000)[..]).await.unwrap();
    let small = store.info("small").await.unwrap();
    store.add_link("link-to-small", &small).await.unwrap();
    store.add_bucket_link("to-other", OTHER).await.unwrap();
    store.put("deleted", &mut &pattern(20)[..]).await.unwrap();
    store.delete("deleted").await.unwrap();
    store
}

/// nats-py writes the fixed set; ours reads every object as written.
async fn objects_put_by_nats_py_read_back(rt: Rt) {
    let Some(py) = nats_py_or_skip() else { return };
    let server = js_server();
    py.run_ok(&script(SCRIPT), &["write", &server.url(), "frompy"]);

    let js = jetstream::new(rt.connect(&server.url()).await);
    let store = js.get_object_store("frompy").await.unwrap();
    assert_eq!(
        store.status().await.unwrap().description(),
        "object-store interop bucket"
    );
    for (name, size) in [
        ("empty", 0),
        ("small", 10),
        ("exact", 131_072),
        ("multi", 393_221),
        ("custom", 300_000),
        ("described", 1000),
    ] {
        let info = store.info(name).await.unwrap();
        assert_eq!(info.size, size as u64, "{name}");
        assert!(
            read_object(&store, name).await == pattern(size),
            "{name} byte for byte"
        );
    }
    assert_eq!(store.info("custom").await.unwrap().chunks, 6);
    let described = store.info("described").await.unwrap();
    assert_eq!(
        described.description,
        "an object with a description, headers and metadata"
    );
    assert_eq!(described.headers["X-Interop"], ["one", "two"]);
    assert_eq!(described.metadata["origin"], "interop");
    assert_eq!(
        read_object(&store, "link-to-small").await,
        pattern(10),
        "read through a link"
    );
    let bucket_link = store.get("to-other").await;
    assert!(
        matches!(
            bucket_link,
            Err(Error::ObjectStore(ObjectStoreError::BucketLink { .. }))
        ),
        "{bucket_link:?}"
    );
    let deleted = store.get("deleted").await;
    assert!(
        matches!(
            deleted,
            Err(Error::ObjectStore(ObjectStoreError::ObjectNotFound { .. }))
        ),
        "{deleted:?}"
    );
    let mut listed: Vec<String> = store
        .list()
        .await
        .unwrap()
        .map(|i| i.unwrap().name)
        .collect()
        .await;
    listed.sort();
    assert_eq!(
        listed,
        [
            "custom",
            "described",
            "empty",
            "exact",
            "link-to-small",
            "multi",
            "small",
            "to-other"
        ]
    );
}

/// Ours writes the fixed set; nats-py reads it exactly as the expected file says.
async fn objects_put_by_ours_read_back_in_nats_py(rt: Rt) {
    let Some(py) = nats_py_or_skip() else { return };
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    write_fixed_set(&js, "fromrust").await;
    let checked = py.run_ok(&script(SCRIPT), &["check", &server.url(), "fromrust"]);
    assert_eq!(checked.trim(), "ok");
}

/// A 16 MiB object each way, compared byte for byte.
async fn a_large_object_crosses_both_ways(rt: Rt) {
    let Some(py) = nats_py_or_skip() else { return };
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let store = js
        .create_object_store(object_store::Config {
            bucket: "large".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let size = 16 << 20;
    let data = Bytes::from(pattern(size));
    store.put_bytes("ours", data.clone()).await.unwrap();
    let read = py
        .run(&script(SCRIPT), &["get", &server.url(), "large", "ours"])
        .unwrap();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    assert!(
        read.stdout == data,
        "nats-py read {} bytes",
        read.stdout.len()
    );

    py.run_ok(
        &script(SCRIPT),
        &["put", &server.url(), "large", "theirs", &size.to_string()],
    );
    assert!(
        read_object(&store, "theirs").await == data,
        "ours read nats-py's bytes"
    );
}

on_every_runtime!(
    objects_put_by_nats_py_read_back,
    objects_put_by_ours_read_back_in_nats_py,
    a_large_object_crosses_both_ways,
);
