//! The opening handshake: the client's HTTP/1.1 upgrade request and the check of the
//! server's `101 Switching Protocols` answer (RFC 6455 §4).
//!
//! Invariant: a response is judged only once its whole header block (up to the empty line)
//! is in the buffer, and bytes after that block are never touched: they are the first
//! WebSocket frames, which a server may send in the same read as its `101`. A buffer that
//! cannot be the start of an HTTP response is refused at once instead of waiting for an
//! empty line that will never come (a plain NATS port sends `INFO` unasked).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::{BufMut, BytesMut};
use sha1::{Digest, Sha1};

use super::WsError;

/// The largest response header block accepted, in bytes.
pub const MAX_RESPONSE_HEAD: usize = 8 * 1024;

/// The GUID RFC 6455 appends to the key before hashing it into the accept value.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Header names the handshake writes itself; a user header may not replace them.
const RESERVED: &[&str] = &[
    "host",
    "upgrade",
    "connection",
    "content-length",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-accept",
];

/// What goes into one upgrade request.
#[derive(Debug, Clone, Copy)]
pub struct UpgradeRequest<'a> {
    /// The server's host: a DNS name or an IP address (IPv6 without brackets).
    pub host: &'a str,
    /// The server's port.
    pub port: u16,
    /// Whether `port` is the scheme's default (80 for `ws`, 443 for `wss`): the `Host`
    /// header then names the host alone, as browsers send it.
    pub default_port: bool,
    /// The request target: the URL's path and query, `/` when it has none.
    pub path: &'a str,
    /// The `Sec-WebSocket-Key`: see [`key_from`].
    pub key: &'a str,
    /// Extra headers, already checked with [`check_header`].
    pub headers: &'a [(String, String)],
    /// Offer permessage-deflate without context takeover.
    pub compression: bool,
}

/// The extension offer: permessage-deflate, each message on its own both ways.
const DEFLATE_OFFER: &str =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// The `Sec-WebSocket-Key` for 16 random bytes (base64).
pub fn key_from(random: [u8; 16]) -> String {
    STANDARD.encode(random)
}

/// The `Sec-WebSocket-Accept` value a server must answer `key` with.
///
/// ```
/// use nats_sansio::websocket::accept_key;
/// assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(ACCEPT_GUID.as_bytes());
    STANDARD.encode(sha.finalize())
}

/// Checks a header the user asks to add to the upgrade request: a valid HTTP field name
/// that the handshake does not write itself, and a value without line breaks.
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(tchar) {
        return Err(format!("{name:?} is not a valid HTTP header name"));
    }
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(format!(
            "{name:?} is written by the WebSocket handshake itself"
        ));
    }
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(format!(
            "the value of {name:?} contains a line break or NUL"
        ));
    }
    Ok(())
}

/// Appends the upgrade request to `out`.
pub fn write_request(request: &UpgradeRequest<'_>, out: &mut BytesMut) {
    let host = if request.host.contains(':') {
        format!("[{}]", request.host)
    } else {
        request.host.to_owned()
    };
    let host = if request.default_port {
        host
    } else {
        format!("{host}:{}", request.port)
    };
    let mut w = out.writer();
    // Writing into a `BytesMut` cannot fail.
    let _ = std::io::Write::write_fmt(
        &mut w,
        format_args!(
            "GET {} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n",
            request.path, request.key
        ),
    );
    if request.compression {
        let _ = std::io::Write::write_fmt(
            &mut w,
            format_args!("Sec-WebSocket-Extensions: {DEFLATE_OFFER}\r\n"),
        );
    }
    for (name, value) in request.headers {
        let _ = std::io::Write::write_fmt(&mut w, format_args!("{name}: {value}\r\n"));
    }
    w.into_inner().put_slice(b"\r\n");
}

/// The server accepted the upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Bytes of `buf` the response header block took; what follows are frames.
    pub head_len: usize,
    /// The server accepted permessage-deflate: messages either way may be compressed.
    pub compression: bool,
}

/// Checks the server's answer to an upgrade request made with `key` (and offering
/// compression if `offered`).
///
/// `Ok(None)`: the header block is not complete yet, read more. `Ok(Some(_))`: the upgrade
/// succeeded. An error says why not: another status than 101 is
/// [`WsError::UpgradeRefused`] with its code.
pub fn parse_response(buf: &[u8], key: &str, offered: bool) -> Result<Option<Accepted>, WsError> {
    let prefix = b"HTTP/";
    let n = buf.len().min(prefix.len());
    if buf[..n] != prefix[..n] {
        let shown = String::from_utf8_lossy(&buf[..buf.len().min(16)]).into_owned();
        let hint = if buf.starts_with(b"INFO") {
            " (a plain NATS port: use nats:// or tls://)"
        } else {
            ""
        };
        return Err(WsError::Handshake(format!(
            "the server did not answer with HTTP but {shown:?}{hint}"
        )));
    }
    let Some(end) = memchr::memmem::find(buf, b"\r\n\r\n") else {
        if buf.len() > MAX_RESPONSE_HEAD {
            return Err(WsError::Handshake(format!(
                "response header block longer than {MAX_RESPONSE_HEAD} bytes"
            )));
        }
        return Ok(None);
    };
    if end > MAX_RESPONSE_HEAD {
        return Err(WsError::Handshake(format!(
            "response header block longer than {MAX_RESPONSE_HEAD} bytes"
        )));
    }
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let _version = parts.next();
    let status = parts
        .next()
        .and_then(|s| (s.len() == 3).then(|| s.parse::<u16>().ok()).flatten())
        .ok_or_else(|| WsError::Handshake(format!("bad status line {status_line:?}")))?;
    let reason = parts.next().unwrap_or_default().trim().to_owned();
    if status != 101 {
        return Err(WsError::UpgradeRefused { status, reason });
    }
    let (mut upgrade, mut connection, mut accept) = (false, false, None);
    let mut compression = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(WsError::Handshake(format!("bad header line {line:?}")));
        };
        let (name, value) = (name.trim(), value.trim());
        let lists = |token: &str| {
            value
                .split(',')
                .any(|v| v.trim().eq_ignore_ascii_case(token))
        };
        if name.eq_ignore_ascii_case("upgrade") {
            upgrade |= lists("websocket");
        } else if name.eq_ignore_ascii_case("connection") {
            connection |= lists("upgrade");
        } else if name.eq_ignore_ascii_case("sec-websocket-accept") {
            accept = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("sec-websocket-extensions") && !value.is_empty() {
            compression = accept_extension(value, offered)?;
        }
    }
    if !upgrade {
        return Err(WsError::Handshake("no `Upgrade: websocket` header".into()));
    }
    if !connection {
        return Err(WsError::Handshake("no `Connection: Upgrade` header".into()));
    }
    match accept {
        Some(a) if a == accept_key(key) => Ok(Some(Accepted {
            head_len: end + 4,
            compression,
        })),
        Some(a) => Err(WsError::Handshake(format!(
            "Sec-WebSocket-Accept {a:?} does not match the key sent"
        ))),
        None => Err(WsError::Handshake("no Sec-WebSocket-Accept header".into())),
    }
}

/// Judges the server's `Sec-WebSocket-Extensions`: only the permessage-deflate offered,
/// with the server keeping no context between its messages (the client never does).
fn accept_extension(value: &str, offered: bool) -> Result<bool, WsError> {
    let mut params = value.split(';').map(str::trim);
    let name = params.next().unwrap_or_default();
    if !offered || !name.eq_ignore_ascii_case("permessage-deflate") || value.contains(',') {
        return Err(WsError::Handshake(format!(
            "the server enabled extensions that were not offered: {value:?}"
        )));
    }
    let mut server_no_context = false;
    for param in params {
        let param_name = param.split('=').next().unwrap_or_default().trim();
        if param_name.eq_ignore_ascii_case("server_no_context_takeover") {
            server_no_context = true;
        } else if !param_name.eq_ignore_ascii_case("client_no_context_takeover") {
            return Err(WsError::Handshake(format!(
                "compression negotiation: parameter {param:?} was not offered"
            )));
        }
    }
    if !server_no_context {
        return Err(WsError::Handshake(
            "compression negotiation: the server keeps context between messages".into(),
        ));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn response(extra: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n{extra}\r\n"
        )
    }

    #[test]
    fn the_request_names_host_path_key_and_user_headers() {
        let headers = vec![("Authorization".to_owned(), "Bearer x".to_owned())];
        let mut out = BytesMut::new();
        write_request(
            &UpgradeRequest {
                host: "::1",
                port: 8080,
                default_port: false,
                path: "/nats?x=1",
                key: KEY,
                headers: &headers,
                compression: false,
            },
            &mut out,
        );
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "GET /nats?x=1 HTTP/1.1\r\nHost: [::1]:8080\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\nAuthorization: Bearer x\r\n\r\n"
        );
        let mut out = BytesMut::new();
        write_request(
            &UpgradeRequest {
                host: "example.com",
                port: 443,
                default_port: true,
                path: "/",
                key: KEY,
                headers: &[],
                compression: true,
            },
            &mut out,
        );
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.contains("\r\nHost: example.com\r\n"), "{text}");
        assert!(text.contains(
            "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
             client_no_context_takeover\r\n"
        ));
    }

    #[test]
    fn a_101_with_the_right_accept_is_taken_and_frames_after_it_are_kept() {
        let mut buf = response("Nats-No-Masking: false\r\n").into_bytes();
        let head = buf.len();
        buf.extend_from_slice(&[0x82, 0x02, b'O', b'K']);
        let accepted = parse_response(&buf, KEY, false).unwrap().unwrap();
        assert_eq!(accepted.head_len, head);
        // Header names and list values in any case and order.
        let lower = "HTTP/1.1 101 x\r\nconnection: keep-alive, UPGRADE\r\nupgrade: WebSocket\r\n\
                     sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert!(parse_response(lower.as_bytes(), KEY, false)
            .unwrap()
            .is_some());
    }

    #[test]
    fn an_incomplete_head_waits_at_any_cut() {
        let full = response("");
        for cut in 0..full.len() {
            assert_eq!(
                parse_response(&full.as_bytes()[..cut], KEY, false),
                Ok(None),
                "{cut}"
            );
        }
    }

    #[test]
    fn refusals_and_bad_answers_are_clear_errors() {
        let refused = "HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nForbidden";
        assert_eq!(
            parse_response(refused.as_bytes(), KEY, false),
            Err(WsError::UpgradeRefused {
                status: 403,
                reason: "Forbidden".into()
            })
        );
        let wrong_accept = response("").replace("s3pP", "AAAA");
        assert!(matches!(
            parse_response(wrong_accept.as_bytes(), KEY, false),
            Err(WsError::Handshake(m)) if m.contains("does not match")
        ));
        let no_upgrade = response("").replace("Upgrade: websocket\r\n", "");
        assert!(parse_response(no_upgrade.as_bytes(), KEY, false).is_err());
        let ext = response("Sec-WebSocket-Extensions: permessage-deflate\r\n");
        assert!(parse_response(ext.as_bytes(), KEY, false).is_err());
        let nats = b"INFO {\"server_id\":\"x\"}\r\n";
        assert!(matches!(
            parse_response(nats, KEY, false),
            Err(WsError::Handshake(m)) if m.contains("plain NATS port")
        ));
        let huge = format!("HTTP/1.1 101 x\r\nX: {}\r\n", "a".repeat(MAX_RESPONSE_HEAD));
        assert!(parse_response(huge.as_bytes(), KEY, false).is_err());
        assert!(parse_response(b"HTTP/1.1 1x1 x\r\n\r\n", KEY, false).is_err());
    }

    #[test]
    fn compression_is_on_only_when_offered_and_accepted_without_context() {
        let both = response(
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
             client_no_context_takeover\r\n",
        );
        let accepted = parse_response(both.as_bytes(), KEY, true).unwrap().unwrap();
        assert!(accepted.compression);
        // Offered, not taken: plain frames.
        let plain = parse_response(response("").as_bytes(), KEY, true)
            .unwrap()
            .unwrap();
        assert!(!plain.compression);
        // Taken but not offered, or with context kept, or another extension: refused.
        assert!(parse_response(both.as_bytes(), KEY, false).is_err());
        let context = response("Sec-WebSocket-Extensions: permessage-deflate\r\n");
        assert!(parse_response(context.as_bytes(), KEY, true).is_err());
        let other = response("Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n");
        assert!(parse_response(other.as_bytes(), KEY, true).is_err());
    }

    #[test]
    fn user_headers_are_checked() {
        assert!(check_header("Authorization", "Bearer t").is_ok());
        assert!(check_header("X-Trace", "").is_ok());
        assert!(check_header("Bad Name", "v").is_err());
        assert!(check_header("", "v").is_err());
        assert!(check_header("sec-websocket-key", "v").is_err());
        assert!(check_header("Host", "v").is_err());
        assert!(check_header("X", "a\r\nInjected: yes").is_err());
    }
}
