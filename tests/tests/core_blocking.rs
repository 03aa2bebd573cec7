//! The core machine against a real nats-server, driven by the blocking std driver.
//!
//! Each test starts its own server on a free port and asserts what a user would notice:
//! messages that arrive (or don't), errors that name the cause, state after a restart.

use std::time::Duration;

use nats_client::nats_sansio::auth::Auth;
use nats_client::nats_sansio::connection::{
    ConnectionError, ConnectionEvent, Event, Options, PublishError, RequestError, Sid,
};
use nats_client::nats_sansio::proto::HeaderMap;
use nats_client::BlockingConnection;
use nats_tests::NatsServer;

const WAIT: Duration = Duration::from_secs(10);

fn options(url: &str) -> Options {
    let mut o = Options::new(url).expect("valid url");
    o.reconnect_delay = Duration::from_millis(20);
    o.max_reconnect_delay = Duration::from_millis(250);
    o
}

fn connect(url: &str) -> BlockingConnection {
    BlockingConnection::connect(options(url)).expect("connects")
}

/// Subscribes `client` to `subject` and flushes, so the server has the interest before
/// anything is published.
fn subscribed(client: &mut BlockingConnection, subject: &str, queue: Option<&str>) -> Sid {
    let sid = client.subscribe(subject, queue).unwrap();
    client.flush(WAIT).unwrap();
    sid
}

#[test]
fn publish_subscribe_with_wildcards_and_headers() {
    let server = NatsServer::start();
    let mut client = connect(&server.url());
    let sid = subscribed(&mut client, "orders.*.created", None);
    client.publish("orders.eu.created", "one").unwrap();
    client.publish("orders.eu.deleted", "not for us").unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("Trace-Id", "abc");
    headers.append("Tag", "x");
    headers.append("Tag", "y");
    client
        .connection()
        .publish("orders.us.created", None, Some(&headers), "two".into())
        .unwrap();

    let first = client.next_message(sid, WAIT).expect("first message");
    assert_eq!(first.subject.as_str(), "orders.eu.created");
    assert_eq!(&first.payload[..], b"one");
    let second = client.next_message(sid, WAIT).expect("second message");
    assert_eq!(&second.payload[..], b"two");
    let got = second.headers.expect("headers arrive");
    assert_eq!(got.get("Trace-Id"), Some("abc"));
    assert_eq!(got.get_all("Tag").collect::<Vec<_>>(), vec!["x", "y"]);
    client.flush(WAIT).unwrap();
    assert!(
        client
            .next_message(sid, Duration::from_millis(200))
            .is_none(),
        "the non-matching subject was not delivered"
    );
}

#[test]
fn queue_group_delivers_each_message_to_one_member() {
    let server = NatsServer::start();
    let mut a = connect(&server.url());
    let mut b = connect(&server.url());
    let sa = subscribed(&mut a, "jobs", Some("workers"));
    let sb = subscribed(&mut b, "jobs", Some("workers"));
    let mut publisher = connect(&server.url());
    for i in 0..100 {
        publisher.publish("jobs", format!("{i}")).unwrap();
    }
    publisher.flush(WAIT).unwrap();
    a.flush(WAIT).unwrap();
    b.flush(WAIT).unwrap();
    let mut seen = Vec::new();
    for (client, sid) in [(&mut a, sa), (&mut b, sb)] {
        while let Some(m) = client.next_message(sid, Duration::from_millis(300)) {
            seen.push(String::from_utf8(m.payload.to_vec()).unwrap());
        }
    }
    seen.sort_by_key(|s| s.parse::<u32>().unwrap());
    let expected: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    assert_eq!(seen, expected, "every job exactly once across the group");
}

#[test]
fn request_reply_no_responders_and_timeout() {
    let server = NatsServer::start();
    let mut responder = connect(&server.url());
    let sid = subscribed(&mut responder, "math.double", None);
    let handle = std::thread::spawn(move || {
        let msg = responder.next_message(sid, WAIT).expect("a request");
        let n: u64 = std::str::from_utf8(&msg.payload).unwrap().parse().unwrap();
        let reply = msg.reply.expect("a reply subject");
        responder.publish(&reply, format!("{}", n * 2)).unwrap();
        responder.flush(WAIT).unwrap();
    });
    let mut client = connect(&server.url());
    let answer = client.request("math.double", None, "21", WAIT).unwrap();
    assert_eq!(&answer.payload[..], b"42");
    handle.join().unwrap();

    assert_eq!(
        client.request("nobody.here", None, "?", WAIT).unwrap_err(),
        RequestError::NoResponders
    );

    // A subscriber that never answers: the request times out.
    let mut silent = connect(&server.url());
    subscribed(&mut silent, "silent", None);
    assert_eq!(
        client
            .request("silent", None, "?", Duration::from_millis(300))
            .unwrap_err(),
        RequestError::TimedOut
    );
}

#[test]
fn unsubscribe_after_n_stops_delivery() {
    let server = NatsServer::start();
    let mut client = connect(&server.url());
    let sid = client.subscribe("ticks", None).unwrap();
    client.connection().unsubscribe_after(sid, 3);
    client.flush(WAIT).unwrap();
    for i in 0..10 {
        client.publish("ticks", format!("{i}")).unwrap();
    }
    client.flush(WAIT).unwrap();
    let mut got = 0;
    while client
        .next_message(sid, Duration::from_millis(300))
        .is_some()
    {
        got += 1;
    }
    assert_eq!(got, 3);
}

#[test]
fn max_payload_is_enforced_locally() {
    let server = NatsServer::builder().config("max_payload: 1024\n").start();
    let mut client = connect(&server.url());
    assert_eq!(client.connection().max_payload(), 1024);
    assert_eq!(
        client.publish("big", vec![0u8; 1025]),
        Err(PublishError::MaxPayloadExceeded {
            size: 1025,
            max: 1024
        })
    );
    client.publish("big", vec![0u8; 1024]).unwrap();
    client.flush(WAIT).unwrap();
}

#[test]
fn token_user_password_and_url_credentials() {
    let server = NatsServer::builder()
        .config("authorization { token: \"s3cret\" }\n")
        .start();
    let mut o = options(&server.url());
    o.auth = Auth::Token("s3cret".into());
    BlockingConnection::connect(o).expect("token accepted");
    BlockingConnection::connect(options(&server.client_url_with("s3cret"))).expect("URL token");
    let mut o = options(&server.url());
    o.auth = Auth::Token("wrong".into());
    match BlockingConnection::connect(o) {
        Err(ConnectionError::AuthorizationViolation(_)) => {}
        other => panic!("a wrong token must be refused, got {other:?}"),
    }

    let server = NatsServer::builder()
        .config("authorization { user: \"alice\", password: \"wonderland\" }\n")
        .start();
    let mut o = options(&server.url());
    o.auth = Auth::UserPassword {
        user: "alice".into(),
        password: "wonderland".into(),
    };
    BlockingConnection::connect(o).expect("user and password accepted");
    BlockingConnection::connect(options(&server.client_url_with("alice:wonderland")))
        .expect("URL user and password");
    match BlockingConnection::connect(options(&server.client_url_with("alice:rabbit"))) {
        Err(ConnectionError::AuthorizationViolation(_)) => {}
        other => panic!("a wrong password must be refused, got {other:?}"),
    }
}

#[test]
fn nkey_authentication() {
    let user = nkeys::KeyPair::new_user();
    let config = format!(
        "authorization {{ users: [ {{ nkey: \"{}\" }} ] }}\n",
        user.public_key()
    );
    let server = NatsServer::builder().config(config).start();
    let mut o = options(&server.url());
    o.auth = Auth::NKey {
        seed: user.seed().unwrap(),
    };
    let mut client = BlockingConnection::connect(o).expect("nkey accepted");
    client.flush(WAIT).unwrap();

    let stranger = nkeys::KeyPair::new_user();
    let mut o = options(&server.url());
    o.auth = Auth::NKey {
        seed: stranger.seed().unwrap(),
    };
    match BlockingConnection::connect(o) {
        Err(ConnectionError::AuthorizationViolation(_)) => {}
        other => panic!("an unknown nkey must be refused, got {other:?}"),
    }
}

#[test]
fn reconnects_after_restart_restores_subscriptions_and_replays_the_buffer() {
    let mut server = NatsServer::start();
    let mut client = connect(&server.url());
    let sid = subscribed(&mut client, "events", None);

    server.stop();
    let lost = client.wait_event(WAIT, |e| match e {
        Event::Connection(ConnectionEvent::Disconnected { .. }) => Some(()),
        _ => None,
    });
    assert!(lost.is_some(), "the client noticed the server went away");
    for i in 0..5 {
        client
            .publish("events", format!("during outage {i}"))
            .expect("buffered while disconnected");
    }
    server.restart();
    let back = client.wait_event(Duration::from_secs(30), |e| match e {
        Event::Connection(ConnectionEvent::Reconnected { .. }) => Some(()),
        _ => None,
    });
    assert!(back.is_some(), "reconnected after the restart");
    for i in 0..5 {
        let msg = client
            .next_message(sid, WAIT)
            .expect("message published during the outage arrives");
        assert_eq!(msg.payload, format!("during outage {i}").as_bytes());
    }
    client.publish("events", "after").unwrap();
    let msg = client.next_message(sid, WAIT).unwrap();
    assert_eq!(&msg.payload[..], b"after");
    assert_eq!(client.connection().statistics().reconnects, 1);
}

#[test]
fn a_long_running_subscriber_keeps_the_event_queue_bounded() {
    const COUNT: usize = 100_000;
    let server = NatsServer::start();
    let mut subscriber = connect(&server.url());
    let sid = subscribed(&mut subscriber, "firehose", None);
    let url = server.url();
    let publisher = std::thread::spawn(move || {
        let mut publisher = connect(&url);
        for i in 0..COUNT {
            publisher.publish("firehose", format!("{i}")).unwrap();
        }
        publisher.flush(WAIT).unwrap();
    });
    let mut most_queued = 0;
    for i in 0..COUNT {
        let msg = subscriber
            .next_message(sid, WAIT)
            .unwrap_or_else(|| panic!("message {i} of {COUNT}"));
        assert_eq!(msg.payload, i.to_string().as_bytes());
        most_queued = most_queued.max(subscriber.queued_events());
    }
    publisher.join().unwrap();
    // Only readiness notices are raised here, at most one per subscription.
    assert!(
        most_queued <= 1,
        "the blocking client's event queue grew to {most_queued} events"
    );
    assert!(subscriber
        .next_message(sid, Duration::from_millis(100))
        .is_none());
    assert_eq!(subscriber.queued_events(), 0, "no stale notice is kept");
}

/// A listener whose accept queue is full: the kernel drops further SYNs, so a connect to it
/// hangs until the connecting side gives up (std's listeners have a backlog of 128).
fn listener_that_never_answers_syn() -> (std::net::TcpListener, Vec<std::net::TcpStream>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    loop {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(stream) => queued.push(stream),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return (listener, queued),
            Err(e) => panic!("filling the accept queue: {e}"),
        }
        assert!(queued.len() < 10_000, "the accept queue never filled");
    }
}

#[test]
fn connect_timeout_is_honoured() {
    let limit = Duration::from_secs(4);
    let short = |url: &str| {
        let mut o = options(url);
        o.connect_timeout = Duration::from_millis(300);
        o
    };

    // The TCP connect itself does not complete (the fixed 5 s of old would show here).
    let (silent, _queued) = listener_that_never_answers_syn();
    let url = format!("nats://{}", silent.local_addr().unwrap());
    let started = std::time::Instant::now();
    match BlockingConnection::connect(short(&url)) {
        Err(ConnectionError::Io(message)) => {
            assert!(message.contains("timed out"), "{message}")
        }
        other => panic!("expected a TCP connect timeout, got {other:?}"),
    }
    assert!(started.elapsed() < limit, "took {:?}", started.elapsed());

    // The socket connects but the server never sends INFO.
    let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("nats://{}", mute.local_addr().unwrap());
    let started = std::time::Instant::now();
    match BlockingConnection::connect(short(&url)) {
        Err(ConnectionError::ConnectTimeout) => {}
        other => panic!("expected a connect timeout, got {other:?}"),
    }
    assert!(started.elapsed() < limit, "took {:?}", started.elapsed());
    let _ = mute.accept().expect("the client did open a socket");
}
