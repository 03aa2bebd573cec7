//! Credentials computed by async callbacks, as async-nats takes them: an auth callback that
//! gets the server's nonce and returns an [`Auth`], and a JWT with a signing callback.
//!
//! The core never runs these: it asks its driver for credentials on each connect
//! ([`Directive::Authenticate`](nats_sansio::Directive::Authenticate)); the driver awaits
//! the callback beside the socket and hands the answer back.
//!
//! Invariant: a signature leaves this module base64url-encoded without padding, as CONNECT
//! carries it, whatever the callback returned; no secret appears in a `Debug` output or an
//! error message produced here.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nats_sansio::auth::AuthResponse;

use crate::runtime::BoxFuture;

/// The credentials an auth callback returns: any of the CONNECT credential fields, as
/// `async_nats::Auth`. `Debug` redacts the secrets.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct Auth {
    /// A user JWT.
    pub jwt: Option<String>,
    /// A public user NKey (`U...`); not sent when `jwt` is set.
    pub nkey: Option<String>,
    /// The raw signature of the server's nonce (encoded for the wire here).
    pub signature: Option<Vec<u8>>,
    /// A user name.
    pub username: Option<String>,
    /// A password.
    pub password: Option<String>,
    /// A token.
    pub token: Option<String>,
}

impl Auth {
    /// No credentials; set the fields needed.
    pub fn new() -> Auth {
        Auth::default()
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |field: bool| if field { "<set>" } else { "<unset>" };
        f.debug_struct("Auth")
            .field("jwt", &set(self.jwt.is_some()))
            .field("nkey", &self.nkey)
            .field("signature", &set(self.signature.is_some()))
            .field("username", &self.username)
            .field("password", &set(self.password.is_some()))
            .field("token", &set(self.token.is_some()))
            .finish()
    }
}

impl From<Auth> for AuthResponse {
    fn from(auth: Auth) -> AuthResponse {
        AuthResponse {
            user: auth.username,
            password: auth.password,
            token: auth.token,
            jwt: auth.jwt,
            nkey: auth.nkey,
            signature: auth.signature.map(|raw| URL_SAFE_NO_PAD.encode(raw)),
        }
    }
}

/// Why a callback could not produce credentials; the connect fails with this message
/// (so it must not contain secrets) and is retried as any failed connect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AuthError(String);

impl AuthError {
    /// An error with this message.
    pub fn new(message: impl fmt::Display) -> AuthError {
        AuthError(message.to_string())
    }
}

/// The credentials a callback is computing.
type Computing = BoxFuture<Result<Auth, AuthError>>;

/// An auth callback, boxed: the nonce in, credentials out.
#[derive(Clone)]
pub(crate) struct Callback(Arc<dyn Fn(Vec<u8>) -> Computing + Send + Sync>);

impl Callback {
    /// Boxes a user callback.
    pub(crate) fn new<F, Fut>(callback: F) -> Callback
    where
        F: Fn(Vec<u8>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Auth, AuthError>> + Send + 'static,
    {
        Callback(Arc::new(move |nonce| Box::pin(callback(nonce))))
    }

    /// A JWT whose nonce signature comes from `sign` (async-nats's `jwt(jwt, sign_cb)`).
    pub(crate) fn jwt<F, Fut>(jwt: String, sign: F) -> Callback
    where
        F: Fn(Vec<u8>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<u8>, AuthError>> + Send + 'static,
    {
        let sign = Arc::new(sign);
        Callback::new(move |nonce| {
            let jwt = jwt.clone();
            let sign = Arc::clone(&sign);
            async move {
                let signature = sign(nonce).await?;
                Ok(Auth {
                    jwt: Some(jwt),
                    signature: Some(signature),
                    ..Auth::default()
                })
            }
        })
    }

    /// Starts computing the credentials for a server's nonce (empty when it sent none).
    pub(crate) fn call(&self, nonce: Option<String>) -> Computing {
        (self.0)(nonce.map(String::into_bytes).unwrap_or_default())
    }
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Callback(..)")
    }
}
