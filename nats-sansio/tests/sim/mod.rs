//! The deterministic simulation harness: `Connection`s and simulated servers over a virtual
//! network and clock, in the shape of quinn's `Pair` (`step`, bounded drive).
//!
//! Invariants:
//! - The driver keeps the machine's run-loop contract: after every input or command it drains
//!   `poll_directive`, `poll_transmit` and `poll_event`; it calls `handle_timeout` when
//!   `poll_timeout` is due; it never calls `handle_disconnected` for a socket the machine
//!   closed, and it panics if the machine asks to connect while a socket is still open.
//! - Time advances only in [`World::step`], to the earliest of every client's `poll_timeout`,
//!   every app's `poll_timeout`, the cluster's (JetStream) `poll_timeout`, every pending
//!   connect and every pipe's next delivery, so nothing ever fires late.
//! - A client may run an [`App`] (`app.rs`); the world hands it every event and the messages
//!   of its subscriptions, and drains the connection after every call into it.
//! - Everything random comes from the seed; the same seed yields the same event log.
//! - A run that makes no progress, or too many steps at one instant, panics with `SEED=<n>`.

#![allow(dead_code)]

pub(crate) mod acker;
pub(crate) mod api;
pub(crate) mod app;
pub(crate) mod jetstream;
pub(crate) mod machine_app;
pub(crate) mod net;
pub(crate) mod server;
pub(crate) mod websocket;

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Duration;

use bytes::{Buf, Bytes};
use nats_sansio::connection::{Delivery, Options, Sid};
use nats_sansio::proto::Message;
use nats_sansio::{Connection, Directive, Event};

use app::{App, AppCx};
use net::{Clock, NetProfile, Pipe, Rng, Segment};
use server::{Cluster, ConnId, ServerConfig};
use websocket::WsGateway;

thread_local! {
    /// Clients of worlds built on this thread reach their servers over WebSocket.
    static OVER_WEBSOCKET: Cell<bool> = const { Cell::new(false) };
}

/// Steps allowed at one virtual instant before the run counts as a livelock.
const MAX_STEPS_PER_INSTANT: u32 = 100_000;

/// Runs `scenario` once per seed (or only `SIM_SEED`), saying which seed failed.
pub(crate) fn for_seeds(name: &str, count: u64, scenario: impl Fn(u64)) {
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(s) => vec![s.trim().parse().expect("SIM_SEED must be a number")],
        Err(_) => (0..count).collect(),
    };
    for seed in seeds {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| scenario(seed))) {
            eprintln!(
                "SEED={seed} failed; replay with: \
                 SIM_SEED={seed} cargo test -p nats-sansio --test {} {name}",
                env!("CARGO_CRATE_NAME")
            );
            resume_unwind(panic);
        }
    }
}

/// Runs `scenario` once per seed over plain TCP, then once per seed over WebSocket (every
/// `nats://` URL a client is given becomes `ws://`, and each socket gets a [`WsGateway`]).
pub(crate) fn for_seeds_tcp_and_ws(name: &str, count: u64, scenario: impl Fn(u64)) {
    for_seeds(name, count, &scenario);
    OVER_WEBSOCKET.with(|ws| ws.set(true));
    let result = catch_unwind(AssertUnwindSafe(|| for_seeds(name, count, &scenario)));
    OVER_WEBSOCKET.with(|ws| ws.set(false));
    if let Err(panic) = result {
        eprintln!("(over WebSocket)");
        resume_unwind(panic);
    }
}

/// One simulated application: a `Connection`, its socket, and what it observed.
pub(crate) struct Client {
    pub(crate) conn: Connection,
    /// Every event, with the virtual time it was polled at.
    pub(crate) events: Vec<(Duration, Event)>,
    /// Subscriptions whose messages the application reads as soon as they are ready.
    pub(crate) consume: BTreeSet<Sid>,
    /// Messages read from `consume` subscriptions.
    pub(crate) inbox: BTreeMap<Sid, Vec<Message>>,
    /// Subscriptions that answer every request with `re:<payload>`.
    pub(crate) responders: BTreeSet<Sid>,
    /// The application riding on `conn`, if any.
    pub(crate) app: Option<Box<dyn App>>,
    /// The app's subscriptions: their messages go to it.
    pub(crate) app_subs: BTreeSet<Sid>,
    /// `Directive::Close` received with no socket open or opening (reported, not fatal).
    pub(crate) spurious_closes: u32,
    /// The socket's send buffer is full: the driver writes nothing while set.
    pub(crate) write_blocked: bool,
    link: Option<ConnId>,
    /// A connect in progress: when it resolves, to which `host:port`, and whether over
    /// WebSocket.
    connecting: Option<(Duration, String, bool)>,
    profile: NetProfile,
}

impl Client {
    /// Events matching `f`.
    pub(crate) fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| f(e)).count()
    }

    /// Payloads read from a consumed subscription.
    pub(crate) fn payloads(&self, sid: Sid) -> Vec<Vec<u8>> {
        self.inbox
            .get(&sid)
            .map(|ms| ms.iter().map(|m| m.payload.to_vec()).collect())
            .unwrap_or_default()
    }
}

/// A socket between a client and a server.
struct Link {
    client: usize,
    c2s: Pipe,
    s2c: Pipe,
    /// The server side still reads (no EOF from the client and not closed by the server).
    server_open: bool,
    /// The client still owns this socket.
    client_open: bool,
    /// The server side of a WebSocket socket.
    ws: Option<WsGateway>,
}

/// The whole simulated system.
pub(crate) struct World {
    pub(crate) seed: u64,
    pub(crate) clock: Clock,
    pub(crate) rng: Rng,
    pub(crate) cluster: Cluster,
    pub(crate) clients: Vec<Client>,
    links: BTreeMap<ConnId, Link>,
    next_link: ConnId,
    /// Steps taken at the current instant (livelock detection).
    steps_here: u32,
}

impl World {
    /// A world with these servers (`s0:4222`, `s1:4222`, ...) and no client yet.
    pub(crate) fn new(seed: u64, servers: Vec<ServerConfig>) -> World {
        World {
            seed,
            clock: Clock::new(),
            // Apart from the clients' own seeds, which derive from the same test seed.
            rng: Rng::new(seed ^ 0x5EED_5EED),
            cluster: Cluster::new(servers, seed),
            clients: Vec::new(),
            links: BTreeMap::new(),
            next_link: 1,
            steps_here: 0,
        }
    }

    /// A world with one default server and one client connected to it.
    pub(crate) fn connected(seed: u64, tweak: impl FnOnce(&mut Options)) -> World {
        let mut w = World::new(seed, vec![ServerConfig::new("s0")]);
        w.add_client("nats://s0:4222", tweak);
        w.run_until("connected", secs(5), |w| w.is_connected(0));
        w
    }

    /// Adds a client for `urls`, with the world's seed and a random network profile.
    pub(crate) fn add_client(&mut self, urls: &str, tweak: impl FnOnce(&mut Options)) -> usize {
        let urls = if OVER_WEBSOCKET.with(Cell::get) {
            urls.replace("nats://", "ws://")
        } else {
            urls.to_owned()
        };
        let mut opts = Options::new(&urls).expect("server urls");
        opts.seed = Some(self.seed.wrapping_add(self.clients.len() as u64));
        tweak(&mut opts);
        let conn = Connection::new(opts, self.clock.now()).expect("options");
        let profile = NetProfile::random(&mut self.rng);
        self.clients.push(Client {
            conn,
            events: Vec::new(),
            consume: BTreeSet::new(),
            inbox: BTreeMap::new(),
            responders: BTreeSet::new(),
            app: None,
            app_subs: BTreeSet::new(),
            write_blocked: false,
            spurious_closes: 0,
            link: None,
            connecting: None,
            profile,
        });
        let c = self.clients.len() - 1;
        self.drain(c);
        c
    }

    /// Installs an application on client `c` and starts it.
    pub(crate) fn set_app(&mut self, c: usize, app: impl App + 'static) {
        let now = self.clock.now();
        let client = &mut self.clients[c];
        let app = client.app.insert(Box::new(app));
        app.start(&mut AppCx {
            conn: &mut client.conn,
            now,
            subs: &mut client.app_subs,
        });
        self.drain(c);
    }

    /// The app of client `c`, as the type it was installed with.
    pub(crate) fn app<A: App + 'static>(&self, c: usize) -> &A {
        self.clients[c]
            .app
            .as_ref()
            .and_then(|a| a.as_any().downcast_ref())
            .expect("an app of that type")
    }

    pub(crate) fn client(&mut self, c: usize) -> &mut Connection {
        &mut self.clients[c].conn
    }

    pub(crate) fn is_connected(&self, c: usize) -> bool {
        self.clients[c].conn.state() == nats_sansio::connection::ConnectionState::Connected
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    // ===================== commands, with the driver's obligations =====================

    /// Runs a command on a client's machine, then drains its outputs as the contract asks.
    pub(crate) fn with<T>(
        &mut self,
        c: usize,
        f: impl FnOnce(&mut Connection, std::time::Instant) -> T,
    ) -> T {
        let now = self.clock.now();
        let out = f(&mut self.clients[c].conn, now);
        self.drain(c);
        out
    }

    /// Subscribes and has the application read the messages as they come.
    pub(crate) fn subscribe(&mut self, c: usize, subject: &str, queue: Option<&str>) -> Sid {
        let sid = self.with(c, |conn, _| {
            conn.subscribe(subject, queue).expect("subscribe")
        });
        self.clients[c].consume.insert(sid);
        sid
    }

    /// Publishes, panicking on a refusal.
    pub(crate) fn publish(&mut self, c: usize, subject: &str, payload: impl Into<Bytes>) {
        let payload = payload.into();
        self.with(c, |conn, _| conn.publish(subject, None, None, payload))
            .expect("publish");
    }

    /// Flushes a client and runs until the server has answered: everything it sent before
    /// (SUBs included) has reached the server.
    pub(crate) fn flush(&mut self, c: usize) {
        let id = self.with(c, |conn, now| conn.flush(now, None).expect("flush"));
        self.run_until("flushed", secs(10), |w| {
            w.clients[c]
                .events
                .iter()
                .any(|(_, e)| matches!(e, Event::Flushed { id: f, result: Ok(()) } if *f == id))
        });
    }

    // ===================== faults =====================

    /// Cuts the client's socket: bytes in flight both ways are lost; both ends notice now.
    pub(crate) fn cut(&mut self, c: usize) {
        let Some(id) = self.clients[c].link.take() else {
            return;
        };
        self.links.remove(&id);
        self.cluster.disconnect(id);
        let now = self.clock.now();
        self.clients[c]
            .conn
            .handle_disconnected(now, "connection reset");
        self.drain(c);
    }

    /// Nothing moves on the client's socket, either way, for `d`.
    pub(crate) fn stall(&mut self, c: usize, d: Duration) {
        let until = self.clock.elapsed() + d;
        if let Some(link) = self.clients[c].link.and_then(|id| self.links.get_mut(&id)) {
            link.c2s.stall(until);
            link.s2c.stall(until);
        }
    }

    /// Blocks or unblocks the client's socket writes (a full send buffer).
    pub(crate) fn block_writes(&mut self, c: usize, blocked: bool) {
        self.clients[c].write_blocked = blocked;
        self.drain(c);
    }

    /// The server loses a JetStream consumer under its client (`notify`: with `409 Consumer
    /// Deleted` to its waiting pulls).
    pub(crate) fn lose_consumer(&mut self, stream: &str, name: &str, notify: bool) -> bool {
        let lost = self.cluster.lose_consumer(stream, name, notify);
        self.flush_servers();
        lost
    }

    /// Sends what the cluster queued, then lets the world run (for server-side faults).
    pub(crate) fn server_raw(&mut self, server: usize, bytes: &[u8]) {
        self.cluster.send_raw(server, bytes);
        self.flush_servers();
    }

    // ===================== running =====================

    /// Steps until `cond` holds; panics (with the seed) if `limit` of virtual time passes.
    pub(crate) fn run_until(&mut self, what: &str, limit: Duration, cond: impl Fn(&World) -> bool) {
        let deadline = self.clock.elapsed() + limit;
        while !cond(self) {
            if self.clock.elapsed() > deadline {
                panic!(
                    "SEED={}: `{what}` not reached within {limit:?} (at {:?})\n{}",
                    self.seed,
                    self.clock.elapsed(),
                    self.describe()
                );
            }
            self.step(deadline + Duration::from_nanos(1));
        }
    }

    /// Lets `d` of virtual time pass, doing everything due in it.
    pub(crate) fn run_for(&mut self, d: Duration) {
        let horizon = self.clock.elapsed() + d;
        while self.clock.elapsed() < horizon {
            self.step(horizon);
        }
        // Everything due exactly at the horizon.
        while self.step_now() {}
    }

    /// One step: do what is due now, or else move the clock to the next thing due (never
    /// past `horizon`).
    pub(crate) fn step(&mut self, horizon: Duration) {
        if self.step_now() {
            return;
        }
        let next = self.next_wakeup().unwrap_or(horizon).min(horizon);
        self.clock.advance_to(next.max(self.clock.elapsed()));
        self.steps_here = 0;
    }

    /// Does what is due at the current instant; false when nothing was.
    fn step_now(&mut self) -> bool {
        self.steps_here += 1;
        assert!(
            self.steps_here < MAX_STEPS_PER_INSTANT,
            "SEED={}: livelock: {} steps at {:?} without time advancing\n{}",
            self.seed,
            self.steps_here,
            self.clock.elapsed(),
            self.describe()
        );
        let now = self.clock.elapsed();
        self.cluster.now = now;
        let mut progressed = false;
        if self.cluster.poll_timeout().is_some_and(|t| t <= now) {
            self.cluster.handle_timeout(now);
            self.flush_servers();
            progressed = true;
        }
        for c in 0..self.clients.len() {
            if let Some((due, _, _)) = &self.clients[c].connecting {
                if *due <= now {
                    self.finish_connect(c);
                    progressed = true;
                }
            }
            let timeout = self.clients[c].conn.poll_timeout();
            if timeout.is_some_and(|t| self.clock.offset(t) <= now) {
                let now = self.clock.now();
                self.clients[c].conn.handle_timeout(now);
                self.drain(c);
                progressed = true;
            }
            let app_due = self.clients[c].app.as_ref().and_then(|a| a.poll_timeout());
            if app_due.is_some_and(|t| self.clock.offset(t) <= now) {
                let now = self.clock.now();
                let client = &mut self.clients[c];
                if let Some(app) = client.app.as_mut() {
                    app.on_timeout(&mut AppCx {
                        conn: &mut client.conn,
                        now,
                        subs: &mut client.app_subs,
                    });
                }
                self.drain(c);
                progressed = true;
            }
        }
        progressed |= self.deliver_due();
        progressed
    }

    fn next_wakeup(&self) -> Option<Duration> {
        let clients = self.clients.iter().flat_map(|c| {
            let timeout = c.conn.poll_timeout().map(|t| self.clock.offset(t));
            let app = c.app.as_ref().and_then(|a| a.poll_timeout());
            [
                timeout,
                app.map(|t| self.clock.offset(t)),
                c.connecting.as_ref().map(|(d, _, _)| *d),
            ]
        });
        let clients = clients.chain([self.cluster.poll_timeout()]);
        let pipes = self
            .links
            .values()
            .flat_map(|l| [l.c2s.next_delivery(), l.s2c.next_delivery()]);
        clients.chain(pipes).flatten().min()
    }

    /// Delivers every pipe segment due now; true when there was one.
    fn deliver_due(&mut self) -> bool {
        let now = self.clock.elapsed();
        let mut progressed = false;
        let ids: Vec<ConnId> = self.links.keys().copied().collect();
        for id in ids {
            while let Some(seg) = self.links.get_mut(&id).and_then(|l| l.c2s.pop_due(now)) {
                progressed = true;
                let Some(link) = self.links.get_mut(&id) else {
                    break;
                };
                if !link.server_open {
                    continue;
                }
                match seg {
                    Segment::Data(d) => match link.ws.as_mut() {
                        Some(ws) => {
                            let nats = ws.receive(&d);
                            assert!(
                                ws.violations.is_empty(),
                                "SEED={}: WebSocket violations: {:?}",
                                self.seed,
                                ws.violations
                            );
                            self.cluster.receive(id, &nats);
                        }
                        None => self.cluster.receive(id, &d),
                    },
                    Segment::Eof => {
                        link.server_open = false;
                        self.cluster.disconnect(id);
                    }
                }
                self.flush_servers();
            }
            while let Some(seg) = self.links.get_mut(&id).and_then(|l| l.s2c.pop_due(now)) {
                progressed = true;
                let Some(link) = self.links.get(&id) else {
                    break;
                };
                let c = link.client;
                if !link.client_open {
                    continue;
                }
                let at = self.clock.now();
                match seg {
                    Segment::Data(d) => self.clients[c].conn.handle_received(at, &d),
                    Segment::Eof => {
                        self.clients[c].link = None;
                        if let Some(l) = self.links.get_mut(&id) {
                            l.client_open = false;
                        }
                        self.clients[c]
                            .conn
                            .handle_disconnected(at, "closed by server");
                    }
                }
                self.drain(c);
            }
            let finished = self.links.get(&id).is_some_and(|l| {
                !l.client_open
                    && !l.server_open
                    && l.c2s.next_delivery().is_none()
                    && l.s2c.next_delivery().is_none()
            });
            if finished {
                self.links.remove(&id);
            }
        }
        progressed
    }

    /// Moves server output into the pipes; a server that closes sends EOF after it.
    fn flush_servers(&mut self) {
        let now = self.clock.elapsed();
        let ids: Vec<ConnId> = self.links.keys().copied().collect();
        for id in ids {
            let Some(link) = self.links.get_mut(&id) else {
                continue;
            };
            if !link.server_open {
                continue;
            }
            let (mut out, close) = self.cluster.take_output(id);
            let profile = self.clients[link.client].profile;
            if let Some(ws) = link.ws.as_mut() {
                out = ws.send(&out, &mut self.rng);
                if close {
                    out.extend(ws.close_frame());
                }
            }
            if !out.is_empty() {
                link.s2c.write(now, &out, &profile, &mut self.rng);
            }
            if close {
                link.server_open = false;
                link.s2c.close(now, &profile, &mut self.rng);
            }
        }
    }

    /// Drains a client's outputs, as the run-loop contract demands after every input.
    fn drain(&mut self, c: usize) {
        loop {
            let mut busy = false;
            while let Some(d) = self.clients[c].conn.poll_directive() {
                busy = true;
                self.on_directive(c, d);
            }
            self.transmit(c);
            while let Some(event) = self.clients[c].conn.poll_event() {
                busy = true;
                self.on_event(c, event);
            }
            if !busy {
                return;
            }
        }
    }

    fn on_directive(&mut self, c: usize, directive: Directive) {
        match directive {
            Directive::Connect { server } => {
                let client = &self.clients[c];
                assert!(
                    client.link.is_none() && client.connecting.is_none(),
                    "SEED={}: client {c} asked to connect while a socket is open or opening",
                    self.seed
                );
                let latency = client.profile.latency;
                let due = self.clock.elapsed() + latency;
                let host_port = format!("{}:{}", server.host(), server.port());
                self.clients[c].connecting = Some((due, host_port, server.is_websocket()));
            }
            Directive::Close => {
                // What the machine still holds goes out first (after a close: the last
                // publishes, and over WebSocket the close frame).
                if self.clients[c].link.is_some() {
                    self.transmit(c);
                }
                let opening = self.clients[c].connecting.take().is_some();
                let Some(id) = self.clients[c].link.take() else {
                    if !opening {
                        self.clients[c].spurious_closes += 1;
                    }
                    return;
                };
                let now = self.clock.elapsed();
                let profile = self.clients[c].profile;
                if let Some(link) = self.links.get_mut(&id) {
                    link.client_open = false;
                    link.c2s.close(now, &profile, &mut self.rng);
                }
            }
            // The simulated server asks for no credentials: answer at once with none.
            Directive::Authenticate { request, .. } => {
                let now = self.clock.now();
                self.clients[c].conn.handle_credentials(
                    now,
                    request,
                    Ok(nats_sansio::auth::AuthResponse::default()),
                );
            }
        }
    }

    fn finish_connect(&mut self, c: usize) {
        let Some((_, host_port, websocket)) = self.clients[c].connecting.take() else {
            return;
        };
        let now = self.clock.now();
        let server = self
            .cluster
            .find(&host_port)
            .filter(|&s| self.cluster.accepts(s, self.clock.elapsed()));
        let Some(server) = server else {
            self.clients[c]
                .conn
                .handle_connect_failed(now, "connection refused");
            self.drain(c);
            return;
        };
        let id = self.next_link;
        self.next_link += 1;
        self.links.insert(
            id,
            Link {
                client: c,
                c2s: Pipe::default(),
                s2c: Pipe::default(),
                server_open: true,
                client_open: true,
                ws: websocket.then(WsGateway::default),
            },
        );
        self.clients[c].link = Some(id);
        self.cluster.accept(server, id);
        self.clients[c].conn.handle_connected(now);
        self.drain(c);
        self.flush_servers();
    }

    /// Takes what the machine wants written, in writes of at most `max_write` bytes.
    fn transmit(&mut self, c: usize) {
        if self.clients[c].write_blocked {
            return;
        }
        let max_write = self.clients[c].profile.max_write;
        let mut wire = Vec::new();
        while let Some(buf) = self.clients[c].conn.poll_transmit() {
            let mut left = buf.remaining().min(max_write);
            assert!(
                left > 0,
                "SEED={}: poll_transmit returned an empty buffer",
                self.seed
            );
            while left > 0 {
                let chunk = buf.chunk();
                let n = chunk.len().min(left);
                wire.extend_from_slice(&chunk[..n]);
                buf.advance(n);
                left -= n;
            }
        }
        if wire.is_empty() {
            return;
        }
        let id = self.clients[c].link;
        let link = id.and_then(|id| self.links.get_mut(&id));
        let Some(link) = link else {
            panic!(
                "SEED={}: client {c} transmitted without a socket",
                self.seed
            );
        };
        let profile = self.clients[c].profile;
        link.c2s
            .write(self.clock.elapsed(), &wire, &profile, &mut self.rng);
    }

    /// Records an event; reads consumed subscriptions and answers requests as an app would;
    /// hands the event, and the messages of its subscriptions, to the client's app.
    fn on_event(&mut self, c: usize, event: Event) {
        let now = self.clock.now();
        let client = &mut self.clients[c];
        if let Some(app) = client.app.as_mut() {
            let mut cx = AppCx {
                conn: &mut client.conn,
                now,
                subs: &mut client.app_subs,
            };
            if let Event::MessagesReady { sid } = event {
                if cx.subs.contains(&sid) {
                    while let Delivery::Message(m) = cx.conn.next_message(sid) {
                        app.on_message(&mut cx, sid, m);
                    }
                }
            }
            app.on_event(&mut cx, &event);
        }
        if let Event::MessagesReady { sid } = event {
            let client = &mut self.clients[c];
            if client.consume.contains(&sid) {
                while let Delivery::Message(m) = client.conn.next_message(sid) {
                    if client.responders.contains(&sid) {
                        if let Some(reply) = &m.reply {
                            let mut answer = b"re:".to_vec();
                            answer.extend_from_slice(&m.payload);
                            // A reply may be refused (closed, draining); the requester times out.
                            let _ = client
                                .conn
                                .publish(reply.as_str(), None, None, answer.into());
                        }
                    }
                    client.inbox.entry(sid).or_default().push(m);
                }
            }
        }
        let at = self.clock.elapsed();
        self.clients[c].events.push((at, event));
    }

    // ===================== reporting =====================

    /// Every client's event log, as text (for failure messages and replay comparisons).
    pub(crate) fn event_log(&self) -> String {
        let mut s = String::new();
        for (i, c) in self.clients.iter().enumerate() {
            for (at, e) in &c.events {
                let _ = writeln!(s, "client {i} @{at:?}: {e:?}");
            }
        }
        s
    }

    fn describe(&self) -> String {
        let mut s = String::new();
        for (i, c) in self.clients.iter().enumerate() {
            let _ = writeln!(
                s,
                "client {i}: {:?} profile {:?} link {:?}",
                c.conn, c.profile, c.link
            );
            if let Some(app) = &c.app {
                let _ = writeln!(s, "client {i} app: {app:?}");
            }
        }
        let log = self.event_log();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        for line in tail.into_iter().rev() {
            let _ = writeln!(s, "  {line}");
        }
        for (i, srv) in self.cluster.servers.iter().enumerate() {
            let _ = writeln!(
                s,
                "server {i}: {} ops, conns {:?}, violations {:?}",
                srv.log.len(),
                srv.conn_ids(),
                srv.violations
            );
        }
        for (name, stream) in &self.cluster.js.streams {
            let _ = writeln!(s, "stream {name}: last_seq {}", stream.last_seq);
            for c in stream.consumers.values() {
                let _ = writeln!(s, "  consumer {c:?}");
            }
        }
        s
    }

    /// Asserts no server saw anything a correct client never sends.
    pub(crate) fn assert_no_violations(&self) {
        for (i, s) in self.cluster.servers.iter().enumerate() {
            assert!(
                s.violations.is_empty(),
                "SEED={}: server {i} saw protocol violations: {:?}",
                self.seed,
                s.violations
            );
        }
        assert!(
            self.cluster.js.violations.is_empty(),
            "SEED={}: JetStream saw protocol violations: {:?}",
            self.seed,
            self.cluster.js.violations
        );
    }
}

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
