//! The scenarios against a server, each written once over [`Nats`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::StreamExt;

use crate::alloc::Window;
use crate::clients::{AsyncBody, Nats};
use crate::Sample;

fn payload(size: usize) -> Bytes {
    Bytes::from(vec![b'x'; size])
}

/// `n` publishes of `size` bytes, then a flush: every message reached the server.
pub(crate) struct Publish {
    pub(crate) size: usize,
    pub(crate) n: usize,
}

impl AsyncBody<Sample> for Publish {
    async fn run<C: Nats>(self, client: C, _url: &str) -> Sample {
        let payload = payload(self.size);
        for _ in 0..self.n / 10 {
            client.publish("bench.pub", payload.clone()).await;
        }
        client.flush().await;
        let window = Window::start();
        let started = Instant::now();
        for _ in 0..self.n {
            client.publish("bench.pub", payload.clone()).await;
        }
        client.flush().await;
        Sample::rate(self.n, started.elapsed()).allocs(window.per(self.n as u64))
    }
}

/// `tasks` tasks publishing `n` messages in all (16 B) through clones of one client.
pub(crate) struct Contention {
    pub(crate) tasks: usize,
    pub(crate) n: usize,
}

impl AsyncBody<Sample> for Contention {
    async fn run<C: Nats>(self, client: C, _url: &str) -> Sample {
        let payload = payload(16);
        let per_task = self.n / self.tasks;
        let total = per_task * self.tasks;
        for _ in 0..self.n / 10 {
            client.publish("bench.pub", payload.clone()).await;
        }
        client.flush().await;
        let window = Window::start();
        let started = Instant::now();
        let handles: Vec<_> = (0..self.tasks)
            .map(|_| {
                let (client, payload) = (client.clone(), payload.clone());
                spawn_task(async move {
                    for _ in 0..per_task {
                        client.publish("bench.pub", payload.clone()).await;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await;
        }
        client.flush().await;
        Sample::rate(total, started.elapsed()).allocs(window.per(total as u64))
    }
}

/// Whether the scenario runs on smol (its client's driver and its own tasks) instead of tokio.
pub(crate) static ON_SMOL: AtomicBool = AtomicBool::new(false);

/// Spawns one of the scenario's tasks on its executor; the future completes with the task.
fn spawn_task(
    task: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    if ON_SMOL.load(Ordering::Relaxed) {
        Box::pin(smol::spawn(task))
    } else {
        let handle = tokio::spawn(task);
        Box::pin(async move { handle.await.expect("scenario task") })
    }
}

/// Spawns a task that runs until its runtime ends (the arm's) or the process does.
pub(crate) fn spawn_detached(task: impl std::future::Future<Output = ()> + Send + 'static) {
    if ON_SMOL.load(Ordering::Relaxed) {
        smol::spawn(task).detach();
    } else {
        tokio::spawn(task);
    }
}

/// Counts a subscription's messages on a spawned task.
async fn counting_subscriber<C: Nats>(client: &C, subject: &'static str) -> Arc<AtomicU64> {
    let messages = client.subscribe(subject).await;
    client.flush().await;
    count_on_task(messages)
}

/// Counts a stream's items on a spawned task.
fn count_on_task(mut messages: futures_lite::stream::Boxed<usize>) -> Arc<AtomicU64> {
    let count = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&count);
    spawn_detached(async move {
        while messages.next().await.is_some() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    count
}

/// Polls `count` every millisecond until it reaches `n` or `wait` passes after the last
/// change; returns the count and the time from `started` to when it last changed.
pub(crate) async fn wait_for_count(
    count: &AtomicU64,
    n: u64,
    started: Instant,
    wait: Duration,
) -> (u64, Duration) {
    let mut last = (count.load(Ordering::Relaxed), Instant::now());
    while last.0 < n && last.1.elapsed() < wait {
        smol::Timer::after(Duration::from_millis(1)).await;
        let now = count.load(Ordering::Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        }
    }
    (last.0, last.1 - started)
}

/// A publisher and a subscriber on two connections of the same client.
pub(crate) struct PubSub {
    pub(crate) size: usize,
    pub(crate) n: usize,
    pub(crate) wait: Duration,
}

impl AsyncBody<Sample> for PubSub {
    async fn run<C: Nats>(self, publisher: C, url: &str) -> Sample {
        let subscriber = C::connect(url).await;
        let count = counting_subscriber(&subscriber, "bench.ps").await;
        let payload = payload(self.size);
        let window = Window::start();
        let started = Instant::now();
        for _ in 0..self.n {
            publisher.publish("bench.ps", payload.clone()).await;
        }
        publisher.flush().await;
        let (got, elapsed) = wait_for_count(&count, self.n as u64, started, self.wait).await;
        Sample::rate(got as usize, elapsed)
            .delivered(got, self.n)
            .allocs(window.per(self.n as u64))
    }
}

/// A raw publisher (no allocations) feeding the client's subscription: what receiving
/// costs alone.
pub(crate) struct Receive {
    pub(crate) size: usize,
    pub(crate) n: usize,
    pub(crate) wait: Duration,
}

impl AsyncBody<Sample> for Receive {
    async fn run<C: Nats>(self, client: C, url: &str) -> Sample {
        let count = counting_subscriber(&client, "bench.recv").await;
        let (go, publisher) = crate::raw::publisher_thread(url, "bench.recv", self.size, self.n);
        let window = Window::start();
        let started = Instant::now();
        go.send(()).ok();
        let (got, elapsed) = wait_for_count(&count, self.n as u64, started, self.wait).await;
        let allocs = window.per(got);
        publisher.join().ok();
        Sample::rate(got as usize, elapsed)
            .delivered(got, self.n)
            .allocs(allocs)
    }
}

/// Who answers the requests of [`RequestLatency`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Responder {
    /// The raw responder thread on `bench.req` (the raw arm's too).
    Raw,
    /// A plain subscriber-responder of the arm's own client ([`Nats::spawn_responder`]).
    Plain,
    /// A service of the arm's own client ([`Nats::spawn_service`]).
    Service,
}

/// A subject no earlier arm used, for a responder that lives as long as its arm: a
/// responder of an arm that just ended may linger in the server for a moment, and in a
/// queue group it could be picked for a request that would then go unanswered.
fn fresh_subject(prefix: &str) -> &'static str {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // A few bytes per arm, for the life of the process.
    Box::leak(format!("{prefix}.{n}").into_boxed_str())
}

/// Sequential requests: latency of each, with `subs` other subscriptions open on the
/// requesting connection. A responder of the client's own runs on a second connection of
/// the same client and runtime, so its allocations count in the window too.
pub(crate) struct RequestLatency {
    pub(crate) n: usize,
    pub(crate) subs: usize,
    pub(crate) responder: Responder,
}

impl AsyncBody<Sample> for RequestLatency {
    async fn run<C: Nats>(self, client: C, url: &str) -> Sample {
        let subject = match self.responder {
            Responder::Raw => "bench.req",
            Responder::Plain => {
                let subject = fresh_subject("bench.own");
                C::connect(url).await.spawn_responder(subject).await;
                subject
            }
            Responder::Service => {
                let subject = fresh_subject("bench.svc");
                C::connect(url).await.spawn_service(subject).await;
                subject
            }
        };
        let mut open = Vec::with_capacity(self.subs);
        for i in 0..self.subs {
            open.push(client.subscribe(&format!("bench.idle.{i}")).await);
        }
        client.flush().await;
        let payload = payload(16);
        for _ in 0..self.n / 10 {
            client.request(subject, payload.clone()).await;
        }
        let mut times = Vec::with_capacity(self.n);
        let window = Window::start();
        for _ in 0..self.n {
            let started = Instant::now();
            client.request(subject, payload.clone()).await;
            times.push(started.elapsed());
        }
        let allocs = window.per(self.n as u64);
        drop(open);
        Sample::latency(&mut times).allocs(allocs)
    }
}

/// `inflight` tasks, each sending requests one after the other: requests/s.
pub(crate) struct RequestInflight {
    pub(crate) n: usize,
    pub(crate) inflight: usize,
}

impl AsyncBody<Sample> for RequestInflight {
    async fn run<C: Nats>(self, client: C, _url: &str) -> Sample {
        let payload = payload(16);
        let per_task = self.n / self.inflight;
        let total = per_task * self.inflight;
        let window = Window::start();
        let started = Instant::now();
        let handles: Vec<_> = (0..self.inflight)
            .map(|_| {
                let (client, payload) = (client.clone(), payload.clone());
                spawn_task(async move {
                    for _ in 0..per_task {
                        client.request("bench.req", payload.clone()).await;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await;
        }
        Sample::rate(total, started.elapsed()).allocs(window.per(total as u64))
    }
}

/// The stream of the JetStream publish scenarios (every arm's, one after the other, the raw
/// arm's too) and its one subject.
pub(crate) const JS_STREAM: &str = "BENCH";
pub(crate) const JS_SUBJECT: &str = "bench.js";

/// JetStream publishes of `size` bytes to a fresh stream, keeping up to `window` acks in
/// flight and awaiting them in publish order; the rate counts every ack received.
pub(crate) struct JsPublish {
    pub(crate) size: usize,
    pub(crate) n: usize,
    pub(crate) window: usize,
    /// Memory storage (else file).
    pub(crate) memory: bool,
}

impl JsPublish {
    async fn batch<C: Nats>(&self, js: &C::Js, payload: &Bytes, n: usize) {
        let mut acks = VecDeque::with_capacity(self.window);
        for _ in 0..n {
            if acks.len() == self.window {
                if let Some(ack) = acks.pop_front() {
                    C::ack(ack).await;
                }
            }
            acks.push_back(C::js_publish(js, JS_SUBJECT, payload.clone()).await);
        }
        while let Some(ack) = acks.pop_front() {
            C::ack(ack).await;
        }
    }
}

impl AsyncBody<Sample> for JsPublish {
    async fn run<C: Nats>(self, client: C, _url: &str) -> Sample {
        // The context's own limit is the window, so neither client waits inside `publish`
        // before the loop awaits the oldest ack.
        let js = client.jetstream(self.window);
        C::recreate_stream(&js, JS_STREAM, JS_SUBJECT, self.memory).await;
        let payload = payload(self.size);
        self.batch::<C>(&js, &payload, (self.n / 10).max(self.window))
            .await;
        let window = Window::start();
        let started = Instant::now();
        self.batch::<C>(&js, &payload, self.n).await;
        let sample = Sample::rate(self.n, started.elapsed()).allocs(window.per(self.n as u64));
        C::delete_stream(&js, JS_STREAM).await;
        sample
    }
}

/// The bucket of the key-value scenarios (every arm's, one after the other) and its key.
pub(crate) const KV_BUCKET: &str = "BENCHKV";
pub(crate) const KV_KEY: &str = "key";
/// The subject a put to [`KV_KEY`] publishes to.
pub(crate) const KV_SUBJECT: &str = "$KV.BENCHKV.key";

/// Sequential key-value puts of `size` bytes to one key of a fresh bucket (history 1), each
/// ack awaited before the next put (both clients' `put` awaits its ack).
pub(crate) struct KvPut {
    pub(crate) size: usize,
    pub(crate) n: usize,
    /// Memory storage (else file).
    pub(crate) memory: bool,
}

impl AsyncBody<Sample> for KvPut {
    async fn run<C: Nats>(self, client: C, _url: &str) -> Sample {
        let js = client.jetstream(256);
        let kv = C::recreate_kv(&js, KV_BUCKET, self.memory).await;
        let value = payload(self.size);
        for _ in 0..self.n / 10 {
            C::kv_put(&kv, KV_KEY, value.clone()).await;
        }
        let window = Window::start();
        let started = Instant::now();
        for _ in 0..self.n {
            C::kv_put(&kv, KV_KEY, value.clone()).await;
        }
        let sample = Sample::rate(self.n, started.elapsed()).allocs(window.per(self.n as u64));
        C::delete_kv(&js, KV_BUCKET).await;
        sample
    }
}

/// Sequential gets of one key holding `size` bytes (direct get): latency of each.
pub(crate) struct KvGet {
    pub(crate) size: usize,
    pub(crate) n: usize,
    /// Memory storage (else file).
    pub(crate) memory: bool,
}

impl AsyncBody<Sample> for KvGet {
    async fn run<C: Nats>(self, client: C, _url: &str) -> Sample {
        let js = client.jetstream(256);
        let kv = C::recreate_kv(&js, KV_BUCKET, self.memory).await;
        C::kv_put(&kv, KV_KEY, payload(self.size)).await;
        for _ in 0..self.n / 10 {
            assert_eq!(C::kv_get(&kv, KV_KEY).await, self.size);
        }
        let mut times = Vec::with_capacity(self.n);
        let window = Window::start();
        for _ in 0..self.n {
            let started = Instant::now();
            C::kv_get(&kv, KV_KEY).await;
            times.push(started.elapsed());
        }
        let allocs = window.per(self.n as u64);
        C::delete_kv(&js, KV_BUCKET).await;
        Sample::latency(&mut times).allocs(allocs)
    }
}

/// A watch of every key of a fresh bucket where a raw writer (no allocations) first put `n`
/// values of `size` bytes to `n` keys: from the watch's start, entries/s the watcher
/// receives until it has them all, and allocations per entry received. (A watcher beside
/// a live writer measures the writer: the stream ingests more slowly than a watcher reads.)
pub(crate) struct KvWatch {
    pub(crate) size: usize,
    pub(crate) n: usize,
    pub(crate) wait: Duration,
    /// Memory storage (else file).
    pub(crate) memory: bool,
}

impl AsyncBody<Sample> for KvWatch {
    async fn run<C: Nats>(self, client: C, url: &str) -> Sample {
        let js = client.jetstream(256);
        let kv = C::recreate_kv(&js, KV_BUCKET, self.memory).await;
        let (go, writer) = crate::raw::kv_writer_thread(url, self.size, self.n);
        go.send(()).ok();
        writer.join().expect("the raw writer");
        let window = Window::start();
        let started = Instant::now();
        let count = count_on_task(C::kv_watch_all(&kv).await);
        let (got, elapsed) = wait_for_count(&count, self.n as u64, started, self.wait).await;
        let allocs = window.per(got);
        C::delete_kv(&js, KV_BUCKET).await;
        Sample::rate(got as usize, elapsed)
            .delivered(got, self.n)
            .allocs(allocs)
    }
}

/// Opens `count` more connections (after the arm's first, which warms the process up) and
/// leaves them idle: resident memory added per connection, in bytes.
pub(crate) struct IdleConnections {
    pub(crate) count: usize,
}

impl AsyncBody<Sample> for IdleConnections {
    async fn run<C: Nats>(self, first: C, url: &str) -> Sample {
        first.flush().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let before = crate::memory::rss_bytes();
        let mut clients = Vec::with_capacity(self.count);
        for _ in 0..self.count {
            let client = C::connect(url).await;
            client.flush().await;
            clients.push(client);
        }
        // Let every connection's tasks settle into their idle state.
        tokio::time::sleep(Duration::from_millis(500)).await;
        for client in &clients {
            client.flush().await;
        }
        let after = crate::memory::rss_bytes();
        let per = after.saturating_sub(before) as f64 / self.count.max(1) as f64;
        eprintln!(
            "    RSS {:.1} MiB before, {:.1} MiB with {} more connections",
            before as f64 / 1048576.0,
            after as f64 / 1048576.0,
            self.count
        );
        drop(clients);
        Sample {
            value: per,
            p99: None,
            delivered: None,
            allocs: None,
        }
    }
}

/// [`PubSub`] of `n` × `size` bytes, reporting the process's peak resident memory (VmHWM)
/// as the value; run in a child process of its own so the peak is this arm's alone.
pub(crate) struct PeakPubSub {
    pub(crate) size: usize,
    pub(crate) n: usize,
    pub(crate) wait: Duration,
}

impl AsyncBody<Sample> for PeakPubSub {
    async fn run<C: Nats>(self, publisher: C, url: &str) -> Sample {
        let before = crate::memory::rss_bytes();
        let body = PubSub {
            size: self.size,
            n: self.n,
            wait: self.wait,
        };
        let sample = body.run(publisher, url).await;
        let peak = crate::memory::peak_rss_bytes();
        eprintln!(
            "    RSS {:.1} MiB before, peak {:.1} MiB, {} msgs/s",
            before as f64 / 1048576.0,
            peak as f64 / 1048576.0,
            crate::fmt_value(sample.value, crate::Unit::Rate)
        );
        Sample {
            value: peak as f64,
            ..sample
        }
    }
}

/// The bucket of the object-store scenarios (every arm's, one after the other) and its
/// object.
pub(crate) const OBJ_BUCKET: &str = "BENCHOBJ";
pub(crate) const OBJ_NAME: &str = "object";
/// Whether the object-store buckets use memory storage (else file, both clients' default).
pub(crate) const OBJ_MEMORY: bool = false;

/// A put of one object of `size` bytes, generated as it is read
/// ([`PatternReader`](crate::clients::PatternReader)), to a fresh bucket: bytes per second,
/// and allocations per chunk stored.
pub(crate) struct ObjectPut {
    pub(crate) size: u64,
}

impl AsyncBody<Sample> for ObjectPut {
    async fn run<C: Nats>(self, client: C, _url: &str) -> Sample {
        let js = client.jetstream(256);
        let obj = C::recreate_object_store(&js, OBJ_BUCKET, OBJ_MEMORY).await;
        let window = Window::start();
        let started = Instant::now();
        let chunks = C::object_put(&obj, OBJ_NAME, self.size).await;
        let sample = Sample::rate(self.size as usize, started.elapsed()).allocs(window.per(chunks));
        eprintln!("    {chunks} chunks");
        C::delete_object_store(&js, OBJ_BUCKET).await;
        sample
    }
}

/// A get of one object of `size` bytes that the same client put to a fresh bucket first
/// (untimed), read to its verified end into a sink that only counts: bytes per second, and
/// allocations per chunk read.
pub(crate) struct ObjectGet {
    pub(crate) size: u64,
}

impl AsyncBody<Sample> for ObjectGet {
    async fn run<C: Nats>(self, client: C, _url: &str) -> Sample {
        let js = client.jetstream(256);
        let obj = C::recreate_object_store(&js, OBJ_BUCKET, OBJ_MEMORY).await;
        let chunks = C::object_put(&obj, OBJ_NAME, self.size).await;
        let window = Window::start();
        let started = Instant::now();
        let got = C::object_get(&obj, OBJ_NAME).await;
        let sample = Sample::rate(got as usize, started.elapsed()).allocs(window.per(chunks));
        assert_eq!(got, self.size, "object read whole");
        C::delete_object_store(&js, OBJ_BUCKET).await;
        sample
    }
}

/// The set-up of [`PeakObject`]'s get, run by the parent process: a fresh bucket holding
/// the object, put by the arm's own client.
pub(crate) struct ObjectSetUp {
    pub(crate) size: u64,
}

impl AsyncBody<()> for ObjectSetUp {
    async fn run<C: Nats>(self, client: C, _url: &str) {
        let js = client.jetstream(256);
        let obj = C::recreate_object_store(&js, OBJ_BUCKET, OBJ_MEMORY).await;
        C::object_put(&obj, OBJ_NAME, self.size).await;
    }
}

/// One object put (to a fresh bucket) or get (of the object [`ObjectSetUp`] left) of `size`
/// bytes, alone in a child process: the value is the growth of the process's resident
/// memory from just before the operation to its peak (VmHWM, reset first where the kernel
/// allows), so the runtime, the binary and the connection are not in it.
pub(crate) struct PeakObject {
    pub(crate) size: u64,
    /// A get (else a put).
    pub(crate) get: bool,
}

impl AsyncBody<Sample> for PeakObject {
    async fn run<C: Nats>(self, client: C, _url: &str) -> Sample {
        let js = client.jetstream(256);
        let obj = if self.get {
            C::object_store(&js, OBJ_BUCKET).await
        } else {
            C::recreate_object_store(&js, OBJ_BUCKET, OBJ_MEMORY).await
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let before = crate::memory::reset_peak_rss();
        let window = Window::start();
        let cpu = crate::memory::cpu_time();
        let started = Instant::now();
        let chunks = if self.get {
            let got = C::object_get(&obj, OBJ_NAME).await;
            assert_eq!(got, self.size, "object read whole");
            got.div_ceil(crate::clients::CHUNK_SIZE)
        } else {
            C::object_put(&obj, OBJ_NAME, self.size).await
        };
        let elapsed = started.elapsed();
        let cpu = crate::memory::cpu_time().saturating_sub(cpu);
        let allocs = window.per(chunks);
        let peak = crate::memory::peak_rss_bytes();
        C::delete_object_store(&js, OBJ_BUCKET).await;
        let growth = peak.saturating_sub(before);
        eprintln!(
            "    RSS {:.1} MiB before, peak {:.1} MiB (+{:.1} MiB), {}, CPU {:.0}% of {:.2} s",
            before as f64 / 1048576.0,
            peak as f64 / 1048576.0,
            growth as f64 / 1048576.0,
            crate::fmt_value(
                self.size as f64 / elapsed.as_secs_f64(),
                crate::Unit::Throughput
            ),
            cpu.as_secs_f64() / elapsed.as_secs_f64() * 100.0,
            elapsed.as_secs_f64(),
        );
        Sample {
            value: growth as f64,
            p99: None,
            delivered: None,
            allocs: Some(allocs),
        }
    }
}
