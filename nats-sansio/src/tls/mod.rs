//! TLS for the NATS transport: rustls' client driven entirely in memory.
//!
//! Invariant: nothing here does IO. [`TlsSession`] only moves bytes between the caller's
//! buffers and rustls (`read_tls`/`process_new_packets`/`reader` in, `writer`/`write_tls`
//! out), hostname verification is always on, and no `Debug` output or error message contains
//! private key material. The one ambient input is wall-clock time for certificate validity,
//! which rustls reads from the system unless [`TlsOptions::time_provider`] supplies it.
//!
//! - [`TlsOptions`] turns PEM roots and an optional client certificate (or a whole
//!   `rustls::ClientConfig`) into a client configuration.
//! - [`TlsSession`] is one TLS connection: feed it ciphertext from the socket, take
//!   plaintext out, give it plaintext to send and take ciphertext for the socket.

mod config;
mod session;
#[cfg(test)]
mod tests;

pub use config::{PlatformRoots, TlsOptions};
/// The rustls version the TLS layer uses, for building a custom `ClientConfig`.
pub use rustls;
pub use session::TlsSession;

/// Why TLS could not be configured or the TLS session failed.
///
/// Messages never contain private key material.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TlsError {
    /// The TLS layer failed: handshake, certificate verification, a received alert, a bad
    /// record, ... (for example `InvalidCertificate(UnknownIssuer)` for an untrusted server).
    #[error("TLS error: {0}")]
    Rustls(#[from] rustls::Error),
    /// A CA PEM given in [`TlsOptions::root_certificates_pem`] contains no certificate.
    #[error("no certificate found in CA PEM")]
    NoCertificateInCaPem,
    /// A CA PEM could not be parsed.
    #[error("invalid CA PEM: {0}")]
    InvalidCaPem(String),
    /// A CA certificate could not be used as a trust anchor.
    #[error("invalid CA certificate: {0}")]
    InvalidCaCertificate(rustls::Error),
    /// The platform's trusted roots ([`TlsOptions::platform_roots`]) could not be loaded.
    #[error("cannot load the platform's root certificates: {0}")]
    PlatformRoots(String),
    /// The client certificate chain PEM contains no certificate.
    #[error("no certificate found in client certificate PEM")]
    NoClientCertificate,
    /// The client certificate chain PEM could not be parsed.
    #[error("invalid client certificate PEM: {0}")]
    InvalidClientCertificatePem(String),
    /// The client private key PEM is missing, malformed or of an unsupported kind.
    #[error("invalid client key (expected a PKCS#8, PKCS#1 or SEC1 private key in PEM)")]
    InvalidClientKey,
    /// rustls rejected the client certificate and key (for example they do not match).
    #[error("client certificate rejected: {0}")]
    InvalidClientCertificate(rustls::Error),
    /// The server name is neither a valid DNS name nor an IP address.
    #[error("invalid TLS server name {0:?}")]
    InvalidServerName(String),
    /// Moving bytes through rustls failed (a record too large to buffer, ...).
    #[error("TLS transport error: {0}")]
    Transport(String),
}
