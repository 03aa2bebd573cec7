//! Test material shared by the integration tests: generated certificates and TLS servers;
//! runtimes and bounded waits in `runtime`, JetStream servers and configurations in `js`.
#![allow(dead_code)]

pub(crate) mod js;
pub(crate) mod runtime;

use nats_tests::NatsServer;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A CA and a server and client certificate it signed, as PEM.
pub(crate) struct Pki {
    pub(crate) ca: String,
    pub(crate) server_cert: String,
    pub(crate) server_key: String,
    pub(crate) client_cert: String,
    pub(crate) client_key: String,
}

pub(crate) fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(params, key))
}

pub(crate) fn leaf(names: &[&str], issuer: &Issuer<'static, KeyPair>) -> (String, String) {
    let params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

pub(crate) fn pki() -> Pki {
    let (ca, issuer) = ca("nats-sansio test CA");
    let (server_cert, server_key) = leaf(&["localhost", "127.0.0.1"], &issuer);
    let (client_cert, client_key) = leaf(&["client.test"], &issuer);
    Pki {
        ca,
        server_cert,
        server_key,
        client_cert,
        client_key,
    }
}

/// A server with TLS; `extra` goes inside its `tls { }` block.
pub(crate) fn tls_server(pki: &Pki, extra: &str) -> NatsServer {
    NatsServer::builder()
        .file("server-cert.pem", pki.server_cert.clone())
        .file("server-key.pem", pki.server_key.clone())
        .file("ca.pem", pki.ca.clone())
        .config(format!(
            "tls {{\n  cert_file: \"server-cert.pem\"\n  key_file: \"server-key.pem\"\n  ca_file: \"ca.pem\"\n  timeout: 5\n  {extra}\n}}\n"
        ))
        .start()
}

/// One `#[test]` per runtime for each `async fn(Rt)` scenario named.
#[allow(unused_macros)]
macro_rules! on_every_runtime {
    ($($name:ident),* $(,)?) => {
        mod tokio_runtime {
            $(#[test]
            fn $name() {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(super::$name(crate::common::runtime::Rt::Tokio));
            })*
        }
        mod smol_runtime {
            $(#[test]
            fn $name() {
                smol::block_on(super::$name(crate::common::runtime::Rt::Smol));
            })*
        }
        mod async_std_runtime {
            $(#[test]
            fn $name() {
                async_std::task::block_on(super::$name(crate::common::runtime::Rt::AsyncStd));
            })*
        }
    };
}

/// The client's side of an mTLS handshake the server refused for want of a client
/// certificate: the server's TLS 1.3 `certificate_required` alert, reported as a TLS error.
pub(crate) fn assert_refused_for_no_client_cert(
    error: &nats_client::nats_sansio::connection::ConnectionError,
) {
    use nats_client::nats_sansio::connection::ConnectionError;
    match error {
        ConnectionError::Tls(message) if message.contains("CertificateRequired") => {}
        other => panic!("expected the server's certificate_required alert, got {other:?}"),
    }
}

/// The server's side: it logged the failed handshake and why, so the connection was refused
/// by the server's certificate check (not lost or refused for another reason).
pub(crate) fn assert_server_refused_a_client_without_certificate(server: &NatsServer) {
    assert!(
        server.wait_for_log(
            "TLS handshake error: tls: client didn't provide a certificate",
            std::time::Duration::from_secs(10)
        ),
        "the server logged no refused handshake:\n{}",
        server.logs()
    );
}
