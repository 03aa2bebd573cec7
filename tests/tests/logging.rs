//! The client logs its connection events through `tracing` (feature `tracing`, on by default):
//! against a real nats-server that is restarted, a reconnect shows as a `warn` (the
//! disconnect) and then an `info` naming the server, on every runtime and on the blocking
//! driver.
//!
//! The subscriber is a collector written here (no `tracing-subscriber`), installed once as
//! the process-wide default: smol and async-std run the driver on their own threads, which a
//! thread-local default would not reach. The tests share it, so they run one at a time.

use std::fmt;
use std::sync::{Mutex, MutexGuard, Once};
use std::time::Duration;

use nats_client::nats_sansio::connection::{Event, Options};
use nats_client::{BlockingConnection, ClientEvent};
use nats_tests::NatsServer;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Level, Metadata, Subscriber};

mod common;
use common::runtime::{reconnected, Rt};

const WAIT: Duration = Duration::from_secs(20);

/// One event logged by the client: its level and its fields (`message` included), each
/// printed with `Debug` (which is `Display` for `%` fields).
#[derive(Debug, Clone)]
struct Logged {
    level: Level,
    fields: Vec<(&'static str, String)>,
}

impl Logged {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn message(&self) -> &str {
        self.field("message").unwrap_or_default()
    }
}

/// What the collector kept, from `nats_client` only.
static LOGGED: Mutex<Vec<Logged>> = Mutex::new(Vec::new());

/// A `tracing` subscriber that keeps every event of the `nats_client` crate in [`LOGGED`]
/// and ignores spans.
struct Collector;

struct Fields(Vec<(&'static str, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push((field.name(), format!("{value:?}")));
    }
}

impl Subscriber for Collector {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("nats_client")
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        lock(&LOGGED).push(Logged {
            level: *event.metadata().level(),
            fields: fields.0,
        });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Installs the collector (once), takes the one-test-at-a-time lock and forgets what earlier
/// tests logged.
fn exclusive() -> MutexGuard<'static, ()> {
    static INSTALL: Once = Once::new();
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(Collector).expect("no other global subscriber");
    });
    let guard = lock(&ONE_AT_A_TIME);
    lock(&LOGGED).clear();
    guard
}

/// Checks what was logged around a restart of the server on `port`: `connected` (info, with
/// the server), then a `disconnected` warn with its reason and unsent count, then
/// `reconnected` (info, with the server).
fn assert_reconnect_logged(port: u16) {
    let logged = lock(&LOGGED).clone();
    let at = format!("127.0.0.1:{port}");
    let find = |from: usize, level: Level, message: &str| {
        logged[from..]
            .iter()
            .position(|l| l.level == level && l.message() == message)
            .map(|i| from + i)
            .unwrap_or_else(|| panic!("no {level} {message:?} after #{from} in {logged:#?}"))
    };
    let connected = find(0, Level::INFO, "connected");
    let disconnected = find(connected, Level::WARN, "disconnected");
    let reconnected = find(disconnected, Level::INFO, "reconnected");
    for i in [connected, reconnected] {
        let server = logged[i].field("server").unwrap_or_default();
        assert!(server.contains(&at), "{server:?} names {at}");
    }
    let warn = &logged[disconnected];
    assert!(warn.field("reason").is_some(), "{warn:?} says why");
    assert!(warn.field("unsent_messages").is_some(), "{warn:?} counts");
}

async fn restart_is_logged(rt: Rt) {
    let mut server = NatsServer::start();
    let client = rt
        .connect_with(&server.url(), nats_client::ConnectOptions::new())
        .await
        .expect("connects");
    let mut events = client.events();
    server.restart();
    reconnected(&mut events, WAIT).await;
    assert_reconnect_logged(server.port());
}

#[test]
fn tokio_restart_is_logged() {
    let _one = exclusive();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(restart_is_logged(Rt::Tokio));
}

#[test]
fn smol_restart_is_logged() {
    let _one = exclusive();
    smol::block_on(restart_is_logged(Rt::Smol));
}

#[test]
fn async_std_restart_is_logged() {
    let _one = exclusive();
    async_std::task::block_on(restart_is_logged(Rt::AsyncStd));
}

#[test]
fn blocking_restart_is_logged() {
    let _one = exclusive();
    let mut server = NatsServer::start();
    let mut o = Options::new(&server.url()).expect("valid url");
    o.reconnect_delay = Duration::from_millis(20);
    o.max_reconnect_delay = Duration::from_millis(250);
    let mut conn = BlockingConnection::connect(o).expect("connects");
    server.restart();
    conn.wait_event(WAIT, |e| {
        matches!(e, Event::Connection(ClientEvent::Reconnected { .. })).then_some(())
    })
    .expect("reconnects");
    assert_reconnect_logged(server.port());
}

/// A drain starting is logged at `debug`, and the clean close after it at `info`.
#[test]
fn drain_is_logged() {
    let _one = exclusive();
    let server = NatsServer::start();
    smol::block_on(async {
        let client = Rt::Smol.connect(&server.url()).await;
        client.drain().await.expect("a clean drain");
    });
    let logged = lock(&LOGGED).clone();
    let draining = logged
        .iter()
        .position(|l| l.level == Level::DEBUG && l.message() == "draining")
        .unwrap_or_else(|| panic!("no draining in {logged:#?}"));
    assert!(
        logged[draining..]
            .iter()
            .any(|l| l.level == Level::INFO && l.message() == "closed"),
        "{logged:#?}"
    );
}
