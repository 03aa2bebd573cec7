//! Entries: what one stored message of a bucket says, whether it was read with a get (Direct
//! Get or `STREAM.MSG.GET`) or delivered to a watcher; and the get request itself ([`Get`]).
//!
//! Invariant: an entry's operation is decided by its headers alone, exactly as nats.go
//! decides it (spec §4.3): `KV-Operation: DEL|PURGE`, overridden by a server marker's
//! `Nats-Marker-Reason` (`MaxAge`/`Purge` → purge, `Remove` → delete); any other value is a
//! put. A get hands out only live values: a deletion is [`KvError::KeyDeleted`], and a get
//! at a revision whose subject is not the key's is [`KvError::KeyNotFound`]. Watchers and
//! history see deletions as entries.

use bytes::Bytes;

use crate::connection::RequestError;
use crate::jetstream::ack::AckInfo;
use crate::jetstream::api::{
    parse_response, DateTime, DirectGetRequest, MsgGetRequest, MsgGetResponse, ResponseError,
};
use crate::jetstream::direct::{self, DirectGetError, DirectReply, NATS_TIME_STAMP};
use crate::jetstream::publish::NATS_MARKER_REASON;
use crate::proto::{HeaderMap, Message};

use super::names::BucketSubjects;
use super::KvError;

/// The header that marks a deletion: `DEL` or `PURGE`. Puts never carry it.
pub const KV_OPERATION: &str = "KV-Operation";
/// The `KV-Operation` of a delete.
pub const OPERATION_DELETE: &str = "DEL";
/// The `KV-Operation` of a purge.
pub const OPERATION_PURGE: &str = "PURGE";

/// What an entry did to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// A value was written.
    Put,
    /// The key was deleted; its older revisions are kept.
    Delete,
    /// The key was purged: its older revisions are gone (also a server's `MaxAge` marker).
    Purge,
}

impl Operation {
    /// The operation the headers of a stored message say (no headers: a put).
    ///
    /// ```
    /// use nats_sansio::kv::entry::Operation;
    /// use nats_sansio::proto::HeaderMap;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("Nats-Marker-Reason", "MaxAge");
    /// assert_eq!(Operation::from_headers(Some(&headers)), Operation::Purge);
    /// assert_eq!(Operation::from_headers(None), Operation::Put);
    /// ```
    pub fn from_headers(headers: Option<&HeaderMap>) -> Operation {
        let Some(headers) = headers else {
            return Operation::Put;
        };
        let marker = match headers.get(NATS_MARKER_REASON) {
            Some("MaxAge" | "Purge") => Some(Operation::Purge),
            Some("Remove") => Some(Operation::Delete),
            _ => None,
        };
        marker.unwrap_or(match headers.get(KV_OPERATION) {
            Some(OPERATION_DELETE) => Operation::Delete,
            Some(OPERATION_PURGE) => Operation::Purge,
            _ => Operation::Put,
        })
    }

    /// Whether the entry removes the key's value (delete or purge).
    pub fn is_deletion(self) -> bool {
        self != Operation::Put
    }
}

/// One revision of a key.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The value (empty for deletions, and for watchers that asked for metadata only).
    pub value: Bytes,
    /// The revision: the stream sequence of this entry.
    pub revision: u64,
    /// When it was written.
    pub created: DateTime,
    /// How many newer entries the watcher has still to deliver (0: this is the latest; a
    /// get always says 0).
    pub delta: u64,
    /// What it did to the key.
    pub operation: Operation,
}

impl Entry {
    fn new(
        bucket: &BucketSubjects,
        subject: &str,
        headers: Option<&HeaderMap>,
        value: Bytes,
        revision: u64,
        created: DateTime,
    ) -> Result<Entry, KvError> {
        let key = bucket.key_of(subject).ok_or_else(|| outside(subject))?;
        Ok(Entry {
            bucket: bucket.bucket().to_owned(),
            key: key.to_owned(),
            value,
            revision,
            created,
            delta: 0,
            operation: Operation::from_headers(headers),
        })
    }

    /// The entry a watcher's ordered consumer delivered: revision, time and delta come from
    /// the ack subject's metadata, the key from the subject.
    ///
    /// # Errors
    ///
    /// [`KvError::Malformed`] for a subject outside the bucket.
    pub fn from_delivered(
        bucket: &BucketSubjects,
        message: &Message,
        meta: &AckInfo<'_>,
    ) -> Result<Entry, KvError> {
        let created =
            DateTime::from_unix_nanos(i128::from(meta.timestamp_nanos)).unwrap_or_default();
        let mut entry = Entry::new(
            bucket,
            message.subject.as_str(),
            message.headers.as_ref(),
            message.payload.clone(),
            meta.stream_sequence,
            created,
        )?;
        entry.delta = meta.pending;
        Ok(entry)
    }

    /// The entry of a Direct Get reply that carries a message.
    ///
    /// # Errors
    ///
    /// [`KvError::Malformed`] for a subject outside the bucket.
    pub fn from_direct(
        bucket: &BucketSubjects,
        reply: &direct::DirectMessage,
    ) -> Result<Entry, KvError> {
        let headers = reply.message.headers.as_ref();
        let created = DateTime::new(headers.and_then(|h| h.get(NATS_TIME_STAMP)).unwrap_or(""));
        Entry::new(
            bucket,
            reply.subject(),
            headers,
            reply.message.payload.clone(),
            reply.sequence,
            created,
        )
    }

    /// The entry of a `STREAM.MSG.GET` reply's message.
    ///
    /// # Errors
    ///
    /// [`KvError::Malformed`] for a subject outside the bucket or a bad header block.
    pub fn from_stored(
        bucket: &BucketSubjects,
        stored: &crate::jetstream::api::StoredMessage,
    ) -> Result<Entry, KvError> {
        let headers = stored
            .headers()
            .map_err(|e| KvError::Malformed(format!("stored headers: {e}")))?;
        Entry::new(
            bucket,
            &stored.subject,
            headers.as_ref(),
            stored.payload.clone(),
            stored.seq,
            stored.time.clone(),
        )
    }
}

/// A get: the request to send and how to read its reply. Direct Get when the bucket allows
/// it (`DIRECT.GET.KV_<b>.$KV.<b>.<key>` with an empty payload for the latest, `{"seq":N}`
/// for a revision), `STREAM.MSG.GET` otherwise (`last_by_subj` or `seq`).
///
/// ```
/// use nats_sansio::jetstream::api::ApiPrefix;
/// use nats_sansio::kv::entry::Get;
/// use nats_sansio::kv::names::BucketSubjects;
///
/// let bucket = BucketSubjects::new("cfg", &ApiPrefix::default()).unwrap();
/// let get = Get::new(&bucket, "db.url", None).unwrap();
/// assert_eq!(get.subject(), "$JS.API.DIRECT.GET.KV_cfg.$KV.cfg.db.url");
/// assert!(get.payload.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Get {
    /// The request subject, then the key (`text[key_start..]`): one allocation for both,
    /// and none when the subject already ends with the key (the get of the latest).
    text: String,
    subject_len: usize,
    key_start: usize,
    /// The request body.
    pub payload: Bytes,
    revision: Option<u64>,
    direct: bool,
}

impl Get {
    /// The get of `key`'s latest entry, or of the entry at `revision`.
    ///
    /// # Errors
    ///
    /// [`KvError::InvalidKey`].
    pub fn new(bucket: &BucketSubjects, key: &str, revision: Option<u64>) -> Result<Get, KvError> {
        if bucket.direct() && revision.is_none() {
            // `<prefix>.DIRECT.GET.<stream>.$KV.<bucket>.<key>`, built in place: the stream
            // name and the key were both checked, so the subject is valid.
            let subject = bucket.direct_get_last(key)?;
            let subject_len = subject.len();
            return Ok(Get {
                key_start: subject_len - key.len(),
                subject_len,
                text: subject,
                payload: Bytes::new(),
                revision,
                direct: true,
            });
        }
        let subject = bucket.key_subject(key)?;
        let prefix = bucket.api_prefix();
        let name_error = |e| KvError::Malformed(format!("get subject: {e}"));
        let (to, body) = match (bucket.direct(), revision) {
            (true, Some(seq)) => (
                prefix.direct_get(bucket.stream()).map_err(name_error)?,
                json(&DirectGetRequest {
                    seq,
                    ..DirectGetRequest::default()
                }),
            ),
            // `(true, None)` returned above; the legacy get covers it alike.
            (_, revision) => (
                prefix.stream_msg_get(bucket.stream()).map_err(name_error)?,
                json(&match revision {
                    Some(seq) => MsgGetRequest::Sequence(seq),
                    None => MsgGetRequest::LastBySubject(subject),
                }),
            ),
        };
        let subject_len = to.len();
        Ok(Get {
            text: to + key,
            subject_len,
            key_start: subject_len,
            payload: Bytes::from(body),
            revision,
            direct: bucket.direct(),
        })
    }

    /// Where to send the request.
    pub fn subject(&self) -> &str {
        self.text.get(..self.subject_len).unwrap_or_default()
    }

    fn key(&self) -> &str {
        self.text.get(self.key_start..).unwrap_or_default()
    }

    /// The entry the reply carries, deletions included (history, the create retry).
    ///
    /// # Errors
    ///
    /// [`KvError::KeyNotFound`] when there is no such entry (or, at a revision, it is
    /// another key's); the request's or the server's error otherwise.
    pub fn entry(
        &self,
        bucket: &BucketSubjects,
        reply: Result<Message, RequestError>,
    ) -> Result<Entry, KvError> {
        let entry = match reply {
            Err(e) => return Err(KvError::Request(e)),
            Ok(message) if self.direct => match direct::classify(message) {
                DirectReply::Message(m) => Entry::from_direct(bucket, &m)?,
                other => return Err(self.direct_failure(other)),
            },
            Ok(message) => match parse_response::<MsgGetResponse>(&message.payload) {
                Ok(reply) => Entry::from_stored(bucket, &reply.message)?,
                Err(ResponseError::Api(e))
                    if e.kind() == crate::jetstream::api::ApiErrorKind::NoMessageFound =>
                {
                    return Err(self.not_found())
                }
                Err(e) => return Err(e.into()),
            },
        };
        if entry.key != self.key() || self.revision.is_some_and(|r| r != entry.revision) {
            // A revision of another key (or a stale replica's odd answer).
            return Err(self.not_found());
        }
        Ok(entry)
    }

    /// The live value the reply carries: as [`entry`](Get::entry), and a deletion is
    /// [`KvError::KeyDeleted`]. A Direct Get's value is read without building the entry,
    /// so a found value costs no allocation.
    ///
    /// # Errors
    ///
    /// As [`entry`](Get::entry), and [`KvError::KeyDeleted`].
    pub fn value(
        &self,
        bucket: &BucketSubjects,
        reply: Result<Message, RequestError>,
    ) -> Result<Bytes, KvError> {
        match reply {
            Ok(message) if self.direct => match direct::classify(message) {
                DirectReply::Message(m) => {
                    let subject = m.subject();
                    let key = bucket.key_of(subject).ok_or_else(|| outside(subject))?;
                    if key != self.key() || self.revision.is_some_and(|r| r != m.sequence) {
                        return Err(self.not_found());
                    }
                    match Operation::from_headers(m.message.headers.as_ref()) {
                        Operation::Put => Ok(m.message.payload),
                        operation => Err(KvError::KeyDeleted {
                            key: key.to_owned(),
                            revision: m.sequence,
                            operation,
                        }),
                    }
                }
                other => Err(self.direct_failure(other)),
            },
            reply => {
                let entry = self.entry(bucket, reply)?;
                if entry.operation.is_deletion() {
                    return Err(KvError::KeyDeleted {
                        key: entry.key,
                        revision: entry.revision,
                        operation: entry.operation,
                    });
                }
                Ok(entry.value)
            }
        }
    }

    fn not_found(&self) -> KvError {
        KvError::KeyNotFound {
            key: self.key().to_owned(),
        }
    }

    /// The error a Direct Get reply without a message stands for.
    fn direct_failure(&self, reply: DirectReply) -> KvError {
        match reply {
            DirectReply::Error(DirectGetError::NotFound(_)) => self.not_found(),
            DirectReply::Error(e) => KvError::DirectGet(e),
            _ => KvError::Malformed("direct get: no message".into()),
        }
    }
}

/// The error for a stored subject that is not a key of the bucket.
fn outside(subject: &str) -> KvError {
    KvError::Malformed(format!("{subject:?} is not a key of this bucket"))
}

fn json<T: serde::Serialize>(body: &T) -> Vec<u8> {
    // Plain structs of strings and numbers: serializing them cannot fail.
    serde_json::to_vec(body).unwrap_or_default()
}

#[cfg(test)]
mod tests;
