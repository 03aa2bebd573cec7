//! `PullApp`: a continuous pull consume (`PullMachine`) on a simulated client, acking what it
//! receives as an application would: mostly `+ACK`, sometimes `-NAK`, `+TERM`, `+WPI` and a
//! late `+ACK`, or no ack at all (so the server redelivers after `ack_wait`).
//!
//! Invariant: glue only. The machine decides what is user data and when to pull; the app
//! publishes its pulls with the inbox as the reply, feeds it every inbox message and the link
//! going down and up, and records what the application was given and how it settled it.

use std::any::Any;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use nats_sansio::connection::Sid;
use nats_sansio::jetstream::ack::{self, AckKind};
use nats_sansio::jetstream::pull::{ConsumeOptions, PullEvent, PullMachine, Received};
use nats_sansio::proto::Message;
use nats_sansio::rng::Rng;
use nats_sansio::Event;

use super::app::{App, AppCx};

/// One message the application was given.
#[derive(Debug, Clone)]
pub(crate) struct Delivered {
    pub(crate) stream_sequence: u64,
    pub(crate) delivered: u64,
    pub(crate) subject: String,
    pub(crate) payload: Vec<u8>,
}

#[derive(Debug)]
pub(crate) struct PullApp {
    next: String,
    options: ConsumeOptions,
    ack_wait: Duration,
    machine: Option<PullMachine>,
    inbox: String,
    rng: Rng,
    /// `+ACK`s owed after a `+WPI`: when, the reply subject, the stream sequence.
    later: Vec<(Instant, String, u64)>,
    pub(crate) received: Vec<Delivered>,
    /// Stream sequences the application acked or terminated (the publish was accepted).
    pub(crate) settled: BTreeSet<u64>,
    pub(crate) events: Vec<PullEvent>,
}

impl PullApp {
    /// Consumes `stream`'s durable `consumer` (whose `ack_wait` is given) with `options`.
    pub(crate) fn new(
        stream: &str,
        consumer: &str,
        ack_wait: Duration,
        options: ConsumeOptions,
        seed: u64,
    ) -> PullApp {
        PullApp {
            next: format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"),
            options,
            ack_wait,
            machine: None,
            inbox: String::new(),
            rng: Rng::new(seed),
            later: Vec::new(),
            received: Vec::new(),
            settled: BTreeSet::new(),
            events: Vec::new(),
        }
    }

    fn machine(&mut self) -> &mut PullMachine {
        self.machine.as_mut().expect("started")
    }

    /// Publishes the machine's pulls and collects its events.
    fn drive(&mut self, cx: &mut AppCx<'_>) {
        let machine = self.machine.as_mut().expect("started");
        while let Some(pull) = machine.poll_pull() {
            let body = Bytes::from(pull.to_json());
            // Refused only when closed; the missed-heartbeat alarm would re-pull anyway.
            let _ = cx.conn.publish(&self.next, Some(&self.inbox), None, body);
        }
        while let Some(event) = machine.poll_event() {
            self.events.push(event);
        }
    }

    fn ack(&mut self, cx: &mut AppCx<'_>, reply: &str, sseq: u64, kind: &AckKind) {
        if cx.conn.publish(reply, None, None, kind.payload()).is_ok()
            && matches!(kind, AckKind::Ack | AckKind::Term(_))
        {
            self.settled.insert(sseq);
        }
    }

    /// The application got a message: it records it and settles it somehow.
    fn on_user_message(&mut self, cx: &mut AppCx<'_>, message: &Message) {
        let reply = message
            .reply
            .as_ref()
            .expect("a JetStream message has a reply");
        let meta = ack::parse(reply.as_str()).expect("an ack reply subject");
        self.received.push(Delivered {
            stream_sequence: meta.stream_sequence,
            delivered: meta.delivered,
            subject: message.subject.as_str().to_owned(),
            payload: message.payload.to_vec(),
        });
        let sseq = meta.stream_sequence;
        let reply = reply.as_str().to_owned();
        match self.rng.below(100) {
            0..70 => self.ack(cx, &reply, sseq, &AckKind::Ack),
            70..78 => self.ack(cx, &reply, sseq, &AckKind::Nak(None)),
            78..86 => {
                self.ack(cx, &reply, sseq, &AckKind::Progress);
                let wait = self.rng.duration(Duration::from_millis(100), self.ack_wait);
                self.later.push((cx.now + wait, reply, sseq));
            }
            86..94 => {}
            _ => self.ack(cx, &reply, sseq, &AckKind::Term(Some("sim".into()))),
        }
    }
}

impl App for PullApp {
    fn start(&mut self, cx: &mut AppCx<'_>) {
        self.inbox = cx.conn.new_inbox();
        cx.subscribe(&self.inbox.clone());
        let mut machine = PullMachine::consume(cx.now, self.options.clone()).expect("options");
        if !cx.is_connected() {
            machine.handle_disconnected(cx.now);
        }
        self.machine = Some(machine);
        self.drive(cx);
    }

    fn on_event(&mut self, cx: &mut AppCx<'_>, event: &Event) {
        match event {
            Event::Disconnected { .. } => self.machine().handle_disconnected(cx.now),
            Event::Reconnected { .. } => self.machine().handle_reconnected(cx.now),
            _ => return,
        }
        self.drive(cx);
    }

    fn on_message(&mut self, cx: &mut AppCx<'_>, _sid: Sid, message: Message) {
        let now = cx.now;
        if self.machine().handle_message(now, &message) == Received::Message {
            self.on_user_message(cx, &message);
        }
        self.drive(cx);
    }

    fn on_timeout(&mut self, cx: &mut AppCx<'_>) {
        let now = cx.now;
        if self.machine().poll_timeout().is_some_and(|t| t <= now) {
            self.machine().handle_timeout(now);
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.later)
            .into_iter()
            .partition(|(at, _, _)| *at <= now);
        self.later = later;
        for (_, reply, sseq) in due {
            self.ack(cx, &reply, sseq, &AckKind::Ack);
        }
        self.drive(cx);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let machine = self.machine.as_ref().and_then(PullMachine::poll_timeout);
        let later = self.later.iter().map(|(at, _, _)| *at).min();
        machine.into_iter().chain(later).min()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
