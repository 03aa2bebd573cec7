//! Decoder tests: every op, split invariance, zero copy, poisoning, garbage.

use super::*;
use crate::rng::Rng;

/// Decodes everything `chunks` deliver, one chunk at a time; stops at the first error.
fn decode_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (Vec<String>, Option<String>) {
    let mut d = Decoder::new();
    let mut ops = Vec::new();
    for chunk in chunks {
        d.extend_from_slice(chunk);
        loop {
            match d.decode() {
                Ok(Some(op)) => ops.push(format!("{op:?}")),
                Ok(None) => break,
                Err(e) => return (ops, Some(e.to_string())),
            }
        }
    }
    (ops, None)
}

const STREAM: &[u8] = b"INFO {\"server_id\":\"S\",\"max_payload\":1048576,\"headers\":true}\r\n\
MSG foo.bar 1 5\r\nhello\r\n\
msg foo 22 reply.to 0\r\n\r\n\
HMSG a.b 3 _INBOX.x 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nworld\r\n\
HMSG r 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\n\
HMSG r 9 32 32\r\nNATS/1.0 408 Request Timeout\r\n\r\n\r\n\
PING\r\nPONG\r\n+OK\r\n-ERR 'Authorization Violation'\r\n\
MSG\tfoo\t\t7  2\nhi\n\
PING\n";

#[test]
fn decodes_every_op() {
    let (ops, err) = decode_chunks([STREAM]);
    assert_eq!(err, None);
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
fn headers_and_status_are_parsed() {
    let mut d = Decoder::new();
    d.extend_from_slice(
        b"HMSG a.b 3 _INBOX.x 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nworld\r\nHMSG r 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\n",
    );
    let Some(ServerOp::Msg { message, .. }) = d.decode().unwrap() else {
        panic!()
    };
    assert_eq!(message.headers.as_ref().unwrap().get("A"), Some("b"));
    assert_eq!(&message.payload[..], b"world");
    assert_eq!(message.length, 23);
    let Some(ServerOp::Msg { message, .. }) = d.decode().unwrap() else {
        panic!()
    };
    assert_eq!(
        message.status(),
        Some(crate::proto::StatusCode::NO_RESPONDERS)
    );
    assert!(message.payload.is_empty());
}

#[test]
fn any_chunking_gives_the_same_ops() {
    let (whole, err) = decode_chunks([STREAM]);
    assert_eq!(err, None);
    let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
    assert_eq!(decode_chunks(bytes).0, whole, "one byte at a time");
    for seed in 0..300 {
        let mut rng = Rng::new(seed);
        let mut chunks = Vec::new();
        let mut rest = STREAM;
        while !rest.is_empty() {
            let n = (rng.next_u64() as usize % 40 + 1).min(rest.len());
            chunks.push(&rest[..n]);
            rest = &rest[n..];
        }
        assert_eq!(decode_chunks(chunks).0, whole, "seed {seed}");
    }
}

#[test]
fn payloads_are_not_copied() {
    let mut d = Decoder::new();
    let payload = vec![b'x'; 1 << 20];
    let mut wire = b"MSG big 1 1048576\r\n".to_vec();
    wire.extend_from_slice(&payload);
    wire.extend_from_slice(b"\r\n");
    d.extend_from_slice(&wire);
    let buffer = {
        let b = d.buffer_mut();
        let start = b.as_ptr() as usize;
        start..start + b.len()
    };
    let Some(ServerOp::Msg { message, .. }) = d.decode().unwrap() else {
        panic!()
    };
    let got = as_ptr_range(&message.payload);
    assert_eq!(message.payload.len(), 1 << 20);
    assert!(
        buffer.start <= got.start && got.end <= buffer.end,
        "payload lies in the read buffer"
    );
}

#[test]
fn violations_poison_the_decoder() {
    let cases: &[&[u8]] = &[
        b"HELLO\r\n",
        b"MSG a 1\r\n",
        b"MSG a x 1\r\nx\r\n",
        b"MSG a 1 2 3 4\r\n",
        b"MSG a 1 99999999999999999999999\r\n",
        b"MSG a 1 2\r\nxyz\r\n",
        b"HMSG a 1 10 5\r\n",
        b"HMSG a 1 0 5\r\n",
        b"INFO {not json}\r\n",
        b"MSG a 1 200000000\r\n",
    ];
    for case in cases {
        let mut d = Decoder::with_limits(4096, 1 << 20);
        d.extend_from_slice(case);
        d.extend_from_slice(b"\r\n\r\n\r\n\r\n\r\n\r\n\r\n");
        let first = d.decode();
        assert!(
            first.is_err(),
            "{:?} should fail, got {first:?}",
            String::from_utf8_lossy(case)
        );
        assert!(d.is_poisoned());
        d.extend_from_slice(b"PING\r\n");
        assert!(matches!(d.decode(), Err(DecodeError::Poisoned)));
        d.reset();
        d.extend_from_slice(b"PING\r\n");
        assert!(matches!(d.decode(), Ok(Some(ServerOp::Ping))));
    }
}

#[test]
fn control_line_is_capped() {
    let mut d = Decoder::with_limits(100, 1 << 20);
    d.extend_from_slice(&[b'a'; 102]);
    assert!(matches!(
        d.decode(),
        Err(DecodeError::ControlLineTooLong { limit: 100 })
    ));
    // A long line within the cap is fine, even split.
    let mut d = Decoder::with_limits(5000, 1 << 20);
    let line = format!("-ERR '{}'\r\n", "e".repeat(4500));
    d.extend_from_slice(&line.as_bytes()[..2000]);
    assert!(d.decode().unwrap().is_none());
    d.extend_from_slice(&line.as_bytes()[2000..]);
    assert!(matches!(d.decode(), Ok(Some(ServerOp::Err(t))) if t.len() == 4500));
}

#[test]
fn garbage_never_panics() {
    for seed in 0..2000 {
        let mut rng = Rng::new(seed);
        let len = rng.next_u64() as usize % 200;
        let alphabet = b"MSGHINFOPONGERR+-' \t\r\n0123456789{}\"abc.*>";
        let data: Vec<u8> = (0..len)
            .map(|_| {
                if rng.next_u64() % 4 == 0 {
                    rng.next_u64() as u8
                } else {
                    alphabet[rng.next_u64() as usize % alphabet.len()]
                }
            })
            .collect();
        let mut d = Decoder::with_limits(64, 1 << 16);
        d.extend_from_slice(&data);
        for _ in 0..100 {
            match d.decode() {
                Ok(Some(_)) => {}
                _ => break,
            }
        }
    }
}

#[test]
fn a_bad_header_block_in_a_sound_frame_costs_its_bad_lines_not_the_connection() {
    let mut d = Decoder::new();
    let block = "NATS/1.0\r\nGood: yes\r\nno colon here\r\n\r\n";
    let wire = format!(
        "HMSG a 1 {} {}\r\n{block}hi\r\nPING\r\n",
        block.len(),
        block.len() + 2
    );
    d.extend_from_slice(wire.as_bytes());
    let Some(ServerOp::Msg { message, .. }) = d.decode().unwrap() else {
        panic!("the message is delivered")
    };
    let headers = message.headers.unwrap();
    assert_eq!(headers.get("Good"), Some("yes"));
    assert_eq!(headers.len(), 1);
    assert_eq!(&message.payload[..], b"hi");
    assert!(
        matches!(d.decode(), Ok(Some(ServerOp::Ping))),
        "not poisoned"
    );

    let mut d = Decoder::new();
    d.extend_from_slice(b"HMSG a 1 7 7\r\nHTTP/\r\n\r\n");
    let Some(ServerOp::Msg { message, .. }) = d.decode().unwrap() else {
        panic!("the message is delivered")
    };
    assert_eq!(message.status(), None);
    assert!(!d.is_poisoned());
}
