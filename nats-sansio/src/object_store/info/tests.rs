use super::*;
use crate::jetstream::api::ApiPrefix;
use serde_json::{json, Value};

#[test]
fn written_as_nats_go_writes_it() {
    let info = ObjectInfo {
        name: "report.pdf".into(),
        description: "Q1".into(),
        headers: BTreeMap::from([("Content-Type".into(), vec!["application/pdf".into()])]),
        metadata: BTreeMap::from([("owner".into(), "infra".into())]),
        options: Some(ObjectOptions {
            link: None,
            max_chunk_size: 131072,
        }),
        bucket: "docs".into(),
        nuid: "N1".into(),
        size: 200000,
        mtime: DateTime::new("2024-01-01T00:00:00Z"),
        chunks: 2,
        digest: "SHA-256=abc=".into(),
        deleted: false,
    };
    let written: Value = serde_json::from_slice(&info.to_json()).unwrap();
    assert_eq!(
        written,
        json!({
            "name": "report.pdf", "description": "Q1",
            "headers": {"Content-Type": ["application/pdf"]},
            "metadata": {"owner": "infra"},
            "options": {"max_chunk_size": 131072},
            "bucket": "docs", "nuid": "N1", "size": 200000,
            "mtime": "0001-01-01T00:00:00Z", "chunks": 2, "digest": "SHA-256=abc="
        }),
        "mtime is always the zero time; no deleted key while live"
    );
    let back = ObjectInfo::from_json(&info.to_json()).unwrap();
    assert_eq!(
        back.mtime,
        DateTime::default(),
        "a stored mtime is not read"
    );
    assert_eq!(
        ObjectInfo {
            mtime: info.mtime.clone(),
            ..back
        },
        info
    );
}

#[test]
fn records_other_clients_write() {
    // nats.go: a bucket link omits `name`; nil maps; the zero mtime.
    let go = br#"{"name":"all","bucket":"b","nuid":"N","size":0,"mtime":"0001-01-01T00:00:00Z",
        "chunks":0,"options":{"link":{"bucket":"other"}}}"#;
    // nats.rs: `name: null`, and maps written as null.
    let rs = br#"{"name":"all","description":null,"headers":null,"metadata":null,"bucket":"b",
        "nuid":"N","size":0,"chunks":0,"mtime":"2024-03-01T12:00:00.123456789Z",
        "digest":null,"deleted":false,"options":{"link":{"bucket":"other","name":null},
        "max_chunk_size":null}}"#;
    // nats.py: `name: ""`, extra keys.
    let py = br#"{"name":"all","bucket":"b","nuid":"N","size":0,"chunks":0,"mtime":"",
        "options":{"link":{"bucket":"other","name":""}},"future":1}"#;
    for (who, raw) in [("go", &go[..]), ("rs", &rs[..]), ("py", &py[..])] {
        let info = match ObjectInfo::from_json(raw) {
            Ok(info) => info,
            Err(e) => panic!("{who}: {e}"),
        };
        let link = info.link().unwrap_or_else(|| panic!("{who}: a link"));
        assert!(link.is_bucket_link(), "{who}");
        assert_eq!(link.bucket, "other", "{who}");
        assert_eq!(info.mtime, DateTime::default(), "{who}");
    }
    let object_link =
        br#"{"name":"l","bucket":"b","nuid":"N","options":{"link":{"bucket":"o","name":"x"}}}"#;
    let info = ObjectInfo::from_json(object_link).unwrap();
    assert!(!info.link().unwrap().is_bucket_link());
    let written: Value = serde_json::from_slice(&info.to_json()).unwrap();
    assert_eq!(
        written["options"],
        json!({"link": {"bucket": "o", "name": "x"}})
    );
}

#[test]
fn unusable_records_are_refused() {
    assert!(matches!(
        ObjectInfo::from_json(br#"{"name":"a","bucket":"b","size":1}"#),
        Err(ObjectStoreError::BadMeta(_))
    ));
    assert!(ObjectInfo::from_json(b"not json").is_err());
    assert!(ObjectInfo::from_json(br#"{"name":"a","nuid":"N","size":-1}"#).is_err());
}

#[test]
fn the_record_publish_rolls_up() {
    let bucket = BucketSubjects::new("b", &ApiPrefix::default()).unwrap();
    let info = ObjectInfo {
        name: "a".into(),
        nuid: "N".into(),
        ..ObjectInfo::default()
    };
    let publish = info.publish(&bucket).unwrap();
    assert_eq!(publish.subject, "$O.b.M.YQ==");
    assert_eq!(publish.headers.unwrap().get("Nats-Rollup"), Some("sub"));
    let unnamed = ObjectInfo::default().publish(&bucket);
    assert_eq!(unnamed, Err(ObjectStoreError::NameRequired));
}
