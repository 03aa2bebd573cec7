//! Services and request-many against a real nats-server, on tokio, smol and async-std:
//! endpoints and groups answered (payloads, headers, service errors counted in the stats),
//! discovery on the three subject forms of each verb, stats reset, two instances sharing
//! the load through their queue group, stop and drain; and request-many's stop conditions.
//!
//! Each scenario asserts what a user sees: the replies, the error headers, the discovery
//! answers field by field.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use futures_lite::StreamExt;
use nats_client::service::{discover, ServiceError, ServiceExt};
use nats_client::{Client, HeaderMap, RequestManyError};
use nats_tests::NatsServer;

#[macro_use]
mod common;
use common::runtime::{within, Rt};

const WAIT: Duration = Duration::from_secs(20);

/// Answers every request of `endpoint` until it ends: `fail` with error 418 "teapot",
/// `headers` with a header, anything else with its payload upper-cased.
fn serve(rt: Rt, mut endpoint: nats_client::service::Endpoint, tag: &'static str) {
    let task = async move {
        while let Some(request) = endpoint.next().await {
            let payload = String::from_utf8_lossy(&request.message.payload).into_owned();
            let result = match payload.as_str() {
                "fail" => request.respond(Err(ServiceError::new(418, "teapot"))).await,
                "headers" => {
                    let mut headers = HeaderMap::new();
                    headers.insert("X-Served-By", tag);
                    request
                        .respond_with_headers(Bytes::from(tag), headers)
                        .await
                }
                _ => request.respond(Ok(payload.to_uppercase().into())).await,
            };
            result.expect("the response is sent");
        }
    };
    match rt {
        Rt::Tokio => drop(tokio::spawn(task)),
        Rt::Smol => smol::spawn(task).detach(),
        Rt::AsyncStd => drop(async_std::task::spawn(task)),
    }
}

async fn request(client: &Client, subject: &str, payload: &str) -> nats_client::Message {
    within(
        WAIT,
        "a service reply",
        client.request(subject, Bytes::from(payload.to_owned())),
    )
    .await
    .unwrap()
}

async fn endpoints_errors_and_discovery(rt: Rt) {
    let server = NatsServer::start();
    let provider = rt.connect(&server.url()).await;
    let caller = rt.connect(&server.url()).await;
    let service = provider
        .service_builder()
        .description("shouts back")
        .metadata(BTreeMap::from([("team".into(), "edge".into())]))
        .start("shouter", "1.2.3")
        .await
        .unwrap();
    serve(rt, service.endpoint("shout").await.unwrap(), "root");
    let math = service.group("math").unwrap().group("ops").unwrap();
    let double = math
        .endpoint_builder()
        .name("double")
        .metadata(BTreeMap::from([("kind".into(), "arith".into())]))
        .queue_group("math-workers")
        .add("double")
        .await
        .unwrap();
    serve(rt, double, "math");
    provider.flush().await.unwrap();

    assert_eq!(&request(&caller, "shout", "hi").await.payload[..], b"HI");
    assert_eq!(
        &request(&caller, "math.ops.double", "x").await.payload[..],
        b"X"
    );
    let headed = request(&caller, "shout", "headers").await;
    assert_eq!(headed.headers.unwrap().get("X-Served-By"), Some("root"));
    let failed = request(&caller, "shout", "fail").await;
    assert_eq!(
        nats_sansio_service_error(&failed),
        Some(ServiceError::new(418, "teapot")),
        "the error headers"
    );

    // Discovery on all three subject forms of each verb.
    let id = service.id();
    let window = Duration::from_millis(300);
    for finder in [
        discover(&caller).window(window),
        discover(&caller).name("shouter").window(window),
        discover(&caller).name("shouter").id(&id),
    ] {
        let pings = finder.ping().await.unwrap();
        assert_eq!(pings.len(), 1, "{finder:?}");
        assert_eq!(
            (pings[0].name.as_str(), pings[0].version.as_str()),
            ("shouter", "1.2.3")
        );
        assert_eq!(pings[0].id, id);
        let infos = finder.info().await.unwrap();
        assert_eq!(infos[0].description, "shouts back");
        assert_eq!(infos[0].metadata["team"], "edge");
        let endpoints: Vec<_> = infos[0]
            .endpoints
            .iter()
            .map(|e| (e.name.as_str(), e.subject.as_str(), e.queue_group.as_str()))
            .collect();
        assert_eq!(
            endpoints,
            [
                ("shout", "shout", "q"),
                ("double", "math.ops.double", "math-workers")
            ]
        );
        let stats = finder.stats().await.unwrap();
        let shout = &stats[0].endpoints[0];
        assert_eq!((shout.num_requests, shout.num_errors), (3, 1));
        assert_eq!(shout.last_error, "418:teapot");
    }
    assert!(discover(&caller)
        .name("nobody")
        .ping()
        .await
        .unwrap()
        .is_empty());

    service.reset();
    let stats = discover(&caller).name("shouter").stats().await.unwrap();
    assert_eq!(stats[0].endpoints[0].num_requests, 0, "reset");
    assert_eq!(stats[0].endpoints[0].last_error, "");

    // Stopped: its endpoint no longer answers, nor does it to PING.
    service.stop().await.unwrap();
    within(WAIT, "the service to be gone", async {
        while !discover(&caller)
            .name("shouter")
            .ping()
            .await
            .unwrap()
            .is_empty()
        {
            async_io::Timer::after(Duration::from_millis(20)).await;
        }
    })
    .await;
    let gone = caller.request("shout", Bytes::from("hi")).await;
    assert!(gone.is_err(), "no responders after stop: {gone:?}");
}

/// Reads the service error headers the way a caller does.
fn nats_sansio_service_error(message: &nats_client::Message) -> Option<ServiceError> {
    nats_client::nats_sansio::service::service_error(message)
}

/// Two instances, each its own client with default options, in the default queue group:
/// requests are spread over both, each answered once.
async fn two_instances_share_the_load(rt: Rt) {
    let server = NatsServer::start();
    let caller = rt.connect(&server.url()).await;
    let mut services = Vec::new();
    for tag in ["a", "b"] {
        let client = rt.connect(&server.url()).await;
        let service = client
            .service_builder()
            .start("worker", "0.1.0")
            .await
            .unwrap();
        serve(rt, service.endpoint("job").await.unwrap(), tag);
        client.flush().await.unwrap();
        services.push(service);
    }
    let mut served = BTreeMap::<String, usize>::new();
    for _ in 0..60 {
        let reply = request(&caller, "job", "headers").await;
        let by = reply
            .headers
            .unwrap()
            .get("X-Served-By")
            .unwrap()
            .to_owned();
        *served.entry(by).or_default() += 1;
    }
    assert_eq!(served.values().sum::<usize>(), 60);
    assert_eq!(served.len(), 2, "both instances served: {served:?}");
    let stats = discover(&caller).name("worker").stats().await.unwrap();
    assert_eq!(stats.len(), 2);
    let handled: u64 = stats.iter().map(|s| s.endpoints[0].num_requests).sum();
    assert_eq!(handled, 60);
}

/// Without a queue group every instance gets every request; a stats handler's data shows
/// in each endpoint's STATS entry.
async fn no_queue_group_and_custom_stats(rt: Rt) {
    let server = NatsServer::start();
    let caller = rt.connect(&server.url()).await;
    let mut handled = Vec::new();
    for tag in ["a", "b"] {
        let client = rt.connect(&server.url()).await;
        let service = client
            .service_builder()
            .no_queue_group()
            .stats_handler(move |endpoint, stats| {
                serde_json::json!({ "instance": tag, "endpoint": endpoint, "seen": stats.num_requests })
            })
            .start("broadcast", "2.0.0")
            .await
            .unwrap();
        let mut endpoint = service.endpoint("all").await.unwrap();
        client.flush().await.unwrap();
        handled.push(async move {
            let request = within(WAIT, "the broadcast request", endpoint.next())
                .await
                .unwrap();
            request.respond(Ok(tag.into())).await.unwrap();
            service
        });
    }
    let inbox = caller.new_inbox();
    let mut replies = caller.subscribe(&inbox).await.unwrap();
    caller
        .publish_with_reply("all", &inbox, "to everyone".into())
        .await
        .unwrap();
    let mut services = Vec::new();
    for serving in handled {
        services.push(serving.await);
    }
    let mut answered = Vec::new();
    for _ in 0..2 {
        let reply = within(WAIT, "each instance's reply", replies.next())
            .await
            .unwrap();
        answered.push(String::from_utf8_lossy(&reply.payload).into_owned());
    }
    answered.sort();
    assert_eq!(answered, ["a", "b"], "both instances got the request");

    let infos = discover(&caller)
        .name("broadcast")
        .window(Duration::from_millis(300))
        .info()
        .await
        .unwrap();
    assert!(
        infos.iter().all(|i| i.endpoints[0].queue_group.is_empty()),
        "{infos:?}"
    );
    let stats = discover(&caller)
        .name("broadcast")
        .window(Duration::from_millis(300))
        .stats()
        .await
        .unwrap();
    let mut data: Vec<_> = stats
        .iter()
        .map(|s| s.endpoints[0].data.clone().expect("the handler's data"))
        .collect();
    data.sort_by_key(|d| d["instance"].as_str().unwrap_or_default().to_owned());
    assert_eq!(
        data,
        [
            serde_json::json!({ "instance": "a", "endpoint": "all", "seen": 1 }),
            serde_json::json!({ "instance": "b", "endpoint": "all", "seen": 1 }),
        ]
    );
    drop(services);
}

/// Drain: requests already queued are still handed out, then the endpoint's stream ends.
async fn drain_lets_queued_requests_through(rt: Rt) {
    let server = NatsServer::start();
    let provider = rt.connect(&server.url()).await;
    let caller = rt.connect(&server.url()).await;
    let service = provider
        .service_builder()
        .start("drainer", "1.0.0")
        .await
        .unwrap();
    let mut endpoint = service.endpoint("slow").await.unwrap();
    provider.flush().await.unwrap();
    // Three requests on their way before the drain starts (their replies to one inbox).
    let inbox = caller.new_inbox();
    let mut replies = caller.subscribe(&inbox).await.unwrap();
    for i in 0..3 {
        caller
            .publish_with_reply("slow", &inbox, Bytes::from(format!("r{i}")))
            .await
            .unwrap();
    }
    caller.flush().await.unwrap();

    let first = within(WAIT, "the first request", endpoint.next())
        .await
        .unwrap();
    service.clone().drain().await.unwrap();
    first.respond(Ok("done".into())).await.unwrap();
    let mut handled = 1;
    while let Some(request) = within(WAIT, "the queued requests", endpoint.next()).await {
        request.respond(Ok("done".into())).await.unwrap();
        handled += 1;
    }
    assert_eq!(
        handled, 3,
        "every request on its way was handed out before the end"
    );
    for _ in 0..3 {
        let reply = within(WAIT, "a reply", replies.next()).await.unwrap();
        assert_eq!(&reply.payload[..], b"done");
    }
    assert!(service.is_stopped());
}

async fn bad_names_and_versions_are_refused(rt: Rt) {
    let server = NatsServer::start();
    let client = rt.connect(&server.url()).await;
    assert!(client
        .service_builder()
        .start("no spaces", "1.0.0")
        .await
        .is_err());
    assert!(client.service_builder().start("ok", "1.0").await.is_err());
    assert!(client
        .service_builder()
        .start("ok", "01.0.0")
        .await
        .is_err());
    let service = client
        .service_builder()
        .start("ok", "1.0.0-rc.1+build.5")
        .await
        .unwrap();
    assert!(service.group("a>b").is_err());
    assert!(service.endpoint("has space").await.is_err());
}

/// request-many: every responder's reply, ending on the first stop condition.
async fn request_many_gathers_until_a_stop_condition(rt: Rt) {
    let server = NatsServer::start();
    let caller = rt.connect(&server.url()).await;
    let mut responders = Vec::new();
    for i in 0..3 {
        let client = rt.connect(&server.url()).await;
        let mut sub = client.subscribe("census").await.unwrap();
        client.flush().await.unwrap();
        let answering = async move {
            while let Some(message) = sub.next().await {
                if let Some(reply) = message.reply {
                    client.publish(reply, format!("{i}").into()).await.unwrap();
                }
            }
        };
        responders.push(answering);
    }
    for answering in responders {
        match rt {
            Rt::Tokio => drop(tokio::spawn(answering)),
            Rt::Smol => smol::spawn(answering).detach(),
            Rt::AsyncStd => drop(async_std::task::spawn(answering)),
        }
    }
    let all: Vec<_> = caller
        .request_many("census", Bytes::new())
        .stall(Duration::from_millis(500))
        .send()
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(all.len(), 3, "every responder once: {all:?}");
    let two: Vec<_> = caller
        .request_many("census", Bytes::new())
        .max_messages(2)
        .send()
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(two.len(), 2);
    let mut nobody = caller
        .request_many("nobody.home", Bytes::new())
        .send()
        .await
        .unwrap();
    let first = within(WAIT, "the no-responders end", nobody.next())
        .await
        .unwrap();
    assert!(
        matches!(
            first,
            Err(RequestManyError::Reply(
                nats_client::nats_sansio::request_many::RequestManyError::NoResponders
            ))
        ),
        "{first:?}"
    );
}

on_every_runtime!(
    endpoints_errors_and_discovery,
    two_instances_share_the_load,
    no_queue_group_and_custom_stats,
    drain_lets_queued_requests_through,
    bad_names_and_versions_are_refused,
    request_many_gathers_until_a_stop_condition,
);
