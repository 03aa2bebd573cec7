//! Self-tests of the harness: each starts real nats-server processes and talks to them over
//! raw sockets, so a broken harness fails here rather than inside a client test.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use nats_tests::{nats_server_binary, wait_until, Cluster, NatsServer, TempDir, WebSocket};

mod common;

const TIMEOUT: Duration = Duration::from_secs(30);

/// A raw protocol connection: line reads with a deadline, PINGs from the server answered.
struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Raw {
    fn connect(port: u16) -> std::io::Result<Raw> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_millis(200)))?;
        Ok(Raw {
            writer: stream.try_clone()?,
            reader: BufReader::new(stream),
        })
    }

    /// Reads lines until one satisfies `want`, answering PINGs; panics after `TIMEOUT`.
    fn read_until(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        let mut line = String::new();
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            match self.reader.read_line(&mut line) {
                Ok(0) => panic!("connection closed while waiting for {what}; saw {seen:?}"),
                Ok(_) if line.ends_with('\n') => {
                    let done = std::mem::take(&mut line);
                    if done.starts_with("PING") {
                        self.send("PONG\r\n");
                    }
                    if want(&done) {
                        return done;
                    }
                    seen.push(done);
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("read failed while waiting for {what}: {e}; saw {seen:?}"),
            }
        }
        panic!("no {what} within {TIMEOUT:?}; saw {seen:?}");
    }

    fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).expect("write");
    }

    /// Reads INFO, sends CONNECT and PING, waits for PONG; returns the INFO line.
    fn handshake(&mut self) -> String {
        let info = self.read_until("INFO", |l| l.starts_with("INFO {"));
        self.send("CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\nPING\r\n");
        self.read_until("PONG", |l| l.starts_with("PONG"));
        info
    }
}

#[test]
fn binary_is_provisioned_and_runs() {
    let binary = nats_server_binary();
    let out = std::process::Command::new(&binary)
        .arg("--version")
        .output()
        .expect("run nats-server --version");
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(version.contains("nats-server: v"), "{version}");
}

#[test]
fn server_sends_info_and_answers_ping() {
    let server = NatsServer::start();
    assert_eq!(server.url(), format!("nats://127.0.0.1:{}", server.port()));
    let mut raw = Raw::connect(server.port()).expect("connect");
    let info = raw.handshake();
    assert!(info.contains("\"port\":"), "{info}");
    assert!(server.logs().contains("Server is ready"));
}

#[test]
fn restart_keeps_port_and_store() {
    let mut server = NatsServer::builder().jetstream(true).start();
    let (port, pid) = (server.port(), server.pid());
    let marker = server.dir().join("jetstream").join("marker");
    std::fs::write(&marker, b"kept").expect("write marker");
    server.restart();
    assert_eq!(server.port(), port);
    assert_ne!(server.pid(), pid);
    assert!(marker.exists(), "the store dir survives a restart");
    let mut raw = Raw::connect(port).expect("connect after restart");
    let info = raw.handshake();
    assert!(info.contains("\"jetstream\":true"), "{info}");
    assert_eq!(server.logs().matches("Server is ready").count(), 2);
}

#[test]
fn kill9_then_port_refuses_and_restart_recovers() {
    let mut server = NatsServer::start();
    let port = server.port();
    server.kill9();
    assert!(!server.is_running());
    assert!(
        wait_until(TIMEOUT, || TcpStream::connect(("127.0.0.1", port)).is_err()),
        "port {port} still accepts after kill9"
    );
    server.restart();
    Raw::connect(port)
        .expect("connect after restart")
        .handshake();
}

#[test]
fn stop_is_graceful() {
    let mut server = NatsServer::start();
    server.stop();
    assert!(!server.is_running());
    assert!(
        server.logs().contains("Server Exiting"),
        "{}",
        server.logs()
    );
}

#[test]
fn lame_duck_sends_ldm_info() {
    let mut server = NatsServer::start();
    let mut raw = Raw::connect(server.port()).expect("connect");
    raw.handshake();
    server.lame_duck();
    let info = raw.read_until("INFO with ldm", |l| {
        l.starts_with("INFO {") && l.contains("\"ldm\":true")
    });
    assert!(info.contains("\"ldm\":true"));
    assert!(server.wait_for_log("Entering lame duck mode", TIMEOUT));
}

#[test]
fn config_file_and_userinfo_url() {
    let server = NatsServer::builder()
        .config("authorization { user: alice, password: s3cret }\n")
        .monitoring(true)
        .start();
    assert_eq!(
        server.client_url_with("alice:s3cret"),
        format!("nats://alice:s3cret@127.0.0.1:{}", server.port())
    );
    let mut raw = Raw::connect(server.port()).expect("connect");
    let info = raw.read_until("INFO", |l| l.starts_with("INFO {"));
    assert!(info.contains("\"auth_required\":true"), "{info}");
    raw.send(
        "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1,\
         \"user\":\"alice\",\"pass\":\"s3cret\"}\r\nPING\r\n",
    );
    raw.read_until("PONG", |l| l.starts_with("PONG"));
    let varz = server.monitor_get("/varz").expect("GET /varz");
    assert!(varz.contains("\"server_id\""), "{varz}");
}

#[test]
fn drop_kills_the_server_and_removes_its_dir() {
    let server = NatsServer::start();
    let (port, dir) = (server.port(), server.dir().to_path_buf());
    assert!(dir.exists());
    drop(server);
    assert!(!dir.exists());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn temp_dirs_are_unique_and_removed() {
    let (a, b) = (TempDir::new("harness"), TempDir::new("harness"));
    assert_ne!(a.path(), b.path());
    let path = a.path().to_path_buf();
    drop(a);
    assert!(!path.exists());
}

#[test]
fn cluster_gossips_connect_urls() {
    let mut cluster = Cluster::start(3);
    assert_eq!(cluster.len(), 3);
    let others = [cluster.port(1), cluster.port(2)].map(|p| format!("127.0.0.1:{p}"));
    let lists_others = |l: &str| l.starts_with("INFO {") && others.iter().all(|o| l.contains(o));
    let mut raw = Raw::connect(cluster.port(0)).expect("connect to node 0");
    // The first INFO may predate gossip; the server sends an updated one when it changes.
    let info = raw.handshake();
    if !lists_others(&info) {
        raw.read_until("INFO listing the other nodes", lists_others);
    }

    cluster.kill9(2);
    cluster.restart(2);
    Raw::connect(cluster.port(2))
        .expect("connect to the restarted node")
        .handshake();
}

#[test]
fn jetstream_cluster_elects_a_meta_leader() {
    let cluster = Cluster::builder().nodes(3).jetstream(true).start();
    let jsz = cluster.node(0).monitor_get("/jsz").expect("GET /jsz");
    assert!(jsz.contains("\"leader\""), "{jsz}");
}

#[test]
fn taken_fixed_port_is_reported_with_logs() {
    let holder = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let err = NatsServer::builder()
        .port(port)
        .try_start()
        .expect_err("the port is taken");
    assert!(err.contains("address already in use"), "{err}");
}

/// A raw WebSocket client over a blocking socket, enough to check the harness's listener:
/// the upgrade request, masked frames out, unmasked frames in (their payloads joined as the
/// NATS byte stream, a close frame's code kept).
struct RawWs {
    stream: TcpStream,
    /// Bytes read and not yet deframed (a partial frame).
    frames: Vec<u8>,
    /// NATS bytes received and not yet consumed.
    received: Vec<u8>,
    /// The code of the server's close frame, once one came (`Some(None)`: without a code).
    close_code: Option<Option<u16>>,
}

impl RawWs {
    /// Sends an upgrade request for `path`; returns the response's header block (everything
    /// up to the empty line) and the socket, with any bytes after the header kept.
    fn upgrade(port: u16, path: &str) -> (String, RawWs) {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("read timeout");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
        .expect("write the upgrade request");
        let mut ws = RawWs {
            stream,
            frames: Vec::new(),
            received: Vec::new(),
            close_code: None,
        };
        let end = loop {
            if let Some(i) = ws.frames.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            ws.read_more("the response header");
        };
        let head: Vec<u8> = ws.frames.drain(..end).collect();
        // What follows the header is frames.
        ws.deframe();
        (String::from_utf8_lossy(&head).into_owned(), ws)
    }

    /// Reads what the socket has into `frames`; panics at the end of the stream.
    fn read_more(&mut self, what: &str) {
        let mut buf = [0u8; 4096];
        let n = std::io::Read::read(&mut self.stream, &mut buf)
            .unwrap_or_else(|e| panic!("read failed waiting for {what}: {e}"));
        assert!(n > 0, "TCP closed while waiting for {what}");
        self.frames.extend_from_slice(&buf[..n]);
    }

    /// Moves complete frames out of `frames`: binary payloads into `received`, a close
    /// frame's code into `close_code`.
    fn deframe(&mut self) {
        loop {
            let frames = &self.frames;
            let [b0, b1, ..] = frames[..] else { return };
            assert_eq!(b1 & 0x80, 0, "server frames are not masked");
            let (len, header) = match b1 & 0x7f {
                126 if frames.len() >= 4 => {
                    (u16::from_be_bytes([frames[2], frames[3]]) as usize, 4)
                }
                127 if frames.len() >= 10 => {
                    let mut n = [0u8; 8];
                    n.copy_from_slice(&frames[2..10]);
                    (u64::from_be_bytes(n) as usize, 10)
                }
                126 | 127 => return,
                n => (n as usize, 2),
            };
            if frames.len() < header + len {
                return;
            }
            let payload = &frames[header..header + len];
            match b0 & 0x0f {
                2 => self.received.extend_from_slice(payload),
                8 => {
                    let code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                    self.close_code = Some(code);
                }
                _ => panic!("a binary or close frame, got {b0:#x}"),
            }
            self.frames.drain(..header + len);
        }
    }

    /// Sends `text` as one masked binary frame.
    fn send(&mut self, text: &str) {
        let key = [0x12, 0x34, 0x56, 0x78];
        let payload = text.as_bytes();
        assert!(payload.len() < 126, "a short frame");
        let mut frame = vec![0x82, 0x80 | payload.len() as u8];
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        self.stream.write_all(&frame).expect("write a frame");
    }

    /// Reads until the NATS stream holds a line satisfying `want`; returns it.
    fn read_line_until(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        loop {
            while let Some(i) = self.received.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.received.drain(..i + 2).collect();
                let line = String::from_utf8_lossy(&line).into_owned();
                if want(&line) {
                    return line;
                }
            }
            if let Some(code) = self.close_code {
                panic!("the server closed with {code:?} while waiting for {what}");
            }
            self.read_more(what);
            self.deframe();
        }
    }

    /// Reads until the server's close frame; returns its code.
    fn close_code(&mut self) -> Option<u16> {
        loop {
            if let Some(code) = self.close_code {
                return code;
            }
            self.read_more("a close frame");
            self.deframe();
        }
    }
}

#[test]
fn websocket_listener_upgrades_on_a_port_kept_across_restart() {
    let mut server = NatsServer::builder().websocket(WebSocket::plain()).start();
    let port = server.ws_port();
    assert_ne!(port, server.port());
    assert_eq!(server.ws_url(), format!("ws://127.0.0.1:{port}"));
    for round in ["first start", "after restart"] {
        let (head, mut ws) = RawWs::upgrade(port, "/");
        assert!(
            head.starts_with("HTTP/1.1 101 "),
            "{round}: the upgrade is accepted: {head}"
        );
        // RFC 6455's example key and its accept value.
        assert!(
            head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "{head}"
        );
        let info = ws.read_line_until("INFO", |l| l.starts_with("INFO {"));
        assert!(info.contains(&format!("\"port\":{port}")), "{info}");
        ws.send("CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n");
        ws.read_line_until("PONG", |l| l.starts_with("PONG"));
        server.restart();
        assert_eq!(server.ws_port(), port, "restart keeps the WebSocket port");
    }
}

#[test]
fn websocket_authorization_from_the_block() {
    let server = NatsServer::builder()
        .config("max_payload: 2MB\n")
        .websocket(WebSocket::plain().user_password("wsuser", "ws pass"))
        .start();
    let connect = |password: &str| -> (String, RawWs) {
        let (head, mut ws) = RawWs::upgrade(server.ws_port(), "/");
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        let info = ws.read_line_until("INFO", |l| l.starts_with("INFO {"));
        assert!(info.contains("\"auth_required\":true"), "{info}");
        assert!(info.contains("\"max_payload\":2097152"), "{info}");
        ws.send(&format!(
            "CONNECT {{\"verbose\":false,\"protocol\":1,\"user\":\"wsuser\",\"pass\":\"{password}\"}}\r\nPING\r\n"
        ));
        let answer = ws.read_line_until("PONG or -ERR", |l| {
            l.starts_with("PONG") || l.starts_with("-ERR")
        });
        (answer, ws)
    };
    assert!(connect("ws pass").0.starts_with("PONG"));
    let (refused, mut ws) = connect("wrong");
    assert!(refused.contains("Authorization Violation"), "{refused}");
    // After the -ERR, a close frame with 1008 (policy violation).
    assert_eq!(ws.close_code(), Some(1008));
    // The block's authorization is for WebSocket clients only: plain NATS needs none.
    Raw::connect(server.port()).expect("connect").handshake();
}

#[test]
fn websocket_tls_listener() {
    let pki = common::pki();
    let server = NatsServer::builder()
        .websocket(WebSocket::tls(pki.server_cert, pki.server_key))
        .start();
    let port = server.ws_port();
    assert_eq!(server.ws_url(), format!("wss://localhost:{port}"));
    assert!(
        server.logs().contains(&format!(
            "Listening for websocket clients on wss://127.0.0.1:{port}"
        )),
        "{}",
        server.logs()
    );
}
