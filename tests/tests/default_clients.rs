//! Several clients built the way users build them (`connect(url)`, default options), in one
//! process and in two, against a real nats-server.
//!
//! Whatever makes one client distinct from another (its inbox prefix, request tokens, pull
//! inboxes) must differ between clients nobody configured: these scenarios cross the traffic
//! of two such clients and check that each gets only what is its own. The second process is
//! this test binary run again on [`child_process`], with its role in `NATS_TEST_CHILD`.

use std::collections::BTreeSet;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use futures_lite::StreamExt;
use nats_client::{jetstream, Client};
use nats_tests::NatsServer;

#[macro_use]
mod common;
use common::js::{create_stream, durable, js_server, publish_range};
use common::runtime::{within, Rt};

const WAIT: Duration = Duration::from_secs(60);
/// How long each request waits for its held reply: the responder answers only once every
/// request of both clients arrived, a second process's start-up included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(50);
/// Requests each client has in flight at once.
const REQUESTS: usize = 100;
/// Messages in the stream the pull workers share.
const JOBS: u64 = 300;
/// The environment variable that turns this binary into the second process.
const CHILD_ROLE: &str = "NATS_TEST_CHILD";

/// Runs every future to completion, concurrently, and returns their outputs in order.
async fn join_all<T>(futures: Vec<Pin<Box<dyn Future<Output = T> + '_>>>) -> Vec<T> {
    let mut futures: Vec<_> = futures.into_iter().map(Some).collect();
    let mut outputs: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (slot, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                if let Poll::Ready(value) = future.as_mut().poll(cx) {
                    *output = Some(value);
                    *slot = None;
                }
            }
        }
        if futures.iter().all(Option::is_none) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("finished")).collect()
}

/// A responder on `echo`, subscribed when this returns, that holds every request until
/// `total` have arrived, then answers them all, newest first, so that the replies of
/// different clients cross on the wire.
async fn held_echo(responder: Client, total: usize) -> impl Future<Output = ()> {
    let mut requests = responder.subscribe("echo").await.unwrap();
    responder.flush().await.unwrap();
    async move {
        let mut held = Vec::with_capacity(total);
        while held.len() < total {
            held.push(requests.next().await.expect("a request"));
        }
        for request in held.into_iter().rev() {
            let reply = request.reply.expect("a request has a reply subject");
            responder.publish(&reply, request.payload).await.unwrap();
        }
        responder.flush().await.unwrap();
    }
}

/// `REQUESTS` concurrent requests on `echo`, each with a payload naming `who` and its index;
/// returns how many replies carried another request's payload.
async fn misrouted_replies(client: &Client, who: &str) -> usize {
    let asks: Vec<Pin<Box<dyn Future<Output = bool> + '_>>> = (0..REQUESTS)
        .map(|i| {
            let payload = format!("{who}-{i}");
            Box::pin(async move {
                let request = client
                    .request_builder()
                    .payload(payload.clone().into())
                    .timeout(REQUEST_TIMEOUT);
                let reply = client.send_request("echo", request).await.unwrap();
                reply.payload != payload.as_bytes()
            }) as Pin<Box<dyn Future<Output = bool> + '_>>
        })
        .collect();
    join_all(asks).await.into_iter().filter(|&bad| bad).count()
}

async fn two_clients_in_one_process_get_only_their_own_replies(rt: Rt) {
    let server = NatsServer::start();
    let url = server.url();
    let (a, b, responder) = (
        rt.connect(&url).await,
        rt.connect(&url).await,
        rt.connect(&url).await,
    );
    let responding = held_echo(responder, 2 * REQUESTS).await;
    let asking = futures_lite::future::zip(misrouted_replies(&a, "a"), misrouted_replies(&b, "b"));
    let ((), (wrong_a, wrong_b)) = within(
        WAIT,
        "every request answered",
        futures_lite::future::zip(responding, asking),
    )
    .await;
    assert_eq!(
        (wrong_a, wrong_b),
        (0, 0),
        "replies meant for one client reached the other"
    );
    assert_ne!(a.new_inbox(), b.new_inbox(), "two clients drew one inbox");
}

/// The second process; killed when dropped, so a failing test leaves none behind.
struct ChildProcess(Child);

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The test binary run again as a second process in `role`; its stdout is piped.
fn spawn_child(role: &str) -> ChildProcess {
    let child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ROLE, role)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the second process starts");
    ChildProcess(child)
}

/// What the child prints after this marker is a result; the rest is libtest's.
const CHILD_LINE: &str = "CHILD ";

/// The result on a line of the child's output, if it has one (libtest may print
/// `test child_process ... ` in front of the first).
fn child_result(line: &str) -> Option<&str> {
    line.split_once(CHILD_LINE).map(|(_, result)| result)
}

/// The second process: does what `NATS_TEST_CHILD` says, printing results as `CHILD` lines.
/// Started by the scenarios of this file; run without that variable it has nothing to do.
#[test]
fn child_process() {
    let Ok(role) = std::env::var(CHILD_ROLE) else {
        return;
    };
    let (role, url) = role.split_once(' ').expect("role and URL");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = nats_client::tokio::connect(url).await.expect("connects");
        match role {
            "requests" => {
                let wrong = misrouted_replies(&client, "child").await;
                println!("{CHILD_LINE}misrouted {wrong}");
            }
            "pull-worker" => {
                pull_worker(&client, |seq| println!("{CHILD_LINE}{seq}")).await;
            }
            other => panic!("unknown child role {other}"),
        }
    });
}

/// Two processes, each a client with default options, issue concurrent requests.
#[test]
fn two_processes_get_only_their_own_replies() {
    let server = NatsServer::start();
    let url = server.url();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let client = nats_client::tokio::connect(&url).await.unwrap();
            let responder = nats_client::tokio::connect(&url).await.unwrap();
            let responding = held_echo(responder, 2 * REQUESTS).await;
            let mut child = spawn_child(&format!("requests {url}"));
            let child_output = child.0.stdout.take().unwrap();
            let ((), wrong_here) = within(
                WAIT,
                "every request of both processes answered",
                futures_lite::future::zip(responding, misrouted_replies(&client, "parent")),
            )
            .await;
            let status = child.0.wait().unwrap();
            let report: Vec<String> = BufReader::new(child_output)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| child_result(&l).map(str::to_owned))
                .collect();
            assert!(status.success(), "the second process failed: {report:?}");
            assert_eq!(
                (wrong_here, report),
                (0, vec!["misrouted 0".to_owned()]),
                "replies meant for one process reached the other"
            );
        });
}

/// An empty stream `JOBS` and a durable pull consumer `workers` with explicit acks, made by a
/// client of its own so that the workers' clients start alike.
async fn durable_on_empty_stream(client: &Client) {
    let js = jetstream::new(client.clone());
    let stream = create_stream(&js, "JOBS", &["jobs.>"]).await;
    stream.create_consumer(durable("workers")).await.unwrap();
}

/// Once both workers have a pull waiting on the consumer, publishes the `JOBS` messages, so
/// that deliveries go to both pulls at once.
async fn publish_jobs_to_two_pulls(client: &Client) {
    let js = jetstream::new(client.clone());
    let stream = js.get_stream("JOBS").await.unwrap();
    while stream.consumer_info("workers").await.unwrap().num_waiting < 2 {
        async_io::Timer::after(Duration::from_millis(20)).await;
    }
    publish_range(&js, "jobs.new", 0..JOBS).await;
}

/// Consumes the durable `workers` forever, acking each message and reporting its stream
/// sequence.
async fn pull_worker(client: &Client, mut report: impl FnMut(u64)) {
    let js = jetstream::new(client.clone());
    let consumer = js
        .get_stream("JOBS")
        .await
        .unwrap()
        .get_consumer("workers")
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    while let Some(message) = messages.next().await {
        let message = message.expect("a delivery");
        let seq = message.metadata().unwrap().stream_sequence;
        message.ack().await.unwrap();
        report(seq);
    }
}

/// What one worker took, shared with the checker.
type Taken = Arc<Mutex<Vec<u64>>>;

/// Checks that the workers' takes together are each job exactly once.
fn assert_each_job_once(takes: &[&Taken]) {
    let all: Vec<u64> = takes
        .iter()
        .flat_map(|t| t.lock().unwrap().clone())
        .collect();
    let distinct: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(
        all.len(),
        distinct.len(),
        "a delivery reached two workers: {} deliveries of {} jobs",
        all.len(),
        distinct.len()
    );
    assert_eq!(distinct, (1..=JOBS).collect(), "every job was delivered");
}

/// Waits until the workers have taken `JOBS` messages between them.
async fn until_all_taken(takes: &[&Taken]) {
    loop {
        let n: usize = takes.iter().map(|t| t.lock().unwrap().len()).sum();
        if n >= JOBS as usize {
            return;
        }
        async_io::Timer::after(Duration::from_millis(20)).await;
    }
}

/// Runs the `workers` (which never end) while `publisher` publishes the jobs to their two
/// pulls, until `takes` hold every job, within `WAIT`.
async fn all_jobs_taken(publisher: &Client, workers: impl Future, takes: &[&Taken]) {
    within(
        WAIT,
        "every job taken by the two workers",
        futures_lite::future::or(
            async {
                workers.await;
                panic!("a worker's stream ended");
            },
            async {
                publish_jobs_to_two_pulls(publisher).await;
                until_all_taken(takes).await;
            },
        ),
    )
    .await;
}

async fn two_workers_in_one_process_share_no_delivery(rt: Rt) {
    let server = js_server();
    let url = server.url();
    let publisher = rt.connect(&url).await;
    durable_on_empty_stream(&publisher).await;
    let (a, b) = (rt.connect(&url).await, rt.connect(&url).await);
    let (taken_a, taken_b): (Taken, Taken) = Default::default();
    // Boxed: two consumer streams side by side are a large future for a test thread's stack.
    let work_a = Box::pin(pull_worker(&a, |seq| taken_a.lock().unwrap().push(seq)));
    let work_b = Box::pin(pull_worker(&b, |seq| taken_b.lock().unwrap().push(seq)));
    let workers = futures_lite::future::zip(work_a, work_b);
    all_jobs_taken(&publisher, workers, &[&taken_a, &taken_b]).await;
    assert_each_job_once(&[&taken_a, &taken_b]);
}

/// Two processes, each a client with default options, work one durable pull consumer.
#[test]
fn two_worker_processes_share_no_delivery() {
    let server = js_server();
    let url = server.url();
    let (taken_here, taken_there): (Taken, Taken) = Default::default();
    let mut child = None;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let publisher = nats_client::tokio::connect(&url).await.unwrap();
            durable_on_empty_stream(&publisher).await;
            let client = nats_client::tokio::connect(&url).await.unwrap();
            let mut worker = spawn_child(&format!("pull-worker {url}"));
            let output = worker.0.stdout.take().unwrap();
            let there = Arc::clone(&taken_there);
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    if let Some(seq) = child_result(&line) {
                        there.lock().unwrap().push(seq.parse().expect("a sequence"));
                    }
                }
            });
            child = Some(worker);
            let work = pull_worker(&client, |seq| taken_here.lock().unwrap().push(seq));
            all_jobs_taken(&publisher, work, &[&taken_here, &taken_there]).await;
        });
    drop(child.expect("the second process ran"));
    assert_each_job_once(&[&taken_here, &taken_there]);
}

on_every_runtime!(
    two_clients_in_one_process_get_only_their_own_replies,
    two_workers_in_one_process_share_no_delivery,
);
