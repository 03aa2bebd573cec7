//! Deterministic simulation of the `Connection` machine against simulated servers over a
//! virtual network (latency, arbitrary chunking, short writes, cuts, stalls, refusals).
//!
//! Every scenario runs over many seeds. A failure prints `SEED=<n>`; replay just that seed with
//! `SIM_SEED=<n> cargo test -p nats-sansio --test simulation <scenario>`.

mod sim;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nats_sansio::auth::Auth;
use nats_sansio::connection::{
    ConnectionError, Delivery, PublishError, RequestError, RequestId, SubscriptionEnd,
};
use nats_sansio::proto::HeaderMap;
use nats_sansio::{ConnectionEvent, Event};
use sim::server::{ClientOp, ServerAuth, ServerConfig};
use sim::{for_seeds_tcp_and_ws, ms, secs, World};

#[test]
fn handshake() {
    for_seeds_tcp_and_ws("handshake", 200, |seed| {
        let mut w = World::new(seed, vec![ServerConfig::new("s0")]);
        w.add_client("nats://s0:4222", |o| o.name = Some("sim".into()));
        w.run_until("connected", secs(5), |w| w.is_connected(0));
        let connect = w.cluster.servers[0]
            .last_connect()
            .expect("CONNECT")
            .clone();
        assert_eq!(connect["verbose"], false);
        assert_eq!(connect["pedantic"], false);
        assert_eq!(connect["lang"], "rust");
        assert_eq!(connect["protocol"], 1);
        assert_eq!(connect["name"], "sim");
        assert_eq!(connect["headers"], true);
        assert_eq!(connect["no_responders"], true);
        assert_eq!(connect["echo"], true);
        // CONNECT then PING, nothing else, on the one connection.
        let ops: Vec<&ClientOp> = w.cluster.servers[0].ops().collect();
        assert!(
            matches!(ops[..], [ClientOp::Connect(_), ClientOp::Ping]),
            "{ops:?}"
        );
        let c = &w.clients[0];
        assert_eq!(
            c.count(|e| matches!(e, Event::Connection(ConnectionEvent::Connected { .. }))),
            1
        );
        assert_eq!(c.events.len(), 1, "{}", w.event_log());
        w.run_for(ms(100));
        w.assert_no_violations();
    });
}

// ===================== auth =====================

/// Connects with `auth` to a server demanding `server_auth`; returns the world once the
/// connection is up (or closed, when `expect_ok` is false).
fn auth_world(seed: u64, url: &str, server_auth: ServerAuth, auth: Auth, expect_ok: bool) -> World {
    let mut config = ServerConfig::new("s0");
    config.auth = server_auth;
    let mut w = World::new(seed, vec![config]);
    w.add_client(url, |o| o.auth = auth);
    if expect_ok {
        w.run_until("connected", secs(5), |w| w.is_connected(0));
    } else {
        w.run_until("closed", secs(30), |w| w.clients[0].conn.is_closed());
    }
    w.assert_no_violations();
    w
}

fn user_pass() -> ServerAuth {
    ServerAuth::UserPass {
        user: "alice".into(),
        pass: "s3cret".into(),
    }
}

#[test]
fn auth_token() {
    for_seeds_tcp_and_ws("auth_token", 50, |seed| {
        let w = auth_world(
            seed,
            "nats://s0:4222",
            ServerAuth::Token("tok".into()),
            Auth::Token("tok".into()),
            true,
        );
        assert_eq!(
            w.cluster.servers[0].last_connect().unwrap()["auth_token"],
            "tok"
        );
    });
}

#[test]
fn auth_user_password() {
    for_seeds_tcp_and_ws("auth_user_password", 50, |seed| {
        let auth = Auth::UserPassword {
            user: "alice".into(),
            password: "s3cret".into(),
        };
        auth_world(seed, "nats://s0:4222", user_pass(), auth, true);
    });
}

#[test]
fn auth_url_credentials() {
    for_seeds_tcp_and_ws("auth_url_credentials", 50, |seed| {
        auth_world(
            seed,
            "nats://alice:s3cret@s0:4222",
            user_pass(),
            Auth::None,
            true,
        );
        auth_world(
            seed,
            "nats://tok@s0:4222",
            ServerAuth::Token("tok".into()),
            Auth::None,
            true,
        );
    });
}

fn key(kind: nkeys::KeyPairType, seed: u64) -> nkeys::KeyPair {
    let mut raw = [7u8; 32];
    raw[..8].copy_from_slice(&seed.to_le_bytes());
    raw[8] = kind.clone() as u8;
    nkeys::KeyPair::new_from_raw(kind, raw).expect("key pair")
}

#[test]
fn auth_nkey() {
    for_seeds_tcp_and_ws("auth_nkey", 50, |seed| {
        let user = key(nkeys::KeyPairType::User, seed);
        let w = auth_world(
            seed,
            "nats://s0:4222",
            ServerAuth::NKey {
                public: user.public_key(),
            },
            Auth::NKey {
                seed: user.seed().unwrap(),
            },
            true,
        );
        let connect = w.cluster.servers[0].last_connect().unwrap();
        assert_eq!(connect["nkey"], user.public_key().as_str());
        assert!(connect.get("jwt").is_none_or(|j| j.is_null()));
    });
}

/// A user JWT for `user`, signed by `account` (only `sub` matters to the simulated server).
fn user_jwt(user: &nkeys::KeyPair, account: &nkeys::KeyPair) -> String {
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let claims = serde_json::json!({
        "sub": user.public_key(),
        "iss": account.public_key(),
        "name": "sim",
        "nats": {"type": "user", "version": 2},
    });
    let claims = b64(claims.to_string().as_bytes());
    let signature = account
        .sign(format!("{header}.{claims}").as_bytes())
        .unwrap();
    format!("{header}.{claims}.{}", b64(&signature))
}

#[test]
fn auth_jwt() {
    for_seeds_tcp_and_ws("auth_jwt", 50, |seed| {
        let user = key(nkeys::KeyPairType::User, seed);
        let account = key(nkeys::KeyPairType::Account, seed);
        let jwt = user_jwt(&user, &account);
        let w = auth_world(
            seed,
            "nats://s0:4222",
            ServerAuth::Jwt {
                issuer: account.public_key(),
            },
            Auth::Jwt {
                jwt: jwt.clone(),
                seed: user.seed().unwrap(),
            },
            true,
        );
        let connect = w.cluster.servers[0].last_connect().unwrap();
        assert_eq!(connect["jwt"], jwt.as_str());
        assert!(connect.get("nkey").is_none_or(|k| k.is_null()));
    });
}

#[test]
fn auth_wrong_password_closes() {
    for_seeds_tcp_and_ws("auth_wrong_password_closes", 100, |seed| {
        let auth = Auth::UserPassword {
            user: "alice".into(),
            password: "wrong".into(),
        };
        let w = auth_world(seed, "nats://s0:4222", user_pass(), auth, false);
        let c = &w.clients[0];
        assert_eq!(
            c.count(|e| matches!(e, Event::Connection(ConnectionEvent::Connected { .. }))),
            0
        );
        let closed: Vec<_> = c
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Connection(ConnectionEvent::Closed { reason, .. }) => Some(reason.clone()),
                _ => None,
            })
            .collect();
        assert!(
            matches!(
                closed[..],
                [Some(ConnectionError::AuthorizationViolation(_))]
            ),
            "{}",
            w.event_log()
        );
        // One attempt only: the first connect gives up on refused credentials.
        assert_eq!(w.cluster.servers[0].accepted, 1);
    });
}

// ===================== keepalive =====================

#[test]
fn keepalive_pings_while_publishing() {
    for_seeds_tcp_and_ws("keepalive_pings_while_publishing", 100, |seed| {
        let mut w = World::connected(seed, |o| o.ping_interval = secs(1));
        let start = w.cluster.servers[0].log.len();
        for i in 0..100 {
            w.publish(0, "tick", format!("{i}"));
            w.run_for(ms(100));
        }
        let pings = w.cluster.servers[0].log[start..]
            .iter()
            .filter(|(_, op)| *op == ClientOp::Ping)
            .count();
        // One PING per interval over ten seconds, even though traffic never stopped.
        assert!((9..=10).contains(&pings), "{pings} pings");
        assert_eq!(w.cluster.servers[0].published("tick").len(), 100);
        // A server PING is answered.
        w.server_raw(0, b"PING\r\n");
        let before = w.cluster.servers[0].log.len();
        w.run_until("PONG", secs(1), |w| {
            w.cluster.servers[0].log[before..]
                .iter()
                .any(|(_, op)| *op == ClientOp::Pong)
        });
        assert_eq!(w.clients[0].events.len(), 1, "{}", w.event_log());
        w.assert_no_violations();
    });
}

/// A burst of large messages grows the client's read memory; once a keep-alive interval
/// passes with no message, it is let go (over the simulated link's chunking and delays, on
/// TCP and WebSocket), and a large message after it arrives whole.
#[test]
fn an_idle_interval_lets_the_read_memory_go() {
    for_seeds_tcp_and_ws("an_idle_interval_lets_the_read_memory_go", 15, |seed| {
        const LARGE: usize = 128 * 1024;
        let mut w = World::connected(seed, |o| o.ping_interval = secs(1));
        let big = w.subscribe(0, "big", None);
        for fill in 0..4u8 {
            w.publish(0, "big", vec![fill; LARGE]);
        }
        w.run_until("the burst", secs(10), |w| {
            w.clients[0].payloads(big).len() == 4
        });
        let burst = w.client(0).read_memory();
        assert!(
            burst >= LARGE,
            "a burst of 128 KiB messages holds {burst} bytes"
        );
        w.run_for(secs(3));
        let idle = w.client(0).read_memory();
        assert!(idle < 4096, "an idle client holds {idle} bytes");
        w.publish(0, "big", vec![9; LARGE]);
        w.run_until("a large message after", secs(10), |w| {
            w.clients[0].payloads(big).len() == 5
        });
        assert_eq!(w.clients[0].payloads(big)[4], vec![9; LARGE]);
        let dropped = w.clients[0].count(|e| {
            matches!(
                e,
                Event::Connection(
                    ConnectionEvent::Disconnected { .. } | ConnectionEvent::Closed { .. }
                )
            )
        });
        assert_eq!(dropped, 0, "{}", w.event_log());
        w.assert_no_violations();
    });
}

#[test]
fn stale_connection_reconnects() {
    for_seeds_tcp_and_ws("stale_connection_reconnects", 100, |seed| {
        let mut w = World::connected(seed, |o| {
            o.ping_interval = secs(1);
            o.max_pings_out = 2;
        });
        let t0 = w.elapsed();
        w.cluster.servers[0].answer_pings = false;
        w.run_until("disconnected", secs(10), |w| !w.is_connected(0));
        let stale_after = w.elapsed() - t0;
        assert!(
            stale_after >= secs(3) && stale_after <= secs(3) + ms(100),
            "stale after {stale_after:?}"
        );
        let c = &w.clients[0];
        assert!(
            c.events.iter().any(|(_, e)| matches!(
                e,
                Event::Connection(ConnectionEvent::Disconnected {
                    reason: ConnectionError::StaleConnection(2),
                    ..
                })
            )),
            "{}",
            w.event_log()
        );
        w.cluster.servers[0].answer_pings = true;
        w.run_until("reconnected", secs(10), |w| w.is_connected(0));
        assert_eq!(w.clients[0].conn.statistics().reconnects, 1);
        w.assert_no_violations();
    });
}

// ===================== request / reply =====================

fn responses(w: &World, c: usize) -> Vec<(RequestId, Result<Vec<u8>, RequestError>)> {
    w.clients[c]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Response { id, result } => Some((
                *id,
                result
                    .as_ref()
                    .map(|m| m.payload.to_vec())
                    .map_err(Clone::clone),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn request_reply_same_client() {
    for_seeds_tcp_and_ws("request_reply_same_client", 200, |seed| {
        let mut w = World::connected(seed, |_| {});
        let sid = w.subscribe(0, "svc", None);
        w.clients[0].responders.insert(sid);
        let id = w.with(0, |c, now| {
            c.request(now, "svc", None, "hi".into(), None).unwrap()
        });
        w.run_until("response", secs(5), |w| !responses(w, 0).is_empty());
        assert_eq!(responses(&w, 0), vec![(id, Ok(b"re:hi".to_vec()))]);
        w.assert_no_violations();
    });
}

#[test]
fn request_reply_two_clients() {
    for_seeds_tcp_and_ws("request_reply_two_clients", 200, |seed| {
        let mut w = World::connected(seed, |_| {});
        let responder = w.add_client("nats://s0:4222", |_| {});
        w.run_until("responder up", secs(5), |w| w.is_connected(responder));
        let sid = w.subscribe(responder, "svc.*", Some("workers"));
        w.clients[responder].responders.insert(sid);
        // The SUB must reach the server before the request does.
        w.flush(responder);
        let ids: Vec<RequestId> = (0..10)
            .map(|i| {
                w.with(0, |c, now| {
                    c.request(now, &format!("svc.{i}"), None, format!("q{i}").into(), None)
                        .unwrap()
                })
            })
            .collect();
        w.run_until("responses", secs(5), |w| responses(w, 0).len() == 10);
        let mut got = responses(&w, 0);
        got.sort_by_key(|(id, _)| *id);
        for (i, (id, result)) in got.into_iter().enumerate() {
            assert_eq!(id, ids[i]);
            assert_eq!(result, Ok(format!("re:q{i}").into_bytes()));
        }
        w.assert_no_violations();
    });
}

#[test]
fn request_timeout() {
    for_seeds_tcp_and_ws("request_timeout", 200, |seed| {
        let mut w = World::connected(seed, |_| {});
        // Someone listens (so no 503) but never answers.
        w.subscribe(0, "svc", None);
        let t0 = w.elapsed();
        let id = w.with(0, |c, now| {
            c.request(now, "svc", None, "hi".into(), Some(ms(500)))
                .unwrap()
        });
        w.run_until("response", secs(5), |w| !responses(w, 0).is_empty());
        assert_eq!(responses(&w, 0), vec![(id, Err(RequestError::TimedOut))]);
        assert_eq!(
            w.elapsed() - t0,
            ms(500),
            "timed out at the deadline exactly"
        );
    });
}

#[test]
fn no_responders() {
    for_seeds_tcp_and_ws("no_responders", 200, |seed| {
        let mut w = World::connected(seed, |_| {});
        let id = w.with(0, |c, now| {
            c.request(now, "nobody", None, "hi".into(), None).unwrap()
        });
        w.run_until("response", secs(5), |w| !responses(w, 0).is_empty());
        assert_eq!(
            responses(&w, 0),
            vec![(id, Err(RequestError::NoResponders))]
        );
        w.assert_no_violations();
    });
}

// ===================== reconnect =====================

/// Subscribes to `a` and to `b` limited to 5 messages, receives 2 on `b`, cuts the link,
/// publishes `n` messages to `a` while disconnected, and waits for the reconnect.
fn reconnect_world(seed: u64, n: usize) -> World {
    let mut w = World::connected(seed, |_| {});
    let a = w.subscribe(0, "a", None);
    let b = w.subscribe(0, "b", None);
    w.with(0, |c, _| c.unsubscribe_after(b, 5));
    w.publish(0, "b", "b0");
    w.publish(0, "b", "b1");
    w.run_until("2 on b", secs(5), |w| w.clients[0].payloads(b).len() == 2);
    w.cut(0);
    assert!(!w.is_connected(0));
    for i in 0..n {
        w.publish(0, "a", format!("a{i}"));
    }
    w.run_until("reconnected", secs(10), |w| w.is_connected(0));
    w.run_until("all delivered", secs(5), |w| {
        w.clients[0].payloads(a).len() >= n
    });
    w.run_for(ms(200));
    w
}

#[test]
fn reconnect_restores_subscriptions_then_replays() {
    for_seeds_tcp_and_ws(
        "reconnect_restores_subscriptions_then_replays",
        200,
        |seed| {
            let n = 20;
            let w = reconnect_world(seed, n);
            let (a, b) = (1, 2);
            let session = w.cluster.servers[0].latest_session();
            let first_pub = session
                .iter()
                .position(|op| matches!(op, ClientOp::Pub { .. }))
                .expect("replayed PUBs");
            let restore: Vec<&ClientOp> = session[..first_pub]
                .iter()
                .copied()
                .filter(|op| matches!(op, ClientOp::Sub { .. } | ClientOp::Unsub { .. }))
                .collect();
            let expected = [
                ClientOp::Sub {
                    subject: "a".into(),
                    queue: None,
                    sid: a.to_string(),
                },
                ClientOp::Sub {
                    subject: "b".into(),
                    queue: None,
                    sid: b.to_string(),
                },
                ClientOp::Unsub {
                    sid: b.to_string(),
                    max: Some(3),
                },
            ];
            assert_eq!(restore, expected.iter().collect::<Vec<_>>());
            let expected: Vec<Vec<u8>> = (0..n).map(|i| format!("a{i}").into_bytes()).collect();
            assert_eq!(
                w.clients[0].payloads(a),
                expected,
                "each exactly once, in order"
            );
            let stats = w.clients[0].conn.statistics();
            assert_eq!(stats.reconnects, 1);
            assert_eq!(stats.connects, 2);
            let c = &w.clients[0];
            assert_eq!(
                c.count(|e| matches!(e, Event::Connection(ConnectionEvent::Disconnected { .. }))),
                1
            );
            assert_eq!(
                c.count(|e| matches!(e, Event::Connection(ConnectionEvent::Reconnected { .. }))),
                1
            );
            w.assert_no_violations();
        },
    );
}

#[test]
fn reconnect_buffer_overflow() {
    for_seeds_tcp_and_ws("reconnect_buffer_overflow", 200, |seed| {
        let mut w = World::connected(seed, |o| o.reconnect_buffer_size = 200);
        let a = w.subscribe(0, "a", None);
        w.run_for(ms(50));
        w.cut(0);
        let mut accepted = 0;
        let err = loop {
            let payload = format!("m{accepted:03}-xxxxxxxxxx");
            match w.with(0, |c, _| c.publish("a", None, None, payload.into())) {
                Ok(()) => accepted += 1,
                Err(e) => break e,
            }
        };
        assert_eq!(err, PublishError::ReconnectBufferFull { limit: 200 });
        // Each frame is `PUB a 15\r\n` + 15 + CRLF = 27 bytes: 7 fit in 200.
        assert_eq!(accepted, 7);
        let again = w.with(0, |c, _| c.publish("a", None, None, "x".into()));
        assert!(again.is_err());
        w.run_until("reconnected", secs(10), |w| w.is_connected(0));
        w.run_for(ms(200));
        let expected: Vec<Vec<u8>> = (0..accepted)
            .map(|i| format!("m{i:03}-xxxxxxxxxx").into_bytes())
            .collect();
        assert_eq!(w.clients[0].payloads(a), expected);
        w.assert_no_violations();
    });
}

#[test]
fn disconnected_counts_unsent_messages() {
    for_seeds_tcp_and_ws("disconnected_counts_unsent_messages", 200, |seed| {
        let mut w = World::connected(seed, |_| {});
        for i in 0..5 {
            w.publish(0, "x", format!("sent{i}"));
        }
        w.block_writes(0, true);
        for i in 0..7 {
            w.publish(0, "x", format!("stuck{i}"));
        }
        w.cut(0);
        w.block_writes(0, false);
        let unsent: Vec<u64> = w.clients[0]
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Connection(ConnectionEvent::Disconnected {
                    unsent_messages, ..
                }) => Some(*unsent_messages),
                _ => None,
            })
            .collect();
        assert_eq!(unsent, vec![7], "{}", w.event_log());
        w.run_until("reconnected", secs(10), |w| w.is_connected(0));
        w.run_for(ms(200));
        // The stuck ones are gone for good (at-most-once), never replayed.
        let published = w.cluster.servers[0].published("x");
        assert!(published.len() <= 5);
        assert!(published.iter().all(|p| p.starts_with(b"sent")));
        assert_eq!(w.clients[0].conn.statistics().out_messages, 5);
        w.assert_no_violations();
    });
}

// ===================== cluster =====================

fn cluster_configs() -> Vec<ServerConfig> {
    let urls: Vec<String> = (0..3).map(|i| format!("s{i}:4222")).collect();
    (0..3)
        .map(|i| {
            let mut c = ServerConfig::new(&format!("s{i}"));
            c.connect_urls = urls.clone();
            c
        })
        .collect()
}

#[test]
fn discovery_and_failover() {
    for_seeds_tcp_and_ws("discovery_and_failover", 200, |seed| {
        let mut w = World::new(seed, cluster_configs());
        w.add_client("nats://s0:4222", |_| {});
        w.run_until("connected", secs(5), |w| w.is_connected(0));
        let discovered: Vec<String> = w.clients[0]
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Connection(ConnectionEvent::ServersDiscovered { servers }) => {
                    Some(servers.clone())
                }
                _ => None,
            })
            .flatten()
            .map(|s| format!("{}:{}", s.host(), s.port()))
            .collect();
        let mut sorted = discovered.clone();
        sorted.sort();
        assert_eq!(sorted, ["s1:4222", "s2:4222"]);
        let pool: Vec<String> = w.clients[0]
            .conn
            .servers()
            .iter()
            .map(|s| format!("{}:{}", s.host(), s.port()))
            .collect();
        for s in ["s0:4222", "s1:4222", "s2:4222"] {
            assert!(pool.contains(&s.to_owned()), "{pool:?}");
        }
        let sid = w.subscribe(0, "news", None);
        w.run_for(ms(50));
        // s0 dies for good.
        w.cluster.servers[0].down = true;
        w.cut(0);
        w.run_until("failed over", secs(30), |w| w.is_connected(0));
        let current = w.clients[0]
            .conn
            .current_server()
            .unwrap()
            .host()
            .to_owned();
        assert_ne!(current, "s0");
        w.flush(0);
        // A publisher on another node reaches the restored subscription through the cluster.
        let other = if current == "s1" { "s2" } else { "s1" };
        let p = w.add_client(&format!("nats://{other}:4222"), |_| {});
        w.run_until("publisher up", secs(5), |w| w.is_connected(p));
        w.publish(p, "news", "hello");
        w.run_until("delivered", secs(5), |w| {
            w.clients[0].payloads(sid).len() == 1
        });
        w.assert_no_violations();
    });
}

#[test]
fn lame_duck() {
    for_seeds_tcp_and_ws("lame_duck", 100, |seed| {
        let mut w = World::connected(seed, |_| {});
        w.cluster.send_info(0, serde_json::json!({"ldm": true}));
        w.server_raw(0, b"");
        w.run_until("lame duck", secs(5), |w| {
            w.clients[0].count(|e| matches!(e, Event::Connection(ConnectionEvent::LameDuck { .. })))
                == 1
        });
        w.run_for(ms(100));
        assert_eq!(
            w.clients[0]
                .count(|e| matches!(e, Event::Connection(ConnectionEvent::LameDuck { .. }))),
            1
        );
        assert!(w.is_connected(0));
    });
}

// ===================== flow =====================

#[test]
fn slow_consumer() {
    for_seeds_tcp_and_ws("slow_consumer", 100, |seed| {
        let mut w = World::connected(seed, |o| o.subscription_pending_messages = 10);
        // The application does not read this subscription while the flood arrives.
        let sid = w.with(0, |c, _| c.subscribe("flood", None).unwrap());
        let p = w.add_client("nats://s0:4222", |_| {});
        w.run_until("publisher up", secs(5), |w| w.is_connected(p));
        w.run_for(ms(50));
        let published = 100;
        for i in 0..published {
            w.publish(p, "flood", format!("{i}"));
        }
        w.run_until("all arrived", secs(5), |w| {
            w.clients[0]
                .conn
                .subscription_stats(sid)
                .is_some_and(|s| s.delivered == published)
        });
        let stats = w.clients[0].conn.subscription_stats(sid).unwrap();
        assert_eq!(stats.dropped, 90);
        assert_eq!(stats.pending_messages, 10);
        assert_eq!(w.clients[0].conn.statistics().dropped_messages, 90);
        assert_eq!(
            w.clients[0].count(|e| matches!(e, Event::Connection(ConnectionEvent::SlowConsumer { sid: s }) if *s == sid)),
            1
        );
        let mut read = 0;
        while let Delivery::Message(_) = w.with(0, |c, _| c.next_message(sid)) {
            read += 1;
        }
        assert_eq!(read + stats.dropped, published);
    });
}

#[test]
fn max_payload() {
    for_seeds_tcp_and_ws("max_payload", 50, |seed| {
        let mut config = ServerConfig::new("s0");
        config.max_payload = 1024;
        let mut w = World::new(seed, vec![config]);
        w.add_client("nats://s0:4222", |_| {});
        w.run_until("connected", secs(5), |w| w.is_connected(0));
        let big = w.with(0, |c, _| {
            c.publish("big", None, None, vec![0u8; 1025].into())
        });
        assert_eq!(
            big,
            Err(PublishError::MaxPayloadExceeded {
                size: 1025,
                max: 1024
            })
        );
        let mut headers = HeaderMap::new();
        headers.insert("K", "v");
        let with_headers = w.with(0, |c, _| {
            c.publish("big", None, Some(&headers), vec![0u8; 1020].into())
        });
        assert!(matches!(
            with_headers,
            Err(PublishError::MaxPayloadExceeded { max: 1024, .. })
        ));
        w.publish(0, "big", vec![0u8; 1024]);
        w.run_for(ms(100));
        let sent = w.cluster.servers[0].published("big");
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].len(), 1024);
        w.assert_no_violations();
    });
}

#[test]
fn flush_proves_delivery_to_server() {
    for_seeds_tcp_and_ws("flush_proves_delivery_to_server", 200, |seed| {
        let mut w = World::connected(seed, |_| {});
        for i in 0..10 {
            w.publish(0, "f", format!("{i}"));
        }
        let id = w.with(0, |c, now| c.flush(now, Some(secs(1))).unwrap());
        w.run_until("flushed", secs(5), |w| {
            w.clients[0].count(|e| matches!(e, Event::Flushed { .. })) == 1
        });
        assert_eq!(
            w.clients[0]
                .count(|e| matches!(e, Event::Flushed { id: f, result: Ok(()) } if *f == id)),
            1
        );
        assert_eq!(w.cluster.servers[0].published("f").len(), 10);
    });
}

#[test]
fn drain_delivers_in_flight_then_closes() {
    for_seeds_tcp_and_ws("drain_delivers_in_flight_then_closes", 200, |seed| {
        let mut w = World::connected(seed, |_| {});
        let sid = w.subscribe(0, "d", None);
        let p = w.add_client("nats://s0:4222", |_| {});
        w.run_until("publisher up", secs(5), |w| w.is_connected(p));
        w.run_for(ms(50));
        for i in 0..50 {
            w.publish(p, "d", format!("{i}"));
        }
        // Wait until the server routed them all: they are in flight to client 0.
        w.run_until("routed", secs(5), |w| {
            w.cluster.servers[0].published("d").len() == 50
        });
        w.with(0, |c, now| c.drain(now));
        w.run_until("closed", secs(5), |w| w.clients[0].conn.is_closed());
        let expected: Vec<Vec<u8>> = (0..50).map(|i| format!("{i}").into_bytes()).collect();
        assert_eq!(w.clients[0].payloads(sid), expected);
        let c = &w.clients[0];
        assert_eq!(
            c.count(|e| matches!(
                e,
                Event::SubscriptionClosed {
                    reason: SubscriptionEnd::Drained,
                    ..
                }
            )),
            1
        );
        assert!(matches!(
            c.events.last(),
            Some((
                _,
                Event::Connection(ConnectionEvent::Closed { reason: None, .. })
            ))
        ));
        w.assert_no_violations();
    });
}

#[test]
fn garbage_from_server_reconnects() {
    for_seeds_tcp_and_ws("garbage_from_server_reconnects", 200, |seed| {
        let mut w = World::connected(seed, |_| {});
        let sid = w.subscribe(0, "g", None);
        w.run_for(ms(50));
        w.server_raw(0, b"MSG g 1 2\r\nhelloooo\r\nFOO BAR\r\n");
        w.run_until("disconnected", secs(5), |w| !w.is_connected(0));
        assert!(
            w.clients[0].events.iter().any(|(_, e)| matches!(
                e,
                Event::Connection(ConnectionEvent::Disconnected {
                    reason: ConnectionError::Protocol(_),
                    ..
                })
            )),
            "{}",
            w.event_log()
        );
        w.run_until("reconnected", secs(10), |w| w.is_connected(0));
        w.publish(0, "g", "after");
        w.run_until("works again", secs(5), |w| {
            w.clients[0]
                .payloads(sid)
                .last()
                .is_some_and(|p| p == b"after")
        });
        w.assert_no_violations();
    });
}

// ===================== reproducibility =====================

#[test]
fn same_seed_same_run() {
    for_seeds_tcp_and_ws("same_seed_same_run", 50, |seed| {
        let a = reconnect_world(seed, 10);
        let b = reconnect_world(seed, 10);
        assert_eq!(a.event_log(), b.event_log());
        assert_eq!(
            format!("{:?}", a.cluster.servers[0].log),
            format!("{:?}", b.cluster.servers[0].log)
        );
        assert_eq!(a.elapsed(), b.elapsed());
    });
}

// ===================== more faults =====================

#[test]
fn drain_subscription_survives_disconnect() {
    for_seeds_tcp_and_ws("drain_subscription_survives_disconnect", 100, |seed| {
        let mut w = World::connected(seed, |_| {});
        let sid = w.subscribe(0, "ds", None);
        w.flush(0);
        w.with(0, |c, now| c.drain_subscription(now, sid));
        // The link drops before the drain's PONG can come back.
        w.cut(0);
        w.run_until("reconnected", secs(10), |w| w.is_connected(0));
        w.run_for(secs(1));
        let session = w.cluster.servers[0].latest_session();
        let resubscribed = session
            .iter()
            .any(|op| matches!(op, ClientOp::Sub { sid: s, .. } if *s == sid.to_string()));
        assert!(
            !resubscribed,
            "a subscription being drained was subscribed again after the reconnect"
        );
        assert_eq!(
            w.clients[0].count(|e| matches!(
                e,
                Event::SubscriptionClosed {
                    reason: SubscriptionEnd::Drained,
                    ..
                }
            )),
            1,
            "the drained subscription never ended\n{}",
            w.event_log()
        );
    });
}

#[test]
fn request_while_disconnected_is_answered_after_reconnect() {
    for_seeds_tcp_and_ws(
        "request_while_disconnected_is_answered_after_reconnect",
        200,
        |seed| {
            let mut w = World::connected(seed, |_| {});
            let responder = w.add_client("nats://s0:4222", |_| {});
            w.run_until("responder up", secs(5), |w| w.is_connected(responder));
            let sid = w.subscribe(responder, "svc", None);
            w.clients[responder].responders.insert(sid);
            w.flush(responder);
            w.cut(0);
            let id = w.with(0, |c, now| {
                c.request(now, "svc", None, "late".into(), Some(secs(5)))
                    .unwrap()
            });
            w.run_until("response", secs(10), |w| !responses(w, 0).is_empty());
            assert_eq!(responses(&w, 0), vec![(id, Ok(b"re:late".to_vec()))]);
            w.assert_no_violations();
        },
    );
}

#[test]
fn echo_off_is_honoured() {
    for_seeds_tcp_and_ws("echo_off_is_honoured", 50, |seed| {
        let mut w = World::connected(seed, |o| o.echo = false);
        assert_eq!(w.cluster.servers[0].last_connect().unwrap()["echo"], false);
        let sid = w.subscribe(0, "self", None);
        w.publish(0, "self", "me");
        w.flush(0);
        w.run_for(ms(100));
        assert!(w.clients[0].payloads(sid).is_empty());
    });
}

#[test]
fn refused_reconnects_back_off_then_succeed() {
    for_seeds_tcp_and_ws("refused_reconnects_back_off_then_succeed", 200, |seed| {
        let mut w = World::connected(seed, |_| {});
        let refuse = secs(3);
        w.cluster.servers[0].refuse_until = w.elapsed() + refuse;
        let accepted = w.cluster.servers[0].accepted;
        let t0 = w.elapsed();
        w.cut(0);
        w.run_until("reconnected", secs(20), |w| w.is_connected(0));
        let took = w.elapsed() - t0;
        // Back-off doubles to 4 s at most (plus up to 100 ms jitter and the handshake).
        assert!(took >= refuse && took < refuse + secs(5), "took {took:?}");
        // Refused attempts never reached the server; exactly one more connection did.
        assert_eq!(w.cluster.servers[0].accepted, accepted + 1);
        assert_eq!(w.clients[0].conn.statistics().reconnects, 1);
    });
}

#[test]
fn max_reconnects_exhausted_closes() {
    for_seeds_tcp_and_ws("max_reconnects_exhausted_closes", 100, |seed| {
        let mut w = World::connected(seed, |o| o.max_reconnects = Some(3));
        w.cluster.servers[0].down = true;
        w.cut(0);
        w.run_until("closed", secs(60), |w| w.clients[0].conn.is_closed());
        let c = &w.clients[0];
        assert!(
            matches!(
                c.events.last(),
                Some((
                    _,
                    Event::Connection(ConnectionEvent::Closed {
                        reason: Some(ConnectionError::MaxReconnects(_)),
                        ..
                    })
                ))
            ),
            "{}",
            w.event_log()
        );
    });
}

#[test]
fn hung_server_times_out_the_connect() {
    for_seeds_tcp_and_ws("hung_server_times_out_the_connect", 100, |seed| {
        let mut w = World::new(seed, vec![ServerConfig::new("s0")]);
        w.cluster.servers[0].mute = true;
        w.add_client("nats://s0:4222", |o| {
            o.connect_timeout = secs(2);
            o.retry_on_initial_connect = true;
        });
        w.run_for(secs(1));
        w.cluster.servers[0].mute = false;
        w.run_until("connected", secs(10), |w| w.is_connected(0));
        // The hung attempt was abandoned at the connect timeout, not earlier.
        assert!(w.elapsed() >= secs(2), "connected at {:?}", w.elapsed());
        assert!(w.cluster.servers[0].accepted >= 2);
        w.assert_no_violations();
    });
}

#[test]
fn short_stall_is_tolerated_long_stall_is_stale() {
    for_seeds_tcp_and_ws(
        "short_stall_is_tolerated_long_stall_is_stale",
        100,
        |seed| {
            let mut w = World::connected(seed, |o| {
                o.ping_interval = secs(1);
                o.max_pings_out = 2;
            });
            w.stall(0, ms(2500));
            w.run_for(secs(5));
            assert_eq!(
                w.clients[0].count(|e| matches!(
                    e,
                    Event::Connection(ConnectionEvent::Disconnected { .. })
                )),
                0,
                "{}",
                w.event_log()
            );
            w.stall(0, secs(10));
            w.run_until("stale", secs(5), |w| {
                w.clients[0].count(|e| {
                    matches!(
                        e,
                        Event::Connection(ConnectionEvent::Disconnected {
                            reason: ConnectionError::StaleConnection(_),
                            ..
                        })
                    )
                }) == 1
            });
        },
    );
}

#[test]
fn no_spurious_close_directives() {
    for_seeds_tcp_and_ws("no_spurious_close_directives", 50, |seed| {
        // Refused credentials and a garbage-induced reconnect both close sockets.
        let auth = Auth::UserPassword {
            user: "alice".into(),
            password: "wrong".into(),
        };
        let w = auth_world(seed, "nats://s0:4222", user_pass(), auth, false);
        assert_eq!(w.clients[0].spurious_closes, 0, "Close without a socket");
    });
}

#[test]
fn buffered_headers_to_a_server_without_headers() {
    for_seeds_tcp_and_ws("buffered_headers_to_a_server_without_headers", 50, |seed| {
        let mut config = ServerConfig::new("s0");
        config.headers = false;
        let mut w = World::new(seed, vec![config]);
        w.add_client("nats://s0:4222", |_| {});
        // Published before the first INFO said the server has no header support.
        let mut headers = HeaderMap::new();
        headers.insert("K", "v");
        let early = w.with(0, |c, _| c.publish("h", None, Some(&headers), "x".into()));
        w.run_until("connected", secs(5), |w| w.is_connected(0));
        w.run_for(ms(100));
        if early.is_ok() {
            w.assert_no_violations();
        }
    });
}

#[test]
fn url_credentials_follow_failover_to_discovered_servers() {
    for_seeds_tcp_and_ws(
        "url_credentials_follow_failover_to_discovered_servers",
        20,
        |seed| {
            let configs = cluster_configs()
                .into_iter()
                .map(|mut c| {
                    c.auth = user_pass();
                    c
                })
                .collect();
            let mut w = World::new(seed, configs);
            w.add_client("nats://alice:s3cret@s0:4222", |_| {});
            w.run_until("connected", secs(5), |w| w.is_connected(0));
            w.cluster.servers[0].down = true;
            w.cut(0);
            w.run_until("failed over", secs(30), |w| w.is_connected(0));
        },
    );
}

#[test]
fn permission_violation_ends_only_that_subscription() {
    for_seeds_tcp_and_ws(
        "permission_violation_ends_only_that_subscription",
        50,
        |seed| {
            let mut w = World::connected(seed, |_| {});
            let denied = w.subscribe(0, "secret.>", None);
            let allowed = w.subscribe(0, "public", None);
            w.flush(0);
            w.cluster.send_err(
                0,
                "Permissions Violation for Subscription to \"secret.>\"",
                false,
            );
            w.server_raw(0, b"");
            w.run_until("ended", secs(5), |w| {
            w.clients[0].count(|e| {
                matches!(e, Event::SubscriptionClosed { sid, reason: SubscriptionEnd::PermissionDenied(_) } if *sid == denied)
            }) == 1
        });
            assert!(w.is_connected(0));
            w.publish(0, "public", "still here");
            w.run_until("delivered", secs(5), |w| {
                w.clients[0].payloads(allowed).len() == 1
            });
        },
    );
}
