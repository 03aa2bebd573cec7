//! Connection options async-nats users set, against a real nats-server on tokio, smol and
//! async-std: the local address a client connects from, the read buffer's capacity, and
//! publishing without full subject validation.
//!
//! Each scenario checks what the user notices: the address the server sees, a large
//! message arriving whole through a small buffer, the server relaying what validation would
//! have refused.

use std::net::SocketAddr;
use std::time::Duration;

use futures_lite::StreamExt;
use nats_client::ConnectOptions;
use nats_tests::NatsServer;

#[macro_use]
mod common;
use common::runtime::{within, Rt};

const WAIT: Duration = Duration::from_secs(15);

/// The client's source address as the server's `/connz` reports it, for the connection
/// named `name`.
fn server_seen_ip(server: &NatsServer, name: &str) -> Option<String> {
    let connz = server.monitor_get("/connz").ok()?;
    let connz: serde_json::Value = serde_json::from_str(&connz).ok()?;
    connz["connections"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["ip"].as_str())
        .map(str::to_owned)
}

/// `local_address` binds the source: the server sees the client come from 127.0.0.2 (a
/// loopback address other than the one it listens on). A local address of the other family
/// fails the connect instead of connecting from elsewhere.
async fn local_address_is_the_source(rt: Rt) {
    let server = NatsServer::builder().monitoring(true).start();
    let local: SocketAddr = "127.0.0.2:0".parse().unwrap();
    let options = ConnectOptions::new().name("bound").local_address(local);
    let client = rt.connect_with(&server.url(), options).await.unwrap();
    client.flush().await.unwrap();
    assert_eq!(
        server_seen_ip(&server, "bound").as_deref(),
        Some("127.0.0.2")
    );
    // The default: from wherever the system routes, here 127.0.0.1.
    let other = rt
        .connect_with(&server.url(), ConnectOptions::new().name("unbound"))
        .await
        .unwrap();
    other.flush().await.unwrap();
    assert_eq!(
        server_seen_ip(&server, "unbound").as_deref(),
        Some("127.0.0.1")
    );

    let v6: SocketAddr = "[::1]:0".parse().unwrap();
    let refused = rt
        .connect_exactly(&server.url(), ConnectOptions::new().local_address(v6))
        .await
        .expect_err("an IPv6 source cannot reach an IPv4-only server");
    assert!(
        refused.to_string().contains("family"),
        "the error says why: {refused}"
    );
}

/// With the smallest read buffer a megabyte message still arrives whole, and the next one
/// after it.
async fn a_small_read_buffer_still_reads_large_messages(rt: Rt) {
    let server = NatsServer::start();
    let reader = rt
        .connect_with(
            &server.url(),
            ConnectOptions::new().read_buffer_capacity(1024),
        )
        .await
        .unwrap();
    let mut sub = reader.subscribe("big").await.unwrap();
    reader.flush().await.unwrap();
    let writer = rt.connect(&server.url()).await;
    let big: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    writer.publish("big", big.clone().into()).await.unwrap();
    writer.publish("big", "after".into()).await.unwrap();
    let first = within(WAIT, "the large message", sub.next()).await.unwrap();
    assert!(first.payload == big, "the large message arrives intact");
    let second = within(WAIT, "the next message", sub.next()).await.unwrap();
    assert_eq!(&second.payload[..], b"after");
}

/// `skip_subject_validation`: a subject the client would refuse (an empty token) goes to
/// the server, which relays it to a matching subscriber; what would break the protocol line
/// is still refused.
async fn skipped_subject_validation_lets_the_server_decide(rt: Rt) {
    let server = NatsServer::start();
    let reader = rt.connect(&server.url()).await;
    let mut sub = reader.subscribe(">").await.unwrap();
    reader.flush().await.unwrap();
    let checked = rt.connect(&server.url()).await;
    assert!(
        checked.publish("a..b", "x".into()).await.is_err(),
        "checked by default"
    );
    let unchecked = rt
        .connect_with(
            &server.url(),
            ConnectOptions::new().skip_subject_validation(true),
        )
        .await
        .unwrap();
    assert!(unchecked.publish("has space", "x".into()).await.is_err());
    unchecked.publish("loose.*", "wild".into()).await.unwrap();
    unchecked.flush().await.unwrap();
    let relayed = within(WAIT, "the relayed message", sub.next())
        .await
        .unwrap();
    assert_eq!(relayed.subject.as_str(), "loose.*");
    assert_eq!(&relayed.payload[..], b"wild");
}

on_every_runtime!(
    local_address_is_the_source,
    a_small_read_buffer_still_reads_large_messages,
    skipped_subject_validation_lets_the_server_decide,
);
