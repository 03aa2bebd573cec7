//! JetStream against a real nats-server (JetStream enabled), on tokio, smol and async-std.
//!
//! Each scenario asserts what a user sees: stored sequences, typed errors carrying the
//! server's codes, messages delivered and acknowledged, nothing lost across a restart.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_lite::StreamExt;
use nats_client::jetstream::api::{
    AckPolicy, ApiErrorKind, ConsumerConfig, DirectGetRequest, PriorityPolicy, PurgeRequest,
    StreamInfoRequest,
};
use nats_client::jetstream::pull::{ConsumeOptions, FetchOptions, PriorityOptions};
use nats_client::jetstream::push::PushEvent;
use nats_client::jetstream::{self, JetStreamErrorKind, JsMessage, Publish, PushItem};

#[macro_use]
mod common;
use common::js::{
    all, create_stream, durable, js_server, publish_range, stream_config, stream_with_items,
};
use common::runtime::{reconnected, within, Rt};

const WAIT: Duration = Duration::from_secs(15);

/// The next item of whichever of two streams has one first: 0 for `a`, 1 for `b`.
async fn next_of_either<S: futures_lite::Stream + Unpin>(
    a: &mut S,
    b: &mut S,
) -> (usize, Option<S::Item>) {
    futures_lite::future::or(async { (0, a.next().await) }, async { (1, b.next().await) }).await
}

/// The pin id a message to a pinned client carries.
fn pin_id(message: &JsMessage) -> String {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get("Nats-Pin-Id"))
        .map(str::to_owned)
        .expect("every message to a pinned client carries Nats-Pin-Id")
}

async fn stream_management(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let account = within(WAIT, "account info", js.account_info())
        .await
        .unwrap();
    assert_eq!(account.streams, 0);

    let mut stream = create_stream(&js, "ORDERS", &["orders.>"]).await;
    assert_eq!(stream.name(), "ORDERS");
    // Creating the identical stream again succeeds; a different config is refused.
    js.create_stream(stream_config("ORDERS", &["orders.>"]))
        .await
        .unwrap();
    let clash = js
        .create_stream(stream_config("ORDERS", &["other.>"]))
        .await
        .unwrap_err();
    assert_eq!(clash.api_kind(), Some(ApiErrorKind::StreamNameInUse));

    let updated = js
        .update_stream(stream_config("ORDERS", &["orders.>", "returns.>"]))
        .await
        .unwrap();
    assert_eq!(updated.config.subjects.len(), 2);
    js.create_or_update_stream(stream_config("AUDIT", &["audit.>"]))
        .await
        .unwrap();
    let mut names = all(js.stream_names(None)).await;
    names.sort();
    assert_eq!(names, vec!["AUDIT", "ORDERS"]);
    assert_eq!(all(js.streams()).await.len(), 2);
    assert_eq!(all(js.stream_names(Some("audit.x"))).await, vec!["AUDIT"]);

    for i in 0..5 {
        js.publish(&format!("orders.{}", i % 2), format!("o{i}").into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let info = stream.info().await.unwrap();
    assert_eq!(info.state.messages, 5);
    let detailed = js
        .stream_info_with(
            "ORDERS",
            &StreamInfoRequest {
                subjects_filter: "orders.>".into(),
                ..StreamInfoRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(detailed.state.subjects.get("orders.0"), Some(&3));

    let purged = stream
        .purge_with(&PurgeRequest {
            filter: "orders.1".into(),
            ..PurgeRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(purged.purged, 2);
    js.delete_stream("AUDIT").await.unwrap();
    let missing = js.get_stream("AUDIT").await.unwrap_err();
    assert_eq!(missing.api_kind(), Some(ApiErrorKind::StreamNotFound));
}

async fn publish_acks_dedup_and_expectations(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    create_stream(&js, "EVENTS", &["events.>"]).await;

    // The same publish twice: the stream stores it once.
    let m1 = || async {
        let publish = Publish::new().payload("1".into()).message_id("m-1");
        js.send_publish("events.a", publish)
            .await
            .unwrap()
            .await
            .unwrap()
    };
    let first = m1().await;
    assert_eq!(
        (first.stream.as_str(), first.seq, first.duplicate),
        ("EVENTS", 1, false)
    );
    let again = m1().await;
    assert!(
        again.duplicate,
        "the same message id within the window is a duplicate"
    );
    assert_eq!(again.seq, 1);

    let wrong_seq = js
        .send_publish(
            "events.a",
            Publish::new().payload("x".into()).expected_last_sequence(7),
        )
        .await
        .unwrap()
        .await
        .unwrap_err();
    assert_eq!(wrong_seq.api_kind(), Some(ApiErrorKind::WrongLastSequence));
    let wrong_subject_seq = js
        .send_publish(
            "events.b",
            Publish::new()
                .payload("x".into())
                .expected_last_subject_sequence(3),
        )
        .await
        .unwrap()
        .await
        .unwrap_err();
    assert_eq!(
        wrong_subject_seq.api_kind(),
        Some(ApiErrorKind::WrongLastSequence)
    );
    let ok = js
        .send_publish(
            "events.b",
            Publish::new()
                .payload("x".into())
                .expected_last_subject_sequence(0)
                .expected_stream("EVENTS")
                .expected_last_message_id("m-1"),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(ok.seq, 2);
    let wrong_stream = js
        .send_publish(
            "events.c",
            Publish::new().payload("x".into()).expected_stream("OTHER"),
        )
        .await
        .unwrap()
        .await
        .unwrap_err();
    assert_eq!(wrong_stream.api_kind(), Some(ApiErrorKind::StreamNotMatch));

    // No stream listens: retried, then a clear no-responders error.
    let nowhere = within(WAIT, "no stream", async {
        js.publish("nowhere", "x".into()).await.unwrap().await
    })
    .await
    .unwrap_err();
    assert_eq!(nowhere.kind(), JetStreamErrorKind::NoResponders);

    // Many acks in flight through a small window, all resolved in order.
    let js = js.with_max_acks_in_flight(8);
    let mut acks = Vec::new();
    for i in 0..200 {
        acks.push(
            js.publish("events.bulk", format!("{i}").into())
                .await
                .unwrap(),
        );
    }
    let mut last = 0;
    for ack in acks {
        let ack = within(WAIT, "a bulk ack", ack).await.unwrap();
        assert!(ack.seq > last, "sequences grow in publish order");
        last = ack.seq;
    }
}

async fn messages_get_delete_and_direct(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let mut config = stream_config("KVISH", &["kv.>"]);
    config.allow_direct = true;
    let stream = js.create_stream(config).await.unwrap();
    for (subject, value) in [("kv.a", "1"), ("kv.b", "2"), ("kv.a", "3")] {
        js.send_publish(
            subject,
            Publish::new().payload(value.into()).header("Who", "test"),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    let second = stream.get_message(2).await.unwrap();
    assert_eq!(
        (second.subject.as_str(), &second.payload[..]),
        ("kv.b", &b"2"[..])
    );
    assert_eq!(second.headers().unwrap().unwrap().get("Who"), Some("test"));
    let last_a = stream.get_last_message("kv.a").await.unwrap();
    assert_eq!((last_a.seq, &last_a.payload[..]), (3, &b"3"[..]));
    let next_a = stream.get_next_message("kv.a", 2).await.unwrap();
    assert_eq!(next_a.seq, 3);

    let direct = stream.direct_get_last("kv.b").await.unwrap();
    assert_eq!(&direct.payload[..], b"2");
    assert_eq!(
        direct.headers.as_ref().unwrap().get("Nats-Sequence"),
        Some("2")
    );
    let by_seq = stream
        .direct_get(&DirectGetRequest {
            seq: 1,
            ..DirectGetRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(&by_seq.payload[..], b"1");

    stream.delete_message(2, false).await.unwrap();
    let gone = stream.get_message(2).await.unwrap_err();
    assert_eq!(gone.api_kind(), Some(ApiErrorKind::NoMessageFound));
    let gone = stream.direct_get_last("kv.b").await.unwrap_err();
    assert_eq!(gone.api_kind(), Some(ApiErrorKind::NoMessageFound));
}

async fn consumer_management_fetch_and_acks(rt: Rt) {
    let (_server, _js, stream) = stream_with_items(rt, "WORK", "work", 10).await;
    let consumer = stream.create_consumer(durable("workers")).await.unwrap();
    assert_eq!(consumer.name(), "workers");
    assert_eq!(all(stream.consumer_names()).await, vec!["workers"]);
    assert_eq!(all(stream.consumers()).await.len(), 1);
    let missing = stream.consumer_info("nobody").await.unwrap_err();
    assert_eq!(missing.api_kind(), Some(ApiErrorKind::ConsumerNotFound));

    // A fetch of 4 returns exactly 4; ack three, nak one.
    let mut batch = consumer
        .fetch_with(FetchOptions::messages(4))
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(message) = within(WAIT, "fetched message", batch.next()).await {
        let message = message.unwrap();
        let meta = message.metadata().unwrap();
        assert_eq!(
            (meta.stream.as_str(), meta.consumer.as_str()),
            ("WORK", "workers")
        );
        got.push(meta.stream_sequence);
        if got.len() == 4 {
            message.nak(None).await.unwrap();
        } else {
            message.double_ack().await.unwrap();
            assert!(
                message.ack().await.is_err(),
                "a second terminal ack is refused"
            );
        }
    }
    assert_eq!(got, vec![1, 2, 3, 4]);

    // The nak'd message comes back (the server applies acks asynchronously, so it may take
    // a second fetch), with everything not yet delivered.
    let mut rest = Vec::new();
    within(WAIT, "the nak'd and remaining messages", async {
        while rest.len() < 7 {
            let mut fetch = consumer
                .fetch_with(FetchOptions {
                    expires: Some(Duration::from_secs(1)),
                    ..FetchOptions::messages(100)
                })
                .await
                .unwrap();
            while let Some(message) = fetch.next().await {
                let message = message.unwrap();
                rest.push(message.metadata().unwrap().stream_sequence);
                message.double_ack().await.unwrap();
            }
        }
    })
    .await;
    rest.sort_unstable();
    assert_eq!(
        rest,
        vec![4, 5, 6, 7, 8, 9, 10],
        "redelivered and remaining, none lost"
    );
    // Nothing is left: a no-wait fetch ends at once, empty.
    let mut empty = consumer
        .fetch_with(FetchOptions::no_wait(10))
        .await
        .unwrap();
    assert!(within(WAIT, "an empty fetch", empty.next()).await.is_none());

    // Reset (server 2.14): the consumer delivers again from a stream sequence.
    let reset = stream.reset_consumer("workers", 8).await.unwrap();
    assert_eq!(reset.reset_seq, 8);
    let mut again = Vec::new();
    let mut fetch = consumer
        .fetch_with(FetchOptions::no_wait(10))
        .await
        .unwrap();
    while let Some(message) = within(WAIT, "fetch after reset", fetch.next()).await {
        let message = message.unwrap();
        again.push(message.metadata().unwrap().stream_sequence);
        message.ack().await.unwrap();
    }
    assert_eq!(
        again,
        vec![8, 9, 10],
        "delivered again from the reset sequence"
    );

    // Pause for an hour, then resume.
    let in_an_hour = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128
        + 3_600_000_000_000;
    let until = nats_client::jetstream::api::DateTime::from_unix_nanos(in_an_hour).unwrap();
    let paused = stream.pause_consumer("workers", until).await.unwrap();
    assert!(paused.paused);
    assert!(stream.consumer_info("workers").await.unwrap().paused);
    let resumed = stream.resume_consumer("workers").await.unwrap();
    assert!(!resumed.paused);
    assert!(!stream.consumer_info("workers").await.unwrap().paused);

    stream.delete_consumer("workers").await.unwrap();
    assert!(!stream.has_consumer("workers").await.unwrap());
}

async fn continuous_consume(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let stream = create_stream(&js, "FEED", &["feed.>"]).await;
    let consumer = stream.create_consumer(durable("reader")).await.unwrap();
    let mut messages = consumer
        .messages_with(ConsumeOptions::messages(10))
        .await
        .unwrap();
    let publisher = js.clone();
    let publish = async move {
        for i in 0..300 {
            // The ack is not needed here: dropping its future keeps the publish.
            drop(
                publisher
                    .publish("feed.x", format!("{i}").into())
                    .await
                    .unwrap(),
            );
        }
    };
    let receive = async {
        let mut seen = Vec::new();
        while seen.len() < 300 {
            let message = messages.next().await.unwrap().unwrap();
            seen.push(String::from_utf8(message.payload.to_vec()).unwrap());
            message.ack().await.unwrap();
        }
        seen
    };
    let ((), seen) = within(
        WAIT,
        "300 messages",
        futures_lite::future::zip(publish, receive),
    )
    .await;
    let expected: Vec<String> = (0..300).map(|i| i.to_string()).collect();
    assert_eq!(
        seen, expected,
        "in order, each once, with pulls of at most 10"
    );
}

async fn consume_resumes_after_a_server_restart(rt: Rt) {
    let mut server = js_server();
    let client = rt.connect(&server.url()).await;
    let mut events = client.events();
    let js = jetstream::new(client);
    let stream = create_stream(&js, "DURABLE", &["durable.>"]).await;
    let consumer = stream.create_consumer(durable("survivor")).await.unwrap();
    publish_range(&js, "durable.x", 0..50).await;
    let mut messages = consumer
        .messages_with(ConsumeOptions::messages(5))
        .await
        .unwrap();
    let mut acked = BTreeSet::new();
    while acked.len() < 20 {
        let message = within(WAIT, "before the restart", messages.next())
            .await
            .unwrap()
            .unwrap();
        let seq = message.metadata().unwrap().stream_sequence;
        message.double_ack().await.unwrap();
        acked.insert(seq);
    }
    server.restart();
    reconnected(&mut events, WAIT).await;
    publish_range(&js, "durable.x", 50..70).await;
    // The restart is over (reconnected) before anything below runs, so it is expected to
    // cause no error at all: every ack goes over the new connection, and a consume's errors
    // are terminal (the consume would end). Any error fails the test, with its message.
    within(
        Duration::from_secs(60),
        "every message after the restart",
        async {
            while acked.len() < 70 {
                match messages.next().await {
                    Some(Ok(message)) => {
                        let seq = message.metadata().unwrap().stream_sequence;
                        if let Err(e) = message.double_ack().await {
                            panic!("double ack of stream sequence {seq} after the restart: {e}");
                        }
                        acked.insert(seq);
                    }
                    Some(Err(e)) => panic!("the consume failed after the restart: {e}"),
                    None => panic!("the consume ended"),
                }
            }
        },
    )
    .await;
    assert_eq!(
        acked,
        (1..=70).collect::<BTreeSet<u64>>(),
        "nothing lost across the restart"
    );
    println!("checked {} messages across a restart", acked.len());
}

async fn push_consumers_with_flow_control_heartbeats_and_queues(rt: Rt) {
    let server = js_server();
    let client = rt.connect(&server.url()).await;
    let js = jetstream::new(client.clone());
    let stream = create_stream(&js, "PUSHED", &["pushed.>"]).await;
    // 500 messages of 4 KiB: enough for the server to ask for flow control.
    let mut acks = Vec::new();
    for i in 0..500 {
        let mut payload = format!("{i:04}").into_bytes();
        payload.resize(4096, b'.');
        acks.push(js.publish("pushed.x", payload.into()).await.unwrap());
    }
    for ack in acks {
        ack.await.unwrap();
    }

    // A push consumer with flow control and heartbeats: everything, in order.
    let consumer = stream
        .create_consumer(ConsumerConfig {
            durable_name: "pusher".into(),
            deliver_subject: client.new_inbox(),
            flow_control: true,
            idle_heartbeat: Duration::from_millis(500),
            ack_policy: AckPolicy::Explicit,
            ..ConsumerConfig::default()
        })
        .await
        .unwrap();
    let mut pushed = consumer.push_messages().await.unwrap();
    let mut seen = Vec::new();
    within(WAIT, "500 pushed messages", async {
        while seen.len() < 500 {
            match pushed.next().await.unwrap().unwrap() {
                PushItem::Message(message) => {
                    seen.push(String::from_utf8(message.payload[..4].to_vec()).unwrap());
                    message.ack().await.unwrap();
                }
                PushItem::Event(event) => panic!("unexpected {event:?}"),
                _ => {}
            }
        }
    })
    .await;
    let expected: Vec<String> = (0..500).map(|i| format!("{i:04}")).collect();
    assert_eq!(seen, expected);
    assert!(
        pushed.flow_control_answered() > 0,
        "the server asked for flow control and was answered"
    );
    println!(
        "flow control answered {} times",
        pushed.flow_control_answered()
    );

    // When the consumer disappears its heartbeats stop: the alarm says so.
    stream.delete_consumer("pusher").await.unwrap();
    let alarm = within(WAIT, "the missed-heartbeat alarm", async {
        loop {
            if let Some(Ok(PushItem::Event(event))) = pushed.next().await {
                return event;
            }
        }
    })
    .await;
    assert_eq!(alarm, PushEvent::MissedHeartbeat);

    // A deliver group: each message to one member. Both members subscribe before anything
    // is published, so neither can take everything before the other joins.
    let grouped = create_stream(&js, "GROUPED", &["grouped.>"]).await;
    let queue_consumer = grouped
        .create_consumer(ConsumerConfig {
            durable_name: "group".into(),
            deliver_subject: client.new_inbox(),
            deliver_group: "members".into(),
            ack_policy: AckPolicy::Explicit,
            ..ConsumerConfig::default()
        })
        .await
        .unwrap();
    let mut a = queue_consumer.push_messages().await.unwrap();
    let mut b = queue_consumer.push_messages().await.unwrap();
    client.flush().await.unwrap();
    let mut acks = Vec::new();
    for i in 0..500 {
        acks.push(
            js.publish("grouped.x", format!("{i}").into())
                .await
                .unwrap(),
        );
    }
    for ack in acks {
        ack.await.unwrap();
    }
    let mut members = Vec::new();
    within(WAIT, "500 messages across the group", async {
        while members.len() < 500 {
            let next = next_of_either(&mut a, &mut b).await;
            if let (member, Some(Ok(PushItem::Message(message)))) = next {
                members.push((member, message.metadata().unwrap().stream_sequence));
                message.ack().await.unwrap();
            }
        }
    })
    .await;
    let mut sequences: Vec<u64> = members.iter().map(|(_, seq)| *seq).collect();
    sequences.sort_unstable();
    assert_eq!(
        sequences,
        (1..=500).collect::<Vec<u64>>(),
        "each message once"
    );
    assert!(
        members.iter().any(|(m, _)| *m == 0) && members.iter().any(|(m, _)| *m == 1),
        "both members got a share"
    );
}

async fn pinned_client_priority_group(rt: Rt) {
    let server = js_server();
    let js = jetstream::new(rt.connect(&server.url()).await);
    let stream = create_stream(&js, "PINNED", &["pinned.>"]).await;
    let consumer = stream
        .create_consumer(ConsumerConfig {
            durable_name: "pinned".into(),
            ack_policy: AckPolicy::Explicit,
            priority_groups: vec!["jobs".into()],
            priority_policy: PriorityPolicy::PinnedClient,
            ..ConsumerConfig::default()
        })
        .await
        .unwrap();
    let options = || ConsumeOptions {
        priority: Some(PriorityOptions::new("jobs")),
        expires: Some(Duration::from_secs(2)),
        ..ConsumeOptions::messages(10)
    };
    let mut a = consumer.messages_with(options()).await.unwrap();
    let mut b = consumer.messages_with(options()).await.unwrap();
    publish_range(&js, "pinned.job", 0..20).await;
    let mut members = Vec::new();
    let mut pins = BTreeSet::new();
    within(WAIT, "20 jobs", async {
        while members.len() < 20 {
            let next = next_of_either(&mut a, &mut b).await;
            if let (member, Some(Ok(message))) = next {
                pins.insert(pin_id(&message));
                members.push(member);
                message.ack().await.unwrap();
            }
        }
    })
    .await;
    assert_eq!(pins.len(), 1, "one pin id");
    assert!(
        members.iter().all(|m| *m == members[0]),
        "every job went to the pinned member: {members:?}"
    );
    let first_pin = pins.pop_first().unwrap();

    // After the unpin the server pins afresh: the next jobs carry a new pin id (whichever
    // member wins the new pin), and again all go to one member.
    stream.unpin_consumer("pinned", "jobs").await.unwrap();
    publish_range(&js, "pinned.job", 20..30).await;
    let mut after = Vec::new();
    within(WAIT, "10 jobs after the unpin", async {
        while after.len() < 10 {
            let next = next_of_either(&mut a, &mut b).await;
            if let (member, Some(Ok(message))) = next {
                after.push((member, pin_id(&message)));
                message.ack().await.unwrap();
            }
        }
    })
    .await;
    let new_pins: BTreeSet<&str> = after.iter().map(|(_, pin)| pin.as_str()).collect();
    assert_eq!(new_pins.len(), 1, "one new pin id: {after:?}");
    assert!(
        !new_pins.contains(first_pin.as_str()),
        "the unpin ended the first pin {first_pin}: {after:?}"
    );
    assert!(
        after.iter().all(|(m, _)| *m == after[0].0),
        "every job after the unpin went to the newly pinned member: {after:?}"
    );
}

async fn ack_futures_resolve_when_the_server_goes_away(rt: Rt) {
    let mut server = js_server();
    let mut js = jetstream::new(rt.connect(&server.url()).await);
    // Far longer than the wait below: a future that waited for its timeout would fail it.
    js.set_timeout(Duration::from_secs(120));
    // The stream stores what is published but never acknowledges it (`no_ack`): no ack can
    // arrive, so only the disconnect can resolve the futures.
    let mut config = stream_config("GONE", &["gone.>"]);
    config.no_ack = true;
    let mut stream = js.create_stream(config).await.unwrap();
    let mut acks = Vec::new();
    for i in 0..200 {
        acks.push(js.publish("gone.x", format!("{i}").into()).await.unwrap());
    }
    // The publishes reached the server, which stored them, before it goes away.
    within(WAIT, "the 200 messages to be stored", async {
        while stream.info().await.unwrap().state.messages < 200 {}
    })
    .await;
    server.kill9();
    // Every future resolves with `Disconnected`, long before its ack timeout would.
    let results = within(WAIT, "every ack future to resolve", async {
        let mut results = Vec::new();
        for ack in acks {
            results.push(ack.await.map(|_| ()).map_err(|e| e.kind()));
        }
        results
    })
    .await;
    assert_eq!(
        results,
        vec![Err(JetStreamErrorKind::Disconnected); 200],
        "no ack can arrive from a no_ack stream: each one failed at the disconnect"
    );
}

on_every_runtime!(
    stream_management,
    publish_acks_dedup_and_expectations,
    messages_get_delete_and_direct,
    consumer_management_fetch_and_acks,
    continuous_consume,
    consume_resumes_after_a_server_restart,
    push_consumers_with_flow_control_heartbeats_and_queues,
    pinned_client_priority_group,
    ack_futures_resolve_when_the_server_goes_away,
);
