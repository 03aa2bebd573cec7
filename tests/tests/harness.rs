//! Self-tests of the harness: each starts real nats-server processes and talks to them over
//! raw sockets, so a broken harness fails here rather than inside a client test.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use nats_tests::{nats_server_binary, wait_until, Cluster, NatsServer, TempDir};

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
