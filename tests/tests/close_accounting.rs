//! Nothing accepted is lost in silence: publishes the client took and then could never send
//! (a close while the server is gone, reconnects exhausted) are counted in the result of
//! `close` and in the `Closed` event, against a real nats-server killed with -9.

use std::time::Duration;

use futures_lite::StreamExt;
use nats_client::error::ConnectionError;
use nats_client::{ClientEvent, CloseError, ConnectOptions};
use nats_tests::NatsServer;

#[macro_use]
mod common;
use common::runtime::{kill_under, server_and_two_clients, server_lost, wait_event, within, Rt};

const WAIT: Duration = Duration::from_secs(20);
/// Publishes made while the server is gone.
const BUFFERED: u64 = 40;

async fn close_after_the_server_died_reports_the_buffer(rt: Rt) {
    let mut server = NatsServer::start();
    let client = rt.connect(&server.url()).await;
    let mut events = client.events();
    client.publish("before", "sent".into()).await.unwrap();
    client.flush().await.unwrap();
    kill_under(&mut server, &mut events, WAIT).await;
    for i in 0..BUFFERED {
        client
            .publish("during", format!("{i}").into())
            .await
            .unwrap();
    }
    let outcome = within(WAIT, "close", client.close()).await;
    assert_eq!(
        outcome,
        Err(CloseError::Unsent {
            messages: BUFFERED,
            reason: None
        }),
        "close reports the buffered publishes it discards"
    );
    let unsent = wait_event(&mut events, WAIT, "the Closed event", |e| match e {
        ClientEvent::Closed {
            unsent_messages, ..
        } => Some(*unsent_messages),
        _ => None,
    })
    .await;
    assert_eq!(unsent, BUFFERED);
}

/// Reconnects exhausted after the server died: `Closed` says `MaxReconnects`, `close`
/// returns the same reason, and the publishes accepted into the reconnect buffer are counted.
async fn exhausted_reconnects_report_the_buffer(rt: Rt) {
    // Two attempts a second apart: the publishes below have time to be accepted into the
    // reconnect buffer before reconnecting gives up, however busy the machine.
    let options = ConnectOptions::new()
        .max_reconnects(2)
        .reconnect_delay(Duration::from_secs(1), Duration::from_secs(2));
    let (_server, client, mut events) = server_lost(rt, options, WAIT).await;
    // Some of these may be refused once reconnecting has given up; every accepted one is
    // accounted for.
    let mut accepted = 0;
    for i in 0..BUFFERED {
        if client
            .publish("during", format!("{i}").into())
            .await
            .is_ok()
        {
            accepted += 1;
        }
    }
    let (reason, unsent) = wait_event(
        &mut events,
        WAIT,
        "the connection to give up",
        |e| match e {
            ClientEvent::Closed {
                reason,
                unsent_messages,
            } => Some((reason.clone(), *unsent_messages)),
            _ => None,
        },
    )
    .await;
    // Reconnects exhausted is its own reason, with the last attempt's error inside.
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

async fn close_while_connected_writes_everything_first(rt: Rt) {
    let (_server, client, receiver) = server_and_two_clients(rt).await;
    let mut sub = receiver.subscribe("last").await.unwrap();
    receiver.flush().await.unwrap();
    let payload = vec![7u8; 1024];
    for _ in 0..500 {
        client
            .publish("last", payload.clone().into())
            .await
            .unwrap();
    }
    assert_eq!(within(WAIT, "close", client.close()).await, Ok(()));
    within(WAIT, "every publish made before the close", async {
        for _ in 0..500 {
            sub.next().await.expect("subscription open");
        }
    })
    .await;
}

on_every_runtime!(
    close_after_the_server_died_reports_the_buffer,
    exhausted_reconnects_report_the_buffer,
    close_while_connected_writes_everything_first,
);
