//! Test material shared by the integration tests: generated certificates and TLS servers.
#![allow(dead_code)]

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

fn leaf(names: &[&str], issuer: &Issuer<'static, KeyPair>) -> (String, String) {
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
