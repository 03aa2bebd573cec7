//! One `nats-server` process on loopback, its temporary directory and its captured logs.
//!
//! Invariant: while a [`NatsServer`] exists it owns at most one live child process; `restart`
//! reuses the exact command line (same ports, same config file, same JetStream store), and
//! dropping the value kills the process, then removes its directory. "Ready" always means
//! both that the current process printed `Server is ready` and that its client port (and its
//! WebSocket port, when it has one) accepts TCP connections.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::net::{accepts, free_port, http_get, wait_until};
use crate::{nats_server_binary, TempDir, WebSocket};

/// How long a server gets to become ready (and to stop) before the harness gives up.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The line nats-server prints once it accepts clients.
const READY_LINE: &str = "Server is ready";

/// Options for starting a [`NatsServer`]; made by [`NatsServer::builder`].
#[derive(Debug, Clone, Default)]
pub struct NatsServerBuilder {
    config: Option<String>,
    jetstream: bool,
    monitoring: bool,
    port: Option<u16>,
    websocket: Option<WebSocket>,
    args: Vec<OsString>,
    files: Vec<(PathBuf, Vec<u8>)>,
}

impl NatsServerBuilder {
    /// The server configuration, in nats-server's config syntax. It is written to
    /// `server.conf` in the server's directory and passed with `-c`. Relative paths in it
    /// resolve against that directory (the server runs there), so files added with
    /// [`file`](Self::file) can be named by their relative path.
    ///
    /// The listen address and port come from the command line, which wins over the file.
    pub fn config(mut self, config: impl Into<String>) -> Self {
        self.config = Some(config.into());
        self
    }

    /// Enables JetStream (`-js`), storing under `jetstream/` in the server's directory.
    pub fn jetstream(mut self, enabled: bool) -> Self {
        self.jetstream = enabled;
        self
    }

    /// Enables the HTTP monitoring endpoint on a free loopback port; see
    /// [`NatsServer::monitor_port`] and [`NatsServer::monitor_get`].
    pub fn monitoring(mut self, enabled: bool) -> Self {
        self.monitoring = enabled;
        self
    }

    /// Uses this client port instead of a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Adds a WebSocket listener on a free loopback port that the harness picks and keeps
    /// across [`restart`](NatsServer::restart)s; see [`NatsServer::ws_port`] and
    /// [`NatsServer::ws_url`]. Its `websocket { }` block is appended to the
    /// [`config`](Self::config), which must not have one of its own.
    pub fn websocket(mut self, websocket: WebSocket) -> Self {
        self.websocket = Some(websocket);
        self
    }

    /// Appends a command-line argument (after the ones the harness passes).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends several command-line arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Writes a file (a certificate, a credentials file, an include) into the server's
    /// directory before it starts. `name` is relative to that directory.
    pub fn file(mut self, name: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Self {
        self.files.push((name.into(), contents.into()));
        self
    }

    /// Starts the server and waits until it is ready.
    ///
    /// When the harness chose the port and another process took it first, it retries on a
    /// new port.
    ///
    /// # Panics
    ///
    /// If the binary cannot be found or installed, or the server exits or is not ready
    /// within [`READY_TIMEOUT`]; the message includes the server's logs.
    pub fn start(self) -> NatsServer {
        match self.try_start() {
            Ok(server) => server,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`start`](Self::start), but returns the failure (with the server's logs) instead
    /// of panicking. Still panics when the binary cannot be provisioned or files cannot be
    /// written.
    pub fn try_start(self) -> Result<NatsServer, String> {
        let binary = nats_server_binary();
        let dir = TempDir::new("nats-server");
        let ws_files = self.websocket.iter().flat_map(WebSocket::files);
        for (name, contents) in self.files.iter().cloned().chain(ws_files) {
            let path = dir.path().join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
            }
            std::fs::write(&path, contents)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        }
        let attempts = if self.port.is_some() { 1 } else { 5 };
        let mut server = NatsServer {
            binary,
            dir,
            port: 0,
            monitor_port: None,
            ws_port: None,
            ws_tls: self.websocket.as_ref().is_some_and(WebSocket::is_tls),
            args: Vec::new(),
            child: None,
            pid: 0,
            logs: Arc::new(Mutex::new(String::new())),
            reader: None,
        };
        let mut attempt = 1;
        loop {
            server.port = self.port.unwrap_or_else(free_port);
            server.monitor_port = self.monitoring.then(free_port);
            server.ws_port = self.websocket.is_some().then(free_port);
            self.write_config(&server);
            server.args = self.command_line(&server);
            match server.spawn_and_wait() {
                Ok(()) => return Ok(server),
                Err(e) if attempt < attempts && is_port_taken(&e) => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes `server.conf` when there is a configuration or a WebSocket listener (whose port
    /// changes with each attempt).
    fn write_config(&self, server: &NatsServer) {
        let mut config = self.config.clone().unwrap_or_default();
        if let (Some(websocket), Some(port)) = (&self.websocket, server.ws_port) {
            config.push('\n');
            config.push_str(&websocket.block(port));
        }
        if self.config.is_some() || self.websocket.is_some() {
            let path = server.dir.path().join("server.conf");
            std::fs::write(&path, config)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        }
    }

    fn command_line(&self, server: &NatsServer) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        if self.config.is_some() || self.websocket.is_some() {
            args.push("-c".into());
            args.push(server.dir.path().join("server.conf").into());
        }
        args.extend(["-a".into(), "127.0.0.1".into()]);
        args.extend(["-p".into(), server.port.to_string().into()]);
        if let Some(monitor_port) = server.monitor_port {
            args.extend(["-m".into(), monitor_port.to_string().into()]);
        }
        if self.jetstream {
            args.push("-js".into());
            args.push("--store_dir".into());
            args.push(server.dir.path().join("jetstream").into());
        }
        args.extend(self.args.iter().cloned());
        args
    }
}

/// A running `nats-server` on 127.0.0.1, killed and cleaned up on drop.
///
/// ```no_run
/// let mut server = nats_tests::NatsServer::start();
/// let url = server.url(); // nats://127.0.0.1:<port>
/// server.restart(); // same port, same store
/// assert_eq!(url, server.url());
/// ```
#[derive(Debug)]
pub struct NatsServer {
    binary: PathBuf,
    dir: TempDir,
    port: u16,
    monitor_port: Option<u16>,
    ws_port: Option<u16>,
    ws_tls: bool,
    args: Vec<OsString>,
    child: Option<Child>,
    pid: u32,
    logs: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl NatsServer {
    /// Starts a server with the defaults (no config, no JetStream) on a free port.
    ///
    /// # Panics
    ///
    /// As [`NatsServerBuilder::start`].
    pub fn start() -> NatsServer {
        NatsServer::builder().start()
    }

    /// A builder for a server with a config, JetStream, monitoring or extra arguments.
    pub fn builder() -> NatsServerBuilder {
        NatsServerBuilder::default()
    }

    /// The client port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client URL with user info, `nats://<userinfo>@127.0.0.1:<port>`; `userinfo` is
    /// `user:password` or a token, inserted as given.
    pub fn client_url_with(&self, userinfo: &str) -> String {
        format!("nats://{userinfo}@127.0.0.1:{}", self.port)
    }

    /// The WebSocket port on 127.0.0.1, the same across restarts.
    ///
    /// # Panics
    ///
    /// If the server has no WebSocket listener ([`NatsServerBuilder::websocket`]).
    pub fn ws_port(&self) -> u16 {
        self.ws_port
            .expect("no WebSocket listener: start the server with .websocket(…)")
    }

    /// The WebSocket URL: `ws://127.0.0.1:<port>`, or `wss://localhost:<port>` for a TLS
    /// listener (`localhost`, so that the certificate's name is checked).
    ///
    /// # Panics
    ///
    /// If the server has no WebSocket listener ([`NatsServerBuilder::websocket`]).
    pub fn ws_url(&self) -> String {
        let port = self.ws_port();
        if self.ws_tls {
            format!("wss://localhost:{port}")
        } else {
            format!("ws://127.0.0.1:{port}")
        }
    }

    /// The monitoring port, when started with [`NatsServerBuilder::monitoring`].
    pub fn monitor_port(&self) -> Option<u16> {
        self.monitor_port
    }

    /// GETs a monitoring path such as `/varz` or `/connz` and returns the JSON body.
    ///
    /// # Panics
    ///
    /// If monitoring is off.
    pub fn monitor_get(&self, path: &str) -> std::io::Result<String> {
        let port = self
            .monitor_port
            .expect("monitoring is off: start the server with .monitoring(true)");
        http_get(port, path)
    }

    /// The server's own directory (config, files, JetStream store); removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id of the current (or, once it is gone, the last) server process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the server process is still alive.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Everything the server has logged so far, across restarts.
    pub fn logs(&self) -> String {
        self.logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until the logs contain `needle`; returns whether they did within `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.logs().contains(needle))
    }

    /// Stops the server gracefully (SIGTERM) and waits for it to exit; after
    /// [`READY_TIMEOUT`] it is killed. Does nothing when it is not running.
    pub fn stop(&mut self) {
        if self.is_running() {
            self.signal("term");
            if self.wait_for_exit(READY_TIMEOUT).is_none() {
                eprintln!("nats-server {} ignored SIGTERM; killing it", self.pid);
            }
        }
        self.reap();
    }

    /// Kills the server at once (SIGKILL), as a crash would, and waits for it to be gone.
    pub fn kill9(&mut self) {
        self.reap();
    }

    /// Puts the server in lame-duck mode (SIGUSR2): it stops accepting clients, tells the
    /// connected ones with an `INFO` carrying `"ldm":true`, and later closes them and exits.
    /// Returns at once.
    pub fn lame_duck(&mut self) {
        assert!(self.is_running(), "lame_duck: the server is not running");
        self.signal("ldm");
    }

    /// Waits up to `timeout` for the process to exit by itself; returns its status if it did.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let mut status = None;
        wait_until(timeout, || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        });
        status
    }

    /// Stops the server if it runs, then starts it again with the same command line (same
    /// port, config and JetStream store) and waits until it is ready.
    ///
    /// # Panics
    ///
    /// If it does not become ready within [`READY_TIMEOUT`].
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn_and_wait() {
            panic!("{e}");
        }
    }

    /// Sends a signal with `nats-server --signal <name>=<pid>` (no `kill` binary needed).
    fn signal(&self, name: &str) {
        let status = Command::new(&self.binary)
            .arg("--signal")
            .arg(format!("{name}={}", self.pid))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => {}
            other => panic!(
                "sending {name} to nats-server {} failed: {other:?}",
                self.pid
            ),
        }
    }

    /// Kills the process if it still runs, waits for it, and collects the rest of its logs.
    fn reap(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let start_of_logs = self.logs().len();
        let mut child = Command::new(&self.binary)
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot spawn {}: {e}", self.binary.display()))?;
        self.pid = child.id();
        let stderr = child.stderr.take().expect("stderr is piped");
        self.reader = Some(spawn_log_reader(stderr, Arc::clone(&self.logs)));
        self.child = Some(child);

        let mut printed_ready = false;
        let mut exited = None;
        let ready = wait_until(READY_TIMEOUT, || {
            printed_ready = printed_ready || self.logs()[start_of_logs..].contains(READY_LINE);
            if let Some(child) = &mut self.child {
                exited = child.try_wait().ok().flatten();
            }
            let ws_accepts = self.ws_port.is_none_or(accepts);
            (printed_ready && accepts(self.port) && ws_accepts) || exited.is_some()
        });
        let why = match exited {
            None if ready => return Ok(()),
            None => format!("was not ready within {READY_TIMEOUT:?}"),
            Some(status) => format!("exited before it was ready ({status})"),
        };
        self.reap();
        Err(format!(
            "nats-server {} ({} {}) {why}; its logs:\n{}",
            self.pid,
            self.binary.display(),
            self.args
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            &self.logs()[start_of_logs..]
        ))
    }
}

/// Whether a start failure was a port that another process took first.
pub(crate) fn is_port_taken(error: &str) -> bool {
    error.contains("address already in use")
}

fn spawn_log_reader(stderr: ChildStderr, logs: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => logs
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_str(&String::from_utf8_lossy(&line)),
            }
        }
    })
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.reap();
        if std::thread::panicking() {
            eprintln!(
                "---- nats-server {} (port {}) logs ----\n{}",
                self.pid,
                self.port,
                self.logs()
            );
        }
    }
}
