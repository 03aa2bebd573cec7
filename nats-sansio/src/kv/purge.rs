//! Purging old delete markers (`PurgeDeletes`, spec §4.3): given the deletions a watch of
//! the whole bucket reported up to its end of initial data ([`Watch`](super::Watch) with
//! [`WatchConfig::all`](super::WatchConfig::all) and `finish_at_caught_up`), the
//! `STREAM.PURGE` requests that drop them.
//!
//! Invariant: each deleted key gets exactly one request, filtered to that key's subject,
//! which removes everything of the key; a marker younger than the threshold (default 30
//! minutes), or of unknown age, keeps itself (`keep: 1`), so a recent deletion stays visible
//! to watchers that have not seen it yet. Puts are never purged here.

use std::time::Duration;

use crate::jetstream::api::PurgeRequest;

use super::entry::Entry;
use super::names::BucketSubjects;
use super::KvError;

/// Markers younger than this are kept by default.
pub const DEFAULT_MARKER_THRESHOLD: Duration = Duration::from_secs(30 * 60);

/// Which delete markers go (nats.go's `DeleteMarkersOlderThan`: zero is the default, a
/// negative value is "all").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MarkerAge {
    /// Those older than [`DEFAULT_MARKER_THRESHOLD`].
    #[default]
    Default,
    /// Those older than this.
    OlderThan(Duration),
    /// All of them, whatever their age.
    All,
}

/// The `STREAM.PURGE` request bodies (send each to
/// [`ApiPrefix::stream_purge`](crate::jetstream::api::ApiPrefix::stream_purge) of the
/// bucket's stream) for the deletions among `entries`, at wall-clock time `now_unix_nanos`.
///
/// ```
/// use nats_sansio::jetstream::api::{ApiPrefix, DateTime};
/// use nats_sansio::kv::{BucketSubjects, Entry, Operation};
/// use nats_sansio::kv::purge::{purge_deletes, MarkerAge};
///
/// let bucket = BucketSubjects::new("b", &ApiPrefix::default()).unwrap();
/// let deleted = Entry {
///     bucket: "b".into(), key: "gone".into(), value: Default::default(), revision: 3,
///     created: DateTime::from_unix_nanos(0).unwrap(), delta: 0, operation: Operation::Delete,
/// };
/// let requests = purge_deletes(&bucket, &[deleted], 3_600_000_000_000, MarkerAge::Default).unwrap();
/// assert_eq!(serde_json::to_string(&requests[0]).unwrap(), r#"{"filter":"$KV.b.gone"}"#);
/// ```
///
/// # Errors
///
/// [`KvError::InvalidKey`] for an entry whose key cannot be a subject.
pub fn purge_deletes(
    bucket: &BucketSubjects,
    entries: &[Entry],
    now_unix_nanos: i128,
    age: MarkerAge,
) -> Result<Vec<PurgeRequest>, KvError> {
    let threshold = match age {
        MarkerAge::All => None,
        MarkerAge::Default => Some(DEFAULT_MARKER_THRESHOLD),
        MarkerAge::OlderThan(d) if d.is_zero() => Some(DEFAULT_MARKER_THRESHOLD),
        MarkerAge::OlderThan(d) => Some(d),
    };
    let limit = threshold.map(|t| now_unix_nanos.saturating_sub(t.as_nanos() as i128));
    entries
        .iter()
        .filter(|e| e.operation.is_deletion())
        .map(|e| {
            let young = limit.is_some_and(|limit| e.created.unix_nanos().is_none_or(|t| t > limit));
            Ok(PurgeRequest {
                filter: bucket.key_subject(&e.key)?,
                keep: u64::from(young),
                ..PurgeRequest::default()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jetstream::api::{ApiPrefix, DateTime};
    use crate::kv::Operation;
    use bytes::Bytes;

    const MINUTE: i128 = 60_000_000_000;
    const NOW: i128 = 1_700_000_000_000_000_000;

    fn entry(key: &str, operation: Operation, minutes_ago: i128) -> Entry {
        Entry {
            bucket: "b".into(),
            key: key.into(),
            value: Bytes::new(),
            revision: 1,
            created: DateTime::from_unix_nanos(NOW - minutes_ago * MINUTE).unwrap(),
            delta: 0,
            operation,
        }
    }

    fn bodies(entries: &[Entry], age: MarkerAge) -> Vec<(String, u64)> {
        let bucket = BucketSubjects::new("b", &ApiPrefix::default()).unwrap();
        purge_deletes(&bucket, entries, NOW, age)
            .unwrap()
            .into_iter()
            .map(|r| (r.filter, r.keep))
            .collect()
    }

    #[test]
    fn old_markers_go_young_ones_keep_themselves() {
        let entries = [
            entry("old", Operation::Delete, 45),
            entry("young", Operation::Purge, 10),
            entry("live", Operation::Put, 90),
        ];
        assert_eq!(
            bodies(&entries, MarkerAge::Default),
            [("$KV.b.old".to_owned(), 0), ("$KV.b.young".to_owned(), 1)]
        );
        assert_eq!(
            bodies(&entries, MarkerAge::OlderThan(Duration::ZERO)),
            bodies(&entries, MarkerAge::Default)
        );
        assert_eq!(
            bodies(&entries, MarkerAge::OlderThan(Duration::from_secs(5 * 60))),
            [("$KV.b.old".to_owned(), 0), ("$KV.b.young".to_owned(), 0)]
        );
        assert_eq!(
            bodies(&entries, MarkerAge::All),
            [("$KV.b.old".to_owned(), 0), ("$KV.b.young".to_owned(), 0)]
        );
    }

    #[test]
    fn a_marker_of_unknown_age_is_kept() {
        let mut unknown = entry("k", Operation::Delete, 100);
        unknown.created = DateTime::new("not a time");
        assert_eq!(
            bodies(&[unknown.clone()], MarkerAge::Default),
            [("$KV.b.k".to_owned(), 1)]
        );
        assert_eq!(
            bodies(&[unknown], MarkerAge::All),
            [("$KV.b.k".to_owned(), 0)]
        );
    }
}
