//! The watcher both stores share (the key-value watch, spec §4.4, and the object-store
//! watch and list, spec §5.3): the latest record of each subject of a filter, read through
//! the ordered consumer, each decoded into an entry, and one [`WatchItem::CaughtUp`] at the
//! end of the initial data. A listing is the same watcher configured to finish there.
//!
//! Invariant: entries come out in stream order, each once, and none is lost (the ordered
//! consumer's invariant, which this machine only filters: it drops deletions when asked to,
//! never anything else). `CaughtUp` comes exactly once, after every initial entry: when the
//! first consumer had nothing to deliver at its creation, or on the first entry after which
//! its consumer had nothing pending, or once the first consumer itself delivered as many
//! entries as it had at its creation. Entries of replacement consumers (after a reconnect
//! or a gap) never count toward that last rule, since a replacement starting after a given
//! sequence also delivers sequences a last-per-subject start skipped. With updates only, the
//! first consumer has nothing to deliver at its creation, so `CaughtUp` comes at once.
//!
//! A snapshot listing (finishing at `CaughtUp`, latest entries only) holds back what a
//! replacement consumer delivers before `CaughtUp`, collapsed to each key's latest entry and
//! released just before `CaughtUp`, so an older record of a key deleted since is never
//! listed.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;
use std::time::Instant;

use crate::connection::RequestError;
use crate::machine::{Link, Machine, Output};
use crate::proto::Message;

use super::ack::{self, AckInfo};
use super::api::ApiPrefix;
use super::consume::OrderedConsume;
use super::ordered::{OrderedConfig, OrderedConfigError, OrderedError};

/// What a watch hands the application.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchItem<E> {
    /// A change (or, before `CaughtUp`, an initial record).
    Entry(E),
    /// Every record present when the watch started has been delivered; what follows is new.
    CaughtUp,
}

/// How a store turns the messages of its watch into entries.
pub trait WatchDecoder: Debug {
    /// One decoded record.
    type Entry: Clone + Debug;
    /// The store's error.
    type Error: From<OrderedError> + Debug;

    /// The entry of a delivered message (with its ack subject's metadata).
    ///
    /// # Errors
    ///
    /// The store's error for a message it cannot have written.
    fn decode(&self, message: &Message, meta: &AckInfo<'_>) -> Result<Self::Entry, Self::Error>;

    /// What a snapshot listing keeps the latest entry of (a key, an object name).
    fn key(entry: &Self::Entry) -> &str;

    /// Whether the entry removes its key (a delete or purge, a deleted object).
    fn is_deletion(entry: &Self::Entry) -> bool;

    /// The error of a listing that must find something and found nothing.
    fn not_found(&self) -> Self::Error;
}

/// When a watch ends, and what it leaves out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchRules {
    /// Leave deletions out (they still count toward catching up).
    pub ignore_deletes: bool,
    /// End the watch (and delete its consumer) at `CaughtUp`.
    pub finish_at_caught_up: bool,
    /// With `finish_at_caught_up`: nothing at all delivered is the decoder's
    /// [`not_found`](WatchDecoder::not_found).
    pub not_found_if_empty: bool,
    /// With `finish_at_caught_up`: a snapshot of each key's latest entry (see the module).
    pub snapshot: bool,
}

/// A watch, in the machine shape ([`Machine`]).
#[derive(Debug)]
pub struct Watcher<D: WatchDecoder> {
    consume: OrderedConsume,
    decoder: D,
    rules: WatchRules,
    /// Entries accepted from consumers before the first one's creation was confirmed.
    early: Vec<(String, u64)>,
    /// Entries the first consumer delivered.
    first_count: u64,
    delivered: u64,
    /// A snapshot listing: a replacement's entries before `CaughtUp`, latest per key, with
    /// their stream sequences.
    held: Option<BTreeMap<String, (u64, D::Entry)>>,
    caught_up: bool,
    finished: bool,
    outputs: VecDeque<Output<WatchItem<D::Entry>, D::Error>>,
}

impl<D: WatchDecoder> Watcher<D> {
    /// A watch of `stream` with the ordered consumer `config` through `inbox` (a fresh inbox
    /// of the connection). The first consumer is asked for at once.
    ///
    /// # Errors
    ///
    /// The consumer's configuration error.
    pub fn start(
        now: Instant,
        prefix: &ApiPrefix,
        stream: &str,
        inbox: &str,
        config: OrderedConfig,
        decoder: D,
        rules: WatchRules,
    ) -> Result<Watcher<D>, OrderedConfigError> {
        let consume = OrderedConsume::new(now, prefix, stream, inbox, config)?;
        let snapshot = rules.finish_at_caught_up && rules.snapshot;
        let mut watch = Watcher {
            consume,
            decoder,
            rules,
            early: Vec::new(),
            first_count: 0,
            delivered: 0,
            held: snapshot.then(BTreeMap::new),
            caught_up: false,
            finished: false,
            outputs: VecDeque::new(),
        };
        watch.collect();
        Ok(watch)
    }

    /// The ordered consumer underneath (its consumer name, resets, last sequence).
    pub fn consumer(&self) -> &OrderedConsume {
        &self.consume
    }

    /// Whether `CaughtUp` was handed out.
    pub fn is_caught_up(&self) -> bool {
        self.caught_up
    }

    /// Carries the ordered consumer's outputs over, turning messages into entries; then
    /// what catching up at the first consumer's creation asks (its cleanups, if finishing).
    fn collect(&mut self) {
        self.drain();
        self.check_first_consumer();
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(output) = self.consume.poll_output() {
            match output {
                Output::Deliver(message) => self.on_message(&message),
                Output::Error(error) => self.push(Output::Error(error.into())),
                Output::Finished => {
                    self.push(Output::Finished);
                    self.finished = true;
                }
                Output::Subscribe {
                    subject,
                    queue_group,
                } => self.push(Output::Subscribe {
                    subject,
                    queue_group,
                }),
                Output::Unsubscribe { subject } => self.push(Output::Unsubscribe { subject }),
                Output::Publish(publish) => self.push(Output::Publish(publish)),
                Output::Request {
                    token,
                    subject,
                    payload,
                } => self.push(Output::Request {
                    token,
                    subject,
                    payload,
                }),
            }
        }
    }

    fn push(&mut self, output: Output<WatchItem<D::Entry>, D::Error>) {
        if !self.finished {
            self.outputs.push_back(output);
        }
    }

    fn on_message(&mut self, message: &Message) {
        if self.finished {
            return;
        }
        // The ordered consumer delivers only messages whose ack subject it could read, and
        // each `Deliver` is drained right after the input that produced it: the last
        // metadata it read is this message's.
        let (Some(reply), Some(spans)) = (message.reply.as_ref(), self.consume.last_delivered())
        else {
            return;
        };
        let meta = spans.info(reply.as_str());
        debug_assert_eq!(Ok(meta), ack::parse_ref(reply.as_str()));
        let mut from_first = true;
        match self.consume.first_consumer() {
            Some(first) if first.name == meta.consumer => self.first_count += 1,
            Some(_) => from_first = false,
            None => match self
                .early
                .iter_mut()
                .find(|(name, _)| *name == meta.consumer)
            {
                Some((_, count)) => *count += 1,
                None => self.early.push((meta.consumer.to_owned(), 1)),
            },
        }
        match (self.decoder.decode(message, &meta), &mut self.held) {
            (Ok(entry), Some(held)) if !from_first && !self.caught_up => {
                held.insert(D::key(&entry).to_owned(), (meta.stream_sequence, entry));
            }
            (Ok(entry), _) => self.deliver(entry),
            (Err(error), _) => self.push(Output::Error(error)),
        }
        let backlog_done = self
            .consume
            .first_consumer()
            .is_some_and(|first| self.first_count >= first.backlog);
        if meta.pending == 0 || backlog_done {
            self.on_caught_up();
        }
    }

    /// Once the first consumer is known: count what it delivered early, and catch up at
    /// once if it had nothing (more) to deliver.
    fn check_first_consumer(&mut self) {
        let Some(first) = self.consume.first_consumer() else {
            return;
        };
        if let Some(i) = self.early.iter().position(|(name, _)| *name == first.name) {
            self.first_count += self.early[i].1;
        }
        self.early.clear();
        if self.first_count >= first.backlog {
            self.on_caught_up();
        }
    }

    fn deliver(&mut self, entry: D::Entry) {
        if self.rules.ignore_deletes && D::is_deletion(&entry) {
            return;
        }
        self.delivered += 1;
        self.push(Output::Deliver(WatchItem::Entry(entry)));
    }

    fn on_caught_up(&mut self) {
        if self.caught_up || self.finished {
            return;
        }
        self.caught_up = true;
        if let Some(held) = self.held.take() {
            let mut latest: Vec<(u64, D::Entry)> = held.into_values().collect();
            latest.sort_by_key(|(seq, _)| *seq);
            for (_, entry) in latest {
                self.deliver(entry);
            }
        }
        let rules = self.rules;
        if rules.finish_at_caught_up && rules.not_found_if_empty && self.delivered == 0 {
            let error = self.decoder.not_found();
            self.push(Output::Error(error));
        }
        self.push(Output::Deliver(WatchItem::CaughtUp));
        if rules.finish_at_caught_up {
            // Its cleanups and `Finished` are collected by the loop that called us.
            self.consume.stop();
        }
    }
}

impl<D: WatchDecoder> Machine for Watcher<D> {
    type Item = WatchItem<D::Entry>;
    type Error = D::Error;

    fn handle_message(&mut self, now: Instant, message: Message) {
        self.consume.handle_message(now, message);
        self.collect();
    }

    fn handle_reply(&mut self, now: Instant, token: u64, reply: Result<Message, RequestError>) {
        self.consume.handle_reply(now, token, reply);
        self.collect();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.consume.handle_timeout(now);
        self.collect();
    }

    fn handle_link(&mut self, now: Instant, link: Link) {
        self.consume.handle_link(now, link);
        self.collect();
    }

    fn stop(&mut self) {
        self.consume.stop();
        self.collect();
    }

    fn poll_output(&mut self) -> Option<Output<WatchItem<D::Entry>, D::Error>> {
        self.outputs.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        self.consume.poll_timeout()
    }
}
