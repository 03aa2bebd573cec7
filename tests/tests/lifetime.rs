//! How long a connection lives, seen from the server: as long as any `Client` clone or any
//! `Subscriber` of it does, so "spawn a subscriber task, drop the client" keeps receiving.

use std::time::Duration;

use futures_lite::StreamExt;
use nats_tests::NatsServer;

#[macro_use]
mod common;
use common::runtime::{within, Rt};

const WAIT: Duration = Duration::from_secs(10);

/// The number of client connections the server reports.
fn server_connections(server: &NatsServer) -> u64 {
    let connz = server.monitor_get("/connz").expect("monitoring answers");
    let json: serde_json::Value = serde_json::from_str(&connz).expect("connz is JSON");
    json["num_connections"].as_u64().expect("num_connections")
}

/// Waits until the server counts `n` connections.
async fn until_connections(server: &NatsServer, n: u64) {
    within(WAIT, &format!("{n} connections at the server"), async {
        while server_connections(server) != n {
            async_io::Timer::after(Duration::from_millis(20)).await;
        }
    })
    .await;
}

async fn a_subscriber_outlives_its_client(rt: Rt) {
    let server = NatsServer::builder().monitoring(true).start();
    let client = rt.connect(&server.url()).await;
    let publisher = rt.connect(&server.url()).await;
    let mut sub = client.subscribe("still.here").await.unwrap();
    client.flush().await.unwrap();
    drop(client);

    publisher
        .publish("still.here", ("after the drop").into())
        .await
        .unwrap();
    let message = within(WAIT, "a message after the client was dropped", sub.next())
        .await
        .expect("the subscription is still open");
    assert_eq!(&message.payload[..], b"after the drop");
    assert_eq!(
        server_connections(&server),
        2,
        "both connections still open"
    );

    // The last handle gone, the connection closes.
    drop(sub);
    until_connections(&server, 1).await;
}

on_every_runtime!(a_subscriber_outlives_its_client);
