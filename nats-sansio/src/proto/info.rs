//! INFO (from the server) and CONNECT (to the server) as serde types.
//!
//! Invariant: `ConnectInfo`'s `Debug` never prints a password, token, JWT or signature, and
//! its JSON always carries `verbose`, `pedantic` and `echo` (the server defaults omitted
//! fields to true).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The server's INFO. Unknown fields are ignored; missing ones take their defaults.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ServerInfo {
    /// Unique id of the server.
    pub server_id: String,
    /// Name of the server.
    pub server_name: String,
    /// Server version.
    pub version: String,
    /// Go version the server was built with.
    pub go: String,
    /// Host the server listens on.
    pub host: String,
    /// Port the server listens on.
    pub port: u16,
    /// Whether the server supports headers (HPUB/HMSG).
    pub headers: bool,
    /// Largest message (headers plus payload) the server accepts.
    pub max_payload: usize,
    /// Protocol version; 1 and above send INFO updates and honour `echo`.
    pub proto: i32,
    /// The server's id for this client.
    pub client_id: u64,
    /// Credentials are expected in CONNECT.
    pub auth_required: bool,
    /// The client must upgrade to TLS before CONNECT.
    pub tls_required: bool,
    /// The server can do TLS but does not require it.
    pub tls_available: bool,
    /// The server wants a client certificate.
    pub tls_verify: bool,
    /// Other servers of the cluster, as `host:port`.
    pub connect_urls: Vec<String>,
    /// The server entered lame-duck mode.
    pub ldm: bool,
    /// JetStream is enabled.
    pub jetstream: bool,
    /// JetStream domain of this server.
    pub domain: Option<String>,
    /// Nonce to sign for nkey and JWT authentication.
    pub nonce: Option<String>,
    /// The client's address as the server sees it.
    pub client_ip: String,
    /// Cluster name.
    pub cluster: Option<String>,
    /// Git commit the server was built from.
    pub git_commit: String,
    /// The server's x25519 public key.
    pub xkey: Option<String>,
    /// JetStream API level.
    pub api_lvl: Option<i32>,
    /// This INFO follows a CONNECT (sent after the first PONG).
    pub connect_info: bool,
    /// Account the connection is bound to.
    pub remote_account: Option<String>,
    /// The account is the system account.
    pub acc_is_sys: bool,
}

impl ServerInfo {
    /// Parses the JSON of an INFO line.
    pub fn parse(json: &[u8]) -> Result<ServerInfo, serde_json::Error> {
        serde_json::from_slice(json)
    }
}

/// The client's CONNECT.
#[derive(Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ConnectInfo {
    /// Ask for `+OK` after every op (always false here).
    pub verbose: bool,
    /// Ask for extra server-side checks (always false here).
    pub pedantic: bool,
    /// The client wants TLS.
    pub tls_required: bool,
    /// Token authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// User name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// Connection name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Client language.
    pub lang: String,
    /// Client version.
    pub version: String,
    /// Protocol version (1: async INFO).
    pub protocol: u8,
    /// Receive own publishes.
    pub echo: bool,
    /// Signature of the nonce (base64url, no padding).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
    /// User JWT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<String>,
    /// User public nkey (without a JWT).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nkey: Option<String>,
    /// Headers supported.
    pub headers: bool,
    /// Ask for 503 status replies when a request has no responders.
    pub no_responders: bool,
}

impl ConnectInfo {
    /// The JSON sent after `CONNECT `.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain strings, numbers and booleans cannot fail.
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }
}

fn redacted(secret: &Option<String>) -> Option<&'static str> {
    secret.as_ref().map(|_| "<redacted>")
}

impl fmt::Debug for ConnectInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectInfo")
            .field("verbose", &self.verbose)
            .field("pedantic", &self.pedantic)
            .field("tls_required", &self.tls_required)
            .field("auth_token", &redacted(&self.auth_token))
            .field("user", &self.user)
            .field("pass", &redacted(&self.pass))
            .field("name", &self.name)
            .field("lang", &self.lang)
            .field("version", &self.version)
            .field("protocol", &self.protocol)
            .field("echo", &self.echo)
            .field("sig", &redacted(&self.sig))
            .field("jwt", &redacted(&self.jwt))
            .field("nkey", &self.nkey)
            .field("headers", &self.headers)
            .field("no_responders", &self.no_responders)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_ignores_unknown_fields_and_defaults_missing_ones() {
        let info = ServerInfo::parse(
            br#"{"server_id":"S","max_payload":1048576,"headers":true,"connect_urls":["a:1"],"new_field":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(info.server_id, "S");
        assert_eq!(info.max_payload, 1_048_576);
        assert!(info.headers && !info.ldm);
        assert_eq!(info.connect_urls, vec!["a:1"]);
        assert!(ServerInfo::parse(b"{nope").is_err());
    }

    #[test]
    fn connect_always_states_verbose_pedantic_echo_and_hides_secrets() {
        let info = ConnectInfo {
            auth_token: Some("tok-SECRET".into()),
            pass: Some("pw-SECRET".into()),
            sig: Some("sig-SECRET".into()),
            jwt: Some("jwt-SECRET".into()),
            user: Some("bob".into()),
            ..ConnectInfo::default()
        };
        let json = String::from_utf8(info.to_json()).unwrap();
        for field in ["\"verbose\":false", "\"pedantic\":false", "\"echo\":false"] {
            assert!(json.contains(field), "{json}");
        }
        assert!(
            !json.contains("\"name\""),
            "None fields are omitted: {json}"
        );
        let debug = format!("{info:?}");
        assert!(!debug.contains("SECRET"), "{debug}");
        assert!(debug.contains("bob"));
    }
}
