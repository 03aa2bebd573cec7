//! The key-value watch (spec §4.4): the entries of one key, several filters or the whole
//! bucket, read through the ordered consumer in push form ([`OrderedMode::Push`]: ack none,
//! flow control, idle heartbeat 5 s, memory storage, R1) by the watcher both stores share
//! ([`Watcher`]), and one [`WatchItem::CaughtUp`] at the end of the initial data. Keys and
//! history are the same machine configured to finish there ([`WatchConfig::keys`],
//! [`WatchConfig::history`]).
//!
//! Invariant: this module only decides the consumer's filters and start from the
//! [`WatchConfig`] and decodes entries ([`Entry::from_delivered`]); ordering, catching up,
//! snapshots and finishing are the shared watcher's, whose invariant holds here unchanged.

use std::time::{Duration, Instant};

use crate::jetstream::ack::AckInfo;
use crate::jetstream::api::DeliverPolicy;
use crate::jetstream::ordered::{OrderedConfig, OrderedMode, DEFAULT_HEARTBEAT};
use crate::jetstream::watch::{WatchDecoder, WatchRules, Watcher};
use crate::proto::Message;

use super::entry::Entry;
use super::names::BucketSubjects;
use super::KvError;

/// What a watch hands the application: an entry, or `CaughtUp`.
pub type WatchItem = crate::jetstream::watch::WatchItem<Entry>;

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

/// Decodes a bucket's messages into entries.
#[derive(Debug)]
pub struct KvDecoder {
    bucket: BucketSubjects,
    filters: Vec<String>,
}

impl WatchDecoder for KvDecoder {
    type Entry = Entry;
    type Error = KvError;

    fn decode(&self, message: &Message, meta: &AckInfo<'_>) -> Result<Entry, KvError> {
        Entry::from_delivered(&self.bucket, message, meta)
    }

    fn key(entry: &Entry) -> &str {
        &entry.key
    }

    fn is_deletion(entry: &Entry) -> bool {
        entry.operation.is_deletion()
    }

    fn not_found(&self) -> KvError {
        KvError::KeyNotFound {
            key: self.filters.join(" "),
        }
    }
}

/// A watch of a bucket, in the machine shape ([`Machine`](crate::machine::Machine)).
pub type Watch = Watcher<KvDecoder>;

impl Watch {
    /// A watch of `bucket` through `inbox` (a fresh inbox of the connection; each consumer
    /// generation pushes to `<inbox>.<serial>`). The first consumer is asked for at once.
    ///
    /// # Errors
    ///
    /// [`KvError::ConflictingWatchOptions`], [`KvError::InvalidFilter`],
    /// [`KvError::ConsumerConfig`] for a zero heartbeat.
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
        let rules = WatchRules {
            ignore_deletes: config.ignore_deletes,
            finish_at_caught_up: config.finish_at_caught_up,
            not_found_if_empty: config.not_found_if_empty,
            snapshot: !config.include_history,
        };
        let decoder = KvDecoder {
            bucket: bucket.clone(),
            filters: config.filters,
        };
        Watcher::start(
            now,
            bucket.api_prefix(),
            bucket.stream(),
            inbox,
            ordered,
            decoder,
            rules,
        )
        .map_err(KvError::ConsumerConfig)
    }
}

#[cfg(test)]
mod tests;
