//! Server addresses: parsing `nats://`, `tls://`, `ws://` and `wss://` URLs.
//!
//! Invariant: a [`ServerAddr`] always holds a known scheme, a non-empty validated host (IPv6
//! in canonical form without brackets, DNS names lower-cased) and a non-zero port. Its
//! identity (`PartialEq`, `Eq`, `Hash`) is scheme + host + port only, and neither `Display`
//! nor `Debug` ever prints the password or the token.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::Ipv6Addr;

/// The transport a server URL asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `nats://`: plain NATS over TCP (TLS if the server requires it). Default port 4222.
    Nats,
    /// `tls://`: NATS over TCP, TLS required. Default port 4222.
    Tls,
    /// `ws://`: NATS over WebSocket. Default port 80.
    Ws,
    /// `wss://`: NATS over WebSocket over TLS. Default port 443.
    Wss,
}

impl Scheme {
    /// The URL scheme as written in a URL, without `://`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Nats => "nats",
            Scheme::Tls => "tls",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        }
    }

    /// The port used when a URL of this scheme names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Nats | Scheme::Tls => 4222,
            Scheme::Ws => 80,
            Scheme::Wss => 443,
        }
    }

    fn from_name(name: &str) -> Option<Scheme> {
        if name.eq_ignore_ascii_case("nats") {
            Some(Scheme::Nats)
        } else if name.eq_ignore_ascii_case("tls") {
            Some(Scheme::Tls)
        } else if name.eq_ignore_ascii_case("ws") {
            Some(Scheme::Ws)
        } else if name.eq_ignore_ascii_case("wss") {
            Some(Scheme::Wss)
        } else {
            None
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a server address could not be parsed.
///
/// Messages never contain the userinfo part of the URL.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddrError {
    /// The address is empty or only whitespace.
    #[error("server address is empty")]
    Empty,
    /// The scheme is not one of `nats`, `tls`, `ws`, `wss`.
    #[error("unknown URL scheme {0:?} (expected nats, tls, ws or wss)")]
    UnknownScheme(String),
    /// No host between the scheme (or userinfo) and the port.
    #[error("server address has an empty host")]
    EmptyHost,
    /// The host contains characters not allowed in a host name or IP address.
    #[error("invalid host {0:?} in server address")]
    InvalidHost(String),
    /// An IPv6 address was given without the `[...]` brackets a URL needs.
    #[error("IPv6 address {0:?} must be written in brackets, e.g. [::1]:4222")]
    UnbracketedIpv6(String),
    /// The port is missing after `:`, not a number, zero, or above 65535.
    #[error("invalid port {0:?} in server address (expected 1-65535)")]
    BadPort(String),
    /// The URL has a path, query or fragment, which a NATS server address cannot use.
    #[error("server address must not have a path, query or fragment")]
    UnexpectedPath,
    /// The userinfo has a malformed `%` escape or does not decode to UTF-8.
    #[error("invalid percent-encoding in the server address credentials")]
    InvalidEncoding,
    /// A discovered address (`host:port` from INFO `connect_urls`) carried a scheme or
    /// credentials, which discovered addresses never have.
    #[error("discovered server address must be a bare host:port")]
    NotBareHostPort,
}

/// A parsed NATS server address.
///
/// Equality and hashing use scheme, host and port only, so an address discovered from a
/// server's `connect_urls` equals the same address given by the user with credentials.
#[derive(Clone)]
pub struct ServerAddr {
    scheme: Scheme,
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
    token: Option<String>,
    /// The request target of a WebSocket upgrade (`/path?query`); `None` for `/`.
    path: Option<String>,
}

impl ServerAddr {
    /// Parses a server URL.
    ///
    /// Accepts `nats://`, `tls://`, `ws://`, `wss://` (case-insensitive), bare `host:port` or
    /// `host` (scheme `nats`), bracketed IPv6 (`[::1]:4222`), and default ports 4222
    /// (`nats`, `tls`), 80 (`ws`) and 443 (`wss`). Userinfo `user:pass@` gives a user and a
    /// password; `token@` (or a user with an empty password) gives a token. Userinfo is
    /// percent-decoded. A trailing `/` is allowed; any other path, query or fragment is not,
    /// except on `ws://` and `wss://`, where the path and query name the upgrade's request
    /// target (for a proxy that routes by path); a fragment is dropped.
    pub fn parse(url: &str) -> Result<ServerAddr, AddrError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(AddrError::Empty);
        }
        let (scheme, rest) = match url.find("://") {
            Some(i) => {
                let name = &url[..i];
                let scheme = Scheme::from_name(name)
                    .ok_or_else(|| AddrError::UnknownScheme(name.to_owned()))?;
                (scheme, &url[i + 3..])
            }
            None => (Scheme::Nats, url),
        };
        let (authority, path) = if matches!(scheme, Scheme::Ws | Scheme::Wss) {
            split_request_target(rest)
        } else {
            (strip_path(rest)?, None)
        };
        let (userinfo, host_port) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (host, port) = parse_host_port(host_port, scheme)?;
        let mut addr = ServerAddr {
            scheme,
            host,
            port,
            username: None,
            password: None,
            token: None,
            path,
        };
        if let Some(info) = userinfo {
            addr.set_userinfo(info)?;
        }
        Ok(addr)
    }

    /// Builds the address of a server discovered from INFO `connect_urls` (`host:port`):
    /// it takes the scheme (and a WebSocket request path) of `like`, the address the client
    /// connected with, and carries no credentials.
    pub fn from_discovered(host_port: &str, like: &ServerAddr) -> Result<ServerAddr, AddrError> {
        let host_port = host_port.trim();
        if host_port.is_empty() {
            return Err(AddrError::Empty);
        }
        if host_port.contains("://") || host_port.contains('@') {
            return Err(AddrError::NotBareHostPort);
        }
        let host_port = strip_path(host_port)?;
        let (host, port) = parse_host_port(host_port, like.scheme)?;
        Ok(ServerAddr {
            scheme: like.scheme,
            host,
            port,
            username: None,
            password: None,
            token: None,
            path: like.path.clone(),
        })
    }

    /// The URL scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host: a DNS name (lower-cased), an IPv4 address, or an IPv6 address without
    /// brackets. Suitable as a TLS server name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (the scheme's default when the URL names none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The request target of a WebSocket upgrade: the URL's path and query, `/` when it has
    /// none. Always `/` for `nats://` and `tls://`.
    pub fn path(&self) -> &str {
        self.path.as_deref().unwrap_or("/")
    }

    /// The user name from `user:pass@` userinfo.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The password from `user:pass@` userinfo. A secret: do not log it.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The token from `token@` userinfo. A secret: do not log it.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Whether the scheme demands TLS (`tls://` or `wss://`).
    pub fn tls_required(&self) -> bool {
        matches!(self.scheme, Scheme::Tls | Scheme::Wss)
    }

    /// Whether the scheme is WebSocket (`ws://` or `wss://`).
    pub fn is_websocket(&self) -> bool {
        matches!(self.scheme, Scheme::Ws | Scheme::Wss)
    }

    /// Whether the URL carried any credentials (user, password or token).
    pub fn has_credentials(&self) -> bool {
        self.username.is_some() || self.password.is_some() || self.token.is_some()
    }

    fn set_userinfo(&mut self, info: &str) -> Result<(), AddrError> {
        if info.is_empty() {
            return Ok(());
        }
        match info.find(':') {
            Some(i) => {
                let user = percent_decode(&info[..i])?;
                let pass = percent_decode(&info[i + 1..])?;
                if pass.is_empty() {
                    // nats.go: no password means the user part is a token.
                    if !user.is_empty() {
                        self.token = Some(user);
                    }
                } else {
                    self.username = Some(user);
                    self.password = Some(pass);
                }
            }
            None => {
                let token = percent_decode(info)?;
                if !token.is_empty() {
                    self.token = Some(token);
                }
            }
        }
        Ok(())
    }

    fn fmt_host_port(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Cuts a trailing `/` off the authority and rejects any other path, query or fragment.
fn strip_path(rest: &str) -> Result<&str, AddrError> {
    match rest.find(['/', '?', '#']) {
        None => Ok(rest),
        Some(i) if &rest[i..] == "/" => Ok(&rest[..i]),
        Some(_) => Err(AddrError::UnexpectedPath),
    }
}

/// Splits a WebSocket URL's rest into the authority and the request target (path and
/// query, the fragment dropped; `None` when that is just `/` or empty).
fn split_request_target(rest: &str) -> (&str, Option<String>) {
    let rest = rest.split('#').next().unwrap_or_default();
    match rest.find(['/', '?']) {
        None => (rest, None),
        Some(i) => {
            let target = &rest[i..];
            let target = match target {
                "" | "/" => None,
                t if t.starts_with('?') => Some(format!("/{t}")),
                t => Some(t.to_owned()),
            };
            (&rest[..i], target)
        }
    }
}

fn parse_host_port(host_port: &str, scheme: Scheme) -> Result<(String, u16), AddrError> {
    let (host, port) = if let Some(inner) = host_port.strip_prefix('[') {
        let end = inner
            .find(']')
            .ok_or_else(|| AddrError::InvalidHost(host_port.to_owned()))?;
        let ip: Ipv6Addr = inner[..end]
            .parse()
            .map_err(|_| AddrError::InvalidHost(inner[..end].to_owned()))?;
        let after = &inner[end + 1..];
        let port = if after.is_empty() {
            None
        } else {
            let p = after
                .strip_prefix(':')
                .ok_or_else(|| AddrError::InvalidHost(host_port.to_owned()))?;
            Some(p)
        };
        (ip.to_string(), port)
    } else {
        let (host, port) = match host_port.rfind(':') {
            Some(i) => (&host_port[..i], Some(&host_port[i + 1..])),
            None => (host_port, None),
        };
        if host.contains(':') {
            return Err(AddrError::UnbracketedIpv6(host_port.to_owned()));
        }
        if host.is_empty() {
            return Err(AddrError::EmptyHost);
        }
        let valid = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !valid {
            return Err(AddrError::InvalidHost(host.to_owned()));
        }
        (host.to_ascii_lowercase(), port)
    };
    let port = match port {
        None => scheme.default_port(),
        Some(p) => {
            let valid = !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
            match p.parse::<u16>() {
                Ok(n) if valid && n != 0 => n,
                _ => return Err(AddrError::BadPort(p.to_owned())),
            }
        }
    };
    Ok((host, port))
}

fn percent_decode(s: &str) -> Result<String, AddrError> {
    if !s.contains('%') {
        return Ok(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(AddrError::InvalidEncoding)?;
            let hi = hex_val(hex[0]).ok_or(AddrError::InvalidEncoding)?;
            let lo = hex_val(hex[1]).ok_or(AddrError::InvalidEncoding)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| AddrError::InvalidEncoding)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Writes `s` percent-encoding the characters that would break the userinfo of a URL.
fn write_userinfo_part(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    for c in s.chars() {
        if matches!(c, ':' | '@' | '/' | '%' | '?' | '#' | '[' | ']') || c.is_whitespace() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                write!(f, "%{b:02X}")?;
            }
        } else {
            write!(f, "{c}")?;
        }
    }
    Ok(())
}

impl fmt::Display for ServerAddr {
    /// Prints the URL with the password and token replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        if let Some(user) = &self.username {
            write_userinfo_part(f, user)?;
            if self.password.is_some() {
                f.write_str(":***")?;
            }
            f.write_str("@")?;
        } else if self.token.is_some() {
            f.write_str("***@")?;
        }
        self.fmt_host_port(f)?;
        match &self.path {
            Some(path) => f.write_str(path),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerAddr")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("path", &self.path)
            .field("username", &self.username)
            .field("password", &super::Redacted(self.password.is_some()))
            .field("token", &super::Redacted(self.token.is_some()))
            .finish()
    }
}

impl PartialEq for ServerAddr {
    fn eq(&self, other: &Self) -> bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }
}

impl Eq for ServerAddr {}

impl Hash for ServerAddr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.scheme.hash(state);
        self.host.hash(state);
        self.port.hash(state);
    }
}

impl std::str::FromStr for ServerAddr {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ServerAddr::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Row = (
        &'static str,
        Scheme,
        &'static str,
        u16,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
    );

    #[test]
    fn url_table() {
        use Scheme::*;
        let rows: &[Row] = &[
            (
                "nats://localhost:4222",
                Nats,
                "localhost",
                4222,
                None,
                None,
                None,
            ),
            (
                "nats://localhost",
                Nats,
                "localhost",
                4222,
                None,
                None,
                None,
            ),
            (
                "tls://demo.nats.io",
                Tls,
                "demo.nats.io",
                4222,
                None,
                None,
                None,
            ),
            ("ws://host", Ws, "host", 80, None, None, None),
            ("wss://host", Wss, "host", 443, None, None, None),
            ("wss://host:8443/", Wss, "host", 8443, None, None, None),
            (
                "NATS://Host.Example:1",
                Nats,
                "host.example",
                1,
                None,
                None,
                None,
            ),
            ("localhost:4333", Nats, "localhost", 4333, None, None, None),
            ("localhost", Nats, "localhost", 4222, None, None, None),
            ("127.0.0.1", Nats, "127.0.0.1", 4222, None, None, None),
            ("  10.0.0.1:5  ", Nats, "10.0.0.1", 5, None, None, None),
            ("[::1]:4222", Nats, "::1", 4222, None, None, None),
            ("[::1]", Nats, "::1", 4222, None, None, None),
            ("tls://[fe80::0:1]:7", Tls, "fe80::1", 7, None, None, None),
            ("nats://u:p@h:1", Nats, "h", 1, Some("u"), Some("p"), None),
            ("u:p@h", Nats, "h", 4222, Some("u"), Some("p"), None),
            (
                "nats://s3cr3t@h",
                Nats,
                "h",
                4222,
                None,
                None,
                Some("s3cr3t"),
            ),
            ("nats://tok:@h", Nats, "h", 4222, None, None, Some("tok")),
            ("nats://@h", Nats, "h", 4222, None, None, None),
            (
                "nats://u:p%40ss%3Aw@h",
                Nats,
                "h",
                4222,
                Some("u"),
                Some("p@ss:w"),
                None,
            ),
            (
                "nats://u:p@ss@h",
                Nats,
                "h",
                4222,
                Some("u"),
                Some("p@ss"),
                None,
            ),
            (
                "wss://u:p@[::1]:9",
                Wss,
                "::1",
                9,
                Some("u"),
                Some("p"),
                None,
            ),
        ];
        for &(url, scheme, host, port, user, pass, token) in rows {
            let a = ServerAddr::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(a.scheme(), scheme, "{url}");
            assert_eq!(a.host(), host, "{url}");
            assert_eq!(a.port(), port, "{url}");
            assert_eq!(a.username(), user, "{url}");
            assert_eq!(a.password(), pass, "{url}");
            assert_eq!(a.token(), token, "{url}");
        }
    }

    #[test]
    fn url_errors() {
        let rows: &[(&str, AddrError)] = &[
            ("", AddrError::Empty),
            ("   ", AddrError::Empty),
            ("http://h", AddrError::UnknownScheme("http".into())),
            ("nats://", AddrError::EmptyHost),
            ("nats://:4222", AddrError::EmptyHost),
            ("nats://u:p@", AddrError::EmptyHost),
            ("nats://h:", AddrError::BadPort(String::new())),
            ("nats://h:0", AddrError::BadPort("0".into())),
            ("nats://h:65536", AddrError::BadPort("65536".into())),
            ("nats://h:12ab", AddrError::BadPort("12ab".into())),
            ("nats://h:-1", AddrError::BadPort("-1".into())),
            ("nats://h:+1", AddrError::BadPort("+1".into())),
            ("nats://h/path", AddrError::UnexpectedPath),
            ("nats://h?x=1", AddrError::UnexpectedPath),
            ("nats://h o:1", AddrError::InvalidHost("h o".into())),
            ("::1", AddrError::UnbracketedIpv6("::1".into())),
            ("[::1", AddrError::InvalidHost("[::1".into())),
            ("[zz::1]:4", AddrError::InvalidHost("zz::1".into())),
            ("[::1]x", AddrError::InvalidHost("[::1]x".into())),
            ("nats://u:%zz@h", AddrError::InvalidEncoding),
            ("nats://u:%4@h", AddrError::InvalidEncoding),
        ];
        for (url, want) in rows {
            assert_eq!(ServerAddr::parse(url).as_ref(), Err(want), "{url:?}");
        }
    }

    #[test]
    fn display_and_debug_redact() {
        let a = ServerAddr::parse("nats://alice:hunter2@h:1").unwrap();
        assert_eq!(a.to_string(), "nats://alice:***@h:1");
        let dbg = format!("{a:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("alice"));

        let t = ServerAddr::parse("tls://t0k3n@[::1]").unwrap();
        assert_eq!(t.to_string(), "tls://***@[::1]:4222");
        assert!(!format!("{t:?}").contains("t0k3n"));
        assert!(!format!("{t:#?}").contains("t0k3n"));

        let p = ServerAddr::parse("ws://host").unwrap();
        assert_eq!(p.to_string(), "ws://host:80");
        let e = ServerAddr::parse("nats://a:s3cret@h:bad").unwrap_err();
        assert!(!e.to_string().contains("s3cret"));
    }

    #[test]
    fn identity_ignores_credentials() {
        use std::collections::HashSet;
        let given = ServerAddr::parse("tls://u:p@Host:4333").unwrap();
        let found = ServerAddr::from_discovered("host:4333", &given).unwrap();
        assert_eq!(found.scheme(), Scheme::Tls);
        assert!(!found.has_credentials());
        assert_eq!(given, found);
        let set: HashSet<_> = [given.clone()].into_iter().collect();
        assert!(set.contains(&found));
        assert_ne!(given, ServerAddr::parse("nats://host:4333").unwrap());
    }

    #[test]
    fn discovered() {
        let like = ServerAddr::parse("wss://x").unwrap();
        let d = ServerAddr::from_discovered("[2001:db8::1]:9222", &like).unwrap();
        assert_eq!(
            (d.host(), d.port(), d.scheme()),
            ("2001:db8::1", 9222, Scheme::Wss)
        );
        let d = ServerAddr::from_discovered("10.1.2.3", &like).unwrap();
        assert_eq!(d.port(), 443);
        assert_eq!(
            ServerAddr::from_discovered("nats://h:1", &like),
            Err(AddrError::NotBareHostPort)
        );
        assert_eq!(
            ServerAddr::from_discovered("u:p@h:1", &like),
            Err(AddrError::NotBareHostPort)
        );
        assert_eq!(
            ServerAddr::from_discovered("", &like),
            Err(AddrError::Empty)
        );
    }

    #[test]
    fn websocket_urls_keep_their_request_target() {
        let rows = [
            ("ws://h", "/", "ws://h:80"),
            ("ws://h/", "/", "ws://h:80"),
            ("ws://u:p@h:8080/nats", "/nats", "ws://u:***@h:8080/nats"),
            (
                "wss://h/a/b?x=1&y=2#frag",
                "/a/b?x=1&y=2",
                "wss://h:443/a/b?x=1&y=2",
            ),
            ("ws://h:1?x=1", "/?x=1", "ws://h:1/?x=1"),
        ];
        for (url, path, shown) in rows {
            let a = ServerAddr::parse(url).unwrap();
            assert_eq!((a.path(), a.to_string().as_str()), (path, shown), "{url}");
        }
        assert_eq!(
            ServerAddr::parse("ws://u:p@h:8080/nats")
                .unwrap()
                .password(),
            Some("p")
        );
        // A discovered server is reached through the same proxy path.
        let like = ServerAddr::parse("wss://h/nats").unwrap();
        let d = ServerAddr::from_discovered("10.0.0.2:8443", &like).unwrap();
        assert_eq!((d.path(), d.scheme()), ("/nats", Scheme::Wss));
        // The path does not make another server.
        assert_eq!(
            ServerAddr::parse("ws://h:1/a").unwrap(),
            ServerAddr::parse("ws://h:1").unwrap()
        );
        assert_eq!(ServerAddr::parse("nats://h").unwrap().path(), "/");
    }

    #[test]
    fn flags() {
        let a = ServerAddr::parse("wss://h").unwrap();
        assert!(a.tls_required() && a.is_websocket());
        let a = ServerAddr::parse("tls://h").unwrap();
        assert!(a.tls_required() && !a.is_websocket());
        let a = ServerAddr::parse("ws://h").unwrap();
        assert!(!a.tls_required() && a.is_websocket());
        let a = ServerAddr::parse("h").unwrap();
        assert!(!a.tls_required() && !a.is_websocket());
    }
}
