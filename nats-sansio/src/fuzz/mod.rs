//! Fuzz target bodies, compiled with feature `fuzzing` so they also build (and run over
//! seeded inputs) in normal CI. The `fuzz/` crate's targets are one-line calls into these.

mod connection;
#[cfg(feature = "websocket")]
mod websocket;

pub use connection::connection;
#[cfg(feature = "websocket")]
pub use websocket::{websocket, websocket_frames};

use bytes::Bytes;

use crate::proto::{Decoder, Encoder, HeaderMap, ServerOp};

fn decode_all(chunks: &[&[u8]]) -> (Vec<String>, Option<String>) {
    let mut decoder = Decoder::with_limits(1024, 1 << 20);
    let mut ops = Vec::new();
    for chunk in chunks {
        decoder.extend_from_slice(chunk);
        loop {
            match decoder.decode() {
                Ok(Some(op)) => ops.push(format!("{op:?}")),
                Ok(None) => break,
                Err(e) => return (ops, Some(e.to_string())),
            }
        }
    }
    (ops, None)
}

/// The decoder never panics, and one chunk, one byte at a time, and a split at a
/// data-derived point all give the same ops and the same first error.
pub fn decoder(data: &[u8]) {
    let whole = decode_all(&[data]);
    let bytes: Vec<&[u8]> = data.chunks(1).collect();
    assert_eq!(decode_all(&bytes), whole, "byte at a time");
    let cut = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
    assert_eq!(
        decode_all(&[&data[..cut], &data[cut..]]),
        whole,
        "split at {cut}"
    );
}

/// What the encoder writes for a publish, turned into the server's MSG form, decodes back
/// to the same message.
pub fn roundtrip(data: &[u8]) {
    const TOKENS: &[&str] = &["a", "b", "orders", "x_y", "$JS", "1", "_INBOX"];
    let mut input = data.iter().copied();
    let mut next = move || input.next().unwrap_or(0);
    let subject_tokens = 1 + next() as usize % 4;
    let subject: Vec<&str> = (0..subject_tokens)
        .map(|_| TOKENS[next() as usize % TOKENS.len()])
        .collect();
    let subject = subject.join(".");
    let reply = (next() % 2 == 0).then(|| format!("_INBOX.{}", next()));
    let headers = (next() % 2 == 0).then(|| {
        let mut h = HeaderMap::new();
        for _ in 0..next() % 4 {
            h.append(format!("H{}", next() % 3), format!("v{}", next()));
        }
        h
    });
    let payload_len = next() as usize * 37;
    let payload = Bytes::from((0..payload_len).map(|i| i as u8).collect::<Vec<u8>>());

    let mut encoder = Encoder::new();
    encoder.publish(&subject, reply.as_deref(), headers.as_ref(), &payload);
    let wire = {
        use bytes::Buf;
        let n = encoder.remaining();
        encoder.copy_to_bytes(n)
    };
    // PUB <subject> [reply] ... becomes MSG <subject> 1 [reply] ...
    let line_end = wire
        .iter()
        .position(|&b| b == b'\n')
        .expect("a control line")
        + 1;
    let line = std::str::from_utf8(&wire[..line_end]).expect("ASCII control line");
    let mut parts = line.trim_end().split(' ');
    let op = parts.next().expect("op");
    let rest: Vec<&str> = parts.collect();
    let server_op = if op == "HPUB" { "HMSG" } else { "MSG" };
    let mut server = format!("{server_op} {} 1 {}\r\n", rest[0], rest[1..].join(" ")).into_bytes();
    server.extend_from_slice(&wire[line_end..]);

    let mut decoder = Decoder::new();
    decoder.extend_from_slice(&server);
    match decoder.decode() {
        Ok(Some(ServerOp::Msg { sid, message })) => {
            assert_eq!(sid, 1);
            assert_eq!(message.subject.as_str(), subject);
            assert_eq!(message.reply.as_ref().map(|r| r.as_str()), reply.as_deref());
            assert_eq!(message.payload, payload);
            let got = message.headers.unwrap_or_default();
            assert_eq!(got, headers.unwrap_or_default());
        }
        other => panic!("round trip failed: {other:?}"),
    }
    assert_eq!(decoder.buffered(), 0);
}
