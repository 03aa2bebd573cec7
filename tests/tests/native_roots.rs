//! The feature `native-roots`: with no CA given, TLS trusts what the operating system trusts.
//!
//! The platform's store is pointed at a generated CA through `SSL_CERT_FILE` (which
//! rustls-native-certs honours as OpenSSL does). The variable is set only in a second run of
//! this test binary, never in the process running the tests, so nothing else sees it. Each
//! case checks what the user would notice: a connection that carries a message when the
//! system trusts the server's CA, and a certificate rejection when it does not.

use std::process::{Command, Stdio};
use std::time::Duration;

use futures_lite::StreamExt;
use nats_client::ConnectOptions;
use nats_tests::TempDir;

mod common;
use common::{ca, pki, tls_server};

const WAIT: Duration = Duration::from_secs(30);
/// Tells this binary, run again, to connect to a URL and print the outcome.
const CHILD_URL: &str = "NATS_TEST_NATIVE_ROOTS_URL";
/// What the second run prints before its outcome.
const CHILD_LINE: &str = "CHILD ";

/// Runs this binary again with `SSL_CERT_FILE` set to `ca_pem`, connecting to `url` with
/// default options; returns the outcome it printed.
fn connect_trusting(ca_pem: &str, url: &str) -> String {
    let dir = TempDir::new("native-roots");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let output = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_URL, url)
        .env("SSL_CERT_FILE", &ca_file)
        .env_remove("SSL_CERT_DIR")
        .stderr(Stdio::inherit())
        .output()
        .expect("the second run starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|line| line.split_once(CHILD_LINE).map(|(_, r)| r.to_owned()))
        .unwrap_or_else(|| panic!("the second run printed no outcome: {stdout}"))
}

/// The second run: connects with default options (so with the platform's roots), and
/// prints `ok` after a message went round, or `err` and the error.
#[test]
fn child_process() {
    let Ok(url) = std::env::var(CHILD_URL) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = runtime.block_on(async {
        let options = ConnectOptions::new().connection_timeout(WAIT);
        let client = match nats_client::tokio::connect_with_options(url, options).await {
            Ok(client) => client,
            Err(error) => return format!("err {error}"),
        };
        let mut sub = client.subscribe("roots").await.expect("subscribes");
        client
            .publish("roots", "trusted".into())
            .await
            .expect("publishes");
        let message = tokio::time::timeout(WAIT, sub.next())
            .await
            .expect("the message arrives")
            .expect("the subscription is open");
        format!("ok {}", String::from_utf8_lossy(&message.payload))
    });
    println!("{CHILD_LINE}{outcome}");
}

#[test]
fn the_platform_roots_are_trusted_when_no_ca_is_given() {
    let pki = pki();
    let server = tls_server(&pki, "");
    let url = server.url().replace("nats://", "tls://");
    assert_eq!(connect_trusting(&pki.ca, &url), "ok trusted");
}

#[test]
fn a_server_the_platform_does_not_trust_is_rejected() {
    let pki = pki();
    let server = tls_server(&pki, "");
    let url = server.url().replace("nats://", "tls://");
    let (other_ca, _) = ca("a CA the server's certificate does not chain to");
    let outcome = connect_trusting(&other_ca, &url);
    assert!(
        outcome.starts_with("err") && outcome.to_lowercase().contains("certificate"),
        "an untrusted server must fail verification, got: {outcome}"
    );
}
