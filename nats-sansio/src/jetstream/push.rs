//! The push consumer's client side as a pure machine: heartbeats, flow control and gap
//! detection over the messages the server pushes to a deliver subject.
//!
//! Invariant: a status message is never handed to the application as data; every flow-control
//! request is answered exactly once, when the application reaches it in the stream (so the
//! server only sends more when the application keeps up), and a stalled subject named by a
//! heartbeat is answered once (not at all if it was a recent flow-control request's): the
//! machine remembers only the last [`REMEMBERED_SUBJECTS`] subjects it handed out, so its
//! memory stays bounded however long the consumer runs; the heartbeat alarm fires once per
//! silence of twice the idle heartbeat; gaps in consumer sequences are reported (never for queue subscribers,
//! whose sequences interleave with other members).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::proto::{Message, StatusCode};

use super::ack;

/// Header naming a subject to unblock a stalled consumer (on a heartbeat).
pub const CONSUMER_STALLED: &str = "Nats-Consumer-Stalled";
/// Header with the last consumer sequence delivered (on a heartbeat).
pub const LAST_CONSUMER: &str = "Nats-Last-Consumer";
/// How many answered flow-control and stalled subjects the machine remembers. The server has
/// one flow-control request outstanding at a time and a stalled heartbeat names the latest,
/// so a few suffice to never answer one twice.
pub const REMEMBERED_SUBJECTS: usize = 8;

/// What a pushed message is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pushed {
    /// Application data: deliver it.
    Message,
    /// A heartbeat: nothing to deliver. If it names a stalled subject not answered yet,
    /// publish an empty message to it.
    Heartbeat {
        /// The subject to publish an empty message to, if any.
        unstall: Option<String>,
    },
    /// A flow-control request: publish an empty message to `reply` (the machine hands it
    /// out when the application reaches this point; see [`PushMachine::handle_message`]).
    FlowControl {
        /// Where to answer.
        reply: String,
    },
    /// A status this client does not know; never application data.
    UnknownStatus(StatusCode),
}

/// Something the application should know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushEvent {
    /// Nothing arrived for twice the idle heartbeat.
    MissedHeartbeat,
    /// Consumer sequences jumped: messages between were not delivered here.
    Gap {
        /// The consumer sequence expected.
        expected: u64,
        /// The one that arrived.
        got: u64,
    },
}

/// The push consumer's client-side state.
#[derive(Debug)]
pub struct PushMachine {
    idle_heartbeat: Option<Duration>,
    check_gaps: bool,
    last_activity: Instant,
    alarmed: bool,
    /// The last consumer sequence seen (0 = none).
    last_consumer_seq: u64,
    /// The last flow-control and stalled subjects handed out for answering, oldest first
    /// (at most [`REMEMBERED_SUBJECTS`]).
    answered: VecDeque<String>,
    events: VecDeque<PushEvent>,
}

impl PushMachine {
    /// A machine for a consumer with this idle heartbeat (`None`: no alarm). `queue`: the
    /// subscription is one member of a deliver group (no gap checks).
    pub fn new(now: Instant, idle_heartbeat: Option<Duration>, queue: bool) -> PushMachine {
        PushMachine {
            idle_heartbeat: idle_heartbeat.filter(|d| !d.is_zero()),
            check_gaps: !queue,
            last_activity: now,
            alarmed: false,
            last_consumer_seq: 0,
            answered: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The same machine for a consumer whose messages up to consumer sequence `seq` were
    /// already seen (so a heartbeat reporting `seq` is no gap).
    pub fn with_last_consumer_sequence(mut self, seq: u64) -> PushMachine {
        self.last_consumer_seq = seq;
        self
    }

    /// Classifies a pushed message and updates the heartbeat and gap state.
    pub fn handle_message(&mut self, now: Instant, message: &Message) -> Pushed {
        self.on_activity(now);
        let Some(status) = message.status() else {
            self.on_data(message);
            return Pushed::Message;
        };
        if status != StatusCode::IDLE_HEARTBEAT {
            return Pushed::UnknownStatus(status);
        }
        let description = message.description().unwrap_or("");
        let is_flow_control = description.to_ascii_lowercase().contains("flowcontrol")
            || description.to_ascii_lowercase().contains("flow control");
        if is_flow_control {
            if let Some(reply) = &message.reply {
                // A heartbeat naming it as stalled later is not answered a second time.
                self.remember(reply.as_str());
                return Pushed::FlowControl {
                    reply: reply.as_str().to_owned(),
                };
            }
        }
        let headers = message.headers.as_ref();
        if let Some(last) = headers
            .and_then(|h| h.get(LAST_CONSUMER))
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            if self.check_gaps && last > self.last_consumer_seq {
                self.events.push_back(PushEvent::Gap {
                    expected: self.last_consumer_seq.saturating_add(1),
                    got: last,
                });
                self.last_consumer_seq = last;
            }
        }
        let unstall = headers
            .and_then(|h| h.get(CONSUMER_STALLED))
            .map(str::to_owned)
            .filter(|s| !self.answered.contains(s));
        if let Some(subject) = &unstall {
            self.remember(subject);
        }
        Pushed::Heartbeat { unstall }
    }

    /// Notes a subject as answered, forgetting the oldest past [`REMEMBERED_SUBJECTS`].
    fn remember(&mut self, subject: &str) {
        if self.answered.iter().any(|s| s == subject) {
            return;
        }
        if self.answered.len() == REMEMBERED_SUBJECTS {
            self.answered.pop_front();
        }
        self.answered.push_back(subject.to_owned());
    }

    /// How many answered subjects are remembered (never more than [`REMEMBERED_SUBJECTS`]).
    pub fn remembered_subjects(&self) -> usize {
        self.answered.len()
    }

    /// As [`handle_message`](Self::handle_message) for application data whose ack subject
    /// the caller has already read: `consumer_sequence` is its consumer sequence.
    pub fn handle_data(&mut self, now: Instant, consumer_sequence: u64) {
        self.on_activity(now);
        self.on_sequence(consumer_sequence);
    }

    fn on_activity(&mut self, now: Instant) {
        if now > self.last_activity {
            self.last_activity = now;
        }
        self.alarmed = false;
    }

    fn on_data(&mut self, message: &Message) {
        if let Some(meta) = message
            .reply
            .as_ref()
            .and_then(|r| ack::parse_ref(r.as_str()).ok())
        {
            self.on_sequence(meta.consumer_sequence);
        }
    }

    fn on_sequence(&mut self, got: u64) {
        if self.check_gaps
            && self.last_consumer_seq > 0
            && got > self.last_consumer_seq.saturating_add(1)
        {
            self.events.push_back(PushEvent::Gap {
                expected: self.last_consumer_seq.saturating_add(1),
                got,
            });
        }
        if got > self.last_consumer_seq {
            self.last_consumer_seq = got;
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let interval = self.idle_heartbeat?;
        (!self.alarmed).then(|| self.last_activity + interval * 2)
    }

    /// Raises the missed-heartbeat alarm when its time has come (once per silence).
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(at) = self.poll_timeout() {
            if now >= at {
                self.alarmed = true;
                self.events.push_back(PushEvent::MissedHeartbeat);
            }
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<PushEvent> {
        self.events.pop_front()
    }

    /// The last consumer sequence seen.
    pub fn last_consumer_sequence(&self) -> u64 {
        self.last_consumer_seq
    }
}
