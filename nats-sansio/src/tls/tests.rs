//! In-memory TLS tests: a rustls server and a [`TlsSession`] exchange bytes through buffers.

use std::io::{Read, Write};
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{AlertDescription, CertificateError, RootCertStore, ServerConfig, ServerConnection};

use super::{TlsError, TlsOptions, TlsSession};

/// A CA and what it signed, as PEM.
struct Pki {
    ca_pem: String,
    server_cert_pem: String,
    server_key_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
}

fn new_ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(params, key))
}

fn leaf(names: &[&str], issuer: &Issuer<'static, KeyPair>) -> (String, String) {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let params = CertificateParams::new(names).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn pki() -> Pki {
    let (ca_pem, issuer) = new_ca("nats-sansio test CA");
    let (server_cert_pem, server_key_pem) = leaf(&["localhost", "127.0.0.1", "::1"], &issuer);
    let (client_cert_pem, client_key_pem) = leaf(&["client.nats"], &issuer);
    Pki {
        ca_pem,
        server_cert_pem,
        server_key_pem,
        client_cert_pem,
        client_key_pem,
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server; with `client_ca` it requires a client certificate issued by that CA.
fn server(pki: &Pki, client_ca: Option<&str>) -> ServerConnection {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.server_cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).unwrap();
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(c.unwrap()).unwrap();
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider())
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_single_cert(chain, key).unwrap();
    let mut conn = ServerConnection::new(Arc::new(config)).unwrap();
    conn.set_buffer_limit(None);
    conn
}

fn options(ca_pem: &str) -> TlsOptions {
    TlsOptions {
        root_certificates_pem: vec![ca_pem.as_bytes().to_vec()],
        ..TlsOptions::default()
    }
}

fn client(opts: &TlsOptions, name: &str) -> TlsSession {
    TlsSession::new(opts.client_config().unwrap(), name).unwrap()
}

#[derive(Debug)]
enum Failure {
    Client(TlsError),
    /// The server failed; `client` is what the client saw after receiving its alert.
    Server {
        server: rustls::Error,
        client: Option<Box<TlsError>>,
    },
}

/// A client session and a rustls server connected by in-memory pipes.
struct Pair {
    client: TlsSession,
    server: ServerConnection,
    client_plain: BytesMut,
    server_plain: Vec<u8>,
    byte_at_a_time: bool,
}

impl Pair {
    fn new(client: TlsSession, server: ServerConnection) -> Self {
        Pair {
            client,
            server,
            client_plain: BytesMut::new(),
            server_plain: Vec::new(),
            byte_at_a_time: false,
        }
    }

    fn deliver_to_client(&mut self, bytes: &[u8]) -> Result<(), TlsError> {
        let step = if self.byte_at_a_time { 1 } else { bytes.len() };
        for piece in bytes.chunks(step.max(1)) {
            let mut buf = BytesMut::from(piece);
            self.client
                .receive_ciphertext(&mut buf, &mut self.client_plain)?;
            assert!(buf.is_empty() || self.client.peer_closed());
        }
        Ok(())
    }

    fn server_output(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.server.wants_write() {
            self.server.write_tls(&mut out).unwrap();
        }
        out
    }

    /// One exchange in each direction; returns whether any byte moved.
    fn step(&mut self) -> Result<bool, Failure> {
        let mut moved = false;
        let mut c2s = BytesMut::new();
        self.client.poll_ciphertext(&mut c2s);
        if !c2s.is_empty() {
            moved = true;
            let step = if self.byte_at_a_time { 1 } else { c2s.len() };
            for piece in c2s.chunks(step) {
                let mut input = piece;
                while !input.is_empty() {
                    self.server.read_tls(&mut input).unwrap();
                    if let Err(server) = self.server.process_new_packets() {
                        let alert = self.server_output();
                        let client = self.deliver_to_client(&alert).err().map(Box::new);
                        return Err(Failure::Server { server, client });
                    }
                    self.drain_server();
                }
            }
        }
        let s2c = self.server_output();
        if !s2c.is_empty() {
            moved = true;
            self.deliver_to_client(&s2c).map_err(Failure::Client)?;
        }
        Ok(moved)
    }

    fn drain_server(&mut self) {
        let mut buf = [0u8; 8192];
        loop {
            match self.server.reader().read(&mut buf) {
                Ok(0) => return,
                Ok(n) => self.server_plain.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => panic!("server read: {e}"),
            }
        }
    }

    /// Steps until nothing moves; panics on livelock.
    fn drive(&mut self) -> Result<(), Failure> {
        for _ in 0..1_000_000 {
            if !self.step()? {
                return Ok(());
            }
        }
        panic!("livelock");
    }

    fn handshake(&mut self) -> Result<(), Failure> {
        self.drive()?;
        assert!(!self.client.is_handshaking());
        assert!(!self.server.is_handshaking());
        Ok(())
    }

    /// Sends all of `data` from the client, interleaving encryption and delivery.
    fn client_send(&mut self, data: &[u8]) {
        let mut data = Bytes::copy_from_slice(data);
        while data.has_remaining() {
            self.client.send_plaintext(&mut data).unwrap();
            self.drive().unwrap();
        }
    }
}

fn assert_cert_error(failure: Failure, check: impl Fn(&CertificateError) -> bool) {
    match failure {
        Failure::Client(TlsError::Rustls(rustls::Error::InvalidCertificate(e))) if check(&e) => {}
        other => panic!("unexpected failure: {other:?}"),
    }
}

#[test]
fn handshake_with_the_right_ca() {
    let pki = pki();
    for name in ["localhost", "127.0.0.1", "::1"] {
        let mut pair = Pair::new(client(&options(&pki.ca_pem), name), server(&pki, None));
        assert!(pair.client.is_handshaking());
        pair.handshake().unwrap();
        assert!(!pair.client.wants_write());
    }
}

#[test]
fn unknown_ca_is_rejected() {
    let pki = pki();
    let other = pki_other_ca();
    let mut pair = Pair::new(client(&options(&other), "localhost"), server(&pki, None));
    let failure = pair.handshake().unwrap_err();
    assert_cert_error(failure, |e| matches!(e, CertificateError::UnknownIssuer));
    // The client queued an alert for the server.
    assert!(pair.client.wants_write());
}

/// A CA unrelated to the server's (a different name, so it is not even a candidate issuer).
fn pki_other_ca() -> String {
    new_ca("some other CA").0
}

#[test]
fn wrong_hostname_is_rejected() {
    let pki = pki();
    for name in ["nats.example.com", "10.0.0.1"] {
        let mut pair = Pair::new(client(&options(&pki.ca_pem), name), server(&pki, None));
        let failure = pair.handshake().unwrap_err();
        assert_cert_error(failure, |e| {
            matches!(
                e,
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            )
        });
    }
}

#[test]
fn mtls_with_client_certificate() {
    let pki = pki();
    let mut opts = options(&pki.ca_pem);
    opts.client_certificate_pem = Some((
        pki.client_cert_pem.clone().into_bytes(),
        pki.client_key_pem.clone().into_bytes(),
    ));
    let mut pair = Pair::new(client(&opts, "localhost"), server(&pki, Some(&pki.ca_pem)));
    pair.handshake().unwrap();
    assert!(pair
        .server
        .peer_certificates()
        .is_some_and(|c| c.len() == 1));
    pair.client_send(b"CONNECT {}\r\n");
    assert_eq!(pair.server_plain, b"CONNECT {}\r\n");
}

#[test]
fn mtls_without_client_certificate_fails() {
    let pki = pki();
    let mut pair = Pair::new(
        client(&options(&pki.ca_pem), "localhost"),
        server(&pki, Some(&pki.ca_pem)),
    );
    match pair.handshake().unwrap_err() {
        Failure::Server { server, client } => {
            assert_eq!(server, rustls::Error::NoCertificatesPresented);
            assert_eq!(
                client,
                Some(Box::new(TlsError::Rustls(rustls::Error::AlertReceived(
                    AlertDescription::CertificateRequired
                ))))
            );
        }
        other => panic!("unexpected failure: {other:?}"),
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn data_flows_both_ways_including_one_mebibyte() {
    let pki = pki();
    let mut pair = Pair::new(
        client(&options(&pki.ca_pem), "localhost"),
        server(&pki, None),
    );
    // Plaintext sent before the handshake completes is buffered and flows after it.
    let mut early = Bytes::from_static(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
    pair.client.send_plaintext(&mut early).unwrap();
    assert!(early.is_empty());
    pair.handshake().unwrap();
    assert_eq!(
        pair.server_plain,
        b"CONNECT {\"verbose\":false}\r\nPING\r\n"
    );

    pair.server.writer().write_all(b"PONG\r\n").unwrap();
    pair.drive().unwrap();
    assert_eq!(&pair.client_plain[..], b"PONG\r\n");

    // 1 MiB from the server in a single ciphertext buffer: far more than rustls' 16 KiB
    // plaintext buffer and more than one read_tls call takes.
    let big = pattern(1 << 20, 7);
    pair.client_plain.clear();
    pair.server.writer().write_all(&big).unwrap();
    let ciphertext = pair.server_output();
    assert!(ciphertext.len() > big.len());
    let mut buf = BytesMut::from(&ciphertext[..]);
    pair.client
        .receive_ciphertext(&mut buf, &mut pair.client_plain)
        .unwrap();
    assert!(buf.is_empty());
    assert_eq!(pair.client_plain.len(), big.len());
    assert!(pair.client_plain[..] == big[..]);

    // 1 MiB from the client: send_plaintext takes it in bounded pieces.
    let big = pattern(1 << 20, 3);
    pair.server_plain.clear();
    let mut data = Bytes::from(big.clone());
    pair.client.send_plaintext(&mut data).unwrap();
    assert!(data.has_remaining(), "rustls bounds what it buffers");
    pair.client_send(&data);
    assert!(pair.server_plain == big);
}

#[test]
fn byte_at_a_time_ciphertext() {
    let pki = pki();
    let mut pair = Pair::new(
        client(&options(&pki.ca_pem), "localhost"),
        server(&pki, None),
    );
    pair.byte_at_a_time = true;
    pair.handshake().unwrap();
    pair.client_send(b"PING\r\n");
    assert_eq!(pair.server_plain, b"PING\r\n");
    let msg = pattern(40_000, 1);
    pair.server.writer().write_all(&msg).unwrap();
    pair.drive().unwrap();
    assert!(pair.client_plain[..] == msg[..]);
}

#[test]
fn close_notify_from_the_server() {
    let pki = pki();
    let mut pair = Pair::new(
        client(&options(&pki.ca_pem), "localhost"),
        server(&pki, None),
    );
    pair.handshake().unwrap();
    pair.server.writer().write_all(b"last words").unwrap();
    pair.server.send_close_notify();
    assert!(!pair.client.peer_closed());
    let mut ciphertext = BytesMut::from(&pair.server_output()[..]);
    // Garbage after close_notify is discarded, not an error.
    ciphertext.extend_from_slice(b"trailing bytes");
    pair.client
        .receive_ciphertext(&mut ciphertext, &mut pair.client_plain)
        .unwrap();
    assert!(ciphertext.is_empty());
    assert_eq!(&pair.client_plain[..], b"last words");
    assert!(pair.client.peer_closed());

    // Our close_notify reaches the server.
    pair.client.send_close_notify();
    pair.drive().unwrap();
    let state = pair.server.process_new_packets().unwrap();
    assert!(state.peer_has_closed(), "server sees a clean close");
}

#[test]
fn config_errors() {
    let pki = pki();
    let cfg = |o: TlsOptions| o.client_config().map(|_| ()).unwrap_err();

    // A CA PEM with no certificate in it (here: only a private key) is an error.
    let e = cfg(options(&pki.server_key_pem));
    assert_eq!(e, TlsError::NoCertificateInCaPem);
    assert_eq!(e.to_string(), "no certificate found in CA PEM");
    assert_eq!(cfg(options("")), TlsError::NoCertificateInCaPem);
    let e = cfg(TlsOptions {
        root_certificates_pem: vec![pki.ca_pem.clone().into_bytes(), Vec::new()],
        ..TlsOptions::default()
    });
    assert_eq!(e, TlsError::NoCertificateInCaPem);

    let with_client = |chain: &str, key: &str| TlsOptions {
        client_certificate_pem: Some((chain.as_bytes().to_vec(), key.as_bytes().to_vec())),
        ..options(&pki.ca_pem)
    };
    assert_eq!(
        cfg(with_client(&pki.client_cert_pem, "not a key")),
        TlsError::InvalidClientKey
    );
    assert_eq!(
        cfg(with_client(&pki.client_cert_pem, &pki.client_cert_pem)),
        TlsError::InvalidClientKey
    );
    assert_eq!(
        cfg(with_client("", &pki.client_key_pem)),
        TlsError::NoClientCertificate
    );
    // A key that does not belong to the certificate.
    assert!(matches!(
        cfg(with_client(&pki.client_cert_pem, &pki.server_key_pem)),
        TlsError::InvalidClientCertificate(_)
    ));

    let config = options(&pki.ca_pem).client_config().unwrap();
    assert_eq!(
        TlsSession::new(config, "not a host name!").unwrap_err(),
        TlsError::InvalidServerName("not a host name!".into())
    );
}

#[test]
fn default_roots_and_whole_config() {
    // No PEM roots: the webpki-roots set is used.
    let config = TlsOptions::default().client_config().unwrap();
    let session = TlsSession::new(config.clone(), "demo.nats.io").unwrap();
    assert!(session.is_handshaking() && session.wants_write());
    // A whole config wins over the other options.
    let opts = TlsOptions {
        config: Some(config.clone()),
        root_certificates_pem: vec![b"garbage".to_vec()],
        ..TlsOptions::default()
    };
    assert!(Arc::ptr_eq(&opts.client_config().unwrap(), &config));
}

#[test]
fn options_debug_hides_the_key() {
    let pki = pki();
    let opts = TlsOptions {
        client_certificate_pem: Some((
            pki.client_cert_pem.clone().into_bytes(),
            pki.client_key_pem.clone().into_bytes(),
        )),
        ..options(&pki.ca_pem)
    };
    let dbg = format!("{opts:?} {opts:#?}");
    assert!(!dbg.contains("PRIVATE KEY"), "{dbg}");
    let key_body = pki.client_key_pem.lines().nth(1).unwrap();
    assert!(!dbg.contains(key_body), "{dbg}");
    assert!(dbg.contains("redacted"));
}

/// A TLS NATS server in memory for [`Connection`](crate::Connection) tests: the plaintext
/// INFO, then the TLS handshake, then PONG for every PING.
struct NatsTlsServer {
    config: Arc<ServerConfig>,
}

impl NatsTlsServer {
    fn new(pki: &Pki) -> NatsTlsServer {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(pki.server_cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).unwrap();
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        NatsTlsServer {
            config: Arc::new(config),
        }
    }

    /// Runs one connection of `conn` (which just asked to connect) to the end of the NATS
    /// handshake, with a fresh server session from the same server configuration.
    fn serve(&self, conn: &mut crate::Connection, now: std::time::Instant) {
        use crate::connection::ConnectionState;
        let mut tls = ServerConnection::new(Arc::clone(&self.config)).unwrap();
        conn.handle_connected(now);
        conn.handle_received(
            now,
            b"INFO {\"server_id\":\"S\",\"proto\":1,\"max_payload\":1024,\"tls_required\":true}\r\n",
        );
        let mut plain = Vec::new();
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(buf) = conn.poll_transmit() {
                let bytes = buf.copy_to_bytes(buf.remaining());
                let mut input = &bytes[..];
                while !input.is_empty() {
                    tls.read_tls(&mut input).unwrap();
                    tls.process_new_packets().unwrap();
                }
                moved = true;
            }
            let mut buf = [0u8; 4096];
            loop {
                match tls.reader().read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => plain.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("server read: {e}"),
                }
            }
            while let Some(at) = plain.windows(6).position(|w| w == b"PING\r\n") {
                plain.drain(..at + 6);
                tls.writer().write_all(b"PONG\r\n").unwrap();
            }
            let mut out = Vec::new();
            while tls.wants_write() {
                tls.write_tls(&mut out).unwrap();
            }
            if !out.is_empty() {
                conn.handle_received(now, &out);
                moved = true;
            }
            if !moved {
                break;
            }
        }
        assert_eq!(conn.state(), ConnectionState::Connected);
    }
}

#[test]
fn a_reconnect_resumes_the_tls_session() {
    use crate::connection::{Directive, Event, Options};
    use rustls::HandshakeKind;

    let pki = pki();
    let server = NatsTlsServer::new(&pki);
    let mut opts = Options::new("tls://localhost:4222").unwrap();
    opts.seed = Some(1);
    opts.tls = options(&pki.ca_pem);
    let mut now = crate::test_clock::base();
    let mut conn = crate::Connection::new(opts, now).unwrap();
    assert!(matches!(
        conn.poll_directive(),
        Some(Directive::Connect { .. })
    ));
    server.serve(&mut conn, now);
    let kind = |conn: &crate::Connection| conn.tls_session().unwrap().rustls().handshake_kind();
    assert_eq!(kind(&conn), Some(HandshakeKind::Full));

    conn.handle_disconnected(now, "connection reset");
    assert!(conn.tls_session().is_none());
    let reconnect = loop {
        if let Some(directive) = conn.poll_directive() {
            break directive;
        }
        now = conn.poll_timeout().expect("a reconnect back-off");
        conn.handle_timeout(now);
    };
    assert!(matches!(reconnect, Directive::Connect { .. }));
    server.serve(&mut conn, now);
    assert_eq!(
        kind(&conn),
        Some(HandshakeKind::Resumed),
        "the second handshake of the same Connection resumes the first session"
    );
    assert!(std::iter::from_fn(|| conn.poll_event()).any(|e| matches!(
        e,
        Event::Connection(crate::ConnectionEvent::Reconnected { .. })
    )));
}

#[test]
fn a_bad_pem_is_a_config_error_of_connection_new() {
    use crate::connection::{ConfigError, Options};

    let pki = pki();
    let now = crate::test_clock::base();
    let with_tls = |tls: TlsOptions| {
        let mut opts = Options::new("tls://localhost:4222").unwrap();
        opts.seed = Some(1);
        opts.tls = tls;
        crate::Connection::new(opts, now)
    };
    let bad_ca = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
    match with_tls(options(bad_ca)) {
        Err(ConfigError::Tls(TlsError::InvalidCaPem(_))) => {}
        other => panic!("expected an invalid CA PEM, got {other:?}"),
    }
    let err = with_tls(options("no pem here")).unwrap_err();
    assert_eq!(err, ConfigError::Tls(TlsError::NoCertificateInCaPem));
    assert_eq!(
        err.to_string(),
        "invalid TLS configuration: no certificate found in CA PEM"
    );
    let mut opts = options(&pki.ca_pem);
    opts.client_certificate_pem = Some((pki.client_cert_pem.into_bytes(), b"no key".to_vec()));
    assert_eq!(
        with_tls(opts).unwrap_err(),
        ConfigError::Tls(TlsError::InvalidClientKey)
    );
    // Good options: the connection asks for a socket only now.
    let mut conn = with_tls(options(&pki.ca_pem)).unwrap();
    assert!(conn.poll_directive().is_some());
}
