//! The connection events an async-nats user looks for, against a real nats-server on every
//! runtime: `Draining` when a client drain starts, and reconnects exhausted told apart from
//! other ends (`ConnectionError::MaxReconnects`, carrying the last attempt's error).

use std::time::Duration;

use futures_lite::StreamExt;
use nats_client::error::ConnectionError;
use nats_client::{ClientEvent, CloseError, ConnectOptions};
use nats_tests::NatsServer;

#[macro_use]
mod common;
use common::runtime::{wait_event, within, Rt};

const WAIT: Duration = Duration::from_secs(20);

/// A client drain is announced by `Draining`, before the `Closed` (with no reason) that
/// ends it; the subscription still yields what was published before the drain.
async fn drain_raises_draining_then_closed(rt: Rt) {
    let server = NatsServer::start();
    let client = rt.connect(&server.url()).await;
    let mut events = client.events();
    let mut sub = client.subscribe("drained").await.unwrap();
    client.flush().await.unwrap();
    client.publish("drained", "in flight").await.unwrap();
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

/// Reconnects exhausted after the server died: `Closed` says `MaxReconnects` (the last
/// attempt's error inside), `close` returns the same reason, and the publishes accepted into
/// the reconnect buffer are still counted.
async fn exhausted_reconnects_close_with_max_reconnects(rt: Rt) {
    let mut server = NatsServer::start();
    // Attempts a second apart: the publishes below are made while reconnecting.
    let options = ConnectOptions::new()
        .max_reconnects(2)
        .reconnect_delay(Duration::from_secs(1), Duration::from_secs(2));
    let client = rt.connect_exactly(&server.url(), options).await.unwrap();
    let mut events = client.events();
    server.kill9();
    wait_event(&mut events, WAIT, "the disconnect", |e| {
        matches!(e, ClientEvent::Disconnected { .. }).then_some(())
    })
    .await;
    let mut accepted = 0;
    for i in 0..10 {
        if client.publish("during", format!("{i}")).await.is_ok() {
            accepted += 1;
        }
    }
    let (reason, unsent) = wait_event(&mut events, WAIT, "reconnecting to give up", |e| match e {
        ClientEvent::Closed {
            reason,
            unsent_messages,
        } => Some((reason.clone(), *unsent_messages)),
        _ => None,
    })
    .await;
    match &reason {
        Some(ConnectionError::MaxReconnects(last)) => assert!(
            !matches!(**last, ConnectionError::MaxReconnects(_)),
            "the last attempt's error, not another layer: {last}"
        ),
        other => panic!("closed with {other:?}, not MaxReconnects"),
    }
    assert!(accepted > 0, "the buffer took publishes while reconnecting");
    assert_eq!(unsent, accepted, "every accepted publish is counted");
    assert_eq!(
        client.close().await,
        Err(CloseError::Unsent {
            messages: accepted,
            reason
        })
    );
}

/// A close the application asks for is not mistaken for reconnects exhausted: `Closed`
/// after a deliberate close while reconnecting has no reason.
async fn close_while_reconnecting_is_not_max_reconnects(rt: Rt) {
    let mut server = NatsServer::start();
    let options = ConnectOptions::new()
        .max_reconnects(50)
        .reconnect_delay(Duration::from_millis(200), Duration::from_millis(400));
    let client = rt.connect_exactly(&server.url(), options).await.unwrap();
    let mut events = client.events();
    server.kill9();
    wait_event(&mut events, WAIT, "the disconnect", |e| {
        matches!(e, ClientEvent::Disconnected { .. }).then_some(())
    })
    .await;
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
    exhausted_reconnects_close_with_max_reconnects,
    close_while_reconnecting_is_not_max_reconnects,
);
