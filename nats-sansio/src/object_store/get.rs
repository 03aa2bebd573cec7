//! The get machine (spec §5.3): an object's bytes, chunk by chunk and in order, read from
//! `$O.<bucket>.C.<nuid>` through the ordered consumer in pull form within a byte budget,
//! with the digest and the size checked at the end.
//!
//! Why the pull form and not nats.go's push form: a push consumer sends as fast as flow
//! control lets it (ack none, no `max_ack_pending` to hold it back, flow-control windows the
//! server sizes), so a slow reader's memory grows with the object. A pull asks for bytes: the
//! server sends no more than was asked, and this machine asks only for what the application
//! has room for. What was requested and not yet received, plus what was delivered and not yet
//! consumed ([`Get::handle_consumed`]), never exceeds the budget of [`GetOptions::window`]
//! chunks (while one consumer serves the read: a replacement consumer after a fault may
//! overlap with what its predecessor still had on its way).
//!
//! Invariants:
//! - Links are resolved first: an object link is followed to its target's record (at most
//!   [`MAX_LINK_HOPS`] links), a bucket link is [`ObjectStoreError::BucketLink`], a deleted
//!   object is [`ObjectStoreError::ObjectNotFound`]; an empty object finishes at once, with
//!   no consumer (none would ever report the end).
//! - Chunks are delivered in stream order, each once (the ordered consumer's invariant).
//!   The read ends on the chunk after which the consumer has nothing pending; then the
//!   chunks and bytes counted must equal the record's and the digest must match, else the
//!   last thing delivered is an error naming expected and actual
//!   ([`ObjectStoreError::SizeMismatch`], [`ObjectStoreError::DigestMismatch`]), never a
//!   silent short read. More chunks or bytes than the record names fail at once.
//!
//! # The run loop
//!
//! As every [`Machine`]; in addition, call [`handle_consumed`](Get::handle_consumed) each time
//! the application is done with the oldest chunk delivered (the budget counts it until then).

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use crate::connection::RequestError;
use crate::jetstream::ack;
use crate::jetstream::api::{ApiPrefix, DeliverPolicy};
use crate::jetstream::consume::OrderedConsume;
use crate::jetstream::ordered::{OrderedConfig, OrderedMode};
use crate::jetstream::pull::ConsumeOptions;
use crate::machine::{Link, Machine, Output};
use crate::proto::Message;

use super::digest::Digest;
use super::info::{ObjectInfo, DEFAULT_CHUNK_SIZE};
use super::names::{validate_nuid, BucketSubjects, InfoGet};
use super::ObjectStoreError;

/// Chunks a get keeps requested or undelivered at most, by default: 64 chunks, 8 MiB at the
/// default chunk size. With [`PULL_AT_FREE`], about that much is always requested from the
/// server while the application reads what arrived.
///
/// Measured, three 256 MiB gets from a file bucket, interleaved runs: pulling again at half
/// free, 32 chunks read at 600 MB/s (medians of nine), 64 at 633 and 128 at 698, async-nats's
/// push get at 657–678; pulling again at a tenth free, 64 chunks at 666, 96 at 799, 128 at
/// 778. Since the read buffer holds each chunk in one block, moved never (the decoder's
/// `room_for_read`), the peak is about the window itself: in `cargo xtask bench`'s rows
/// (three repetitions, two runs each) 64 chunks read at 1.21 and 1.13× async-nats with a
/// peak of 9.0 and 8.8 MiB for a 1 GiB get, 96 at 1.27 and 1.16× with 17 MiB, 128 at 1.25
/// and 1.28× with 23 MiB: 64 keeps most of the speed at half the memory of 96.
pub const DEFAULT_GET_WINDOW: usize = 64;
/// A new pull goes out once this fraction of the budget is free (one part in ten, and at
/// least one chunk, so that a pull always has room for a chunk), rather than the consume
/// default of half: the requested bytes stay near the window, so the server never waits for
/// a pull between two.
pub const PULL_AT_FREE: usize = 10;
/// Links followed at most before giving up (a loop of links).
pub const MAX_LINK_HOPS: usize = 8;
/// What a delivered chunk weighs in the pull budget beyond its payload and subject: the ack
/// reply subject and any headers.
pub const CHUNK_OVERHEAD: usize = 1024;
/// Tokens of the machine's own lookups; the consumer's are below.
const LOOKUP_TOKEN: u64 = 1 << 63;

/// How a get reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetOptions {
    /// Chunks requested or undelivered at most (at least 2; default [`DEFAULT_GET_WINDOW`]).
    pub window: usize,
}

impl Default for GetOptions {
    fn default() -> GetOptions {
        GetOptions {
            window: DEFAULT_GET_WINDOW,
        }
    }
}

/// One read of one object, in the machine shape ([`Machine`]), with one more input:
/// [`handle_consumed`](Get::handle_consumed). It delivers the chunks' payloads.
#[derive(Debug)]
pub struct Get {
    now: Instant,
    bucket: BucketSubjects,
    inbox: String,
    options: GetOptions,
    /// The name first asked for.
    asked: String,
    hops: usize,
    /// The lookup of a link's target: its token and request.
    lookup: Option<(u64, InfoGet)>,
    /// The record being read (a link's target once resolved).
    target: Option<ObjectInfo>,
    consume: Option<OrderedConsume>,
    budget: usize,
    digest: Option<Digest>,
    chunks: u64,
    size: u64,
    /// Sizes (as the budget counts them) of the chunks delivered and not yet consumed.
    held: VecDeque<usize>,
    held_bytes: usize,
    done: bool,
    outputs: VecDeque<Output<Bytes, ObjectStoreError>>,
}

impl Get {
    /// A read of the object `info` describes (as a lookup in `bucket` returned it), through
    /// `inbox` (a fresh inbox of the connection). Its first request (a link's lookup or the
    /// consumer's creation) is asked for at once; an empty object finishes at once.
    ///
    /// # Errors
    ///
    /// [`ObjectStoreError::InvalidOptions`] for a window under 2 chunks.
    pub fn new(
        now: Instant,
        bucket: &BucketSubjects,
        info: ObjectInfo,
        inbox: &str,
        options: GetOptions,
    ) -> Result<Get, ObjectStoreError> {
        if options.window < 2 {
            return Err(ObjectStoreError::InvalidOptions(
                "a get window under two chunks",
            ));
        }
        let mut get = Get {
            now,
            bucket: bucket.clone(),
            inbox: inbox.to_owned(),
            options,
            asked: info.name.clone(),
            hops: 0,
            lookup: None,
            target: None,
            consume: None,
            budget: 0,
            digest: Some(Digest::new()),
            chunks: 0,
            size: 0,
            held: VecDeque::new(),
            held_bytes: 0,
            done: false,
            outputs: VecDeque::new(),
        };
        get.resolve(info);
        Ok(get)
    }

    /// The record being read, once links are resolved.
    pub fn info(&self) -> Option<&ObjectInfo> {
        self.target.as_ref()
    }

    /// The byte budget: chunks requested and not yet received plus chunks delivered and not
    /// yet consumed weigh at most this much (0 before the read starts).
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// What the application holds: the weight of the chunks delivered and not consumed.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Chunks and bytes delivered so far.
    pub fn delivered(&self) -> (u64, u64) {
        (self.chunks, self.size)
    }

    /// The ordered consumer underneath, once the read started.
    pub fn consumer(&self) -> Option<&OrderedConsume> {
        self.consume.as_ref()
    }

    /// The application is done with the oldest chunk delivered: its weight leaves the
    /// budget, which may let a pull go out.
    pub fn handle_consumed(&mut self, now: Instant) {
        self.now = self.now.max(now);
        if let Some(weight) = self.held.pop_front() {
            self.held_bytes -= weight;
        }
        if let Some(consume) = &mut self.consume {
            consume.set_held(self.held.len(), self.held_bytes);
        }
        self.collect();
    }

    // ===================== resolution =====================

    fn resolve(&mut self, info: ObjectInfo) {
        let not_found = |info: &ObjectInfo| ObjectStoreError::ObjectNotFound {
            bucket: info.bucket.clone(),
            name: info.name.clone(),
        };
        if info.deleted {
            return self.fail(not_found(&info));
        }
        if info.nuid.is_empty() {
            return self.fail(ObjectStoreError::BadMeta(format!(
                "object {:?} has no NUID",
                info.name
            )));
        }
        let Some(link) = info.link().cloned() else {
            return self.start(info);
        };
        if link.is_bucket_link() {
            return self.fail(ObjectStoreError::BucketLink {
                name: info.name,
                bucket: link.bucket,
            });
        }
        self.hops += 1;
        if self.hops > MAX_LINK_HOPS {
            return self.fail(ObjectStoreError::TooManyLinks {
                name: self.asked.clone(),
            });
        }
        // The same bucket is read as this handle says; another by the stream leader, which
        // needs no Direct Get.
        let bucket = if link.bucket == self.bucket.bucket() {
            Ok(self.bucket.clone())
        } else {
            BucketSubjects::new(&link.bucket, self.bucket.api_prefix())
                .map(|b| b.with_direct(false))
        };
        match bucket.and_then(|b| InfoGet::new(&b, &link.name)) {
            Ok(lookup) => {
                let token = LOOKUP_TOKEN + self.hops as u64;
                self.outputs.push_back(Output::Request {
                    token,
                    subject: lookup.subject.clone(),
                    payload: lookup.payload.clone(),
                });
                self.lookup = Some((token, lookup));
            }
            Err(e) => self.fail(e),
        }
    }

    /// Reads the chunks of `info` (not a link).
    fn start(&mut self, info: ObjectInfo) {
        if info.size == 0 {
            self.target = Some(info);
            return self.finish(Ok(()));
        }
        if info.chunks == 0 {
            return self.fail(ObjectStoreError::SizeMismatch {
                name: info.name.clone(),
                expected_chunks: 0,
                expected_size: info.size,
                chunks: 0,
                size: 0,
            });
        }
        let recorded = match info.chunk_size() {
            0 => DEFAULT_CHUNK_SIZE as u64,
            n => u64::from(n),
        };
        let chunk = recorded.max(info.size.div_ceil(info.chunks)).min(info.size);
        let bucket = match BucketSubjects::new(&info.bucket, self.bucket.api_prefix())
            .and_then(|b| validate_nuid(&info.nuid).map(|()| b))
        {
            Ok(bucket) => bucket,
            Err(e) => return self.fail(ObjectStoreError::BadMeta(e.to_string())),
        };
        let subject = bucket.chunk_subject(&info.nuid);
        let stream = bucket.stream().to_owned();
        let weight = usize::try_from(chunk).unwrap_or(usize::MAX)
            + subject.len()
            + stream.len()
            + CHUNK_OVERHEAD;
        self.budget = weight.saturating_mul(self.options.window);
        let config = OrderedConfig {
            filter_subjects: vec![subject],
            deliver_policy: DeliverPolicy::All,
            mode: OrderedMode::Pull,
            consume: ConsumeOptions {
                threshold_bytes: Some(self.budget - (self.budget / PULL_AT_FREE).max(weight)),
                ..ConsumeOptions::bytes(self.budget)
            },
            ..OrderedConfig::new()
        };
        let prefix: ApiPrefix = self.bucket.api_prefix().clone();
        self.target = Some(info);
        match OrderedConsume::new(self.now, &prefix, &stream, &self.inbox, config) {
            Ok(mut consume) => {
                consume.hold_delivered();
                self.consume = Some(consume);
                self.collect();
            }
            Err(e) => self.fail(ObjectStoreError::ConsumerConfig(e)),
        }
    }

    fn on_lookup(&mut self, reply: Result<Message, RequestError>) {
        let Some((_, lookup)) = self.lookup.take() else {
            return;
        };
        match lookup.info(reply) {
            Ok(info) => self.resolve(info),
            Err(e) => self.fail(e),
        }
    }

    // ===================== reading =====================

    /// Carries the consumer's outputs over, turning its messages into chunks.
    fn collect(&mut self) {
        loop {
            let Some(consume) = self.consume.as_mut() else {
                return;
            };
            let Some(output) = consume.poll_output() else {
                break;
            };
            match output {
                Output::Deliver(message) => self.on_chunk(&message),
                Output::Error(e) => self.fail(ObjectStoreError::Consumer(e)),
                Output::Finished => {
                    if !self.done {
                        self.fail(ObjectStoreError::Malformed(
                            "the consumer finished before the last chunk".into(),
                        ));
                    }
                }
                Output::Subscribe {
                    subject,
                    queue_group,
                } => self.outputs.push_back(Output::Subscribe {
                    subject,
                    queue_group,
                }),
                Output::Unsubscribe { subject } => {
                    self.outputs.push_back(Output::Unsubscribe { subject })
                }
                Output::Publish(p) => self.outputs.push_back(Output::Publish(p)),
                Output::Request {
                    token,
                    subject,
                    payload,
                } => self.outputs.push_back(Output::Request {
                    token,
                    subject,
                    payload,
                }),
            }
        }
        self.check_backlog();
    }

    /// The first consumer found nothing at all to deliver: every chunk is missing.
    fn check_backlog(&mut self) {
        let empty = self
            .consume
            .as_ref()
            .and_then(OrderedConsume::first_consumer)
            .is_some_and(|first| first.backlog == 0);
        if empty && self.chunks == 0 && !self.done {
            self.end();
        }
    }

    fn on_chunk(&mut self, message: &Message) {
        if self.done {
            return;
        }
        let Some(target) = &self.target else {
            return;
        };
        let (expected_chunks, expected_size) = (target.chunks, target.size);
        let pending = message
            .reply
            .as_ref()
            .and_then(|r| ack::parse_ref(r.as_str()).ok())
            .map_or(0, |meta| meta.pending);
        let payload = message.payload.clone();
        self.chunks += 1;
        self.size += payload.len() as u64;
        if let Some(digest) = &mut self.digest {
            digest.update(&payload);
        }
        if self.chunks > expected_chunks || self.size > expected_size {
            return self.end();
        }
        let weight = message.subject.as_bytes().len()
            + message.reply.as_ref().map_or(0, |r| r.as_bytes().len())
            + message.length;
        self.held.push_back(weight);
        self.held_bytes += weight;
        if let Some(consume) = &mut self.consume {
            consume.set_held(self.held.len(), self.held_bytes);
        }
        self.outputs.push_back(Output::Deliver(payload));
        if pending == 0 {
            self.end();
        }
    }

    /// The read is over: what was read must be the whole object.
    fn end(&mut self) {
        let Some(target) = &self.target else {
            return;
        };
        let (name, chunks, size) = (target.name.clone(), target.chunks, target.size);
        if self.chunks != chunks || self.size != size {
            return self.fail(ObjectStoreError::SizeMismatch {
                name,
                expected_chunks: chunks,
                expected_size: size,
                chunks: self.chunks,
                size: self.size,
            });
        }
        let digest = self.digest.take().unwrap_or_default();
        let outcome = digest.check(&name, &target.digest);
        self.finish(outcome);
    }

    fn fail(&mut self, error: ObjectStoreError) {
        self.finish(Err(error));
    }

    fn finish(&mut self, outcome: Result<(), ObjectStoreError>) {
        if self.done {
            return;
        }
        self.done = true;
        if let Err(e) = outcome {
            self.outputs.push_back(Output::Error(e));
        }
        if let Some(consume) = &mut self.consume {
            consume.stop();
            while let Some(output) = consume.poll_output() {
                match output {
                    Output::Request {
                        token,
                        subject,
                        payload,
                    } => self.outputs.push_back(Output::Request {
                        token,
                        subject,
                        payload,
                    }),
                    Output::Unsubscribe { subject } => {
                        self.outputs.push_back(Output::Unsubscribe { subject })
                    }
                    _ => {}
                }
            }
        }
        self.outputs.push_back(Output::Finished);
    }
}

impl Machine for Get {
    type Item = Bytes;
    type Error = ObjectStoreError;

    fn handle_message(&mut self, now: Instant, message: Message) {
        self.now = self.now.max(now);
        if let Some(consume) = &mut self.consume {
            consume.handle_message(now, message);
            self.collect();
        }
    }

    fn handle_reply(&mut self, now: Instant, token: u64, reply: Result<Message, RequestError>) {
        self.now = self.now.max(now);
        if self.lookup.as_ref().is_some_and(|(t, _)| *t == token) {
            return self.on_lookup(reply);
        }
        if let Some(consume) = &mut self.consume {
            consume.handle_reply(now, token, reply);
            self.collect();
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        if let Some(consume) = &mut self.consume {
            consume.handle_timeout(now);
            self.collect();
        }
    }

    fn handle_link(&mut self, now: Instant, link: Link) {
        self.now = self.now.max(now);
        if let Some(consume) = &mut self.consume {
            consume.handle_link(now, link);
            self.collect();
        }
    }

    fn stop(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        if let Some(consume) = &mut self.consume {
            consume.stop();
            while let Some(output) = consume.poll_output() {
                if let Output::Request {
                    token,
                    subject,
                    payload,
                } = output
                {
                    self.outputs.push_back(Output::Request {
                        token,
                        subject,
                        payload,
                    });
                }
            }
        }
        self.outputs.push_back(Output::Finished);
    }

    fn poll_output(&mut self) -> Option<Output<Bytes, ObjectStoreError>> {
        self.outputs.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        self.consume.as_ref().and_then(Machine::poll_timeout)
    }
}

#[cfg(test)]
mod tests;
