//! Key-value gets of ours interleaved with the raw round trips they are held to: one
//! process, one bucket, and chunks of [`CHUNK`] gets taking turns (a blocking socket, one raw
//! async task on the same runtime, our client), the order rotated every round.
//!
//! Invariant: every arm gets the same number of chunks in every position of the order, so a
//! ratio between two arms compares gets made in the same seconds. Rows measured one arm after
//! another, minutes apart, move with whatever else the machine does meanwhile; on this kind
//! of machine that drift is larger than the margins the get target is about.

use std::time::{Duration, Instant};

use nats_client::jetstream::kv::Store;

use crate::clients::runtime;
use crate::raw;
use crate::scenarios::{KV_BUCKET, KV_KEY, KV_SUBJECT};
use crate::{Runtime, Sample};

/// Gets an arm makes before the next arm's turn.
const CHUNK: usize = 500;

/// The arms of an interleaved run, in the order of the first round.
const ARMS: usize = 3;

/// What one interleaved run measured: the latency samples of each arm.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Interleaved {
    /// Our client's `Store::get`.
    pub(crate) ours: Sample,
    /// A blocking socket's direct get: write the request, read the reply.
    pub(crate) blocking: Sample,
    /// The same round trip by one async task on the same runtime, reading and writing its
    /// socket itself.
    pub(crate) one_task: Sample,
}

/// About `n` gets per arm of the key holding `size` bytes (a file bucket with direct get),
/// ours and the one-task arm on runtime `on`, after a round that warms every arm up unmeasured.
pub(crate) fn kv_get(url: &str, size: usize, n: usize, on: Runtime) -> Interleaved {
    let mut conn = raw::requester_with(url, true);
    raw::raw_bucket(&mut conn, false, Some(&vec![b'x'; size]));
    let subject = format!("$JS.API.DIRECT.GET.KV_{KV_BUCKET}.{KV_SUBJECT}");
    let blocking_frame = raw::pub_frame(&subject, Some("_INBOX.rawbench.1"), b"");
    let task_frame = raw::pub_frame(&subject, Some("_INBOX.rawasync.1"), b"");
    let (mut line, mut body) = (Vec::with_capacity(256), Vec::with_capacity(1024));
    let mut blocking = |times: &mut Vec<Duration>| {
        for _ in 0..CHUNK {
            let started = Instant::now();
            std::io::Write::write_all(&mut conn.writer, &blocking_frame).expect("write");
            raw::read_msg(&mut conn.reader, &mut line, &mut body);
            times.push(started.elapsed());
        }
    };
    let rounds = n.div_ceil(CHUNK);
    let addr = raw::addr(url);
    let [ours, blocking, one_task] = match on.flavor() {
        Some(flavor) => {
            let rt = runtime(flavor);
            let (mut reader, mut writer) = rt.block_on(raw::raw_async_connection(addr));
            let kv = rt.block_on(async {
                let client = nats_client::tokio::connect(url).await.expect("connect");
                bind(client).await
            });
            let (mut line, mut body) = (Vec::with_capacity(256), Vec::with_capacity(1024));
            interleave(rounds, |arm, times| match arm {
                0 => rt.block_on(timed(times, async || our_get(&kv).await)),
                1 => blocking(times),
                _ => rt.block_on(timed(times, async || {
                    raw::tokio_round_trip(
                        &mut reader,
                        &mut writer,
                        &task_frame,
                        &mut line,
                        &mut body,
                    )
                    .await
                })),
            })
        }
        None => {
            let (mut stream, kv) = smol::block_on(async {
                let stream = raw::smol_raw_connection(&addr).await;
                let client = nats_client::smol::connect(url).await.expect("connect");
                (stream, bind(client).await)
            });
            let (mut line, mut body) = (Vec::with_capacity(256), Vec::with_capacity(1024));
            interleave(rounds, |arm, times| match arm {
                0 => smol::block_on(timed(times, async || our_get(&kv).await)),
                1 => blocking(times),
                _ => smol::block_on(timed(times, async || {
                    raw::smol_round_trip(&mut stream, &task_frame, &mut line, &mut body).await
                })),
            })
        }
    };
    raw::delete_raw_bucket(&mut conn);
    Interleaved {
        ours,
        blocking,
        one_task,
    }
}

/// Runs `rounds` rounds of a chunk per arm (position `p` of round `r` is arm `(p + r) % 3`),
/// after one unmeasured round, and returns each arm's latency sample.
fn interleave(rounds: usize, mut chunk: impl FnMut(usize, &mut Vec<Duration>)) -> [Sample; ARMS] {
    let mut warm_up = Vec::with_capacity(CHUNK);
    for arm in 0..ARMS {
        chunk(arm, &mut warm_up);
    }
    let mut times: [Vec<Duration>; ARMS] =
        std::array::from_fn(|_| Vec::with_capacity(rounds * CHUNK));
    for round in 0..rounds {
        for position in 0..ARMS {
            let arm = (position + round) % ARMS;
            chunk(arm, &mut times[arm]);
        }
    }
    times.map(|mut t| Sample::latency(&mut t))
}

/// A chunk of `op`, each timed into `times`.
async fn timed(times: &mut Vec<Duration>, mut op: impl AsyncFnMut()) {
    for _ in 0..CHUNK {
        let started = Instant::now();
        op().await;
        times.push(started.elapsed());
    }
}

/// The bucket the raw connection created, bound by `client`.
async fn bind(client: nats_client::Client) -> Store {
    nats_client::jetstream::new(client)
        .get_key_value(KV_BUCKET)
        .await
        .expect("bind the bucket")
}

async fn our_get(kv: &Store) {
    kv.get(KV_KEY)
        .await
        .expect("key-value get")
        .expect("the key has a value");
}
