//! `Acker`: what an application does with the messages of a pull consume: it records each
//! and settles it as applications do: mostly `+ACK`, sometimes `-NAK`, `+TERM`, `+WPI` and a
//! late `+ACK`, or no ack at all (so the server redelivers after `ack_wait`).
//!
//! Invariant: every message it is given is recorded once, and a stream sequence counts as
//! settled once an `+ACK` or `+TERM` for it was accepted by the connection.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use nats_sansio::jetstream::ack::{self, AckKind};
use nats_sansio::proto::Message;
use nats_sansio::rng::Rng;

use super::app::AppCx;
use super::machine_app::Handler;

/// One message the application was given.
#[derive(Debug, Clone)]
pub(crate) struct Delivered {
    pub(crate) stream_sequence: u64,
    pub(crate) delivered: u64,
    pub(crate) subject: String,
    pub(crate) payload: Vec<u8>,
}

impl Delivered {
    /// What a JetStream message says of itself.
    pub(crate) fn of(message: &Message) -> Delivered {
        let reply = message
            .reply
            .as_ref()
            .expect("a JetStream message has a reply");
        let meta = ack::parse(reply.as_str()).expect("an ack reply subject");
        Delivered {
            stream_sequence: meta.stream_sequence,
            delivered: meta.delivered,
            subject: message.subject.as_str().to_owned(),
            payload: message.payload.to_vec(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Acker {
    ack_wait: Duration,
    rng: Rng,
    /// `+ACK`s owed after a `+WPI`: when, the reply subject, the stream sequence.
    later: Vec<(Instant, String, u64)>,
    pub(crate) received: Vec<Delivered>,
    /// Stream sequences the application acked or terminated (the publish was accepted).
    pub(crate) settled: BTreeSet<u64>,
}

impl Acker {
    /// Settles messages of a consumer whose `ack_wait` is given, choosing from `seed`.
    pub(crate) fn new(ack_wait: Duration, seed: u64) -> Acker {
        Acker {
            ack_wait,
            rng: Rng::new(seed),
            later: Vec::new(),
            received: Vec::new(),
            settled: BTreeSet::new(),
        }
    }

    fn ack(&mut self, cx: &mut AppCx<'_>, reply: &str, sseq: u64, kind: &AckKind) {
        if cx.conn.publish(reply, None, None, kind.payload()).is_ok()
            && matches!(kind, AckKind::Ack | AckKind::Term(_))
        {
            self.settled.insert(sseq);
        }
    }
}

impl Handler<Message> for Acker {
    fn on_item(&mut self, cx: &mut AppCx<'_>, message: &Message) {
        let delivered = Delivered::of(message);
        let sseq = delivered.stream_sequence;
        self.received.push(delivered);
        let reply = message.reply.as_ref().map(|r| r.as_str().to_owned());
        let reply = reply.expect("a JetStream message has a reply");
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

    fn on_timeout(&mut self, cx: &mut AppCx<'_>) {
        let now = cx.now;
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.later)
            .into_iter()
            .partition(|(at, _, _)| *at <= now);
        self.later = later;
        for (_, reply, sseq) in due {
            self.ack(cx, &reply, sseq, &AckKind::Ack);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.later.iter().map(|(at, _, _)| *at).min()
    }
}
