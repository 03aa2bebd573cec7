//! The application steering reconnects, as async-nats allows: forcing one, and deciding the
//! wait before each attempt.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::StreamExt;
use nats_client::error::ConnectionError;
use nats_client::{ClientEvent, ConnectOptions};
use nats_tests::NatsServer;

#[macro_use]
mod common;
use common::runtime::{reconnected, wait_event, within, Rt};

const WAIT: Duration = Duration::from_secs(15);

async fn force_reconnect_replaces_a_healthy_connection(rt: Rt) {
    let server = NatsServer::start();
    let client = rt.connect(&server.url()).await;
    let publisher = rt.connect(&server.url()).await;
    let mut events = client.events();
    let mut sub = client.subscribe("steered").await.unwrap();
    client.flush().await.unwrap();

    client.force_reconnect().await;
    wait_event(&mut events, WAIT, "the forced disconnect", |e| match e {
        ClientEvent::Disconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await
    .eq(&ConnectionError::ForcedReconnect)
    .then_some(())
    .expect("the disconnect says it was forced");
    reconnected(&mut events, WAIT).await;
    client.flush().await.unwrap();

    // The subscription was restored on the new connection.
    publisher.publish("steered", "after".into()).await.unwrap();
    let message = within(WAIT, "a message after the reconnect", sub.next())
        .await
        .expect("subscription open");
    assert_eq!(&message.payload[..], b"after");
    assert_eq!(client.statistics().reconnects, 1);
}

async fn the_reconnect_delay_callback_decides_each_wait(rt: Rt) {
    let mut server = NatsServer::start();
    let asked: Arc<Mutex<Vec<u32>>> = Arc::default();
    let record = Arc::clone(&asked);
    let options = ConnectOptions::new().reconnect_delay_callback(move |attempt| {
        record.lock().unwrap().push(attempt);
        Duration::from_millis(50)
    });
    let client = rt.connect_exactly(&server.url(), options).await.unwrap();
    let mut events = client.events();
    server.stop();
    wait_event(&mut events, WAIT, "the disconnect", |e| {
        matches!(e, ClientEvent::Disconnected { .. }).then_some(())
    })
    .await;
    // The first connect asked once (attempt 0). Let it fail a few attempts against the
    // stopped server, then bring it back.
    within(WAIT, "three attempts after the disconnect", async {
        while asked.lock().unwrap().len() < 4 {
            async_io::Timer::after(Duration::from_millis(20)).await;
        }
    })
    .await;
    server.restart();
    reconnected(&mut events, WAIT).await;
    let asked = asked.lock().unwrap().clone();
    assert_eq!(
        asked[..4],
        [0, 0, 1, 2],
        "asked for each attempt, counted since the last connect: {asked:?}"
    );
}

on_every_runtime!(
    force_reconnect_replaces_a_healthy_connection,
    the_reconnect_delay_callback_decides_each_wait,
);
