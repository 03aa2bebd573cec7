//! The async client against a real nats-server, the same scenarios on tokio, smol and
//! async-std.
//!
//! Each scenario is an `async fn(Rt)`; `on_every_runtime!` turns it into one `#[test]` per
//! runtime. Waits are bounded by `within` (an async-io timer, which works on every runtime),
//! never by fixed sleeps.

use std::time::Duration;

use futures_lite::StreamExt;
use nats_client::error::{ConnectionError, PublishError, RequestError, SubscribeError};
use nats_client::{ClientEvent, ConnectError, ConnectOptions, HeaderMap};
use nats_tests::{Cluster, NatsServer};

#[macro_use]
mod common;
use common::runtime::{reconnected, server_and_two_clients, wait_event, within, Rt};

const WAIT: Duration = Duration::from_secs(10);

/// The next message, within `WAIT`; a panic naming `what` if none comes or the subscription
/// ends.
async fn next_message(sub: &mut nats_client::Subscriber, what: &str) -> nats_client::Message {
    within(WAIT, what, sub.next())
        .await
        .unwrap_or_else(|| panic!("the subscription ended before {what}"))
}

/// The next message, or `None` if none arrives within `timeout`.
async fn next_within(
    sub: &mut nats_client::Subscriber,
    timeout: Duration,
) -> Option<nats_client::Message> {
    let none = async {
        async_io::Timer::after(timeout).await;
        None
    };
    futures_lite::future::or(sub.next(), none).await
}

async fn publish_subscribe_and_headers(rt: Rt) {
    let server = NatsServer::start();
    let client = rt.connect(&server.url()).await;
    let mut sub = client.subscribe("greet.*").await.unwrap();
    client.flush().await.unwrap();
    client.publish("greet.joe", "hello".into()).await.unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("X-Trace", "42");
    client
        .publish_with_headers("greet.ann", headers, ("with headers").into())
        .await
        .unwrap();
    let first = next_message(&mut sub, "first message").await;
    assert_eq!(first.subject.as_str(), "greet.joe");
    assert_eq!(&first.payload[..], b"hello");
    let second = next_message(&mut sub, "second message").await;
    assert_eq!(second.headers.unwrap().get("X-Trace"), Some("42"));
    assert!(client.statistics().in_messages >= 2);
}

/// Two workers, each its own client as users run them, share a queue group: every job goes to
/// exactly one of them, and both get some (the server picks a member at random per message,
/// so one member taking all 50 has probability 2^-49).
async fn queue_group_splits_work(rt: Rt) {
    let server = NatsServer::start();
    let worker_a = rt.connect(&server.url()).await;
    let worker_b = rt.connect(&server.url()).await;
    let mut a = worker_a.queue_subscribe("work", "pool").await.unwrap();
    let mut b = worker_b.queue_subscribe("work", "pool").await.unwrap();
    worker_a.flush().await.unwrap();
    worker_b.flush().await.unwrap();
    let client = rt.connect(&server.url()).await;
    for i in 0..50u32 {
        client.publish("work", i.to_string().into()).await.unwrap();
    }
    client.flush().await.unwrap();
    let mut seen = Vec::new();
    let mut per_member = Vec::new();
    for sub in [&mut a, &mut b] {
        let before = seen.len();
        while let Some(m) = next_within(sub, Duration::from_millis(300)).await {
            seen.push(
                String::from_utf8(m.payload.to_vec())
                    .unwrap()
                    .parse::<u32>()
                    .unwrap(),
            );
        }
        per_member.push(seen.len() - before);
    }
    assert!(
        per_member.iter().all(|&n| n > 0),
        "both members got work: {per_member:?}"
    );
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..50).collect::<Vec<_>>(),
        "each message to exactly one member"
    );
}

async fn request_reply_no_responders_and_timeout(rt: Rt) {
    let (_server, client, responder) = server_and_two_clients(rt).await;
    let mut service = responder.subscribe("echo").await.unwrap();
    responder.flush().await.unwrap();
    let answering = responder.clone();
    let answer = async move {
        for _ in 0..3 {
            let msg = service.next().await.unwrap();
            let reply = msg.reply.unwrap();
            answering.publish(&reply, msg.payload).await.unwrap();
        }
        service
    };
    let asking = async {
        for word in ["a", "bb", "ccc"] {
            let reply = client.request("echo", word.into()).await.unwrap();
            assert_eq!(&reply.payload[..], word.as_bytes());
        }
    };
    let (_service, ()) = within(
        WAIT,
        "three replies",
        futures_lite::future::zip(answer, asking),
    )
    .await;

    let err = within(
        WAIT,
        "no responders",
        client.request("nobody", ("?").into()),
    )
    .await;
    assert_eq!(err.unwrap_err(), RequestError::NoResponders);

    let _silent = client.subscribe("silent").await.unwrap();
    client.flush().await.unwrap();
    let request = client
        .request_builder()
        .payload(("?").into())
        .timeout(Duration::from_millis(200));
    let err = within(WAIT, "a timeout", client.send_request("silent", request)).await;
    assert_eq!(err.unwrap_err(), RequestError::TimedOut);
}

async fn unsubscribe_after_and_drain(rt: Rt) {
    let server = NatsServer::start();
    let client = rt.connect(&server.url()).await;
    let mut limited = client.subscribe("ticks").await.unwrap();
    limited.unsubscribe_after(2).await;
    client.flush().await.unwrap();
    for i in 0..5 {
        client
            .publish("ticks", format!("{i}").into())
            .await
            .unwrap();
    }
    let got: Vec<_> = within(
        WAIT,
        "the limited stream to end",
        limited.collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(got.len(), 2, "the stream ends after the limit");

    let mut drained = client.subscribe("drain.me").await.unwrap();
    client.flush().await.unwrap();
    for i in 0..10 {
        client
            .publish("drain.me", format!("{i}").into())
            .await
            .unwrap();
    }
    drained.drain().await;
    let got: Vec<_> = within(
        WAIT,
        "the drained stream to end",
        drained.collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(
        got.len(),
        10,
        "messages in flight before the drain still arrive"
    );

    let mut sub = client.subscribe("last").await.unwrap();
    client
        .publish("last", ("before drain").into())
        .await
        .unwrap();
    within(WAIT, "client drain", client.drain()).await.unwrap();
    assert_eq!(
        &next_message(&mut sub, "queued message").await.payload[..],
        b"before drain"
    );
    assert!(within(WAIT, "stream end", sub.next()).await.is_none());
    assert!(matches!(
        client.publish("after", "x".into()).await,
        Err(PublishError::Closed)
    ));
}

async fn flush_rtt_and_local_errors(rt: Rt) {
    let server = NatsServer::builder().config("max_payload: 2048\n").start();
    let client = rt.connect(&server.url()).await;
    let rtt = within(WAIT, "rtt", client.rtt()).await.unwrap();
    assert!(rtt > Duration::ZERO && rtt < WAIT, "{rtt:?}");

    // A flush round-trips: once it returns, the server has processed every publish before
    // it. The server sends a subscriber its messages in order with the PONGs, so the
    // publisher's own subscription holds all of them the moment its flush returns, and
    // another client's subscription holds them once that client's flush returns.
    const COUNT: usize = 1000;
    let watcher = rt.connect(&server.url()).await;
    let mut theirs = watcher.subscribe("flushed").await.unwrap();
    watcher.flush().await.unwrap();
    let mut own = client.subscribe("flushed").await.unwrap();
    client.flush().await.unwrap();
    for i in 0..COUNT {
        client
            .publish("flushed", (vec![b'x'; 1000 + i]).into())
            .await
            .unwrap();
    }
    within(WAIT, "the flush", client.flush()).await.unwrap();
    for (who, sub) in [("the publisher", &mut own), ("another client", &mut theirs)] {
        if who == "another client" {
            within(WAIT, "the watcher's flush", watcher.flush())
                .await
                .unwrap();
        }
        for i in 0..COUNT {
            match futures_lite::future::poll_once(sub.next()).await {
                Some(Some(m)) => assert_eq!(m.payload.len(), 1000 + i),
                other => panic!("{who} lacks message {i} when the flush returned: {other:?}"),
            }
        }
    }
    assert_eq!(client.max_payload(), 2048);
    assert_eq!(
        client.publish("big", (vec![0u8; 2049]).into()).await,
        Err(PublishError::MaxPayloadExceeded {
            size: 2049,
            max: 2048
        })
    );
    assert!(matches!(
        client.publish("bad subject", "x".into()).await,
        Err(PublishError::InvalidSubject(_))
    ));
    assert!(matches!(
        client.subscribe("a..b").await,
        Err(SubscribeError::InvalidSubject(_))
    ));
    assert_eq!(client.server_info().unwrap().max_payload, 2048);
}

async fn wrong_credentials_are_refused(rt: Rt) {
    let server = NatsServer::builder()
        .config("authorization { user: \"u\", password: \"right\" }\n")
        .start();
    let good = rt
        .connect_with(
            &server.url(),
            ConnectOptions::new().user_and_password("u", "right"),
        )
        .await;
    assert!(good.is_ok());
    let bad = rt
        .connect_with(
            &server.url(),
            ConnectOptions::new().user_and_password("u", "wrong"),
        )
        .await;
    match bad {
        Err(ConnectError::Connection(ConnectionError::AuthorizationViolation(_))) => {}
        other => panic!("expected an authorization violation, got {other:?}"),
    }
}

async fn reconnect_restores_subscriptions_and_replays(rt: Rt) {
    let mut server = NatsServer::start();
    let client = rt.connect(&server.url()).await;
    let mut events = client.events();
    let mut sub = client.subscribe("orders").await.unwrap();
    client.flush().await.unwrap();
    server.stop();
    wait_event(&mut events, WAIT, "disconnect", |e| {
        matches!(e, ClientEvent::Disconnected { .. }).then_some(())
    })
    .await;
    for i in 0..20 {
        client
            .publish("orders", format!("{i}").into())
            .await
            .unwrap();
    }
    server.restart();
    reconnected(&mut events, WAIT).await;
    for i in 0..20 {
        let msg = next_message(&mut sub, "replayed message").await;
        assert_eq!(
            msg.payload,
            format!("{i}").as_bytes(),
            "in order, none lost"
        );
    }
    assert_eq!(client.statistics().reconnects, 1);
}

async fn reconnect_buffer_overflow_is_an_error(rt: Rt) {
    let mut server = NatsServer::start();
    let client = rt
        .connect_with(
            &server.url(),
            ConnectOptions::new().reconnect_buffer_size(64),
        )
        .await
        .unwrap();
    let mut events = client.events();
    server.stop();
    wait_event(&mut events, WAIT, "disconnect", |e| {
        matches!(e, ClientEvent::Disconnected { .. }).then_some(())
    })
    .await;
    // "PUB o 10\r\n0123456789\r\n" is 22 bytes: two fit in 64, the third does not.
    client.publish("o", "0123456789".into()).await.unwrap();
    client.publish("o", "0123456789".into()).await.unwrap();
    assert_eq!(
        client.publish("o", "0123456789".into()).await,
        Err(PublishError::ReconnectBufferFull { limit: 64 })
    );
}

async fn lame_duck_and_slow_consumer_events(rt: Rt) {
    let mut server = NatsServer::start();
    let client = rt
        .connect_with(
            &server.url(),
            ConnectOptions::new().subscription_capacity(10, 1 << 20),
        )
        .await
        .unwrap();
    let mut events = client.events();
    let sub = client.subscribe("flood").await.unwrap();
    client.flush().await.unwrap();
    for _ in 0..100 {
        client.publish("flood", "x".into()).await.unwrap();
    }
    client.flush().await.unwrap();
    let sid = wait_event(&mut events, WAIT, "slow consumer", |e| match e {
        ClientEvent::SlowConsumer { sid } => Some(*sid),
        _ => None,
    })
    .await;
    assert_eq!(sid, sub.sid());
    let mut sub = sub;
    let stats = sub.stats().unwrap();
    assert_eq!(stats.pending_messages, 10);
    assert_eq!(stats.dropped, 90, "delivered + dropped = published");
    // Reading one takes a batch out of the client's queue: the stats still count the rest
    // as pending, and reading them yields each once.
    next_message(&mut sub, "the first message").await;
    let stats = sub.stats().unwrap();
    assert_eq!((stats.pending_messages, stats.pending_bytes), (9, 9));
    for i in 0..9 {
        next_message(&mut sub, &format!("message {i} of the 9 queued")).await;
    }
    assert_eq!(sub.stats().unwrap().pending_messages, 0);

    server.lame_duck();
    wait_event(&mut events, WAIT, "lame duck", |e| {
        matches!(e, ClientEvent::LameDuck { .. }).then_some(())
    })
    .await;
}

async fn cluster_failover_to_a_discovered_server(rt: Rt) {
    let mut cluster = Cluster::start(3);
    // Only node 0 is given; the others are discovered from INFO.
    let client = rt
        .connect_with(
            &cluster.url(0),
            ConnectOptions::new().retain_servers_order(),
        )
        .await
        .unwrap();
    let mut events = client.events();
    let mut sub = client.subscribe("failover").await.unwrap();
    client.flush().await.unwrap();
    cluster.kill9(0);
    let port = wait_event(
        &mut events,
        WAIT,
        "reconnect to another node",
        |e| match e {
            ClientEvent::Reconnected { server } => Some(server.port()),
            _ => None,
        },
    )
    .await;
    assert_ne!(port, cluster.port(0), "failed over to a discovered node");
    assert!(client.statistics().reconnects >= 1);
    let publisher = rt.connect(&cluster.url(2)).await;
    // The subscription is restored on the new node; interest propagates through routes.
    let got = within(WAIT, "a message through the new node", async {
        loop {
            publisher.publish("failover", "after".into()).await.unwrap();
            publisher.flush().await.unwrap();
            if let Some(m) = next_within(&mut sub, Duration::from_millis(200)).await {
                return m;
            }
        }
    })
    .await;
    assert_eq!(&got.payload[..], b"after");
}

async fn tls_verified_mutual_and_first(rt: Rt) {
    let pki = common::pki();
    let server = common::tls_server(&pki, "");
    let trusted = || ConnectOptions::new().add_root_certificates_pem(pki.ca.clone());
    let client = rt
        .connect_with(&server.url(), trusted())
        .await
        .expect("verified TLS");
    let mut sub = client.subscribe("tls").await.unwrap();
    client.publish("tls", "secret".into()).await.unwrap();
    assert_eq!(
        &next_message(&mut sub, "TLS message").await.payload[..],
        b"secret"
    );

    let (other_ca, _) = common::ca("other CA");
    match rt
        .connect_with(
            &server.url(),
            ConnectOptions::new().add_root_certificates_pem(other_ca),
        )
        .await
    {
        Err(ConnectError::Connection(ConnectionError::Tls(message))) => {
            assert!(message.to_lowercase().contains("certificate"), "{message}")
        }
        other => panic!("an unknown CA must be rejected, got {other:?}"),
    }

    let mtls = common::tls_server(&pki, "verify: true");
    let with_cert =
        trusted().add_client_certificate_pem(pki.client_cert.clone(), pki.client_key.clone());
    let client = rt.connect_with(&mtls.url(), with_cert).await.expect("mTLS");
    client.flush().await.unwrap();
    match rt.connect_with(&mtls.url(), trusted()).await {
        Err(ConnectError::Connection(error)) => common::assert_refused_for_no_client_cert(&error),
        other => panic!("no client certificate must be refused, got {other:?}"),
    }
    common::assert_server_refused_a_client_without_certificate(&mtls);

    let first = common::tls_server(&pki, "handshake_first: true");
    let client = rt
        .connect_with(&first.url(), trusted().tls_first())
        .await
        .expect("TLS first");
    client.flush().await.unwrap();

    let plain = NatsServer::start();
    let url = plain.url().replace("nats://", "tls://");
    match rt.connect_with(&url, trusted()).await {
        Err(ConnectError::Connection(ConnectionError::TlsNotAvailable)) => {}
        other => panic!("tls:// to a plaintext server must fail, got {other:?}"),
    }
}

/// A CA PEM that cannot be parsed (given as text, or in a file) is an error of the options,
/// reported by `connect` before any socket is opened, not a TLS failure at the first connect.
async fn bad_ca_pem_is_a_config_error_before_any_socket(rt: Rt) {
    use nats_client::error::ConfigError;
    use nats_client::nats_sansio::tls::TlsError;

    // Something listening where the client would connect, to see whether it tried.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("tls://{}", listener.local_addr().unwrap());
    let bad_pem = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
    let dir = nats_tests::TempDir::new("bad-ca");
    let bad_file = dir.path().join("ca.pem");
    std::fs::write(&bad_file, bad_pem).unwrap();
    let by_text = ConnectOptions::new().add_root_certificates_pem(bad_pem);
    let by_file = ConnectOptions::new().add_root_certificates(bad_file.to_str().unwrap());
    for options in [by_text, by_file] {
        let options = options.connection_timeout(Duration::from_millis(500));
        match within(WAIT, "connect", rt.connect_with(&url, options)).await {
            Err(ConnectError::Config(ConfigError::Tls(TlsError::InvalidCaPem(message)))) => {
                assert!(!message.is_empty())
            }
            Err(other) => panic!("expected an invalid CA PEM configuration error, got {other}"),
            Ok(_) => panic!("a bad CA PEM must not connect"),
        }
    }
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("no connection may be made with bad TLS options, got {other:?}"),
    }
}

async fn token_url_and_nkey_auth(rt: Rt) {
    let server = NatsServer::builder()
        .config("authorization { token: \"t0ken\" }\n")
        .start();
    let by_option = rt
        .connect_with(&server.url(), ConnectOptions::new().token("t0ken"))
        .await
        .expect("token");
    by_option.flush().await.unwrap();
    rt.connect(&server.client_url_with("t0ken"))
        .await
        .flush()
        .await
        .unwrap();

    let user = nkeys::KeyPair::new_user();
    let server = NatsServer::builder()
        .config(format!(
            "authorization {{ users: [ {{ nkey: \"{}\" }} ] }}\n",
            user.public_key()
        ))
        .start();
    let client = rt
        .connect_with(
            &server.url(),
            ConnectOptions::new().nkey(user.seed().unwrap()),
        )
        .await
        .expect("nkey");
    client.flush().await.unwrap();
}

/// `unsubscribe` ends the stream at once (what was queued is dropped), nothing published
/// after it arrives, a second call is fine, and on a closed connection it says so.
async fn unsubscribe_ends_the_stream(rt: Rt) {
    let server = NatsServer::start();
    let client = rt.connect(&server.url()).await;
    let publisher = rt.connect(&server.url()).await;
    let mut sub = client.subscribe("gone").await.unwrap();
    let mut witness = client.subscribe("gone").await.unwrap();
    client.flush().await.unwrap();
    // Each message is published and seen by the witness, so it reached this client.
    for (payload, unsubscribe_after) in [("before", true), ("after", false)] {
        publisher.publish("gone", payload.into()).await.unwrap();
        publisher.flush().await.unwrap();
        within(WAIT, payload, witness.next()).await.unwrap();
        if unsubscribe_after {
            sub.unsubscribe().await.unwrap();
            sub.unsubscribe().await.unwrap();
        }
    }
    // The unsubscribed stream just ends, what it had queued dropped.
    assert!(within(WAIT, "the end", sub.next()).await.is_none());

    let mut open = client.subscribe("still.open").await.unwrap();
    within(WAIT, "the close", client.close()).await.unwrap();
    assert_eq!(open.unsubscribe().await, Err(SubscribeError::Closed));
}

/// Polls a request's future once: it must still wait for its reply (alone in flight, its
/// task now holds the socket's reads for it).
async fn poll_once_waiting<F: std::future::Future + Unpin>(request: &mut F) {
    assert!(
        futures_lite::future::poll_once(request).await.is_none(),
        "no reply yet"
    );
}

/// A request's future polled once and then left waiting, as in a `select!` whose other
/// branch won. Its task may have taken the socket's reads for its reply, but a subscriber,
/// a flush and another request of the same client are served meanwhile (each long before
/// the request's own 60 s timeout), and the reply reaches the request once it is polled
/// again.
async fn a_request_left_unpolled_holds_up_nothing(rt: Rt) {
    let (_server, client, other) = server_and_two_clients(rt).await;
    let mut slow = other.subscribe("slow").await.unwrap();
    let mut echo = other.subscribe("echo").await.unwrap();
    other.flush().await.unwrap();
    let mut updates = client.subscribe("updates").await.unwrap();
    client.flush().await.unwrap();

    let request = client
        .request_builder()
        .payload(("first").into())
        .timeout(Duration::from_secs(60));
    let mut waiting = Box::pin(client.send_request("slow", request));
    poll_once_waiting(&mut waiting).await;
    let asked = next_message(&mut slow, "the waiting request").await;

    other.publish("updates", ("news").into()).await.unwrap();
    let news = next_message(&mut updates, "a message while a request waits").await;
    assert_eq!(&news.payload[..], b"news");
    within(WAIT, "a flush while a request waits", client.flush())
        .await
        .unwrap();
    let answer = async {
        let msg = echo.next().await.unwrap();
        other
            .publish(&msg.reply.unwrap(), msg.payload)
            .await
            .unwrap();
    };
    let (reply, ()) = within(
        WAIT,
        "another request while one waits",
        futures_lite::future::zip(client.request("echo", ("second").into()), answer),
    )
    .await;
    assert_eq!(&reply.unwrap().payload[..], b"second");

    other
        .publish(&asked.reply.unwrap(), ("answer").into())
        .await
        .unwrap();
    let reply = within(WAIT, "the first reply", waiting).await.unwrap();
    assert_eq!(&reply.payload[..], b"answer");
}

/// A request's future polled once (so its task took the socket's reads for its reply) and
/// then dropped, as when a `select!` or a timeout of the application gives up on it: the
/// client's next requests are answered, and the late reply to the dropped one reaches
/// nobody.
async fn a_dropped_request_leaves_the_next_ones_answered(rt: Rt) {
    let (_server, client, other) = server_and_two_clients(rt).await;
    let mut slow = other.subscribe("slow").await.unwrap();
    let mut echo = other.subscribe("echo").await.unwrap();
    other.flush().await.unwrap();

    let mut given_up = Box::pin(client.request("slow", ("first").into()));
    poll_once_waiting(&mut given_up).await;
    let asked = next_message(&mut slow, "the request given up").await;
    drop(given_up);

    let responder = async {
        for _ in 0..2 {
            let msg = next_message(&mut echo, "a request after the dropped one").await;
            other
                .publish(&msg.reply.unwrap(), msg.payload)
                .await
                .unwrap();
        }
    };
    let asker = async {
        let first = client.request("echo", ("second").into()).await.unwrap();
        // The late reply to the dropped request lands while the next one waits.
        other
            .publish(&asked.reply.clone().unwrap(), ("late").into())
            .await
            .unwrap();
        let second = client.request("echo", ("third").into()).await.unwrap();
        (first, second)
    };
    let ((first, second), ()) = within(
        WAIT,
        "the requests after a dropped one",
        futures_lite::future::zip(asker, responder),
    )
    .await;
    assert_eq!(&first.payload[..], b"second");
    assert_eq!(&second.payload[..], b"third");
}

/// One task of a client asks 1,000 requests one after another (each alone in flight, so its
/// task reads the reply itself) while another task of the same client takes 10,000 messages
/// that another client publishes meanwhile: each reply is its own request's, and every
/// message arrives, in order. The socket's reads pass between the two tasks and the driver
/// throughout; a read or a wake-up lost in a hand-over would stall one of them.
async fn lone_requests_beside_a_busy_subscription(rt: Rt) {
    const REQUESTS: usize = 1_000;
    const MESSAGES: u32 = 10_000;
    let (_server, client, other) = server_and_two_clients(rt).await;
    let mut service = other.subscribe("echo").await.unwrap();
    other.flush().await.unwrap();
    let mut feed = client.subscribe("feed").await.unwrap();
    client.flush().await.unwrap();
    let responder = {
        let other = other.clone();
        rt.spawn(async move {
            for _ in 0..REQUESTS {
                let msg = service.next().await.unwrap();
                other
                    .publish(&msg.reply.unwrap(), msg.payload)
                    .await
                    .unwrap();
            }
        })
    };
    let publisher = rt.spawn(async move {
        for i in 0..MESSAGES {
            other.publish("feed", i.to_string().into()).await.unwrap();
        }
        other.flush().await.unwrap();
    });
    let reader = rt.spawn(async move {
        for i in 0..MESSAGES {
            let msg = next_message(&mut feed, "the next message fed").await;
            assert_eq!(&msg.payload[..], i.to_string().as_bytes());
        }
    });
    let asker = rt.spawn(async move {
        for i in 0..REQUESTS {
            let word = format!("q{i}");
            let reply = client.request("echo", word.clone().into()).await.unwrap();
            assert_eq!(&reply.payload[..], word.as_bytes());
        }
    });
    within(WAIT * 3, "every reply and every message", async {
        asker.await;
        reader.await;
        responder.await;
        publisher.await;
    })
    .await;
}

on_every_runtime!(
    unsubscribe_ends_the_stream,
    a_request_left_unpolled_holds_up_nothing,
    a_dropped_request_leaves_the_next_ones_answered,
    lone_requests_beside_a_busy_subscription,
    publish_subscribe_and_headers,
    queue_group_splits_work,
    request_reply_no_responders_and_timeout,
    unsubscribe_after_and_drain,
    flush_rtt_and_local_errors,
    wrong_credentials_are_refused,
    reconnect_restores_subscriptions_and_replays,
    reconnect_buffer_overflow_is_an_error,
    lame_duck_and_slow_consumer_events,
    cluster_failover_to_a_discovered_server,
    tls_verified_mutual_and_first,
    bad_ca_pem_is_a_config_error_before_any_socket,
    token_url_and_nkey_auth,
    retry_on_initial_connect_buffers_until_the_server_is_up,
    each_task_keeps_its_order_across_publishes_and_requests,
);

/// Dropping the last clone outside any runtime still delivers what was published and closes
/// the connection.
#[test]
fn dropping_the_last_client_outside_a_runtime_flushes_and_closes() {
    let server = NatsServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (mut sub, watcher) = runtime.block_on(async {
        let watcher = Rt::Tokio.connect(&server.url()).await;
        let sub = watcher.subscribe("farewell").await.unwrap();
        watcher.flush().await.unwrap();
        (sub, watcher)
    });
    let client = runtime.block_on(Rt::Tokio.connect(&server.url()));
    let mut events = client.events();
    runtime.block_on(async {
        for i in 0..100 {
            client
                .publish("farewell", format!("{i}").into())
                .await
                .unwrap();
        }
    });
    // Outside `block_on`: no runtime context on this thread.
    drop(client);
    runtime.block_on(async {
        wait_event(&mut events, WAIT, "close", |e| {
            matches!(e, ClientEvent::Closed { reason: None, .. }).then_some(())
        })
        .await;
        for i in 0..100 {
            let msg = within(WAIT, "a message published before the drop", sub.next()).await;
            assert_eq!(msg.unwrap().payload, format!("{i}").as_bytes());
        }
        drop(watcher);
    });
}

/// With `retry_on_initial_connect`, connecting to a server that is not up yet returns at once;
/// what is published meanwhile is delivered once the server starts.
async fn retry_on_initial_connect_buffers_until_the_server_is_up(rt: Rt) {
    let port = nats_tests::free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let client = rt
        .connect_with(&url, ConnectOptions::new().retry_on_initial_connect())
        .await
        .expect("returns at once");
    assert_ne!(
        client.connection_state(),
        nats_client::ConnectionState::Connected
    );
    let mut events = client.events();
    let mut sub = client.subscribe("early").await.unwrap();
    client
        .publish("early", ("before the server").into())
        .await
        .unwrap();
    let _server = NatsServer::builder().port(port).start();
    wait_event(&mut events, WAIT, "the first connect", |e| {
        matches!(e, ClientEvent::Connected { .. }).then_some(())
    })
    .await;
    let msg = next_message(&mut sub, "the buffered message").await;
    assert_eq!(&msg.payload[..], b"before the server");
}

/// The same scenario with the tasks on tokio's multi-thread runtime, so that the socket's
/// readiness and the hand-overs of its reads happen across threads.
#[test]
fn lone_requests_beside_a_busy_subscription_on_a_multi_thread_runtime() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(lone_requests_beside_a_busy_subscription(Rt::Tokio));
}

/// The same scenario with the tasks on tokio's multi-thread runtime, so that they write
/// from several threads at once.
#[test]
fn each_task_keeps_its_order_on_a_multi_thread_runtime() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(each_task_keeps_its_order_across_publishes_and_requests(
            Rt::Tokio,
        ));
}

/// Several tasks share one client (default options), each publishing and, every third
/// message, requesting on its own subject, while one more publishes 32 KiB messages (the
/// driver is often writing): another client sees each task's messages whole and in the order
/// the task issued them, and answers the requests. A request with nothing else in flight is
/// written by its own task, everything else by the driver; the one write turn must keep the
/// bytes in order, never two writers at once.
async fn each_task_keeps_its_order_across_publishes_and_requests(rt: Rt) {
    const TASKS: usize = 4;
    const EACH: u32 = 300;
    const LARGE: usize = 32 * 1024;
    let (_server, client, other) = server_and_two_clients(rt).await;
    let mut seen = other.subscribe("order.*").await.unwrap();
    other.flush().await.unwrap();
    let check = rt.spawn(async move {
        let mut next = [0u32; TASKS + 1];
        for _ in 0..(TASKS + 1) * EACH as usize {
            let msg = next_message(&mut seen, "the next message").await;
            let task: usize = msg.subject.as_str()["order.".len()..].parse().unwrap();
            let text = std::str::from_utf8(&msg.payload).unwrap();
            let seq: u32 = text.trim_end_matches('.').parse().unwrap();
            assert_eq!(seq, next[task], "task {task}'s messages out of order");
            if task == TASKS {
                assert_eq!(msg.payload.len(), LARGE, "a large message whole");
            }
            next[task] += 1;
            if let Some(reply) = &msg.reply {
                other
                    .publish(reply.as_str(), msg.payload.clone())
                    .await
                    .unwrap();
            }
        }
    });
    let large = {
        let client = client.clone();
        rt.spawn(async move {
            for seq in 0..EACH {
                let mut payload = format!("{seq}").into_bytes();
                payload.resize(LARGE, b'.');
                let subject = format!("order.{TASKS}");
                client.publish(&subject, payload.into()).await.unwrap();
            }
        })
    };
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let client = client.clone();
            rt.spawn(async move {
                let subject = format!("order.{task}");
                for seq in 0..EACH {
                    let payload = seq.to_string();
                    if seq % 3 == 2 {
                        let reply = client.request(&subject, payload.clone().into()).await;
                        assert_eq!(&reply.unwrap().payload[..], payload.as_bytes());
                    } else {
                        client.publish(&subject, payload.into()).await.unwrap();
                    }
                }
            })
        })
        .collect();
    within(WAIT * 3, "every task's messages in order", async {
        for task in tasks {
            task.await;
        }
        large.await;
        check.await;
    })
    .await;
}
