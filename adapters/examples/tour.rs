//! A tour of the client against a running nats-server: `cargo xtask demo` starts one and runs
//! this with its URL (on tokio; the same code runs on smol and async-std, see the other
//! examples).
//!
//! Each step prints what it did and what came back, and the tour fails loudly if the server
//! does not answer as NATS promises.

use std::time::Duration;

use futures_lite::{AsyncReadExt, StreamExt};
use nats_client::error::{PublishError, RequestError};
use nats_client::jetstream::api::{ConsumerConfig, StreamConfig};
use nats_client::jetstream::{kv, object_store, Publish};
use nats_client::service::{self, ServiceExt};
use nats_client::{ClientEvent, ConnectOptions, HeaderMap};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned());

    println!("== connect to {url}");
    let options = ConnectOptions::new().name("tour");
    let client = nats_client::tokio::connect_with_options(&url, options).await?;
    let info = client.server_info().unwrap_or_default();
    println!(
        "   connected to {} (nats-server {}, max_payload {} bytes)",
        info.server_name, info.version, info.max_payload
    );
    let mut events = client.events();

    println!("== publish and subscribe, with wildcards");
    let mut greetings = client.subscribe("tour.greet.*").await?;
    for who in ["alice", "bob", "carol"] {
        client
            .publish(&format!("tour.greet.{who}"), format!("hello {who}").into())
            .await?;
    }
    for _ in 0..3 {
        let msg = greetings.next().await.ok_or("subscription ended")?;
        println!(
            "   {} -> {:?}",
            msg.subject,
            String::from_utf8_lossy(&msg.payload)
        );
    }

    println!("== headers");
    let mut headers = HeaderMap::new();
    headers.insert("Tour-Step", "headers");
    headers.append("Tour-Tag", "one");
    headers.append("Tour-Tag", "two");
    client
        .publish_with_headers("tour.greet.headers", headers, ("with headers").into())
        .await?;
    let msg = greetings.next().await.ok_or("subscription ended")?;
    let got = msg.headers.unwrap_or_default();
    println!(
        "   Tour-Step={:?} Tour-Tag={:?}",
        got.get("Tour-Step"),
        got.get_all("Tour-Tag").collect::<Vec<_>>()
    );

    println!("== request/reply: a responder task in a queue group");
    let mut service = client.queue_subscribe("tour.upper", "workers").await?;
    let responder = client.clone();
    let worker = tokio::spawn(async move {
        let mut answered = 0;
        while let Some(msg) = service.next().await {
            if let Some(reply) = &msg.reply {
                let upper = String::from_utf8_lossy(&msg.payload).to_uppercase();
                responder.publish(reply, upper.into()).await.ok();
                answered += 1;
            }
        }
        answered
    });
    for word in ["sans", "io", "nats"] {
        let reply = client.request("tour.upper", word.into()).await?;
        println!(
            "   {word:?} -> {:?}",
            String::from_utf8_lossy(&reply.payload)
        );
    }

    println!("== 64 requests in flight at once");
    let started = std::time::Instant::now();
    let in_flight: Vec<_> = (0..64)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.request("tour.upper", format!("r{i}").into()).await })
        })
        .collect();
    let mut ok = 0;
    for request in in_flight {
        if request.await?.is_ok() {
            ok += 1;
        }
    }
    println!("   {ok} of 64 answered in {:?}", started.elapsed());

    println!("== a request nobody answers");
    match client.request("tour.nobody.home", ("hello?").into()).await {
        Err(RequestError::NoResponders) => println!("   no responders (status 503), at once"),
        other => return Err(format!("expected no responders, got {other:?}").into()),
    }
    let quick = client
        .request_builder()
        .payload(("anyone?").into())
        .timeout(Duration::from_millis(100));
    let _silent = client.subscribe("tour.silent").await?;
    match client.send_request("tour.silent", quick).await {
        Err(RequestError::TimedOut) => println!("   a silent subscriber: timed out after 100 ms"),
        other => return Err(format!("expected a timeout, got {other:?}").into()),
    }

    println!("== bad input is refused before anything is sent");
    match client.publish("bad subject", "x".into()).await {
        Err(PublishError::InvalidSubject(e)) => println!("   'bad subject': {e}"),
        other => return Err(format!("a subject with a space was accepted: {other:?}").into()),
    }
    let too_big = vec![0u8; client.max_payload() + 1];
    match client.publish("tour.big", too_big.into()).await {
        Err(e @ PublishError::MaxPayloadExceeded { .. }) => println!("   {e}"),
        other => return Err(format!("an oversized payload was accepted: {other:?}").into()),
    }

    println!("== round trip and statistics");
    println!("   rtt {:?}", client.rtt().await?);
    let stats = client.statistics();
    println!(
        "   in: {} messages, {} bytes; out: {} messages, {} bytes",
        stats.in_messages, stats.in_bytes, stats.out_messages, stats.out_bytes
    );

    println!("== JetStream: a stream, acknowledged publishes, a pull consumer");
    let js = nats_client::jetstream::new(client.clone());
    let mut config = StreamConfig::new("TOUR");
    config.subjects = vec!["tour.orders.>".into()];
    let mut stream = js.create_stream(config).await?;
    let mut acks = Vec::new();
    for i in 1..=5 {
        let publish = Publish::new()
            .payload(format!("order {i}").into())
            .message_id(format!("order-{i}"));
        acks.push(js.send_publish("tour.orders.new", publish).await?);
    }
    for ack in acks {
        let ack = ack.await?;
        println!("   stored in {} as #{}", ack.stream, ack.seq);
    }
    let again = js
        .send_publish(
            "tour.orders.new",
            Publish::new()
                .payload(("order 1").into())
                .message_id("order-1"),
        )
        .await?
        .await?;
    println!(
        "   the same Nats-Msg-Id again: duplicate={} (#{})",
        again.duplicate, again.seq
    );
    let consumer = stream
        .create_consumer(ConsumerConfig {
            durable_name: "tour-reader".into(),
            ..ConsumerConfig::default()
        })
        .await?;
    let mut batch = consumer.batch().max_messages(5).messages().await?;
    while let Some(message) = batch.next().await {
        let message = message?;
        let meta = message.metadata()?;
        println!(
            "   #{} {:?} (delivery {}), acked",
            meta.stream_sequence,
            String::from_utf8_lossy(&message.payload),
            meta.delivered
        );
        message.double_ack().await?;
    }
    let info = stream.info().await?;
    println!("   the stream holds {} messages", info.state.messages);
    js.delete_stream("TOUR").await?;

    println!("== key-value: a bucket, compare-and-set, a watcher");
    let store = js
        .create_key_value(kv::Config {
            bucket: "tour".into(),
            history: 5,
            ..Default::default()
        })
        .await?;
    let mut watch = store.watch("greeting.*").await?;
    let first = store.put("greeting.en", "hello".into()).await?;
    let second = store.update("greeting.en", "hi".into(), first).await?;
    println!("   put greeting.en at revision {first}, updated it at {second}");
    match store.update("greeting.en", "hey".into(), first).await {
        Err(kv::Error::Kv(kv::KvError::WrongLastRevision { expected, .. })) => {
            println!("   an update expecting revision {expected} is refused: someone wrote since")
        }
        other => return Err(format!("a stale update must be refused, got {other:?}").into()),
    }
    store.delete("greeting.en").await?;
    println!(
        "   after delete, get = {:?}",
        store.get("greeting.en").await?
    );
    for _ in 0..3 {
        let entry = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await?
            .ok_or("the watch ended")??;
        println!(
            "   the watcher saw {} {:?} = {:?} (revision {})",
            entry.key,
            entry.operation,
            String::from_utf8_lossy(&entry.value),
            entry.revision
        );
    }
    js.delete_key_value("tour").await?;

    println!("== object store: a file in, the same bytes out, the digest checked");
    let files = js
        .create_object_store(object_store::Config {
            bucket: "tour-files".into(),
            ..Default::default()
        })
        .await?;
    // Three and a half chunks of 128 KiB, from a reader: the put holds a window of chunks,
    // never the whole file.
    let file: Vec<u8> = (0..448 * 1024).map(|i| (i % 251) as u8).collect();
    let info = files.put("tour.bin", &mut &file[..]).await?;
    println!(
        "   put tour.bin: {} bytes in {} chunks, {}",
        info.size, info.chunks, info.digest
    );
    let mut object = files.get("tour.bin").await?;
    let mut read_back = Vec::new();
    object.read_to_end(&mut read_back).await?;
    if read_back != file {
        return Err("the object read back differs".into());
    }
    println!(
        "   got tour.bin back: {} bytes, the same as put, digest verified",
        read_back.len()
    );
    js.delete_object_store("tour-files").await?;

    println!("== service: started, discovered, called, its stats shown");
    let service = client
        .service_builder()
        .description("reverses text")
        .start("reverser", "1.0.0")
        .await?;
    let mut endpoint = service.endpoint("tour.reverse").await?;
    let serving = tokio::spawn(async move {
        while let Some(request) = endpoint.next().await {
            let text = String::from_utf8_lossy(&request.message.payload);
            let reversed: String = text.chars().rev().collect();
            if request.respond(Ok(reversed.into())).await.is_err() {
                break;
            }
        }
    });
    client.flush().await?;
    for ping in service::discover(&client).name("reverser").ping().await? {
        println!(
            "   found {} {} (instance {})",
            ping.name, ping.version, ping.id
        );
    }
    let reply = client.request("tour.reverse", "stressed".into()).await?;
    println!(
        "   tour.reverse(\"stressed\") = {:?}",
        String::from_utf8_lossy(&reply.payload)
    );
    for stats in service::discover(&client).name("reverser").stats().await? {
        for endpoint in stats.endpoints {
            println!(
                "   stats of {}: {} request(s), {} error(s), average {:?}",
                endpoint.name,
                endpoint.num_requests,
                endpoint.num_errors,
                endpoint.average_processing_time
            );
        }
    }
    service.stop().await?;
    serving.await?;

    println!("== drain: unsubscribe, let in-flight messages land, close");
    client.drain().await?;
    let answered = worker.await?;
    println!("   the responder answered {answered} requests, then its stream ended");
    while let Some(event) = events.next().await {
        if let ClientEvent::Closed { reason, .. } = event {
            println!("   closed (reason: {reason:?})");
            break;
        }
    }
    println!("== the tour is over");
    Ok(())
}
