//! TLS client configuration from PEM bytes.
//!
//! Invariant: a configuration built here always verifies the server certificate and its
//! host name against a non-empty root store (the given CA PEMs; when none are given, the
//! roots of [`TlsOptions::platform_roots`] if set, else the `webpki-roots` set); a CA PEM
//! without a certificate, or a platform store that yields none, is an error, never an empty
//! store.
//! A connection builds its configuration once, when it is created ([`TlsOptions::prepare`]),
//! and hands the same `Arc<ClientConfig>` to every TLS session it starts: PEM is parsed
//! once, a bad PEM is a configuration error before any socket opens, and rustls' session
//! cache (which lives in the `ClientConfig`) resumes sessions across reconnects.

use std::fmt;
use std::sync::Arc;

use rustls::client::ClientConfig;
use rustls::time_provider::TimeProvider;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

/// TLS options for connecting to NATS servers.
///
/// `Debug` shows how many roots are set and whether a client certificate is set, never the
/// private key.
#[derive(Clone, Default)]
pub struct TlsOptions {
    /// PEM bytes of CA certificates to trust (each may hold several certificates). When
    /// empty, the roots of [`platform_roots`](Self::platform_roots) are used if it is set,
    /// else the Mozilla root set of the `webpki-roots` crate.
    pub root_certificates_pem: Vec<Vec<u8>>,
    /// Where the operating system's trusted roots come from, when no CA PEM is given. The
    /// core reads no files: an adapter supplies the loader (`nats-client`'s feature
    /// `native-roots` does), and it is called once, when the configuration is built.
    pub platform_roots: Option<PlatformRoots>,
    /// PEM bytes of a client certificate chain and its private key, for servers that
    /// verify clients (mTLS).
    pub client_certificate_pem: Option<(Vec<u8>, Vec<u8>)>,
    /// A complete rustls configuration; when set it wins over every other option here.
    pub config: Option<Arc<ClientConfig>>,
    /// Require TLS even if the URL scheme does not (`nats://`).
    pub required: bool,
    /// Start TLS before reading the server's INFO (server option `handshake_first`).
    pub tls_first: bool,
    /// The wall clock used to check certificate validity. `None` uses rustls' default,
    /// which reads the system clock; supply one where there is no system clock (wasm32,
    /// embedded) or for deterministic tests.
    pub time_provider: Option<Arc<dyn TimeProvider>>,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("root_certificates_pem", &self.root_certificates_pem.len())
            .field(
                "client_certificate_pem",
                &self
                    .client_certificate_pem
                    .as_ref()
                    .map(|_| format_args!("<cert chain, key redacted>")),
            )
            .field("platform_roots", &self.platform_roots.is_some())
            .field("config", &self.config.as_ref().map(|_| format_args!("..")))
            .field("required", &self.required)
            .field("tls_first", &self.tls_first)
            .field("time_provider", &self.time_provider)
            .finish()
    }
}

impl TlsOptions {
    /// Builds the rustls client configuration: [`TlsOptions::config`] if set, otherwise one
    /// with the ring crypto provider, TLS 1.2 and 1.3, the configured roots and, if given,
    /// the client certificate. Each call without `config` parses the PEM again and makes a
    /// new configuration with an empty session cache; see [`prepare`](Self::prepare).
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        if let Some(config) = &self.config {
            return Ok(Arc::clone(config));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = match &self.time_provider {
            Some(time) => ClientConfig::builder_with_details(provider, Arc::clone(time)),
            None => ClientConfig::builder_with_provider(provider),
        };
        let builder = builder
            .with_safe_default_protocol_versions()?
            .with_root_certificates(self.root_store()?);
        let config = match &self.client_certificate_pem {
            None => builder.with_no_client_auth(),
            Some((chain_pem, key_pem)) => {
                let chain = client_chain(chain_pem)?;
                let key = PrivateKeyDer::from_pem_slice(key_pem)
                    .map_err(|_| TlsError::InvalidClientKey)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(TlsError::InvalidClientCertificate)?
            }
        };
        Ok(Arc::new(config))
    }

    /// Builds the client configuration once and keeps it in [`config`](Self::config), so
    /// every later [`client_config`](Self::client_config) returns the same `Arc`: PEM is
    /// parsed only here, and sessions started from it share rustls' session cache, so a
    /// reconnect to a server seen before resumes its TLS session instead of a full
    /// handshake. Does nothing but return it when `config` is already set.
    ///
    /// The errors are those of [`client_config`](Self::client_config): a CA or client
    /// certificate PEM that cannot be used.
    pub fn prepare(&mut self) -> Result<Arc<ClientConfig>, TlsError> {
        let config = self.client_config()?;
        self.config = Some(Arc::clone(&config));
        Ok(config)
    }

    fn root_store(&self) -> Result<RootCertStore, TlsError> {
        if self.root_certificates_pem.is_empty() {
            return match &self.platform_roots {
                Some(platform) => platform.store(),
                None => Ok(RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                }),
            };
        }
        let mut store = RootCertStore::empty();
        for pem in &self.root_certificates_pem {
            let mut found = 0usize;
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| TlsError::InvalidCaPem(e.to_string()))?;
                store.add(cert).map_err(TlsError::InvalidCaCertificate)?;
                found += 1;
            }
            if found == 0 {
                return Err(TlsError::NoCertificateInCaPem);
            }
        }
        Ok(store)
    }
}

/// The signature of a [`PlatformRoots`] loader.
type RootsFn = dyn Fn() -> Result<Vec<CertificateDer<'static>>, String> + Send + Sync;

/// A loader of the operating system's trusted root certificates (DER), with an error message
/// when the store cannot be read.
#[derive(Clone)]
pub struct PlatformRoots(Arc<RootsFn>);

impl PlatformRoots {
    /// Wraps a loader.
    pub fn new(
        load: impl Fn() -> Result<Vec<CertificateDer<'static>>, String> + Send + Sync + 'static,
    ) -> PlatformRoots {
        PlatformRoots(Arc::new(load))
    }

    /// Loads the roots into a store; certificates the store cannot use are skipped (system
    /// stores hold some), but a store left empty is an error.
    fn store(&self) -> Result<RootCertStore, TlsError> {
        let certificates = (self.0)().map_err(TlsError::PlatformRoots)?;
        let mut store = RootCertStore::empty();
        let (added, _unusable) = store.add_parsable_certificates(certificates);
        if added == 0 {
            return Err(TlsError::PlatformRoots(
                "the platform's store holds no usable root certificate".into(),
            ));
        }
        Ok(store)
    }
}

impl fmt::Debug for PlatformRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlatformRoots(..)")
    }
}

fn client_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::InvalidClientCertificatePem(e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::NoClientCertificate);
    }
    Ok(chain)
}
