//! The connection events an async-nats user looks for, against a real nats-server on every
//! runtime: `Draining` when a client drain starts, and reconnects exhausted told apart from
//! other ends (`ConnectionError::MaxReconnects`, carrying the last attempt's error).

use std::time::Duration;

use futures_lite::StreamExt;
use nats_client::{ClientEvent, ConnectOptions};
use nats_tests::NatsServer;

#[macro_use]
mod common;
use common::runtime::{server_lost, wait_event, within, Rt};

const WAIT: Duration = Duration::from_secs(20);

/// A client drain is announced by `Draining`, before the `Closed` (with no reason) that
/// ends it; the subscription still yields what was published before the drain.
async fn drain_raises_draining_then_closed(rt: Rt) {
    let server = NatsServer::start();
    let client = rt.connect(&server.url()).await;
    let mut events = client.events();
    let mut sub = client.subscribe("drained").await.unwrap();
    client.flush().await.unwrap();
    client
        .publish("drained", ("in flight").into())
        .await
        .unwrap();
    assert_eq!(within(WAIT, "drain", client.drain()).await, Ok(()));
    let seen: Vec<ClientEvent> = within(WAIT, "the event stream to end", async {
        let mut seen = Vec::new();
        while let Some(event) = events.next().await {
            seen.push(event);
        }
        seen
    })
    .await;
    let draining = seen
        .iter()
        .position(|e| matches!(e, ClientEvent::Draining))
        .unwrap_or_else(|| panic!("no Draining in {seen:?}"));
    let closed = seen
        .iter()
        .position(|e| {
            matches!(
                e,
                ClientEvent::Closed {
                    reason: None,
                    unsent_messages: 0
                }
            )
        })
        .unwrap_or_else(|| panic!("no clean Closed in {seen:?}"));
    assert!(draining < closed, "Draining before Closed: {seen:?}");
    assert_eq!(
        seen.iter()
            .filter(|e| matches!(e, ClientEvent::Draining))
            .count(),
        1,
        "one drain, one Draining: {seen:?}"
    );
    let got = within(WAIT, "the message published before the drain", sub.next()).await;
    assert_eq!(got.map(|m| m.payload), Some("in flight".into()));
}

/// A close the application asks for is not mistaken for reconnects exhausted: `Closed`
/// after a deliberate close while reconnecting has no reason.
async fn close_while_reconnecting_is_not_max_reconnects(rt: Rt) {
    let options = ConnectOptions::new()
        .max_reconnects(50)
        .reconnect_delay(Duration::from_millis(200), Duration::from_millis(400));
    let (_server, client, mut events) = server_lost(rt, options, WAIT).await;
    assert_eq!(within(WAIT, "close", client.close()).await, Ok(()));
    let reason = wait_event(&mut events, WAIT, "the Closed event", |e| match e {
        ClientEvent::Closed { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, None);
}

on_every_runtime!(
    drain_raises_draining_then_closed,
    close_while_reconnecting_is_not_max_reconnects,
);
