//! The blocking driver: the machine driven by hand over `std::net`, one thread per
//! connection. Run with a server URL: `cargo run -p nats-client --example blocking -- nats://127.0.0.1:4222`.
//!
//! Each step prints what it did and what came back, and fails loudly if the server does not
//! answer as NATS promises.

use std::time::Duration;

use nats_client::nats_sansio::connection::{Options, RequestError};
use nats_client::nats_sansio::proto::HeaderMap;
use nats_client::BlockingConnection;

const WAIT: Duration = Duration::from_secs(5);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned());

    println!("== connect to {url}");
    let mut options = Options::new(&url)?;
    options.name = Some("tour".to_owned());
    let mut client = BlockingConnection::connect(options.clone())?;
    let info = client
        .connection()
        .server_info()
        .cloned()
        .unwrap_or_default();
    println!(
        "   connected to server {} (version {}, max_payload {} bytes, headers {})",
        info.server_name, info.version, info.max_payload, info.headers
    );

    println!("== publish and subscribe");
    let sid = client.subscribe("tour.greet.*", None)?;
    client.flush(WAIT)?;
    for who in ["alice", "bob", "carol"] {
        client.publish(&format!("tour.greet.{who}"), format!("hello {who}"))?;
    }
    for _ in 0..3 {
        let msg = client
            .next_message(sid, WAIT)
            .ok_or("a published message did not come back")?;
        println!("   {}", show(&msg));
    }

    println!("== headers");
    let mut headers = HeaderMap::new();
    headers.insert("Tour-Step", "headers");
    headers.append("Tour-Tag", "one");
    headers.append("Tour-Tag", "two");
    client.connection().publish(
        "tour.greet.headers",
        None,
        Some(&headers),
        "with headers".into(),
    )?;
    let msg = client
        .next_message(sid, WAIT)
        .ok_or("the message with headers did not come back")?;
    let got = msg.headers.unwrap_or_default();
    println!(
        "   Tour-Step={:?} Tour-Tag={:?}",
        got.get("Tour-Step"),
        got.get_all("Tour-Tag").collect::<Vec<_>>()
    );

    println!("== request/reply (a responder on a second connection, in a thread)");
    let mut responder = BlockingConnection::connect(options.clone())?;
    let service = responder.subscribe("tour.upper", Some("workers"))?;
    responder.flush(WAIT)?;
    let worker = std::thread::spawn(move || {
        let mut answered = 0;
        while answered < 3 {
            let Some(msg) = responder.next_message(service, WAIT) else {
                break;
            };
            if let Some(reply) = &msg.reply {
                let upper = String::from_utf8_lossy(&msg.payload).to_uppercase();
                if responder.publish(reply, upper).is_ok() {
                    answered += 1;
                }
            }
        }
        let _ = responder.flush(WAIT);
        responder.close();
        answered
    });
    for word in ["sans", "io", "nats"] {
        let reply = client.request("tour.upper", None, word, WAIT)?;
        println!(
            "   {word:?} -> {:?}",
            String::from_utf8_lossy(&reply.payload)
        );
    }
    let answered = worker.join().map_err(|_| "responder thread panicked")?;
    println!("   the responder answered {answered} requests");

    println!("== a request nobody answers");
    match client.request("tour.nobody.home", None, "hello?", WAIT) {
        Err(RequestError::NoResponders) => println!("   no responders (status 503), at once"),
        other => return Err(format!("expected no responders, got {other:?}").into()),
    }

    println!("== an invalid subject is refused before anything is sent");
    match client.publish("bad subject", "x") {
        Err(e) => println!("   refused: {e}"),
        Ok(()) => return Err("a subject with a space was accepted".into()),
    }

    println!("== statistics");
    client.flush(WAIT)?;
    let stats = client.connection().statistics();
    println!(
        "   in: {} messages, {} bytes; out: {} messages, {} bytes; connects: {}",
        stats.in_messages, stats.in_bytes, stats.out_messages, stats.out_bytes, stats.connects
    );

    client.close();
    println!("== closed. The tour is over.");
    Ok(())
}

/// A message as the tour prints it: its subject and its payload.
fn show(msg: &nats_client::Message) -> String {
    format!(
        "{} -> {:?}",
        msg.subject,
        String::from_utf8_lossy(&msg.payload)
    )
}
