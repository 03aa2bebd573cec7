//! The client over WebSocket (`ws://`, `wss://`) against a real nats-server with a
//! `websocket { }` listener, the same scenarios on tokio, smol and async-std.
//!
//! Clients are built as users build them: a URL and default options (for `wss://`, only the
//! CA that signed the server's certificate). Each scenario checks what the user notices: the
//! messages, replies and stored data that come back, a refusal that names its reason (the
//! HTTP status of a refused upgrade, the authorization violation, the mixed pool), the close
//! frame a shutting-down server sends, and a subscription that keeps working once the client
//! reconnected. Waits are bounded by `within` and event waits, never fixed sleeps.

use std::time::Duration;

use futures_lite::StreamExt;
use nats_client::error::{ConfigError, ConnectionError, RequestError};
use nats_client::jetstream::pull::FetchOptions;
use nats_client::{Client, ClientEvent, ConnectError, ConnectOptions, HeaderMap};
use nats_tests::{NatsServer, NatsServerBuilder, WebSocket};

#[macro_use]
mod common;
use common::js::{create_stream, durable, pattern, publish_range};
use common::runtime::{reconnected, wait_event, within, Rt};

/// How long any one thing may take (generous: the machine is small and busy).
const WAIT: Duration = Duration::from_secs(30);

/// Which kind of WebSocket listener a scenario runs over.
#[derive(Debug, Clone, Copy)]
enum Listener {
    /// `no_tls: true`, `ws://127.0.0.1:<port>`.
    Plain,
    /// TLS with a generated certificate, `wss://localhost:<port>`.
    Tls,
}

/// A server with a WebSocket listener, and the CA a `wss://` client must trust.
struct WsServer {
    server: NatsServer,
    ca: Option<String>,
}

impl WsServer {
    /// A server with the `listener` and nothing else configured.
    fn start(listener: Listener) -> WsServer {
        WsServer::start_with(listener, NatsServer::builder(), |ws| ws)
    }

    /// A server from `builder` with the `listener`, whose block `block` may add to.
    fn start_with(
        listener: Listener,
        builder: NatsServerBuilder,
        block: impl FnOnce(WebSocket) -> WebSocket,
    ) -> WsServer {
        let (websocket, ca) = match listener {
            Listener::Plain => (WebSocket::plain(), None),
            Listener::Tls => {
                let pki = common::pki();
                (
                    WebSocket::tls(pki.server_cert, pki.server_key),
                    Some(pki.ca),
                )
            }
        };
        WsServer {
            server: builder.websocket(block(websocket)).start(),
            ca,
        }
    }

    /// `ws://127.0.0.1:<port>` or `wss://localhost:<port>`.
    fn url(&self) -> String {
        self.server.ws_url()
    }

    /// The options a user sets for this server: none, or for `wss://` the CA.
    fn options(&self) -> ConnectOptions {
        match &self.ca {
            Some(ca) => ConnectOptions::new().add_root_certificates_pem(ca.clone()),
            None => ConnectOptions::new(),
        }
    }

    /// A client with the user's options; checks it is connected to the WebSocket listener
    /// (the server's INFO names the port the client connected to).
    async fn connect(&self, rt: Rt) -> Client {
        let client = match self.ca {
            None => rt.connect(&self.url()).await,
            Some(_) => rt
                .connect_exactly(&self.url(), self.options())
                .await
                .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.url())),
        };
        let info = client.server_info().expect("INFO after connecting");
        assert_eq!(
            info.port,
            self.server.ws_port(),
            "connected through the WebSocket listener"
        );
        client
    }
}

/// The next message, within `WAIT`; a panic naming `what` if none comes or the subscription
/// ends.
async fn next_message(sub: &mut nats_client::Subscriber, what: &str) -> nats_client::Message {
    within(WAIT, what, sub.next())
        .await
        .unwrap_or_else(|| panic!("the subscription ended before {what}"))
}

/// The connect error, or a panic if connecting to `url` with `options` succeeded.
async fn refused(rt: Rt, url: &str, options: ConnectOptions) -> ConnectError {
    match within(WAIT, "the refusal", rt.connect_with(url, options)).await {
        Err(error) => error,
        Ok(_) => panic!("connecting to {url} must fail"),
    }
}

/// Two clients: one subscribes, the other publishes with and without headers (a header with
/// several values among them); the subscriber gets each message as sent.
async fn publish_subscribe_headers(rt: Rt, listener: Listener) {
    let server = WsServer::start(listener);
    let subscriber = server.connect(rt).await;
    let publisher = server.connect(rt).await;
    let mut sub = subscriber.subscribe("greet.*").await.unwrap();
    subscriber.flush().await.unwrap();

    publisher
        .publish("greet.joe", "hello".into())
        .await
        .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("X-Trace", "42");
    headers.append("X-Tag", "one");
    headers.append("X-Tag", "two");
    publisher
        .publish_with_headers("greet.ann", headers, "with headers".into())
        .await
        .unwrap();
    publisher.flush().await.unwrap();

    let first = next_message(&mut sub, "the plain message").await;
    assert_eq!(first.subject.as_str(), "greet.joe");
    assert_eq!(&first.payload[..], b"hello");
    assert!(first.headers.is_none());
    let second = next_message(&mut sub, "the message with headers").await;
    assert_eq!(second.subject.as_str(), "greet.ann");
    assert_eq!(&second.payload[..], b"with headers");
    let headers = second.headers.expect("the headers arrive");
    assert_eq!(headers.get("X-Trace"), Some("42"));
    assert_eq!(headers.get_all("X-Tag").collect::<Vec<_>>(), ["one", "two"]);
}

async fn publish_subscribe_headers_ws(rt: Rt) {
    publish_subscribe_headers(rt, Listener::Plain).await
}

async fn publish_subscribe_headers_wss(rt: Rt) {
    publish_subscribe_headers(rt, Listener::Tls).await
}

/// One client answers requests, another asks; a subject nobody answers gives no responders.
async fn request_reply(rt: Rt, listener: Listener) {
    let server = WsServer::start(listener);
    let responder = server.connect(rt).await;
    let requester = server.connect(rt).await;
    let mut service = responder.subscribe("echo").await.unwrap();
    responder.flush().await.unwrap();
    let answering = responder.clone();
    let answer = async move {
        for _ in 0..3 {
            let msg = service.next().await.expect("a request");
            let reply = msg.reply.expect("a reply subject");
            let mut answer = b"echo: ".to_vec();
            answer.extend_from_slice(&msg.payload);
            answering.publish(&reply, answer.into()).await.unwrap();
        }
    };
    let asking = async {
        for word in ["a", "bb", "ccc"] {
            let reply = requester.request("echo", word.into()).await.unwrap();
            assert_eq!(reply.payload, format!("echo: {word}").as_bytes());
        }
    };
    within(
        WAIT,
        "three replies",
        futures_lite::future::zip(answer, asking),
    )
    .await;

    let nobody = within(
        WAIT,
        "no responders",
        requester.request("nobody", "?".into()),
    )
    .await;
    assert_eq!(nobody.unwrap_err(), RequestError::NoResponders);
}

async fn request_reply_ws(rt: Rt) {
    request_reply(rt, Listener::Plain).await
}

async fn request_reply_wss(rt: Rt) {
    request_reply(rt, Listener::Tls).await
}

/// A 1 MiB message (many client frames, one large server frame) arrives byte for byte, to
/// the client that sent it and to another one.
async fn one_mebibyte_payload(rt: Rt, listener: Listener) {
    let server = WsServer::start_with(
        listener,
        NatsServer::builder().config("max_payload: 2MB\n"),
        |ws| ws,
    );
    let sender = server.connect(rt).await;
    let receiver = server.connect(rt).await;
    assert!(sender.max_payload() >= 1 << 21, "the server's max_payload");
    let mut theirs = receiver.subscribe("big").await.unwrap();
    receiver.flush().await.unwrap();
    let mut own = sender.subscribe("big").await.unwrap();
    sender.flush().await.unwrap();

    let payload = pattern(1 << 20);
    sender.publish("big", payload.clone().into()).await.unwrap();
    sender.flush().await.unwrap();
    for (sub, who) in [(&mut theirs, "the other client"), (&mut own, "the sender")] {
        let msg = next_message(sub, &format!("1 MiB for {who}")).await;
        assert_eq!(msg.payload.len(), payload.len(), "{who}: the length");
        assert!(msg.payload == payload, "{who}: the bytes");
    }
}

async fn one_mebibyte_payload_ws(rt: Rt) {
    one_mebibyte_payload(rt, Listener::Plain).await
}

async fn one_mebibyte_payload_wss(rt: Rt) {
    one_mebibyte_payload(rt, Listener::Tls).await
}

/// JetStream over WebSocket: a stream is created, ten messages are published with their
/// acks awaited, and a durable pull consumer fetches them in order and acks them (each ack confirmed by
/// the server).
async fn jetstream_publish_and_pull(rt: Rt, listener: Listener) {
    let server = WsServer::start_with(listener, NatsServer::builder().jetstream(true), |ws| ws);
    let js = nats_client::jetstream::new(server.connect(rt).await);
    let mut stream = create_stream(&js, "WSORDERS", &["wsorders.>"]).await;
    publish_range(&js, "wsorders.new", 0..10).await;
    let stored = within(WAIT, "the stream info", stream.info())
        .await
        .unwrap();
    assert_eq!(
        stored.state.messages, 10,
        "every acknowledged publish is stored"
    );
    let consumer = stream.create_consumer(durable("ws-worker")).await.unwrap();
    let mut batch = consumer
        .fetch_with(FetchOptions::messages(10))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Some(message) = within(WAIT, "a fetched message", batch.next()).await {
        let message = message.unwrap();
        seen.push(String::from_utf8(message.payload.to_vec()).unwrap());
        message.double_ack().await.unwrap();
    }
    let expected: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    assert_eq!(seen, expected, "each stored message once, in order");
}

async fn jetstream_publish_and_pull_ws(rt: Rt) {
    jetstream_publish_and_pull(rt, Listener::Plain).await
}

async fn jetstream_publish_and_pull_wss(rt: Rt) {
    jetstream_publish_and_pull(rt, Listener::Tls).await
}

/// A token in the block: given as an option or in the URL it connects; none is refused as an
/// authorization violation.
async fn token_auth(rt: Rt) {
    let server = WsServer::start_with(Listener::Plain, NatsServer::builder(), |ws| {
        ws.token("ws-t0ken")
    });
    let by_option = rt
        .connect_with(&server.url(), ConnectOptions::new().token("ws-t0ken"))
        .await
        .expect("the token as an option");
    by_option.flush().await.unwrap();
    let port = server.server.ws_port();
    let by_url = rt.connect(&format!("ws://ws-t0ken@127.0.0.1:{port}")).await;
    by_url.flush().await.unwrap();

    match refused(rt, &server.url(), ConnectOptions::new()).await {
        ConnectError::Connection(ConnectionError::AuthorizationViolation(_)) => {}
        other => panic!("no token must be an authorization violation, got {other:?}"),
    }
}

/// A user and password in the block, over `wss://`: the right password connects and carries
/// messages; a wrong one is refused as an authorization violation, and says so.
async fn user_password_auth_over_wss(rt: Rt) {
    let server = WsServer::start_with(Listener::Tls, NatsServer::builder(), |ws| {
        ws.user_password("ws-user", "ws-pass")
    });
    let client = rt
        .connect_with(
            &server.url(),
            server.options().user_and_password("ws-user", "ws-pass"),
        )
        .await
        .expect("the right password");
    let mut sub = client.subscribe("authed").await.unwrap();
    client.publish("authed", "in".into()).await.unwrap();
    assert_eq!(
        &next_message(&mut sub, "a message").await.payload[..],
        b"in"
    );

    let error = refused(
        rt,
        &server.url(),
        server.options().user_and_password("ws-user", "wrong"),
    )
    .await;
    match &error {
        ConnectError::Connection(ConnectionError::AuthorizationViolation(_)) => {}
        other => panic!("a wrong password must be an authorization violation, got {other:?}"),
    }
    let message = error.to_string().to_lowercase();
    assert!(
        message.contains("authorization violation"),
        "the error says why: {message}"
    );
}

/// The server stops: the client's disconnect reports the close frame the server sent (1001,
/// going away); after the restart (same port) both clients reconnect by themselves and the
/// subscription made before keeps receiving.
async fn close_frame_then_reconnect(rt: Rt, listener: Listener) {
    let mut server = WsServer::start(listener);
    let subscriber = server.connect(rt).await;
    let publisher = server.connect(rt).await;
    let mut sub_events = subscriber.events();
    let mut pub_events = publisher.events();
    let mut sub = subscriber.subscribe("kept").await.unwrap();
    subscriber.flush().await.unwrap();
    publisher.publish("kept", "before".into()).await.unwrap();
    assert_eq!(
        &next_message(&mut sub, "before").await.payload[..],
        b"before"
    );

    server.server.stop();
    let reason = wait_event(&mut sub_events, WAIT, "the disconnect", |e| match e {
        ClientEvent::Disconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    match &reason {
        ConnectionError::WebSocketClosed { code, reason } => {
            assert_eq!(*code, 1001, "going away: {reason}");
            assert!(reason.contains("Shutdown"), "the server's reason: {reason}");
        }
        other => panic!("expected the server's close frame, got {other:?}"),
    }

    server.server.restart();
    reconnected(&mut sub_events, WAIT).await;
    reconnected(&mut pub_events, WAIT).await;
    // The flush's PONG comes after the restored subscription reached the server.
    subscriber.flush().await.unwrap();
    publisher.publish("kept", "after".into()).await.unwrap();
    publisher.flush().await.unwrap();
    assert_eq!(&next_message(&mut sub, "after").await.payload[..], b"after");
    assert_eq!(subscriber.statistics().reconnects, 1);
}

async fn close_frame_then_reconnect_ws(rt: Rt) {
    close_frame_then_reconnect(rt, Listener::Plain).await
}

async fn close_frame_then_reconnect_wss(rt: Rt) {
    close_frame_then_reconnect(rt, Listener::Tls).await
}

/// Lame-duck mode: the client hears of it, then the server closes the connection with a
/// close frame (1001), which is the disconnect's reason.
async fn lame_duck_close_frame(rt: Rt) {
    // The shortest duration the server allows; one client is closed after the grace period.
    let mut server = WsServer::start_with(
        Listener::Plain,
        NatsServer::builder().config("lame_duck_duration: 30s\nlame_duck_grace_period: 1s\n"),
        |ws| ws,
    );
    let client = server.connect(rt).await;
    let mut events = client.events();
    server.server.lame_duck();
    wait_event(&mut events, WAIT, "the lame-duck notice", |e| {
        matches!(e, ClientEvent::LameDuck { .. }).then_some(())
    })
    .await;
    let reason = wait_event(&mut events, WAIT, "the disconnect", |e| match e {
        ClientEvent::Disconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    match reason {
        ConnectionError::WebSocketClosed { code: 1001, .. } => {}
        other => panic!("expected a close frame with 1001, got {other:?}"),
    }
}

/// The server refuses the upgrade of a path it serves another protocol on (`/mqtt`, with
/// MQTT off): the error is the HTTP status, and says it.
async fn refused_upgrade_names_the_status(rt: Rt) {
    let server = WsServer::start(Listener::Plain);
    let url = format!("{}/mqtt", server.url());
    let error = refused(rt, &url, ConnectOptions::new()).await;
    match &error {
        ConnectError::Connection(ConnectionError::WebSocketUpgrade {
            status: 404,
            reason,
        }) => {
            assert_eq!(reason, "Not Found")
        }
        other => panic!("expected the upgrade refused with 404, got {other:?}"),
    }
    assert!(
        error.to_string().contains("404"),
        "the error names the status: {error}"
    );

    // Any other path is a client: the same server takes it.
    let client = rt.connect(&format!("{}/some/path?x=1", server.url())).await;
    client.flush().await.unwrap();
}

/// A server that allows one origin: an `Origin` header the user adds to the upgrade with
/// `websocket_header` is checked; another origin is refused with 403.
async fn origin_header_checked_by_the_server(rt: Rt) {
    let server = WsServer::start_with(Listener::Plain, NatsServer::builder(), |ws| {
        ws.extra("allowed_origins: [\"http://allowed.test\"]")
    });
    let allowed = rt
        .connect_with(
            &server.url(),
            ConnectOptions::new().websocket_header("Origin", "http://allowed.test"),
        )
        .await
        .expect("the allowed origin connects");
    allowed.flush().await.unwrap();

    let options = ConnectOptions::new().websocket_header("Origin", "http://elsewhere.test");
    let error = refused(rt, &server.url(), options).await;
    match &error {
        ConnectError::Connection(ConnectionError::WebSocketUpgrade {
            status: 403,
            reason,
        }) => {
            assert_eq!(reason, "Forbidden")
        }
        other => panic!("expected the upgrade refused with 403, got {other:?}"),
    }
    assert!(
        error.to_string().contains("403"),
        "the error names the status: {error}"
    );
}

/// Options that cannot work are refused by `connect` before any socket is opened: a pool
/// mixing `ws://` and `nats://`, and an upgrade header the handshake writes itself.
async fn bad_websocket_options_are_refused_before_any_socket(rt: Rt) {
    // Something listening where the client would connect, to see whether it tried.
    let ws = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nats = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ws.set_nonblocking(true).unwrap();
    nats.set_nonblocking(true).unwrap();
    let ws_url = format!("ws://{}", ws.local_addr().unwrap());
    let mixed = format!("{ws_url},nats://{}", nats.local_addr().unwrap());
    let options = || ConnectOptions::new().connection_timeout(Duration::from_millis(500));
    match refused(rt, &mixed, options()).await {
        ConnectError::Config(ConfigError::MixedWebSocket) => {}
        other => panic!("expected the mixed pool refused, got {other:?}"),
    }
    let reserved = options().websocket_header("Sec-WebSocket-Key", "chosen by me");
    match refused(rt, &ws_url, reserved).await {
        ConnectError::Config(ConfigError::InvalidWebSocketHeader(message)) => assert!(
            message.contains("Sec-WebSocket-Key"),
            "the error names the header: {message}"
        ),
        other => panic!("expected the reserved header refused, got {other:?}"),
    }
    for listener in [ws, nats] {
        match listener.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("no connection may be made with bad options, got {other:?}"),
        }
    }
}

/// Forwards every connection on a local port to `target`, counting the bytes that pass
/// either way: what the client's socket really carries.
struct CountingProxy {
    port: u16,
    bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl CountingProxy {
    fn start(target: u16) -> CountingProxy {
        use std::io::{Read, Write};
        use std::net::{Shutdown, TcpListener, TcpStream};
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bytes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = bytes.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let counter = counter.clone();
                    std::thread::spawn(move || {
                        let mut buf = vec![0u8; 64 * 1024];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                            counter.fetch_add(n as u64, Ordering::Relaxed);
                        }
                        let _ = to.shutdown(Shutdown::Write);
                    });
                }
            }
        });
        CountingProxy { port, bytes }
    }

    fn bytes(&self) -> u64 {
        self.bytes.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// permessage-deflate against a server that allows it: a client that asks for compression
/// and one that does not (default options) exchange 1 MiB of text each way, every byte
/// intact; the compressing client's socket, counted by a proxy, carries a small fraction
/// of that, while the same exchange without compression carries all of it.
async fn compression_when_asked(rt: Rt) {
    let server = WsServer::start_with(
        Listener::Plain,
        NatsServer::builder().config("max_payload: 2MB\n"),
        |ws| ws.extra("compression: true"),
    );
    let plain = server.connect(rt).await;
    let text: bytes::Bytes = b"orders.new {\"sku\": 42, \"qty\": 1}\n"
        .repeat((1 << 20) / 34)
        .into();
    let mut carried = Vec::new();
    for compression in [true, false] {
        let proxy = CountingProxy::start(server.server.ws_port());
        let url = format!("ws://127.0.0.1:{}", proxy.port);
        let options = ConnectOptions::new().websocket_compression(compression);
        let client = within(WAIT, "connecting", rt.connect_exactly(&url, options))
            .await
            .unwrap();
        let mut theirs = plain.subscribe("to.plain").await.unwrap();
        plain.flush().await.unwrap();
        let mut mine = client.subscribe("to.client").await.unwrap();
        client.flush().await.unwrap();
        let before = proxy.bytes();
        client.publish("to.plain", text.clone()).await.unwrap();
        client.flush().await.unwrap();
        assert!(
            next_message(&mut theirs, "1 MiB from the client")
                .await
                .payload
                == text
        );
        plain.publish("to.client", text.clone()).await.unwrap();
        plain.flush().await.unwrap();
        assert!(next_message(&mut mine, "1 MiB to the client").await.payload == text);
        carried.push(proxy.bytes() - before);
        client.close().await.unwrap();
        theirs.unsubscribe().await.unwrap();
    }
    let both_ways = 2 * text.len() as u64;
    assert!(
        carried[0] * 10 < both_ways,
        "compressed: {} bytes carried for {both_ways}",
        carried[0]
    );
    assert!(
        carried[1] >= both_ways,
        "plain: {} bytes carried for {both_ways}",
        carried[1]
    );
}

/// `wss://` checks the certificate like `tls://`: trusted CA, but issued for another name,
/// is a TLS error naming the mismatch, and nothing is sent.
async fn wss_verifies_the_host_name(rt: Rt) {
    let (ca, issuer) = common::ca("websocket test CA");
    let (cert, key) = common::leaf(&["nats.example"], &issuer);
    let server = NatsServer::builder()
        .websocket(WebSocket::tls(cert, key))
        .start();
    let url = format!("wss://localhost:{}", server.ws_port());
    let options = ConnectOptions::new().add_root_certificates_pem(ca);
    match refused(rt, &url, options).await {
        ConnectError::Connection(ConnectionError::Tls(message)) => {
            assert!(
                message.contains("not valid for name \"localhost\""),
                "{message}"
            );
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

on_every_runtime!(
    wss_verifies_the_host_name,
    compression_when_asked,
    publish_subscribe_headers_ws,
    publish_subscribe_headers_wss,
    request_reply_ws,
    request_reply_wss,
    one_mebibyte_payload_ws,
    one_mebibyte_payload_wss,
    jetstream_publish_and_pull_ws,
    jetstream_publish_and_pull_wss,
    token_auth,
    user_password_auth_over_wss,
    close_frame_then_reconnect_ws,
    close_frame_then_reconnect_wss,
    lame_duck_close_frame,
    refused_upgrade_names_the_status,
    origin_header_checked_by_the_server,
    bad_websocket_options_are_refused_before_any_socket,
);

/// The blocking client (the core driven by a plain thread, no runtime) over `ws://`, with
/// nothing of its own for WebSocket: publish, subscribe and a request answered by an async
/// client.
#[test]
fn the_blocking_client_speaks_websocket() {
    use nats_client::nats_sansio::connection::Options;
    use nats_client::BlockingConnection;
    let server = WsServer::start(Listener::Plain);
    let mut blocking =
        BlockingConnection::connect(Options::new(&server.url()).unwrap()).expect("connects");
    assert_eq!(
        blocking.connection().server_info().map(|i| i.port),
        Some(server.server.ws_port())
    );
    let sid = blocking.subscribe("b.>", None).unwrap();
    blocking.flush(WAIT).unwrap();
    blocking.publish("b.one", "over ws").unwrap();
    let msg = blocking.next_message(sid, WAIT).expect("its own message");
    assert_eq!(&msg.payload[..], b"over ws");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let url = server.url();
    let responder = runtime.block_on(async move {
        let client = nats_client::tokio::connect(&url).await.unwrap();
        let mut requests = client.subscribe("svc").await.unwrap();
        client.flush().await.unwrap();
        let answering = client.clone();
        tokio::spawn(async move {
            while let Some(request) = requests.next().await {
                let reply = request.reply.expect("a reply subject");
                answering.publish(reply, "answered".into()).await.unwrap();
            }
        });
        client
    });
    let reply = blocking.request("svc", None, "q", WAIT).expect("a reply");
    assert_eq!(&reply.payload[..], b"answered");
    drop(responder);
}

/// Tells this binary, run again, to publish over WebSocket to the URL it holds.
const CHILD_URL: &str = "NATS_TEST_WEBSOCKET_CHILD_URL";
/// What the second run prints before its outcome.
const CHILD_LINE: &str = "CHILD ";

/// A client in another process (this test binary, run again) publishes over `ws://` with
/// default options; a client here, subscribed over `ws://` too, gets the message it sent.
#[test]
fn a_client_in_another_process() {
    let server = WsServer::start(Listener::Plain);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = server.connect(Rt::Tokio).await;
        let mut sub = client.subscribe("from.child").await.unwrap();
        client.flush().await.unwrap();
        // Blocking here is fine: the message waits in the socket until we read it.
        let output = std::process::Command::new(std::env::current_exe().expect("this binary"))
            .args([
                "--exact",
                "child_process",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_URL, server.url())
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("the second run starts");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let outcome = stdout
            .lines()
            .find_map(|line| line.split_once(CHILD_LINE).map(|(_, r)| r.to_owned()))
            .unwrap_or_else(|| panic!("the second run printed no outcome: {stdout}"));
        let pid = outcome
            .strip_prefix("ok ")
            .unwrap_or_else(|| panic!("the second run failed: {outcome}"));
        assert_ne!(pid, std::process::id().to_string(), "another process");
        let message = next_message(&mut sub, "the other process's message").await;
        assert_eq!(message.payload, format!("hello from {pid}").as_bytes());
    });
}

/// The second run: connects to the URL with default options, publishes, flushes, and prints
/// `ok <its pid>` or `err` and the error. Without the variable it does nothing.
#[test]
fn child_process() {
    let Ok(url) = std::env::var(CHILD_URL) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = runtime.block_on(async {
        let client = match within(WAIT, "connect", nats_client::tokio::connect(url)).await {
            Ok(client) => client,
            Err(error) => return format!("err {error}"),
        };
        let pid = std::process::id();
        let sent = async {
            client
                .publish("from.child", format!("hello from {pid}").into())
                .await?;
            client.flush().await?;
            client.close().await?;
            Ok::<_, nats_client::Error>(())
        };
        match within(WAIT, "publish and flush", sent).await {
            Ok(()) => format!("ok {pid}"),
            Err(error) => format!("err {error}"),
        }
    });
    println!("{CHILD_LINE}{outcome}");
}
