//! Credentials, server addresses and nonce signing: everything CONNECT needs to authenticate.
//!
//! Invariant: no secret (password, token, JWT, seed, signature) ever appears in a `Debug` or
//! `Display` output or an error message of this module; every type that holds one has a
//! hand-written, redacting `Debug`. Everything here is pure: the caller reads `.creds` files
//! and passes their contents in.
//!
//! - [`ServerAddr`] parses `nats://`, `tls://`, `ws://`, `wss://` URLs and their userinfo.
//! - [`Auth`] is the user's choice of method; [`resolve`] turns it, the URL and the server
//!   nonce into the CONNECT credential fields ([`AuthFields`]).
//! - [`parse_creds`] parses a `.creds` file and [`sign_nonce`] signs the nonce (feature
//!   `nkeys`). Adapters build "credentials file" auth on [`AuthCallback`]: re-read the file on
//!   every connect, then `parse_creds` and `sign_nonce`.

use std::fmt;
use std::sync::Arc;

mod addr;
mod creds;
mod nkey;

pub use addr::{AddrError, Scheme, ServerAddr};
pub use creds::{parse_creds, Creds};
pub use nkey::{sign_nonce, NonceSignature};

/// Prints `Some(<redacted>)` or `None` in place of a secret.
pub(crate) struct Redacted(pub(crate) bool);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 {
            f.write_str("Some(<redacted>)")
        } else {
            f.write_str("None")
        }
    }
}

/// Why credentials could not be prepared. Messages never contain a secret.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AuthError {
    /// NKey or JWT authentication was configured but the server's INFO carried no `nonce`
    /// to sign (the server is not configured for NKey/JWT authentication).
    #[error("NKey/JWT authentication needs a nonce, but the server sent none")]
    MissingNonce,
    /// The NKey seed does not decode (bad length, alphabet, prefix or checksum).
    #[error("invalid NKey seed: {0}")]
    InvalidSeed(&'static str),
    /// The NKey seed decodes but is not a user seed (`SU...`).
    #[error("NKey seed is not a user seed (expected a seed starting with \"SU\")")]
    NotUserSeed,
    /// Signing the nonce failed.
    #[error("failed to sign the server nonce: {0}")]
    Signing(&'static str),
    /// A `.creds` file has no armored user JWT block.
    #[error("creds file has no armored user JWT block (-----BEGIN NATS USER JWT-----)")]
    CredsMissingJwt,
    /// A `.creds` file has a JWT block but no armored seed block after it.
    #[error("creds file has no armored seed block (-----BEGIN USER NKEY SEED-----)")]
    CredsMissingSeed,
    /// The seed in a `.creds` file is not a user seed (`SU...`).
    #[error("creds seed is not a user seed")]
    CredsNotUserSeed,
    /// The user's [`AuthCallback`] returned an error (its message, as given).
    #[error("auth callback failed: {0}")]
    Callback(String),
    /// [`Auth::Deferred`] credentials cannot be resolved here: the driver supplies them.
    #[error("deferred credentials are supplied by the driver, not resolved by the core")]
    Deferred,
    /// NKey/JWT authentication was requested but the crate was built without the `nkeys`
    /// feature.
    #[error("NKey/JWT authentication needs the `nkeys` feature of nats-sansio")]
    NKeysDisabled,
}

/// The authentication method for CONNECT.
///
/// An explicit method wins over credentials in the server URL; with [`Auth::None`] the URL's
/// `user:pass@` or `token@` is used. `Debug` never prints a secret.
#[derive(Clone, Default)]
pub enum Auth {
    /// No explicit credentials (the URL's userinfo, if any, is used).
    #[default]
    None,
    /// A token, sent as `auth_token`.
    Token(String),
    /// A user and password, sent as `user` and `pass`.
    UserPassword {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// A bare NKey: the user seed (`SU...`) signs the server nonce; sends `nkey` + `sig`.
    NKey {
        /// The user NKey seed.
        seed: String,
    },
    /// A user JWT and its seed (the contents of a `.creds` file); sends `jwt` + `sig`.
    Jwt {
        /// The user JWT.
        jwt: String,
        /// The user NKey seed that signs the nonce.
        seed: String,
    },
    /// A user callback called on every connect with the server nonce.
    Callback(AuthCallback),
    /// The driver supplies the credentials on every connect: the connection asks with
    /// [`Directive::Authenticate`](crate::Directive::Authenticate) and waits for
    /// [`Connection::handle_credentials`](crate::Connection::handle_credentials). This is
    /// how an async callback (which may await a vault or a signing service) is driven
    /// without the core running it.
    Deferred,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Token(_) => f.write_str("Token(<redacted>)"),
            Auth::UserPassword { user, .. } => f
                .debug_struct("UserPassword")
                .field("user", user)
                .field("password", &format_args!("<redacted>"))
                .finish(),
            Auth::NKey { .. } => f
                .debug_struct("NKey")
                .field("seed", &format_args!("<redacted>"))
                .finish(),
            Auth::Jwt { .. } => f
                .debug_struct("Jwt")
                .field("jwt", &format_args!("<redacted>"))
                .field("seed", &format_args!("<redacted>"))
                .finish(),
            Auth::Callback(cb) => f.debug_tuple("Callback").field(cb).finish(),
            Auth::Deferred => f.write_str("Deferred"),
        }
    }
}

/// The signature of an [`AuthCallback`] function.
type AuthFn = dyn Fn(Option<&str>) -> Result<AuthResponse, String> + Send + Sync;

/// A user function that produces credentials on every connect.
///
/// It receives the server nonce (`None` if the server sent none) and returns the fields to
/// send, or an error message (surfaced as [`AuthError::Callback`]; do not put secrets in it).
/// It must not block for long: it runs inside the connection machine.
#[derive(Clone)]
pub struct AuthCallback(Arc<AuthFn>);

impl AuthCallback {
    /// Wraps a function.
    pub fn new(
        f: impl Fn(Option<&str>) -> Result<AuthResponse, String> + Send + Sync + 'static,
    ) -> Self {
        AuthCallback(Arc::new(f))
    }

    /// Calls the function with the server nonce.
    pub fn call(&self, nonce: Option<&str>) -> Result<AuthResponse, String> {
        (self.0)(nonce)
    }
}

impl fmt::Debug for AuthCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthCallback(..)")
    }
}

/// What an [`AuthCallback`] returns: any of the CONNECT credential fields.
///
/// `nkey` is sent only when `jwt` is not set. `Debug` redacts the secrets.
#[derive(Clone, Default)]
pub struct AuthResponse {
    /// CONNECT `user`.
    pub user: Option<String>,
    /// CONNECT `pass`.
    pub password: Option<String>,
    /// CONNECT `auth_token`.
    pub token: Option<String>,
    /// CONNECT `jwt`.
    pub jwt: Option<String>,
    /// CONNECT `nkey` (public user key `U...`).
    pub nkey: Option<String>,
    /// CONNECT `sig`: base64url (no padding) signature of the nonce.
    pub signature: Option<String>,
}

impl fmt::Debug for AuthResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthResponse")
            .field("user", &self.user)
            .field("password", &Redacted(self.password.is_some()))
            .field("token", &Redacted(self.token.is_some()))
            .field("jwt", &Redacted(self.jwt.is_some()))
            .field("nkey", &self.nkey)
            .field("signature", &Redacted(self.signature.is_some()))
            .finish()
    }
}

impl From<AuthResponse> for AuthFields {
    /// The fields to send; `nkey` is dropped when a `jwt` is given (the server takes the
    /// key from the JWT).
    fn from(r: AuthResponse) -> AuthFields {
        let nkey = if r.jwt.is_some() { None } else { r.nkey };
        AuthFields {
            user: r.user,
            pass: r.password,
            auth_token: r.token,
            jwt: r.jwt,
            nkey,
            sig: r.signature,
        }
    }
}

/// The credential fields of CONNECT, named as on the wire.
///
/// `Debug` redacts `pass`, `auth_token`, `jwt` and `sig`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AuthFields {
    /// `user`.
    pub user: Option<String>,
    /// `pass`.
    pub pass: Option<String>,
    /// `auth_token`.
    pub auth_token: Option<String>,
    /// `jwt`: the user JWT.
    pub jwt: Option<String>,
    /// `nkey`: the public user NKey, only when no JWT is sent.
    pub nkey: Option<String>,
    /// `sig`: base64url (no padding) ed25519 signature of the server nonce.
    pub sig: Option<String>,
}

impl AuthFields {
    /// Whether no credential field is set.
    pub fn is_empty(&self) -> bool {
        self.user.is_none()
            && self.pass.is_none()
            && self.auth_token.is_none()
            && self.jwt.is_none()
            && self.nkey.is_none()
            && self.sig.is_none()
    }
}

impl fmt::Debug for AuthFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthFields")
            .field("user", &self.user)
            .field("pass", &Redacted(self.pass.is_some()))
            .field("auth_token", &Redacted(self.auth_token.is_some()))
            .field("jwt", &Redacted(self.jwt.is_some()))
            .field("nkey", &self.nkey)
            .field("sig", &Redacted(self.sig.is_some()))
            .finish()
    }
}

/// Computes the CONNECT credential fields for `auth` against the server at `addr`, which
/// sent `nonce` in its INFO (`None` if it sent none).
///
/// - An explicit `auth` wins over URL userinfo; with [`Auth::None`] the URL's user/password
///   (→ `user`, `pass`) or token (→ `auth_token`) is used.
/// - [`Auth::NKey`] → `nkey` + `sig`; [`Auth::Jwt`] → `jwt` + `sig` (no `nkey`). Both need a
///   nonce ([`AuthError::MissingNonce`] otherwise; an empty nonce counts as none).
/// - [`Auth::Callback`] is called with the nonce and its fields are mapped one to one,
///   except that `nkey` is dropped when a `jwt` is present.
pub fn resolve(
    auth: &Auth,
    addr: &ServerAddr,
    nonce: Option<&str>,
) -> Result<AuthFields, AuthError> {
    let signed_nonce = || {
        nonce
            .filter(|n| !n.is_empty())
            .ok_or(AuthError::MissingNonce)
    };
    let fields = match auth {
        Auth::None => AuthFields {
            user: addr.username().map(str::to_owned),
            pass: addr.password().map(str::to_owned),
            auth_token: addr.token().map(str::to_owned),
            ..AuthFields::default()
        },
        Auth::Token(token) => AuthFields {
            auth_token: Some(token.clone()),
            ..AuthFields::default()
        },
        Auth::UserPassword { user, password } => AuthFields {
            user: Some(user.clone()),
            pass: Some(password.clone()),
            ..AuthFields::default()
        },
        Auth::NKey { seed } => {
            let signed = sign_nonce(seed, signed_nonce()?.as_bytes())?;
            AuthFields {
                nkey: Some(signed.public_key),
                sig: Some(signed.signature),
                ..AuthFields::default()
            }
        }
        Auth::Jwt { jwt, seed } => {
            let signed = sign_nonce(seed, signed_nonce()?.as_bytes())?;
            AuthFields {
                jwt: Some(jwt.clone()),
                sig: Some(signed.signature),
                ..AuthFields::default()
            }
        }
        Auth::Callback(cb) => AuthFields::from(cb.call(nonce).map_err(AuthError::Callback)?),
        Auth::Deferred => return Err(AuthError::Deferred),
    };
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(url: &str) -> ServerAddr {
        ServerAddr::parse(url).unwrap()
    }

    #[test]
    fn url_credentials_apply_without_explicit_auth() {
        let f = resolve(&Auth::None, &addr("nats://bob:pw@h"), None).unwrap();
        assert_eq!(f.user.as_deref(), Some("bob"));
        assert_eq!(f.pass.as_deref(), Some("pw"));
        assert!(f.auth_token.is_none() && f.jwt.is_none() && f.nkey.is_none());

        let f = resolve(&Auth::None, &addr("nats://tok@h"), Some("nonce")).unwrap();
        assert_eq!(f.auth_token.as_deref(), Some("tok"));
        assert!(f.user.is_none() && f.pass.is_none() && f.sig.is_none());

        let f = resolve(&Auth::None, &addr("nats://h"), Some("nonce")).unwrap();
        assert!(f.is_empty());
    }

    #[test]
    fn explicit_auth_wins_over_url() {
        let a = addr("nats://urluser:urlpass@h");
        let f = resolve(&Auth::Token("t".into()), &a, None).unwrap();
        assert_eq!(
            f,
            AuthFields {
                auth_token: Some("t".into()),
                ..AuthFields::default()
            }
        );
        let up = Auth::UserPassword {
            user: "u".into(),
            password: "p".into(),
        };
        let f = resolve(&up, &addr("nats://urltoken@h"), None).unwrap();
        assert_eq!(
            f,
            AuthFields {
                user: Some("u".into()),
                pass: Some("p".into()),
                ..AuthFields::default()
            }
        );
    }

    #[test]
    fn callback_maps_fields_and_gets_nonce() {
        let cb = AuthCallback::new(|nonce| {
            Ok(AuthResponse {
                user: Some("u".into()),
                jwt: Some("j".into()),
                nkey: Some("UKEY".into()),
                signature: nonce.map(|n| format!("signed:{n}")),
                ..AuthResponse::default()
            })
        });
        let f = resolve(&Auth::Callback(cb), &addr("nats://x:y@h"), Some("abc")).unwrap();
        assert_eq!(
            f,
            AuthFields {
                user: Some("u".into()),
                jwt: Some("j".into()),
                sig: Some("signed:abc".into()),
                ..AuthFields::default()
            }
        );

        let cb = AuthCallback::new(|_| {
            Ok(AuthResponse {
                nkey: Some("UKEY".into()),
                signature: Some("s".into()),
                password: Some("p".into()),
                token: Some("t".into()),
                ..AuthResponse::default()
            })
        });
        let f = resolve(&Auth::Callback(cb), &addr("h"), None).unwrap();
        assert_eq!(f.nkey.as_deref(), Some("UKEY"));
        assert_eq!(f.pass.as_deref(), Some("p"));
        assert_eq!(f.auth_token.as_deref(), Some("t"));

        let cb = AuthCallback::new(|_| Err("vault unreachable".into()));
        assert_eq!(
            resolve(&Auth::Callback(cb), &addr("h"), None),
            Err(AuthError::Callback("vault unreachable".into()))
        );
    }

    #[cfg(feature = "nkeys")]
    #[test]
    fn nkey_and_jwt_sign_the_nonce() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;

        let pair = nkeys::KeyPair::new_user();
        let seed = pair.seed().unwrap();
        let verify = |sig: &str, nonce: &str| {
            let raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
            nkeys::KeyPair::from_public_key(&pair.public_key())
                .unwrap()
                .verify(nonce.as_bytes(), &raw)
                .unwrap();
        };

        let a = addr("nats://urltok@h");
        let nk = Auth::NKey { seed: seed.clone() };
        let f = resolve(&nk, &a, Some("n0nce")).unwrap();
        assert_eq!(f.nkey, Some(pair.public_key()));
        assert!(f.jwt.is_none() && f.auth_token.is_none() && f.user.is_none());
        verify(f.sig.as_deref().unwrap(), "n0nce");

        let jwt = Auth::Jwt {
            jwt: "eyJ.a.b".into(),
            seed: seed.clone(),
        };
        let f = resolve(&jwt, &a, Some("other")).unwrap();
        assert_eq!(f.jwt.as_deref(), Some("eyJ.a.b"));
        assert!(f.nkey.is_none() && f.auth_token.is_none());
        verify(f.sig.as_deref().unwrap(), "other");

        for auth in [&nk, &jwt] {
            assert_eq!(resolve(auth, &a, None), Err(AuthError::MissingNonce));
            assert_eq!(resolve(auth, &a, Some("")), Err(AuthError::MissingNonce));
        }

        let bad = Auth::NKey {
            seed: "SUsecretgarbage".into(),
        };
        let err = resolve(&bad, &a, Some("n")).unwrap_err();
        assert!(matches!(err, AuthError::InvalidSeed(_)));
        assert!(!err.to_string().contains("secretgarbage"));
        assert!(!format!("{err:?}").contains("secretgarbage"));
    }

    #[cfg(not(feature = "nkeys"))]
    #[test]
    fn nkeys_disabled() {
        let nk = Auth::NKey { seed: "SU".into() };
        assert_eq!(
            resolve(&nk, &addr("h"), Some("n")),
            Err(AuthError::NKeysDisabled)
        );
    }

    #[test]
    fn debug_never_prints_secrets() {
        const S: &str = "TOPSECRET";
        let cases: Vec<String> = vec![
            format!("{:?}", Auth::Token(S.into())),
            format!(
                "{:?}",
                Auth::UserPassword {
                    user: "u".into(),
                    password: S.into()
                }
            ),
            format!("{:?}", Auth::NKey { seed: S.into() }),
            format!(
                "{:#?}",
                Auth::Jwt {
                    jwt: S.into(),
                    seed: S.into()
                }
            ),
            format!(
                "{:?}",
                Auth::Callback(AuthCallback::new(|_| Err(String::new())))
            ),
            format!(
                "{:?}",
                AuthResponse {
                    user: Some("u".into()),
                    password: Some(S.into()),
                    token: Some(S.into()),
                    jwt: Some(S.into()),
                    nkey: Some("UPUB".into()),
                    signature: Some(S.into()),
                }
            ),
            format!(
                "{:?}",
                AuthFields {
                    user: Some("u".into()),
                    pass: Some(S.into()),
                    auth_token: Some(S.into()),
                    jwt: Some(S.into()),
                    nkey: Some("UPUB".into()),
                    sig: Some(S.into()),
                }
            ),
            format!(
                "{:?}",
                Creds {
                    jwt: S.into(),
                    seed: S.into()
                }
            ),
            format!(
                "{:?}",
                NonceSignature {
                    public_key: "UPUB".into(),
                    signature: S.into()
                }
            ),
            format!("{:?}", addr(&format!("nats://u:{S}@h"))),
            format!("{:?}", addr(&format!("nats://{S}@h"))),
            format!("{}", addr(&format!("nats://u:{S}@h"))),
        ];
        for c in &cases {
            assert!(!c.contains(S), "secret leaked: {c}");
        }
        assert_eq!(cases[0], "Token(<redacted>)");
        assert_eq!(format!("{:?}", Auth::default()), "None");
        assert!(cases[1].contains("password: <redacted>"), "{}", cases[1]);
        assert!(cases[6].contains("UPUB") && cases[6].contains("Some(<redacted>)"));
    }
}
