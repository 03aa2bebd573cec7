//! Bucket names, object names and every subject a bucket handle uses (spec §5.1):
//! stream `OBJ_<bucket>`, chunks on `$O.<bucket>.C.<nuid>`, metadata on
//! `$O.<bucket>.M.<base64url(name)>`, and the lookup of an object's metadata.
//!
//! Invariant: a subject built here splices in only a validated bucket name, a NUID that is a
//! single subject token, or an object name encoded with padded URL-safe base64 (whose
//! alphabet has no `.`, `*`, `>` or space), so an object name can never add a token or a
//! wildcard to a subject; an empty object name is refused with
//! [`ObjectStoreError::NameRequired`]. Object-store publishes go to these bare subjects, never
//! through the JetStream API prefix (nats.go does the same, spec §5.1); only API requests
//! use the prefix.

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use bytes::Bytes;

use crate::connection::RequestError;
use crate::jetstream::api::{
    parse_response, ApiErrorKind, ApiPrefix, DateTime, MsgGetRequest, MsgGetResponse, PurgeRequest,
    ResponseError, StreamConfig,
};
use crate::jetstream::bucket::{bucket_of_stream, check_bucket_name};
use crate::jetstream::direct::{self, DirectGetError, DirectReply, NATS_TIME_STAMP};
use crate::proto::Message;

use super::info::ObjectInfo;
use super::ObjectStoreError;

/// The prefix of a bucket's stream name.
pub const STREAM_PREFIX: &str = "OBJ_";
/// The first token of every object-store subject.
pub const SUBJECT_PREFIX: &str = "$O";

/// Checks a bucket name: `^[a-zA-Z0-9_-]+$`, and short enough for `OBJ_<bucket>`.
///
/// # Errors
///
/// [`ObjectStoreError::InvalidBucket`] saying what is wrong.
pub fn validate_bucket(bucket: &str) -> Result<(), ObjectStoreError> {
    check_bucket_name(bucket, STREAM_PREFIX).map_err(|reason| ObjectStoreError::InvalidBucket {
        bucket: bucket.to_owned(),
        reason,
    })
}

/// The stream of a bucket: `OBJ_<bucket>`.
pub fn stream_name(bucket: &str) -> String {
    format!("{STREAM_PREFIX}{bucket}")
}

/// Checks a NUID given to a put or a link: one subject token of `A-Z a-z 0-9 _ -`.
///
/// # Errors
///
/// [`ObjectStoreError::InvalidNuid`].
pub fn validate_nuid(nuid: &str) -> Result<(), ObjectStoreError> {
    let ok = !nuid.is_empty()
        && nuid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ObjectStoreError::InvalidNuid(nuid.to_owned()))
    }
}

/// An object name as its meta subject's last token: URL-safe base64 **with** `=` padding of
/// its UTF-8 bytes (Go's `base64.URLEncoding`).
///
/// ```
/// use nats_sansio::object_store::names::encode_name;
///
/// assert_eq!(encode_name("a.txt").unwrap(), "YS50eHQ=");
/// assert_eq!(encode_name("?>").unwrap(), "Pz4=");
/// assert!(encode_name("").is_err());
/// ```
///
/// # Errors
///
/// [`ObjectStoreError::NameRequired`] for an empty name.
pub fn encode_name(name: &str) -> Result<String, ObjectStoreError> {
    if name.is_empty() {
        return Err(ObjectStoreError::NameRequired);
    }
    Ok(URL_SAFE.encode(name.as_bytes()))
}

/// The object name a meta subject's last token encodes, if it is valid base64 of UTF-8.
pub fn decode_name(token: &str) -> Option<String> {
    let bytes = URL_SAFE.decode(token).ok()?;
    String::from_utf8(bytes).ok().filter(|n| !n.is_empty())
}

/// The subjects of one bucket handle, built once from the bucket name and the API prefix
/// (and, with [`from_stream`](BucketSubjects::from_stream), the stream's configuration).
///
/// ```
/// use nats_sansio::jetstream::api::ApiPrefix;
/// use nats_sansio::object_store::BucketSubjects;
///
/// let b = BucketSubjects::new("files", &ApiPrefix::domain("hub").unwrap()).unwrap();
/// assert_eq!(b.stream(), "OBJ_files");
/// assert_eq!(b.chunk_subject("N1"), "$O.files.C.N1");
/// assert_eq!(b.meta_subject("a.txt").unwrap(), "$O.files.M.YS50eHQ=");
/// assert_eq!(b.all_meta(), "$O.files.M.>");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketSubjects {
    bucket: String,
    stream: String,
    prefix: ApiPrefix,
    direct: bool,
}

impl BucketSubjects {
    /// A bucket with Direct Get on (as every object store bucket is created), before or
    /// without its stream info.
    ///
    /// # Errors
    ///
    /// [`ObjectStoreError::InvalidBucket`].
    pub fn new(bucket: &str, prefix: &ApiPrefix) -> Result<BucketSubjects, ObjectStoreError> {
        validate_bucket(bucket)?;
        Ok(BucketSubjects {
            bucket: bucket.to_owned(),
            stream: stream_name(bucket),
            prefix: prefix.clone(),
            direct: true,
        })
    }

    /// The handle of the bucket whose stream has `config` (what `STREAM.INFO` or a create
    /// returned): the bind check, and Direct Get as the stream allows it.
    ///
    /// # Errors
    ///
    /// [`ObjectStoreError::BadBucket`] for a stream that is not a bucket's (no `OBJ_` name);
    /// [`ObjectStoreError::InvalidBucket`].
    pub fn from_stream(
        prefix: &ApiPrefix,
        config: &StreamConfig,
    ) -> Result<BucketSubjects, ObjectStoreError> {
        let bucket = bucket_of_stream(&config.name, STREAM_PREFIX).ok_or_else(|| {
            ObjectStoreError::BadBucket {
                stream: config.name.clone(),
                reason: "no OBJ_ prefix",
            }
        })?;
        let mut subjects = BucketSubjects::new(bucket, prefix)?;
        subjects.direct = config.allow_direct;
        Ok(subjects)
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The bucket's stream, `OBJ_<bucket>`.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The JetStream API prefix.
    pub fn api_prefix(&self) -> &ApiPrefix {
        &self.prefix
    }

    /// The same handle with metadata lookups by Direct Get (`true`) or by the stream leader
    /// (`STREAM.MSG.GET`, for a bucket whose stream config is not known).
    pub fn with_direct(mut self, direct: bool) -> BucketSubjects {
        self.direct = direct;
        self
    }

    /// Whether metadata lookups use Direct Get (the stream's `allow_direct`).
    pub fn direct(&self) -> bool {
        self.direct
    }

    /// Where the chunks of the put with this NUID go: `$O.<bucket>.C.<nuid>` (the NUID is
    /// checked where it enters, [`validate_nuid`]).
    pub fn chunk_subject(&self, nuid: &str) -> String {
        format!("{SUBJECT_PREFIX}.{}.C.{nuid}", self.bucket)
    }

    /// Where the metadata of `name` goes: `$O.<bucket>.M.<base64url(name)>`.
    ///
    /// # Errors
    ///
    /// [`ObjectStoreError::NameRequired`] for an empty name.
    pub fn meta_subject(&self, name: &str) -> Result<String, ObjectStoreError> {
        Ok(format!(
            "{SUBJECT_PREFIX}.{}.M.{}",
            self.bucket,
            encode_name(name)?
        ))
    }

    /// Every chunk subject: `$O.<bucket>.C.>`.
    pub fn all_chunks(&self) -> String {
        format!("{SUBJECT_PREFIX}.{}.C.>", self.bucket)
    }

    /// Every meta subject: `$O.<bucket>.M.>`.
    pub fn all_meta(&self) -> String {
        format!("{SUBJECT_PREFIX}.{}.M.>", self.bucket)
    }

    /// The object name a meta subject of this bucket stands for.
    pub fn name_of(&self, subject: &str) -> Option<String> {
        let prefix = format!("{SUBJECT_PREFIX}.{}.M.", self.bucket);
        decode_name(subject.strip_prefix(&prefix)?)
    }

    /// The `STREAM.PURGE` request that removes every message on `subject` (a chunk subject,
    /// or an old meta subject after a rename): its API subject and body.
    ///
    /// # Errors
    ///
    /// [`ObjectStoreError::Malformed`] if the stream name cannot be an API token.
    pub fn purge(&self, subject: &str) -> Result<(String, Bytes), ObjectStoreError> {
        let to = self
            .prefix
            .stream_purge(&self.stream)
            .map_err(|e| ObjectStoreError::Malformed(format!("purge subject: {e}")))?;
        let body = PurgeRequest {
            filter: subject.to_owned(),
            ..PurgeRequest::default()
        };
        Ok((to, json(&body)))
    }
}

/// The lookup of an object's metadata: the last message on its meta subject, by Direct Get
/// (`DIRECT.GET.OBJ_<b>.$O.<b>.M.<enc>`, empty payload) when the bucket allows it, by
/// `STREAM.MSG.GET` (`last_by_subj`, answered by the stream leader) otherwise.
///
/// ```
/// use nats_sansio::jetstream::api::ApiPrefix;
/// use nats_sansio::object_store::{BucketSubjects, InfoGet};
///
/// let bucket = BucketSubjects::new("files", &ApiPrefix::default()).unwrap();
/// let get = InfoGet::new(&bucket, "a.txt").unwrap();
/// assert_eq!(get.subject, "$JS.API.DIRECT.GET.OBJ_files.$O.files.M.YS50eHQ=");
/// assert!(get.payload.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoGet {
    /// Where to send the request.
    pub subject: String,
    /// The request body.
    pub payload: Bytes,
    bucket: String,
    name: String,
    direct: bool,
}

impl InfoGet {
    /// The lookup of `name` in `bucket`.
    ///
    /// # Errors
    ///
    /// [`ObjectStoreError::NameRequired`].
    pub fn new(bucket: &BucketSubjects, name: &str) -> Result<InfoGet, ObjectStoreError> {
        let meta = bucket.meta_subject(name)?;
        let prefix = bucket.api_prefix();
        let name_error = |e| ObjectStoreError::Malformed(format!("lookup subject: {e}"));
        let (subject, payload) = if bucket.direct() {
            let to = prefix
                .direct_get_last_for(bucket.stream(), &meta)
                .map_err(name_error)?;
            (to, Bytes::new())
        } else {
            let to = prefix.stream_msg_get(bucket.stream()).map_err(name_error)?;
            (to, json(&MsgGetRequest::LastBySubject(meta)))
        };
        Ok(InfoGet {
            subject,
            payload,
            bucket: bucket.bucket().to_owned(),
            name: name.to_owned(),
            direct: bucket.direct(),
        })
    }

    /// The object named, as the reply describes it (deleted objects included, with
    /// `deleted` set); its `mtime` is the meta message's time.
    ///
    /// # Errors
    ///
    /// [`ObjectStoreError::ObjectNotFound`] when no metadata is stored;
    /// [`ObjectStoreError::BucketNotFound`], [`ObjectStoreError::BadMeta`], or the request's
    /// or server's error otherwise.
    pub fn info(
        &self,
        reply: Result<Message, RequestError>,
    ) -> Result<ObjectInfo, ObjectStoreError> {
        let not_found = || ObjectStoreError::ObjectNotFound {
            bucket: self.bucket.clone(),
            name: self.name.clone(),
        };
        let message = reply?;
        let (payload, time) = if self.direct {
            match direct::classify(message) {
                DirectReply::Message(m) => {
                    let headers = m.message.headers.as_ref();
                    let time = headers.and_then(|h| h.get(NATS_TIME_STAMP)).unwrap_or("");
                    (m.message.payload.clone(), DateTime::new(time))
                }
                DirectReply::Error(DirectGetError::NotFound(_)) => return Err(not_found()),
                DirectReply::Error(e) => return Err(ObjectStoreError::DirectGet(e)),
                _ => return Err(ObjectStoreError::Malformed("direct get: no message".into())),
            }
        } else {
            match parse_response::<MsgGetResponse>(&message.payload) {
                Ok(reply) => (reply.message.payload, reply.message.time),
                Err(ResponseError::Api(e)) if e.kind() == ApiErrorKind::NoMessageFound => {
                    return Err(not_found())
                }
                Err(e) => return Err(ObjectStoreError::from_response(&self.bucket, e)),
            }
        };
        let mut info = ObjectInfo::from_json(&payload)?;
        info.mtime = time;
        Ok(info)
    }

    /// As [`info`](Self::info), and a deleted object is [`ObjectStoreError::ObjectNotFound`].
    ///
    /// # Errors
    ///
    /// As [`info`](Self::info).
    pub fn live_info(
        &self,
        reply: Result<Message, RequestError>,
    ) -> Result<ObjectInfo, ObjectStoreError> {
        let info = self.info(reply)?;
        if info.deleted {
            return Err(ObjectStoreError::ObjectNotFound {
                bucket: self.bucket.clone(),
                name: self.name.clone(),
            });
        }
        Ok(info)
    }

    /// As [`info`](Self::info), where a missing object is `None` rather than an error (a put
    /// or a link checking what the name holds now).
    ///
    /// # Errors
    ///
    /// As [`info`](Self::info), not-found excepted.
    pub fn existing(
        &self,
        reply: Result<Message, RequestError>,
    ) -> Result<Option<ObjectInfo>, ObjectStoreError> {
        match self.info(reply) {
            Ok(info) => Ok(Some(info)),
            Err(ObjectStoreError::ObjectNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

pub(super) fn json<T: serde::Serialize>(body: &T) -> Bytes {
    // Plain structs of strings and numbers: serializing them cannot fail.
    Bytes::from(serde_json::to_vec(body).unwrap_or_default())
}

#[cfg(test)]
mod tests;
