//! The watch machine (spec §4.4): the entries of one key, several filters or the whole
//! bucket, read through the ordered consumer in push form ([`OrderedConsume`] with
//! [`OrderedMode::Push`]: ack none, flow control, idle heartbeat 5 s, memory storage, R1),
//! and one [`WatchItem::CaughtUp`] at the end of the initial data. Keys and history are the
//! same machine configured to finish there ([`WatchConfig::keys`], [`WatchConfig::history`]).
//!
//! Invariant: entries come out in revision order, each once, and none is lost (the ordered
//! consumer's invariant, which this machine only filters: it drops deletions when asked to,
//! never anything else). `CaughtUp` comes exactly once, after every initial entry: when the
//! first consumer had nothing to deliver at its creation, or on the first entry after which
//! its consumer had nothing pending (delta 0), or once the first consumer itself delivered
//! as many entries as it had at its creation. Entries of replacement consumers (after a
//! reconnect or a gap) never count toward that last rule, since a replacement starting after
//! a given revision also delivers revisions a last-per-key start skipped.
//!
//! A key listing (finishing at `CaughtUp`, latest entries only) is a snapshot: what a
//! replacement consumer delivers before `CaughtUp` is held back and collapsed to each key's
//! latest entry, released just before `CaughtUp`, so an older revision of a key deleted
//! since is never listed.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::connection::RequestError;
use crate::jetstream::ack;
use crate::jetstream::api::DeliverPolicy;
use crate::jetstream::consume::OrderedConsume;
use crate::jetstream::ordered::{OrderedConfig, OrderedMode, DEFAULT_HEARTBEAT};
use crate::machine::{Link, Machine, Output};
use crate::proto::Message;

use super::entry::Entry;
use super::names::BucketSubjects;
use super::KvError;

/// What a watch hands the application.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchItem {
    /// A change (or, before `CaughtUp`, an initial value).
    Entry(Entry),
    /// Every entry present when the watch started has been delivered; what follows is new.
    CaughtUp,
}

/// What a watch reads, and when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchConfig {
    /// Keys or filters (`*` tokens, a last `>`) to watch; empty: the whole bucket.
    pub filters: Vec<String>,
    /// Every kept revision, not only each key's latest (`deliver_policy: all`).
    pub include_history: bool,
    /// Leave deletions out (they still count toward catching up).
    pub ignore_deletes: bool,
    /// Entries without values (`headers_only`).
    pub meta_only: bool,
    /// Only changes after the watch starts (`deliver_policy: new`); `CaughtUp` comes at once.
    pub updates_only: bool,
    /// Start at this revision (`by_start_sequence`), overriding the start above.
    pub resume_from: Option<u64>,
    /// End the watch (and delete its consumer) at `CaughtUp`: keys and history.
    pub finish_at_caught_up: bool,
    /// With `finish_at_caught_up`: nothing at all delivered is [`KvError::KeyNotFound`]
    /// (history of a key that has none).
    pub not_found_if_empty: bool,
    /// The consumer's idle heartbeat; twice as long a silence replaces the consumer.
    pub idle_heartbeat: Duration,
}

impl Default for WatchConfig {
    fn default() -> WatchConfig {
        WatchConfig {
            filters: Vec::new(),
            include_history: false,
            ignore_deletes: false,
            meta_only: false,
            updates_only: false,
            resume_from: None,
            finish_at_caught_up: false,
            not_found_if_empty: false,
            idle_heartbeat: DEFAULT_HEARTBEAT,
        }
    }
}

impl WatchConfig {
    /// Watch one key (or one filter): its latest entry, then its changes.
    pub fn key(key: impl Into<String>) -> WatchConfig {
        WatchConfig::filters([key])
    }

    /// Watch every key.
    pub fn all() -> WatchConfig {
        WatchConfig::default()
    }

    /// Watch the keys matching any of `filters` (none: every key).
    pub fn filters<I: IntoIterator<Item = S>, S: Into<String>>(filters: I) -> WatchConfig {
        WatchConfig {
            filters: filters.into_iter().map(Into::into).collect(),
            ..WatchConfig::default()
        }
    }

    /// List the keys present (matching `filters`; none: every key): each key's latest
    /// entry without its value, deletions left out, ending at `CaughtUp`.
    pub fn keys<I: IntoIterator<Item = S>, S: Into<String>>(filters: I) -> WatchConfig {
        WatchConfig {
            meta_only: true,
            ignore_deletes: true,
            finish_at_caught_up: true,
            ..WatchConfig::filters(filters)
        }
    }

    /// Every kept revision of `key`, ending at `CaughtUp`; none is [`KvError::KeyNotFound`].
    pub fn history(key: impl Into<String>) -> WatchConfig {
        WatchConfig {
            include_history: true,
            finish_at_caught_up: true,
            not_found_if_empty: true,
            ..WatchConfig::key(key)
        }
    }

    fn deliver_policy(&self) -> DeliverPolicy {
        match (self.resume_from, self.include_history, self.updates_only) {
            (Some(start_seq), _, _) => DeliverPolicy::ByStartSequence {
                start_seq: start_seq.max(1),
            },
            (None, true, _) => DeliverPolicy::All,
            (None, false, true) => DeliverPolicy::New,
            (None, false, false) => DeliverPolicy::LastPerSubject,
        }
    }
}

/// A watch of a bucket, in the machine shape ([`Machine`]).
#[derive(Debug)]
pub struct Watch {
    consume: OrderedConsume,
    bucket: BucketSubjects,
    config: WatchConfig,
    /// Entries accepted from consumers before the first one's creation was confirmed.
    early: Vec<(String, u64)>,
    /// Entries the first consumer delivered.
    first_count: u64,
    delivered: u64,
    /// A key listing: a replacement's entries before `CaughtUp`, latest per key.
    held: Option<BTreeMap<String, Entry>>,
    caught_up: bool,
    finished: bool,
    outputs: VecDeque<Output<WatchItem, KvError>>,
}

impl Watch {
    /// A watch of `bucket` through `inbox` (a fresh inbox of the connection; each consumer
    /// generation pushes to `<inbox>.<serial>`). The first consumer is asked for at once.
    ///
    /// # Errors
    ///
    /// [`KvError::ConflictingWatchOptions`], [`KvError::InvalidFilter`],
    /// [`KvError::Consumer`] for a zero heartbeat.
    pub fn new(
        now: Instant,
        bucket: &BucketSubjects,
        inbox: &str,
        config: WatchConfig,
    ) -> Result<Watch, KvError> {
        if config.include_history && config.updates_only {
            return Err(KvError::ConflictingWatchOptions);
        }
        let filter_subjects = if config.filters.is_empty() {
            vec![bucket.all_keys()]
        } else {
            let subjects: Result<Vec<String>, KvError> = config
                .filters
                .iter()
                .map(|f| bucket.filter_subject(f))
                .collect();
            subjects?
        };
        let ordered = OrderedConfig {
            filter_subjects,
            deliver_policy: config.deliver_policy(),
            headers_only: config.meta_only,
            mode: OrderedMode::Push {
                idle_heartbeat: config.idle_heartbeat,
            },
            ..OrderedConfig::new()
        };
        let consume =
            OrderedConsume::new(now, bucket.api_prefix(), bucket.stream(), inbox, ordered)
                .map_err(KvError::ConsumerConfig)?;
        let snapshot = config.finish_at_caught_up && !config.include_history;
        let mut watch = Watch {
            consume,
            bucket: bucket.clone(),
            config,
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

    /// The ordered consumer underneath (its consumer name, resets, last revision).
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
                Output::Error(error) => self.push(Output::Error(KvError::Consumer(error))),
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

    fn push(&mut self, output: Output<WatchItem, KvError>) {
        if !self.finished {
            self.outputs.push_back(output);
        }
    }

    fn on_message(&mut self, message: &Message) {
        if self.finished {
            return;
        }
        // The ordered consumer delivers only messages whose ack subject it could read.
        let Some(meta) = message
            .reply
            .as_ref()
            .and_then(|r| ack::parse(r.as_str()).ok())
        else {
            return;
        };
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
                None => self.early.push((meta.consumer.clone(), 1)),
            },
        }
        match (
            Entry::from_delivered(&self.bucket, message, &meta),
            &mut self.held,
        ) {
            (Ok(entry), Some(held)) if !from_first && !self.caught_up => {
                held.insert(entry.key.clone(), entry);
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

    fn deliver(&mut self, entry: Entry) {
        if self.config.ignore_deletes && entry.operation.is_deletion() {
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
            let mut latest: Vec<Entry> = held.into_values().collect();
            latest.sort_by_key(|e| e.revision);
            for entry in latest {
                self.deliver(entry);
            }
        }
        let config = &self.config;
        if config.finish_at_caught_up && config.not_found_if_empty && self.delivered == 0 {
            let key = config.filters.join(" ");
            self.push(Output::Error(KvError::KeyNotFound { key }));
        }
        self.push(Output::Deliver(WatchItem::CaughtUp));
        if self.config.finish_at_caught_up {
            // Its cleanups and `Finished` are collected by the loop that called us.
            self.consume.stop();
        }
    }
}

impl Machine for Watch {
    type Item = WatchItem;
    type Error = KvError;

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

    fn poll_output(&mut self) -> Option<Output<WatchItem, KvError>> {
        self.outputs.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        self.consume.poll_timeout()
    }
}

#[cfg(test)]
mod tests;
