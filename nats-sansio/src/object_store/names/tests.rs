use super::*;
use crate::jetstream::bucket::BucketNameError;
use crate::proto::{HeaderMap, StatusCode, Subject};
use serde_json::json;

fn bucket() -> BucketSubjects {
    BucketSubjects::new("files", &ApiPrefix::default()).unwrap()
}

fn reply(headers: Option<HeaderMap>, payload: &[u8]) -> Result<Message, RequestError> {
    Ok(Message {
        subject: Subject::new("_INBOX.r").unwrap(),
        reply: None,
        length: payload.len(),
        headers,
        payload: Bytes::copy_from_slice(payload),
    })
}

#[test]
fn subjects_of_a_bucket() {
    let b = bucket();
    assert_eq!(b.stream(), "OBJ_files");
    assert_eq!(b.chunk_subject("abc"), "$O.files.C.abc");
    assert_eq!(b.all_chunks(), "$O.files.C.>");
    // Names with dots, wildcards, spaces and non-ASCII become one token.
    for name in ["a.b.c", "*", ">", "a b", "dir/file.txt", "héllo", "a=b"] {
        let subject = b.meta_subject(name).unwrap();
        let token = subject.strip_prefix("$O.files.M.").unwrap();
        assert!(
            !token.contains(['.', '*', '>', ' ']),
            "{name:?} → {subject}"
        );
        assert_eq!(b.name_of(&subject).as_deref(), Some(name));
    }
    // Padded URL-safe base64, as Go's base64.URLEncoding.
    assert_eq!(encode_name("ab").unwrap(), "YWI=");
    assert_eq!(encode_name("\u{fb}\u{ff}").unwrap(), "w7vDvw==");
    assert_eq!(encode_name(">>?").unwrap(), "Pj4_");
    assert_eq!(b.meta_subject(""), Err(ObjectStoreError::NameRequired));
    assert_eq!(b.name_of("$O.other.M.YWI="), None);
}

#[test]
fn names_and_nuids_are_checked() {
    assert!(matches!(
        BucketSubjects::new("a.b", &ApiPrefix::default()),
        Err(ObjectStoreError::InvalidBucket {
            reason: BucketNameError::InvalidChar('.'),
            ..
        })
    ));
    assert!(validate_nuid("dK8wRBs3Z1sVzqzbnxNMNc").is_ok());
    for bad in ["", "a.b", "a*", "a b", ">"] {
        assert!(validate_nuid(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn bind_and_purge() {
    let mut config = StreamConfig::new("OBJ_files");
    config.allow_direct = false;
    let b = BucketSubjects::from_stream(&ApiPrefix::default(), &config).unwrap();
    assert!(!b.direct());
    assert!(
        BucketSubjects::from_stream(&ApiPrefix::default(), &StreamConfig::new("KV_x")).is_err()
    );
    let (to, body) = b.purge(&b.chunk_subject("N")).unwrap();
    assert_eq!(to, "$JS.API.STREAM.PURGE.OBJ_files");
    assert_eq!(body, r#"{"filter":"$O.files.C.N"}"#);
    // No API prefix on stored subjects, a prefix on API calls.
    let hub = BucketSubjects::new("files", &ApiPrefix::domain("hub").unwrap()).unwrap();
    assert_eq!(hub.meta_subject("a").unwrap(), "$O.files.M.YQ==");
    assert!(hub.purge("x").unwrap().0.starts_with("$JS.hub.API."));
}

const RECORD: &str = r#"{"name":"a","bucket":"files","nuid":"N","size":5,"chunks":1,
    "mtime":"0001-01-01T00:00:00Z","digest":"SHA-256=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="}"#;

#[test]
fn lookup_by_direct_get() {
    let get = InfoGet::new(&bucket(), "a").unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Stream", "OBJ_files");
    headers.insert("Nats-Subject", "$O.files.M.YQ==");
    headers.insert("Nats-Sequence", "4");
    headers.insert("Nats-Time-Stamp", "2024-05-01T10:00:00.5Z");
    let info = get.info(reply(Some(headers), RECORD.as_bytes())).unwrap();
    assert_eq!((info.name.as_str(), info.size), ("a", 5));
    assert_eq!(
        info.mtime.as_str(),
        "2024-05-01T10:00:00.5Z",
        "from the message"
    );
    let mut not_found = HeaderMap::new();
    not_found.set_status(StatusCode::NOT_FOUND, Some("Message Not Found".into()));
    assert!(matches!(
        get.info(reply(Some(not_found.clone()), b"")),
        Err(ObjectStoreError::ObjectNotFound { .. })
    ));
    assert_eq!(get.existing(reply(Some(not_found), b"")), Ok(None));
    assert_eq!(
        get.info(Err(RequestError::TimedOut)),
        Err(ObjectStoreError::Request(RequestError::TimedOut))
    );
    let deleted = br#"{"name":"a","bucket":"files","nuid":"N","deleted":true}"#;
    assert!(get.info(reply(None, deleted)).unwrap().deleted);
    assert!(get
        .live_info(reply(None, deleted))
        .unwrap_err()
        .is_not_found());
}

#[test]
fn lookup_by_the_stream_leader() {
    let b = bucket().with_direct(false);
    let get = InfoGet::new(&b, "a").unwrap();
    assert_eq!(get.subject, "$JS.API.STREAM.MSG.GET.OBJ_files");
    assert_eq!(get.payload, r#"{"last_by_subj":"$O.files.M.YQ=="}"#);
    use base64::engine::general_purpose::STANDARD;
    let stored = json!({"message": {"subject": "$O.files.M.YQ==", "seq": 4,
        "data": STANDARD.encode(RECORD), "time": "2024-05-01T10:00:00Z"}});
    let info = get
        .info(reply(None, stored.to_string().as_bytes()))
        .unwrap();
    assert_eq!(info.mtime.as_str(), "2024-05-01T10:00:00Z");
    let missing =
        json!({"error": {"code": 404, "err_code": 10037, "description": "no message found"}});
    assert!(get
        .info(reply(None, missing.to_string().as_bytes()))
        .unwrap_err()
        .is_not_found());
    let no_stream =
        json!({"error": {"code": 404, "err_code": 10059, "description": "stream not found"}});
    assert_eq!(
        get.info(reply(None, no_stream.to_string().as_bytes())),
        Err(ObjectStoreError::BucketNotFound {
            bucket: "files".into()
        })
    );
}
