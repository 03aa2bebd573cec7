use super::*;
use crate::jetstream::api::{ApiError, ApiPrefix, ErrorCode, ResponseError};
use crate::proto::Subject;
use serde_json::Value;

fn bucket() -> BucketSubjects {
    BucketSubjects::new("b", &ApiPrefix::default()).unwrap()
}

fn object(name: &str) -> ObjectInfo {
    ObjectInfo {
        name: name.into(),
        bucket: "b".into(),
        nuid: format!("N{name}"),
        size: 10,
        chunks: 1,
        digest: "SHA-256=x".into(),
        options: Some(ObjectOptions {
            link: None,
            max_chunk_size: 128,
        }),
        ..ObjectInfo::default()
    }
}

fn record(publish: &Publish) -> Value {
    assert_eq!(
        publish.headers.as_ref().and_then(|h| h.get("Nats-Rollup")),
        Some("sub")
    );
    serde_json::from_slice(&publish.payload).unwrap()
}

#[test]
fn delete_keeps_a_deleted_record_then_purges() {
    let d = delete(&bucket(), &object("a")).unwrap().unwrap();
    let r = record(&d.record);
    assert_eq!(d.record.subject, "$O.b.M.YQ==");
    assert_eq!(r["deleted"], true);
    assert_eq!(
        (r["size"].as_u64(), r["chunks"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(r.get("digest").is_none());
    assert_eq!(r["nuid"], "Na");
    assert_eq!(d.purge.0, "$JS.API.STREAM.PURGE.OBJ_b");
    assert_eq!(d.purge.1, r#"{"filter":"$O.b.C.Na"}"#);
    let mut gone = object("a");
    gone.deleted = true;
    assert_eq!(delete(&bucket(), &gone).unwrap(), None, "already deleted");
}

#[test]
fn update_and_rename() {
    let current = object("a");
    let mut meta = current.meta();
    meta.description = "new".into();
    let u = update_meta(&bucket(), &current, &meta, None).unwrap();
    assert!(u.purge_old.is_none());
    let r = record(&u.record);
    assert_eq!(
        (r["description"].as_str(), r["nuid"].as_str()),
        (Some("new"), Some("Na"))
    );
    assert_eq!(r["options"]["max_chunk_size"], 128, "chunk size kept");

    meta.name = "z".into();
    let u = update_meta(&bucket(), &current, &meta, None).unwrap();
    assert_eq!(u.record.subject, "$O.b.M.eg==");
    assert_eq!(u.purge_old.unwrap().1, r#"{"filter":"$O.b.M.YQ=="}"#);
    let mut dead = object("z");
    dead.deleted = true;
    assert!(
        update_meta(&bucket(), &current, &meta, Some(&dead)).is_ok(),
        "onto a deleted one"
    );
    assert_eq!(
        update_meta(&bucket(), &current, &meta, Some(&object("z"))),
        Err(ObjectStoreError::ObjectExists { name: "z".into() })
    );
    let mut deleted = current.clone();
    deleted.deleted = true;
    assert_eq!(
        update_meta(&bucket(), &deleted, &meta, None),
        Err(ObjectStoreError::ObjectDeleted { name: "a".into() })
    );
}

#[test]
fn links_follow_nats_go_rules() {
    let b = bucket();
    let target = object("t");
    let l = add_link(&b, "l", &target, None, "L1").unwrap();
    let r = record(&l);
    assert_eq!(
        r["options"]["link"],
        serde_json::json!({"bucket": "b", "name": "t"})
    );
    assert_eq!(
        (r["nuid"].as_str(), r["size"].as_u64()),
        (Some("L1"), Some(0))
    );
    assert!(r.get("digest").is_none());
    // Over a link (object or bucket): allowed.
    let info = ObjectInfo::from_json(&l.payload).unwrap();
    assert!(add_link(&b, "l", &target, Some(&info), "L2").is_ok());
    // Over a regular object, live or deleted: refused.
    let mut dead = object("l");
    dead.deleted = true;
    for existing in [object("l"), dead] {
        assert_eq!(
            add_link(&b, "l", &target, Some(&existing), "L3"),
            Err(ObjectStoreError::ObjectExists { name: "l".into() })
        );
    }
    // Bad targets.
    let mut deleted = object("t");
    deleted.deleted = true;
    assert!(matches!(
        add_link(&b, "l", &deleted, None, "L"),
        Err(ObjectStoreError::BadLinkTarget { .. })
    ));
    assert!(matches!(
        add_link(&b, "l", &info, None, "L"),
        Err(ObjectStoreError::BadLinkTarget { .. })
    ));
    assert!(matches!(
        add_link(&b, "l", &ObjectInfo::default(), None, "L"),
        Err(ObjectStoreError::BadLinkTarget { .. })
    ));
    assert_eq!(
        add_link(&b, "", &target, None, "L"),
        Err(ObjectStoreError::NameRequired)
    );
    // A bucket link: no name at all.
    let bl = add_bucket_link(&b, "all", "other", None, "L4").unwrap();
    assert_eq!(
        record(&bl)["options"]["link"],
        serde_json::json!({"bucket": "other"})
    );
    assert!(add_bucket_link(&b, "all", "bad.bucket", None, "L5").is_err());
}

#[test]
fn outcomes_are_typed() {
    let b = bucket();
    let sealed = ApiError {
        code: 400,
        err_code: ErrorCode::STREAM_SEALED,
        description: "invalid operation on sealed stream".into(),
    };
    assert_eq!(
        publish_outcome(
            &b,
            Err(PublishFailure::Response(ResponseError::Api(sealed.clone())))
        ),
        Err(ObjectStoreError::BucketSealed { bucket: "b".into() })
    );
    let reply = |body: &str| {
        Ok(Message {
            subject: Subject::new("_INBOX.x").unwrap(),
            reply: None,
            headers: None,
            length: body.len(),
            payload: Bytes::from(body.to_owned()),
        })
    };
    assert_eq!(
        purge_outcome(&b, reply(r#"{"success":true,"purged":3}"#)),
        Ok(3)
    );
    let refused = serde_json::json!({"error": sealed}).to_string();
    assert_eq!(
        purge_outcome(&b, reply(&refused)),
        Err(ObjectStoreError::BucketSealed { bucket: "b".into() })
    );
}
