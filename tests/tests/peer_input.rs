//! What another client can make the server relay to us, sent from a raw socket: a publish the
//! server accepts but this client cannot represent costs that message, never the connection
//! or the messages after it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use futures_lite::StreamExt;
use nats_client::nats_sansio::proto::SubjectError;
use nats_client::{ClientEvent, Subscriber};
use nats_tests::NatsServer;

#[macro_use]
mod common;
use common::runtime::{within, Rt};

const WAIT: Duration = Duration::from_secs(10);

/// Connects a raw socket, sends `ops` after CONNECT, and waits for the PONG of a final PING,
/// so everything before it reached the server.
fn raw_publish(port: u16, ops: &[u8]) {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("raw socket connects");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("INFO "), "the server greets with INFO");
    let mut writer = stream;
    writer
        .write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n")
        .unwrap();
    writer.write_all(ops).unwrap();
    writer.write_all(b"PING\r\n").unwrap();
    loop {
        line.clear();
        assert_ne!(reader.read_line(&mut line).unwrap(), 0, "server hung up");
        assert!(!line.starts_with("-ERR"), "server refused: {line}");
        if line.starts_with("PONG") {
            return;
        }
    }
}

/// The next message on `sub` (`what`, within `WAIT`) carries `payload` on `subject`.
async fn assert_next(sub: &mut Subscriber, what: &str, subject: &str, payload: &[u8]) {
    let message = within(WAIT, what, sub.next())
        .await
        .unwrap_or_else(|| panic!("the subscription ended before {what}"));
    assert_eq!(
        (message.subject.as_str(), &message.payload[..]),
        (subject, payload),
        "{what}"
    );
}

async fn non_utf8_subjects_cost_one_message_each(rt: Rt) {
    let server = NatsServer::start();
    let client = rt.connect(&server.url()).await;
    let mut events = client.events();
    let mut everything = client.subscribe(">").await.unwrap();
    client.flush().await.unwrap();

    // A subject and then a reply subject that are not UTF-8, each followed by a sound
    // message from the same publisher.
    raw_publish(
        server.port(),
        b"PUB a.\xff\xfe 2\r\nno\r\nPUB b.c 2\r\nok\r\nPUB d.e f.\xc3 2\r\nno\r\nPUB g.h 3\r\nok2\r\n",
    );

    assert_next(
        &mut everything,
        "the message after the bad subject",
        "b.c",
        b"ok",
    )
    .await;
    assert_next(
        &mut everything,
        "the message after the bad reply",
        "g.h",
        b"ok2",
    )
    .await;

    let mut unreadable = 0;
    while unreadable < 2 {
        match within(WAIT, "two unreadable-message events", events.next()).await {
            Some(ClientEvent::UnreadableMessage { sid, reason }) => {
                assert_eq!(reason, SubjectError::InvalidUtf8);
                assert_eq!(sid, everything.sid());
                unreadable += 1;
            }
            Some(ClientEvent::Disconnected { reason, .. }) => {
                panic!("another client's publish cost the connection: {reason}")
            }
            Some(_) => {}
            None => panic!("event stream ended"),
        }
    }
    let stats = client.statistics();
    assert_eq!(stats.unreadable_messages, 2);
    assert_eq!(stats.reconnects, 0, "the connection was never lost");
}

on_every_runtime!(non_utf8_subjects_cost_one_message_each);
