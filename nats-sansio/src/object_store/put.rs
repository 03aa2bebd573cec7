//! The put machine (spec §5.3): an object's bytes, fed in pieces of any size, cut into
//! chunks published to `$O.<bucket>.C.<nuid>` with at most a window of them unacknowledged,
//! then its record published to the meta subject with `Nats-Rollup: sub`, then the chunks
//! of the object it replaced purged.
//!
//! Invariants:
//! - Memory is bounded whatever the object size: at most [`PutOptions::window`] chunks are
//!   unacknowledged (kept for a retry), and [`Put::wants_input`] is false once a whole chunk
//!   waits behind a full window; what is buffered is less than a chunk plus the last piece.
//! - The record is published only after every chunk was acknowledged, in order: the
//!   acknowledged stream sequences of consecutive chunks must increase, else the put fails
//!   ([`ObjectStoreError::ChunkOutOfOrder`]). A refused chunk is retried (the
//!   [`PublishRetry`] policy: 503 no responders, 429 back-pressure) only after every chunk in
//!   flight has its answer, and retried chunks go out in their order, so a retry cannot
//!   reorder what the stream stores.
//! - A put that fails purges its chunk subject (unless the bucket is sealed, which stored
//!   nothing), and reports the cause; it never leaves a record pointing at missing chunks,
//!   and never a record at all unless every chunk is stored. The one unknown is a record
//!   sent whose acknowledgement never came: then the chunks are kept (whichever record the
//!   name holds is whole) and the error says so ([`ObjectStoreError::MetaUnacknowledged`]).
//! - A publish whose acknowledgement never comes (timeout, link lost) is never sent again:
//!   it may be stored. Nothing here reads a clock or draws randomness: the NUID is given.
//!
//! # The run loop
//!
//! Build the machine with a fresh inbox of the connection and a fresh NUID, then drive it as
//! every [`Machine`] is driven (drain [`poll_output`](Machine::poll_output) after every call,
//! feed back messages, replies, deadlines and link changes). In addition, while
//! [`wants_input`](Put::wants_input) is true, read the object's next bytes and give them to
//! [`handle_data`](Put::handle_data) (pieces of any size, without copying), and at the end of
//! the input call [`handle_end`](Put::handle_end) once. The machine delivers the stored
//! [`ObjectInfo`] (its `mtime` left at the zero time for the front end to set from its clock)
//! and finishes, or reports an error and finishes.
//!
//! ```
//! use std::time::Instant;
//! use bytes::Bytes;
//! use nats_sansio::jetstream::api::ApiPrefix;
//! use nats_sansio::machine::{Machine, Output};
//! use nats_sansio::object_store::{BucketSubjects, ObjectMeta, Put, PutOptions};
//!
//! let bucket = BucketSubjects::new("files", &ApiPrefix::default()).unwrap();
//! let now = Instant::now(); // the driver's clock, never the machine's
//! let mut put = Put::new(now, &bucket, ObjectMeta::new("a.txt"), "NUID1", "_INBOX.p", PutOptions::default())
//!     .unwrap();
//! put.handle_data(now, Bytes::from_static(b"hello"));
//! put.handle_end(now);
//! let mut subjects = Vec::new();
//! while let Some(output) = put.poll_output() {
//!     match output {
//!         Output::Publish(p) => subjects.push(p.subject),
//!         Output::Request { subject, .. } => subjects.push(subject),
//!         _ => {}
//!     }
//! }
//! // The lookup of what the name holds now, and the one chunk.
//! assert_eq!(subjects, ["$JS.API.DIRECT.GET.OBJ_files.$O.files.M.YS50eHQ=", "$O.files.C.NUID1"]);
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::connection::RequestError;
use crate::jetstream::publish::{PublishFailure, PublishRetry, PublishStep};
use crate::machine::{Link, Machine, Output, Publish};
use crate::proto::{Message, StatusCode};

use super::digest::Digest;
use super::info::{ObjectInfo, ObjectMeta, ObjectOptions, DEFAULT_CHUNK_SIZE};
use super::names::{validate_nuid, BucketSubjects, InfoGet};
use super::ObjectStoreError;

/// Chunks a put keeps unacknowledged at most, by default: 8 chunks, 1 MiB at the default
/// chunk size. That covers the bandwidth-delay product of loopback and of a LAN (10 Gb/s ×
/// 0.5 ms ≈ 625 KB) so acknowledgements never stall the stream of chunks there, while the
/// memory a put holds stays about 1 MiB plus one chunk of input, whatever the object size
/// (nats.go allows 4000 publishes in flight: 500 MiB at 128 KiB chunks).
pub const DEFAULT_PUT_WINDOW: usize = 8;
/// How long a put waits for each acknowledgement.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts at purging the chunks of a failed put before reporting them left behind.
pub const CLEANUP_ATTEMPTS: u32 = 3;

/// How a put cuts and sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOptions {
    /// Chunks unacknowledged at most (at least 1; default [`DEFAULT_PUT_WINDOW`]).
    pub window: usize,
    /// How long to wait for each acknowledgement (default [`DEFAULT_ACK_TIMEOUT`]).
    pub ack_timeout: Duration,
    /// Which refusals are retried, and how often (default [`PublishRetry::default`]).
    pub retry: PublishRetry,
}

impl Default for PutOptions {
    fn default() -> PutOptions {
        PutOptions {
            window: DEFAULT_PUT_WINDOW,
            ack_timeout: DEFAULT_ACK_TIMEOUT,
            retry: PublishRetry::default(),
        }
    }
}

/// Where one chunk (or the record) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ack {
    /// Sent with this reply id; the acknowledgement is due by `deadline`.
    Waiting { reply: u64, deadline: Instant },
    /// Refused in a way that is retried; sent again no earlier than `at`.
    Retry { at: Instant },
    /// Stored at this stream sequence.
    Stored(u64),
}

/// A chunk in the window.
#[derive(Debug)]
struct Slot {
    index: u64,
    payload: Bytes,
    attempt: u32,
    ack: Ack,
}

/// What the put is doing.
#[derive(Debug)]
enum Phase {
    /// Taking input and sending chunks.
    Chunks,
    /// The record was sent (`attempt` so far).
    Meta {
        info: ObjectInfo,
        attempt: u32,
        ack: Ack,
    },
    /// The record is stored; the replaced object's chunks are being purged.
    PurgeOld {
        info: ObjectInfo,
        subject: String,
        token: u64,
    },
    /// Undoing a failed put: purging its chunks (attempts so far, the request if one is out).
    Cleanup {
        cause: ObjectStoreError,
        attempts: u32,
        token: Option<u64>,
    },
    /// Done (delivered or failed).
    Done,
}

/// One put of one object, in the machine shape ([`Machine`]) with two more inputs:
/// [`handle_data`](Put::handle_data) and [`handle_end`](Put::handle_end).
#[derive(Debug)]
pub struct Put {
    bucket: BucketSubjects,
    meta: ObjectMeta,
    nuid: String,
    chunk_subject: String,
    inbox: String,
    chunk_size: usize,
    options: PutOptions,
    now: Instant,
    connected: bool,
    /// Input not yet cut into chunks.
    input: VecDeque<Bytes>,
    buffered: usize,
    ended: bool,
    /// The window, oldest chunk first.
    window: VecDeque<Slot>,
    next_index: u64,
    /// The stream sequence of the last chunk that left the window.
    last_stored: u64,
    /// Whether any chunk was sent (a failure must purge).
    sent_any: bool,
    size: u64,
    digest: Option<Digest>,
    next_reply: u64,
    next_token: u64,
    /// The lookup of what the name holds: its token while out, then what it found.
    lookup: Option<u64>,
    previous: Option<Option<ObjectInfo>>,
    phase: Phase,
    outputs: VecDeque<Output<ObjectInfo, ObjectStoreError>>,
}

impl Put {
    /// A put of the object `meta` names into `bucket`, its chunks under `nuid` (a fresh NUID:
    /// the core draws no randomness), its acknowledgements on `inbox` (a fresh inbox of the
    /// connection). The lookup of the object the name holds now is asked for at once.
    ///
    /// # Errors
    ///
    /// [`ObjectStoreError::NameRequired`], [`ObjectStoreError::InvalidNuid`],
    /// [`ObjectStoreError::InvalidOptions`] for a zero window or chunk size.
    pub fn new(
        now: Instant,
        bucket: &BucketSubjects,
        meta: ObjectMeta,
        nuid: &str,
        inbox: &str,
        options: PutOptions,
    ) -> Result<Put, ObjectStoreError> {
        validate_nuid(nuid)?;
        let lookup = InfoGet::new(bucket, &meta.name)?;
        let chunk_size = meta.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE);
        if chunk_size == 0 {
            return Err(ObjectStoreError::InvalidOptions("a chunk size of zero"));
        }
        if options.window == 0 {
            return Err(ObjectStoreError::InvalidOptions("a window of zero chunks"));
        }
        let mut put = Put {
            chunk_subject: bucket.chunk_subject(nuid),
            bucket: bucket.clone(),
            meta,
            nuid: nuid.to_owned(),
            inbox: inbox.to_owned(),
            chunk_size: chunk_size as usize,
            options,
            now,
            connected: true,
            input: VecDeque::new(),
            buffered: 0,
            ended: false,
            window: VecDeque::new(),
            next_index: 0,
            last_stored: 0,
            sent_any: false,
            size: 0,
            digest: Some(Digest::new()),
            next_reply: 0,
            next_token: 0,
            lookup: None,
            previous: None,
            phase: Phase::Chunks,
            outputs: VecDeque::new(),
        };
        put.push(Output::Subscribe {
            subject: format!("{inbox}.*"),
            queue_group: None,
        });
        let token = put.request(lookup.subject, lookup.payload);
        put.lookup = Some(token);
        Ok(put)
    }

    /// Whether the machine wants the object's next bytes: it is taking input, and less than a
    /// chunk waits to be sent. Feed only while this is true to keep memory bounded.
    pub fn wants_input(&self) -> bool {
        matches!(self.phase, Phase::Chunks) && !self.ended && self.buffered < self.chunk_size
    }

    /// Chunks sent and not yet acknowledged (or waiting to be sent again).
    pub fn in_flight(&self) -> usize {
        self.window
            .iter()
            .filter(|s| !matches!(s.ack, Ack::Stored(_)))
            .count()
    }

    /// Bytes held for the object: the chunks in the window plus the input not yet cut.
    pub fn held_bytes(&self) -> usize {
        self.window.iter().map(|s| s.payload.len()).sum::<usize>() + self.buffered
    }

    /// The chunk size in use.
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// The next bytes of the object, any size (kept without a copy where a chunk fits in
    /// one piece). Ignored once the input ended or the put failed.
    pub fn handle_data(&mut self, now: Instant, data: Bytes) {
        self.advance(now);
        if !matches!(self.phase, Phase::Chunks) || self.ended || data.is_empty() {
            return;
        }
        self.buffered += data.len();
        self.input.push_back(data);
        self.pump();
    }

    /// The input ended: the rest is sent as the last chunk, then the record.
    pub fn handle_end(&mut self, now: Instant) {
        self.advance(now);
        self.ended = true;
        self.pump();
    }

    // ===================== outputs =====================

    fn push(&mut self, output: Output<ObjectInfo, ObjectStoreError>) {
        self.outputs.push_back(output);
    }

    fn request(&mut self, subject: String, payload: Bytes) -> u64 {
        self.next_token += 1;
        let token = self.next_token;
        self.push(Output::Request {
            token,
            subject,
            payload,
        });
        token
    }

    /// Publishes with a fresh reply id on the inbox; returns what to wait for.
    fn publish(&mut self, publish: Publish) -> Ack {
        self.next_reply += 1;
        let reply = self.next_reply;
        self.push(Output::Publish(
            publish.with_reply(format!("{}.{reply}", self.inbox)),
        ));
        Ack::Waiting {
            reply,
            deadline: self.now + self.options.ack_timeout,
        }
    }

    // ===================== the chunks =====================

    /// Sends what can be sent: chunks while the window has room, then the record.
    fn pump(&mut self) {
        if !matches!(self.phase, Phase::Chunks) || !self.connected {
            return;
        }
        self.retry_refused();
        if self.fenced() {
            return;
        }
        while self.window.len() < self.options.window
            && (self.buffered >= self.chunk_size || (self.ended && self.buffered > 0))
        {
            let payload = self.cut(self.chunk_size.min(self.buffered));
            if let Some(digest) = &mut self.digest {
                digest.update(&payload);
            }
            self.size += payload.len() as u64;
            let ack = self.publish(Publish::new(self.chunk_subject.clone(), payload.clone()));
            self.sent_any = true;
            self.window.push_back(Slot {
                index: self.next_index,
                payload,
                attempt: 1,
                ack,
            });
            self.next_index += 1;
        }
        if self.ended && self.buffered == 0 && self.window.is_empty() {
            if let Some(previous) = self.previous.clone() {
                self.send_meta(previous);
            }
        }
    }

    /// Takes `n` bytes off the input, without a copy when the first piece holds them.
    fn cut(&mut self, n: usize) -> Bytes {
        self.buffered -= n;
        match self.input.front_mut() {
            Some(front) if front.len() >= n => {
                let chunk = front.split_to(n);
                if front.is_empty() {
                    self.input.pop_front();
                }
                chunk
            }
            _ => {
                let mut chunk = BytesMut::with_capacity(n);
                while chunk.len() < n {
                    let Some(front) = self.input.front_mut() else {
                        break;
                    };
                    let take = (n - chunk.len()).min(front.len());
                    chunk.extend_from_slice(&front.split_to(take));
                    if front.is_empty() {
                        self.input.pop_front();
                    }
                }
                chunk.freeze()
            }
        }
    }

    /// A chunk waits to be sent again: nothing new goes out until it has been.
    fn fenced(&self) -> bool {
        self.window
            .iter()
            .any(|s| matches!(s.ack, Ack::Retry { .. }))
    }

    /// Once every chunk in flight has its answer and every wait is over, sends the refused
    /// chunks again, in their order.
    fn retry_refused(&mut self) {
        let now = self.now;
        let waiting = self
            .window
            .iter()
            .any(|s| matches!(s.ack, Ack::Waiting { .. }));
        let due = self.window.iter().all(|s| match s.ack {
            Ack::Retry { at } => at <= now,
            _ => true,
        });
        if waiting || !due || !self.fenced() {
            return;
        }
        for i in 0..self.window.len() {
            if let Ack::Retry { .. } = self.window[i].ack {
                let payload = self.window[i].payload.clone();
                let ack = self.publish(Publish::new(self.chunk_subject.clone(), payload));
                let slot = &mut self.window[i];
                slot.attempt += 1;
                slot.ack = ack;
            }
        }
    }

    /// The answer to the publish with reply id `reply`.
    fn on_ack(&mut self, reply: u64, answer: Result<Message, RequestError>) {
        if let Phase::Meta { attempt, ack, .. } = &self.phase {
            if matches!(ack, Ack::Waiting { reply: r, .. } if *r == reply) {
                let attempt = *attempt;
                return self.on_meta_ack(attempt, answer);
            }
        }
        if !matches!(self.phase, Phase::Chunks) {
            return;
        }
        let Some(i) = self
            .window
            .iter()
            .position(|s| matches!(s.ack, Ack::Waiting { reply: r, .. } if r == reply))
        else {
            return; // A late answer to a publish already given up on.
        };
        let (attempt, index) = (self.window[i].attempt, self.window[i].index);
        match self
            .options
            .retry
            .handle_reply(attempt, self.salt(index), answer)
        {
            PublishStep::Acked(ack) => {
                self.window[i].ack = Ack::Stored(ack.seq);
                self.window[i].payload = Bytes::new();
                self.slide();
            }
            PublishStep::RetryAfter(wait) => {
                self.window[i].ack = Ack::Retry {
                    at: self.now + wait,
                };
            }
            PublishStep::Failed(failure) => {
                let cause = self.publish_error(failure);
                return self.fail(cause);
            }
        }
        self.pump();
    }

    /// Takes the stored chunks off the front of the window, checking their order.
    fn slide(&mut self) {
        while let Some(Slot {
            ack: Ack::Stored(seq),
            index,
            ..
        }) = self.window.front()
        {
            let (seq, index) = (*seq, *index);
            if seq <= self.last_stored {
                return self.fail(ObjectStoreError::ChunkOutOfOrder { chunk: index });
            }
            self.last_stored = seq;
            self.window.pop_front();
        }
    }

    /// A per-publish number for the retry jitter.
    fn salt(&self, index: u64) -> u64 {
        let nuid = self
            .nuid
            .bytes()
            .fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(b));
        nuid ^ index
    }

    fn publish_error(&self, failure: PublishFailure) -> ObjectStoreError {
        match failure {
            PublishFailure::Request(e) => ObjectStoreError::Request(e),
            PublishFailure::Response(e) => ObjectStoreError::from_response(self.bucket.bucket(), e),
        }
    }

    // ===================== the record =====================

    fn on_lookup(&mut self, reply: Result<Message, RequestError>) {
        self.lookup = None;
        let lookup = match InfoGet::new(&self.bucket, &self.meta.name) {
            Ok(lookup) => lookup,
            Err(e) => return self.fail(e),
        };
        match lookup.existing(reply) {
            Ok(previous) => {
                self.previous = Some(previous);
                self.pump();
            }
            Err(e) => self.fail(e),
        }
    }

    fn send_meta(&mut self, previous: Option<ObjectInfo>) {
        let digest = self.digest.take().unwrap_or_default().finish();
        let meta = &self.meta;
        let info = ObjectInfo {
            name: meta.name.clone(),
            description: meta.description.clone(),
            headers: meta.headers.clone(),
            metadata: meta.metadata.clone(),
            options: Some(ObjectOptions {
                link: None,
                max_chunk_size: self.chunk_size as u32,
            }),
            bucket: self.bucket.bucket().to_owned(),
            nuid: self.nuid.clone(),
            size: self.size,
            mtime: Default::default(),
            chunks: self.next_index,
            digest,
            deleted: false,
        };
        self.previous = Some(previous);
        self.send_meta_attempt(info, 1);
    }

    fn send_meta_attempt(&mut self, info: ObjectInfo, attempt: u32) {
        let publish = match info.publish(&self.bucket) {
            Ok(publish) => publish,
            Err(e) => return self.fail(e),
        };
        let ack = self.publish(publish);
        self.phase = Phase::Meta { info, attempt, ack };
    }

    fn on_meta_ack(&mut self, attempt: u32, answer: Result<Message, RequestError>) {
        let salt = self.salt(u64::MAX);
        let step = self.options.retry.handle_reply(attempt, salt, answer);
        let Phase::Meta { info, ack, .. } = &mut self.phase else {
            return;
        };
        match step {
            PublishStep::Acked(_) => {
                let info = info.clone();
                self.on_stored(info);
            }
            PublishStep::RetryAfter(wait) => {
                *ack = Ack::Retry {
                    at: self.now + wait,
                }
            }
            PublishStep::Failed(PublishFailure::Request(cause))
                if !matches!(cause, RequestError::NoResponders) =>
            {
                let name = info.name.clone();
                self.finish_with(Err(ObjectStoreError::MetaUnacknowledged { name, cause }));
            }
            PublishStep::Failed(failure) => {
                let cause = self.publish_error(failure);
                self.fail(cause);
            }
        }
    }

    /// The record is stored: purge the chunks of the object it replaced, if any.
    fn on_stored(&mut self, info: ObjectInfo) {
        let old = self.previous.clone().flatten();
        match old.filter(|old| !old.deleted && old.nuid != self.nuid) {
            Some(old) => {
                let subject = self.bucket.chunk_subject(&old.nuid);
                match self.bucket.purge(&subject) {
                    Ok((to, body)) => {
                        let token = self.request(to, body);
                        self.phase = Phase::PurgeOld {
                            info,
                            subject,
                            token,
                        };
                    }
                    Err(e) => {
                        self.push(Output::Error(e));
                        self.finish_with(Ok(info));
                    }
                }
            }
            None => self.finish_with(Ok(info)),
        }
    }

    // ===================== failure and the end =====================

    /// The put failed: purge its chunks (unless nothing can have been stored), then report.
    fn fail(&mut self, cause: ObjectStoreError) {
        if matches!(self.phase, Phase::Cleanup { .. } | Phase::Done) {
            return;
        }
        self.window.clear();
        self.input.clear();
        self.buffered = 0;
        let sealed = matches!(cause, ObjectStoreError::BucketSealed { .. });
        if !self.sent_any || sealed {
            return self.finish_with(Err(cause));
        }
        self.phase = Phase::Cleanup {
            cause,
            attempts: 0,
            token: None,
        };
        self.cleanup();
    }

    /// Sends the purge of the chunk subject when the link is up and none is out.
    fn cleanup(&mut self) {
        let Phase::Cleanup {
            token: None,
            attempts,
            ..
        } = &self.phase
        else {
            return;
        };
        if !self.connected {
            return;
        }
        let attempts = *attempts + 1;
        match self.bucket.purge(&self.chunk_subject) {
            Ok((to, body)) => {
                let new_token = self.request(to, body);
                if let Phase::Cleanup {
                    attempts: a, token, ..
                } = &mut self.phase
                {
                    *a = attempts;
                    *token = Some(new_token);
                }
            }
            Err(e) => self.on_cleanup_done(Err(e)),
        }
    }

    fn on_cleanup_done(&mut self, outcome: Result<(), ObjectStoreError>) {
        let Phase::Cleanup {
            cause, attempts, ..
        } = std::mem::replace(&mut self.phase, Phase::Done)
        else {
            return;
        };
        match outcome {
            Err(ObjectStoreError::Request(_)) if attempts < CLEANUP_ATTEMPTS => {
                self.phase = Phase::Cleanup {
                    cause,
                    attempts,
                    token: None,
                };
                self.cleanup();
            }
            Err(e) => {
                self.push(Output::Error(ObjectStoreError::CleanupFailed {
                    subject: self.chunk_subject.clone(),
                    cause: Box::new(e),
                }));
                self.finish_with(Err(cause));
            }
            Ok(()) => self.finish_with(Err(cause)),
        }
    }

    fn finish_with(&mut self, outcome: Result<ObjectInfo, ObjectStoreError>) {
        self.phase = Phase::Done;
        self.window.clear();
        self.input.clear();
        self.buffered = 0;
        self.push(match outcome {
            Ok(info) => Output::Deliver(info),
            Err(e) => Output::Error(e),
        });
        self.push(Output::Unsubscribe {
            subject: format!("{}.*", self.inbox),
        });
        self.push(Output::Finished);
    }

    fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }
}

/// A message on the inbox as a request's answer: a `503` status is no responders.
fn as_answer(message: Message) -> Result<Message, RequestError> {
    if message.status() == Some(StatusCode::NO_RESPONDERS) {
        Err(RequestError::NoResponders)
    } else {
        Ok(message)
    }
}

impl Machine for Put {
    type Item = ObjectInfo;
    type Error = ObjectStoreError;

    fn handle_message(&mut self, now: Instant, message: Message) {
        self.advance(now);
        let reply = message
            .subject
            .as_str()
            .strip_prefix(self.inbox.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|id| id.parse::<u64>().ok());
        if let Some(reply) = reply {
            self.on_ack(reply, as_answer(message));
        }
    }

    fn handle_reply(&mut self, now: Instant, token: u64, reply: Result<Message, RequestError>) {
        self.advance(now);
        if self.lookup == Some(token) {
            return self.on_lookup(reply);
        }
        match &self.phase {
            Phase::PurgeOld {
                info,
                subject,
                token: t,
            } if *t == token => {
                let (info, subject) = (info.clone(), subject.clone());
                if let Err(e) = super::ops::purge_outcome(&self.bucket, reply).map(|_| ()) {
                    self.push(Output::Error(ObjectStoreError::CleanupFailed {
                        subject,
                        cause: Box::new(e),
                    }));
                }
                self.finish_with(Ok(info));
            }
            Phase::Cleanup { token: Some(t), .. } if *t == token => {
                let outcome = super::ops::purge_outcome(&self.bucket, reply).map(|_| ());
                if let Phase::Cleanup { token, .. } = &mut self.phase {
                    *token = None;
                }
                self.on_cleanup_done(outcome);
            }
            _ => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        let now = self.now;
        let expired = |ack: &Ack| matches!(ack, Ack::Waiting { deadline, .. } if *deadline <= now);
        if let Phase::Meta { ack, attempt, info } = &self.phase {
            match *ack {
                ack if expired(&ack) => {
                    let attempt = *attempt;
                    return self.on_meta_ack(attempt, Err(RequestError::TimedOut));
                }
                Ack::Retry { at } if at <= now => {
                    let (info, attempt) = (info.clone(), *attempt + 1);
                    return self.send_meta_attempt(info, attempt);
                }
                _ => return,
            }
        }
        if let Some(slot) = self.window.iter().find(|s| expired(&s.ack)) {
            let Ack::Waiting { reply, .. } = slot.ack else {
                return;
            };
            return self.on_ack(reply, Err(RequestError::TimedOut));
        }
        self.pump();
    }

    fn handle_link(&mut self, now: Instant, link: Link) {
        self.advance(now);
        match link {
            Link::Down => {
                self.connected = false;
                let in_flight = self
                    .window
                    .iter()
                    .any(|s| matches!(s.ack, Ack::Waiting { .. }));
                match &self.phase {
                    Phase::Meta {
                        ack: Ack::Waiting { .. },
                        attempt,
                        ..
                    } => {
                        let attempt = *attempt;
                        self.on_meta_ack(attempt, Err(RequestError::Disconnected));
                    }
                    Phase::Chunks if in_flight => {
                        self.fail(ObjectStoreError::Request(RequestError::Disconnected))
                    }
                    _ => {}
                }
            }
            Link::Up => {
                self.connected = true;
                self.cleanup();
                self.pump();
            }
        }
    }

    fn stop(&mut self) {
        match &self.phase {
            Phase::Done => return,
            // The record may be stored (or is): its chunks stay.
            Phase::Meta { .. } | Phase::PurgeOld { .. } => {}
            Phase::Chunks | Phase::Cleanup { .. } => {
                if self.sent_any {
                    if let Ok((to, body)) = self.bucket.purge(&self.chunk_subject) {
                        self.request(to, body);
                    }
                }
            }
        }
        self.phase = Phase::Done;
        self.push(Output::Unsubscribe {
            subject: format!("{}.*", self.inbox),
        });
        self.push(Output::Finished);
    }

    fn poll_output(&mut self) -> Option<Output<ObjectInfo, ObjectStoreError>> {
        self.outputs.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let at = |ack: &Ack| match *ack {
            Ack::Waiting { deadline, .. } => Some(deadline),
            Ack::Retry { at } => Some(at),
            Ack::Stored(_) => None,
        };
        match &self.phase {
            Phase::Chunks => {
                // Refused chunks go out together once the last wait is over.
                let deadline = |s: &Slot| match s.ack {
                    Ack::Waiting { deadline, .. } => Some(deadline),
                    _ => None,
                };
                let retry = |s: &Slot| match s.ack {
                    Ack::Retry { at } => Some(at),
                    _ => None,
                };
                let waiting = self.window.iter().filter_map(deadline).min();
                let retries = self.window.iter().filter_map(retry).max();
                waiting.into_iter().chain(retries).min()
            }
            Phase::Meta { ack, .. } => at(ack),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
