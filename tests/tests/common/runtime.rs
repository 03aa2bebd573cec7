//! Running one async scenario on tokio, smol and async-std, and bounded waits that work on
//! all of them (async-io timers): for a future, for a connection event.

use std::future::Future;
use std::time::Duration;

use futures_lite::StreamExt;
use nats_client::{Client, ClientEvent, ConnectError, ConnectOptions, Events};
use nats_tests::NatsServer;

/// Which runtime a scenario runs on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rt {
    Tokio,
    Smol,
    AsyncStd,
}

impl Rt {
    /// Connects with `options`, and a reconnect back-off short enough for tests that restart
    /// servers.
    pub(crate) async fn connect_with(
        self,
        url: &str,
        options: ConnectOptions,
    ) -> Result<Client, ConnectError> {
        let options =
            options.reconnect_delay(Duration::from_millis(20), Duration::from_millis(250));
        self.connect_exactly(url, options).await
    }

    /// Connects with `options` as they are.
    pub(crate) async fn connect_exactly(
        self,
        url: &str,
        options: ConnectOptions,
    ) -> Result<Client, ConnectError> {
        match self {
            Rt::Tokio => nats_client::tokio::connect_with_options(url, options).await,
            Rt::Smol => nats_client::smol::connect_with_options(url, options).await,
            Rt::AsyncStd => nats_client::async_std::connect_with_options(url, options).await,
        }
    }

    /// Runs `task` on the runtime's executor (on a multi-thread runtime, beside the caller);
    /// the future returned ends with it.
    pub(crate) fn spawn(
        self,
        task: impl Future<Output = ()> + Send + 'static,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        match self {
            Rt::Tokio => {
                let handle = tokio::spawn(task);
                Box::pin(async move { handle.await.expect("the task ran to its end") })
            }
            Rt::Smol => Box::pin(smol::spawn(task)),
            Rt::AsyncStd => Box::pin(async_std::task::spawn(task)),
        }
    }

    /// Connects exactly as a user who sets nothing does: the runtime module's `connect`.
    pub(crate) async fn connect(self, url: &str) -> Client {
        let client = match self {
            Rt::Tokio => nats_client::tokio::connect(url).await,
            Rt::Smol => nats_client::smol::connect(url).await,
            Rt::AsyncStd => nats_client::async_std::connect(url).await,
        };
        client.expect("connects")
    }
}

/// `future`'s output, or a panic naming `what` after `timeout`.
pub(crate) async fn within<T>(timeout: Duration, what: &str, future: impl Future<Output = T>) -> T {
    let deadline = async {
        async_io::Timer::after(timeout).await;
        panic!("timed out after {timeout:?} waiting for {what}");
    };
    futures_lite::future::or(future, deadline).await
}

/// The first event `pick` accepts, within `timeout`; a panic naming `what` if the wait runs
/// out or the event stream ends first.
pub(crate) async fn wait_event<T>(
    events: &mut Events,
    timeout: Duration,
    what: &str,
    mut pick: impl FnMut(&ClientEvent) -> Option<T>,
) -> T {
    within(timeout, what, async {
        while let Some(event) = events.next().await {
            if let Some(value) = pick(&event) {
                return value;
            }
        }
        panic!("event stream ended while waiting for {what}");
    })
    .await
}

/// Waits (at most `timeout`) for the client to report that it reconnected.
pub(crate) async fn reconnected(events: &mut Events, timeout: Duration) {
    wait_event(events, timeout, "the reconnect", |event| {
        matches!(event, ClientEvent::Reconnected { .. }).then_some(())
    })
    .await
}

/// Kills `server` with -9 under `client` and waits, within `timeout`, until `events` (the
/// client's) report the disconnect.
pub(crate) async fn kill_under(server: &mut NatsServer, events: &mut Events, timeout: Duration) {
    server.kill9();
    wait_event(events, timeout, "the disconnect", |e| {
        matches!(e, ClientEvent::Disconnected { .. }).then_some(())
    })
    .await;
}

/// A server, a client of it connected with `options` as they are, and the client's events,
/// once the server was killed with -9 under the client and the client saw the disconnect.
pub(crate) async fn server_lost(
    rt: Rt,
    options: ConnectOptions,
    timeout: Duration,
) -> (NatsServer, Client, Events) {
    let mut server = NatsServer::start();
    let client = rt.connect_exactly(&server.url(), options).await.unwrap();
    let mut events = client.events();
    kill_under(&mut server, &mut events, timeout).await;
    (server, client, events)
}

/// A server and two clients of it with default options (as users build them).
pub(crate) async fn server_and_two_clients(rt: Rt) -> (NatsServer, Client, Client) {
    let server = NatsServer::start();
    let first = rt.connect(&server.url()).await;
    let second = rt.connect(&server.url()).await;
    (server, first, second)
}
