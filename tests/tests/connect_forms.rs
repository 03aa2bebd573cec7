//! The argument forms async-nats users write: `connect` takes a URL (`&str` or `String`),
//! several comma-separated, or a slice, array or `Vec` of URLs; subjects and queue groups
//! are a `&str`, a `String` or a received `Subject`.

use std::net::TcpListener;

use futures_lite::StreamExt;
use nats_client::{Client, ToServerAddrs};
use nats_tests::NatsServer;

#[macro_use]
mod common;
use common::runtime::{within, Rt};

const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connects with default options on `rt`'s runtime module.
async fn connect(rt: Rt, servers: impl ToServerAddrs) -> Client {
    let client = match rt {
        Rt::Tokio => nats_client::tokio::connect(servers).await,
        Rt::Smol => nats_client::smol::connect(servers).await,
        Rt::AsyncStd => nats_client::async_std::connect(servers).await,
    };
    client.expect("connects")
}

/// A URL nothing listens on: a port taken and released.
fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("nats://127.0.0.1:{port}")
}

/// Works: a round trip through the server.
async fn round_trip(client: &Client) {
    let mut sub = client.subscribe("forms").await.unwrap();
    client.publish("forms", "ok".into()).await.unwrap();
    let message = within(WAIT, "the message back", sub.next()).await.unwrap();
    assert_eq!(&message.payload[..], b"ok");
}

async fn every_form_of_servers_connects(rt: Rt) {
    let server = NatsServer::start();
    let url = server.url();
    let dead = dead_url();

    round_trip(&connect(rt, url.as_str()).await).await;
    round_trip(&connect(rt, url.clone()).await).await;
    round_trip(&connect(rt, &url).await).await;
    // Several servers, one dead (tried first or not: the pool is shuffled): the live one
    // is reached.
    round_trip(&connect(rt, format!("{dead}, {url}")).await).await;
    round_trip(&connect(rt, [dead.as_str(), url.as_str()]).await).await;
    round_trip(&connect(rt, vec![dead.clone(), url.clone()]).await).await;
    round_trip(&connect(rt, &[url.clone()][..]).await).await;
}

async fn a_bad_url_in_a_list_is_refused_before_connecting(rt: Rt) {
    let server = NatsServer::start();
    let servers = vec![server.url(), "nats://host:notaport".to_string()];
    let error = match rt {
        Rt::Tokio => nats_client::tokio::connect(servers).await,
        Rt::Smol => nats_client::smol::connect(servers).await,
        Rt::AsyncStd => nats_client::async_std::connect(servers).await,
    }
    .expect_err("an unparsable URL is refused");
    assert!(
        matches!(error, nats_client::ConnectError::InvalidUrl(_)),
        "{error}"
    );
}

async fn subjects_as_str_string_or_subject(rt: Rt) {
    let server = NatsServer::start();
    let client = rt.connect(&server.url()).await;
    let owned = String::from("forms.owned");
    let mut sub = client
        .queue_subscribe(owned.clone(), String::from("group"))
        .await
        .unwrap();
    let mut service = client.subscribe("forms.service".to_string()).await.unwrap();
    client.flush().await.unwrap();
    client.publish(&owned, ("by &String").into()).await.unwrap();
    client
        .publish(owned.clone(), ("by String").into())
        .await
        .unwrap();
    for expected in ["by &String", "by String"] {
        let message = within(WAIT, "a message", sub.next()).await.unwrap();
        assert_eq!(&message.payload[..], expected.as_bytes());
    }
    // A reply goes back to the received `Subject` as it is.
    let answer = async {
        let request = service.next().await.unwrap();
        let reply = request.reply.expect("a request has a reply subject");
        client.publish(&reply, "answered".into()).await.unwrap();
    };
    let ask = client.request(String::from("forms.service"), ("?").into());
    let ((), reply) = within(WAIT, "the reply", futures_lite::future::zip(answer, ask)).await;
    assert_eq!(&reply.unwrap().payload[..], b"answered");
}

on_every_runtime!(
    subjects_as_str_string_or_subject,
    every_form_of_servers_connects,
    a_bad_url_in_a_list_is_refused_before_connecting,
);
