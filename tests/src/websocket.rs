//! A WebSocket listener for a [`NatsServer`](crate::NatsServer): the `websocket { }` block of
//! its configuration, given to [`NatsServerBuilder::websocket`](crate::NatsServerBuilder::websocket).
//!
//! Invariant: the harness, not the server, chooses the listener's port (a free one, before
//! the process starts) and writes it into the configuration file, so
//! [`restart`](crate::NatsServer::restart) listens on the same port again and a client's
//! `ws://` or `wss://` URL stays valid across restarts. The listener binds 127.0.0.1 only,
//! like the client port, and a server with one is "ready" only once that port accepts TCP
//! connections too.
//!
//! The library stays `std`-only, so it does not generate certificates: a TLS listener is given
//! its certificate and key as PEM text (the tests make them with rcgen), which the harness
//! writes beside the configuration.
//!
//! ```no_run
//! use nats_tests::{NatsServer, WebSocket};
//!
//! let server = NatsServer::builder()
//!     .websocket(WebSocket::plain().token("s3cret"))
//!     .start();
//! println!("connect to {}", server.ws_url()); // ws://127.0.0.1:<port>
//! ```

use std::path::PathBuf;

/// The certificate file a TLS listener is given, relative to the server's directory.
const CERT_FILE: &str = "websocket-cert.pem";
/// The key file a TLS listener is given, relative to the server's directory.
const KEY_FILE: &str = "websocket-key.pem";

/// What goes in a server's `websocket { }` block, but the port (which the harness picks).
///
/// Start from [`plain`](Self::plain) (`no_tls: true`, URLs `ws://127.0.0.1:<port>`) or
/// [`tls`](Self::tls) (a `tls { }` block, URLs `wss://localhost:<port>`), then add
/// authorization or any other lines of the block.
#[derive(Debug, Clone)]
pub struct WebSocket {
    tls: Option<(String, String)>,
    authorization: Option<String>,
    extra: String,
}

impl WebSocket {
    /// A listener without TLS (`no_tls: true`): clients use `ws://`.
    pub fn plain() -> WebSocket {
        WebSocket {
            tls: None,
            authorization: None,
            extra: String::new(),
        }
    }

    /// A listener with TLS from the first byte, serving `cert_pem` (which must name
    /// `localhost`, the host of [`NatsServer::ws_url`](crate::NatsServer::ws_url)) with
    /// `key_pem`: clients use `wss://` and must trust the certificate's CA.
    pub fn tls(cert_pem: impl Into<String>, key_pem: impl Into<String>) -> WebSocket {
        WebSocket {
            tls: Some((cert_pem.into(), key_pem.into())),
            ..WebSocket::plain()
        }
    }

    /// WebSocket clients must send this token (`authorization { token }` in the block; it
    /// replaces the server's main authorization for them).
    pub fn token(mut self, token: &str) -> WebSocket {
        self.authorization = Some(format!("token: {}", quoted(token)));
        self
    }

    /// WebSocket clients must send this user and password (`authorization { user, password }`
    /// in the block).
    pub fn user_password(mut self, user: &str, password: &str) -> WebSocket {
        self.authorization = Some(format!(
            "user: {}, password: {}",
            quoted(user),
            quoted(password)
        ));
        self
    }

    /// Appends lines to the block as they are, for example
    /// `allowed_origins: ["http://example.test"]` or `compression: true`. They must not set
    /// `port`, `host`, `no_tls`, `tls` or `authorization`, which the harness writes.
    pub fn extra(mut self, lines: impl Into<String>) -> WebSocket {
        self.extra.push_str(&lines.into());
        self.extra.push('\n');
        self
    }

    /// Whether the listener uses TLS (`wss://`).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The block, listening on `127.0.0.1:port`.
    pub(crate) fn block(&self, port: u16) -> String {
        let mut block = format!("websocket {{\n  host: \"127.0.0.1\"\n  port: {port}\n");
        match self.tls {
            Some(_) => block.push_str(&format!(
                "  tls {{\n    cert_file: \"{CERT_FILE}\"\n    key_file: \"{KEY_FILE}\"\n  }}\n"
            )),
            None => block.push_str("  no_tls: true\n"),
        }
        if let Some(authorization) = &self.authorization {
            block.push_str(&format!("  authorization {{ {authorization} }}\n"));
        }
        for line in self.extra.lines() {
            block.push_str("  ");
            block.push_str(line);
            block.push('\n');
        }
        block.push_str("}\n");
        block
    }

    /// The files the block names, relative to the server's directory, with their contents.
    pub(crate) fn files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        match &self.tls {
            Some((cert, key)) => vec![
                (CERT_FILE.into(), cert.clone().into_bytes()),
                (KEY_FILE.into(), key.clone().into_bytes()),
            ],
            None => Vec::new(),
        }
    }
}

/// `value` as a double-quoted string of nats-server's configuration syntax.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_block_with_user_and_extra_lines() {
        let block = WebSocket::plain()
            .user_password("al\"ice", "pa\\ss")
            .extra("compression: true")
            .block(8080);
        assert_eq!(
            block,
            "websocket {\n  host: \"127.0.0.1\"\n  port: 8080\n  no_tls: true\n  \
             authorization { user: \"al\\\"ice\", password: \"pa\\\\ss\" }\n  \
             compression: true\n}\n"
        );
    }

    #[test]
    fn tls_block_names_the_files_it_writes() {
        let ws = WebSocket::tls("CERT", "KEY").token("t");
        let block = ws.block(1);
        assert!(block.contains(&format!("cert_file: \"{CERT_FILE}\"")));
        assert!(block.contains(&format!("key_file: \"{KEY_FILE}\"")));
        assert!(!block.contains("no_tls"));
        assert!(block.contains("authorization { token: \"t\" }"));
        let files = ws.files();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0], (PathBuf::from(CERT_FILE), b"CERT".to_vec()));
        assert_eq!(files[1], (PathBuf::from(KEY_FILE), b"KEY".to_vec()));
    }
}
