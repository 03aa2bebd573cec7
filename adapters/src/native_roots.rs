//! The operating system's trusted root certificates, for servers whose certificates chain to
//! a CA the system trusts but the bundled `webpki-roots` set does not (a company CA installed
//! system-wide, for example).
//!
//! Invariant: the store is read only when a TLS configuration is built (the first TLS
//! connection, or at connect time when TLS is asked for), never for a client that stays in
//! the clear, and a store that yields no certificate is an error, not an empty trust list.

use nats_sansio::tls::rustls::pki_types::CertificateDer;
use nats_sansio::tls::PlatformRoots;

/// The loader `ConnectOptions` installs by default with the feature `native-roots`.
pub(crate) fn platform_roots() -> PlatformRoots {
    PlatformRoots::new(load)
}

/// Reads the platform's store (honouring `SSL_CERT_FILE` and `SSL_CERT_DIR`, as OpenSSL
/// does); certificates that cannot be read are skipped unless none can be.
fn load() -> Result<Vec<CertificateDer<'static>>, String> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        return Err(if errors.is_empty() {
            "no certificate found in the platform's store".into()
        } else {
            errors.join("; ")
        });
    }
    Ok(found.certs)
}
