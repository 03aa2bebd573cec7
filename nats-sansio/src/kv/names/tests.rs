//! Validation tables and the subjects of plain, prefixed and mirror buckets.

use super::*;
use crate::jetstream::api::{External, StreamSource};

#[test]
fn keys_follow_the_key_regex_token_by_token() {
    let table: &[(&str, Option<KeyError>)] = &[
        ("a", None),
        ("A-z_0=9/x.y", None),
        ("_kv", None), // readable; only writes refuse it
        ("", Some(KeyError::Empty)),
        (".a", Some(KeyError::EmptyToken)),
        ("a.", Some(KeyError::EmptyToken)),
        ("a..b", Some(KeyError::EmptyToken)),
        ("a b", Some(KeyError::InvalidChar(' '))),
        ("a$", Some(KeyError::InvalidChar('$'))),
        ("é", Some(KeyError::InvalidChar('é'))),
        ("a.*", Some(KeyError::Wildcard)),
        (">", Some(KeyError::Wildcard)),
    ];
    for (key, want) in table {
        let got = validate_key(key).err().map(|e| match e {
            KvError::InvalidKey { reason, .. } => reason,
            other => panic!("{other:?}"),
        });
        assert_eq!(&got, want, "{key:?}");
    }
}

#[test]
fn writes_refuse_reserved_keys() {
    assert!(matches!(
        validate_write_key("_kv.x"),
        Err(KvError::InvalidKey {
            reason: KeyError::Reserved,
            ..
        })
    ));
    assert!(validate_write_key("kv_x").is_ok());
    assert!(validate_write_key("x._kv").is_ok());
}

#[test]
fn filters_take_wildcards_only_as_whole_tokens() {
    for ok in [">", "*", "a.*", "*.b", "a.*.c", "a.>", "*.>"] {
        assert!(validate_filter(ok).is_ok(), "{ok}");
    }
    let table = [
        ("", KeyError::Empty),
        ("a*", KeyError::Wildcard),
        ("a.b*c", KeyError::Wildcard),
        (">.a", KeyError::Wildcard),
        ("a.>b", KeyError::Wildcard),
        ("a..*", KeyError::EmptyToken),
        ("a.*.", KeyError::EmptyToken),
        ("a.#", KeyError::InvalidChar('#')),
    ];
    for (filter, want) in table {
        match validate_filter(filter) {
            Err(KvError::InvalidFilter { reason, .. }) => assert_eq!(reason, want, "{filter}"),
            other => panic!("{filter}: {other:?}"),
        }
    }
}

#[test]
fn bucket_names() {
    assert!(validate_bucket("a-B_9").is_ok());
    for (name, want) in [
        ("", BucketNameError::Empty),
        ("a.b", BucketNameError::InvalidChar('.')),
        ("a*", BucketNameError::InvalidChar('*')),
        ("a b", BucketNameError::InvalidChar(' ')),
        ("a/b", BucketNameError::InvalidChar('/')),
    ] {
        match validate_bucket(name) {
            Err(KvError::InvalidBucket { reason, .. }) => assert_eq!(reason, want),
            other => panic!("{name}: {other:?}"),
        }
    }
    let long = "b".repeat(253);
    assert!(matches!(
        validate_bucket(&long),
        Err(KvError::InvalidBucket {
            reason: BucketNameError::TooLong(253),
            ..
        })
    ));
    assert!(validate_bucket(&"b".repeat(252)).is_ok());
}

fn kv_stream(name: &str) -> StreamConfig {
    StreamConfig {
        max_msgs_per_subject: 5,
        allow_direct: true,
        ..StreamConfig::new(name)
    }
}

#[test]
fn default_prefix_writes_to_the_stored_subject() {
    let b = BucketSubjects::from_stream(&ApiPrefix::default(), &kv_stream("KV_cfg")).unwrap();
    assert_eq!(b.bucket(), "cfg");
    assert_eq!(b.write_subject("k").unwrap(), "$KV.cfg.k");
    assert_eq!(b.key_subject("k").unwrap(), "$KV.cfg.k");
    assert_eq!(b.filter_subject("a.*").unwrap(), "$KV.cfg.a.*");
    assert_eq!(b.all_keys(), "$KV.cfg.>");
    assert!(b.direct());
    assert_eq!(b.key_of("$KV.cfg.a.b"), Some("a.b"));
    assert_eq!(b.key_of("$KV.other.a"), None);
    assert_eq!(b.key_of("$KV.cfg."), None);
}

#[test]
fn custom_prefix_writes_through_it() {
    let prefix = ApiPrefix::custom("JS.acme.API").unwrap();
    let b = BucketSubjects::new("cfg", &prefix).unwrap();
    assert_eq!(b.write_subject("k").unwrap(), "JS.acme.API.$KV.cfg.k");
    assert_eq!(b.key_subject("k").unwrap(), "$KV.cfg.k");
}

#[test]
fn a_mirror_reads_and_writes_the_origin() {
    let mut config = kv_stream("KV_copy");
    config.mirror = Some(StreamSource {
        name: "KV_origin".into(),
        ..StreamSource::default()
    });
    let b = BucketSubjects::from_stream(&ApiPrefix::domain("leaf").unwrap(), &config).unwrap();
    assert_eq!(b.stream(), "KV_copy");
    assert_eq!(b.key_subject("k").unwrap(), "$KV.origin.k");
    assert_eq!(b.write_subject("k").unwrap(), "$KV.origin.k");
    assert_eq!(b.key_of("$KV.origin.k"), Some("k"));

    config.mirror = Some(StreamSource {
        name: "origin".into(),
        external: Some(External {
            api: "$JS.hub.API".into(),
            deliver: String::new(),
        }),
        ..StreamSource::default()
    });
    let b = BucketSubjects::from_stream(&ApiPrefix::default(), &config).unwrap();
    assert_eq!(b.write_subject("k").unwrap(), "$JS.hub.API.$KV.origin.k");
    assert_eq!(b.filter_subject(">").unwrap(), "$KV.origin.>");
}

#[test]
fn bind_refuses_streams_that_are_not_buckets() {
    let mut config = kv_stream("ORDERS");
    assert!(matches!(
        BucketSubjects::from_stream(&ApiPrefix::default(), &config),
        Err(KvError::BadBucket { .. })
    ));
    config.name = "KV_x".into();
    config.max_msgs_per_subject = 0;
    assert!(matches!(
        BucketSubjects::from_stream(&ApiPrefix::default(), &config),
        Err(KvError::BadBucket { .. })
    ));
    config.max_msgs_per_subject = 1;
    config.allow_direct = false;
    let b = BucketSubjects::from_stream(&ApiPrefix::default(), &config).unwrap();
    assert!(!b.direct());
}

#[test]
fn subjects_refuse_bad_keys() {
    let b = BucketSubjects::new("b", &ApiPrefix::default()).unwrap();
    assert!(b.key_subject("a.>").is_err());
    assert!(b.write_subject("_kvx").is_err());
    assert!(b.filter_subject("").is_err());
    assert!(BucketSubjects::new("b.c", &ApiPrefix::default()).is_err());
}
