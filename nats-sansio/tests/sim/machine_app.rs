//! `MachineApp`: any machine of the one shape (`nats_sansio::machine::Machine`) on a
//! simulated client, the simulation's counterpart of the adapters' `MachineStream`.
//!
//! Invariant: this file decides nothing about any protocol. It carries out each output in
//! the order the machine gave it, hands back every message of the machine's subscriptions,
//! every request's reply (from the connection's `Response` events), the link going down and
//! up (from `Disconnected` / `Reconnected`, which the world never drops) and every deadline;
//! what the machine delivers goes to the application's [`Handler`] and is recorded.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Instant;

use nats_sansio::connection::{RequestId, Sid};
use nats_sansio::machine::{Link, Machine, Output, Publish};
use nats_sansio::proto::Message;
use nats_sansio::{ConnectionEvent, Event};

use super::app::{App, AppCx};

/// What the application does with what the machine delivers (acks, for example), with
/// deadlines of its own.
pub(crate) trait Handler<I>: Debug {
    /// The machine delivered `item`.
    fn on_item(&mut self, cx: &mut AppCx<'_>, item: &I);
    /// [`poll_timeout`](Handler::poll_timeout) is due.
    fn on_timeout(&mut self, _cx: &mut AppCx<'_>) {}
    /// When the handler next needs [`on_timeout`](Handler::on_timeout).
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

/// An application that only reads.
#[derive(Debug, Default)]
pub(crate) struct JustRead;

impl<I> Handler<I> for JustRead {
    fn on_item(&mut self, _cx: &mut AppCx<'_>, _item: &I) {}
}

/// Builds the machine when the app starts on its client (it may want a fresh inbox).
type Build<M> = Box<dyn FnOnce(&mut AppCx<'_>) -> M>;

/// The inputs a machine takes beyond the one shape (a put's bytes, a get's consumed chunks),
/// given by the handler before each drain of the outputs, at the given time.
pub(crate) type Tend<M, H> = fn(&mut M, &mut H, Instant);

pub(crate) struct MachineApp<M: Machine, H> {
    build: Option<Build<M>>,
    machine: Option<M>,
    /// The machine's subscriptions.
    subjects: BTreeMap<Sid, String>,
    /// Requests in flight: the connection's id and the machine's token.
    requests: BTreeMap<RequestId, u64>,
    pub(crate) handler: H,
    tend: Option<Tend<M, H>>,
    pub(crate) delivered: Vec<M::Item>,
    pub(crate) errors: Vec<M::Error>,
    pub(crate) finished: bool,
}

impl<M, H> Debug for MachineApp<M, H>
where
    M: Machine + Debug,
    M::Item: Debug,
    M::Error: Debug,
    H: Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MachineApp")
            .field("machine", &self.machine)
            .field("delivered", &self.delivered.len())
            .field("errors", &self.errors)
            .field("finished", &self.finished)
            .field("handler", &self.handler)
            .finish()
    }
}

impl<M: Machine, H: Handler<M::Item>> MachineApp<M, H> {
    pub(crate) fn new(
        build: impl FnOnce(&mut AppCx<'_>) -> M + 'static,
        handler: H,
    ) -> MachineApp<M, H> {
        MachineApp {
            build: Some(Box::new(build)),
            machine: None,
            subjects: BTreeMap::new(),
            requests: BTreeMap::new(),
            handler,
            tend: None,
            delivered: Vec::new(),
            errors: Vec::new(),
            finished: false,
        }
    }

    /// The same app, giving the machine its extra inputs with `tend` before every drain.
    pub(crate) fn with_tend(mut self, tend: Tend<M, H>) -> MachineApp<M, H> {
        self.tend = Some(tend);
        self
    }

    pub(crate) fn machine(&self) -> &M {
        self.machine.as_ref().expect("started")
    }

    fn machine_mut(&mut self) -> &mut M {
        self.machine.as_mut().expect("started")
    }

    /// Carries out every output the machine has (tending it first, and again after any
    /// output, until it has nothing more).
    fn carry_out(&mut self, cx: &mut AppCx<'_>) {
        loop {
            if let (Some(tend), Some(machine)) = (self.tend, self.machine.as_mut()) {
                tend(machine, &mut self.handler, cx.now);
            }
            if !self.carry_out_once(cx) || self.tend.is_none() {
                return;
            }
        }
    }

    /// Carries out the outputs the machine has now; whether there were any.
    fn carry_out_once(&mut self, cx: &mut AppCx<'_>) -> bool {
        let mut any = false;
        while let Some(output) = self.machine_mut().poll_output() {
            any = true;
            match output {
                Output::Subscribe {
                    subject,
                    queue_group,
                } => {
                    let sid = cx.subscribe_in(&subject, queue_group.as_deref());
                    self.subjects.insert(sid, subject);
                }
                Output::Unsubscribe { subject } => {
                    let sids: Vec<Sid> = self
                        .subjects
                        .iter()
                        .filter(|(_, s)| **s == subject)
                        .map(|(sid, _)| *sid)
                        .collect();
                    for sid in sids {
                        self.subjects.remove(&sid);
                        cx.unsubscribe(sid);
                    }
                }
                Output::Publish(Publish {
                    subject,
                    reply,
                    headers,
                    payload,
                }) => {
                    // Refused only when closed; the machine's timers notice what never arrives.
                    let _ = cx
                        .conn
                        .publish(&subject, reply.as_deref(), headers.as_ref(), payload);
                }
                Output::Request {
                    token,
                    subject,
                    payload,
                } => match cx.conn.request(cx.now, &subject, None, payload, None) {
                    Ok(id) => {
                        self.requests.insert(id, token);
                    }
                    Err(e) => {
                        let now = cx.now;
                        self.machine_mut().handle_reply(now, token, Err(e.into()));
                    }
                },
                Output::Deliver(item) => {
                    self.handler.on_item(cx, &item);
                    self.delivered.push(item);
                }
                Output::Error(error) => self.errors.push(error),
                Output::Finished => self.finished = true,
            }
        }
        any
    }
}

impl<M, H> App for MachineApp<M, H>
where
    M: Machine + Debug + 'static,
    M::Item: Debug + 'static,
    M::Error: Debug + 'static,
    H: Handler<M::Item> + 'static,
{
    fn start(&mut self, cx: &mut AppCx<'_>) {
        let build = self.build.take().expect("started once");
        let mut machine = build(cx);
        if !cx.is_connected() {
            machine.handle_link(cx.now, Link::Down);
        }
        self.machine = Some(machine);
        self.carry_out(cx);
    }

    fn on_event(&mut self, cx: &mut AppCx<'_>, event: &Event) {
        let now = cx.now;
        match event {
            Event::Connection(ConnectionEvent::Disconnected { .. }) => {
                self.machine_mut().handle_link(now, Link::Down)
            }
            Event::Connection(ConnectionEvent::Reconnected { .. }) => {
                self.machine_mut().handle_link(now, Link::Up)
            }
            Event::Response { id, result } => {
                let Some(token) = self.requests.remove(id) else {
                    return;
                };
                self.machine_mut().handle_reply(now, token, result.clone());
            }
            _ => return,
        }
        self.carry_out(cx);
    }

    fn on_message(&mut self, cx: &mut AppCx<'_>, _sid: Sid, message: Message) {
        let now = cx.now;
        self.machine_mut().handle_message(now, message);
        self.carry_out(cx);
    }

    fn on_timeout(&mut self, cx: &mut AppCx<'_>) {
        let now = cx.now;
        if self.machine().poll_timeout().is_some_and(|t| t <= now) {
            self.machine_mut().handle_timeout(now);
        }
        if self.handler.poll_timeout().is_some_and(|t| t <= now) {
            self.handler.on_timeout(cx);
        }
        self.carry_out(cx);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let machine = self.machine.as_ref().and_then(Machine::poll_timeout);
        machine.into_iter().chain(self.handler.poll_timeout()).min()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
