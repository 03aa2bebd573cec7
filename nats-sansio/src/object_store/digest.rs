//! The object digest (spec §5.1): `SHA-256=` followed by the padded URL-safe base64 of the
//! SHA-256 of the whole object, computed incrementally as chunks go out or come in.
//!
//! Invariant: a digest string is only ever produced by [`Digest::finish`] from every byte fed
//! in order; a check compares the 32 hash bytes (so a digest written with the standard base64
//! alphabet by another client still matches), and a mismatch or an unreadable expected digest
//! is an error naming both the expected and the actual digest.

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine;
use sha2::{Digest as _, Sha256};

use super::ObjectStoreError;

/// The algorithm prefix of every digest string.
pub const DIGEST_PREFIX: &str = "SHA-256=";

/// A SHA-256 over an object's bytes, fed in pieces.
///
/// ```
/// use nats_sansio::object_store::Digest;
///
/// let mut digest = Digest::new();
/// digest.update(b"hel");
/// digest.update(b"lo");
/// assert_eq!(digest.finish(), "SHA-256=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Digest(Sha256);

impl Digest {
    /// The digest of nothing yet.
    pub fn new() -> Digest {
        Digest(Sha256::new())
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest string of everything fed: `SHA-256=<base64url with padding>`.
    pub fn finish(self) -> String {
        format!("{DIGEST_PREFIX}{}", URL_SAFE.encode(self.0.finalize()))
    }

    /// Compares the digest of everything fed with `expected` (the object's recorded digest).
    ///
    /// # Errors
    ///
    /// [`ObjectStoreError::DigestMismatch`] naming both digests.
    pub fn check(self, name: &str, expected: &str) -> Result<(), ObjectStoreError> {
        let actual = self.finish();
        if same_digest(expected, &actual) {
            Ok(())
        } else {
            Err(ObjectStoreError::DigestMismatch {
                name: name.to_owned(),
                expected: expected.to_owned(),
                actual,
            })
        }
    }
}

/// The digest string of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    let mut digest = Digest::new();
    digest.update(bytes);
    digest.finish()
}

/// Whether two digest strings name the same hash (either base64 alphabet, padded or not).
fn same_digest(a: &str, b: &str) -> bool {
    match (hash_bytes(a), hash_bytes(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn hash_bytes(digest: &str) -> Option<Vec<u8>> {
    let text = digest.strip_prefix(DIGEST_PREFIX)?;
    let unpadded = text.trim_end_matches('=');
    let decoded = URL_SAFE
        .decode(text)
        .or_else(|_| STANDARD.decode(text))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(unpadded))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(unpadded))
        .ok()?;
    (decoded.len() == 32).then_some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed independently:
    /// `python3 -c 'import hashlib,base64; print(base64.urlsafe_b64encode(hashlib.sha256(b"").digest()).decode())'`
    const EMPTY: &str = "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=";
    /// The same for `b"hello"`.
    const HELLO: &str = "SHA-256=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=";

    #[test]
    fn known_answers() {
        assert_eq!(digest_of(b""), EMPTY);
        assert_eq!(digest_of(b"hello"), HELLO);
        let mut pieces = Digest::new();
        for b in b"hello" {
            pieces.update(&[*b]);
        }
        assert_eq!(pieces.finish(), HELLO, "one byte at a time");
    }

    #[test]
    fn check_names_expected_and_actual() {
        let mut d = Digest::new();
        d.update(b"hello");
        assert!(d.clone().check("x", HELLO).is_ok());
        // The same hash in the standard alphabet (nats.go before URL encoding did this).
        assert!(d
            .clone()
            .check("x", "SHA-256=LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=")
            .is_ok());
        match d.clone().check("x", EMPTY) {
            Err(ObjectStoreError::DigestMismatch {
                name,
                expected,
                actual,
            }) => {
                assert_eq!((name.as_str(), expected.as_str()), ("x", EMPTY));
                assert_eq!(actual, HELLO);
            }
            other => panic!("{other:?}"),
        }
        assert!(d.clone().check("x", "").is_err(), "no digest recorded");
        assert!(d.check("x", "MD5=abc").is_err(), "another algorithm");
    }
}
