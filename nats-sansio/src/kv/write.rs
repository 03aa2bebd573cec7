//! Writes: the JetStream publish each key-value write needs (spec §4.3), and what its reply
//! means.
//!
//! Invariant: a put carries no `KV-Operation` header (only deletions do); every conditional
//! write expresses its condition as `Nats-Expected-Last-Subject-Sequence` and nothing else;
//! a TTL can only be given to the writes that accept one (create and purge), because the
//! other variants have no field for it; and an expected-sequence failure (10071 or 10164)
//! becomes [`KvError::KeyExists`] for a create and [`KvError::WrongLastRevision`] for every
//! other conditional write, never a raw API error.
//!
//! # Create
//!
//! A create is [`Write::Create`] (expects no entry on the key). If it fails, read the key's
//! latest entry ([`Get::entry`](super::Get::entry)) and ask [`Write::retry_create`]: when the
//! latest entry is a deletion it answers [`Write::Recreate`] at that revision, to be sent
//! once; otherwise the first failure stands. An expected-sequence failure of the retry is
//! also [`KvError::KeyExists`] (our choice; nats.go returns the raw error).

use std::time::Duration;

use bytes::Bytes;

use crate::jetstream::api::{ApiErrorKind, PubAck, ResponseError};
use crate::jetstream::publish::{
    ttl_header_value, PublishFailure, NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, NATS_ROLLUP, NATS_TTL,
    ROLLUP_SUBJECT,
};
use crate::machine::Publish;
use crate::proto::HeaderMap;

use super::entry::{Entry, KV_OPERATION, OPERATION_DELETE, OPERATION_PURGE};
use super::names::BucketSubjects;
use super::KvError;

/// One write of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Write {
    /// Write a value, whatever the key holds.
    Put(Bytes),
    /// Write a value only if the key has no entry; with a TTL the entry expires (the bucket
    /// must have limit markers).
    Create {
        /// The value.
        value: Bytes,
        /// How long the entry lives.
        ttl: Option<Duration>,
    },
    /// The create retry: write a value only if the key's last entry is still the deletion
    /// at `revision`.
    Recreate {
        /// The value.
        value: Bytes,
        /// The deletion's revision.
        revision: u64,
        /// How long the entry lives.
        ttl: Option<Duration>,
    },
    /// Write a value only if the key's last entry is at `revision` (compare-and-set).
    Update {
        /// The value.
        value: Bytes,
        /// The revision expected last.
        revision: u64,
    },
    /// Delete the key, keeping its history; only at `revision` if given.
    Delete {
        /// The revision expected last.
        revision: Option<u64>,
    },
    /// Purge the key: a marker that replaces its whole history; only at `revision` if
    /// given. With a TTL the marker itself expires.
    Purge {
        /// The revision expected last.
        revision: Option<u64>,
        /// How long the marker lives.
        ttl: Option<Duration>,
    },
}

impl Write {
    /// The JetStream publish that carries the write (send it as a request; its reply is a
    /// PubAck).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use nats_sansio::jetstream::api::ApiPrefix;
    /// use nats_sansio::kv::{BucketSubjects, Write};
    ///
    /// let bucket = BucketSubjects::new("cfg", &ApiPrefix::default()).unwrap();
    /// let update = Write::Update { value: Bytes::from_static(b"on"), revision: 7 };
    /// let publish = update.publish(&bucket, "feature.x").unwrap();
    /// assert_eq!(publish.subject, "$KV.cfg.feature.x");
    /// let headers = publish.headers.unwrap();
    /// assert_eq!(headers.get("Nats-Expected-Last-Subject-Sequence"), Some("7"));
    /// ```
    ///
    /// # Errors
    ///
    /// [`KvError::InvalidKey`] (reserved keys included).
    pub fn publish(&self, bucket: &BucketSubjects, key: &str) -> Result<Publish, KvError> {
        let subject = bucket.write_subject(key)?;
        let mut headers = HeaderMap::new();
        let mut expect = |revision: u64| {
            headers.insert(NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, revision.to_string());
        };
        let (payload, ttl) = match self {
            Write::Put(value) => (value.clone(), None),
            Write::Create { value, ttl } => {
                expect(0);
                (value.clone(), *ttl)
            }
            Write::Recreate {
                value,
                revision,
                ttl,
            } => {
                expect(*revision);
                (value.clone(), *ttl)
            }
            Write::Update { value, revision } => {
                expect(*revision);
                (value.clone(), None)
            }
            Write::Delete { revision } => {
                revision.map(expect);
                headers.insert(KV_OPERATION, OPERATION_DELETE);
                (Bytes::new(), None)
            }
            Write::Purge { revision, ttl } => {
                revision.map(expect);
                headers.insert(KV_OPERATION, OPERATION_PURGE);
                headers.insert(NATS_ROLLUP, ROLLUP_SUBJECT);
                (Bytes::new(), *ttl)
            }
        };
        if let Some(ttl) = ttl {
            headers.insert(NATS_TTL, ttl_header_value(ttl));
        }
        Ok(Publish {
            subject,
            reply: None,
            headers: (!headers.is_empty()).then_some(headers),
            payload,
        })
    }

    /// The revision the write expects last, if it is conditional.
    pub fn expected_revision(&self) -> Option<u64> {
        match self {
            Write::Put(_) => None,
            Write::Create { .. } => Some(0),
            Write::Recreate { revision, .. } | Write::Update { revision, .. } => Some(*revision),
            Write::Delete { revision } | Write::Purge { revision, .. } => *revision,
        }
    }

    /// What the publish's outcome (the ack, or why it failed for good) means: the new
    /// revision, or a typed error.
    ///
    /// # Errors
    ///
    /// [`KvError::KeyExists`] or [`KvError::WrongLastRevision`] for a failed condition; the
    /// API, response or request error otherwise.
    pub fn outcome(
        &self,
        key: &str,
        result: Result<PubAck, PublishFailure>,
    ) -> Result<u64, KvError> {
        let failure = match result {
            Ok(ack) => return Ok(ack.seq),
            Err(failure) => failure,
        };
        let error = match failure {
            PublishFailure::Request(e) => return Err(KvError::Request(e)),
            PublishFailure::Response(ResponseError::Api(api)) => api,
            PublishFailure::Response(other) => return Err(KvError::Response(other)),
        };
        if error.kind() != ApiErrorKind::WrongLastSequence {
            return Err(KvError::Api(error));
        }
        let key = key.to_owned();
        Err(match self {
            Write::Create { .. } | Write::Recreate { .. } => KvError::KeyExists { key },
            write => match write.expected_revision() {
                Some(expected) => KvError::WrongLastRevision { key, expected },
                None => KvError::Api(error),
            },
        })
    }

    /// After a [`Write::Create`] failed: the one retry to send when the key's latest entry
    /// (`latest`, read after the failure) is a deletion, or `None` when the first failure
    /// stands. Any other write has no retry.
    pub fn retry_create(&self, latest: &Result<Entry, KvError>) -> Option<Write> {
        let Write::Create { value, ttl } = self else {
            return None;
        };
        match latest {
            Ok(entry) if entry.operation.is_deletion() => Some(Write::Recreate {
                value: value.clone(),
                revision: entry.revision,
                ttl: *ttl,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::RequestError;
    use crate::jetstream::api::{ApiError, ApiPrefix, DateTime, ErrorCode};
    use crate::kv::Operation;

    fn bucket() -> BucketSubjects {
        BucketSubjects::new("b", &ApiPrefix::default()).unwrap()
    }

    fn value() -> Bytes {
        Bytes::from_static(b"v")
    }

    fn header_list(publish: &Publish) -> Vec<(String, String)> {
        let mut list: Vec<(String, String)> = publish
            .headers
            .iter()
            .flat_map(|h| h.iter())
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        list.sort();
        list
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = list
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        v.sort();
        v
    }

    /// A write, the headers it must carry, its payload.
    type Case = (Write, Vec<(&'static str, &'static str)>, &'static [u8]);

    #[test]
    fn each_write_sets_exactly_its_headers() {
        let b = bucket();
        let ttl = Some(Duration::from_secs(90));
        let table: Vec<Case> = vec![
            (Write::Put(value()), vec![], b"v"),
            (
                Write::Create {
                    value: value(),
                    ttl: None,
                },
                vec![("Nats-Expected-Last-Subject-Sequence", "0")],
                b"v",
            ),
            (
                Write::Create {
                    value: value(),
                    ttl,
                },
                vec![
                    ("Nats-Expected-Last-Subject-Sequence", "0"),
                    ("Nats-TTL", "90s"),
                ],
                b"v",
            ),
            (
                Write::Recreate {
                    value: value(),
                    revision: 8,
                    ttl: None,
                },
                vec![("Nats-Expected-Last-Subject-Sequence", "8")],
                b"v",
            ),
            (
                Write::Update {
                    value: value(),
                    revision: 3,
                },
                vec![("Nats-Expected-Last-Subject-Sequence", "3")],
                b"v",
            ),
            (
                Write::Delete { revision: None },
                vec![("KV-Operation", "DEL")],
                b"",
            ),
            (
                Write::Delete { revision: Some(4) },
                vec![
                    ("KV-Operation", "DEL"),
                    ("Nats-Expected-Last-Subject-Sequence", "4"),
                ],
                b"",
            ),
            (
                Write::Purge {
                    revision: None,
                    ttl: None,
                },
                vec![("KV-Operation", "PURGE"), ("Nats-Rollup", "sub")],
                b"",
            ),
            (
                Write::Purge {
                    revision: Some(2),
                    ttl: Some(Duration::from_millis(1500)),
                },
                vec![
                    ("KV-Operation", "PURGE"),
                    ("Nats-Expected-Last-Subject-Sequence", "2"),
                    ("Nats-Rollup", "sub"),
                    ("Nats-TTL", "1500ms"),
                ],
                b"",
            ),
        ];
        for (write, want, payload) in table {
            let publish = write.publish(&b, "k").unwrap();
            assert_eq!(publish.subject, "$KV.b.k");
            assert_eq!(header_list(&publish), pairs(&want), "{write:?}");
            assert_eq!(&publish.payload[..], payload, "{write:?}");
            if want.is_empty() {
                assert!(
                    publish.headers.is_none(),
                    "a put has no header block at all"
                );
            }
        }
    }

    #[test]
    fn writes_refuse_invalid_and_reserved_keys() {
        let b = bucket();
        assert!(Write::Put(value()).publish(&b, "_kv.x").is_err());
        assert!(Write::Delete { revision: None }.publish(&b, "a.*").is_err());
        assert!(Write::Put(value()).publish(&b, "").is_err());
    }

    fn cas_failure(code: ErrorCode) -> Result<PubAck, PublishFailure> {
        Err(PublishFailure::Response(ResponseError::Api(ApiError {
            code: 400,
            err_code: code,
            description: "wrong last sequence: 5".into(),
        })))
    }

    #[test]
    fn expected_sequence_failures_become_typed_errors() {
        for code in [
            ErrorCode::WRONG_LAST_SEQUENCE,
            ErrorCode::WRONG_LAST_SEQUENCE_CONCURRENT,
        ] {
            let create = Write::Create {
                value: value(),
                ttl: None,
            };
            assert_eq!(
                create.outcome("k", cas_failure(code)),
                Err(KvError::KeyExists { key: "k".into() })
            );
            let recreate = Write::Recreate {
                value: value(),
                revision: 4,
                ttl: None,
            };
            assert_eq!(
                recreate.outcome("k", cas_failure(code)),
                Err(KvError::KeyExists { key: "k".into() })
            );
            let update = Write::Update {
                value: value(),
                revision: 4,
            };
            assert_eq!(
                update.outcome("k", cas_failure(code)),
                Err(KvError::WrongLastRevision {
                    key: "k".into(),
                    expected: 4
                })
            );
            let delete = Write::Delete { revision: Some(6) };
            assert_eq!(
                delete.outcome("k", cas_failure(code)),
                Err(KvError::WrongLastRevision {
                    key: "k".into(),
                    expected: 6
                })
            );
            let purge = Write::Purge {
                revision: Some(2),
                ttl: None,
            };
            assert!(matches!(
                purge.outcome("k", cas_failure(code)),
                Err(KvError::WrongLastRevision { expected: 2, .. })
            ));
        }
    }

    #[test]
    fn other_outcomes_pass_through() {
        let put = Write::Put(value());
        let ack = PubAck {
            stream: "KV_b".into(),
            seq: 11,
            ..PubAck::default()
        };
        assert_eq!(put.outcome("k", Ok(ack)), Ok(11));
        assert!(matches!(
            put.outcome("k", cas_failure(ErrorCode::MESSAGE_TTL_DISABLED)),
            Err(KvError::Api(e)) if e.err_code == ErrorCode::MESSAGE_TTL_DISABLED
        ));
        assert_eq!(
            put.outcome(
                "k",
                Err(PublishFailure::Request(RequestError::NoResponders))
            ),
            Err(KvError::Request(RequestError::NoResponders))
        );
    }

    fn entry(operation: Operation, revision: u64) -> Entry {
        Entry {
            bucket: "b".into(),
            key: "k".into(),
            value: Bytes::new(),
            revision,
            created: DateTime::default(),
            delta: 0,
            operation,
        }
    }

    #[test]
    fn create_retries_once_over_a_deletion() {
        let ttl = Some(Duration::from_secs(5));
        let create = Write::Create {
            value: value(),
            ttl,
        };
        for operation in [Operation::Delete, Operation::Purge] {
            assert_eq!(
                create.retry_create(&Ok(entry(operation, 9))),
                Some(Write::Recreate {
                    value: value(),
                    revision: 9,
                    ttl
                })
            );
        }
        assert_eq!(create.retry_create(&Ok(entry(Operation::Put, 9))), None);
        assert_eq!(
            create.retry_create(&Err(KvError::KeyNotFound { key: "k".into() })),
            None
        );
        let recreate = create
            .retry_create(&Ok(entry(Operation::Delete, 9)))
            .unwrap();
        assert_eq!(
            recreate.retry_create(&Ok(entry(Operation::Delete, 10))),
            None
        );
        assert_eq!(
            Write::Put(value()).retry_create(&Ok(entry(Operation::Delete, 1))),
            None
        );
    }
}
