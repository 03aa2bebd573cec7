//! Deterministic simulation of service discovery: several service instances, each on its own
//! simulated client, answer their verb subjects through a small driver that only calls the
//! core's `Service` functions, while a requester gathers PING answers with the `RequestMany`
//! machine over the faulty virtual network (latency, chunking, stalled and cut instance
//! links).
//!
//! Every scenario runs over many seeds. A failure prints `SEED=<n>`; replay just that seed with
//! `SIM_SEED=<n> cargo test -p nats-sansio --features service --test simulation_service <scenario>`.

#![cfg(feature = "service")]

mod sim;

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use nats_sansio::connection::Sid;
use nats_sansio::proto::Message;
use nats_sansio::request_many::{End, RequestMany, RequestManyError, RequestManyOptions};
use nats_sansio::rng::Rng;
use nats_sansio::service::{
    started_at, verb_subject, Config, EndpointConfig, PingResponse, Service, Verb, VerbResponse,
};
use nats_sansio::Event;
use sim::app::{App, AppCx};
use sim::machine_app::{Handler, MachineApp};
use sim::server::ServerConfig;
use sim::{for_seeds, ms, secs, World};

const NAME: &str = "svc";
/// The requesting client; the instances are the clients after it.
const REQUESTER: usize = 0;

// ===================== the service driver =====================

/// One service instance on a simulated client: subscribes the nine verb subjects and
/// publishes what `Service::respond` returns. It decides nothing itself.
#[derive(Debug)]
struct ServiceApp {
    service: Service,
    /// Verb messages answered, by verb.
    answered: BTreeMap<Verb, usize>,
}

impl ServiceApp {
    fn new(id: &str) -> ServiceApp {
        let mut service = Service::new(
            Config::new(NAME, "1.0.0"),
            id,
            started_at(1_700_000_000_000_000_000).unwrap(),
        )
        .expect("valid service");
        service
            .add_endpoint(None, EndpointConfig::new("echo"))
            .unwrap();
        ServiceApp {
            service,
            answered: BTreeMap::new(),
        }
    }
}

impl App for ServiceApp {
    fn start(&mut self, cx: &mut AppCx<'_>) {
        for (_, subject) in self.service.verb_subjects() {
            cx.subscribe(&subject);
        }
    }

    fn on_event(&mut self, _cx: &mut AppCx<'_>, _event: &Event) {}

    fn on_message(&mut self, cx: &mut AppCx<'_>, _sid: Sid, message: Message) {
        let Some(reply) = self.service.respond(&message, |_| None) else {
            return;
        };
        let verb = Verb::of_subject("$SRV", &message.subject).map(|v| v.0);
        *self.answered.entry(verb.expect("a verb")).or_default() += 1;
        // Refused only when closed; a lost answer is the requester's timeout to notice.
        let _ = cx.conn.publish(
            &reply.subject,
            reply.reply.as_deref(),
            reply.headers.as_ref(),
            reply.payload,
        );
    }

    fn on_timeout(&mut self, _cx: &mut AppCx<'_>) {}

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The requester's application: notes when each reply was delivered.
#[derive(Debug, Default)]
struct Timed {
    at: Vec<Instant>,
}

impl Handler<Message> for Timed {
    fn on_item(&mut self, cx: &mut AppCx<'_>, _item: &Message) {
        self.at.push(cx.now);
    }
}

type Gather = MachineApp<RequestMany, Timed>;

// ===================== helpers =====================

fn id_of(instance: usize) -> String {
    format!("ID{instance}")
}

/// A server, the requester and `n` service instances with their verb subscriptions at the
/// server.
fn service_world(seed: u64, n: usize) -> World {
    let mut w = World::new(seed, vec![ServerConfig::new("s0")]);
    for _ in 0..=n {
        w.add_client("nats://s0:4222", |_| {});
    }
    w.run_until("connected", secs(5), |w| (0..=n).all(|c| w.is_connected(c)));
    for c in 1..=n {
        w.set_app(c, ServiceApp::new(&id_of(c)));
        w.flush(c);
    }
    w
}

/// What happens to an instance's link as the request goes out.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// A stall the answer outlives within the window.
    ShortStall(Duration),
    /// A stall past the total timeout: the answer comes too late.
    LongStall(Duration),
    /// The socket is cut: the instance reconnects and may or may not have seen the request.
    Cut,
}

fn fault(rng: &mut Rng) -> Fault {
    match rng.below(20) {
        0..10 => Fault::None,
        10..14 => Fault::ShortStall(rng.duration(ms(20), ms(1500))),
        14..17 => Fault::LongStall(rng.duration(secs(6), secs(8))),
        _ => Fault::Cut,
    }
}

/// The stop conditions under test.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Total timeout only.
    Timeout,
    /// Stall window after each answer.
    Stall,
    /// As many answers as instances.
    Max,
}

const TIMEOUT: Duration = Duration::from_secs(5);
const STALL: Duration = Duration::from_millis(2000);

fn options(mode: Mode, n: usize) -> RequestManyOptions {
    let mut o = RequestManyOptions {
        timeout: TIMEOUT,
        ..RequestManyOptions::default()
    };
    match mode {
        Mode::Timeout => {}
        Mode::Stall => o.stall = Some(STALL),
        Mode::Max => o.max_messages = Some(n),
    }
    o
}

fn gather(w: &mut World, subject: &str, options: RequestManyOptions) -> Instant {
    let started = w.clock.now();
    let subject = subject.to_owned();
    w.set_app(
        REQUESTER,
        MachineApp::new(
            move |cx| {
                let inbox = cx.conn.new_inbox();
                RequestMany::new(cx.now, &inbox, &subject, None, Bytes::new(), options)
                    .expect("valid request")
            },
            Timed::default(),
        ),
    );
    started
}

// ===================== discovery =====================

/// Two to five instances, some with stalled or cut links, answer a PING gathered with a total
/// timeout, a stall window or a count: every answer is a well-formed PING of a distinct
/// instance, no instance answers twice, every unfaulted or briefly stalled instance (for less
/// than the stall window) is found, none stalled past the timeout is, and
/// the call ends exactly when its stop condition says.
#[test]
fn request_many_gathers_each_reachable_instance_once_across_faults() {
    for_seeds(
        "request_many_gathers_each_reachable_instance_once_across_faults",
        200,
        |seed| {
            let mut rng = Rng::new(seed ^ 0x5E4_71CE);
            let n = rng.range(2, 5) as usize;
            let mut w = service_world(seed, n);
            let mode = [Mode::Timeout, Mode::Stall, Mode::Max][rng.below(3) as usize];
            let faults: Vec<Fault> = (0..=n).map(|_| fault(&mut rng)).collect();
            let subject = match rng.below(2) {
                0 => verb_subject(None, Verb::Ping, None, None).unwrap(),
                _ => verb_subject(None, Verb::Ping, Some(NAME), None).unwrap(),
            };
            for (c, fault) in faults.iter().enumerate().skip(1) {
                match *fault {
                    Fault::None => {}
                    Fault::ShortStall(d) | Fault::LongStall(d) => w.stall(c, d),
                    Fault::Cut => w.cut(c),
                }
            }
            let started = gather(&mut w, &subject, options(mode, n));
            w.run_until("the gather ends", secs(30), |w| {
                w.app::<Gather>(REQUESTER).finished
            });
            let ended = w.clock.now();
            // Late answers must not be delivered after the end.
            w.run_for(secs(10));
            check(&w, n, mode, &faults, started, ended);
            w.assert_no_violations();
        },
    );
}

fn check(w: &World, n: usize, mode: Mode, faults: &[Fault], started: Instant, ended: Instant) {
    let seed = w.seed;
    assert_eq!(faults.len(), n + 1, "one fault per client");
    let app = w.app::<Gather>(REQUESTER);
    let machine = app.machine();
    assert!(app.errors.is_empty(), "SEED={seed}: {:?}", app.errors);
    let ids: Vec<String> = app
        .delivered
        .iter()
        .map(|m| {
            let ping = PingResponse::from_message(m)
                .unwrap_or_else(|e| panic!("SEED={seed}: not a PING answer: {e}"));
            assert_eq!(ping.name, NAME, "SEED={seed}");
            assert_eq!(ping.version, "1.0.0", "SEED={seed}");
            ping.id
        })
        .collect();
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        distinct.len(),
        ids.len(),
        "SEED={seed}: {ids:?} has a repeat"
    );
    assert_eq!(machine.received(), ids.len(), "SEED={seed}");
    for (c, fault) in faults.iter().enumerate().skip(1) {
        let answered = w.app::<ServiceApp>(c).answered.get(&Verb::Ping).copied();
        assert!(
            answered.unwrap_or(0) <= 1,
            "SEED={seed}: instance {c} answered twice"
        );
        let found = distinct.contains(&id_of(c));
        let must = match fault {
            // Stalled for less than the stall window, and well within the timeout.
            Fault::None | Fault::ShortStall(_) => Some(true),
            Fault::LongStall(_) => Some(false),
            Fault::Cut => None,
        };
        if let Some(must) = must {
            assert_eq!(
                found, must,
                "SEED={seed}: instance {c} ({fault:?}, {mode:?}) found: {found}"
            );
        }
        if found {
            assert_eq!(
                answered,
                Some(1),
                "SEED={seed}: {c} found but never answered"
            );
        }
    }
    // The end came exactly when its condition said, and never after the total timeout.
    let took = ended - started;
    assert!(took <= TIMEOUT, "SEED={seed}: took {took:?}");
    let last = app.handler.at.last().copied();
    match machine.end() {
        Some(End::TimedOut) => {
            assert_eq!(took, TIMEOUT, "SEED={seed}");
            if let Mode::Max = mode {
                assert!(ids.len() < n, "SEED={seed}");
            }
        }
        Some(End::Stalled) => {
            assert!(matches!(mode, Mode::Stall), "SEED={seed}");
            let last = last.expect("a stall follows an answer");
            assert_eq!(ended, last + STALL, "SEED={seed}");
        }
        Some(End::MaxMessages) => {
            assert!(matches!(mode, Mode::Max), "SEED={seed}");
            assert_eq!(ids.len(), n, "SEED={seed}");
            assert_eq!(Some(ended), last, "SEED={seed}: ends at the last answer");
        }
        other => panic!("SEED={seed}: ended with {other:?}"),
    }
}

/// Nobody serves the subject: the gather ends at once with `NoResponders`, whatever the stop
/// conditions, long before its timeout.
#[test]
fn request_many_without_responders_fails_at_once() {
    for_seeds(
        "request_many_without_responders_fails_at_once",
        50,
        |seed| {
            let mut w = service_world(seed, 1);
            let subject = verb_subject(None, Verb::Ping, Some("nobody"), None).unwrap();
            let started = gather(&mut w, &subject, options(Mode::Stall, 3));
            w.run_until("the gather ends", secs(30), |w| {
                w.app::<Gather>(REQUESTER).finished
            });
            let app = w.app::<Gather>(REQUESTER);
            assert_eq!(app.errors, [RequestManyError::NoResponders], "SEED={seed}");
            assert!(app.delivered.is_empty(), "SEED={seed}");
            assert_eq!(app.machine().end(), Some(End::Failed), "SEED={seed}");
            assert!(w.clock.now() - started < secs(1), "SEED={seed}");
            w.assert_no_violations();
        },
    );
}
