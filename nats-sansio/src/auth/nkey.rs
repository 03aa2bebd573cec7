//! Signing the server nonce with a user NKey seed.
//!
//! Invariant: only user seeds (`SU...`) sign; the signature is the ed25519 signature of the
//! nonce bytes, base64url-encoded without padding; no error or `Debug` output contains the
//! seed or the signature. Without the `nkeys` feature every call fails with
//! [`AuthError::NKeysDisabled`].

use std::fmt;

use super::{AuthError, Redacted};

/// The result of signing a server nonce: what goes into CONNECT `nkey` and `sig`.
#[derive(Clone, PartialEq, Eq)]
pub struct NonceSignature {
    /// The user's public NKey (`U...`). Not a secret.
    pub public_key: String,
    /// base64url (no padding) of the ed25519 signature of the nonce.
    pub signature: String,
}

impl fmt::Debug for NonceSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceSignature")
            .field("public_key", &self.public_key)
            .field("signature", &Redacted(true))
            .finish()
    }
}

/// Signs `nonce` (the bytes of the INFO `nonce` string) with the user NKey `seed` (`SU...`).
///
/// Fails with [`AuthError::InvalidSeed`] if the seed does not decode,
/// [`AuthError::NotUserSeed`] if it is not a user seed, and [`AuthError::NKeysDisabled`]
/// when the crate is built without the `nkeys` feature.
pub fn sign_nonce(seed: &str, nonce: &[u8]) -> Result<NonceSignature, AuthError> {
    imp::sign_nonce(seed.trim(), nonce)
}

#[cfg(feature = "nkeys")]
mod imp {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use super::{AuthError, NonceSignature};

    pub(super) fn sign_nonce(seed: &str, nonce: &[u8]) -> Result<NonceSignature, AuthError> {
        let pair = nkeys::KeyPair::from_seed(seed)
            // The nkeys error kind text never contains key material.
            .map_err(|e| AuthError::InvalidSeed(e.kind().as_str()))?;
        if pair.key_pair_type() != nkeys::KeyPairType::User {
            return Err(AuthError::NotUserSeed);
        }
        let raw = pair
            .sign(nonce)
            .map_err(|e| AuthError::Signing(e.kind().as_str()))?;
        Ok(NonceSignature {
            public_key: pair.public_key(),
            signature: URL_SAFE_NO_PAD.encode(raw),
        })
    }
}

#[cfg(not(feature = "nkeys"))]
mod imp {
    use super::{AuthError, NonceSignature};

    pub(super) fn sign_nonce(_seed: &str, _nonce: &[u8]) -> Result<NonceSignature, AuthError> {
        Err(AuthError::NKeysDisabled)
    }
}

#[cfg(all(test, feature = "nkeys"))]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use super::*;

    #[test]
    fn signature_verifies() {
        let pair = nkeys::KeyPair::new_user();
        let seed = pair.seed().unwrap();
        let nonce = b"PXoWU7zWAMt75FY";
        let sig = sign_nonce(&seed, nonce).unwrap();
        assert_eq!(sig.public_key, pair.public_key());
        assert!(sig.public_key.starts_with('U'));
        assert!(!sig.signature.contains('=') && !sig.signature.contains('+'));
        let raw = URL_SAFE_NO_PAD.decode(&sig.signature).unwrap();
        assert_eq!(raw.len(), 64);
        let verifier = nkeys::KeyPair::from_public_key(&sig.public_key).unwrap();
        verifier.verify(nonce, &raw).unwrap();
        assert!(verifier.verify(b"another nonce", &raw).is_err());
    }

    #[test]
    fn rejects_bad_and_non_user_seeds() {
        let account = nkeys::KeyPair::new_account().seed().unwrap();
        assert_eq!(sign_nonce(&account, b"n"), Err(AuthError::NotUserSeed));
        let err = sign_nonce("SUNOTASEED", b"n").unwrap_err();
        assert!(matches!(err, AuthError::InvalidSeed(_)));
        assert!(!err.to_string().contains("SUNOTASEED"));
        // A valid user seed with one character changed fails its checksum.
        let mut seed = nkeys::KeyPair::new_user().seed().unwrap();
        let c = if &seed[20..21] == "A" { "B" } else { "A" };
        seed.replace_range(20..21, c);
        let err = sign_nonce(&seed, b"n").unwrap_err();
        assert!(matches!(err, AuthError::InvalidSeed(_)), "{err:?}");
        assert!(!err.to_string().contains(&seed));
        assert!(matches!(
            sign_nonce("", b"n"),
            Err(AuthError::InvalidSeed(_))
        ));
    }

    #[test]
    fn debug_redacts() {
        let seed = nkeys::KeyPair::new_user().seed().unwrap();
        let sig = sign_nonce(&seed, b"n").unwrap();
        let dbg = format!("{sig:?}");
        assert!(!dbg.contains(&sig.signature), "{dbg}");
        assert!(dbg.contains(&sig.public_key));
    }
}
