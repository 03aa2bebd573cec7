//! The bucket configuration against the stream configuration the server expects.

use super::*;
use crate::jetstream::api::External;
use serde_json::{json, Value};

fn wire(config: &StreamConfig) -> Value {
    serde_json::to_value(config).unwrap()
}

#[test]
fn the_default_bucket_is_the_stream_the_server_expects() {
    let stream = Config::new("cfg").stream_config(0).unwrap();
    assert_eq!(
        wire(&stream),
        json!({
            "name": "KV_cfg",
            "subjects": ["$KV.cfg.>"],
            "max_consumers": -1,
            "max_msgs": -1,
            "max_bytes": -1,
            "max_msgs_per_subject": 1,
            "max_msg_size": -1,
            "discard": "new",
            "num_replicas": 1,
            "duplicate_window": 120_000_000_000u64,
            "deny_delete": true,
            "allow_rollup_hdrs": true,
            "allow_direct": true,
        })
    );
    assert!(wire(&stream).get("rollup_hdrs").is_none());
}

#[test]
fn every_option_lands_in_its_field() {
    let config = Config {
        description: "d".into(),
        history: 64,
        max_value_size: 1024,
        max_bytes: 1 << 20,
        max_age: Duration::from_secs(30),
        limit_markers: Some(Duration::from_secs(60)),
        storage: StorageType::Memory,
        num_replicas: 3,
        compression: true,
        placement: Some(Placement {
            cluster: "east".into(),
            ..Placement::default()
        }),
        republish: Some(Republish {
            src: ">".into(),
            dest: "copy.>".into(),
            headers_only: false,
        }),
        metadata: BTreeMap::from([("team".into(), "a".into())]),
        ..Config::new("b")
    };
    let v = wire(&config.stream_config(1).unwrap());
    assert_eq!(v["max_msgs_per_subject"], 64);
    assert_eq!(v["max_msg_size"], 1024);
    assert_eq!(v["max_bytes"], 1 << 20);
    assert_eq!(v["max_age"], 30_000_000_000u64);
    assert_eq!(
        v["duplicate_window"], 30_000_000_000u64,
        "never past the TTL"
    );
    assert_eq!(v["allow_msg_ttl"], true);
    assert_eq!(v["subject_delete_marker_ttl"], 60_000_000_000u64);
    assert_eq!(v["storage"], "memory");
    assert_eq!(v["num_replicas"], 3);
    assert_eq!(v["compression"], "s2");
    assert_eq!(v["placement"], json!({"cluster": "east"}));
    assert_eq!(v["republish"], json!({"src": ">", "dest": "copy.>"}));
    assert_eq!(v["metadata"], json!({"team": "a"}));
    assert_eq!(v["description"], "d");
}

#[test]
fn history_and_markers_are_checked() {
    for history in [0, 65] {
        let config = Config {
            history,
            ..Config::new("b")
        };
        assert_eq!(
            config.stream_config(5),
            Err(KvError::HistoryOutOfRange { history })
        );
    }
    let markers = Config {
        limit_markers: Some(Duration::from_secs(1)),
        ..Config::new("b")
    };
    assert!(markers.needs_api_level());
    assert!(!Config::new("b").needs_api_level());
    assert_eq!(
        markers.stream_config(0),
        Err(KvError::LimitMarkersUnsupported { api_level: 0 })
    );
    assert!(Config::new("a.b").stream_config(1).is_err());
}

#[test]
fn a_mirror_has_no_subjects_and_mirror_direct() {
    let config = Config {
        mirror: Some(StreamSource {
            name: "origin".into(),
            ..StreamSource::default()
        }),
        ..Config::new("copy")
    };
    let v = wire(&config.stream_config(0).unwrap());
    assert!(v.get("subjects").is_none());
    assert_eq!(v["mirror"], json!({"name": "KV_origin"}));
    assert_eq!(v["mirror_direct"], true);
    let with_markers = Config {
        limit_markers: Some(Duration::from_secs(5)),
        ..config
    };
    assert_eq!(
        with_markers.stream_config(3),
        Err(KvError::LimitMarkersOnMirror)
    );
}

#[test]
fn sources_get_the_prefix_and_a_transform_into_this_bucket() {
    let explicit = StreamSource {
        name: "raw".into(),
        subject_transforms: vec![SubjectTransform {
            src: "x.>".into(),
            dest: "$KV.b.>".into(),
        }],
        ..StreamSource::default()
    };
    let same_elsewhere = StreamSource {
        name: "KV_b".into(),
        external: Some(External {
            api: "$JS.hub.API".into(),
            deliver: String::new(),
        }),
        ..StreamSource::default()
    };
    let config = Config {
        sources: vec![
            StreamSource {
                name: "other".into(),
                ..StreamSource::default()
            },
            explicit.clone(),
            same_elsewhere.clone(),
        ],
        ..Config::new("b")
    };
    let stream = config.stream_config(0).unwrap();
    assert_eq!(stream.subjects, ["$KV.b.>"]);
    assert_eq!(stream.sources[0].name, "KV_other");
    assert_eq!(
        stream.sources[0].subject_transforms,
        [SubjectTransform {
            src: "$KV.other.>".into(),
            dest: "$KV.b.>".into()
        }]
    );
    assert_eq!(
        stream.sources[1], explicit,
        "explicit transforms kept as given"
    );
    assert_eq!(
        stream.sources[2], same_elsewhere,
        "same bucket elsewhere: no transform"
    );
}

#[test]
fn a_config_survives_the_round_trip_through_the_server() {
    let config = Config {
        history: 5,
        max_age: Duration::from_secs(3600),
        limit_markers: Some(Duration::from_secs(60)),
        compression: true,
        metadata: BTreeMap::from([("k".into(), "v".into())]),
        ..Config::new("b")
    };
    let mut stream = config.stream_config(1).unwrap();
    stream.metadata.insert("_nats.level".into(), "1".into());
    assert_eq!(Config::from_stream(&stream).unwrap(), config);
    assert!(Config::from_stream(&StreamConfig::new("ORDERS")).is_err());
}

#[test]
fn updates_never_turn_markers_off() {
    let existing = Config {
        limit_markers: Some(Duration::from_secs(60)),
        ..Config::new("b")
    }
    .stream_config(1)
    .unwrap();
    let wanted = Config {
        history: 3,
        ..Config::new("b")
    }
    .stream_config(0)
    .unwrap();
    let update = update_stream_config(&existing, wanted);
    assert!(update.allow_msg_ttl);
    assert_eq!(update.subject_delete_marker_ttl, Duration::from_secs(60));
    assert_eq!(update.max_msgs_per_subject, 3);
    let plain = Config::new("b").stream_config(0).unwrap();
    let update = update_stream_config(&plain, plain.clone());
    assert!(!update.allow_msg_ttl && update.subject_delete_marker_ttl.is_zero());
}

#[test]
fn an_old_bucket_differing_only_in_discard_or_direct_is_updated() {
    let wanted = Config::new("b").stream_config(0).unwrap();
    // As an old server reports it: defaults filled in, old discard and no direct get.
    let mut existing: StreamConfig = serde_json::from_value(json!({
        "name": "KV_b", "subjects": ["$KV.b.>"], "retention": "limits",
        "max_consumers": -1, "max_msgs": -1, "max_bytes": -1, "max_age": 0,
        "max_msgs_per_subject": 1, "max_msg_size": -1, "discard": "old",
        "storage": "file", "num_replicas": 1, "duplicate_window": 120000000000u64,
        "deny_delete": true, "allow_rollup_hdrs": true, "allow_direct": false,
        "sealed": false, "deny_purge": false, "compression": "none",
        "metadata": {"_nats.ver": "2.9.0"}, "consumer_limits": {}
    }))
    .unwrap();
    assert!(update_instead_of_create(&existing, &wanted));
    existing.max_msgs_per_subject = 5;
    assert!(!update_instead_of_create(&existing, &wanted));
}
