//! JWT authentication against a real nats-server in operator mode.
//!
//! Every credential is made in the test: operator, account and user key pairs, the JWTs
//! chaining them (see [`jwt`]), the server's trust configuration and the `.creds` files. Each
//! test asserts what a user notices: a round trip that works, or a refusal that names why.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::StreamExt;
use nats_client::error::ConnectionError as ClientConnectionError;
use nats_client::nats_sansio::auth::Auth;
use nats_client::nats_sansio::connection::{
    ConnectionError, ConnectionEvent, ConnectionState, Event, Options, SubscriptionEnd,
};
use nats_client::{AuthError, BlockingConnection, Client, ConnectError, ConnectOptions};
use nats_tests::{NatsServer, TempDir};
use nkeys::KeyPair;

#[macro_use]
mod common;
use common::runtime::{reconnected, Rt};

const WAIT: Duration = Duration::from_secs(10);

/// A minimal NATS JWT (v2) issuer.
///
/// A JWT is `b64(header) "." b64(claims) "." b64(sig)`, base64url without padding, where `sig`
/// is the issuer's ed25519 signature over `b64(header) "." b64(claims)`. The server checks the
/// signature, that the issuer's key has the prefix the claim type expects (an operator signs
/// accounts, an account signs users), that the issuer is trusted, and `exp`/`nbf`; it does not
/// recompute `jti`, so any unique string will do.
mod jwt {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use nkeys::KeyPair;
    use serde_json::{json, Value};

    /// A key pair and the JWT that describes it.
    pub(crate) struct Identity {
        pub(crate) key: KeyPair,
        pub(crate) jwt: String,
    }

    impl Identity {
        pub(crate) fn public_key(&self) -> String {
            self.key.public_key()
        }

        pub(crate) fn seed(&self) -> String {
            self.key.seed().expect("a generated key pair has a seed")
        }
    }

    pub(crate) fn now() -> i64 {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        i64::try_from(secs).expect("seconds fit in i64")
    }

    /// A process-unique claim id (NATS uses a base32 SHA-512/256 of the claims; the server
    /// never checks it).
    fn unique_id() -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{:X}{:X}{n:X}", std::process::id(), nanos)
    }

    /// Signs `claims` (which must hold `sub`, `name` and `nats`) as `issuer`, filling in
    /// `jti`, `iat` and `iss`.
    pub(crate) fn encode(issuer: &KeyPair, claims: Value) -> String {
        forge(issuer, &issuer.public_key(), claims)
    }

    /// Like [`encode`], but names `claimed_issuer` in `iss` while `signer` signs: what a
    /// forger without the issuer's seed could produce.
    pub(crate) fn forge(signer: &KeyPair, claimed_issuer: &str, mut claims: Value) -> String {
        let map = claims.as_object_mut().expect("claims are a JSON object");
        map.insert("jti".into(), json!(unique_id()));
        map.insert("iat".into(), json!(now()));
        map.insert("iss".into(), json!(claimed_issuer));
        let header = json!({"typ": "JWT", "alg": "ed25519-nkey"});
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = signer.sign(signed.as_bytes()).expect("signing works");
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// A self-signed operator.
    pub(crate) fn operator(name: &str) -> Identity {
        let key = KeyPair::new_operator();
        let claims = json!({
            "sub": key.public_key(),
            "name": name,
            "nats": {"type": "operator", "version": 2},
        });
        let jwt = encode(&key, claims);
        Identity { key, jwt }
    }

    /// An account issued by `operator`, every limit -1 (unlimited) as `nsc` writes it: a limit
    /// left out decodes as 0.
    pub(crate) fn account(operator: &KeyPair, name: &str) -> Identity {
        let key = KeyPair::new_account();
        let claims = json!({
            "sub": key.public_key(),
            "name": name,
            "nats": {
                "type": "account",
                "version": 2,
                "limits": {
                    "subs": -1, "conn": -1, "leaf": -1, "imports": -1, "exports": -1,
                    "data": -1, "payload": -1, "wildcards": true,
                },
            },
        });
        let jwt = encode(operator, claims);
        Identity { key, jwt }
    }

    /// A user issued by `account`, without limits or permissions; `expires` sets `exp`.
    pub(crate) fn user(account: &KeyPair, name: &str, expires: Option<i64>) -> Identity {
        let key = KeyPair::new_user();
        let jwt = encode(account, user_claims(&key, name, expires));
        Identity { key, jwt }
    }

    /// A user issued by `account` with these `pub` and `sub` permissions (each
    /// `{"allow": [..], "deny": [..]}`).
    pub(crate) fn user_with_permissions(
        account: &KeyPair,
        name: &str,
        publish: Value,
        subscribe: Value,
    ) -> Identity {
        let key = KeyPair::new_user();
        let mut claims = user_claims(&key, name, None);
        claims["nats"]["pub"] = publish;
        claims["nats"]["sub"] = subscribe;
        let jwt = encode(account, claims);
        Identity { key, jwt }
    }

    /// The claims of a user without limits or permissions; `expires` sets `exp`.
    pub(crate) fn user_claims(key: &KeyPair, name: &str, expires: Option<i64>) -> Value {
        let mut claims = json!({
            "sub": key.public_key(),
            "name": name,
            "nats": {
                "type": "user",
                "version": 2,
                "pub": {}, "sub": {},
                "subs": -1, "data": -1, "payload": -1,
            },
        });
        if let Some(exp) = expires {
            claims["exp"] = json!(exp);
        }
        claims
    }

    /// The text of a `.creds` file, as `nsc` writes it.
    pub(crate) fn creds(jwt: &str, seed: &str) -> String {
        format!(
            "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\
             NKEYs are sensitive and should be treated as secrets.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
             *************************************************************\n"
        )
    }
}

/// A server trusting one operator, with one account preloaded in a memory resolver. It logs
/// at debug level, so a test can check why the server refused a connection.
struct Trusted {
    server: NatsServer,
    account: jwt::Identity,
}

impl Trusted {
    fn start() -> Trusted {
        let operator = jwt::operator("test-operator");
        let account = jwt::account(&operator.key, "test-account");
        let config = format!(
            "debug: true\noperator: \"operator.jwt\"\n\
             resolver: MEMORY\n\
             resolver_preload: {{\n  {}: \"{}\"\n}}\n",
            account.public_key(),
            account.jwt
        );
        let server = NatsServer::builder()
            .file("operator.jwt", operator.jwt.clone())
            .config(config)
            .start();
        Trusted { server, account }
    }

    /// Asserts the server logged `reason` (its debug line for an authentication failure).
    fn assert_logged(&self, reason: &str) {
        assert!(
            self.server.wait_for_log(reason, WAIT),
            "the server should have logged {reason:?}; logs:\n{}",
            self.server.logs()
        );
    }

    /// A fresh user of the trusted account.
    fn user(&self, name: &str) -> jwt::Identity {
        jwt::user(&self.account.key, name, None)
    }
}

fn blocking_options(url: &str, auth: Auth) -> Options {
    let mut o = Options::new(url).expect("valid url");
    o.reconnect_delay = Duration::from_millis(20);
    o.max_reconnect_delay = Duration::from_millis(250);
    o.auth = auth;
    o
}

fn jwt_auth(user: &jwt::Identity) -> Auth {
    Auth::Jwt {
        jwt: user.jwt.clone(),
        seed: user.seed(),
    }
}

fn expect_refused(url: &str, auth: Auth, what: &str) {
    match BlockingConnection::connect(blocking_options(url, auth)) {
        Err(ConnectionError::AuthorizationViolation(_)) => {}
        other => panic!("{what} must be refused with an authorization violation, got {other:?}"),
    }
}

#[test]
fn blocking_user_jwt_connects_and_round_trips() {
    let trusted = Trusted::start();
    let user = trusted.user("alice");
    let mut client =
        BlockingConnection::connect(blocking_options(&trusted.server.url(), jwt_auth(&user)))
            .expect("a user JWT issued by the trusted account is accepted");
    let sid = client.subscribe("jwt.greeting", None).unwrap();
    client.flush(WAIT).unwrap();
    client.publish("jwt.greeting", "signed hello").unwrap();
    let msg = client
        .next_message(sid, WAIT)
        .expect("the message comes back");
    assert_eq!(msg.subject.as_str(), "jwt.greeting");
    assert_eq!(&msg.payload[..], b"signed hello");
}

#[test]
fn blocking_untrusted_forged_expired_or_mismatched_credentials_are_refused() {
    let trusted = Trusted::start();
    let url = trusted.server.url();

    // Operator mode: no credentials, no entry.
    expect_refused(&url, Auth::None, "a client without credentials");
    trusted.assert_logged("Authentication requires a user JWT");

    // Issued by an account the server does not know (under a stranger operator).
    let stranger_operator = jwt::operator("stranger-operator");
    let stranger_account = jwt::account(&stranger_operator.key, "stranger-account");
    let outsider = jwt::user(&stranger_account.key, "mallory", None);
    expect_refused(&url, jwt_auth(&outsider), "a user of an untrusted account");
    trusted.assert_logged("Account JWT lookup error: account missing");

    // Names the trusted account as issuer but is signed by another account key: the server
    // cannot decode it (bad JWT signature) and treats the client as having no JWT.
    let forger = KeyPair::new_account();
    let victim = KeyPair::new_user();
    let forged = Auth::Jwt {
        jwt: jwt::forge(
            &forger,
            &trusted.account.public_key(),
            jwt::user_claims(&victim, "forged", None),
        ),
        seed: victim.seed().unwrap(),
    };
    expect_refused(&url, forged, "a user JWT with a forged issuer");

    // An expired user JWT from the trusted account.
    let expired = jwt::user(&trusted.account.key, "late", Some(jwt::now() - 60));
    expect_refused(&url, jwt_auth(&expired), "an expired user JWT");
    trusted.assert_logged("claim is expired");

    // A valid JWT, but the nonce is signed with another user's seed.
    let alice = trusted.user("alice");
    let bob = trusted.user("bob");
    let mismatched = Auth::Jwt {
        jwt: alice.jwt.clone(),
        seed: bob.seed(),
    };
    expect_refused(&url, mismatched, "a JWT with someone else's seed");
    trusted.assert_logged("Signature not verified");

    // The genuine user still gets in, so the refusals above were about the credentials.
    BlockingConnection::connect(blocking_options(&url, jwt_auth(&alice)))
        .expect("the genuine user is accepted");
    trusted.assert_logged("claim-name: \"alice\"");
}

#[test]
fn blocking_user_jwt_permissions_are_enforced() {
    let trusted = Trusted::start();
    let user = jwt::user_with_permissions(
        &trusted.account.key,
        "restricted",
        serde_json::json!({"allow": ["public.>"]}),
        serde_json::json!({"allow": ["public.>"], "deny": ["public.secret"]}),
    );
    let mut client =
        BlockingConnection::connect(blocking_options(&trusted.server.url(), jwt_auth(&user)))
            .expect("the restricted user is accepted");

    let denied = client.subscribe("public.secret", None).unwrap();
    let end = client.wait_event(WAIT, |e| match e {
        Event::SubscriptionClosed { sid, reason } if *sid == denied => Some(reason.clone()),
        _ => None,
    });
    match end {
        Some(SubscriptionEnd::PermissionDenied(text)) => {
            assert!(text.contains("public.secret"), "names the subject: {text}");
        }
        other => panic!("a denied subscription must end with PermissionDenied, got {other:?}"),
    }

    let sid = client.subscribe("public.>", None).unwrap();
    client.flush(WAIT).unwrap();
    client.publish("private.note", "not allowed").unwrap();
    // The denied subscription was also reported as a server error; wait for the publish one.
    let refused = client.wait_event(WAIT, |e| match e {
        Event::Connection(ConnectionEvent::ServerError { message })
            if message.contains("for Publish") =>
        {
            Some(message.clone())
        }
        _ => None,
    });
    let refused = refused.expect("the server reports the denied publish");
    assert!(
        refused.starts_with("Permissions Violation for Publish")
            && refused.contains("private.note"),
        "{refused}"
    );
    client.publish("public.news", "allowed").unwrap();
    let msg = client
        .next_message(sid, WAIT)
        .expect("the allowed message arrives");
    assert_eq!(msg.subject.as_str(), "public.news");
    assert_eq!(
        client.connection().state(),
        ConnectionState::Connected,
        "permission errors do not end the connection"
    );
}

// ------------------------------------------------------------------------------------------
// The async client, on every runtime.

/// `future`'s output, or a panic naming `what` after [`WAIT`].
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    common::runtime::within(WAIT, what, future).await
}

/// Publishes one message to itself and checks it arrives intact.
async fn round_trip(client: &Client, subject: &str) {
    let mut sub = client.subscribe(subject).await.unwrap();
    client.flush().await.unwrap();
    client.publish(subject, ("over jwt").into()).await.unwrap();
    let msg = within("the message", sub.next())
        .await
        .expect("subscription open");
    assert_eq!(msg.subject.as_str(), subject);
    assert_eq!(&msg.payload[..], b"over jwt");
}

fn write_creds(dir: &Path, name: &str, contents: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_str().expect("UTF-8 temp path").to_owned()
}

/// Writes (or replaces) `dir/name` with `user`'s creds; the file's path.
fn write_user_creds(dir: &Path, name: &str, user: &jwt::Identity) -> String {
    write_creds(dir, name, &jwt::creds(&user.jwt, &user.seed()))
}

/// Connects to `trusted`'s server with the creds file at `path`.
async fn connect_with_creds_file(
    rt: Rt,
    trusted: &Trusted,
    path: &str,
) -> Result<Client, ConnectError> {
    let options = ConnectOptions::new().credentials_file(path);
    rt.connect_with(&trusted.server.url(), options).await
}

async fn credentials_file_connects(rt: Rt) {
    let trusted = Trusted::start();
    let user = trusted.user("file-user");
    let dir = TempDir::new("jwt-creds");
    let path = write_user_creds(dir.path(), "user.creds", &user);
    let client = connect_with_creds_file(rt, &trusted, &path)
        .await
        .expect("a creds file of a trusted user is accepted");
    round_trip(&client, "jwt.file").await;
    client.close().await.unwrap();

    // async-nats's constructor: awaited, checked at once.
    let options = ConnectOptions::with_credentials_file(path.clone())
        .await
        .expect("a readable creds file");
    let client = rt
        .connect_with(&trusted.server.url(), options)
        .await
        .unwrap();
    round_trip(&client, "jwt.file.constructed").await;
    client.close().await.unwrap();
    let missing = dir.path().join("missing.creds");
    match ConnectOptions::with_credentials_file(missing.to_str().unwrap()).await {
        Err(ConnectError::File { path, .. }) => assert!(path.ends_with("missing.creds")),
        other => panic!("a missing creds file fails at once, got {other:?}"),
    }
}

/// The creds file is read again on every connect: after the file is replaced and the server
/// restarts, the client reconnects as the new user.
async fn rotated_credentials_file_applies_on_reconnect(rt: Rt) {
    let mut trusted = Trusted::start();
    let first = trusted.user("first-user");
    let rotated = trusted.user("rotated-user");
    let dir = TempDir::new("jwt-creds");
    let path = write_user_creds(dir.path(), "user.creds", &first);
    let client = connect_with_creds_file(rt, &trusted, &path)
        .await
        .expect("the first user is accepted");
    trusted.assert_logged("claim-name: \"first-user\"");
    let mut events = client.events();

    write_user_creds(dir.path(), "user.creds", &rotated);
    trusted.server.restart();
    reconnected(&mut events, WAIT).await;
    trusted.assert_logged("claim-name: \"rotated-user\"");
    round_trip(&client, "jwt.rotated").await;
    client.close().await.unwrap();
}

async fn credentials_contents_connect(rt: Rt) {
    let trusted = Trusted::start();
    let user = trusted.user("inline-user");
    let options = ConnectOptions::new()
        .credentials(&jwt::creds(&user.jwt, &user.seed()))
        .expect("well-formed creds parse");
    let client = rt
        .connect_with(&trusted.server.url(), options)
        .await
        .expect("inline creds of a trusted user are accepted");
    round_trip(&client, "jwt.inline").await;
    client.close().await.unwrap();
}

async fn credentials_of_an_untrusted_account_are_refused(rt: Rt) {
    let trusted = Trusted::start();
    let stranger = jwt::account(&KeyPair::new_operator(), "stranger");
    let user = jwt::user(&stranger.key, "mallory", None);
    let dir = TempDir::new("jwt-creds");
    let path = write_user_creds(dir.path(), "mallory.creds", &user);
    match connect_with_creds_file(rt, &trusted, &path).await {
        Err(ConnectError::Connection(ClientConnectionError::AuthorizationViolation(_))) => {}
        other => panic!("expected an authorization violation, got {other:?}"),
    }
}

/// A creds file whose seed is an account seed: the user is told the seed is the wrong kind,
/// whether the creds come from a file or from a string, and the seed is never echoed.
async fn creds_with_a_non_user_seed_fail_clearly(rt: Rt) {
    let trusted = Trusted::start();
    let user = trusted.user("confused");
    let account_seed = trusted.account.seed();
    let contents = jwt::creds(&user.jwt, &account_seed);
    let check = |err: &ConnectError, source: &str| {
        assert!(
            matches!(
                err,
                ConnectError::Connection(ClientConnectionError::Auth(_))
            ),
            "{source}: expected an authentication error, got {err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("creds seed is not a user seed"),
            "{source}: the message names the problem: {text}"
        );
        assert!(
            !text.contains(&account_seed),
            "{source}: seed leaked: {text}"
        );
        assert!(
            !format!("{err:?}").contains(&account_seed),
            "{source}: seed leaked in Debug"
        );
    };

    let err = ConnectOptions::new()
        .credentials(&contents)
        .expect_err("an account seed is not a user seed");
    check(&err, "credentials()");

    let dir = TempDir::new("jwt-creds");
    let path = write_creds(dir.path(), "account-seed.creds", &contents);
    let err = connect_with_creds_file(rt, &trusted, &path)
        .await
        .expect_err("an account seed is not a user seed");
    check(&err, "credentials_file()");
}

/// `jwt(jwt, sign)` as async-nats takes it: the signing callback gets each server nonce
/// and is awaited on every connect (a restart makes it sign a new nonce).
async fn jwt_with_a_signing_callback_connects_and_signs_every_nonce(rt: Rt) {
    let mut trusted = Trusted::start();
    let user = trusted.user("signer-user");
    let key = Arc::new(KeyPair::from_seed(&user.seed()).unwrap());
    let nonces = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let seen = Arc::clone(&nonces);
    let options = ConnectOptions::new().jwt(user.jwt.clone(), move |nonce| {
        let key = Arc::clone(&key);
        let seen = Arc::clone(&seen);
        async move {
            futures_lite::future::yield_now().await;
            seen.lock().unwrap().push(nonce.clone());
            key.sign(&nonce).map_err(AuthError::new)
        }
    });
    let client = rt
        .connect_with(&trusted.server.url(), options)
        .await
        .expect("the signed nonce is accepted");
    round_trip(&client, "jwt.signed").await;
    let mut events = client.events();
    trusted.server.restart();
    reconnected(&mut events, WAIT).await;
    round_trip(&client, "jwt.signed.again").await;
    let nonces = nonces.lock().unwrap().clone();
    assert!(nonces.len() >= 2, "signed on each connect: {nonces:?}");
    assert!(
        nonces.iter().all(|n| !n.is_empty()),
        "each with the server's nonce"
    );
    assert_ne!(nonces[0], nonces[nonces.len() - 1], "a new nonce each time");
    client.close().await.unwrap();
}

/// The generic async auth callback returning an [`nats_client::Auth`]; a signature made
/// with the wrong key is refused by the server, and a callback error fails the connect with
/// its message.
async fn auth_callback_credentials_are_sent_and_checked(rt: Rt) {
    let trusted = Trusted::start();
    let user = trusted.user("callback-user");
    let callback = |jwt: String, key: KeyPair| {
        let key = Arc::new(key);
        move |nonce: Vec<u8>| {
            let (jwt, key) = (jwt.clone(), Arc::clone(&key));
            async move {
                let mut auth = nats_client::Auth::new();
                auth.jwt = Some(jwt);
                auth.signature = Some(key.sign(&nonce).map_err(AuthError::new)?);
                Ok(auth)
            }
        }
    };
    let good = ConnectOptions::new().auth_callback(callback(
        user.jwt.clone(),
        KeyPair::from_seed(&user.seed()).unwrap(),
    ));
    let client = rt
        .connect_with(&trusted.server.url(), good)
        .await
        .expect("the callback's credentials are accepted");
    round_trip(&client, "jwt.callback").await;
    client.close().await.unwrap();

    let forged =
        ConnectOptions::new().auth_callback(callback(user.jwt.clone(), KeyPair::new_user()));
    match rt.connect_with(&trusted.server.url(), forged).await {
        Err(ConnectError::Connection(ClientConnectionError::AuthorizationViolation(_))) => {}
        other => panic!("a signature by another key must be refused, got {other:?}"),
    }

    let failing = ConnectOptions::new()
        .auth_callback(|_nonce| async { Err(AuthError::new("the vault is sealed")) });
    match rt.connect_with(&trusted.server.url(), failing).await {
        Err(error @ ConnectError::Connection(ClientConnectionError::Auth(_))) => assert!(
            error.to_string().contains("the vault is sealed"),
            "the callback's message reaches the user: {error}"
        ),
        other => panic!("a failing callback must fail the connect, got {other:?}"),
    }
}

on_every_runtime!(
    jwt_with_a_signing_callback_connects_and_signs_every_nonce,
    auth_callback_credentials_are_sent_and_checked,
    credentials_file_connects,
    credentials_contents_connect,
    rotated_credentials_file_applies_on_reconnect,
    credentials_of_an_untrusted_account_are_refused,
    creds_with_a_non_user_seed_fail_clearly,
);
