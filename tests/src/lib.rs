//! Harness for running real `nats-server` processes in tests.
//!
//! Invariant: every process and every temporary directory this crate creates is owned by a
//! value ([`NatsServer`], [`Cluster`], [`TempDir`]) and is killed or removed when that value is
//! dropped, so a failing test leaves nothing running behind it. Nothing here sleeps for a fixed
//! time: every wait polls a condition (a log line, an accepted TCP connection, a monitoring
//! answer) until a deadline, and panics with the server's logs when the deadline passes.
//!
//! The library uses only `std`, so `xtask` depends on it to provision the server binary
//! ([`nats_server_binary`]) with exactly the logic the tests use.
//!
//! A server can also listen for WebSocket clients, plain or TLS, on a port the harness picks
//! and keeps across restarts ([`WebSocket`], [`NatsServer::ws_url`]).
//!
//! For interop tests it also installs nats-py, the Python client, the same way ([`nats_py`]),
//! and runs the scripts in `tests/python/` with it ([`NatsPy::run`]).
//!
//! ```no_run
//! use nats_tests::NatsServer;
//!
//! let server = NatsServer::builder().jetstream(true).start();
//! println!("connect to {}", server.url());
//! ```

mod cluster;
mod net;
mod provision;
mod python;
mod server;
mod tempdir;
mod websocket;

pub use cluster::{Cluster, ClusterBuilder};
pub use net::{free_port, http_get, wait_until};
pub use provision::{
    nats_server_binary, try_nats_server_binary, workspace_root, NATS_SERVER_VERSION,
};
pub use python::{nats_py, nats_py_or_skip, script, NatsPy, NATS_PY_VERSION, SCRIPT_TIMEOUT};
pub use server::{NatsServer, NatsServerBuilder, READY_TIMEOUT};
pub use tempdir::TempDir;
pub use websocket::WebSocket;
