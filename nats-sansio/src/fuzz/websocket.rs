//! Fuzz bodies for the WebSocket layer.
//!
//! Invariants checked: the frame reader (with or without compression) never panics and
//! reads the same data, the same control frames and the same first error whatever the
//! chunking of its input; and the
//! connection over `ws://` makes of any NATS byte stream, however the server frames and
//! fragments it, interleaves pings and chunks the wire, exactly what it makes of the same
//! stream over plain TCP: the same messages, the same events and, while the socket lives,
//! the same NATS bytes out.

use std::time::Instant;

use bytes::{Buf, BytesMut};

use crate::connection::{Delivery, Directive, Event, Options};
use crate::rng::Rng;
use crate::websocket::frame::write_server_frame;
use crate::websocket::{accept_key, Control, FrameReader};
use crate::Connection;

type Frames = (Vec<u8>, Vec<Control>, Option<String>);

fn read_frames(chunks: &[&[u8]], compression: bool) -> Frames {
    let mut reader = FrameReader::new();
    if compression {
        reader.enable_compression(1 << 20);
    }
    let (mut input, mut data, mut controls) = (BytesMut::new(), BytesMut::new(), Vec::new());
    for chunk in chunks {
        input.extend_from_slice(chunk);
        loop {
            match reader.read(&mut input, &mut data) {
                Ok(Some(control)) => {
                    let close = matches!(control, Control::Close { .. });
                    controls.push(control);
                    if close {
                        return (data.to_vec(), controls, None);
                    }
                }
                Ok(None) => break,
                Err(e) => return (data.to_vec(), controls, Some(e.to_string())),
            }
        }
    }
    (data.to_vec(), controls, None)
}

/// The frame reader, with and without permessage-deflate: one chunk, one byte at a time
/// and a data-derived split agree.
pub fn websocket_frames(data: &[u8]) {
    for compression in [false, true] {
        let whole = read_frames(&[data], compression);
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        assert_eq!(read_frames(&bytes, compression), whole, "byte at a time");
        let cut = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
        assert_eq!(
            read_frames(&[&data[..cut], &data[cut..]], compression),
            whole,
            "split at {cut}"
        );
    }
}

/// NATS server ops the stream is built from, so runs reach messages and errors.
const OPS: &[&[u8]] = &[
    b"MSG a 1 5\r\nhello\r\n",
    b"MSG a 1 r 0\r\n\r\n",
    b"HMSG a 1 22 24\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\n",
    b"PING\r\n",
    b"PONG\r\n",
    b"+OK\r\n",
    b"INFO {\"server_id\":\"S\",\"proto\":1}\r\n",
    b"-ERR 'Permissions Violation for Publish to \"x\"'\r\n",
    b"MSG a 1 3\r\nbad length\r\n",
];

const INFO: &[u8] =
    b"INFO {\"server_id\":\"S\",\"headers\":true,\"max_payload\":4096,\"proto\":1}\r\n";

/// What the application and the server see of one run.
#[derive(Debug, PartialEq)]
struct Transcript {
    events: Vec<String>,
    messages: Vec<String>,
    sent: Vec<u8>,
}

fn event_kind(event: &Event) -> String {
    let text = format!("{event:?}");
    // Server addresses differ by scheme; what happened must not.
    text.split(['{', '(']).take(2).collect::<Vec<_>>().join("(")
}

/// Runs `chunks` of server bytes through a fresh connection to `url` at `now`; `unframe`
/// turns what the client wrote into NATS bytes.
fn run(
    now: Instant,
    url: &str,
    greeting: &[&[u8]],
    chunks: &[Vec<u8>],
    unframe: fn(&[u8]) -> Vec<u8>,
) -> Transcript {
    let mut options = Options::new(url).expect("static URL");
    options.seed = Some(1);
    let mut conn = Connection::new(options, now).expect("valid options");
    let mut wire = Vec::new();
    let mut events = Vec::new();
    let drain = |conn: &mut Connection, wire: &mut Vec<u8>, events: &mut Vec<String>| {
        while let Some(buf) = conn.poll_transmit() {
            let n = buf.remaining();
            wire.extend_from_slice(&buf.copy_to_bytes(n));
        }
        while let Some(e) = conn.poll_event() {
            events.push(event_kind(&e));
        }
        while conn.poll_directive().is_some() {}
    };
    if !matches!(conn.poll_directive(), Some(Directive::Connect { .. })) {
        panic!("the first directive connects");
    }
    conn.handle_connected(now);
    drain(&mut conn, &mut wire, &mut events);
    let sid = conn.subscribe("a", None).expect("valid subject");
    for part in greeting {
        let part = if part.is_empty() {
            upgrade_answer(&wire)
        } else {
            part.to_vec()
        };
        conn.handle_received(now, &part);
        drain(&mut conn, &mut wire, &mut events);
    }
    for chunk in chunks {
        conn.handle_received(now, chunk);
        drain(&mut conn, &mut wire, &mut events);
    }
    let mut messages = Vec::new();
    while let Delivery::Message(m) = conn.next_message(sid) {
        messages.push(format!("{m:?}"));
    }
    Transcript {
        events,
        messages,
        sent: unframe(&wire),
    }
}

/// The server's 101 for the upgrade request at the start of `wire`.
fn upgrade_answer(wire: &[u8]) -> Vec<u8> {
    let request = String::from_utf8_lossy(wire);
    let key = request
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap_or_default();
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    )
    .into_bytes()
}

/// The NATS bytes of the client's data frames (after the upgrade request); pongs skipped.
fn client_data(wire: &[u8]) -> Vec<u8> {
    let start = memchr::memmem::find(wire, b"\r\n\r\n").map_or(wire.len(), |i| i + 4);
    let mut wire = &wire[start..];
    let mut data = Vec::new();
    while wire.len() >= 2 {
        assert_eq!(wire[1] & 0x80, 0x80, "client frames are masked");
        let (len, at) = match wire[1] & 0x7F {
            126 => (usize::from(u16::from_be_bytes([wire[2], wire[3]])), 4),
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&wire[2..10]);
                (u64::from_be_bytes(b) as usize, 10)
            }
            n => (usize::from(n), 2),
        };
        let key = [wire[at], wire[at + 1], wire[at + 2], wire[at + 3]];
        let payload = &wire[at + 4..at + 4 + len];
        if wire[0] & 0x0F == 0x2 {
            data.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        wire = &wire[at + 4 + len..];
    }
    data
}

/// The connection: the same NATS stream over TCP and over WebSocket, framed, fragmented,
/// interleaved with pings and chunked as `data` says, gives the same transcript. Time is
/// `start` throughout (the machine never reads a clock; the caller picks any instant).
pub fn websocket(start: Instant, data: &[u8]) {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let mut stream = b"PONG\r\n".to_vec();
    for &b in rest {
        if b < 250 {
            stream.extend_from_slice(OPS[usize::from(b) % OPS.len()]);
        } else {
            stream.push(b);
        }
    }
    let tcp = run(
        start,
        "nats://127.0.0.1:4222",
        &[INFO],
        &[stream.clone()],
        |w| w.to_vec(),
    );

    let mut rng = Rng::new(u64::from(seed));
    let mut wire = Vec::new();
    write_server_frame(&mut wire, 0x82, INFO);
    let mut at = 0;
    while at < stream.len() {
        // One message of 1 to 3 fragments, each up to 40 bytes, pings between them.
        let fragments = rng.range(1, 3);
        for i in 0..fragments {
            let len = (rng.range(0, 40) as usize).min(stream.len() - at);
            let opcode = if i == 0 { 0x2 } else { 0x0 };
            let fin = if i + 1 == fragments { 0x80 } else { 0 };
            write_server_frame(&mut wire, fin | opcode, &stream[at..at + len]);
            at += len;
            if rng.chance(20) {
                write_server_frame(&mut wire, 0x89, b"ping");
            }
        }
    }
    let mut chunks = Vec::new();
    let mut cut = 0;
    while cut < wire.len() {
        let len = (rng.range(1, 64) as usize).min(wire.len() - cut);
        chunks.push(wire[cut..cut + len].to_vec());
        cut += len;
    }
    let ws = run(start, "ws://127.0.0.1:8080", &[b""], &chunks, client_data);
    assert_eq!((&ws.events, &ws.messages), (&tcp.events, &tcp.messages));
    // What is written before a socket is dropped depends on where reads end (a chunk
    // boundary before bad bytes lets a write out); with no drop, everything goes out.
    if !tcp.events.iter().any(|e| e.contains("Disconnected")) {
        assert_eq!(ws.sent, tcp.sent);
    }
}
