//! Fuzz body: the connection machine driven by an arbitrary sequence of commands, server
//! bytes and time steps.
//!
//! Invariant checked: nothing panics, time handed in only moves forward, every drain of the
//! outputs ends, and a closed connection stays closed.

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};

use crate::connection::{Directive, Options};
use crate::Connection;

/// Server byte fragments the fuzzer splices together, so runs get past the handshake.
const FRAGMENTS: &[&[u8]] = &[
    b"INFO {\"server_id\":\"S\",\"headers\":true,\"max_payload\":4096,\"proto\":1,\"nonce\":\"abc\"}\r\n",
    b"INFO {\"connect_urls\":[\"10.0.0.1:4222\"],\"ldm\":true}\r\n",
    b"PONG\r\n",
    b"PING\r\n",
    b"+OK\r\n",
    b"MSG a 1 5\r\nhello\r\n",
    b"MSG _INBOX.x.1 2 0\r\n\r\n",
    b"HMSG a 1 12 12\r\nNATS/1.0 503\r\n\r\n\r\n",
    b"HMSG a 1 r 22 24\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\n",
    b"-ERR 'Authorization Violation'\r\n",
    b"-ERR 'Permissions Violation for Subscription to \"a\"'\r\n",
    b"-ERR 'Stale Connection'\r\n",
];

const SUBJECTS: &[&str] = &["a", "a.b", "a.*", "a.>", "", "a b", "_INBOX.x", "a..b"];

/// Runs one fuzz case, with time starting at `start` (the machine never reads a clock; the
/// caller picks any instant).
pub fn connection(start: Instant, data: &[u8]) {
    let mut input = data.iter().copied();
    let mut next = move || input.next();
    let seed = u64::from(next().unwrap_or(0));
    let mut options =
        Options::new("nats://127.0.0.1:4222,nats://127.0.0.2:4222").expect("static URLs parse");
    options.seed = Some(seed);
    options.ping_interval = Duration::from_millis(50);
    options.reconnect_buffer_size = 256;
    options.subscription_pending_messages = 4;
    options.retry_on_initial_connect = seed % 2 == 0;
    let mut now = start;
    let Ok(mut conn) = Connection::new(options, now) else {
        return;
    };
    let mut sids = Vec::new();
    let mut closed = false;
    while let Some(op) = next() {
        let arg = next().unwrap_or(0);
        match op % 12 {
            0 => {
                let frag = FRAGMENTS[arg as usize % FRAGMENTS.len()];
                let cut = next().map_or(frag.len(), |c| c as usize % (frag.len() + 1));
                conn.handle_received(now, &frag[..cut]);
                conn.handle_received(now, &frag[cut..]);
            }
            1 => {
                let raw: Vec<u8> = (0..arg % 16).filter_map(|_| next()).collect();
                conn.handle_received(now, &raw);
            }
            2 => {
                now += Duration::from_millis(u64::from(arg) * 7);
                conn.handle_timeout(now);
            }
            3 => {
                let subject = SUBJECTS[arg as usize % SUBJECTS.len()];
                let _ = conn.publish(subject, None, None, Bytes::from(vec![b'x'; arg as usize]));
            }
            4 => {
                let subject = SUBJECTS[arg as usize % SUBJECTS.len()];
                if let Ok(sid) = conn.subscribe(subject, (arg % 3 == 0).then_some("q")) {
                    sids.push(sid);
                }
            }
            5 => {
                if let Some(&sid) = sids.get(arg as usize % sids.len().max(1)) {
                    match arg % 3 {
                        0 => conn.unsubscribe(sid),
                        1 => conn.unsubscribe_after(sid, u64::from(arg % 4)),
                        _ => conn.drain_subscription(now, sid),
                    }
                }
            }
            6 => {
                let timeout = (arg % 2 == 0).then(|| Duration::from_millis(u64::from(arg)));
                let _ = conn.request(now, "a", None, Bytes::from_static(b"q"), timeout);
            }
            7 => {
                let _ = conn.flush(now, Some(Duration::from_millis(u64::from(arg))));
            }
            8 => conn.handle_disconnected(now, "fuzz"),
            9 => {
                if let Some(&sid) = sids.get(arg as usize % sids.len().max(1)) {
                    for _ in 0..arg % 8 {
                        let _ = conn.next_message(sid);
                    }
                }
            }
            10 => {
                if arg % 16 == 0 {
                    conn.drain(now);
                } else if arg % 16 == 1 {
                    conn.close(now);
                }
            }
            _ => {
                if let Some(deadline) = conn.poll_timeout() {
                    now = now.max(deadline);
                    conn.handle_timeout(now);
                }
            }
        }
        drain_outputs(&mut conn, now, arg);
        if closed {
            assert!(conn.is_closed(), "a closed connection stays closed");
        }
        closed = conn.is_closed();
    }
}

/// Drains every output, connecting or failing as the fuzz byte says; bounded so a livelock
/// shows up as a failure instead of a hang.
fn drain_outputs(conn: &mut Connection, now: Instant, arg: u8) {
    for _ in 0..1000 {
        let mut progressed = false;
        while let Some(directive) = conn.poll_directive() {
            progressed = true;
            if let Directive::Connect { .. } = directive {
                if arg % 5 == 0 {
                    conn.handle_connect_failed(now, "refused");
                } else {
                    conn.handle_connected(now);
                }
            }
        }
        while let Some(buf) = conn.poll_transmit() {
            progressed = true;
            let n = buf.remaining();
            buf.advance(n);
        }
        while conn.poll_event().is_some() {
            progressed = true;
        }
        if !progressed {
            return;
        }
    }
    panic!("outputs never drained: livelock");
}
