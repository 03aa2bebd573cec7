//! The two clients behind one small trait, so every scenario is written once.

use std::future::Future;

use bytes::Bytes;
use futures_lite::stream::{Boxed, StreamExt};

/// What the scenarios need from a client. Every call panics on error: a benchmark that
/// fails is not a result.
pub(crate) trait Nats: Clone + Send + Sync + 'static {
    fn connect(url: &str) -> impl Future<Output = Self>;
    fn publish(&self, subject: &'static str, payload: Bytes) -> impl Future<Output = ()> + Send;
    fn flush(&self) -> impl Future<Output = ()> + Send;
    /// The subscription's messages, as payload lengths.
    fn subscribe(&self, subject: &str) -> impl Future<Output = Boxed<usize>> + Send;
    fn request(&self, subject: &'static str, payload: Bytes) -> impl Future<Output = ()> + Send;

    /// The client's JetStream context.
    type Js: Clone + Send + Sync + 'static;
    /// A publish's pending acknowledgement.
    type Ack: Send + 'static;
    /// A JetStream context on this client allowing `max_acks` acks in flight (publishes wait
    /// beyond that).
    fn jetstream(&self, max_acks: usize) -> Self::Js;
    /// Deletes stream `name` if it exists, then creates it afresh on `subject`.
    fn recreate_stream(
        js: &Self::Js,
        name: &'static str,
        subject: &'static str,
        memory: bool,
    ) -> impl Future<Output = ()> + Send;
    fn delete_stream(js: &Self::Js, name: &'static str) -> impl Future<Output = ()> + Send;
    /// Publishes to a stream; the ack is awaited later with [`Nats::ack`].
    fn js_publish(
        js: &Self::Js,
        subject: &'static str,
        payload: Bytes,
    ) -> impl Future<Output = Self::Ack> + Send;
    /// Waits for the ack; panics when the stream did not store the message.
    fn ack(ack: Self::Ack) -> impl Future<Output = ()> + Send;

    /// A key-value bucket handle.
    type Kv: Clone + Send + Sync + 'static;
    /// Deletes bucket `bucket` if it exists, then creates it afresh: history 1, direct get
    /// on (both clients' default), file or memory storage.
    fn recreate_kv(
        js: &Self::Js,
        bucket: &'static str,
        memory: bool,
    ) -> impl Future<Output = Self::Kv> + Send;
    fn delete_kv(js: &Self::Js, bucket: &'static str) -> impl Future<Output = ()> + Send;
    /// Puts `value` at `key` and waits for the server's ack.
    fn kv_put(kv: &Self::Kv, key: &'static str, value: Bytes) -> impl Future<Output = ()> + Send;
    /// The value at `key` (panics when there is none), as its length.
    fn kv_get(kv: &Self::Kv, key: &'static str) -> impl Future<Output = usize> + Send;
    /// A watch of every key of the bucket: its entries, as value lengths; it ends at the
    /// first error (the bucket deleted under it), which the scenario sees as entries missing.
    fn kv_watch_all(kv: &Self::Kv) -> impl Future<Output = Boxed<usize>> + Send;
}

impl Nats for nats_client::Client {
    async fn connect(url: &str) -> Self {
        if crate::scenarios::ON_SMOL.load(std::sync::atomic::Ordering::Relaxed) {
            nats_client::smol::connect(url).await.expect("connect")
        } else {
            nats_client::tokio::connect(url).await.expect("connect")
        }
    }

    async fn publish(&self, subject: &'static str, payload: Bytes) {
        nats_client::Client::publish(self, subject, payload)
            .await
            .expect("publish");
    }

    async fn flush(&self) {
        nats_client::Client::flush(self).await.expect("flush");
    }

    async fn subscribe(&self, subject: &str) -> Boxed<usize> {
        let sub = nats_client::Client::subscribe(self, subject)
            .await
            .expect("subscribe");
        sub.map(|m| m.payload.len()).boxed()
    }

    async fn request(&self, subject: &'static str, payload: Bytes) {
        nats_client::Client::request(self, subject, payload)
            .await
            .expect("request");
    }

    type Js = nats_client::jetstream::Context;
    type Ack = nats_client::jetstream::PublishAckFuture;

    fn jetstream(&self, max_acks: usize) -> Self::Js {
        nats_client::jetstream::new(self.clone()).with_max_acks_in_flight(max_acks)
    }

    async fn recreate_stream(
        js: &Self::Js,
        name: &'static str,
        subject: &'static str,
        memory: bool,
    ) {
        use nats_client::jetstream::api::{StorageType, StreamConfig};
        js.delete_stream(name).await.ok();
        let mut config = StreamConfig::new(name);
        config.subjects = vec![subject.to_owned()];
        config.storage = if memory {
            StorageType::Memory
        } else {
            StorageType::File
        };
        js.create_stream(config).await.expect("create stream");
    }

    async fn delete_stream(js: &Self::Js, name: &'static str) {
        js.delete_stream(name).await.expect("delete stream");
    }

    async fn js_publish(js: &Self::Js, subject: &'static str, payload: Bytes) -> Self::Ack {
        js.publish(subject, payload)
            .await
            .expect("JetStream publish")
    }

    async fn ack(ack: Self::Ack) {
        ack.await.expect("JetStream ack");
    }

    type Kv = nats_client::jetstream::kv::Store;

    async fn recreate_kv(js: &Self::Js, bucket: &'static str, memory: bool) -> Self::Kv {
        use nats_client::jetstream::api::StorageType;
        use nats_client::jetstream::kv::Config;
        js.delete_key_value(bucket).await.ok();
        let mut config = Config::new(bucket);
        config.history = 1;
        config.storage = if memory {
            StorageType::Memory
        } else {
            StorageType::File
        };
        js.create_key_value(config).await.expect("create bucket")
    }

    async fn delete_kv(js: &Self::Js, bucket: &'static str) {
        js.delete_key_value(bucket).await.expect("delete bucket");
    }

    async fn kv_put(kv: &Self::Kv, key: &'static str, value: Bytes) {
        kv.put(key, value).await.expect("key-value put");
    }

    async fn kv_get(kv: &Self::Kv, key: &'static str) -> usize {
        kv.get(key)
            .await
            .expect("key-value get")
            .expect("key has a value")
            .len()
    }

    async fn kv_watch_all(kv: &Self::Kv) -> Boxed<usize> {
        let watch = kv.watch_all().await.expect("key-value watch");
        watch.map_while(|e| Some(e.ok()?.value.len())).boxed()
    }
}

impl Nats for async_nats::Client {
    async fn connect(url: &str) -> Self {
        async_nats::connect(url).await.expect("connect")
    }

    async fn publish(&self, subject: &'static str, payload: Bytes) {
        async_nats::Client::publish(self, subject, payload)
            .await
            .expect("publish");
    }

    async fn flush(&self) {
        async_nats::Client::flush(self).await.expect("flush");
    }

    async fn subscribe(&self, subject: &str) -> Boxed<usize> {
        let sub = async_nats::Client::subscribe(self, subject.to_owned())
            .await
            .expect("subscribe");
        sub.map(|m| m.payload.len()).boxed()
    }

    async fn request(&self, subject: &'static str, payload: Bytes) {
        async_nats::Client::request(self, subject, payload)
            .await
            .expect("request");
    }

    type Js = async_nats::jetstream::Context;
    type Ack = async_nats::jetstream::context::PublishAckFuture;

    fn jetstream(&self, max_acks: usize) -> Self::Js {
        async_nats::jetstream::context::ContextBuilder::new()
            .max_ack_inflight(max_acks)
            .backpressure_on_inflight(true)
            .build(self.clone())
    }

    async fn recreate_stream(
        js: &Self::Js,
        name: &'static str,
        subject: &'static str,
        memory: bool,
    ) {
        use async_nats::jetstream::stream::{Config, StorageType};
        js.delete_stream(name).await.ok();
        js.create_stream(Config {
            name: name.to_owned(),
            subjects: vec![subject.to_owned()],
            storage: if memory {
                StorageType::Memory
            } else {
                StorageType::File
            },
            ..Config::default()
        })
        .await
        .expect("create stream");
    }

    async fn delete_stream(js: &Self::Js, name: &'static str) {
        js.delete_stream(name).await.expect("delete stream");
    }

    async fn js_publish(js: &Self::Js, subject: &'static str, payload: Bytes) -> Self::Ack {
        js.publish(subject, payload)
            .await
            .expect("JetStream publish")
    }

    async fn ack(ack: Self::Ack) {
        ack.await.expect("JetStream ack");
    }

    type Kv = async_nats::jetstream::kv::Store;

    async fn recreate_kv(js: &Self::Js, bucket: &'static str, memory: bool) -> Self::Kv {
        use async_nats::jetstream::kv::Config;
        use async_nats::jetstream::stream::StorageType;
        js.delete_key_value(bucket).await.ok();
        js.create_key_value(Config {
            bucket: bucket.to_owned(),
            history: 1,
            storage: if memory {
                StorageType::Memory
            } else {
                StorageType::File
            },
            ..Config::default()
        })
        .await
        .expect("create bucket")
    }

    async fn delete_kv(js: &Self::Js, bucket: &'static str) {
        js.delete_key_value(bucket).await.expect("delete bucket");
    }

    async fn kv_put(kv: &Self::Kv, key: &'static str, value: Bytes) {
        kv.put(key, value).await.expect("key-value put");
    }

    async fn kv_get(kv: &Self::Kv, key: &'static str) -> usize {
        kv.get(key)
            .await
            .expect("key-value get")
            .expect("key has a value")
            .len()
    }

    async fn kv_watch_all(kv: &Self::Kv) -> Boxed<usize> {
        let watch = kv.watch_all().await.expect("key-value watch");
        watch.map_while(|e| Some(e.ok()?.value.len())).boxed()
    }
}

/// Which client, on which runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arm {
    Ours,
    Theirs,
}

/// How an arm's runtime is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// tokio, multi-thread (one worker per core).
    MultiThread,
    /// tokio, current-thread.
    CurrentThread,
}

pub(crate) fn runtime(flavor: Flavor) -> tokio::runtime::Runtime {
    match flavor {
        Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    }
    .expect("tokio runtime")
}

/// Builds a runtime of `flavor`, connects the arm's client and runs `body` with it.
pub(crate) fn run_tokio<T>(arm: Arm, flavor: Flavor, url: &str, body: impl AsyncBody<T>) -> T {
    let rt = runtime(flavor);
    rt.block_on(async {
        match arm {
            Arm::Ours => body.run(nats_client::Client::connect(url).await, url).await,
            Arm::Theirs => body.run(async_nats::Client::connect(url).await, url).await,
        }
    })
}

/// A scenario body, generic over the client (closures cannot be).
pub(crate) trait AsyncBody<T> {
    fn run<C: Nats>(self, client: C, url: &str) -> impl Future<Output = T>;
}
