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

/// The id of the server the client is connected to, once it is connected.
fn connected_to(client: &nats_client::Client) -> String {
    client.server_info().expect("connected").server_id
}

/// `set_server_pool` moves later connects to new servers without dropping the one in use;
/// `server_pool()` reports each server; an empty pool is refused and changes nothing.
async fn the_server_pool_is_replaced_at_runtime(rt: Rt) {
    let old = NatsServer::start();
    let new = NatsServer::start();
    let client = rt.connect(&old.url()).await;
    let old_id = connected_to(&client);
    let mut events = client.events();

    assert!(client.set_server_pool(Vec::<String>::new()).await.is_err());
    assert_eq!(
        client.server_pool().len(),
        1,
        "a refused pool changes nothing"
    );

    client.set_server_pool(new.url()).await.unwrap();
    client.flush().await.unwrap();
    assert_eq!(connected_to(&client), old_id, "the connection in use stays");
    let pool = client.server_pool();
    assert_eq!(pool.len(), 1);
    assert_eq!(pool[0].addr.port(), new.port());
    assert!(!pool[0].did_connect && pool[0].failed_attempts == 0);

    client.force_reconnect().await;
    reconnected(&mut events, WAIT).await;
    client.flush().await.unwrap();
    assert_ne!(connected_to(&client), old_id, "reconnected to the new pool");
    assert!(client.server_pool()[0].did_connect);
}

/// `reconnect_to_server_callback` picks the server of every attempt: the second of two,
/// though the order is kept and the first is up, and again after a forced reconnect.
async fn the_reconnect_to_server_callback_picks_each_server(rt: Rt) {
    let first = NatsServer::start();
    let second = NatsServer::start();
    let wanted = second.port();
    let asked = Arc::new(Mutex::new(0u32));
    let count = Arc::clone(&asked);
    let options = ConnectOptions::new()
        .retain_servers_order()
        .reconnect_to_server_callback(move |pool, _info| {
            *count.lock().unwrap() += 1;
            let chosen = pool.iter().find(|s| s.addr.port() == wanted)?;
            Some((chosen.addr.clone(), Duration::from_millis(10)))
        });
    let client = rt
        .connect_with(&format!("{},{}", first.url(), second.url()), options)
        .await
        .unwrap();
    let second_id = connected_to(&client);
    assert_eq!(client.server_pool()[1].addr.port(), wanted);
    assert!(client.server_pool()[1].did_connect && !client.server_pool()[0].did_connect);
    let mut events = client.events();
    client.force_reconnect().await;
    reconnected(&mut events, WAIT).await;
    client.flush().await.unwrap();
    assert_eq!(connected_to(&client), second_id, "chosen again");
    assert!(*asked.lock().unwrap() >= 2, "asked on every attempt");
    assert!(
        !client.server_pool()[0].did_connect,
        "the first was never tried"
    );
}

on_every_runtime!(
    force_reconnect_replaces_a_healthy_connection,
    the_reconnect_delay_callback_decides_each_wait,
    the_server_pool_is_replaced_at_runtime,
    the_reconnect_to_server_callback_picks_each_server,
);
