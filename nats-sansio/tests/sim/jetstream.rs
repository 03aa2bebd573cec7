//! The JetStream subset of the simulated server: in-memory streams, pull consumers, pulls and
//! acks, answering the `$JS.API` subjects the consumer machines use.
//!
//! Like the rest of the simulated server it is written from the protocol text (spec §3.1,
//! §3.4 to §3.7), independently of the crate's `jetstream` module, and reads and writes JSON
//! as `serde_json::Value`.
//!
//! Invariants:
//! - All state belongs to the cluster: it survives every client disconnect. A consumer goes
//!   only by `CONSUMER.DELETE` or [`JetStream::lose_consumer`] (a fault).
//! - A stream stores every publish on its subjects once, with sequences 1, 2, 3, ...
//! - Waiting pulls are served first in, first out. A pull ends exactly once: filled (in
//!   silence), `404 No Messages` (`no_wait` with nothing more), `408 Request Timeout` at its
//!   expiry (with the pending headers), `409 Message Size Exceeds MaxBytes`, `409 Consumer
//!   Deleted`, or in silence when nobody listens on its reply any more.
//! - Every delivery takes the next consumer sequence, so a client sees a consumer-sequence gap
//!   exactly when a delivery was lost on its way (cut, or dropped by the
//!   `lose_deliveries` fault). With explicit acks a delivered message stays
//!   pending until `+ACK`/`+TERM`, and is delivered again after `-NAK` or `ack_wait`.
//! - A publish with `Nats-Rollup: sub` (to a stream allowing rollups) leaves only itself on
//!   its subject. A `last_per_subject` consumer first delivers the last message of each
//!   subject it wants (those still stored when their turn comes), then what comes after its
//!   creation; a `headers_only` one delivers the headers with `Nats-Msg-Size` and no payload.
//! - A push consumer (`deliver_subject`, in `push.rs`) delivers while its deliver subject has
//!   interest and no flow-control request is unanswered; it asks for flow control every few
//!   messages, and after an idle heartbeat interval without deliveries sends a heartbeat
//!   naming the last consumer and stream sequences (and the unanswered flow-control subject).
//! - `STREAM.PURGE` removes a stream's messages on a subject filter (or all of them);
//!   `DIRECT.GET.<stream>.<subject>` answers the last message on a subject as a raw message
//!   with the `Nats-*` headers, or `404 Message Not Found`.
//! - Anything a correct client never sends (unreadable JSON, names that disagree with the
//!   subject, a heartbeat over half the expiry, acks to an ack-none consumer, unknown ack
//!   payloads) is appended to `violations`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use serde_json::{json, Value};

use super::server::subject_matches;

mod push;

/// The API prefix served.
const API: &str = "$JS.API.";
/// Ack wait of a consumer that does not set one.
const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);
/// Publish times are this epoch plus the virtual time.
const EPOCH_NANOS: u64 = 1_700_000_000_000_000_000;
const CREATED: &str = "2023-11-14T22:13:20Z";

/// A message the server sends: routed by `to`, shown with `subject`.
#[derive(Debug, Clone)]
pub(crate) struct Out {
    pub(crate) to: String,
    pub(crate) subject: String,
    pub(crate) reply: Option<String>,
    pub(crate) headers: Option<Vec<u8>>,
    pub(crate) payload: Vec<u8>,
}

impl Out {
    /// A reply (or status) to `to`, shown on `to`.
    fn reply(to: &str, headers: Option<Vec<u8>>, payload: Vec<u8>) -> Out {
        Out {
            to: to.to_owned(),
            subject: to.to_owned(),
            reply: None,
            headers,
            payload,
        }
    }

    /// An inline status to `to`, with extra header lines.
    fn status(to: &str, status: &str, extra: &[(&str, String)]) -> Out {
        let mut h = format!("NATS/1.0 {status}\r\n");
        for (k, v) in extra {
            h.push_str(&format!("{k}: {v}\r\n"));
        }
        h.push_str("\r\n");
        Out::reply(to, Some(h.into_bytes()), Vec::new())
    }
}

/// How the cluster routes a publish after JetStream saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Routing {
    /// Not JetStream's: route it as usual.
    Normal,
    /// Stored in a stream (a PubAck went to the reply): route it too, but it had a responder.
    Stored,
    /// An API call or an ack: JetStream answered; nothing else sees it.
    Consumed,
    /// Nothing serves this API subject (a pull to a missing consumer): 503 to the requester.
    NoResponders,
}

#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) subject: String,
    pub(crate) headers: Option<Vec<u8>>,
    pub(crate) payload: Vec<u8>,
    ts: u64,
}

#[derive(Debug)]
pub(crate) struct Stream {
    config: Value,
    subjects: Vec<String>,
    pub(crate) messages: BTreeMap<u64, Stored>,
    pub(crate) last_seq: u64,
    pub(crate) consumers: BTreeMap<String, Consumer>,
}

/// A delivered message awaiting its ack.
#[derive(Debug)]
struct Pending {
    /// When it is due again; `None` once queued for redelivery.
    deadline: Option<Duration>,
    deliveries: u64,
}

/// A waiting pull request.
#[derive(Debug)]
struct Pull {
    reply: String,
    batch: u64,
    /// Bytes left, when the pull set `max_bytes`.
    bytes: Option<u64>,
    expires_at: Option<Duration>,
    no_wait: bool,
    heartbeat: Option<Duration>,
    last_activity: Duration,
    delivered: u64,
}

#[derive(Debug)]
pub(crate) struct Consumer {
    name: String,
    config: Value,
    ack_explicit: bool,
    ack_wait: Duration,
    filters: Vec<String>,
    /// The next stream sequence never delivered.
    next_sseq: u64,
    /// The last consumer (delivery) sequence used.
    cseq: u64,
    /// The highest stream sequence delivered.
    delivered_sseq: u64,
    pending: BTreeMap<u64, Pending>,
    redeliver: BTreeSet<u64>,
    waiting: VecDeque<Pull>,
    /// Deliveries made, redeliveries included.
    pub(crate) deliveries: u64,
    /// Its rank among the consumers created (1 = first).
    order: u64,
    /// `last_per_subject`: the initial values still to deliver, oldest first.
    initial: VecDeque<u64>,
    /// Deliver headers only, with the payload size in `Nats-Msg-Size`.
    headers_only: bool,
    /// A push consumer's deliver subject, heartbeat and flow control.
    push: Option<push::Push>,
}

impl Consumer {
    fn wants(&self, subject: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| subject_matches(f, subject))
    }

    /// Messages never delivered: initial values still stored, and from `next_sseq` on.
    fn num_pending(&self, messages: &BTreeMap<u64, Stored>) -> u64 {
        let initial = self.initial.iter().filter(|s| messages.contains_key(s));
        let fresh = messages
            .range(self.next_sseq..)
            .filter(|(_, m)| self.wants(&m.subject));
        (initial.count() + fresh.count()) as u64
    }

    /// Stream sequence `sseq` (not a redelivery) was delivered.
    fn taken(&mut self, sseq: u64) {
        if self.initial.front() == Some(&sseq) {
            self.initial.pop_front();
        } else {
            self.next_sseq = sseq + 1;
        }
        self.delivered_sseq = self.delivered_sseq.max(sseq);
    }

    /// Everything stored was delivered and acked.
    pub(crate) fn settled(&self, last_seq: u64) -> bool {
        self.pending.is_empty()
            && self.redeliver.is_empty()
            && self.initial.is_empty()
            && self.next_sseq > last_seq
    }

    /// The next stream sequence to deliver (a redelivery first) and whether it is one.
    fn peek(&mut self, messages: &BTreeMap<u64, Stored>) -> Option<(u64, bool)> {
        while let Some(&sseq) = self.redeliver.first() {
            if messages.contains_key(&sseq) {
                return Some((sseq, true));
            }
            self.redeliver.remove(&sseq);
            self.pending.remove(&sseq);
        }
        while let Some(&sseq) = self.initial.front() {
            if messages.contains_key(&sseq) {
                return Some((sseq, false));
            }
            // Rolled up or purged before its turn.
            self.initial.pop_front();
        }
        let (&sseq, _) = messages
            .range(self.next_sseq..)
            .find(|(_, m)| self.wants(&m.subject))?;
        self.next_sseq = sseq;
        Some((sseq, false))
    }

    fn info(&self, stream: &str, messages: &BTreeMap<u64, Stored>) -> Value {
        let floor = match self.pending.keys().next() {
            Some(first) => first - 1,
            None => self.delivered_sseq,
        };
        json!({
            "stream_name": stream,
            "name": self.name,
            "created": CREATED,
            "config": self.config,
            "delivered": {"consumer_seq": self.cseq, "stream_seq": self.delivered_sseq},
            "ack_floor": {"consumer_seq": 0, "stream_seq": floor},
            "num_ack_pending": self.pending.len(),
            "num_redelivered": self.redeliver.len(),
            "num_waiting": self.waiting.len(),
            "num_pending": self.num_pending(messages),
        })
    }
}

/// The cluster's JetStream.
#[derive(Debug, Default)]
pub(crate) struct JetStream {
    pub(crate) streams: BTreeMap<String, Stream>,
    pub(crate) violations: Vec<String>,
    /// What to send, taken by the cluster after every call.
    out: Vec<Out>,
    now: Duration,
    /// Consumers created so far (names of legacy unnamed ones).
    created: u64,
    /// A fault: this many of the next deliveries are lost on their way out (as to a slow
    /// consumer), though they count as delivered.
    pub(crate) lose_deliveries: u32,
    /// Every consumer created, with the stream's last sequence at that moment.
    pub(crate) created_at: Vec<(String, u64)>,
}

fn api_error(kind: &str, code: u16, err_code: u16, description: &str) -> Value {
    json!({
        "type": format!("io.nats.jetstream.api.v1.{kind}"),
        "error": {"code": code, "err_code": err_code, "description": description},
    })
}

/// The first value of header `name` in a raw header block.
fn header(block: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(block).ok()?;
    text.split("\r\n").skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

fn nanos(v: &Value) -> Option<Duration> {
    v.as_u64().filter(|n| *n > 0).map(Duration::from_nanos)
}

impl JetStream {
    /// What to send now.
    pub(crate) fn take_out(&mut self) -> Vec<Out> {
        std::mem::take(&mut self.out)
    }

    /// The stream messages of `stream`, in sequence order.
    pub(crate) fn stream(&self, stream: &str) -> Option<&Stream> {
        self.streams.get(stream)
    }

    /// A publish arrived (from any connection).
    pub(crate) fn handle_publish(
        &mut self,
        now: Duration,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        payload: &[u8],
        interest: &dyn Fn(&str) -> bool,
    ) -> Routing {
        self.now = self.now.max(now);
        let routing = if let Some(api) = subject.strip_prefix(API) {
            self.on_api(api, reply, payload)
        } else if let Some(ack) = subject.strip_prefix("$JS.ACK.") {
            self.on_ack(ack, reply, payload);
            Routing::Consumed
        } else if subject.starts_with(push::FLOW_CONTROL_PREFIX) {
            self.on_flow_control(subject);
            Routing::Consumed
        } else {
            self.store(subject, reply, headers, payload)
        };
        self.pump(interest);
        routing
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due next.
    pub(crate) fn poll_timeout(&self) -> Option<Duration> {
        let consumers = self.streams.values().flat_map(|s| s.consumers.values());
        consumers
            .flat_map(|c| {
                let pulls = c
                    .waiting
                    .iter()
                    .flat_map(|p| [p.expires_at, p.heartbeat.map(|hb| p.last_activity + hb)]);
                let acks = c.pending.values().map(|p| p.deadline);
                let push = c.push.as_ref().and_then(push::Push::deadline);
                pulls.chain(acks).chain([push]).flatten()
            })
            .min()
    }

    /// Expires pulls, sends idle heartbeats, queues unacked messages for redelivery.
    pub(crate) fn handle_timeout(&mut self, now: Duration, interest: &dyn Fn(&str) -> bool) {
        self.now = self.now.max(now);
        let now = self.now;
        for stream in self.streams.values_mut() {
            for c in stream.consumers.values_mut() {
                for (&sseq, p) in &mut c.pending {
                    if p.deadline.is_some_and(|d| d <= now) {
                        p.deadline = None;
                        c.redeliver.insert(sseq);
                    }
                }
                let mut kept = VecDeque::new();
                for mut pull in c.waiting.drain(..) {
                    if pull.expires_at.is_some_and(|e| e <= now) {
                        self.out.push(Out::status(
                            &pull.reply,
                            "408 Request Timeout",
                            &pending_headers(&pull),
                        ));
                        continue;
                    }
                    if pull
                        .heartbeat
                        .is_some_and(|hb| pull.last_activity + hb <= now)
                    {
                        // As the server's `sendIdleHeartbeat`: where the consumer is.
                        let last = [
                            ("Nats-Last-Consumer", c.cseq.to_string()),
                            ("Nats-Last-Stream", (c.next_sseq - 1).to_string()),
                        ];
                        self.out
                            .push(Out::status(&pull.reply, "100 Idle Heartbeat", &last));
                        pull.last_activity = now;
                    }
                    kept.push_back(pull);
                }
                c.waiting = kept;
                push::heartbeat(c, now, &mut self.out);
            }
        }
        self.pump(interest);
    }

    // ===================== faults and inspection =====================

    /// The server loses consumer `name` (deleted under its client). With `notify`, its
    /// waiting pulls hear `409 Consumer Deleted`, as at a deletion; without, they vanish.
    pub(crate) fn lose_consumer(&mut self, stream: &str, name: &str, notify: bool) -> bool {
        let Some(c) = self
            .streams
            .get_mut(stream)
            .and_then(|s| s.consumers.remove(name))
        else {
            return false;
        };
        if notify {
            for pull in c.waiting {
                self.out
                    .push(Out::status(&pull.reply, "409 Consumer Deleted", &[]));
            }
        }
        true
    }

    /// The most recently created consumer of `stream`.
    pub(crate) fn newest_consumer(&self, stream: &str) -> Option<String> {
        let consumers = &self.streams.get(stream)?.consumers;
        consumers
            .values()
            .max_by_key(|c| c.order)
            .map(|c| c.name.clone())
    }

    // ===================== publishes into streams =====================

    fn store(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> Routing {
        let Some((name, stream)) = self
            .streams
            .iter_mut()
            .find(|(_, s)| s.subjects.iter().any(|f| subject_matches(f, subject)))
        else {
            return Routing::Normal;
        };
        let rollup = headers.and_then(|h| header(h, "Nats-Rollup"));
        if rollup.is_some() && stream.config.get("allow_rollup_hdrs") != Some(&json!(true)) {
            if let Some(reply) = reply {
                let error = api_error("pub_ack_response", 400, 10115, "rollup not permitted");
                self.out
                    .push(Out::reply(reply, None, error.to_string().into_bytes()));
            }
            return Routing::Stored;
        }
        stream.last_seq += 1;
        let seq = stream.last_seq;
        if rollup.as_deref() == Some("sub") {
            // Only the new message remains on its subject.
            stream.messages.retain(|_, m| m.subject != subject);
        }
        stream.messages.insert(
            seq,
            Stored {
                subject: subject.to_owned(),
                headers: headers.map(<[u8]>::to_vec),
                payload: payload.to_vec(),
                ts: EPOCH_NANOS + self.now.as_nanos() as u64,
            },
        );
        if let Some(reply) = reply {
            let ack = json!({"stream": name, "seq": seq});
            self.out
                .push(Out::reply(reply, None, ack.to_string().into()));
        }
        Routing::Stored
    }

    // ===================== the API =====================

    fn on_api(&mut self, api: &str, reply: Option<&str>, payload: &[u8]) -> Routing {
        let tokens: Vec<&str> = api.split('.').collect();
        let answer = match tokens[..] {
            ["STREAM", "CREATE", s] => self.stream_create(s, payload),
            ["STREAM", "INFO", s] => self.stream_info(s),
            ["CONSUMER", "CREATE", s] => self.consumer_create(s, None, None, payload),
            ["CONSUMER", "CREATE", s, c] => self.consumer_create(s, Some(c), None, payload),
            ["CONSUMER", "CREATE", s, c, ..] => {
                let filter = tokens[4..].join(".");
                self.consumer_create(s, Some(c), Some(&filter), payload)
            }
            ["CONSUMER", "DURABLE", "CREATE", s, c] => {
                self.consumer_create(s, Some(c), None, payload)
            }
            ["CONSUMER", "INFO", s, c] => self.consumer_info(s, c),
            ["STREAM", "PURGE", s] => self.stream_purge(s, payload),
            ["DIRECT", "GET", s, ..] if tokens.len() > 3 => {
                if let Some(reply) = reply {
                    let out = self.direct_get_last(s, &tokens[3..].join("."), reply);
                    self.out.push(out);
                }
                return Routing::Consumed;
            }
            ["CONSUMER", "DELETE", s, c] => self.consumer_delete(s, c),
            ["CONSUMER", "MSG", "NEXT", s, c] => {
                return match reply {
                    Some(reply) => self.pull(s, c, reply, payload),
                    None => {
                        self.violations.push(format!("pull without a reply: {api}"));
                        Routing::Consumed
                    }
                };
            }
            _ => api_error(
                "unknown_response",
                400,
                10003,
                "unknown API (not simulated)",
            ),
        };
        if let Some(reply) = reply {
            self.out
                .push(Out::reply(reply, None, answer.to_string().into_bytes()));
        }
        Routing::Consumed
    }

    /// The request body as JSON (empty is `{}`), or a violation.
    fn body(&mut self, what: &str, payload: &[u8]) -> Option<Value> {
        if payload.iter().all(u8::is_ascii_whitespace) {
            return Some(json!({}));
        }
        match serde_json::from_slice(payload) {
            Ok(v @ Value::Object(_)) => Some(v),
            _ => {
                self.violations.push(format!(
                    "{what}: body is not a JSON object: {:?}",
                    String::from_utf8_lossy(payload)
                ));
                None
            }
        }
    }

    fn stream_create(&mut self, name: &str, payload: &[u8]) -> Value {
        const KIND: &str = "stream_create_response";
        let Some(config) = self.body("STREAM.CREATE", payload) else {
            return api_error(KIND, 400, 10025, "bad request");
        };
        if config.get("name").and_then(Value::as_str) != Some(name) {
            self.violations
                .push(format!("STREAM.CREATE.{name} with config {config}"));
            return api_error(KIND, 400, 10056, "stream name in subject does not match");
        }
        let subjects: Vec<String> = match config.get("subjects").and_then(Value::as_array) {
            Some(list) => list
                .iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect(),
            None => vec![name.to_owned()],
        };
        match self.streams.get(name) {
            Some(s) if s.config != config => {
                return api_error(KIND, 400, 10058, "stream name already in use");
            }
            Some(_) => {}
            None => {
                self.streams.insert(
                    name.to_owned(),
                    Stream {
                        config,
                        subjects,
                        messages: BTreeMap::new(),
                        last_seq: 0,
                        consumers: BTreeMap::new(),
                    },
                );
            }
        }
        let mut info = self.stream_info(name);
        info["type"] = json!(format!("io.nats.jetstream.api.v1.{KIND}"));
        info
    }

    fn stream_purge(&mut self, name: &str, payload: &[u8]) -> Value {
        const KIND: &str = "stream_purge_response";
        let Some(body) = self.body("STREAM.PURGE", payload) else {
            return api_error(KIND, 400, 10025, "bad request");
        };
        let Some(s) = self.streams.get_mut(name) else {
            return api_error(KIND, 404, 10059, "stream not found");
        };
        let filter = body.get("filter").and_then(Value::as_str).unwrap_or("");
        let before = s.messages.len();
        s.messages
            .retain(|_, m| !(filter.is_empty() || subject_matches(filter, &m.subject)));
        let purged = before - s.messages.len();
        json!({"type": format!("io.nats.jetstream.api.v1.{KIND}"), "success": true, "purged": purged})
    }

    /// The last message on `subject`, as Direct Get answers it.
    fn direct_get_last(&self, name: &str, subject: &str, reply: &str) -> Out {
        let last = self
            .streams
            .get(name)
            .and_then(|s| s.messages.iter().rev().find(|(_, m)| m.subject == subject));
        let Some((seq, m)) = last else {
            return Out::status(reply, "404 Message Not Found", &[]);
        };
        let time = CREATED.to_owned();
        let mut block = match &m.headers {
            Some(h) => String::from_utf8_lossy(&h[..h.len().saturating_sub(2)]).into_owned(),
            None => "NATS/1.0\r\n".to_owned(),
        };
        for (k, v) in [
            ("Nats-Stream", name.to_owned()),
            ("Nats-Subject", m.subject.clone()),
            ("Nats-Sequence", seq.to_string()),
            ("Nats-Time-Stamp", time),
        ] {
            block.push_str(&format!("{k}: {v}\r\n"));
        }
        block.push_str("\r\n");
        Out::reply(reply, Some(block.into_bytes()), m.payload.clone())
    }

    fn stream_info(&self, name: &str) -> Value {
        let Some(s) = self.streams.get(name) else {
            return api_error("stream_info_response", 404, 10059, "stream not found");
        };
        let first = s.messages.keys().next().copied().unwrap_or(s.last_seq + 1);
        let bytes: usize = s.messages.values().map(|m| m.payload.len()).sum();
        json!({
            "type": "io.nats.jetstream.api.v1.stream_info_response",
            "config": s.config,
            "created": CREATED,
            "state": {
                "messages": s.messages.len(),
                "bytes": bytes,
                "first_seq": first,
                "last_seq": s.last_seq,
                "consumer_count": s.consumers.len(),
            },
        })
    }

    fn consumer_create(
        &mut self,
        stream: &str,
        subject_name: Option<&str>,
        subject_filter: Option<&str>,
        payload: &[u8],
    ) -> Value {
        const KIND: &str = "consumer_create_response";
        let Some(body) = self.body("CONSUMER.CREATE", payload) else {
            return api_error(KIND, 400, 10025, "bad request");
        };
        let mut config = body.get("config").cloned().unwrap_or_else(|| json!({}));
        let field = |k: &str| config.get(k).and_then(Value::as_str).unwrap_or("");
        let (name, durable, filter) = (
            field("name"),
            field("durable_name"),
            field("filter_subject"),
        );
        let mut wrong = Vec::new();
        if body.get("stream_name").and_then(Value::as_str) != Some(stream) {
            wrong.push("stream_name");
        }
        if !name.is_empty() && !durable.is_empty() && name != durable {
            wrong.push("name and durable_name");
        }
        let name = if name.is_empty() { durable } else { name }.to_owned();
        if subject_name.is_some_and(|n| n != name) {
            wrong.push("consumer name");
        }
        if subject_filter.is_some_and(|f| f != filter) {
            wrong.push("filter subject");
        }
        if !wrong.is_empty() {
            self.violations.push(format!(
                "CONSUMER.CREATE.{stream}: {wrong:?} disagree: {body}"
            ));
            return api_error(KIND, 400, 10025, "bad request");
        }
        let Some(s) = self.streams.get_mut(stream) else {
            return api_error(KIND, 404, 10059, "stream not found");
        };
        let name = if name.is_empty() {
            format!("sim_{}", self.created + 1)
        } else {
            name
        };
        if let Some(c) = s.consumers.get(&name) {
            let mut info = c.info(stream, &s.messages);
            info["type"] = json!(format!("io.nats.jetstream.api.v1.{KIND}"));
            return info;
        }
        let start = match field("deliver_policy") {
            "" | "all" => 1,
            "new" => s.last_seq + 1,
            "last" => s.last_seq.max(1),
            // The initial values are listed below, once the filters are known.
            "last_per_subject" => s.last_seq + 1,
            "by_start_sequence" => match config.get("opt_start_seq").and_then(Value::as_u64) {
                Some(seq) if seq > 0 => seq,
                _ => {
                    self.violations
                        .push(format!("by_start_sequence without opt_start_seq: {body}"));
                    return api_error(KIND, 400, 10025, "bad request");
                }
            },
            other => {
                let text = format!("deliver policy {other} is not simulated");
                return api_error(KIND, 400, 10003, &text);
            }
        };
        let mut filters: Vec<String> = config
            .get("filter_subjects")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if !filter.is_empty() {
            filters.push(filter.to_owned());
        }
        let last_per_subject = field("deliver_policy") == "last_per_subject";
        let initial = if last_per_subject {
            let wants = |subject: &str| {
                filters.is_empty() || filters.iter().any(|f| subject_matches(f, subject))
            };
            let mut last: BTreeMap<&str, u64> = BTreeMap::new();
            for (&seq, m) in s.messages.iter().filter(|(_, m)| wants(&m.subject)) {
                last.insert(&m.subject, seq);
            }
            let mut seqs: Vec<u64> = last.into_values().collect();
            seqs.sort_unstable();
            seqs.into()
        } else {
            VecDeque::new()
        };
        let push = push::Push::from_config(&config, self.now);
        let headers_only = config.get("headers_only").and_then(Value::as_bool) == Some(true);
        let ack_explicit = !matches!(field("ack_policy"), "" | "none");
        let ack_wait = config
            .get("ack_wait")
            .and_then(nanos)
            .unwrap_or(DEFAULT_ACK_WAIT);
        self.created += 1;
        config["name"] = json!(name);
        config["ack_wait"] = json!(ack_wait.as_nanos() as u64);
        let c = Consumer {
            name: name.clone(),
            config,
            ack_explicit,
            ack_wait,
            filters,
            next_sseq: start,
            cseq: 0,
            // As the server: a last-per-subject consumer starts at its first initial value,
            // or (with none) at the stream's last message.
            delivered_sseq: match initial.front() {
                Some(first) => first - 1,
                None if last_per_subject => s.last_seq.saturating_sub(1),
                None => start - 1,
            },
            pending: BTreeMap::new(),
            redeliver: BTreeSet::new(),
            waiting: VecDeque::new(),
            deliveries: 0,
            order: self.created,
            initial,
            headers_only,
            push,
        };
        self.created_at.push((name.clone(), s.last_seq));
        let mut info = c.info(stream, &s.messages);
        info["type"] = json!(format!("io.nats.jetstream.api.v1.{KIND}"));
        s.consumers.insert(name, c);
        info
    }

    fn consumer_info(&self, stream: &str, name: &str) -> Value {
        const KIND: &str = "consumer_info_response";
        let Some(s) = self.streams.get(stream) else {
            return api_error(KIND, 404, 10059, "stream not found");
        };
        let Some(c) = s.consumers.get(name) else {
            return api_error(KIND, 404, 10014, "consumer not found");
        };
        let mut info = c.info(stream, &s.messages);
        info["type"] = json!(format!("io.nats.jetstream.api.v1.{KIND}"));
        info
    }

    fn consumer_delete(&mut self, stream: &str, name: &str) -> Value {
        const KIND: &str = "consumer_delete_response";
        if !self.streams.contains_key(stream) {
            return api_error(KIND, 404, 10059, "stream not found");
        }
        if !self.lose_consumer(stream, name, true) {
            return api_error(KIND, 404, 10014, "consumer not found");
        }
        json!({"type": format!("io.nats.jetstream.api.v1.{KIND}"), "success": true})
    }

    // ===================== pulls and acks =====================

    fn pull(&mut self, stream: &str, name: &str, reply: &str, payload: &[u8]) -> Routing {
        let Some(c) = self
            .streams
            .get_mut(stream)
            .and_then(|s| s.consumers.get_mut(name))
        else {
            return Routing::NoResponders;
        };
        let text = String::from_utf8_lossy(payload);
        let body = if text.trim().is_empty() {
            json!({"batch": 1})
        } else if let Ok(n) = text.trim().parse::<u64>() {
            json!({"batch": n})
        } else {
            match serde_json::from_str::<Value>(&text) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    self.violations
                        .push(format!("pull body is not JSON: {text:?}"));
                    self.out.push(Out::status(reply, "400 Bad Request", &[]));
                    return Routing::Consumed;
                }
            }
        };
        let expires = body.get("expires").and_then(nanos);
        let heartbeat = body.get("idle_heartbeat").and_then(nanos);
        if heartbeat.is_some_and(|hb| expires.is_none_or(|e| hb > e / 2)) {
            self.violations
                .push(format!("pull heartbeat over half its expiry: {body}"));
            self.out.push(Out::status(
                reply,
                "400 Bad Request - heartbeat value too large",
                &[],
            ));
            return Routing::Consumed;
        }
        let now = self.now;
        c.waiting.push_back(Pull {
            reply: reply.to_owned(),
            batch: body
                .get("batch")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .max(1),
            bytes: body
                .get("max_bytes")
                .and_then(Value::as_u64)
                .filter(|b| *b > 0),
            expires_at: expires.map(|e| now + e),
            no_wait: body.get("no_wait").and_then(Value::as_bool) == Some(true),
            heartbeat,
            last_activity: now,
            delivered: 0,
        });
        Routing::Consumed
    }

    /// `<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` after `$JS.ACK.`.
    fn on_ack(&mut self, ack: &str, reply: Option<&str>, payload: &[u8]) {
        let tokens: Vec<&str> = ack.split('.').collect();
        let [stream, name, _, sseq, _, _, _] = tokens[..] else {
            self.violations.push(format!("ack to $JS.ACK.{ack}"));
            return;
        };
        let Ok(sseq) = sseq.parse::<u64>() else {
            self.violations.push(format!("ack to $JS.ACK.{ack}"));
            return;
        };
        let now = self.now;
        let text = String::from_utf8_lossy(payload);
        let Some(c) = self
            .streams
            .get_mut(stream)
            .and_then(|s| s.consumers.get_mut(name))
        else {
            return;
        };
        if !c.ack_explicit {
            self.violations
                .push(format!("ack on ack-none consumer {name}: {text:?}"));
            return;
        }
        let (verb, arg) = text.split_once(' ').unwrap_or((&text, ""));
        match verb {
            "" | "+ACK" | "+OK" | "+TERM" | "+NXT" => {
                c.pending.remove(&sseq);
                c.redeliver.remove(&sseq);
            }
            "-NAK" => {
                let delay = serde_json::from_str::<Value>(arg)
                    .ok()
                    .and_then(|v| v.get("delay").and_then(nanos));
                if let Some(p) = c.pending.get_mut(&sseq) {
                    match delay {
                        Some(d) => p.deadline = Some(now + d),
                        None => {
                            p.deadline = None;
                            c.redeliver.insert(sseq);
                        }
                    }
                }
            }
            "+WPI" => {
                if let Some(p) = c.pending.get_mut(&sseq) {
                    if p.deadline.is_some() {
                        p.deadline = Some(now + c.ack_wait);
                    }
                }
            }
            _ => self
                .violations
                .push(format!("unknown ack payload {text:?}")),
        }
        if let Some(reply) = reply {
            self.out.push(Out::reply(reply, None, Vec::new()));
        }
    }

    /// Serves waiting pulls from what each consumer has to deliver.
    fn pump(&mut self, interest: &dyn Fn(&str) -> bool) {
        let now = self.now;
        for (stream_name, s) in &mut self.streams {
            for c in s.consumers.values_mut() {
                let lose = &mut self.lose_deliveries;
                serve(
                    stream_name,
                    &s.messages,
                    c,
                    now,
                    interest,
                    lose,
                    &mut self.out,
                );
                push::serve(
                    stream_name,
                    &s.messages,
                    c,
                    now,
                    interest,
                    lose,
                    &mut self.out,
                );
            }
        }
    }
}

/// `Nats-Pending-Messages` and `Nats-Pending-Bytes` of a pull that ends unfilled.
fn pending_headers(pull: &Pull) -> Vec<(&'static str, String)> {
    vec![
        ("Nats-Pending-Messages", pull.batch.to_string()),
        ("Nats-Pending-Bytes", pull.bytes.unwrap_or(0).to_string()),
    ]
}

/// Serves one consumer's waiting pulls, first in first out.
fn serve(
    stream: &str,
    messages: &BTreeMap<u64, Stored>,
    c: &mut Consumer,
    now: Duration,
    interest: &dyn Fn(&str) -> bool,
    lose: &mut u32,
    out: &mut Vec<Out>,
) {
    let mut i = 0;
    while i < c.waiting.len() {
        if !interest(&c.waiting[i].reply) {
            c.waiting.remove(i);
            continue;
        }
        let mut ended = false;
        let mut dry = false;
        while c.waiting[i].batch > 0 {
            let Some(next) = prepare(stream, messages, c) else {
                dry = true;
                break;
            };
            let size = next.size();
            let pull = &mut c.waiting[i];
            if pull.bytes.is_some_and(|left| size > left) {
                out.push(Out::status(
                    &pull.reply,
                    "409 Message Size Exceeds MaxBytes",
                    &pending_headers(pull),
                ));
                ended = true;
                break;
            }
            pull.batch -= 1;
            pull.bytes = pull.bytes.map(|b| b - size);
            pull.delivered += 1;
            pull.last_activity = now;
            let to = pull.reply.clone();
            commit(c, next, to, now, lose, out);
        }
        let pull = &c.waiting[i];
        if ended || pull.batch == 0 {
            c.waiting.remove(i);
            continue;
        }
        if dry && pull.no_wait && (pull.expires_at.is_none() || pull.delivered > 0) {
            out.push(Out::status(&pull.reply, "404 No Messages", &[]));
            c.waiting.remove(i);
            continue;
        }
        // Still waiting (later pulls find nothing either; `no_wait` ones are answered).
        i += 1;
    }
}

/// The next message a consumer delivers, before it is sent.
pub(crate) struct Next {
    sseq: u64,
    again: bool,
    deliveries: u64,
    message: Out,
}

impl Next {
    /// What the message weighs against a pull's `max_bytes`.
    fn size(&self) -> u64 {
        let m = &self.message;
        (m.subject.len()
            + m.reply.as_ref().map_or(0, String::len)
            + m.headers.as_ref().map_or(0, Vec::len)
            + m.payload.len()) as u64
    }
}

/// The message `c` delivers next (a redelivery first), with its ack subject; headers only
/// (with `Nats-Msg-Size`) for a `headers_only` consumer.
fn prepare(stream: &str, messages: &BTreeMap<u64, Stored>, c: &mut Consumer) -> Option<Next> {
    let (sseq, again) = c.peek(messages)?;
    let m = &messages[&sseq];
    let deliveries = if again {
        c.pending[&sseq].deliveries + 1
    } else {
        1
    };
    let left_after = c.num_pending(messages) - u64::from(!again);
    let ack = format!(
        "$JS.ACK.{stream}.{}.{deliveries}.{sseq}.{}.{}.{left_after}",
        c.name,
        c.cseq + 1,
        m.ts
    );
    let (headers, payload) = if c.headers_only {
        let size = format!("Nats-Msg-Size: {}\r\n\r\n", m.payload.len());
        let mut block = match &m.headers {
            Some(h) => h[..h.len().saturating_sub(2)].to_vec(),
            None => b"NATS/1.0\r\n".to_vec(),
        };
        block.extend_from_slice(size.as_bytes());
        (Some(block), Vec::new())
    } else {
        (m.headers.clone(), m.payload.clone())
    };
    Some(Next {
        sseq,
        again,
        deliveries,
        message: Out {
            to: String::new(),
            subject: m.subject.clone(),
            reply: Some(ack),
            headers,
            payload,
        },
    })
}

/// Sends `next` to `to` (unless the `lose` fault eats it) and records the delivery.
fn commit(
    c: &mut Consumer,
    next: Next,
    to: String,
    now: Duration,
    lose: &mut u32,
    out: &mut Vec<Out>,
) {
    if *lose > 0 {
        *lose -= 1;
    } else {
        out.push(Out { to, ..next.message });
    }
    let sseq = next.sseq;
    c.cseq += 1;
    c.deliveries += 1;
    if next.again {
        c.redeliver.remove(&sseq);
    } else {
        c.taken(sseq);
    }
    if c.ack_explicit {
        c.pending.insert(
            sseq,
            Pending {
                deadline: Some(now + c.ack_wait),
                deliveries: next.deliveries,
            },
        );
    }
}
