//! The machine over WebSocket, driven by hand: this file plays the server, answering the
//! upgrade and framing NATS bytes as nats-server does (unmasked binary frames), and unmasks
//! what the client sends.
#![cfg(feature = "websocket")]

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use nats_sansio::connection::{ConfigError, ConnectionError, Delivery, Directive, Event, Options};
use nats_sansio::proto::HeaderMap;
use nats_sansio::proto::Message;
use nats_sansio::websocket::accept_key;
use nats_sansio::websocket::deflate::{Deflater, Inflater};
use nats_sansio::websocket::frame::write_server_frame;
use nats_sansio::{Connection, ConnectionEvent};

const INFO: &[u8] =
    b"INFO {\"server_id\":\"S1\",\"headers\":true,\"max_payload\":1048576,\"proto\":1}\r\n";

fn options(url: &str, seed: u64) -> Options {
    let mut o = Options::new(url).unwrap();
    o.seed = Some(seed);
    o
}

fn sent(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(buf) = conn.poll_transmit() {
        let n = buf.remaining();
        out.extend_from_slice(&buf.copy_to_bytes(n));
    }
    out
}

/// The messages queued on `sid`.
fn messages(conn: &mut Connection, sid: u64) -> Vec<Message> {
    std::iter::from_fn(|| match conn.next_message(sid) {
        Delivery::Message(m) => Some(m),
        _ => None,
    })
    .collect()
}

fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// An unmasked frame as the server writes it.
fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_server_frame(&mut out, b0, payload);
    out
}

fn binary(payload: &[u8]) -> Vec<u8> {
    frame(0x82, payload)
}

/// The client's frames: (opcode, unmasked payload), each checked to be final and masked.
fn client_frames(wire: &[u8]) -> Vec<(u8, Vec<u8>)> {
    client_frames_rsv(wire)
        .into_iter()
        .map(|(b0, payload)| {
            assert_eq!(b0 & 0xF0, 0x80, "FIN set, no reserved bits");
            (b0 & 0x0F, payload)
        })
        .collect()
}

/// The client's frames: (first byte, unmasked payload), each checked to be masked.
fn client_frames_rsv(mut wire: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while !wire.is_empty() {
        assert_eq!(wire[1] & 0x80, 0x80, "every client frame is masked");
        let (len, at) = match wire[1] & 0x7F {
            126 => (u16::from_be_bytes([wire[2], wire[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(wire[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        let key = &wire[at..at + 4];
        let payload: Vec<u8> = wire[at + 4..at + 4 + len]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        frames.push((wire[0], payload));
        wire = &wire[at + 4 + len..];
    }
    frames
}

/// The NATS bytes of the client's data frames, each of which must be binary.
fn client_data(wire: &[u8]) -> String {
    let mut data = Vec::new();
    for (opcode, payload) in client_frames(wire) {
        assert_eq!(opcode, 2, "data goes in binary frames");
        data.extend(payload);
    }
    String::from_utf8(data).unwrap()
}

/// Reads the upgrade request the client sent; returns it and the 101 that accepts it.
fn accept(request: &[u8]) -> (String, Vec<u8>) {
    let request = String::from_utf8(request.to_vec()).unwrap();
    assert!(request.ends_with("\r\n\r\n"), "{request}");
    let key = request
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("a key");
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    );
    (request, answer.into_bytes())
}

/// A connection over `ws://` through its handshake, both the upgrade and NATS's.
fn connected(url: &str, now: Instant) -> Connection {
    let mut conn = Connection::new(options(url, 7), now).unwrap();
    assert!(matches!(
        conn.poll_directive(),
        Some(Directive::Connect { .. })
    ));
    conn.handle_connected(now);
    let (_, mut answer) = accept(&sent(&mut conn));
    // The 101 and the first frame may come in one read.
    answer.extend(binary(INFO));
    conn.handle_received(now, &answer);
    let hello = client_data(&sent(&mut conn));
    assert!(
        hello.starts_with("CONNECT {") && hello.ends_with("PING\r\n"),
        "{hello}"
    );
    conn.handle_received(now, &binary(b"PONG\r\n"));
    assert!(matches!(
        events(&mut conn).as_slice(),
        [Event::Connection(ConnectionEvent::Connected { .. })]
    ));
    conn
}

#[test]
fn the_upgrade_request_names_the_path_host_and_user_headers_and_nothing_follows_it() {
    let now = Instant::now();
    let mut o = options("ws://127.0.0.1:8080/nats?x=1", 7);
    o.websocket_headers = vec![("Authorization".into(), "Bearer abc".into())];
    let mut conn = Connection::new(o, now).unwrap();
    // Publishes before the upgrade wait in the reconnect buffer.
    conn.publish("early", None, None, Bytes::from_static(b"x"))
        .unwrap();
    conn.poll_directive();
    conn.handle_connected(now);
    let (request, answer) = accept(&sent(&mut conn));
    let mut lines = request.lines();
    assert_eq!(lines.next(), Some("GET /nats?x=1 HTTP/1.1"));
    for line in [
        "Host: 127.0.0.1:8080",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Version: 13",
        "Authorization: Bearer abc",
    ] {
        assert!(
            request.contains(&format!("{line}\r\n")),
            "{line} in {request}"
        );
    }
    // Nothing more until the server's 101: the server refuses data before it.
    assert!(sent(&mut conn).is_empty());
    conn.handle_received(now, &answer);
    assert!(sent(&mut conn).is_empty(), "nothing before INFO");
    conn.handle_received(now, &binary(INFO));
    let hello = client_data(&sent(&mut conn));
    assert!(hello.starts_with("CONNECT {"), "{hello}");
    conn.handle_received(now, &binary(b"PONG\r\n"));
    let data = client_data(&sent(&mut conn));
    assert!(data.contains("PUB early 1\r\nx\r\n"), "{data}");
}

#[test]
fn ops_split_across_frames_and_several_in_one_frame_are_all_read() {
    let now = Instant::now();
    let mut conn = connected("ws://127.0.0.1:8080", now);
    let sid = conn.subscribe("s", None).unwrap();
    sent(&mut conn);
    let ops = format!(
        "MSG s {sid} 5\r\nhello\r\nHMSG s {sid} 12 14\r\nNATS/1.0\r\n\r\nhi\r\nMSG s {sid} 3\r\nend\r\n"
    );
    let bytes = ops.as_bytes();
    // Fragments of one message, a ping between them, then a frame with the rest.
    let mut wire = frame(0x02, &bytes[..7]);
    wire.extend(frame(0x89, b"are you there"));
    wire.extend(frame(0x00, &bytes[7..30]));
    wire.extend(frame(0x80, &bytes[30..40]));
    wire.extend(binary(&bytes[40..]));
    conn.handle_received(now, &wire);
    let payloads: Vec<Bytes> = messages(&mut conn, sid)
        .into_iter()
        .map(|m| m.payload)
        .collect();
    assert_eq!(payloads, ["hello", "hi", "end"]);
    // The ping was answered with its payload.
    let frames = client_frames(&sent(&mut conn));
    assert_eq!(frames, [(0xA, b"are you there".to_vec())]);
}

#[test]
fn publishes_go_out_in_masked_frames_of_at_most_64_kib() {
    let now = Instant::now();
    let mut conn = connected("ws://127.0.0.1:8080", now);
    let payload = Bytes::from(vec![b'z'; 200_000]);
    let mut headers = HeaderMap::new();
    headers.insert("K", "v");
    conn.publish("big", None, Some(&headers), payload.clone())
        .unwrap();
    let frames = client_frames(&sent(&mut conn));
    assert!(frames.len() >= 4, "{}", frames.len());
    assert!(frames
        .iter()
        .all(|(op, p)| *op == 2 && p.len() <= 64 * 1024));
    let data: Vec<u8> = frames.into_iter().flat_map(|(_, p)| p).collect();
    let head = b"HPUB big 18 200018\r\nNATS/1.0\r\nK: v\r\n\r\n";
    assert_eq!(&data[..head.len()], head);
    assert_eq!(&data[head.len()..data.len() - 2], &payload[..]);
}

#[test]
fn a_close_frame_is_a_disconnect_with_its_code_after_the_bytes_before_it() {
    let now = Instant::now();
    let mut conn = connected("ws://127.0.0.1:8080", now);
    let sid = conn.subscribe("s", None).unwrap();
    sent(&mut conn);
    let mut wire = binary(format!("MSG s {sid} 4\r\nlast\r\n").as_bytes());
    wire.extend(frame(0x88, b"\x03\xe9Server Shutdown"));
    wire.extend(binary(b"MSG s 1 5\r\nafter\r\n"));
    conn.handle_received(now, &wire);
    let got = messages(&mut conn, sid);
    assert_eq!(got.len(), 1, "nothing after the close");
    assert_eq!(got[0].payload, "last");
    let disconnected = events(&mut conn).into_iter().find_map(|e| match e {
        Event::Connection(ConnectionEvent::Disconnected { reason, .. }) => Some(reason),
        _ => None,
    });
    assert_eq!(
        disconnected,
        Some(ConnectionError::WebSocketClosed {
            code: 1001,
            reason: "Server Shutdown".into()
        })
    );
    // The socket goes, and the machine reconnects as after any lost connection.
    assert!(matches!(conn.poll_directive(), Some(Directive::Close)));
    conn.handle_timeout(now + Duration::from_secs(5));
    assert!(matches!(
        conn.poll_directive(),
        Some(Directive::Connect { .. })
    ));
}

#[test]
fn a_refused_upgrade_ends_the_first_connect_with_its_status() {
    let now = Instant::now();
    let mut conn = Connection::new(options("ws://127.0.0.1:8080/mqtt", 7), now).unwrap();
    conn.poll_directive();
    conn.handle_connected(now);
    sent(&mut conn);
    conn.handle_received(
        now,
        b"HTTP/1.1 404 Not Found\r\nSec-Websocket-Version: 13\r\nContent-Length: 9\r\n\r\nNot Found",
    );
    let closed = events(&mut conn).into_iter().find_map(|e| match e {
        Event::Connection(ConnectionEvent::Closed { reason, .. }) => Some(reason),
        _ => None,
    });
    let reason = closed.flatten().expect("closed with a reason");
    assert_eq!(
        reason,
        ConnectionError::WebSocketUpgrade {
            status: 404,
            reason: "Not Found".into()
        }
    );
    assert_eq!(
        reason.to_string(),
        "WebSocket upgrade refused: HTTP 404 Not Found"
    );
}

#[test]
fn a_wrong_accept_key_or_a_masked_server_frame_drops_the_socket() {
    let now = Instant::now();
    let mut conn = Connection::new(options("ws://127.0.0.1:8080", 7), now).unwrap();
    conn.poll_directive();
    conn.handle_connected(now);
    sent(&mut conn);
    conn.handle_received(
        now,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    );
    assert!(matches!(conn.poll_directive(), Some(Directive::Close)));
    let reason = events(&mut conn).into_iter().find_map(|e| match e {
        Event::Connection(ConnectionEvent::Closed { reason, .. }) => reason,
        _ => None,
    });
    assert!(
        matches!(&reason, Some(ConnectionError::WebSocket(m)) if m.contains("Sec-WebSocket-Accept")),
        "{reason:?}"
    );

    let mut conn = connected("ws://127.0.0.1:8080", now);
    conn.handle_received(now, &[0x82, 0x81, 1, 2, 3, 4, b'x' ^ 1]);
    let reason = events(&mut conn).into_iter().find_map(|e| match e {
        Event::Connection(ConnectionEvent::Disconnected { reason, .. }) => Some(reason),
        _ => None,
    });
    assert!(
        matches!(&reason, Some(ConnectionError::WebSocket(m)) if m.contains("masked")),
        "{reason:?}"
    );
}

#[test]
fn close_sends_a_close_frame_after_the_last_publish() {
    let now = Instant::now();
    let mut conn = connected("ws://127.0.0.1:8080", now);
    conn.publish("last", None, None, Bytes::from_static(b"words"))
        .unwrap();
    conn.close(now);
    assert!(matches!(conn.poll_directive(), Some(Directive::Close)));
    let frames = client_frames(&sent(&mut conn));
    let (last, data) = frames.split_last().unwrap();
    assert_eq!(last, &(0x8, 1000u16.to_be_bytes().to_vec()));
    let data: Vec<u8> = data.iter().flat_map(|(_, p)| p.clone()).collect();
    assert!(String::from_utf8(data)
        .unwrap()
        .ends_with("PUB last 5\r\nwords\r\n"));
    assert!(events(&mut conn).iter().any(|e| matches!(
        e,
        Event::Connection(ConnectionEvent::Closed {
            reason: None,
            unsent_messages: 0
        })
    )));
}

/// Every byte of the key and the masks comes from the seed: one seed, one byte stream.
#[test]
fn the_key_and_masks_are_reproducible_from_the_seed() {
    let run = |seed| {
        let now = Instant::now();
        let mut conn = Connection::new(options("ws://h:1", seed), now).unwrap();
        conn.poll_directive();
        conn.handle_connected(now);
        let mut wire = sent(&mut conn);
        let (_, mut answer) = accept(&wire);
        answer.extend(binary(INFO));
        conn.handle_received(now, &answer);
        wire.extend(sent(&mut conn));
        wire
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn any_chunking_of_the_server_bytes_gives_the_same_messages() {
    let now = Instant::now();
    let mut stream = Vec::new();
    for i in 0..20 {
        let op = format!("MSG s 1 {}\r\n{}\r\n", i.to_string().len(), i);
        stream.extend(if i % 3 == 0 {
            frame(0x89, b"p")
        } else {
            Vec::new()
        });
        stream.extend(binary(op.as_bytes()));
    }
    for step in [1, 2, 3, 7, 64, stream.len()] {
        let mut conn = connected("ws://127.0.0.1:8080", now);
        let sid = conn.subscribe("s", None).unwrap();
        assert_eq!(sid, 1);
        sent(&mut conn);
        for chunk in stream.chunks(step) {
            conn.handle_received(now, chunk);
        }
        let got: Vec<String> = messages(&mut conn, sid)
            .into_iter()
            .map(|m| String::from_utf8(m.payload.to_vec()).unwrap())
            .collect();
        let want: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        assert_eq!(got, want, "step {step}");
        let pongs = client_frames(&sent(&mut conn));
        assert_eq!(pongs.len(), 7, "step {step}");
    }
}

#[test]
fn headers_the_handshake_writes_itself_are_refused() {
    let mut o = options("ws://127.0.0.1:8080", 7);
    o.websocket_headers = vec![("Sec-WebSocket-Key".into(), "x".into())];
    assert!(matches!(
        Connection::new(o, Instant::now()),
        Err(ConfigError::InvalidWebSocketHeader(_))
    ));
    let mut o = options("ws://127.0.0.1:8080", 7);
    o.websocket_headers = vec![("X".into(), "a\r\nInjected: 1".into())];
    assert!(matches!(
        Connection::new(o, Instant::now()),
        Err(ConfigError::InvalidWebSocketHeader(_))
    ));
}

/// Servers discovered over WebSocket are WebSocket servers too (nats.go's choice; async-nats
/// would dial them with plain NATS).
#[test]
fn discovered_servers_take_the_websocket_scheme() {
    let now = Instant::now();
    let mut conn = connected("ws://127.0.0.1:8080", now);
    conn.handle_received(
        now,
        &binary(
            b"INFO {\"server_id\":\"S1\",\"proto\":1,\"connect_urls\":[\"10.0.0.2:8081\"]}\r\n",
        ),
    );
    let servers: Vec<String> = conn.servers().iter().map(|s| s.to_string()).collect();
    assert!(
        servers.contains(&"ws://10.0.0.2:8081".to_owned()),
        "{servers:?}"
    );
}

#[test]
fn compression_is_offered_when_asked_and_used_both_ways_once_accepted() {
    let now = Instant::now();
    let mut o = options("ws://127.0.0.1:8080", 7);
    o.websocket_compression = true;
    let mut conn = Connection::new(o, now).unwrap();
    conn.poll_directive();
    conn.handle_connected(now);
    let (request, answer) = accept(&sent(&mut conn));
    assert!(request.contains(
        "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
         client_no_context_takeover\r\n"
    ));
    let answer = String::from_utf8(answer).unwrap().replace(
        "\r\n\r\n",
        "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
         client_no_context_takeover\r\n\r\n",
    );
    let mut wire = answer.into_bytes();
    // The server compresses INFO (RSV1 on the frame), as it does any flush over 64 bytes.
    let mut info = bytes::BytesMut::new();
    Deflater::default().compress(&mut &INFO[..], INFO.len(), &mut info);
    wire.extend(frame(0xC2, &info));
    conn.handle_received(now, &wire);
    // CONNECT is long enough to go out compressed; the short PING may not.
    let mut hello = Vec::new();
    let mut compressed_frames = 0;
    for (b0, payload) in client_frames_rsv(&sent(&mut conn)) {
        if b0 == 0xC2 {
            compressed_frames += 1;
            let mut out = bytes::BytesMut::new();
            Inflater::default()
                .inflate(&payload, &mut out, 1 << 20)
                .unwrap();
            hello.extend_from_slice(&out);
        } else {
            assert_eq!(b0, 0x82);
            hello.extend(payload);
        }
    }
    assert!(compressed_frames >= 1);
    let hello = String::from_utf8(hello).unwrap();
    assert!(
        hello.starts_with("CONNECT {") && hello.ends_with("PING\r\n"),
        "{hello}"
    );
    // Compressed and plain messages mix, and a compressed one may come in fragments.
    let mut pong = bytes::BytesMut::new();
    let text = "PONG\r\n";
    Deflater::default().compress(&mut text.as_bytes(), text.len(), &mut pong);
    let (a, b) = pong.split_at(pong.len() / 2);
    let mut wire = frame(0x42, a);
    wire.extend(frame(0x80, b));
    conn.handle_received(now, &wire);
    assert!(events(&mut conn)
        .iter()
        .any(|e| matches!(e, Event::Connection(ConnectionEvent::Connected { .. }))));
    // A large, repetitive publish goes out in compressed messages of at most 64 KiB of NATS
    // bytes each, much smaller on the wire.
    let payload = Bytes::from(b"0123456789".repeat(30_000));
    conn.publish("big", None, None, payload.clone()).unwrap();
    let frames = client_frames_rsv(&sent(&mut conn));
    let on_wire: usize = frames.iter().map(|(_, p)| p.len()).sum();
    let mut data = Vec::new();
    for (b0, p) in frames {
        assert_eq!(b0, 0xC2);
        let mut out = bytes::BytesMut::new();
        Inflater::default()
            .inflate(&p, &mut out, 64 * 1024)
            .unwrap();
        data.extend_from_slice(&out);
    }
    assert!(on_wire * 10 < payload.len(), "{on_wire}");
    assert_eq!(&data[..17], b"PUB big 300000\r\n0");
    assert_eq!(&data[16..data.len() - 2], &payload[..]);
}

#[test]
fn without_the_offer_a_compressed_frame_is_a_protocol_error() {
    let now = Instant::now();
    let mut conn = connected("ws://127.0.0.1:8080", now);
    conn.handle_received(now, &frame(0xC2, b"\x01\x00"));
    let reason = events(&mut conn).into_iter().find_map(|e| match e {
        Event::Connection(ConnectionEvent::Disconnected { reason, .. }) => Some(reason),
        _ => None,
    });
    assert!(
        matches!(&reason, Some(ConnectionError::WebSocket(m)) if m.contains("reserved bits")),
        "{reason:?}"
    );
}
