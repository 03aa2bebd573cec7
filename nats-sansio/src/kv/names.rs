//! Bucket names, keys and watch filters (spec §4.1), and every subject a bucket handle
//! uses ([`BucketSubjects`]).
//!
//! Invariant: a subject built here splices in only a bucket name, key or filter that passed
//! its validation, so a key can never add a token the bucket does not own, and a key
//! wildcard is only ever a whole token. Reads and watches use the stored subjects
//! (`$KV.<bucket>.`, or the origin's on a mirror); writes add the API prefix when one is
//! set (ADR-19) or the mirror's external API, and nothing else ever assembles a KV subject.

use crate::jetstream::api::{ApiPrefix, StreamConfig, DEFAULT_API_PREFIX};
use crate::jetstream::bucket::check_bucket_name;

use super::KvError;

/// The prefix of a bucket's stream name.
pub const STREAM_PREFIX: &str = "KV_";
/// The first token of every key subject.
pub const SUBJECT_PREFIX: &str = "$KV";
/// Keys starting with this are reserved for the client's own use; writes refuse them.
pub const RESERVED_KEY_PREFIX: &str = "_kv";

pub use crate::jetstream::bucket::BucketNameError;

/// Why a key or a watch filter is refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is empty (watch everything with the filter `>`).
    #[error("it is empty")]
    Empty,
    /// A character outside `A-Z a-z 0-9 - / _ = .` (and `*`, `>` in filters).
    #[error("it contains {0:?}; only letters, digits and '-', '/', '_', '=', '.' are allowed")]
    InvalidChar(char),
    /// It starts or ends with `.`, or has `..`.
    #[error("it has an empty token (a leading or trailing '.', or '..')")]
    EmptyToken,
    /// `*` or `>` in a key, or in a filter `*` inside a token or `>` not the whole last token.
    #[error("wildcards are whole tokens, '*' anywhere and '>' last, and only in filters")]
    Wildcard,
    /// It starts with `_kv`, which is reserved.
    #[error("keys starting with '_kv' are reserved")]
    Reserved,
}

/// Checks a bucket name: `^[a-zA-Z0-9_-]+$`, and short enough for its stream name.
///
/// # Errors
///
/// [`KvError::InvalidBucket`] saying what is wrong.
///
/// ```
/// use nats_sansio::kv::names::validate_bucket;
///
/// assert!(validate_bucket("profiles-2024_eu").is_ok());
/// assert!(validate_bucket("a.b").is_err());
/// ```
pub fn validate_bucket(bucket: &str) -> Result<(), KvError> {
    check_bucket_name(bucket, STREAM_PREFIX).map_err(|reason| KvError::InvalidBucket {
        bucket: bucket.to_owned(),
        reason,
    })
}

/// The stream of a bucket: `KV_<bucket>`.
pub fn stream_name(bucket: &str) -> String {
    format!("{STREAM_PREFIX}{bucket}")
}

/// The bucket of a stream name, if it is a bucket's stream (`KV_<bucket>`).
pub fn bucket_of_stream(stream: &str) -> Option<&str> {
    crate::jetstream::bucket::bucket_of_stream(stream, STREAM_PREFIX)
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-/_=.".contains(c)
}

/// Checks a key or (with `filter`) a watch filter, token by token.
fn check(text: &str, filter: bool) -> Result<(), KeyError> {
    if text.is_empty() {
        return Err(KeyError::Empty);
    }
    let mut tokens = text.split('.').peekable();
    while let Some(token) = tokens.next() {
        if token.is_empty() {
            return Err(KeyError::EmptyToken);
        }
        let last = tokens.peek().is_none();
        match token {
            "*" if filter => continue,
            ">" if filter && last => continue,
            _ => {}
        }
        if let Some(ch) = token.chars().find(|c| !is_key_char(*c)) {
            return Err(if ch == '*' || ch == '>' {
                KeyError::Wildcard
            } else {
                KeyError::InvalidChar(ch)
            });
        }
    }
    Ok(())
}

/// Checks a key to read (get, history, a watch of one key): `^[-/_=.a-zA-Z0-9]+$`, no
/// empty token, no wildcard.
///
/// # Errors
///
/// [`KvError::InvalidKey`] saying what is wrong.
pub fn validate_key(key: &str) -> Result<(), KvError> {
    check(key, false).map_err(|reason| KvError::InvalidKey {
        key: key.to_owned(),
        reason,
    })
}

/// Checks a key to write: as [`validate_key`], and not starting with `_kv` (reserved).
///
/// # Errors
///
/// [`KvError::InvalidKey`] saying what is wrong.
///
/// ```
/// use nats_sansio::kv::names::validate_write_key;
///
/// assert!(validate_write_key("user/42.name").is_ok());
/// assert!(validate_write_key("_kv.internal").is_err());
/// assert!(validate_write_key("a..b").is_err());
/// ```
pub fn validate_write_key(key: &str) -> Result<(), KvError> {
    validate_key(key)?;
    if key.starts_with(RESERVED_KEY_PREFIX) {
        return Err(KvError::InvalidKey {
            key: key.to_owned(),
            reason: KeyError::Reserved,
        });
    }
    Ok(())
}

/// Checks a watch or list filter: a key whose tokens may also be `*`, and whose last token
/// may be `>` (`>` alone watches the whole bucket).
///
/// # Errors
///
/// [`KvError::InvalidFilter`] saying what is wrong.
///
/// ```
/// use nats_sansio::kv::names::validate_filter;
///
/// assert!(validate_filter("users.*.name").is_ok());
/// assert!(validate_filter("users.>").is_ok());
/// assert!(validate_filter("users.a*").is_err());
/// assert!(validate_filter(">.name").is_err());
/// ```
pub fn validate_filter(filter: &str) -> Result<(), KvError> {
    check(filter, true).map_err(|reason| KvError::InvalidFilter {
        filter: filter.to_owned(),
        reason,
    })
}

/// The subjects of one bucket handle, built once from the bucket name, the API prefix and
/// the bucket stream's configuration.
///
/// On a mirror bucket (ADR-57) reads and watches use the origin's subjects
/// (`$KV.<origin>.`), which the mirror stores unchanged, and writes go to the origin, through
/// the mirror's external API prefix when it has one.
///
/// ```
/// use nats_sansio::jetstream::api::ApiPrefix;
/// use nats_sansio::kv::names::BucketSubjects;
///
/// let b = BucketSubjects::new("config", &ApiPrefix::domain("hub").unwrap()).unwrap();
/// assert_eq!(b.stream(), "KV_config");
/// assert_eq!(b.key_subject("db.url").unwrap(), "$KV.config.db.url");
/// assert_eq!(b.write_subject("db.url").unwrap(), "$JS.hub.API.$KV.config.db.url");
/// assert_eq!(b.key_of("$KV.config.db.url"), Some("db.url"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketSubjects {
    bucket: String,
    stream: String,
    prefix: ApiPrefix,
    /// `$KV.<bucket>.` (the origin's on a mirror).
    read: String,
    /// What a key is appended to for writes.
    write: String,
    direct: bool,
}

impl BucketSubjects {
    /// A plain bucket (not a mirror) with Direct Get on, before or without its stream info.
    ///
    /// # Errors
    ///
    /// [`KvError::InvalidBucket`].
    pub fn new(bucket: &str, prefix: &ApiPrefix) -> Result<BucketSubjects, KvError> {
        validate_bucket(bucket)?;
        let read = format!("{SUBJECT_PREFIX}.{bucket}.");
        Ok(BucketSubjects {
            bucket: bucket.to_owned(),
            stream: stream_name(bucket),
            write: write_prefix(prefix, &read),
            read,
            prefix: prefix.clone(),
            direct: true,
        })
    }

    /// The handle for the bucket whose stream has `config` (what `STREAM.INFO` or a create
    /// returned): the bind check, Direct Get as the stream allows it, and the mirror
    /// translation.
    ///
    /// # Errors
    ///
    /// [`KvError::BadBucket`] if the stream is not a bucket's (`KV_` name, at least one
    /// message kept per key); [`KvError::InvalidBucket`] for a mirror origin that is not a
    /// valid bucket name.
    pub fn from_stream(
        prefix: &ApiPrefix,
        config: &StreamConfig,
    ) -> Result<BucketSubjects, KvError> {
        let bad = |reason| KvError::BadBucket {
            stream: config.name.clone(),
            reason,
        };
        let bucket = bucket_of_stream(&config.name).ok_or_else(|| bad("no KV_ prefix"))?;
        if config.max_msgs_per_subject < 1 {
            return Err(bad("it keeps no history (max_msgs_per_subject < 1)"));
        }
        let mut subjects = BucketSubjects::new(bucket, prefix)?;
        subjects.direct = config.allow_direct;
        if let Some(mirror) = &config.mirror {
            let origin = mirror
                .name
                .strip_prefix(STREAM_PREFIX)
                .unwrap_or(&mirror.name);
            validate_bucket(origin)?;
            subjects.read = format!("{SUBJECT_PREFIX}.{origin}.");
            subjects.write = match mirror.external.as_ref().filter(|e| !e.api.is_empty()) {
                Some(external) => {
                    let api = external.api.strip_suffix('.').unwrap_or(&external.api);
                    format!("{api}.{}", subjects.read)
                }
                None => subjects.read.clone(),
            };
        }
        Ok(subjects)
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The bucket's stream, `KV_<bucket>`.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The JetStream API prefix.
    pub fn api_prefix(&self) -> &ApiPrefix {
        &self.prefix
    }

    /// Whether reads use Direct Get (the stream's `allow_direct`).
    pub fn direct(&self) -> bool {
        self.direct
    }

    /// The stored subject of `key`: `$KV.<bucket>.<key>`.
    ///
    /// # Errors
    ///
    /// [`KvError::InvalidKey`].
    pub fn key_subject(&self, key: &str) -> Result<String, KvError> {
        validate_key(key)?;
        Ok(format!("{}{key}", self.read))
    }

    /// The Direct Get of `key`'s latest entry, `<api prefix>.DIRECT.GET.<stream>.<key
    /// subject>`, written in one allocation.
    ///
    /// # Errors
    ///
    /// [`KvError::InvalidKey`].
    pub fn direct_get_last(&self, key: &str) -> Result<String, KvError> {
        validate_key(key)?;
        let prefix = self.prefix.as_str();
        let parts = [prefix, ".DIRECT.GET.", &self.stream, ".", &self.read, key];
        let mut subject = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        for part in parts {
            subject.push_str(part);
        }
        Ok(subject)
    }

    /// Where a write of `key` is published: the stored subject, after the API prefix when
    /// one is set (`<prefix>.$KV.<bucket>.<key>`), or the mirror origin's.
    ///
    /// # Errors
    ///
    /// [`KvError::InvalidKey`], also for reserved keys.
    pub fn write_subject(&self, key: &str) -> Result<String, KvError> {
        validate_write_key(key)?;
        Ok(format!("{}{key}", self.write))
    }

    /// The consumer filter of a watch or list filter: `$KV.<bucket>.<filter>`.
    ///
    /// # Errors
    ///
    /// [`KvError::InvalidFilter`].
    pub fn filter_subject(&self, filter: &str) -> Result<String, KvError> {
        validate_filter(filter)?;
        Ok(format!("{}{filter}", self.read))
    }

    /// Every key: `$KV.<bucket>.>`.
    pub fn all_keys(&self) -> String {
        format!("{}>", self.read)
    }

    /// The key a stored subject names, if it is one of this bucket's.
    pub fn key_of<'a>(&self, subject: &'a str) -> Option<&'a str> {
        subject.strip_prefix(&self.read).filter(|k| !k.is_empty())
    }
}

/// Writes go through a non-default API prefix (ADR-19): `<prefix>.$KV.<bucket>.`.
fn write_prefix(prefix: &ApiPrefix, read: &str) -> String {
    if prefix.as_str() == DEFAULT_API_PREFIX {
        read.to_owned()
    } else {
        format!("{}.{read}", prefix.as_str())
    }
}

#[cfg(test)]
mod tests;
