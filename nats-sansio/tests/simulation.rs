//! Deterministic simulation of the `Connection` machine against simulated servers over a
//! virtual network (latency, arbitrary chunking, short writes, cuts, stalls, refusals).
//!
//! Every scenario runs over many seeds. A failure prints `SEED=<n>`; replay just that seed with
//! `SIM_SEED=<n> cargo test -p nats-sansio --test simulation <scenario>`.

mod sim;

use nats_sansio::Event;
use sim::server::{ClientOp, ServerConfig};
use sim::{for_seeds, ms, secs, World};

#[test]
fn handshake() {
    for_seeds("handshake", 200, |seed| {
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
        assert_eq!(c.count(|e| matches!(e, Event::Connected { .. })), 1);
        assert_eq!(c.events.len(), 1, "{}", w.event_log());
        w.run_for(ms(100));
        w.assert_no_violations();
    });
}
