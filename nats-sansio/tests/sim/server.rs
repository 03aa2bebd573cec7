//! A small sans-IO NATS server peer, and a cluster of them sharing one subscription space.
//!
//! It is written from the protocol text, independently of the crate's `proto` module, so a
//! bug there cannot hide itself here. It parses client ops (CONNECT, PUB, HPUB, SUB, UNSUB,
//! PING, PONG), checks credentials, routes messages (wildcards, queue groups, echo, UNSUB max,
//! 503 no responders) and records everything it received. Every publish goes past the
//! cluster's JetStream (`jetstream.rs`) first, which may store it, answer it, or consume it.
//!
//! Invariants:
//! - Every op a connection sends is appended to its server's `log`, in arrival order.
//! - Anything a correct client must never do (garbage, ops before CONNECT, CONNECT without
//!   `verbose`/`pedantic` false, HPUB to a server without headers, duplicate sids, payloads
//!   over `max_payload`) is appended to `violations`; tests assert it stays empty.
//! - Routing visits servers, connections and sids in a fixed order and picks queue members
//!   with the seeded generator, so delivery is reproducible from the seed.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

use super::jetstream::{JetStream, Routing};
use super::net::Rng;

/// A connection's id: the world's link id.
pub(crate) type ConnId = u64;

/// What credentials a server demands.
#[derive(Debug, Clone)]
pub(crate) enum ServerAuth {
    None,
    Token(String),
    UserPass {
        user: String,
        pass: String,
    },
    /// A bare NKey user with this public key; the nonce signature must verify with it.
    NKey {
        public: String,
    },
    /// A user JWT signed by this account key; the nonce signature must verify with the
    /// JWT's `sub`.
    Jwt {
        issuer: String,
    },
}

/// How a server presents itself.
#[derive(Debug, Clone)]
pub(crate) struct ServerConfig {
    pub(crate) server_id: String,
    pub(crate) headers: bool,
    pub(crate) max_payload: usize,
    pub(crate) auth: ServerAuth,
    pub(crate) connect_urls: Vec<String>,
}

impl ServerConfig {
    pub(crate) fn new(server_id: &str) -> ServerConfig {
        ServerConfig {
            server_id: server_id.to_owned(),
            headers: true,
            max_payload: 1024 * 1024,
            auth: ServerAuth::None,
            connect_urls: Vec::new(),
        }
    }
}

/// One op as the server parsed it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ClientOp {
    Connect(Value),
    Pub {
        subject: String,
        reply: Option<String>,
        headers: Option<Vec<u8>>,
        payload: Vec<u8>,
    },
    Sub {
        subject: String,
        queue: Option<String>,
        sid: String,
    },
    Unsub {
        sid: String,
        max: Option<u64>,
    },
    Ping,
    Pong,
}

#[derive(Debug)]
struct ServerSub {
    subject: String,
    queue: Option<String>,
    max: Option<u64>,
    delivered: u64,
}

#[derive(Debug, Default)]
struct ServerConn {
    nonce: Option<String>,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    connect: Option<Value>,
    subs: BTreeMap<String, ServerSub>,
    /// An error was sent: ignore further input and close once `out` is written.
    closing: bool,
}

impl ServerConn {
    fn flag(&self, name: &str) -> bool {
        self.connect
            .as_ref()
            .and_then(|c| c.get(name))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    fn fail(&mut self, error: &str) {
        self.out
            .extend_from_slice(format!("-ERR '{error}'\r\n").as_bytes());
        self.closing = true;
    }
}

/// One server.
#[derive(Debug)]
pub(crate) struct SimServer {
    pub(crate) config: ServerConfig,
    /// `host:port` the client reaches it at.
    pub(crate) host_port: String,
    /// Refuses every connect while set.
    pub(crate) down: bool,
    /// Refuses connects until this virtual time.
    pub(crate) refuse_until: Duration,
    /// Accepts connections but never sends INFO (a hung server).
    pub(crate) mute: bool,
    /// Answers PING with PONG (clear it to make the connection look stale).
    pub(crate) answer_pings: bool,
    /// Every op received, with the connection it came on.
    pub(crate) log: Vec<(ConnId, ClientOp)>,
    /// What a correct client must never do, as it happened.
    pub(crate) violations: Vec<String>,
    /// Connections accepted so far.
    pub(crate) accepted: u64,
    conns: BTreeMap<ConnId, ServerConn>,
    /// Fields merged into every INFO sent from now on (for example `ldm`).
    info_patch: Value,
}

impl SimServer {
    fn new(index: usize, config: ServerConfig) -> SimServer {
        SimServer {
            config,
            host_port: format!("s{index}:4222"),
            down: false,
            refuse_until: Duration::ZERO,
            mute: false,
            answer_pings: true,
            log: Vec::new(),
            violations: Vec::new(),
            accepted: 0,
            conns: BTreeMap::new(),
            info_patch: json!({}),
        }
    }

    fn info(&self, nonce: Option<&str>) -> String {
        let (host, port) = self.host_port.split_once(':').unwrap_or(("", "0"));
        let mut info = json!({
            "server_id": self.config.server_id,
            "server_name": self.config.server_id,
            "version": "2.10.0",
            "proto": 1,
            "go": "sim",
            "host": host,
            "port": port.parse::<u16>().unwrap_or(0),
            "headers": self.config.headers,
            "max_payload": self.config.max_payload,
            "auth_required": !matches!(self.config.auth, ServerAuth::None),
        });
        if let Some(nonce) = nonce {
            info["nonce"] = json!(nonce);
        }
        if !self.config.connect_urls.is_empty() {
            info["connect_urls"] = json!(self.config.connect_urls);
        }
        if let (Some(info), Some(patch)) = (info.as_object_mut(), self.info_patch.as_object()) {
            for (k, v) in patch {
                info.insert(k.clone(), v.clone());
            }
        }
        format!("INFO {info}\r\n")
    }

    /// Ids of the connections open on this server.
    pub(crate) fn conn_ids(&self) -> Vec<ConnId> {
        self.conns.keys().copied().collect()
    }

    /// Ops received, without the connection ids.
    pub(crate) fn ops(&self) -> impl Iterator<Item = &ClientOp> {
        self.log.iter().map(|(_, op)| op)
    }

    /// Payloads of the PUBs received on `subject`.
    pub(crate) fn published(&self, subject: &str) -> Vec<Vec<u8>> {
        self.ops()
            .filter_map(|op| match op {
                ClientOp::Pub {
                    subject: s,
                    payload,
                    ..
                } if s == subject => Some(payload.clone()),
                _ => None,
            })
            .collect()
    }

    /// Ops of the latest connection to send CONNECT, from that CONNECT on.
    pub(crate) fn latest_session(&self) -> Vec<&ClientOp> {
        let Some(start) = self
            .log
            .iter()
            .rposition(|(_, op)| matches!(op, ClientOp::Connect(_)))
        else {
            return Vec::new();
        };
        let conn = self.log[start].0;
        self.log[start..]
            .iter()
            .filter(|(c, _)| *c == conn)
            .map(|(_, op)| op)
            .collect()
    }

    /// The CONNECT JSON of the latest connection.
    pub(crate) fn last_connect(&self) -> Option<&Value> {
        self.ops()
            .filter_map(|op| match op {
                ClientOp::Connect(v) => Some(v),
                _ => None,
            })
            .last()
    }
}

/// Servers that share one subscription space, as a NATS cluster does.
#[derive(Debug)]
pub(crate) struct Cluster {
    pub(crate) servers: Vec<SimServer>,
    rng: Rng,
    /// Which server each connection is on.
    owner: BTreeMap<ConnId, usize>,
    /// The cluster's JetStream (shared by all its servers, as a meta group would be).
    pub(crate) js: JetStream,
    /// Virtual time, as the world last told it.
    pub(crate) now: Duration,
}

/// One delivery decided by routing.
struct Delivery {
    server: usize,
    conn: ConnId,
    sid: String,
}

impl Cluster {
    pub(crate) fn new(configs: Vec<ServerConfig>, seed: u64) -> Cluster {
        Cluster {
            servers: configs
                .into_iter()
                .enumerate()
                .map(|(i, c)| SimServer::new(i, c))
                .collect(),
            rng: Rng::new(seed.wrapping_mul(31).wrapping_add(7) ^ 0x5EED_5EED),
            owner: BTreeMap::new(),
            js: JetStream::default(),
            now: Duration::ZERO,
        }
    }

    /// The server listening at `host:port`.
    pub(crate) fn find(&self, host_port: &str) -> Option<usize> {
        self.servers.iter().position(|s| s.host_port == host_port)
    }

    /// Whether `server` accepts a connection at virtual time `now`.
    pub(crate) fn accepts(&self, server: usize, now: Duration) -> bool {
        let s = &self.servers[server];
        !s.down && s.refuse_until <= now
    }

    /// A new connection: the server speaks first, with INFO.
    pub(crate) fn accept(&mut self, server: usize, conn: ConnId) {
        let needs_nonce = matches!(
            self.servers[server].config.auth,
            ServerAuth::NKey { .. } | ServerAuth::Jwt { .. }
        );
        let nonce = needs_nonce.then(|| {
            const ALPHABET: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            (0..15)
                .map(|_| ALPHABET[self.rng.below(ALPHABET.len() as u64) as usize] as char)
                .collect::<String>()
        });
        let s = &mut self.servers[server];
        s.accepted += 1;
        let out = if s.mute {
            Vec::new()
        } else {
            s.info(nonce.as_deref()).into_bytes()
        };
        s.conns.insert(
            conn,
            ServerConn {
                nonce,
                out,
                ..ServerConn::default()
            },
        );
        self.owner.insert(conn, server);
    }

    /// The connection is gone (the client closed it, or the network cut it).
    pub(crate) fn disconnect(&mut self, conn: ConnId) {
        if let Some(server) = self.owner.remove(&conn) {
            self.servers[server].conns.remove(&conn);
        }
    }

    /// Bytes to send on `conn`, and whether the server closes it after them.
    pub(crate) fn take_output(&mut self, conn: ConnId) -> (Vec<u8>, bool) {
        let Some(&server) = self.owner.get(&conn) else {
            return (Vec::new(), false);
        };
        let Some(c) = self.servers[server].conns.get_mut(&conn) else {
            return (Vec::new(), false);
        };
        let out = std::mem::take(&mut c.out);
        let close = c.closing;
        if close {
            self.disconnect(conn);
        }
        (out, close)
    }

    /// Sends raw bytes to every connection of `server`.
    pub(crate) fn send_raw(&mut self, server: usize, bytes: &[u8]) {
        for c in self.servers[server].conns.values_mut() {
            c.out.extend_from_slice(bytes);
        }
    }

    /// Sends `-ERR '<text>'` to every connection of `server`, closing them when `fatal`.
    pub(crate) fn send_err(&mut self, server: usize, text: &str, fatal: bool) {
        for c in self.servers[server].conns.values_mut() {
            c.out
                .extend_from_slice(format!("-ERR '{text}'\r\n").as_bytes());
            c.closing |= fatal;
        }
    }

    /// Merges `patch` into this server's INFO and sends the new INFO to its connections.
    pub(crate) fn send_info(&mut self, server: usize, patch: Value) {
        let s = &mut self.servers[server];
        if let (Some(base), Some(patch)) = (s.info_patch.as_object_mut(), patch.as_object()) {
            for (k, v) in patch {
                base.insert(k.clone(), v.clone());
            }
        }
        let ids = s.conn_ids();
        for id in ids {
            let info = s.info(None);
            if let Some(c) = s.conns.get_mut(&id) {
                c.out.extend_from_slice(info.as_bytes());
            }
        }
    }

    /// Bytes arrived on `conn`: parse and act on every complete op.
    pub(crate) fn receive(&mut self, conn: ConnId, data: &[u8]) {
        let Some(&server) = self.owner.get(&conn) else {
            return;
        };
        if let Some(c) = self.servers[server].conns.get_mut(&conn) {
            c.inbuf.extend_from_slice(data);
        }
        loop {
            let Some(c) = self.servers[server].conns.get_mut(&conn) else {
                return;
            };
            if c.closing {
                return;
            }
            let op = match parse_op(&c.inbuf) {
                Ok(Some((op, used))) => {
                    c.inbuf.drain(..used);
                    op
                }
                Ok(None) => return,
                Err(e) => {
                    c.fail("Unknown Protocol Operation");
                    self.servers[server]
                        .violations
                        .push(format!("conn {conn}: {e}"));
                    return;
                }
            };
            self.servers[server].log.push((conn, op.clone()));
            self.on_op(server, conn, op);
        }
    }

    fn on_op(&mut self, server: usize, conn: ConnId, op: ClientOp) {
        let s = &mut self.servers[server];
        let answer_pings = s.answer_pings;
        let headers_ok = s.config.headers;
        let max_payload = s.config.max_payload;
        let auth = s.config.auth.clone();
        let Some(c) = s.conns.get_mut(&conn) else {
            return;
        };
        let mut violation = None;
        if c.connect.is_none() && !matches!(op, ClientOp::Connect(_)) {
            violation = Some(format!("{op:?} before CONNECT"));
        }
        match op {
            ClientOp::Connect(v) => {
                if c.connect.is_some() {
                    violation = Some("second CONNECT".to_owned());
                }
                for field in ["verbose", "pedantic"] {
                    if v.get(field) != Some(&Value::Bool(false)) {
                        violation = Some(format!("CONNECT without {field}:false"));
                    }
                }
                let no_responders = v.get("no_responders") == Some(&Value::Bool(true));
                let headers = v.get("headers") == Some(&Value::Bool(true));
                if no_responders && !headers {
                    violation = Some("no_responders without headers".to_owned());
                }
                match check_auth(&auth, &v, c.nonce.as_deref()) {
                    Ok(()) => c.connect = Some(v),
                    // A refused login is not a client bug: only the client hears of it.
                    Err(_) => c.fail("Authorization Violation"),
                }
            }
            ClientOp::Ping => {
                if answer_pings {
                    c.out.extend_from_slice(b"PONG\r\n");
                }
            }
            ClientOp::Pong => {}
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => {
                if c.subs.contains_key(&sid) {
                    violation = Some(format!("duplicate sid {sid}"));
                }
                c.subs.insert(
                    sid,
                    ServerSub {
                        subject,
                        queue,
                        max: None,
                        delivered: 0,
                    },
                );
            }
            ClientOp::Unsub { sid, max } => {
                let done = match (c.subs.get_mut(&sid), max) {
                    (Some(sub), Some(max)) if sub.delivered < max => {
                        sub.max = Some(max);
                        false
                    }
                    _ => true,
                };
                if done {
                    c.subs.remove(&sid);
                }
            }
            ClientOp::Pub {
                subject,
                reply,
                headers,
                payload,
            } => {
                let size = headers.as_ref().map_or(0, Vec::len) + payload.len();
                if size > max_payload {
                    violation = Some(format!("payload of {size} over max_payload"));
                    c.fail("Maximum Payload Violation");
                } else if headers.is_some() && !headers_ok {
                    violation = Some("HPUB to a server without headers".to_owned());
                } else {
                    s.violations.extend(violation);
                    self.publish(server, conn, &subject, reply.as_deref(), headers, &payload);
                    return;
                }
            }
        }
        s.violations.extend(violation);
    }

    /// A publish from a client: JetStream sees it first, then it is routed.
    fn publish(
        &mut self,
        server: usize,
        conn: ConnId,
        subject: &str,
        reply: Option<&str>,
        headers: Option<Vec<u8>>,
        payload: &[u8],
    ) {
        let servers = &self.servers;
        let routing = self.js.handle_publish(
            self.now,
            subject,
            reply,
            headers.as_deref(),
            payload,
            &|s| has_interest(servers, s),
        );
        self.send_js();
        match routing {
            Routing::Consumed => {}
            Routing::NoResponders => {
                let c = &self.servers[server].conns[&conn];
                if let (Some(reply), true) = (reply, c.flag("no_responders") && c.flag("headers")) {
                    self.send_no_responders(server, conn, reply);
                }
            }
            Routing::Normal => self.route(server, conn, subject, reply, headers, payload, false),
            Routing::Stored => self.route(server, conn, subject, reply, headers, payload, true),
        }
    }

    /// Sends what JetStream queued, as the server's own publishes.
    fn send_js(&mut self) {
        for out in self.js.take_out() {
            let targets = self.targets(&out.to, None);
            self.write_to(
                targets,
                &out.subject,
                out.reply.as_deref(),
                out.headers.as_deref(),
                &out.payload,
            );
        }
    }

    /// When JetStream's next timer is due.
    pub(crate) fn poll_timeout(&self) -> Option<Duration> {
        self.js.poll_timeout()
    }

    /// Fires JetStream's timers due at `now` (pull expiry, heartbeats, redeliveries).
    pub(crate) fn handle_timeout(&mut self, now: Duration) {
        self.now = self.now.max(now);
        let servers = &self.servers;
        self.js
            .handle_timeout(self.now, &|s| has_interest(servers, s));
        self.send_js();
    }

    /// The server loses a consumer under its clients (see [`JetStream::lose_consumer`]).
    pub(crate) fn lose_consumer(&mut self, stream: &str, name: &str, notify: bool) -> bool {
        let lost = self.js.lose_consumer(stream, name, notify);
        self.send_js();
        lost
    }

    /// Delivers a publish to every matching subscription in the cluster; `answered` when
    /// a stream stored it (so it had a responder).
    #[allow(clippy::too_many_arguments)]
    fn route(
        &mut self,
        origin_server: usize,
        origin: ConnId,
        subject: &str,
        reply: Option<&str>,
        headers: Option<Vec<u8>>,
        payload: &[u8],
        answered: bool,
    ) {
        let origin_conn = &self.servers[origin_server].conns[&origin];
        let echo = origin_conn
            .connect
            .as_ref()
            .and_then(|c| c.get("echo"))
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let no_responders = origin_conn.flag("no_responders") && origin_conn.flag("headers");
        let targets = self.targets(subject, (!echo).then_some(origin));
        if targets.is_empty() {
            if let (Some(reply), true, false) = (reply, no_responders, answered) {
                self.send_no_responders(origin_server, origin, reply);
            }
            return;
        }
        self.write_to(targets, subject, reply, headers.as_deref(), payload);
    }

    /// Who receives a message on `subject` (one member per queue group), except `skip`.
    fn targets(&mut self, subject: &str, skip: Option<ConnId>) -> Vec<Delivery> {
        let mut plain = Vec::new();
        let mut groups: BTreeMap<String, Vec<Delivery>> = BTreeMap::new();
        for (si, s) in self.servers.iter().enumerate() {
            for (&id, c) in &s.conns {
                if c.closing || c.connect.is_none() || Some(id) == skip {
                    continue;
                }
                for (sid, sub) in &c.subs {
                    if !subject_matches(&sub.subject, subject) {
                        continue;
                    }
                    let d = Delivery {
                        server: si,
                        conn: id,
                        sid: sid.clone(),
                    };
                    match &sub.queue {
                        Some(q) => groups.entry(q.clone()).or_default().push(d),
                        None => plain.push(d),
                    }
                }
            }
        }
        for (_, mut members) in groups {
            let pick = self.rng.below(members.len() as u64) as usize;
            plain.push(members.swap_remove(pick));
        }
        plain
    }

    /// Writes one message, shown on `subject`, to each target.
    fn write_to(
        &mut self,
        targets: Vec<Delivery>,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) {
        for d in targets {
            let Some(c) = self.servers[d.server].conns.get_mut(&d.conn) else {
                continue;
            };
            let Some(sub) = c.subs.get_mut(&d.sid) else {
                continue;
            };
            sub.delivered += 1;
            let finished = sub.max.is_some_and(|m| sub.delivered >= m);
            write_msg(&mut c.out, subject, &d.sid, reply, headers, payload);
            if finished {
                c.subs.remove(&d.sid);
            }
        }
    }

    /// `HMSG <reply> <sid> <n> <n>` with a bare `NATS/1.0 503` header block, to the
    /// requester's subscription matching the reply subject.
    fn send_no_responders(&mut self, server: usize, conn: ConnId, reply: &str) {
        let Some(c) = self.servers[server].conns.get_mut(&conn) else {
            return;
        };
        let sid = c
            .subs
            .iter()
            .find(|(_, s)| subject_matches(&s.subject, reply))
            .map(|(sid, _)| sid.clone());
        if let Some(sid) = sid {
            write_msg(
                &mut c.out,
                reply,
                &sid,
                None,
                Some(b"NATS/1.0 503\r\n\r\n"),
                b"",
            );
        }
    }
}

/// `MSG` or `HMSG` exactly as a server writes it.
fn write_msg(
    out: &mut Vec<u8>,
    subject: &str,
    sid: &str,
    reply: Option<&str>,
    headers: Option<&[u8]>,
    payload: &[u8],
) {
    let reply = reply.map(|r| format!(" {r}")).unwrap_or_default();
    match headers {
        Some(h) => {
            let total = h.len() + payload.len();
            out.extend_from_slice(
                format!("HMSG {subject} {sid}{reply} {} {total}\r\n", h.len()).as_bytes(),
            );
            out.extend_from_slice(h);
        }
        None => out.extend_from_slice(
            format!("MSG {subject} {sid}{reply} {}\r\n", payload.len()).as_bytes(),
        ),
    }
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Does any connection of the cluster subscribe to `subject`?
fn has_interest(servers: &[SimServer], subject: &str) -> bool {
    servers.iter().any(|s| {
        s.conns.values().any(|c| {
            !c.closing
                && c.connect.is_some()
                && c.subs
                    .values()
                    .any(|sub| subject_matches(&sub.subject, subject))
        })
    })
}

/// NATS subject matching: `*` is one token, `>` one or more trailing tokens.
pub(crate) fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// One complete op at the start of `buf` and its length; `None` when incomplete.
fn parse_op(buf: &[u8]) -> Result<Option<(ClientOp, usize)>, String> {
    let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
        if buf.len() > 4096 {
            return Err("control line over 4096 bytes".to_owned());
        }
        return Ok(None);
    };
    let line = std::str::from_utf8(&buf[..eol]).map_err(|_| "control line not UTF-8")?;
    let body = eol + 2;
    let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
    let args: Vec<&str> = rest.split_ascii_whitespace().collect();
    let bad = || format!("malformed {line:?}");
    let num = |s: &str| s.parse::<usize>().map_err(|_| bad());
    // Payload ops: the op and its length, then the payload and a CRLF.
    let with_payload = |op: ClientOp, len: usize| {
        if buf.len() < body + len + 2 {
            return Ok(None);
        }
        if &buf[body + len..body + len + 2] != b"\r\n" {
            return Err(format!("payload of {line:?} not followed by CRLF"));
        }
        Ok(Some((op, body + len + 2)))
    };
    match name.to_ascii_uppercase().as_str() {
        "CONNECT" => {
            let v: Value = serde_json::from_str(rest).map_err(|e| format!("CONNECT json: {e}"))?;
            Ok(Some((ClientOp::Connect(v), body)))
        }
        "PING" if args.is_empty() => Ok(Some((ClientOp::Ping, body))),
        "PONG" if args.is_empty() => Ok(Some((ClientOp::Pong, body))),
        "PUB" => {
            let (subject, reply, len) = match args[..] {
                [s, n] => (s, None, num(n)?),
                [s, r, n] => (s, Some(r), num(n)?),
                _ => return Err(bad()),
            };
            let payload_at = |b: &[u8]| b[body..body + len].to_vec();
            match with_payload(ClientOp::Ping, len)? {
                None => Ok(None),
                Some((_, used)) => Ok(Some((
                    ClientOp::Pub {
                        subject: subject.to_owned(),
                        reply: reply.map(str::to_owned),
                        headers: None,
                        payload: payload_at(buf),
                    },
                    used,
                ))),
            }
        }
        "HPUB" => {
            let (subject, reply, hlen, total) = match args[..] {
                [s, h, t] => (s, None, num(h)?, num(t)?),
                [s, r, h, t] => (s, Some(r), num(h)?, num(t)?),
                _ => return Err(bad()),
            };
            if hlen > total {
                return Err(bad());
            }
            match with_payload(ClientOp::Ping, total)? {
                None => Ok(None),
                Some((_, used)) => {
                    let headers = buf[body..body + hlen].to_vec();
                    if !headers.starts_with(b"NATS/1.0") || !headers.ends_with(b"\r\n\r\n") {
                        return Err(format!("bad header block in {line:?}"));
                    }
                    Ok(Some((
                        ClientOp::Pub {
                            subject: subject.to_owned(),
                            reply: reply.map(str::to_owned),
                            headers: Some(headers),
                            payload: buf[body + hlen..body + total].to_vec(),
                        },
                        used,
                    )))
                }
            }
        }
        "SUB" => {
            let (subject, queue, sid) = match args[..] {
                [s, i] => (s, None, i),
                [s, q, i] => (s, Some(q), i),
                _ => return Err(bad()),
            };
            Ok(Some((
                ClientOp::Sub {
                    subject: subject.to_owned(),
                    queue: queue.map(str::to_owned),
                    sid: sid.to_owned(),
                },
                body,
            )))
        }
        "UNSUB" => {
            let (sid, max) = match args[..] {
                [i] => (i, None),
                [i, m] => (i, Some(num(m)? as u64)),
                _ => return Err(bad()),
            };
            Ok(Some((
                ClientOp::Unsub {
                    sid: sid.to_owned(),
                    max,
                },
                body,
            )))
        }
        _ => Err(format!("unknown op {line:?}")),
    }
}

/// Checks CONNECT credentials against what the server demands.
fn check_auth(auth: &ServerAuth, connect: &Value, nonce: Option<&str>) -> Result<(), String> {
    let field = |name: &str| connect.get(name).and_then(Value::as_str);
    match auth {
        ServerAuth::None => Ok(()),
        ServerAuth::Token(t) => (field("auth_token") == Some(t))
            .then_some(())
            .ok_or_else(|| "wrong token".to_owned()),
        ServerAuth::UserPass { user, pass } => (field("user") == Some(user)
            && field("pass") == Some(pass))
        .then_some(())
        .ok_or_else(|| "wrong user or password".to_owned()),
        ServerAuth::NKey { public } => {
            if field("nkey") != Some(public) {
                return Err("unknown nkey".to_owned());
            }
            verify(public, nonce.unwrap_or("").as_bytes(), field("sig"))
        }
        ServerAuth::Jwt { issuer } => {
            if field("nkey").is_some() {
                return Err("nkey sent together with a jwt".to_owned());
            }
            let jwt = field("jwt").ok_or("no jwt")?;
            let parts: Vec<&str> = jwt.split('.').collect();
            let [header, claims, signature] = parts[..] else {
                return Err("jwt is not three parts".to_owned());
            };
            verify(
                issuer,
                format!("{header}.{claims}").as_bytes(),
                Some(signature),
            )?;
            let claims = URL_SAFE_NO_PAD
                .decode(claims)
                .map_err(|_| "jwt claims not base64url")?;
            let claims: Value =
                serde_json::from_slice(&claims).map_err(|_| "jwt claims not JSON")?;
            let user = claims
                .get("sub")
                .and_then(Value::as_str)
                .ok_or("jwt without sub")?;
            verify(user, nonce.unwrap_or("").as_bytes(), field("sig"))
        }
    }
}

/// Verifies an ed25519 signature (base64url, or standard base64 as the server also accepts).
fn verify(public: &str, signed: &[u8], sig: Option<&str>) -> Result<(), String> {
    let sig = sig.ok_or("no sig")?;
    let raw = URL_SAFE_NO_PAD
        .decode(sig)
        .or_else(|_| STANDARD.decode(sig))
        .map_err(|_| "sig not base64")?;
    let key = nkeys::KeyPair::from_public_key(public).map_err(|e| e.to_string())?;
    key.verify(signed, &raw).map_err(|e| e.to_string())
}
