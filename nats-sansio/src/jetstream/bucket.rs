//! What the key-value store and the object store share about their buckets: a bucket is a
//! stream named `<prefix><bucket>` (`KV_`, `OBJ_`), its name is an ADR-6 restricted term,
//! the server adds `_nats.*` keys to its metadata, and listing buckets is listing the
//! streams that store the store's subjects and carry its prefix.
//!
//! Invariant: a bucket name accepted here is non-empty, only `A-Z a-z 0-9 _ -`, and short
//! enough that `<prefix><bucket>` is a valid stream name; a listing hands out only names
//! taken from streams that carry the prefix, with the prefix stripped, never an empty one.

use std::collections::BTreeMap;

use super::api::{validate_name, NameKind, StreamNamesRequest, StreamNamesResponse};

/// Metadata keys with this prefix are the server's (`_nats.ver`, `_nats.level`, ...).
pub const SERVER_METADATA_PREFIX: &str = "_nats.";

/// Why a bucket name is refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BucketNameError {
    /// The name is empty.
    #[error("it is empty")]
    Empty,
    /// A character outside `A-Z a-z 0-9 _ -`.
    #[error("it contains {0:?}; only letters, digits, '_' and '-' are allowed")]
    InvalidChar(char),
    /// Its stream name (`KV_<bucket>`, `OBJ_<bucket>`) would be longer than the server allows.
    #[error("it is {0} bytes long; the bucket's stream name must fit in 255 bytes")]
    TooLong(usize),
}

/// Checks a bucket name whose stream is `<stream_prefix><bucket>`: `^[a-zA-Z0-9_-]+$`, and
/// short enough for that stream name.
///
/// ```
/// use nats_sansio::jetstream::bucket::{check_bucket_name, BucketNameError};
///
/// assert!(check_bucket_name("photos-2024_eu", "OBJ_").is_ok());
/// assert_eq!(check_bucket_name("a.b", "OBJ_"), Err(BucketNameError::InvalidChar('.')));
/// ```
///
/// # Errors
///
/// The [`BucketNameError`] saying what is wrong.
pub fn check_bucket_name(bucket: &str, stream_prefix: &str) -> Result<(), BucketNameError> {
    if bucket.is_empty() {
        return Err(BucketNameError::Empty);
    }
    if let Some(ch) = bucket
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(BucketNameError::InvalidChar(ch));
    }
    let stream = format!("{stream_prefix}{bucket}");
    validate_name(NameKind::Stream, &stream).map_err(|_| BucketNameError::TooLong(bucket.len()))
}

/// The bucket a stream name stands for, if it is `<stream_prefix><bucket>`.
pub fn bucket_of_stream<'a>(stream: &'a str, stream_prefix: &str) -> Option<&'a str> {
    stream.strip_prefix(stream_prefix).filter(|b| !b.is_empty())
}

/// Metadata without the server's own `_nats.*` keys.
pub fn user_metadata(metadata: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    metadata
        .iter()
        .filter(|(k, _)| !k.starts_with(SERVER_METADATA_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The `STREAM.NAMES` (or `STREAM.LIST`) request body for one page of the streams storing
/// `subject_filter` (`$KV.*.>`, `$O.*.C.>`).
pub fn list_request(subject_filter: &str, offset: usize) -> StreamNamesRequest {
    StreamNamesRequest {
        offset,
        subject: subject_filter.to_owned(),
    }
}

/// The bucket names on one `STREAM.NAMES` page: the streams named `<stream_prefix><bucket>`,
/// prefix stripped.
pub fn bucket_names<'a>(
    page: &'a StreamNamesResponse,
    stream_prefix: &'a str,
) -> impl Iterator<Item = &'a str> {
    page.streams
        .iter()
        .filter_map(move |s| bucket_of_stream(s, stream_prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_listing() {
        assert_eq!(check_bucket_name("", "OBJ_"), Err(BucketNameError::Empty));
        assert_eq!(
            check_bucket_name(&"x".repeat(252), "OBJ_"),
            Err(BucketNameError::TooLong(252))
        );
        assert!(check_bucket_name(&"x".repeat(251), "OBJ_").is_ok());
        assert_eq!(bucket_of_stream("OBJ_a", "OBJ_"), Some("a"));
        assert_eq!(bucket_of_stream("OBJ_", "OBJ_"), None);
        assert_eq!(bucket_of_stream("KV_a", "OBJ_"), None);
        let page = StreamNamesResponse {
            streams: vec!["OBJ_a".into(), "KV_b".into(), "OBJ_".into(), "OBJ_c".into()],
            ..StreamNamesResponse::default()
        };
        assert_eq!(bucket_names(&page, "OBJ_").collect::<Vec<_>>(), ["a", "c"]);
        let metadata = BTreeMap::from([
            ("_nats.ver".to_owned(), "2.11".to_owned()),
            ("owner".to_owned(), "me".to_owned()),
        ]);
        assert_eq!(user_metadata(&metadata).len(), 1);
    }
}
