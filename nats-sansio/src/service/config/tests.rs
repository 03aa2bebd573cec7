//! Every validation rule as a table, semver.org's own examples both ways, the queue-group
//! precedence table of nats.go's `resolveQueueGroup`, and group joining.

use super::*;
use ServiceConfigError as E;

#[test]
fn service_names() {
    for good in ["a", "Z", "0", "echo-service_2", "-", "_", "ABCxyz-_09"] {
        assert_eq!(validate_name(good), Ok(()), "{good:?}");
    }
    for bad in ["", "a.b", "a b", "a*", "a>", "é", "a/b", "a$", "a\n"] {
        assert_eq!(
            validate_name(bad),
            Err(E::InvalidName(bad.into())),
            "{bad:?}"
        );
    }
}

/// semver.org's list of valid versions (from its regex playground).
const SEMVER_VALID: &[&str] = &[
    "0.0.4",
    "1.2.3",
    "10.20.30",
    "1.1.2-prerelease+meta",
    "1.1.2+meta",
    "1.1.2+meta-valid",
    "1.0.0-alpha",
    "1.0.0-beta",
    "1.0.0-alpha.beta",
    "1.0.0-alpha.beta.1",
    "1.0.0-alpha.1",
    "1.0.0-alpha0.valid",
    "1.0.0-alpha.0valid",
    "1.0.0-alpha-a.b-c-somethinglong+build.1-aef.1-its-okay",
    "1.0.0-rc.1+build.1",
    "2.0.0-rc.1+build.123",
    "1.2.3-beta",
    "10.2.3-DEV-SNAPSHOT",
    "1.2.3-SNAPSHOT-123",
    "1.0.0",
    "2.0.0",
    "1.1.7",
    "2.0.0+build.1848",
    "2.0.1-alpha.1227",
    "1.0.0-alpha+beta",
    "1.2.3----RC-SNAPSHOT.12.9.1--.12+788",
    "1.2.3----R-S.12.9.1--.12+meta",
    "1.2.3----RC-SNAPSHOT.12.9.1--.12",
    "1.0.0+0.build.1-rc.10000aaa-kk-0.1",
    "99999999999999999999999.999999999999999999.99999999999999999",
    "1.0.0-0A.is.legal",
];

/// semver.org's list of invalid versions.
const SEMVER_INVALID: &[&str] = &[
    "1",
    "1.2",
    "1.2.3-0123",
    "1.2.3-0123.0123",
    "1.1.2+.123",
    "+invalid",
    "-invalid",
    "-invalid+invalid",
    "-invalid.01",
    "alpha",
    "alpha.beta",
    "alpha.beta.1",
    "alpha.1",
    "alpha+beta",
    "alpha_beta",
    "alpha.",
    "alpha..",
    "beta",
    "1.0.0-alpha_beta",
    "-alpha.",
    "1.0.0-alpha..",
    "1.0.0-alpha..1",
    "1.0.0-alpha...1",
    "1.0.0-alpha....1",
    "1.0.0-alpha.....1",
    "1.0.0-alpha......1",
    "1.0.0-alpha.......1",
    "01.1.1",
    "1.01.1",
    "1.1.01",
    "1.2.3.DEV",
    "1.2-SNAPSHOT",
    "1.2.31.2.3----RC-SNAPSHOT.12.09.1--..12+788",
    "1.2-RC-SNAPSHOT",
    "-1.0.3-gamma+b7718",
    "+justmeta",
    "9.8.7+meta+meta",
    "9.8.7-whatever+meta+meta",
    "99999999999999999999999.999999999999999999.99999999999999999----RC-SNAPSHOT.12.09.1--------------------------------..12",
];

#[test]
fn semver_org_examples() {
    for v in SEMVER_VALID {
        assert_eq!(validate_version(v), Ok(()), "{v:?} is valid");
    }
    for v in SEMVER_INVALID {
        assert_eq!(
            validate_version(v),
            Err(E::InvalidVersion((*v).into())),
            "{v:?} is invalid"
        );
    }
}

#[test]
fn semver_edges_beyond_the_examples() {
    for good in ["0.0.0", "1.0.0-0", "1.0.0-x-y", "1.0.0+001", "1.0.0-a.0.b"] {
        assert!(is_semver(good), "{good:?}");
    }
    for bad in [
        "",
        "1.0.0-",
        "1.0.0+",
        "1.0.0-a+",
        "1.0.0 ",
        " 1.0.0",
        "1.0.0\n",
        "v1.0.0",
        "1..0",
        "1.0.0-01",
        "1.0.0-é",
        "1.0.0+é",
        "١.٠.٠", // non-ASCII digits: `\d` in RE2 is ASCII only
        "1.0.0-a.",
        "1.0.0+a..b",
    ] {
        assert!(!is_semver(bad), "{bad:?}");
    }
}

fn meta(pairs: &[(&str, &str)]) -> Metadata {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn metadata_size_and_reserved_prefix() {
    assert_eq!(validate_metadata(&Metadata::new()), Ok(()));
    assert_eq!(
        validate_metadata(&meta(&[("nats", "x"), ("_nat", "y")])),
        Ok(())
    );
    assert_eq!(
        validate_metadata(&meta(&[("_nats.version", "1")])),
        Err(E::ReservedMetadataKey("_nats.version".into()))
    );
    assert_eq!(
        validate_metadata(&meta(&[("_nats", "")])),
        Err(E::ReservedMetadataKey("_nats".into()))
    );
    // Exactly at the limit, keys and values together.
    let half = "v".repeat(MAX_METADATA_BYTES / 2 - 1);
    let at_limit = meta(&[("k", &half), ("j", &half)]);
    assert_eq!(validate_metadata(&at_limit), Ok(()));
    let over = meta(&[("k", &half), ("jj", &half)]);
    assert_eq!(
        validate_metadata(&over),
        Err(E::MetadataTooLarge {
            size: MAX_METADATA_BYTES + 1,
            max: MAX_METADATA_BYTES
        })
    );
}

#[test]
fn config_validation_covers_every_field() {
    assert_eq!(Config::new("svc", "1.0.0").validate(), Ok(()));
    assert_eq!(
        Config::new("s.v", "1.0.0").validate(),
        Err(E::InvalidName("s.v".into()))
    );
    assert_eq!(
        Config::new("svc", "1.0").validate(),
        Err(E::InvalidVersion("1.0".into()))
    );
    let mut c = Config::new("svc", "1.0.0");
    c.metadata = meta(&[("_nats.x", "")]);
    assert!(matches!(c.validate(), Err(E::ReservedMetadataKey(_))));
    let mut c = Config::new("svc", "1.0.0");
    c.queue_group = QueueGroup::named("a b");
    assert_eq!(c.validate(), Err(E::InvalidQueueGroup("a b".into())));
    let mut c = Config::new("svc", "1.0.0");
    c.api_prefix = "$SRV.*".into();
    assert_eq!(c.validate(), Err(E::InvalidApiPrefix("$SRV.*".into())));
    c.api_prefix = "acme.$SRV".into();
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn queue_group_names() {
    for good in ["q", "workers", "a.b", "a*", "a>", "a.>", ">", "x-1_2"] {
        assert_eq!(QueueGroup::named(good).validate(), Ok(()), "{good:?}");
    }
    for bad in ["", "a b", "a>b", ">>", "a\tb", "a\n"] {
        assert_eq!(
            QueueGroup::named(bad).validate(),
            Err(E::InvalidQueueGroup(bad.into())),
            "{bad:?}"
        );
    }
    assert_eq!(QueueGroup::Disabled.validate(), Ok(()));
    assert_eq!(QueueGroup::Inherit.validate(), Ok(()));
}

/// nats.go's `resolveQueueGroup` over service → group → endpoint: endpoint > group > service >
/// `q`; `Disabled` at a level wins over its parents; a disabled parent applies unless the
/// child names a group.
#[test]
fn queue_group_precedence() {
    use QueueGroup::{Disabled as D, Inherit as I};
    let n = QueueGroup::named;
    let table: Vec<(QueueGroup, Option<QueueGroup>, QueueGroup, Option<&str>)> = vec![
        // service, group (None: endpoint at the root), endpoint → resolved
        (I, None, I, Some("q")),
        (n("svc"), None, I, Some("svc")),
        (n("svc"), None, n("ep"), Some("ep")),
        (D, None, I, None),
        (D, None, n("ep"), Some("ep")),
        (n("svc"), None, D, None),
        (I, Some(I), I, Some("q")),
        (n("svc"), Some(I), I, Some("svc")),
        (n("svc"), Some(n("grp")), I, Some("grp")),
        (n("svc"), Some(n("grp")), n("ep"), Some("ep")),
        (n("svc"), Some(n("grp")), D, None),
        (n("svc"), Some(D), I, None),
        (n("svc"), Some(D), n("ep"), Some("ep")),
        (D, Some(I), I, None),
        (D, Some(n("grp")), I, Some("grp")),
        (D, Some(D), n("ep"), Some("ep")),
        (I, Some(D), I, None),
    ];
    for (service, group, endpoint, want) in table {
        let mut config = Config::new("svc", "1.0.0");
        config.queue_group = service.clone();
        let root = Group::root(config.resolved_queue_group());
        let parent = match &group {
            Some(g) => root.group("g", g.clone()).unwrap(),
            None => root.clone(),
        };
        let ep = EndpointConfig::new("e").queue_group(endpoint.clone());
        let (_, got) = parent.resolve(&ep).unwrap();
        assert_eq!(
            got.as_deref(),
            want,
            "service {service:?}, group {group:?}, endpoint {endpoint:?}"
        );
    }
}

#[test]
fn nested_groups_inherit_the_nearest_setting() {
    let root = Group::root(Some("q".into()));
    let a = root.group("a", QueueGroup::Disabled).unwrap();
    let b = a.group("b", QueueGroup::Inherit).unwrap();
    let c = b.group("c", QueueGroup::named("deep")).unwrap();
    let d = c.group("d", QueueGroup::Inherit).unwrap();
    assert_eq!(b.queue_group(), None);
    assert_eq!(c.queue_group(), Some("deep"));
    assert_eq!(d.queue_group(), Some("deep"));
    assert_eq!(d.prefix(), "a.b.c.d");
}

#[test]
fn groups_join_with_dots_and_empty_adds_no_token() {
    let root = Group::root(Some("q".into()));
    assert_eq!(root.prefix(), "");
    let empty = root.group("", QueueGroup::Inherit).unwrap();
    assert_eq!(empty.prefix(), "");
    let a = root.group("a", QueueGroup::Inherit).unwrap();
    assert_eq!(a.group("", QueueGroup::Inherit).unwrap().prefix(), "a");
    let ab = a.group("b.c", QueueGroup::Inherit).unwrap();
    assert_eq!(ab.prefix(), "a.b.c");
    let star = ab.group("*", QueueGroup::Inherit).unwrap();
    assert_eq!(star.prefix(), "a.b.c.*");
    let ep = |g: &Group, c: EndpointConfig| g.resolve(&c).unwrap().0;
    assert_eq!(ep(&root, EndpointConfig::new("add")), "add");
    assert_eq!(ep(&empty, EndpointConfig::new("add")), "add");
    assert_eq!(ep(&ab, EndpointConfig::new("add")), "a.b.c.add");
    assert_eq!(
        ep(&ab, EndpointConfig::new("add").subject("math.>")),
        "a.b.c.math.>"
    );
    assert_eq!(ep(&star, EndpointConfig::new("x")), "a.b.c.*.x");
}

#[test]
fn group_names_are_prefixes_without_full_wildcards() {
    let root = Group::root(None);
    for bad in [">", "a.>", "a>", "a..b", ".a", "a.", "a b"] {
        assert_eq!(
            root.group(bad, QueueGroup::Inherit),
            Err(E::InvalidGroup(bad.into())),
            "{bad:?}"
        );
    }
    assert_eq!(
        root.group("a", QueueGroup::named("")),
        Err(E::InvalidQueueGroup(String::new()))
    );
}

#[test]
fn endpoint_names_subjects_and_metadata() {
    let root = Group::root(Some("q".into()));
    for bad in ["", "a.b", "a b", "a*"] {
        assert_eq!(
            root.resolve(&EndpointConfig::new(bad).subject("ok")),
            Err(E::InvalidEndpointName(bad.into())),
            "{bad:?}"
        );
    }
    for good in ["a", "a.b", "a.*", "a.>", ">", "a.*.c", "a>"] {
        let got = root.resolve(&EndpointConfig::new("e").subject(good));
        assert_eq!(got.map(|r| r.0), Ok(good.to_owned()), "{good:?}");
    }
    for bad in ["a b", "a.>.b", "a>b", "a..b", ".a", "a.", "a\tb"] {
        assert_eq!(
            root.resolve(&EndpointConfig::new("e").subject(bad)),
            Err(E::InvalidEndpointSubject(bad.into())),
            "{bad:?}"
        );
    }
    // An empty subject is no subject: the name (as nats.go).
    assert_eq!(
        root.resolve(&EndpointConfig::new("e").subject(""))
            .map(|r| r.0),
        Ok("e".to_owned())
    );
    let g = root.group("g", QueueGroup::Inherit).unwrap();
    assert_eq!(
        g.resolve(&EndpointConfig::new("e").subject("a b")),
        Err(E::InvalidEndpointSubject("g.a b".into()))
    );
    assert_eq!(
        root.resolve(&EndpointConfig::new("e").metadata(meta(&[("_nats", "x")]))),
        Err(E::ReservedMetadataKey("_nats".into()))
    );
    assert_eq!(
        root.resolve(&EndpointConfig::new("e").queue_group(QueueGroup::named("a b"))),
        Err(E::InvalidQueueGroup("a b".into()))
    );
}
