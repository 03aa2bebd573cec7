//! Micro benches of the sans-IO core, no server: the decoder over a realistic inbound stream
//! (against a bare `memchr` scan of the same bytes, the floor of any line-based parser) and
//! the encoder's publish.

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use nats_sansio::proto::{Decoder, Encoder};

use crate::alloc::Window;

/// One timed result: operations per second, bytes per second, allocations per operation.
pub(crate) struct Micro {
    pub(crate) ops_per_sec: f64,
    pub(crate) bytes_per_sec: f64,
    pub(crate) allocs: f64,
}

/// A deterministic inbound stream of about 4 MiB: mostly `MSG` with 16–256 B payloads, some
/// with a reply subject, one in ten `HMSG` with two headers, and an occasional `PING`.
/// Returns the bytes and the number of messages.
pub(crate) fn inbound_stream() -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(4 << 20);
    let mut seed: u32 = 0x9e37_79b9;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let subjects = [
        "orders.eu.created",
        "telemetry.host-17.cpu",
        "a.b",
        "_INBOX.x7Gq.42",
    ];
    let header = b"NATS/1.0\r\nX-Trace: 4bf92f3577b34da6\r\nContent-Type: text/plain\r\n\r\n";
    let mut messages = 0;
    while out.len() < 4 << 20 {
        let r = next();
        let subject = subjects[(r % 4) as usize];
        let sid = 1 + (r >> 8) % 64;
        let size = 16 + ((r >> 16) % 241) as usize;
        let reply = if r % 5 == 0 {
            " _INBOX.x7Gq.Zt8ff3"
        } else {
            ""
        };
        if r % 10 == 0 {
            let total = header.len() + size;
            out.extend_from_slice(
                format!("HMSG {subject} {sid}{reply} {} {total}\r\n", header.len()).as_bytes(),
            );
            out.extend_from_slice(header);
        } else {
            out.extend_from_slice(format!("MSG {subject} {sid}{reply} {size}\r\n").as_bytes());
        }
        out.extend(std::iter::repeat_n(b'p', size));
        out.extend_from_slice(b"\r\n");
        messages += 1;
        if r % 97 == 0 {
            out.extend_from_slice(b"PING\r\n");
        }
    }
    (out, messages)
}

/// Repeats `pass` until `budget` has passed; `pass` returns (ops, bytes) it did.
fn timed(budget: Duration, mut pass: impl FnMut() -> (u64, u64)) -> Micro {
    pass();
    let window = Window::start();
    let started = Instant::now();
    let (mut ops, mut bytes) = (0u64, 0u64);
    while started.elapsed() < budget {
        let (o, b) = pass();
        ops += o;
        bytes += b;
    }
    let secs = started.elapsed().as_secs_f64();
    Micro {
        ops_per_sec: ops as f64 / secs,
        bytes_per_sec: bytes as f64 / secs,
        allocs: window.per(ops),
    }
}

/// The decoder fed 64 KiB chunks (as a socket read would), decoding every op.
pub(crate) fn decode(stream: &[u8], budget: Duration) -> Micro {
    let mut decoder = Decoder::new();
    timed(budget, || {
        let mut ops = 0;
        for chunk in stream.chunks(64 * 1024) {
            decoder.extend_from_slice(chunk);
            while let Some(op) = decoder.decode().expect("valid stream") {
                std::hint::black_box(op);
                ops += 1;
            }
        }
        (ops, stream.len() as u64)
    })
}

/// Counting line ends with `memchr` over the same bytes; one op is one line.
pub(crate) fn memchr_scan(stream: &[u8], budget: Duration) -> Micro {
    timed(budget, || {
        let lines = memchr::memchr_iter(b'\n', std::hint::black_box(stream)).count();
        (lines as u64, stream.len() as u64)
    })
}

/// `PUB` frames of `size` bytes into the encoder, drained every 1000 as a write would.
pub(crate) fn encode(size: usize, budget: Duration) -> Micro {
    let mut encoder = Encoder::new();
    let payload = Bytes::from(vec![b'x'; size]);
    timed(budget, || {
        let mut bytes = 0;
        for _ in 0..1000 {
            encoder.publish("orders.eu.created", None, None, &payload);
        }
        bytes += encoder.remaining() as u64;
        let n = encoder.remaining();
        encoder.advance(n);
        (1000, bytes)
    })
}
