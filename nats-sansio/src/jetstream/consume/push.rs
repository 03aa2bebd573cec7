//! A push consumer ([`PushMachine`]) in the machine shape: it subscribes the deliver subject
//! (in the deliver group, if any), answers flow control and stalls with empty publishes, and
//! delivers messages and what the application should know (missed heartbeats, gaps).
//!
//! Invariant: a flow-control request is answered when the application has reached it
//! (its answer is queued after every message before it), and each answer is one empty
//! publish to the subject the server named.

use std::convert::Infallible;
use std::time::Instant;

use bytes::Bytes;

use super::Outputs;
use crate::jetstream::push::{PushEvent, PushMachine, Pushed};
use crate::machine::{Link, Machine, Output, Publish};
use crate::proto::Message;

/// What a push consumer hands the application.
#[derive(Debug)]
pub enum PushDelivery {
    /// A message to process.
    Message(Message),
    /// Something to know: a missed heartbeat or a gap in consumer sequences.
    Event(PushEvent),
}

/// The messages a push consumer pushes to its deliver subject.
#[derive(Debug)]
pub struct PushConsume {
    machine: PushMachine,
    outputs: Outputs<PushDelivery, Infallible>,
    flow_control_answered: u64,
}

impl PushConsume {
    /// Reads what the server pushes to `deliver_subject`, joining `deliver_group` if it is
    /// not empty; `machine` watches heartbeats and flow control.
    pub fn new(deliver_subject: &str, deliver_group: &str, machine: PushMachine) -> PushConsume {
        let mut outputs = Outputs::default();
        outputs.push(Output::Subscribe {
            subject: deliver_subject.to_owned(),
            queue_group: (!deliver_group.is_empty()).then(|| deliver_group.to_owned()),
        });
        PushConsume {
            machine,
            outputs,
            flow_control_answered: 0,
        }
    }

    /// The push machine, for its counters.
    pub fn push(&self) -> &PushMachine {
        &self.machine
    }

    /// Flow-control requests answered so far.
    pub fn flow_control_answered(&self) -> u64 {
        self.flow_control_answered
    }

    fn answer(&mut self, subject: String) {
        self.outputs
            .push(Output::Publish(Publish::new(subject, Bytes::new())));
    }

    fn collect_events(&mut self) {
        while let Some(event) = self.machine.poll_event() {
            self.outputs
                .push(Output::Deliver(PushDelivery::Event(event)));
        }
    }
}

impl Machine for PushConsume {
    type Item = PushDelivery;
    type Error = Infallible;

    fn handle_message(&mut self, now: Instant, message: Message) {
        match self.machine.handle_message(now, &message) {
            Pushed::Message => self
                .outputs
                .push(Output::Deliver(PushDelivery::Message(message))),
            // Everything before it was delivered: the application keeps up.
            Pushed::FlowControl { reply } => {
                self.flow_control_answered += 1;
                self.answer(reply);
            }
            Pushed::Heartbeat {
                unstall: Some(subject),
            } => self.answer(subject),
            _ => {}
        }
        self.collect_events();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.machine.handle_timeout(now);
        self.collect_events();
    }

    fn handle_link(&mut self, _now: Instant, _link: Link) {
        // The server keeps pushing to the restored subscription; the heartbeat alarm tells
        // of anything lost meanwhile.
    }

    fn stop(&mut self) {
        self.outputs.push(Output::Finished);
    }

    fn poll_output(&mut self) -> Option<Output<PushDelivery, Infallible>> {
        self.outputs.pop()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.machine.poll_timeout()
    }
}
