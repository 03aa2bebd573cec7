//! Service interoperability with nats-py's `micro` module (installed by the harness from
//! PyPI): a service of ours is discovered, pinged, called and measured by nats-py
//! (`tests/python/svc_interop.py check`, field by field), and a nats-py service is found,
//! called and measured by ours. The tests skip, saying why, only when Python's pip is
//! unusable.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

use bytes::Bytes;
use futures_lite::StreamExt;
use nats_client::nats_sansio::service::service_error;
use nats_client::service::{discover, ServiceError, ServiceExt};
use nats_tests::{nats_py_or_skip, script, NatsServer};

#[macro_use]
mod common;
use common::runtime::{within, Rt};

const WAIT: Duration = Duration::from_secs(30);
const SCRIPT: &str = "svc_interop.py";

/// Serves the interop service the script expects of ours until the service stops.
async fn serve_rust_service(rt: Rt, client: &nats_client::Client) -> nats_client::service::Service {
    let service = client
        .service_builder()
        .description("rust interop service")
        .metadata(BTreeMap::from([("lang".into(), "rust".into())]))
        .start("rust-interop", "1.2.3")
        .await
        .unwrap();
    let echo = service
        .endpoint_builder()
        .name("echo")
        .metadata(BTreeMap::from([("kind".into(), "echo".into())]))
        .add("svc.echo")
        .await
        .unwrap();
    let fail = service
        .endpoint_builder()
        .name("fail")
        .add("svc.fail")
        .await
        .unwrap();
    let double = service
        .group_with_queue_group("math", "math-workers")
        .unwrap()
        .endpoint("double")
        .await
        .unwrap();
    for (kind, mut endpoint) in [("echo", echo), ("fail", fail), ("double", double)] {
        let task = async move {
            while let Some(request) = endpoint.next().await {
                let text = String::from_utf8_lossy(&request.message.payload).into_owned();
                let answer = match kind {
                    "echo" => Ok(Bytes::from(text)),
                    "fail" => Err(ServiceError::new(418, "teapot")),
                    _ => match text.trim().parse::<i64>() {
                        Ok(n) => Ok(Bytes::from((2 * n).to_string())),
                        Err(_) => Err(ServiceError::new(400, "not an integer")),
                    },
                };
                if request.respond(answer).await.is_err() {
                    break;
                }
            }
        };
        match rt {
            Rt::Tokio => drop(tokio::spawn(task)),
            Rt::Smol => smol::spawn(task).detach(),
            Rt::AsyncStd => drop(async_std::task::spawn(task)),
        }
    }
    client.flush().await.unwrap();
    service
}

/// Ours serves; nats-py discovers it on every subject form, calls each endpoint and checks
/// every answer field by field.
async fn a_service_of_ours_checked_by_nats_py(rt: Rt) {
    let Some(py) = nats_py_or_skip() else { return };
    let server = NatsServer::start();
    let client = rt.connect(&server.url()).await;
    let service = serve_rust_service(rt, &client).await;
    let url = server.url();
    // The script runs in a thread of its own, so this runtime keeps driving the service.
    let checking =
        std::thread::spawn(move || py.run_ok(&script(SCRIPT), &["check", &url, "rust-interop"]));
    within(WAIT, "nats-py's check", async {
        while !checking.is_finished() {
            async_io::Timer::after(Duration::from_millis(20)).await;
        }
    })
    .await;
    let checked = checking.join().expect("the check ran");
    assert_eq!(checked.trim(), "ok");
    service.stop().await.unwrap();
}

/// The nats-py service process; killed when dropped.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nats-py serves; ours finds it, calls each endpoint and reads its stats.
async fn a_nats_py_service_found_and_called_by_ours(rt: Rt) {
    let Some(py) = nats_py_or_skip() else { return };
    let server = NatsServer::start();
    let mut served = Served(
        py.command(&script(SCRIPT))
            .args(["serve", &server.url(), "py-interop", "0.9.0", "60"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(served.0.stdout.take().unwrap()).lines();
    let ready = lines.next().expect("the service starts").unwrap();
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    let id = ready["id"].as_str().unwrap().to_owned();

    let client = rt.connect(&server.url()).await;
    let found = discover(&client).name("py-interop");
    let pings = found.ping().await.unwrap();
    assert_eq!(pings.len(), 1);
    assert_eq!(
        (pings[0].version.as_str(), pings[0].id.as_str()),
        ("0.9.0", id.as_str())
    );
    let by_id = discover(&client)
        .name("py-interop")
        .id(&id)
        .info()
        .await
        .unwrap();
    let info = &by_id[0];
    assert_eq!(info.description, "python interop service");
    assert_eq!(info.metadata["lang"], "python");
    let mut endpoints: Vec<_> = info
        .endpoints
        .iter()
        .map(|e| (e.name.as_str(), e.subject.as_str(), e.queue_group.as_str()))
        .collect();
    endpoints.sort();
    assert_eq!(
        endpoints,
        [
            ("double", "math.double", "math-workers"),
            ("echo", "svc.echo", "q"),
            ("fail", "svc.fail", "q")
        ]
    );

    let echo = client.request("svc.echo", "hello".into()).await.unwrap();
    assert_eq!(&echo.payload[..], b"hello");
    let double = client.request("math.double", "21".into()).await.unwrap();
    assert_eq!(&double.payload[..], b"42");
    let fail = client.request("svc.fail", "boom".into()).await.unwrap();
    assert_eq!(service_error(&fail), Some(ServiceError::new(418, "teapot")));

    let stats = found.stats().await.unwrap();
    let fail_stats = stats[0]
        .endpoints
        .iter()
        .find(|e| e.name == "fail")
        .unwrap();
    assert_eq!((fail_stats.num_requests, fail_stats.num_errors), (1, 1));
    assert_eq!(fail_stats.last_error, "418:teapot");
    let echo_stats = stats[0]
        .endpoints
        .iter()
        .find(|e| e.name == "echo")
        .unwrap();
    assert_eq!((echo_stats.num_requests, echo_stats.num_errors), (1, 0));
    drop(served.0.stdin.take());
}

on_every_runtime!(
    a_service_of_ours_checked_by_nats_py,
    a_nats_py_service_found_and_called_by_ours,
);
