//! Watching and listing a bucket's objects (spec §5.3): the records on `$O.<bucket>.M.>`
//! read by the watcher both stores share ([`Watcher`]) through the ordered consumer in push
//! form (as nats.go: flow control, idle heartbeat 5 s), each name's latest record unless the
//! history is asked for, and one [`WatchItem::CaughtUp`] at the end of the initial data. A
//! listing ([`WatchConfig::list`]) is the same watch leaving out deleted objects and finishing
//! at `CaughtUp`.
//!
//! Invariant: this module only decides the consumer's filter and start and decodes records
//! (an object's `mtime` is its record's timestamp); ordering, catching up, snapshots and
//! finishing are the shared watcher's, whose invariant holds here unchanged. Its catching-up
//! rule gives what nats.go's gives (spec §5.3): at once when the bucket holds no record,
//! else on the first record after which nothing is pending; with updates only, at once.

use std::time::{Duration, Instant};

use crate::jetstream::ack::AckInfo;
use crate::jetstream::api::{DateTime, DeliverPolicy};
use crate::jetstream::ordered::{OrderedConfig, OrderedMode, DEFAULT_HEARTBEAT};
use crate::jetstream::watch::{WatchDecoder, WatchRules, Watcher};
use crate::proto::Message;

use super::info::ObjectInfo;
use super::names::BucketSubjects;
use super::ObjectStoreError;

/// What a watch hands the application: an object's record, or `CaughtUp`.
pub type WatchItem = crate::jetstream::watch::WatchItem<ObjectInfo>;

/// What a watch reads, and when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchConfig {
    /// Every kept record (`deliver_policy: all`), not only each name's latest.
    pub include_history: bool,
    /// Leave deleted objects out (they still count toward catching up).
    pub ignore_deletes: bool,
    /// Only changes after the watch starts (`deliver_policy: new`); `CaughtUp` comes at once.
    pub updates_only: bool,
    /// End the watch (and delete its consumer) at `CaughtUp`: a listing.
    pub finish_at_caught_up: bool,
    /// The consumer's idle heartbeat; twice as long a silence replaces the consumer.
    pub idle_heartbeat: Duration,
}

impl Default for WatchConfig {
    fn default() -> WatchConfig {
        WatchConfig {
            include_history: false,
            ignore_deletes: false,
            updates_only: false,
            finish_at_caught_up: false,
            idle_heartbeat: DEFAULT_HEARTBEAT,
        }
    }
}

impl WatchConfig {
    /// Watch every object: each name's latest record, then every change.
    pub fn all() -> WatchConfig {
        WatchConfig::default()
    }

    /// List the objects present: each live object's latest record, ending at `CaughtUp`.
    pub fn list() -> WatchConfig {
        WatchConfig {
            ignore_deletes: true,
            finish_at_caught_up: true,
            ..WatchConfig::default()
        }
    }

    fn deliver_policy(&self) -> DeliverPolicy {
        match (self.include_history, self.updates_only) {
            (true, _) => DeliverPolicy::All,
            (false, true) => DeliverPolicy::New,
            (false, false) => DeliverPolicy::LastPerSubject,
        }
    }
}

/// Decodes a bucket's meta messages into records.
#[derive(Debug)]
pub struct InfoDecoder {
    bucket: String,
}

impl WatchDecoder for InfoDecoder {
    type Entry = ObjectInfo;
    type Error = ObjectStoreError;

    fn decode(
        &self,
        message: &Message,
        meta: &AckInfo<'_>,
    ) -> Result<ObjectInfo, ObjectStoreError> {
        let mut info = ObjectInfo::from_json(&message.payload)?;
        info.mtime =
            DateTime::from_unix_nanos(i128::from(meta.timestamp_nanos)).unwrap_or_default();
        Ok(info)
    }

    fn key(entry: &ObjectInfo) -> &str {
        &entry.name
    }

    fn is_deletion(entry: &ObjectInfo) -> bool {
        entry.deleted
    }

    fn not_found(&self) -> ObjectStoreError {
        ObjectStoreError::ObjectNotFound {
            bucket: self.bucket.clone(),
            name: String::new(),
        }
    }
}

/// A watch (or listing) of a bucket's objects, in the machine shape
/// ([`Machine`](crate::machine::Machine)).
pub type Watch = Watcher<InfoDecoder>;

impl Watch {
    /// A watch of `bucket` through `inbox` (a fresh inbox of the connection). The first
    /// consumer is asked for at once.
    ///
    /// # Errors
    ///
    /// [`ObjectStoreError::InvalidOptions`] for history with updates only;
    /// [`ObjectStoreError::ConsumerConfig`] for a zero heartbeat.
    pub fn new(
        now: Instant,
        bucket: &BucketSubjects,
        inbox: &str,
        config: WatchConfig,
    ) -> Result<Watch, ObjectStoreError> {
        if config.include_history && config.updates_only {
            return Err(ObjectStoreError::InvalidOptions(
                "a watch cannot both include history and deliver updates only",
            ));
        }
        let ordered = OrderedConfig {
            filter_subjects: vec![bucket.all_meta()],
            deliver_policy: config.deliver_policy(),
            mode: OrderedMode::Push {
                idle_heartbeat: config.idle_heartbeat,
            },
            ..OrderedConfig::new()
        };
        let rules = WatchRules {
            ignore_deletes: config.ignore_deletes,
            finish_at_caught_up: config.finish_at_caught_up,
            not_found_if_empty: false,
            snapshot: !config.include_history,
        };
        let decoder = InfoDecoder {
            bucket: bucket.bucket().to_owned(),
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
        .map_err(ObjectStoreError::ConsumerConfig)
    }
}
