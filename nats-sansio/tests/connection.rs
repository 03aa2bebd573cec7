//! The machine driven by hand with literal protocol bytes: one behaviour per test.

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use nats_sansio::connection::{
    ConfigError, ConnectionError, ConnectionState, Delivery, Directive, Event, FlushError, Options,
    PublishError, RequestError, SubscribeError,
};
use nats_sansio::proto::HeaderMap;
use nats_sansio::{Connection, ConnectionEvent};

const INFO: &[u8] =
    b"INFO {\"server_id\":\"S1\",\"headers\":true,\"max_payload\":1024,\"proto\":1}\r\n";

fn t0() -> Instant {
    Instant::now()
}

fn options(url: &str) -> Options {
    let mut o = Options::new(url).unwrap();
    o.seed = Some(7);
    o
}

/// Everything `poll_transmit` holds, as one byte string.
fn sent(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(buf) = conn.poll_transmit() {
        let n = buf.remaining();
        out.extend_from_slice(&buf.copy_to_bytes(n));
    }
    out
}

fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The machine asks to connect, the transport connects and the server greets with `INFO`.
fn link_up(conn: &mut Connection, now: Instant) {
    assert!(matches!(
        conn.poll_directive(),
        Some(Directive::Connect { .. })
    ));
    conn.handle_connected(now);
    conn.handle_received(now, INFO);
}

/// A connection that completed its handshake; the handshake bytes are consumed.
fn connected(now: Instant) -> Connection {
    connected_with(options("nats://127.0.0.1:4222"), now)
}

/// A connection with options `o` that completed its handshake; the handshake bytes are
/// consumed.
fn connected_with(o: Options, now: Instant) -> Connection {
    let mut conn = Connection::new(o, now).unwrap();
    link_up(&mut conn, now);
    let hello = text(&sent(&mut conn));
    assert!(hello.starts_with("CONNECT {"), "{hello}");
    conn.handle_received(now, b"PONG\r\n");
    assert!(matches!(
        events(&mut conn).as_slice(),
        [Event::Connection(ConnectionEvent::Connected { .. })]
    ));
    conn
}

#[test]
fn connect_sends_the_required_fields() {
    let now = t0();
    let mut conn = Connection::new(options("nats://127.0.0.1:4222"), now).unwrap();
    conn.poll_directive();
    conn.handle_connected(now);
    assert!(sent(&mut conn).is_empty(), "nothing before INFO");
    conn.handle_received(now, INFO);
    let hello = text(&sent(&mut conn));
    for field in [
        "\"verbose\":false",
        "\"pedantic\":false",
        "\"echo\":true",
        "\"headers\":true",
        "\"no_responders\":true",
        "\"protocol\":1",
        "\"lang\":\"rust\"",
    ] {
        assert!(hello.contains(field), "{field} missing in {hello}");
    }
    assert!(hello.ends_with("\r\nPING\r\n"));
    assert_eq!(conn.state(), ConnectionState::Connecting);
}

#[test]
fn publishes_before_connect_wait_and_follow_the_subscriptions() {
    let now = t0();
    let mut conn = Connection::new(options("nats://127.0.0.1:4222"), now).unwrap();
    let sid = conn.subscribe("updates", None).unwrap();
    conn.publish("updates", None, None, "early".into()).unwrap();
    conn.poll_directive();
    conn.handle_connected(now);
    conn.handle_received(now, INFO);
    let hello = text(&sent(&mut conn));
    assert!(
        !hello.contains("PUB"),
        "no publish before the handshake: {hello}"
    );
    conn.handle_received(now, b"PONG\r\n");
    assert_eq!(
        text(&sent(&mut conn)),
        format!("SUB updates {sid}\r\nPUB updates 5\r\nearly\r\n")
    );
    assert_eq!(conn.statistics().out_messages, 1);
}

#[test]
fn reconnect_buffer_refuses_what_does_not_fit() {
    let now = t0();
    let mut o = options("nats://127.0.0.1:4222");
    o.reconnect_buffer_size = 32;
    let mut conn = Connection::new(o, now).unwrap();
    // "PUB a 1\r\nx\r\n" is 12 bytes: two fit in 32, the third does not.
    conn.publish("a", None, None, "x".into()).unwrap();
    conn.publish("a", None, None, "x".into()).unwrap();
    assert_eq!(
        conn.publish("a", None, None, "x".into()),
        Err(PublishError::ReconnectBufferFull { limit: 32 })
    );

    let mut o = options("nats://127.0.0.1:4222");
    o.reconnect_buffer_size = 0;
    let mut conn = Connection::new(o, now).unwrap();
    assert_eq!(
        conn.publish("a", None, None, "x".into()),
        Err(PublishError::ReconnectBufferFull { limit: 0 })
    );
}

#[test]
fn invalid_input_is_refused_with_nothing_queued() {
    let now = t0();
    let mut conn = connected(now);
    assert!(matches!(
        conn.publish("a b", None, None, "x".into()),
        Err(PublishError::InvalidSubject(_))
    ));
    assert!(matches!(
        conn.publish("a.*", None, None, "x".into()),
        Err(PublishError::InvalidSubject(_))
    ));
    assert!(matches!(
        conn.publish("a", Some("r x"), None, "x".into()),
        Err(PublishError::InvalidReply(_))
    ));
    assert_eq!(
        conn.publish("a", None, None, Bytes::from(vec![0u8; 1025])),
        Err(PublishError::MaxPayloadExceeded {
            size: 1025,
            max: 1024
        })
    );
    assert!(matches!(
        conn.subscribe("a..b", None),
        Err(SubscribeError::InvalidSubject(_))
    ));
    assert!(matches!(
        conn.subscribe("a", Some("q q")),
        Err(SubscribeError::InvalidQueueGroup(_))
    ));
    assert!(sent(&mut conn).is_empty());
}

#[test]
fn messages_queue_per_subscription_and_wake_once_per_batch() {
    let now = t0();
    let mut conn = connected(now);
    let sid = conn.subscribe("a.>", None).unwrap();
    sent(&mut conn);
    let batch = format!("MSG a.b {sid} 2\r\nhi\r\nMSG a.c {sid} r.1 3\r\nyou\r\n");
    conn.handle_received(now, batch.as_bytes());
    let evs = events(&mut conn);
    assert!(matches!(evs.as_slice(), [Event::MessagesReady { sid: s }] if *s == sid));
    let Delivery::Message(first) = conn.next_message(sid) else {
        panic!("expected a message");
    };
    assert_eq!(first.subject.as_str(), "a.b");
    assert_eq!(&first.payload[..], b"hi");
    let Delivery::Message(second) = conn.next_message(sid) else {
        panic!("expected a message");
    };
    assert_eq!(second.reply.as_ref().map(|r| r.as_str()), Some("r.1"));
    assert_eq!(conn.next_message(sid), Delivery::Empty);
    assert_eq!(conn.statistics().in_messages, 2);
}

#[test]
fn unsubscribe_after_counts_across_reconnects() {
    let now = t0();
    let mut conn = connected(now);
    let sid = conn.subscribe("a", None).unwrap();
    conn.unsubscribe_after(sid, 3);
    assert_eq!(
        text(&sent(&mut conn)),
        format!("SUB a {sid}\r\nUNSUB {sid} 3\r\n")
    );
    conn.handle_received(now, format!("MSG a {sid} 1\r\nx\r\n").as_bytes());
    conn.handle_disconnected(now, "reset");
    let evs = events(&mut conn);
    assert!(evs
        .iter()
        .any(|e| matches!(e, Event::Connection(ConnectionEvent::Disconnected { .. }))));
    link_up(&mut conn, now);
    sent(&mut conn);
    conn.handle_received(now, b"PONG\r\n");
    assert_eq!(
        text(&sent(&mut conn)),
        format!("SUB a {sid}\r\nUNSUB {sid} 2\r\n"),
        "the server counts from the new SUB, so it is told the 2 remaining"
    );
}

#[test]
fn requests_complete_fail_fast_on_no_responders_and_time_out() {
    let now = t0();
    let mut conn = connected(now);
    let ok = conn
        .request(
            now,
            "svc",
            None,
            "ping".into(),
            Some(Duration::from_secs(1)),
        )
        .unwrap();
    let wire = text(&sent(&mut conn));
    let (sub_line, pub_line) = wire.split_once("\r\n").unwrap();
    assert!(sub_line.starts_with("SUB _INBOX."), "{wire}");
    let reply = pub_line.split(' ').nth(2).unwrap().to_owned();
    assert!(pub_line.starts_with("PUB svc _INBOX."), "{wire}");
    let mux_sid = sub_line.rsplit(' ').next().unwrap();
    conn.handle_received(
        now,
        format!("MSG {reply} {mux_sid} 4\r\npong\r\n").as_bytes(),
    );
    match events(&mut conn).as_slice() {
        [Event::Response { id, result: Ok(m) }] => {
            assert_eq!(*id, ok);
            assert_eq!(&m.payload[..], b"pong");
        }
        other => panic!("unexpected {other:?}"),
    }

    let none = conn.request(now, "svc", None, "x".into(), None).unwrap();
    let wire = text(&sent(&mut conn));
    let reply = wire.split(' ').nth(2).unwrap().to_owned();
    let status = "NATS/1.0 503\r\n\r\n";
    conn.handle_received(
        now,
        format!(
            "HMSG {reply} {mux_sid} {} {}\r\n{status}\r\n",
            status.len(),
            status.len()
        )
        .as_bytes(),
    );
    assert!(matches!(
        events(&mut conn).as_slice(),
        [Event::Response { id, result: Err(RequestError::NoResponders) }] if *id == none
    ));

    let late = conn
        .request(
            now,
            "svc",
            None,
            "x".into(),
            Some(Duration::from_millis(10)),
        )
        .unwrap();
    conn.handle_timeout(now + Duration::from_millis(9));
    assert!(events(&mut conn).is_empty());
    conn.handle_timeout(now + Duration::from_millis(10));
    assert!(matches!(
        events(&mut conn).as_slice(),
        [Event::Response { id, result: Err(RequestError::TimedOut) }] if *id == late
    ));
}

#[test]
fn unanswered_pings_make_the_connection_stale() {
    let now = t0();
    let mut o = options("nats://127.0.0.1:4222");
    o.ping_interval = Duration::from_secs(1);
    let mut conn = connected_with(o, now);
    for _ in 0..2 {
        let t = conn.poll_timeout().unwrap();
        conn.handle_timeout(t);
        assert_eq!(text(&sent(&mut conn)), "PING\r\n");
    }
    let t = conn.poll_timeout().unwrap();
    conn.handle_timeout(t);
    assert_eq!(conn.poll_directive(), Some(Directive::Close));
    assert!(matches!(
        events(&mut conn).as_slice(),
        [Event::Connection(ConnectionEvent::Disconnected {
            reason: ConnectionError::StaleConnection(2),
            ..
        })]
    ));
    assert!(matches!(
        conn.poll_directive(),
        Some(Directive::Connect { .. })
    ));
    assert_eq!(conn.state(), ConnectionState::Reconnecting);
}

/// The next message of subscription `sid`, which must be there.
fn take_message(conn: &mut Connection, sid: nats_sansio::connection::Sid) -> Bytes {
    match conn.next_message(sid) {
        Delivery::Message(message) => message.payload,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// A burst of large messages grows the receive side's memory. It is kept while messages
/// keep coming (the next burst reuses it), and let go once a keep-alive interval passes
/// with none: when the PONG of that interval's PING is read. What arrives after is read as
/// before.
#[test]
fn an_idle_interval_lets_the_read_memory_of_a_burst_go() {
    const LARGE: usize = 1 << 20;
    let now = t0();
    let o = options("nats://127.0.0.1:4222");
    let interval = o.ping_interval;
    let mut conn = Connection::new(o, now).unwrap();
    conn.poll_directive();
    conn.handle_connected(now);
    conn.handle_received(
        now,
        b"INFO {\"server_id\":\"S1\",\"headers\":true,\"max_payload\":8388608,\"proto\":1}\r\n",
    );
    sent(&mut conn);
    conn.handle_received(now, b"PONG\r\n");
    events(&mut conn);
    let sid = conn.subscribe("big", None).unwrap();
    sent(&mut conn);
    let frame = |fill: u8| {
        let mut frame = format!("MSG big {sid} {LARGE}\r\n").into_bytes();
        frame.extend(std::iter::repeat_n(fill, LARGE));
        frame.extend_from_slice(b"\r\n");
        frame
    };
    // As a socket brings them: 64 KiB at a time.
    let receive = |conn: &mut Connection, at: Instant, bytes: &[u8]| {
        for chunk in bytes.chunks(64 * 1024) {
            conn.handle_received(at, chunk);
        }
    };
    for fill in [b'a', b'b', b'c'] {
        receive(&mut conn, now, &frame(fill));
        assert_eq!(take_message(&mut conn, sid), vec![fill; LARGE]);
    }
    let burst = conn.read_memory();
    assert!(
        burst >= LARGE,
        "a burst of 1 MiB messages holds {burst} bytes"
    );

    // A tick after messages: kept.
    let busy = now + interval;
    conn.handle_timeout(busy);
    assert_eq!(text(&sent(&mut conn)), "PING\r\n");
    conn.handle_received(busy, b"PONG\r\n");
    assert_eq!(conn.read_memory(), burst, "kept while messages came");

    // A tick with no message since the last: let go once its PONG is read.
    let idle = busy + interval;
    conn.handle_timeout(idle);
    assert_eq!(text(&sent(&mut conn)), "PING\r\n");
    assert_eq!(
        conn.read_memory(),
        burst,
        "held until the buffer is read again"
    );
    conn.handle_received(idle, b"PONG\r\n");
    let after = conn.read_memory();
    assert!(after < 4096, "an idle connection holds {after} bytes");

    receive(&mut conn, idle, &frame(b'd'));
    assert_eq!(take_message(&mut conn, sid), vec![b'd'; LARGE]);
    assert!(events(&mut conn)
        .iter()
        .all(|e| !matches!(e, Event::Connection(_))));
}

/// An idle tick does not take the buffer from under a message still arriving: the memory
/// goes once that message is whole and read.
#[test]
fn a_message_half_read_keeps_the_read_memory_until_it_is_whole() {
    let now = t0();
    let o = options("nats://127.0.0.1:4222");
    let interval = o.ping_interval;
    let mut conn = connected_with(o, now);
    let sid = conn.subscribe("half", None).unwrap();
    sent(&mut conn);
    // A tick with no message since the connect.
    let idle = now + interval;
    conn.handle_timeout(idle);
    assert_eq!(text(&sent(&mut conn)), "PING\r\n");
    conn.handle_received(idle, format!("MSG half {sid} 10\r\nhello").as_bytes());
    let held = conn.read_memory();
    assert!(held > 0, "half a message is held");
    conn.handle_received(idle, b"world\r\nPONG\r\n");
    assert_eq!(
        take_message(&mut conn, sid),
        Bytes::from_static(b"helloworld")
    );
    assert!(events(&mut conn)
        .iter()
        .all(|e| !matches!(e, Event::Connection(_))));
    assert_eq!(conn.read_memory(), 0, "let go once the message was whole");
}

#[test]
fn server_ping_is_answered() {
    let now = t0();
    let mut conn = connected(now);
    conn.handle_received(now, b"PING\r\n");
    assert_eq!(text(&sent(&mut conn)), "PONG\r\n");
}

#[test]
fn refused_credentials_close_the_first_connect() {
    let now = t0();
    let mut conn = Connection::new(options("nats://u:wrong@127.0.0.1:4222"), now).unwrap();
    conn.poll_directive();
    conn.handle_connected(now);
    conn.handle_received(now, INFO);
    let hello = text(&sent(&mut conn));
    assert!(hello.contains("\"user\":\"u\"") && hello.contains("\"pass\":\"wrong\""));
    conn.handle_received(now, b"-ERR 'Authorization Violation'\r\n");
    assert_eq!(conn.poll_directive(), Some(Directive::Close));
    assert!(matches!(
        events(&mut conn).as_slice(),
        [Event::Connection(ConnectionEvent::Closed {
            reason: Some(ConnectionError::AuthorizationViolation(_)),
            unsent_messages: 0
        })]
    ));
    assert!(conn.is_closed());
}

#[cfg(feature = "tls")]
#[test]
fn tls_url_against_a_plain_server_sends_nothing() {
    let now = t0();
    let mut conn = Connection::new(options("tls://127.0.0.1:4222"), now).unwrap();
    conn.poll_directive();
    conn.handle_connected(now);
    conn.handle_received(now, INFO);
    assert!(sent(&mut conn).is_empty(), "no CONNECT in the clear");
    assert_eq!(conn.poll_directive(), Some(Directive::Close));
    assert!(matches!(
        events(&mut conn).as_slice(),
        [Event::Connection(ConnectionEvent::Closed {
            reason: Some(ConnectionError::TlsNotAvailable),
            unsent_messages: 0
        })]
    ));
}

#[test]
fn garbage_from_the_server_drops_the_connection_and_reconnects() {
    let now = t0();
    let mut conn = connected(now);
    conn.publish("a", None, None, "queued".into()).unwrap();
    conn.handle_received(now, b"HELLO THERE\r\n");
    assert_eq!(conn.poll_directive(), Some(Directive::Close));
    match events(&mut conn).as_slice() {
        [Event::Connection(ConnectionEvent::Disconnected {
            reason: ConnectionError::Protocol(_),
            unsent_messages: 1,
        })] => {}
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        conn.poll_directive(),
        Some(Directive::Connect { .. })
    ));
}

#[test]
fn flush_resolves_on_its_pong_in_order() {
    let now = t0();
    let mut conn = connected(now);
    let a = conn.flush(now, None).unwrap();
    let b = conn.flush(now, None).unwrap();
    assert_eq!(text(&sent(&mut conn)), "PING\r\nPING\r\n");
    conn.handle_received(now, b"PONG\r\n");
    assert!(matches!(
        events(&mut conn).as_slice(),
        [Event::Flushed { id, result: Ok(()) }] if *id == a
    ));
    conn.handle_disconnected(now, "reset");
    assert!(events(&mut conn).iter().any(|e| matches!(
        e,
        Event::Flushed { id, result: Err(FlushError::Disconnected) } if *id == b
    )));
}

#[test]
fn info_discovers_servers_and_lame_duck() {
    let now = t0();
    let mut conn = connected(now);
    conn.handle_received(
        now,
        b"INFO {\"server_id\":\"S1\",\"connect_urls\":[\"10.0.0.2:4222\",\"10.0.0.3:4222\"],\"ldm\":true}\r\n",
    );
    let evs = events(&mut conn);
    assert!(evs
        .iter()
        .any(|e| matches!(e, Event::Connection(ConnectionEvent::ServersDiscovered { servers }) if servers.len() == 2)));
    assert!(evs
        .iter()
        .any(|e| matches!(e, Event::Connection(ConnectionEvent::LameDuck { .. }))));
    assert_eq!(conn.servers().len(), 3);
}

#[test]
fn time_never_goes_backwards() {
    let now = t0();
    let mut conn = connected(now);
    let later = now + Duration::from_secs(100);
    conn.handle_timeout(later);
    sent(&mut conn);
    // An older `now` is taken as the newest seen: the request's deadline is after `later`.
    conn.request(now, "svc", None, "x".into(), Some(Duration::from_secs(1)))
        .unwrap();
    assert!(conn.poll_timeout().unwrap() > later);
}

#[test]
fn close_lets_the_driver_write_what_was_queued_first() {
    let now = t0();
    let mut conn = connected(now);
    conn.publish("last", None, None, "words".into()).unwrap();
    conn.close(now);
    assert_eq!(conn.poll_directive(), Some(Directive::Close));
    assert_eq!(text(&sent(&mut conn)), "PUB last 5\r\nwords\r\n");
    assert_eq!(
        conn.publish("late", None, None, "x".into()),
        Err(PublishError::Closed)
    );
    assert!(matches!(
        events(&mut conn).as_slice(),
        [Event::Connection(ConnectionEvent::Closed {
            reason: None,
            unsent_messages: 0
        })]
    ));
}

#[test]
fn buffered_publishes_a_server_cannot_take_are_discarded_and_reported() {
    let now = t0();
    let mut conn = Connection::new(options("nats://127.0.0.1:4222"), now).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("K", "v");
    conn.publish("h", None, Some(&headers), "x".into()).unwrap();
    conn.poll_directive();
    conn.handle_connected(now);
    conn.handle_received(now, b"INFO {\"server_id\":\"old\",\"headers\":false}\r\n");
    conn.handle_received(now, b"PONG\r\n");
    let wire = text(&sent(&mut conn));
    assert!(!wire.contains("HPUB"), "{wire}");
    assert!(events(&mut conn).iter().any(|e| matches!(
        e,
        Event::Connection(ConnectionEvent::PublishesDiscarded {
            messages: 1,
            reason: PublishError::HeadersNotSupported
        })
    )));
}

#[test]
fn a_server_that_refuses_the_credentials_twice_leaves_the_pool() {
    let now = t0();
    let mut o = options("nats://u:p@127.0.0.1:4222");
    o.reconnect_delay = Duration::from_millis(1);
    o.reconnect_jitter = Duration::ZERO;
    let mut conn = connected_with(o, now);
    conn.handle_disconnected(now, "server restarted");
    // The restarted server refuses the credentials, twice in a row.
    for attempt in 1..=2 {
        let mut t = now;
        let directive = loop {
            match conn.poll_directive() {
                Some(Directive::Close) => continue,
                Some(d) => break d,
                None => {}
            }
            t = conn.poll_timeout().expect("a reconnect is scheduled");
            conn.handle_timeout(t);
        };
        assert!(
            matches!(directive, Directive::Connect { .. }),
            "attempt {attempt}"
        );
        conn.handle_connected(t);
        conn.handle_received(t, INFO);
        sent(&mut conn);
        conn.handle_received(t, b"-ERR 'Authorization Violation'\r\n");
    }
    let evs = events(&mut conn);
    assert!(
        evs.iter().any(|e| matches!(
            e,
            Event::Connection(ConnectionEvent::Closed {
                reason: Some(ConnectionError::AuthorizationViolation(_)),
                ..
            })
        )),
        "the only server left the pool, so the connection closed: {evs:?}"
    );
    assert!(conn.servers().is_empty());
}

#[test]
fn deadlines_fire_in_time_order_whatever_the_order_they_were_set() {
    let now = t0();
    let mut conn = connected(now);
    let slow = conn
        .request(now, "svc", None, "x".into(), Some(Duration::from_secs(3)))
        .unwrap();
    let quick = conn
        .request(now, "svc", None, "x".into(), Some(Duration::from_secs(1)))
        .unwrap();
    let flush = conn.flush(now, Some(Duration::from_secs(2))).unwrap();
    let mut order = Vec::new();
    while order.len() < 3 {
        let at = conn.poll_timeout().expect("deadlines pending");
        conn.handle_timeout(at);
        for event in events(&mut conn) {
            match event {
                Event::Response {
                    id,
                    result: Err(RequestError::TimedOut),
                } => order.push(format!("{id:?}")),
                Event::Flushed {
                    id,
                    result: Err(FlushError::TimedOut),
                } => order.push(format!("{id:?}")),
                _ => {}
            }
        }
    }
    assert_eq!(
        order,
        vec![
            format!("{quick:?}"),
            format!("{flush:?}"),
            format!("{slow:?}")
        ]
    );
}

#[test]
fn requests_sent_on_a_dead_socket_fail_at_once_buffered_ones_wait() {
    let now = t0();
    let mut conn = connected(now);
    let sent_before = conn
        .request(now, "svc", None, "x".into(), Some(Duration::from_secs(60)))
        .unwrap();
    sent(&mut conn);
    conn.handle_disconnected(now, "reset");
    let buffered = conn
        .request(now, "svc", None, "y".into(), Some(Duration::from_secs(60)))
        .unwrap();
    let evs = events(&mut conn);
    assert!(evs.iter().any(|e| matches!(
        e,
        Event::Response { id, result: Err(RequestError::Disconnected) } if *id == sent_before
    )));
    assert!(!evs
        .iter()
        .any(|e| matches!(e, Event::Response { id, .. } if *id == buffered)));
    // The buffered request goes out on the next connection and its reply is delivered.
    link_up(&mut conn, now);
    sent(&mut conn);
    conn.handle_received(now, b"PONG\r\n");
    let wire = text(&sent(&mut conn));
    let sub_line = wire.lines().find(|l| l.starts_with("SUB _INBOX.")).unwrap();
    let mux_sid = sub_line.rsplit(' ').next().unwrap();
    let pub_line = wire.lines().find(|l| l.starts_with("PUB svc")).unwrap();
    let reply = pub_line.split(' ').nth(2).unwrap();
    conn.handle_received(now, format!("MSG {reply} {mux_sid} 2\r\nok\r\n").as_bytes());
    assert!(events(&mut conn).iter().any(|e| matches!(
        e,
        Event::Response { id, result: Ok(_) } if *id == buffered
    )));
}

/// A pool is WebSocket or plain NATS, never both: servers it discovers take its scheme.
/// Without the `websocket` feature a WebSocket URL is a configuration error instead of plain
/// NATS spoken to port 80 or 443.
#[test]
fn websocket_urls_are_refused_when_mixed_or_not_built() {
    for urls in [
        "nats://127.0.0.1:4222,ws://127.0.0.1:8080",
        "wss://example.com,tls://example.com",
    ] {
        match Connection::new(options(urls), t0()) {
            Err(ConfigError::MixedWebSocket) => {}
            other => panic!("{urls}: {other:?}"),
        }
    }
    #[cfg(not(feature = "websocket"))]
    for urls in ["ws://127.0.0.1:8080", "wss://example.com"] {
        match Connection::new(options(urls), t0()) {
            Err(ConfigError::WebSocketUnsupported(addr)) => {
                assert!(addr.to_string().starts_with("ws"), "{addr}");
            }
            other => panic!("{urls}: {other:?}"),
        }
    }
}

/// The machine reads no entropy: without a seed it refuses to start rather than run with
/// one every other unseeded connection would share.
#[test]
fn a_seed_is_required() {
    let o = Options::new("nats://127.0.0.1:4222").unwrap();
    assert!(matches!(Connection::new(o, t0()), Err(ConfigError::NoSeed)));
}

/// The `unsent_messages` of the one `Closed` among `events`, and its reason.
fn closed(events: &[Event]) -> (Option<ConnectionError>, u64) {
    let found: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Connection(ConnectionEvent::Closed {
                reason,
                unsent_messages,
            }) => Some((reason.clone(), *unsent_messages)),
            _ => None,
        })
        .collect();
    assert_eq!(found.len(), 1, "one Closed in {events:?}");
    found[0].clone()
}

/// A close while disconnected cannot send the reconnect buffer: `Closed` counts it.
#[test]
fn close_while_disconnected_counts_the_discarded_buffer() {
    let now = t0();
    let mut conn = connected(now);
    conn.handle_disconnected(now, "server died");
    for _ in 0..3 {
        conn.publish("kept", None, None, "x".into()).unwrap();
    }
    conn.close(now);
    assert_eq!(closed(&events(&mut conn)), (None, 3));
    assert!(sent(&mut conn).is_empty());
}

/// Reconnects exhausted: the connection closes itself, and `Closed` counts the buffer.
#[test]
fn exhausted_reconnects_count_the_discarded_buffer() {
    let now = t0();
    let mut o = options("nats://127.0.0.1:4222");
    o.max_reconnects = Some(1);
    let mut conn = connected_with(o, now);
    conn.handle_disconnected(now, "server died");
    conn.publish("kept", None, None, "x".into()).unwrap();
    conn.publish("kept", None, None, "y".into()).unwrap();
    let mut t = now;
    while !conn.is_closed() {
        t += Duration::from_secs(5);
        conn.handle_timeout(t);
        while let Some(directive) = conn.poll_directive() {
            if let Directive::Connect { .. } = directive {
                conn.handle_connect_failed(t, "refused");
            }
        }
        assert!(t < now + Duration::from_secs(600), "never gave up");
    }
    let (reason, unsent) = closed(&events(&mut conn));
    match reason {
        Some(ConnectionError::MaxReconnects(last)) => {
            assert!(
                matches!(*last, ConnectionError::Io(ref e) if e.contains("refused")),
                "{last}"
            );
        }
        other => panic!("closed with {other:?}, not MaxReconnects"),
    }
    assert_eq!(unsent, 2);
}

/// Refused credentials that empty the pool end it as themselves, not as reconnects used up.
#[test]
fn refused_credentials_on_reconnect_are_not_max_reconnects() {
    let now = t0();
    let mut o = options("nats://u:p@127.0.0.1:4222");
    o.max_reconnects = Some(5);
    let mut conn = connected_with(o, now);
    conn.handle_disconnected(now, "server died");
    let mut t = now;
    loop {
        let directives: Vec<_> = std::iter::from_fn(|| conn.poll_directive()).collect();
        for directive in directives {
            if let Directive::Connect { .. } = directive {
                conn.handle_connected(t);
                conn.handle_received(t, INFO);
                sent(&mut conn);
                conn.handle_received(t, b"-ERR 'Authorization Violation'\r\n");
            }
        }
        if conn.is_closed() {
            break;
        }
        t += Duration::from_secs(1);
        conn.handle_timeout(t);
        assert!(t < now + Duration::from_secs(600), "never gave up");
    }
    let (reason, _) = closed(&events(&mut conn));
    assert!(
        matches!(reason, Some(ConnectionError::AuthorizationViolation(_))),
        "{reason:?}"
    );
}

/// A drain is announced before anything else it causes, and `Closed` ends it.
#[test]
fn drain_raises_draining_then_closed() {
    let now = t0();
    let mut conn = connected(now);
    conn.subscribe("a", None).unwrap();
    sent(&mut conn);
    conn.drain(now);
    assert!(matches!(
        events(&mut conn).as_slice(),
        [Event::Connection(ConnectionEvent::Draining)]
    ));
    conn.drain(now);
    assert!(events(&mut conn).is_empty(), "a second drain is no new one");
    assert!(text(&sent(&mut conn)).ends_with("PING\r\n"));
    conn.handle_received(now, b"PONG\r\n");
    assert_eq!(conn.poll_directive(), Some(Directive::Close));
    sent(&mut conn);
    let after = events(&mut conn);
    assert_eq!(closed(&after), (None, 0));
    assert!(!after
        .iter()
        .any(|e| matches!(e, Event::Connection(ConnectionEvent::Draining))));
}

/// A drain while disconnected is a close, still announced as a drain first.
#[test]
fn drain_while_disconnected_raises_draining_then_closed() {
    let now = t0();
    let mut conn = connected(now);
    conn.handle_disconnected(now, "server died");
    events(&mut conn);
    conn.drain(now);
    let all = events(&mut conn);
    assert!(
        matches!(
            all.first(),
            Some(Event::Connection(ConnectionEvent::Draining))
        ),
        "{all:?}"
    );
    assert_eq!(closed(&all), (None, 0));
    conn.drain(now);
    assert!(events(&mut conn).is_empty(), "closed: nothing more");
}

/// A close while connected waits for its last publishes to be written before `Closed`.
#[test]
fn close_while_connected_is_closed_once_written() {
    let now = t0();
    let mut conn = connected(now);
    conn.publish("last", None, None, "words".into()).unwrap();
    conn.close(now);
    assert!(events(&mut conn).is_empty(), "not closed before the write");
    assert_eq!(conn.poll_directive(), Some(Directive::Close));
    assert_eq!(text(&sent(&mut conn)), "PUB last 5\r\nwords\r\n");
    assert_eq!(closed(&events(&mut conn)), (None, 0));
}

/// The socket fails, or the linger ends, before the last publishes are written: `Closed`
/// counts what was lost.
#[test]
fn close_counts_what_the_socket_never_took() {
    let now = t0();
    let mut conn = connected(now);
    conn.publish("a", None, None, "1".into()).unwrap();
    conn.publish("b", None, None, "2".into()).unwrap();
    conn.close(now);
    conn.handle_disconnected(now, "broken pipe");
    assert_eq!(closed(&events(&mut conn)), (None, 2));

    let mut conn = connected(now);
    conn.publish("a", None, None, "1".into()).unwrap();
    conn.close(now);
    let linger = conn.poll_timeout().expect("the close lingers, bounded");
    assert!(linger <= now + Options::default().drain_timeout);
    assert!(events(&mut conn).is_empty());
    conn.handle_timeout(linger);
    assert_eq!(closed(&events(&mut conn)), (None, 1));
    assert!(sent(&mut conn).is_empty(), "nothing left to write");
}

#[test]
fn link_epoch_counts_completed_handshakes_not_attempts() {
    let now = t0();
    let fresh = Connection::new(options("nats://127.0.0.1:4222"), now).unwrap();
    assert_eq!(fresh.link_epoch(), 0, "nothing completed yet");
    let mut conn = connected(now);
    assert_eq!(conn.link_epoch(), 1);
    conn.handle_disconnected(now, "reset");
    assert_eq!(conn.link_epoch(), 1, "a lost link is no new epoch");
    link_up(&mut conn, now);
    sent(&mut conn);
    assert_eq!(
        conn.link_epoch(),
        1,
        "a handshake in progress is not complete"
    );
    conn.handle_received(now, b"PONG\r\n");
    assert_eq!(conn.link_epoch(), 2, "the reconnect completed");
    // However many events pile up unread, the epoch says the link was replaced.
    assert!(events(&mut conn)
        .iter()
        .any(|e| matches!(e, Event::Connection(ConnectionEvent::Reconnected { .. }))));
}

/// A driver that reads into the lent receive buffer: a frame split across two reads is
/// decoded whole once the second part comes back with the buffer.
#[test]
fn a_lent_receive_buffer_decodes_what_was_read_into_it() {
    let now = t0();
    let mut conn = connected(now);
    let sid = conn.subscribe("a", None).unwrap();
    sent(&mut conn);
    let frame = format!("MSG a {sid} 5\r\nhello\r\n");
    let (head, tail) = frame.as_bytes().split_at(9);
    for part in [head, tail] {
        let mut lent = conn.lend_recv_buf(64);
        assert!(lent.buf_mut().capacity() - lent.buf_mut().len() >= 64);
        lent.buf_mut().extend_from_slice(part);
        conn.handle_lent_recv_buf(now, lent);
    }
    let Delivery::Message(message) = conn.next_message(sid) else {
        panic!("expected the message");
    };
    assert_eq!(&message.payload[..], b"hello");
}

/// Bytes read into a buffer lent for a socket that was lost since are dropped: they never
/// reach the next connection's decoder (where they would be taken for its first bytes).
#[test]
fn a_buffer_lent_for_a_lost_socket_is_dropped() {
    let now = t0();
    let mut conn = connected(now);
    let mut stale = conn.lend_recv_buf(64);
    conn.force_reconnect(now);
    while conn.poll_directive().is_some() {}
    conn.handle_connected(now);
    // The start of a frame the old socket never finished: kept, it would swallow INFO.
    stale.buf_mut().extend_from_slice(b"MSG a 1 500\r\nhel");
    conn.handle_lent_recv_buf(now, stale);
    conn.handle_received(now, INFO);
    let hello = text(&sent(&mut conn));
    assert!(hello.starts_with("CONNECT {"), "{hello}");
}

/// A driver that reads no more than a lent buffer's room gets messages larger than a read
/// whole, and a read cut short ends exactly where the message it completes ends (so that
/// message never moves to a bigger block for the bytes after it).
#[test]
fn reads_within_the_lent_room_bring_large_messages_whole() {
    let now = t0();
    let mut conn = connected(now);
    let sid = conn.subscribe("big", None).unwrap();
    sent(&mut conn);
    let size = 100_000;
    let mut stream = Vec::new();
    let mut ends = Vec::new();
    for i in 0..5u8 {
        stream.extend_from_slice(format!("MSG big {sid} {size}\r\n").as_bytes());
        stream.extend(std::iter::repeat_n(b'a' + i, size));
        stream.extend_from_slice(b"\r\n");
        ends.push(stream.len());
    }
    let asked = 16 * 1024;
    let (mut at, mut cut_short) = (0, 0);
    while at < stream.len() {
        let mut lent = conn.lend_recv_buf(asked);
        let room = lent.room();
        assert!(room > 0 && room <= asked);
        assert!(lent.buf_mut().capacity() - lent.buf_mut().len() >= room);
        let n = room.min(stream.len() - at);
        if room < asked {
            cut_short += 1;
            assert!(
                ends.contains(&(at + n)),
                "a read cut short at {} of {ends:?}",
                at + n
            );
        }
        lent.buf_mut().extend_from_slice(&stream[at..at + n]);
        at += n;
        conn.handle_lent_recv_buf(now, lent);
    }
    assert!(cut_short > 0, "no read stopped at a message's end");
    for i in 0..5u8 {
        let Delivery::Message(message) = conn.next_message(sid) else {
            panic!("expected message {i}");
        };
        assert_eq!(message.payload.len(), size);
        assert!(message.payload.iter().all(|&b| b == b'a' + i));
    }
}

/// The application can drop a healthy connection and get a new one at once.
#[test]
fn force_reconnect_drops_the_link_and_connects_again_at_once() {
    let now = t0();
    let mut conn = connected(now);
    conn.force_reconnect(now);
    assert_eq!(conn.poll_directive(), Some(Directive::Close));
    assert!(matches!(
        conn.poll_directive(),
        Some(Directive::Connect { .. })
    ));
    assert!(events(&mut conn).iter().any(|e| matches!(
        e,
        Event::Connection(ConnectionEvent::Disconnected {
            reason: ConnectionError::ForcedReconnect,
            ..
        })
    )));
    // Not connected: nothing to drop.
    conn.force_reconnect(now);
    assert_eq!(conn.poll_directive(), None);
}

/// A reconnect delay callback replaces the back-off: each wait is what it returns for the
/// attempt number, without jitter.
#[test]
fn reconnect_delay_callback_sets_each_wait() {
    let now = t0();
    let mut o = options("nats://127.0.0.1:4222");
    o.retry_on_initial_connect = true;
    o.reconnect_delay_callback = Some(nats_sansio::connection::ReconnectDelay::new(|attempt| {
        Duration::from_millis(100 * u64::from(attempt))
    }));
    let mut conn = Connection::new(o, now).unwrap();
    // Attempt 0 is immediate; each refusal schedules the next after attempt × 100 ms.
    let mut t = now;
    for attempt in 1..=4u64 {
        assert!(matches!(
            conn.poll_directive(),
            Some(Directive::Connect { .. })
        ));
        conn.handle_connect_failed(t, "refused");
        let wake = conn.poll_timeout().expect("a back-off timer");
        assert_eq!(wake - t, Duration::from_millis(100 * attempt));
        t = wake;
        conn.handle_timeout(t);
    }
}

const NONCE_INFO: &[u8] =
    b"INFO {\"server_id\":\"S1\",\"headers\":true,\"max_payload\":1024,\"nonce\":\"n0nce\"}\r\n";

/// A connection with deferred credentials whose first socket is up and greeted with a nonce;
/// returns the request it asked credentials for. With `retry`, a failed first connect is
/// retried (else it closes the connection, with its reason).
fn awaiting_credentials(now: Instant, retry: bool) -> (Connection, u64) {
    let mut o = options("nats://127.0.0.1:4222");
    o.retry_on_initial_connect = retry;
    o.auth = nats_sansio::auth::Auth::Deferred;
    let mut conn = Connection::new(o, now).unwrap();
    conn.poll_directive();
    conn.handle_connected(now);
    conn.handle_received(now, NONCE_INFO);
    let Some(Directive::Authenticate { nonce, request }) = conn.poll_directive() else {
        panic!("deferred credentials are asked for after INFO");
    };
    assert_eq!(
        nonce.as_deref(),
        Some("n0nce"),
        "the nonce to sign is handed over"
    );
    (conn, request)
}

#[test]
fn deferred_credentials_hold_connect_until_the_driver_answers() {
    let now = t0();
    let (mut conn, request) = awaiting_credentials(now, false);
    assert!(
        sent(&mut conn).is_empty(),
        "no CONNECT before the credentials"
    );
    // A late publish waits too, as before any handshake completes.
    conn.publish("early", None, None, Bytes::from_static(b"x"))
        .unwrap();
    assert!(sent(&mut conn).is_empty());

    let credentials = nats_sansio::auth::AuthResponse {
        jwt: Some("the-jwt".into()),
        nkey: Some("UIGNORED".into()),
        signature: Some("c2ln".into()),
        ..Default::default()
    };
    conn.handle_credentials(now, request, Ok(credentials));
    let hello = text(&sent(&mut conn));
    assert!(hello.starts_with("CONNECT {"), "{hello}");
    assert!(hello.contains("\"jwt\":\"the-jwt\"") && hello.contains("\"sig\":\"c2ln\""));
    assert!(!hello.contains("UIGNORED"), "no nkey beside a JWT: {hello}");
    conn.handle_received(now, b"PONG\r\n");
    assert_eq!(conn.state(), ConnectionState::Connected);
    assert!(text(&sent(&mut conn)).contains("PUB early"));
}

#[test]
fn a_failed_credentials_callback_fails_the_connect_with_its_message() {
    let now = t0();
    let (mut conn, request) = awaiting_credentials(now, false);
    conn.handle_credentials(now, request, Err("vault sealed".into()));
    assert_eq!(conn.poll_directive(), Some(Directive::Close));
    let reasons: Vec<String> = events(&mut conn)
        .into_iter()
        .filter_map(|e| match e {
            Event::Connection(ConnectionEvent::Disconnected { reason, .. }) => Some(reason),
            Event::Connection(ConnectionEvent::Closed { reason, .. }) => reason,
            _ => None,
        })
        .map(|reason| {
            assert!(matches!(reason, ConnectionError::Auth(_)), "{reason:?}");
            reason.to_string()
        })
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("vault sealed")),
        "the callback's message is the reason: {reasons:?}"
    );
}

#[test]
fn credentials_for_a_lost_socket_are_ignored_and_asked_again() {
    let now = t0();
    let (mut conn, stale) = awaiting_credentials(now, true);
    conn.handle_disconnected(now, "reset by peer");
    // The next attempt asks again, under a new name.
    let later = conn.poll_timeout().expect("a reconnect is scheduled");
    conn.handle_timeout(later);
    assert!(matches!(
        conn.poll_directive(),
        Some(Directive::Connect { .. })
    ));
    conn.handle_connected(later);
    conn.handle_received(later, NONCE_INFO);
    let Some(Directive::Authenticate { request, .. }) = conn.poll_directive() else {
        panic!("a new socket asks again");
    };
    assert_ne!(request, stale);
    // The old answer arrives late: nothing is sent with it.
    conn.handle_credentials(later, stale, Ok(Default::default()));
    assert!(sent(&mut conn).is_empty(), "a stale answer sends nothing");
    conn.handle_credentials(later, request, Ok(Default::default()));
    assert!(text(&sent(&mut conn)).starts_with("CONNECT {"));
}

#[test]
fn a_callback_that_never_answers_is_bounded_by_the_connect_timeout() {
    let now = t0();
    let (mut conn, _) = awaiting_credentials(now, false);
    let deadline = conn.poll_timeout().expect("the connect timeout runs");
    conn.handle_timeout(deadline);
    assert_eq!(conn.poll_directive(), Some(Directive::Close));
    let timed_out = events(&mut conn).into_iter().any(|e| {
        matches!(
            e,
            Event::Connection(ConnectionEvent::Disconnected {
                reason: ConnectionError::ConnectTimeout,
                ..
            }) | Event::Connection(ConnectionEvent::Closed {
                reason: Some(ConnectionError::ConnectTimeout),
                ..
            })
        )
    });
    assert!(timed_out, "the wait for credentials times out as a connect");
}

#[test]
fn skipping_subject_validation_keeps_only_the_framing_checks() {
    let now = t0();
    let mut o = options("nats://127.0.0.1:4222");
    o.skip_subject_validation = true;
    let mut conn = connected_with(o, now);
    // Checked by default, let through when skipped: the server decides.
    conn.publish("a..b", Some("r.*"), None, Bytes::new())
        .unwrap();
    assert!(text(&sent(&mut conn)).contains("PUB a..b r.* 0\r\n"));
    // What would break the protocol line is refused either way.
    for subject in ["", "a b", "a\r\nPUB x"] {
        assert!(
            matches!(
                conn.publish(subject, None, None, Bytes::new()),
                Err(PublishError::InvalidSubject(_))
            ),
            "{subject:?} must be refused"
        );
    }
    assert!(
        sent(&mut conn).is_empty(),
        "nothing queued for a refused subject"
    );

    let mut checked = connected(now);
    assert!(matches!(
        checked.publish("a..b", None, None, Bytes::new()),
        Err(PublishError::InvalidSubject(_))
    ));
}

/// The server the next `Connect` directive names, after the back-off passed.
fn next_connect(conn: &mut Connection) -> String {
    loop {
        match conn.poll_directive() {
            Some(Directive::Connect { server }) => {
                return format!("{}:{}", server.host(), server.port())
            }
            Some(_) => continue,
            None => {
                let at = conn.poll_timeout().expect("an attempt is scheduled");
                conn.handle_timeout(at);
            }
        }
    }
}

#[test]
fn the_pool_reports_each_server_and_a_new_pool_takes_the_next_attempt() {
    let now = t0();
    let mut o = options("nats://127.0.0.1:4222");
    o.retain_servers_order = true;
    let mut conn = connected_with(o, now);
    let pool = conn.server_pool();
    assert_eq!(pool.len(), 1);
    assert!(pool[0].did_connect && pool[0].failed_attempts == 0 && pool[0].last_error.is_none());

    assert_eq!(
        conn.set_server_pool(now, Vec::new()),
        Err(ConfigError::NoServers)
    );
    let new = ["nats://127.0.0.1:5001", "nats://127.0.0.1:5002"]
        .map(|u| nats_sansio::auth::ServerAddr::parse(u).unwrap());
    conn.set_server_pool(now, new.to_vec()).unwrap();
    assert_eq!(
        conn.state(),
        ConnectionState::Connected,
        "the socket in use stays"
    );
    assert_eq!(conn.server_pool().len(), 2);

    conn.handle_disconnected(now, "reset");
    assert_eq!(next_connect(&mut conn), "127.0.0.1:5001");
    conn.handle_connect_failed(now, "refused");
    assert_eq!(next_connect(&mut conn), "127.0.0.1:5002");
    let failed = &conn.server_pool()[0];
    assert_eq!(failed.failed_attempts, 1);
    assert!(matches!(failed.last_error, Some(ConnectionError::Io(_))));
}

#[test]
fn a_server_chooser_picks_every_attempt_and_its_wait() {
    let now = t0();
    let mut o = options("nats://127.0.0.1:4222,nats://127.0.0.1:5001,nats://127.0.0.1:5002");
    o.retain_servers_order = true;
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&asked);
    o.reconnect_to_server = Some(nats_sansio::connection::ServerChooser::new(
        move |pool, _info| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            match n {
                // Not in the pool: the default choice.
                1 => Some((
                    nats_sansio::auth::ServerAddr::parse("nats://10.0.0.1:1").unwrap(),
                    Duration::ZERO,
                )),
                // Always the last one, after 3 s.
                _ => Some((pool.last().unwrap().addr.clone(), Duration::from_secs(3))),
            }
        },
    ));
    let mut conn = Connection::new(o, now).unwrap();
    let at = conn
        .poll_timeout()
        .expect("the first attempt waits as chosen");
    assert_eq!(at - now, Duration::from_secs(3));
    assert_eq!(next_connect(&mut conn), "127.0.0.1:5002");
    conn.handle_connect_failed(now, "refused");
    // The chooser named a stranger: the rotation goes on after 5002, to 4222.
    assert_eq!(next_connect(&mut conn), "127.0.0.1:4222");
    conn.handle_connect_failed(now, "refused");
    assert_eq!(next_connect(&mut conn), "127.0.0.1:5002");
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 3);
}

/// A request answered in time leaves no deadline behind: the next wake-up the driver is
/// asked for is the keep-alive ping, not the finished request's timeout (a driver would
/// otherwise wake once per answered request, a timeout after it was answered).
#[test]
fn answered_requests_and_flushes_leave_no_wake_up_behind() {
    let now = t0();
    let mut conn = connected(now);
    let idle = conn.poll_timeout().expect("the ping interval");
    let mut mux_sid = None;
    for i in 0..100 {
        let id = conn
            .request(now, "svc", None, "q".into(), Some(Duration::from_secs(5)))
            .unwrap();
        assert!(conn.poll_timeout().unwrap() <= now + Duration::from_secs(5));
        let wire = text(&sent(&mut conn));
        if i == 0 {
            mux_sid = Some(
                wire.split("\r\n")
                    .next()
                    .unwrap()
                    .rsplit(' ')
                    .next()
                    .unwrap()
                    .to_owned(),
            );
        }
        let publish = wire.lines().find(|l| l.starts_with("PUB svc")).unwrap();
        let reply = publish.split(' ').nth(2).unwrap();
        let sid = mux_sid.as_deref().unwrap();
        conn.handle_received(now, format!("MSG {reply} {sid} 1\r\na\r\n").as_bytes());
        assert!(matches!(
            events(&mut conn).as_slice(),
            [Event::Response { id: got, result: Ok(_) }] if *got == id
        ));
        assert_eq!(conn.poll_timeout(), Some(idle), "after request {i}");
    }
    let flush = conn.flush(now, Some(Duration::from_secs(5))).unwrap();
    sent(&mut conn);
    conn.handle_received(now, b"PONG\r\n");
    assert!(matches!(
        events(&mut conn).as_slice(),
        [Event::Flushed { id, result: Ok(()) }] if *id == flush
    ));
    assert_eq!(conn.poll_timeout(), Some(idle));
    // A cancelled request, too.
    let id = conn.request(now, "svc", None, "q".into(), None).unwrap();
    conn.cancel_request(id);
    assert_eq!(conn.poll_timeout(), Some(idle));
}
