//! TLS against a real nats-server, with certificates generated in the test.
//!
//! Each rejection test checks that the rejection happened for the stated reason: an unknown
//! CA fails certificate verification, a missing client certificate is refused by the server,
//! and a `tls://` URL against a plaintext-only server fails before any CONNECT is sent.

use std::time::Duration;

use nats_client::nats_sansio::connection::{ConnectionError, Options};
use nats_client::BlockingConnection;
use nats_tests::NatsServer;

mod common;
use common::{ca, pki, tls_server, Pki};

const WAIT: Duration = Duration::from_secs(10);

fn options(url: &str, pki: &Pki) -> Options {
    let mut o = Options::new(url).unwrap();
    o.tls.root_certificates_pem = vec![pki.ca.clone().into_bytes()];
    o
}

fn round_trip(client: &mut BlockingConnection) {
    let sid = client.subscribe("secure", None).unwrap();
    client.publish("secure", "over tls").unwrap();
    let msg = client.next_message(sid, WAIT).expect("message over TLS");
    assert_eq!(&msg.payload[..], b"over tls");
}

#[test]
fn verified_tls_connection_carries_messages() {
    let pki = pki();
    let server = tls_server(&pki, "");
    let mut client = BlockingConnection::connect(options(&server.url(), &pki)).expect("TLS");
    round_trip(&mut client);
    // A large message crosses many TLS records.
    let sid = client.subscribe("big", None).unwrap();
    let payload = vec![7u8; 512 * 1024];
    client.publish("big", payload.clone()).unwrap();
    let msg = client
        .next_message(sid, WAIT)
        .expect("large message over TLS");
    assert_eq!(msg.payload, payload);
}

#[test]
fn tls_url_scheme_upgrades() {
    let pki = pki();
    let server = tls_server(&pki, "");
    let url = server.url().replace("nats://", "tls://");
    let mut client = BlockingConnection::connect(options(&url, &pki)).expect("tls:// works");
    round_trip(&mut client);
}

#[test]
fn unknown_ca_is_rejected() {
    let pki = pki();
    let server = tls_server(&pki, "");
    let (other_ca, _) = ca("some other CA");
    let mut o = Options::new(&server.url()).unwrap();
    o.tls.root_certificates_pem = vec![other_ca.into_bytes()];
    match BlockingConnection::connect(o) {
        Err(ConnectionError::Tls(message)) => assert!(
            message.to_lowercase().contains("certificate"),
            "the failure names the certificate: {message}"
        ),
        other => panic!("an unknown CA must be rejected, got {other:?}"),
    }
}

#[test]
fn mutual_tls() {
    let pki = pki();
    let server = tls_server(&pki, "verify: true");
    let mut o = options(&server.url(), &pki);
    o.tls.client_certificate_pem = Some((
        pki.client_cert.clone().into_bytes(),
        pki.client_key.clone().into_bytes(),
    ));
    let mut client = BlockingConnection::connect(o).expect("mTLS with a client certificate");
    round_trip(&mut client);

    // Without the client certificate the server refuses the handshake: the client gets the
    // server's alert, and the server logged why it refused.
    match BlockingConnection::connect(options(&server.url(), &pki)) {
        Err(error) => common::assert_refused_for_no_client_cert(&error),
        Ok(_) => panic!("no client certificate must be refused"),
    }
    common::assert_server_refused_a_client_without_certificate(&server);
}

#[test]
fn tls_first_handshake() {
    let pki = pki();
    let server = tls_server(&pki, "handshake_first: true");
    let mut o = options(&server.url(), &pki);
    o.tls.tls_first = true;
    let mut client = BlockingConnection::connect(o).expect("TLS-first");
    round_trip(&mut client);
}

#[test]
fn tls_url_to_a_plaintext_server_is_refused_before_connect() {
    let server = NatsServer::builder()
        .config("debug: true\ntrace: true\n")
        .start();
    let url = server.url().replace("nats://", "tls://");
    let mut o = Options::new(&url).unwrap();
    o.auth = nats_client::nats_sansio::auth::Auth::UserPassword {
        user: "alice".into(),
        password: "must-not-leak".into(),
    };
    match BlockingConnection::connect(o) {
        Err(ConnectionError::TlsNotAvailable) => {}
        other => panic!("expected TlsNotAvailable, got {other:?}"),
    }
    // The server traces every protocol line it receives. A plaintext client afterwards shows
    // that tracing records CONNECT; the refused client's CONNECT is not among them.
    BlockingConnection::connect(Options::new(&server.url()).unwrap()).expect("plain connect");
    assert!(
        server.wait_for_log("CONNECT", WAIT),
        "tracing shows CONNECT"
    );
    let logs = server.logs();
    assert_eq!(
        logs.matches("- <<- [CONNECT").count(),
        1,
        "only the plaintext client's CONNECT reached the server:\n{logs}"
    );
    assert!(!logs.contains("must-not-leak"));
}
