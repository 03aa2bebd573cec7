//! Decoder tests written against the spec of the API: every op of two streams, split
//! invariance, limits, poisoning, zero copy, garbage.

use super::*;
use crate::proto::StatusCode;
use crate::rng::Rng;

/// Decodes until `Ok(None)` or an error.
fn drain(decoder: &mut Decoder, ops: &mut Vec<ServerOp>) -> Option<String> {
    loop {
        match decoder.decode() {
            Ok(Some(op)) => ops.push(op),
            Ok(None) => return None,
            Err(e) => return Some(e.to_string()),
        }
    }
}

/// Feeds `data` in the given chunk sizes (cycled), collecting ops and the first error.
fn feed_chunked(data: &[u8], next_len: impl FnMut() -> usize) -> (Vec<ServerOp>, Option<String>) {
    feed_chunked_into(Decoder::new(), data, next_len)
}

/// [`feed_chunked`] into `decoder` (with its limits).
fn feed_chunked_into(
    mut decoder: Decoder,
    data: &[u8],
    mut next_len: impl FnMut() -> usize,
) -> (Vec<ServerOp>, Option<String>) {
    let mut ops = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = next_len().clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        decoder.extend_from_slice(chunk);
        rest = tail;
        if let Some(e) = drain(&mut decoder, &mut ops) {
            return (ops, Some(e));
        }
    }
    (ops, None)
}

fn decode_all(data: &[u8]) -> Vec<ServerOp> {
    let (ops, err) = feed_chunked(data, || usize::MAX);
    assert_eq!(err, None);
    ops
}

fn one(data: &[u8]) -> ServerOp {
    let mut ops = decode_all(data);
    assert_eq!(ops.len(), 1, "{ops:?}");
    ops.remove(0)
}

fn first_error(data: &[u8]) -> DecodeError {
    let mut d = Decoder::new();
    d.extend_from_slice(data);
    loop {
        match d.decode() {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no error for {:?}", String::from_utf8_lossy(data)),
            Err(e) => {
                assert!(d.is_poisoned());
                assert!(matches!(d.decode(), Err(DecodeError::Poisoned)));
                d.extend_from_slice(b"PING\r\n");
                assert!(matches!(d.decode(), Err(DecodeError::Poisoned)));
                return e;
            }
        }
    }
}

fn msg(op: ServerOp) -> (u64, Message) {
    match op {
        ServerOp::Msg { sid, message } => (sid, message),
        other => panic!("not a message: {other:?}"),
    }
}

const STREAM: &[u8] =
    b"INFO {\"server_id\":\"S1\",\"headers\":true,\"max_payload\":1048576,\"proto\":1}\r\n\
+OK\r\n\
MSG foo.bar 1 5\r\nhello\r\n\
MSG foo.bar 22 _INBOX.abc.1 0\r\n\r\n\
HMSG inbox.x 3 16 16\r\nNATS/1.0 503\r\n\r\n\r\n\
HMSG a.b 4 reply.to 33 38\r\nNATS/1.0\r\nHeader: Value\r\nA: b\r\n\r\nworld\r\n\
ping\r\n\
PONG\r\n\
msg\tlower\t\t7   3\nabc\n\
-ERR 'Stale Connection'\r\n\
MSG bin 9 4\r\n\r\n\x00\xff\r\n\
PING\n";

#[test]
fn every_op() {
    let ops = decode_all(STREAM);
    assert_eq!(ops.len(), 12, "{ops:#?}");
    assert_eq!(ops[11], ServerOp::Ping);
    let ServerOp::Info(info) = &ops[0] else {
        panic!()
    };
    assert_eq!(info.server_id, "S1");
    assert!(info.headers);
    assert_eq!(ops[1], ServerOp::Ok);

    let (sid, m) = msg(ops[2].clone());
    assert_eq!(
        (sid, m.subject.as_str(), &m.payload[..], m.length),
        (1, "foo.bar", &b"hello"[..], 5)
    );
    assert_eq!((m.reply, m.headers), (None, None));

    let (sid, m) = msg(ops[3].clone());
    assert_eq!(sid, 22);
    assert_eq!(m.reply.as_ref().map(|r| r.as_str()), Some("_INBOX.abc.1"));
    assert!(m.payload.is_empty());

    let (sid, m) = msg(ops[4].clone());
    assert_eq!(sid, 3);
    assert_eq!(m.status(), Some(StatusCode::NO_RESPONDERS));
    assert_eq!(m.description(), None);
    assert!(m.payload.is_empty());
    assert_eq!(m.length, 16);

    let (_, m) = msg(ops[5].clone());
    let h = m.headers.as_ref().unwrap();
    assert_eq!(h.get("Header"), Some("Value"));
    assert_eq!(h.get("A"), Some("b"));
    assert_eq!(&m.payload[..], b"world");
    assert_eq!(m.reply.unwrap(), "reply.to");
    assert_eq!(m.length, 38);

    assert_eq!(ops[6], ServerOp::Ping);
    assert_eq!(ops[7], ServerOp::Pong);
    let (sid, m) = msg(ops[8].clone());
    assert_eq!(
        (sid, m.subject.as_str(), &m.payload[..]),
        (7, "lower", &b"abc"[..])
    );
    assert_eq!(ops[9], ServerOp::Err("Stale Connection".into()));
    let (_, m) = msg(ops[10].clone());
    assert_eq!(&m.payload[..], b"\r\n\x00\xff");
}

/// A second stream: a lower-case `msg` with a reply and an empty payload, statuses with and
/// without a description, tabs and bare LFs.
const OTHER_STREAM: &[u8] =
    b"INFO {\"server_id\":\"S\",\"max_payload\":1048576,\"headers\":true}\r\n\
MSG foo.bar 1 5\r\nhello\r\n\
msg foo 22 reply.to 0\r\n\r\n\
HMSG a.b 3 _INBOX.x 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nworld\r\n\
HMSG r 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\n\
HMSG r 9 32 32\r\nNATS/1.0 408 Request Timeout\r\n\r\n\r\n\
PING\r\nPONG\r\n+OK\r\n-ERR 'Authorization Violation'\r\n\
MSG\tfoo\t\t7  2\nhi\n\
PING\n";

#[test]
fn every_op_of_the_other_stream() {
    let ops: Vec<String> = decode_all(OTHER_STREAM)
        .iter()
        .map(|op| format!("{op:?}"))
        .collect();
    assert_eq!(ops.len(), 12, "{ops:#?}");
    assert!(ops[0].starts_with("Info("));
    assert!(ops[1].contains("sid: 1") && ops[1].contains("b\"hello\""));
    assert!(ops[2].contains("sid: 22") && ops[2].contains("\"reply.to\""));
    assert_eq!(ops[6], "Ping");
    assert_eq!(ops[7], "Pong");
    assert_eq!(ops[8], "Ok");
    assert_eq!(ops[9], "Err(\"Authorization Violation\")");
    assert!(ops[10].contains("sid: 7") && ops[10].contains("b\"hi\""));
}

#[test]
fn trailing_ping_lf_only() {
    let ops = decode_all(STREAM);
    // The final "PING\n" is the 12th op.
    let mut d = Decoder::new();
    d.extend_from_slice(STREAM);
    let mut n = 0;
    while let Some(_op) = d.decode().unwrap() {
        n += 1;
    }
    assert_eq!(n, ops.len());
    assert_eq!(d.buffered(), 0);
}

#[test]
fn case_and_whitespace() {
    assert_eq!(one(b"pInG\r\n"), ServerOp::Ping);
    assert_eq!(one(b"pong\n"), ServerOp::Pong);
    assert_eq!(one(b"+ok\r\n"), ServerOp::Ok);
    assert_eq!(
        one(b"-err   'Authorization Violation'  \r\n"),
        ServerOp::Err("Authorization Violation".into())
    );
    assert_eq!(
        one(b"-ERR unquoted text\r\n"),
        ServerOp::Err("unquoted text".into())
    );
    assert_eq!(one(b"-ERR\r\n"), ServerOp::Err(String::new()));
    assert!(matches!(one(b"info\t{}\n"), ServerOp::Info(_)));
    let (sid, m) = msg(one(
        b"hMsG \t s.x\t 5 \t r.y  12 \t 15\r\nNATS/1.0\r\n\r\nxyz\r\n",
    ));
    assert_eq!(
        (sid, m.subject.as_str(), &m.payload[..]),
        (5, "s.x", &b"xyz"[..])
    );
    assert_eq!(m.reply.unwrap(), "r.y");
    assert_eq!(m.headers, Some(HeaderMap::new()));
}

#[test]
fn empty_payloads() {
    let (_, m) = msg(one(b"MSG a 1 0\r\n\r\n"));
    assert!(m.payload.is_empty());
    let (_, m) = msg(one(b"MSG a 1 0\n\n"));
    assert!(m.payload.is_empty());
    let (_, m) = msg(one(b"HMSG a 1 12 12\r\nNATS/1.0\r\n\r\n\r\n"));
    assert!(m.payload.is_empty());
    assert_eq!(m.headers.unwrap().len(), 0);
}

#[test]
fn split_invariance() {
    for (name, stream) in [("STREAM", STREAM), ("OTHER_STREAM", OTHER_STREAM)] {
        let whole = feed_chunked(stream, || usize::MAX);
        assert_eq!(whole.1, None, "{name}");
        let byte_at_a_time = feed_chunked(stream, || 1);
        assert_eq!(byte_at_a_time, whole, "{name}: one byte at a time");
        for seed in 0..300 {
            let mut rng = Rng::new(seed);
            let max = 1 + rng.below(64);
            let chunked = feed_chunked(stream, || 1 + rng.below(max) as usize);
            assert_eq!(chunked, whole, "{name}: seed {seed}");
        }
    }
    // And the same for a stream that ends in an error.
    let bad = [STREAM, b"MSG x notasid 1\r\nx\r\n"].concat();
    let whole = feed_chunked(&bad, || usize::MAX);
    assert!(whole.1.is_some());
    assert_eq!(feed_chunked(&bad, || 1), whole);
    for seed in 0..50 {
        let mut rng = Rng::new(seed);
        assert_eq!(feed_chunked(&bad, || 1 + rng.below(16) as usize), whole);
    }
}

#[test]
fn incomplete_line_is_not_rescanned() {
    let mut d = Decoder::new();
    d.extend_from_slice(b"MSG foo 1 ");
    assert!(d.decode().unwrap().is_none());
    assert!(matches!(d.state, State::Line { scanned: 10 }));
    d.extend_from_slice(b"3\r");
    assert!(d.decode().unwrap().is_none());
    assert!(matches!(d.state, State::Line { scanned: 12 }));
    d.extend_from_slice(b"\nabc\r\n");
    assert!(d.decode().unwrap().is_some());
}

#[test]
fn poisoning() {
    type Check = fn(&DecodeError) -> bool;
    let cases: &[(&[u8], Check)] = &[
        (b"FOO\r\n", |e| matches!(e, DecodeError::UnknownOperation)),
        (b"\r\n", |e| matches!(e, DecodeError::UnknownOperation)),
        (b"PINGX\r\n", |e| matches!(e, DecodeError::UnknownOperation)),
        (b"PING extra\r\n", |e| {
            matches!(e, DecodeError::InvalidArguments { op: "PING" })
        }),
        (b"+OK x\r\n", |e| {
            matches!(e, DecodeError::InvalidArguments { op: "+OK" })
        }),
        (b"MSG a 1\r\n", |e| {
            matches!(e, DecodeError::InvalidArguments { op: "MSG" })
        }),
        (b"MSG a 1 r x 5\r\n", |e| {
            matches!(e, DecodeError::InvalidArguments { op: "MSG" })
        }),
        (b"MSG a -1 5\r\n", |e| {
            matches!(e, DecodeError::InvalidArguments { op: "MSG" })
        }),
        (b"MSG a abc 5\r\n", |e| {
            matches!(e, DecodeError::InvalidArguments { op: "MSG" })
        }),
        (b"MSG a 18446744073709551616 1\r\n", |e| {
            matches!(e, DecodeError::InvalidArguments { op: "MSG" })
        }),
        (b"MSG a 1 99999999999999999999999\r\n", |e| {
            matches!(e, DecodeError::InvalidArguments { op: "MSG" })
        }),
        (b"MSG a 1 5x\r\n", |e| {
            matches!(e, DecodeError::InvalidArguments { op: "MSG" })
        }),
        (b"HMSG a 1 10 5\r\n", |e| {
            matches!(e, DecodeError::InvalidArguments { op: "HMSG" })
        }),
        (b"HMSG a 1 5\r\n", |e| {
            matches!(e, DecodeError::InvalidArguments { op: "HMSG" })
        }),
        (b"MSG a 1 100000000\r\n", |e| {
            matches!(
                e,
                DecodeError::PayloadTooLarge {
                    size: 100_000_000,
                    limit: Decoder::DEFAULT_MAX_PAYLOAD
                }
            )
        }),
        (b"MSG a 1 3\r\nabcd\r\n", |e| {
            matches!(e, DecodeError::MissingPayloadTerminator)
        }),
        (b"MSG a 1 3\r\nabc\rX", |e| {
            matches!(e, DecodeError::MissingPayloadTerminator)
        }),
        (b"INFO {not json}\r\n", |e| {
            matches!(e, DecodeError::InvalidInfo(_))
        }),
        (b"INFO\r\n", |e| matches!(e, DecodeError::InvalidInfo(_))),
    ];
    for (input, check) in cases {
        let e = first_error(input);
        assert!(check(&e), "{:?} gave {e:?}", String::from_utf8_lossy(input));
        assert!(!e.to_string().is_empty());
    }
}

/// A sound frame whose subject or reply is not UTF-8 (the server relays such publishes)
/// costs that message only: the frames after it decode, in any chunking.
#[test]
fn unreadable_subject_costs_one_message() {
    let wire: &[u8] = b"MSG a.\xff\xfe 1 2\r\nno\r\nHMSG a 2 \xc3 12 14\r\nNATS/1.0\r\n\r\nno\r\nMSG b.c 3 2\r\nok\r\n";
    for chunk in [1, 2, 5, 7, usize::MAX] {
        let (ops, err) = feed_chunked(wire, || chunk);
        assert_eq!(err, None, "chunk {chunk}");
        assert_eq!(ops.len(), 3, "chunk {chunk}: {ops:?}");
        assert!(matches!(
            ops[0],
            ServerOp::Unreadable {
                sid: 1,
                length: 2,
                reason: SubjectError::InvalidUtf8
            }
        ));
        assert!(matches!(
            ops[1],
            ServerOp::Unreadable {
                sid: 2,
                length: 14,
                reason: SubjectError::InvalidUtf8
            }
        ));
        let (sid, message) = msg(ops[2].clone());
        assert_eq!((sid, message.subject.as_str()), (3, "b.c"));
        assert_eq!(&message.payload[..], b"ok");
    }
}

#[test]
fn control_line_limit() {
    let mut d = Decoder::with_limits(10, 100);
    d.extend_from_slice(b"MSG a 1 10\r\n"); // exactly 10 bytes before CRLF: fine
    assert!(d.decode().unwrap().is_none());
    d.extend_from_slice(b"0123456789\r\n");
    assert!(d.decode().unwrap().is_some());

    // Too long, detected on the complete line...
    let mut d = Decoder::with_limits(10, 100);
    d.extend_from_slice(b"MSG ab 1 10\r\n");
    assert!(matches!(
        d.decode(),
        Err(DecodeError::ControlLineTooLong { limit: 10 })
    ));
    // ...and before the newline arrives.
    let mut d = Decoder::with_limits(10, 100);
    d.extend_from_slice(b"MSG ab 1 1");
    assert!(d.decode().unwrap().is_none());
    d.extend_from_slice(b"0\r");
    assert!(matches!(
        d.decode(),
        Err(DecodeError::ControlLineTooLong { limit: 10 })
    ));
    assert!(d.is_poisoned());

    // Default cap is well above the server's 4096.
    let mut d = Decoder::new();
    let long = format!("-ERR '{}'\r\n", "x".repeat(10_000));
    d.extend_from_slice(long.as_bytes());
    assert!(matches!(d.decode(), Ok(Some(ServerOp::Err(t))) if t.len() == 10_000));
}

#[test]
fn max_payload_guard_and_reset() {
    let mut d = Decoder::new();
    d.set_max_payload(4);
    d.extend_from_slice(b"MSG a 1 4\r\nabcd\r\nMSG a 1 5\r\n");
    assert!(d.decode().unwrap().is_some());
    assert!(matches!(
        d.decode(),
        Err(DecodeError::PayloadTooLarge { size: 5, limit: 4 })
    ));
    assert!(d.is_poisoned());
    d.reset();
    assert!(!d.is_poisoned());
    assert_eq!(d.buffered(), 0);
    d.extend_from_slice(b"PONG\r\n");
    assert_eq!(d.decode().unwrap(), Some(ServerOp::Pong));
}

#[test]
fn large_payload_is_zero_copy() {
    let size = 1 << 20;
    let mut data = format!("MSG big.subject 1 reply.subject {size}\r\n").into_bytes();
    data.extend((0..size).map(|i| (i % 251) as u8));
    data.extend_from_slice(b"\r\n");
    let mut d = Decoder::new();
    d.extend_from_slice(&data);
    let base = d.buffer_mut().as_ptr() as usize;
    let end = base + d.buffered();
    let (_, m) = msg(d.decode().unwrap().unwrap());
    assert_eq!(m.payload.len(), size);
    assert_eq!(&m.payload[..], &data[data.len() - size - 2..data.len() - 2]);
    let inside = |p: *const u8| (base..end).contains(&(p as usize));
    let payload = as_ptr_range(&m.payload);
    assert!(
        base <= payload.start && payload.end <= end,
        "payload was copied"
    );
    assert!(inside(m.subject.as_bytes().as_ptr()), "subject was copied");
    assert!(
        inside(m.reply.unwrap().as_bytes().as_ptr()),
        "reply was copied"
    );

    // Also when the payload arrives in pieces after the control line.
    let mut d = Decoder::new();
    let line_len = data.iter().position(|&b| b == b'\n').unwrap() + 1;
    d.extend_from_slice(&data[..line_len]);
    assert!(d.decode().unwrap().is_none());
    let base = d.buffer_mut().as_ptr() as usize;
    let capacity = d.buffer_mut().capacity();
    assert!(
        capacity >= size + 2,
        "decoder reserves room for the payload"
    );
    for chunk in data[line_len..].chunks(64 * 1024) {
        d.buffer_mut().extend_from_slice(chunk);
    }
    let (_, m) = msg(d.decode().unwrap().unwrap());
    assert!((base..base + capacity).contains(&(m.payload.as_ptr() as usize)));
}

#[test]
fn reads_arriving_while_payloads_live_grow_the_buffer_by_doubling() {
    // A subscriber holds on to what it received (the payloads are slices of the read
    // buffer), so the buffer cannot be reused and must grow: each block twice the last, not
    // one block per read.
    let frame = b"MSG a.b 1 16\r\n0123456789abcdef\r\n";
    let mut d = Decoder::new();
    let mut held = Vec::new();
    for _ in 0..256 {
        d.extend_from_slice(frame);
        let (_, m) = msg(d.decode().unwrap().unwrap());
        assert!(d.decode().unwrap().is_none());
        held.push(m.payload);
    }
    // 256 frames of 34 bytes: blocks of 34, 68, ... 4352 bytes hold them, 8 blocks.
    assert!(d.blocks.allocated() <= 9, "{} blocks", d.blocks.allocated());
    assert!(held.iter().all(|p| &p[..] == b"0123456789abcdef"));
}

#[test]
fn an_idle_connection_keeps_a_small_buffer() {
    // An `INFO` and a few pings: the buffer holds what arrived, not a whole block.
    let mut d = Decoder::new();
    let info = format!("INFO {{\"server_id\":\"{}\"}}\r\n", "x".repeat(500));
    d.extend_from_slice(info.as_bytes());
    assert!(matches!(d.decode().unwrap(), Some(ServerOp::Info(_))));
    for _ in 0..10 {
        d.extend_from_slice(b"PING\r\n");
        assert!(matches!(d.decode().unwrap(), Some(ServerOp::Ping)));
    }
    let capacity = d.buffer_mut().capacity();
    assert!(
        capacity < 2 * info.len(),
        "{capacity} bytes for a {} byte INFO",
        info.len()
    );
}

#[test]
fn a_buffer_no_message_holds_is_reused() {
    // Payloads dropped as they come: the buffer is reclaimed in place, not grown.
    let mut frame = b"MSG a.b 1 1000\r\n".to_vec();
    frame.extend_from_slice(&[b'x'; 1000]);
    frame.extend_from_slice(b"\r\n");
    let mut d = Decoder::new();
    for _ in 0..1000 {
        // Each message arrives in two reads: the control line, then the rest.
        d.extend_from_slice(&frame[..10]);
        assert!(d.decode().unwrap().is_none());
        d.extend_from_slice(&frame[10..]);
        let (_, m) = msg(d.decode().unwrap().unwrap());
        assert_eq!(m.payload.len(), 1000);
        drop(m);
    }
    // Room for a few of these messages, not a new block per growth.
    let capacity = d.buffer_mut().capacity();
    assert!(capacity < 16 * 1024, "the buffer grew to {capacity} bytes");
}

#[test]
fn garbage_never_panics() {
    let alphabet: &[&[u8]] = &[
        b"MSG ",
        b"HMSG ",
        b"PING",
        b"PONG",
        b"INFO ",
        b"+OK",
        b"-ERR ",
        b"\r\n",
        b"\n",
        b" ",
        b"\t",
        b"1",
        b"0",
        b"12",
        b"a.b",
        b"NATS/1.0",
        b"NATS/1.0 503",
        b"k: v",
        b"{}",
        b"'",
        b"\xff",
        b":",
        b"99999999999999999999",
    ];
    for seed in 0..3000 {
        let mut rng = Rng::new(seed);
        let mut data = Vec::new();
        for _ in 0..rng.below(40) {
            if rng.below(4) == 0 {
                data.push(rng.next_u64() as u8);
            } else {
                data.extend_from_slice(alphabet[rng.below(alphabet.len() as u64) as usize]);
            }
        }
        let whole = feed_chunked(&data, || usize::MAX);
        let bytes = feed_chunked(&data, || 1);
        assert_eq!(
            whole,
            bytes,
            "seed {seed}: {:?}",
            String::from_utf8_lossy(&data)
        );
    }
    // Byte-level garbage into a decoder with small limits.
    let alphabet = b"MSGHINFOPONGERR+-' \t\r\n0123456789{}\"abc.*>";
    let limited = || Decoder::with_limits(64, 1 << 16);
    for seed in 0..2000 {
        let mut rng = Rng::new(seed);
        let data: Vec<u8> = (0..rng.below(200))
            .map(|_| {
                if rng.below(4) == 0 {
                    rng.next_u64() as u8
                } else {
                    alphabet[rng.below(alphabet.len() as u64) as usize]
                }
            })
            .collect();
        let whole = feed_chunked_into(limited(), &data, || usize::MAX);
        let bytes = feed_chunked_into(limited(), &data, || 1);
        assert_eq!(
            whole,
            bytes,
            "seed {seed} (limited): {:?}",
            String::from_utf8_lossy(&data)
        );
    }
}
