//! A pull fetch or consume ([`PullMachine`]) in the machine shape: it subscribes its inbox,
//! publishes every pull to `CONSUMER.MSG.NEXT.<stream>.<consumer>` with the inbox as reply,
//! and delivers the consumer's messages.
//!
//! Invariant: every message of the inbox goes to the pull machine; exactly those it counts
//! as user messages are delivered, after the pulls they made due and before any end.

use std::time::Instant;

use bytes::Bytes;

use super::Outputs;
use crate::jetstream::api::{ApiPrefix, NameError};
use crate::jetstream::pull::{PullError, PullEvent, PullMachine, Received};
use crate::machine::{Link, Machine, Output, Publish};
use crate::proto::Message;

/// A fetch or a continuous consume of one pull consumer.
#[derive(Debug)]
pub struct PullConsume {
    machine: PullMachine,
    inbox: String,
    next: String,
    outputs: Outputs<Message, PullError>,
}

impl PullConsume {
    /// Reads `consumer` of `stream` through `inbox` (a fresh inbox of this connection) with
    /// `machine` (a fetch or a consume).
    ///
    /// # Errors
    ///
    /// If a name is invalid.
    pub fn new(
        prefix: &ApiPrefix,
        stream: &str,
        consumer: &str,
        inbox: String,
        machine: PullMachine,
    ) -> Result<PullConsume, NameError> {
        let next = prefix.consumer_msg_next(stream, consumer)?;
        let mut this = PullConsume {
            machine,
            inbox,
            next,
            outputs: Outputs::default(),
        };
        this.outputs.push(Output::Subscribe {
            subject: this.inbox.clone(),
            queue_group: None,
        });
        this.collect_pulls();
        this.collect_events();
        Ok(this)
    }

    /// The pull machine, for its counters.
    pub fn pull(&self) -> &PullMachine {
        &self.machine
    }

    /// The inbox the messages come to.
    pub fn inbox(&self) -> &str {
        &self.inbox
    }

    fn collect_pulls(&mut self) {
        while let Some(pull) = self.machine.poll_pull() {
            let body = Bytes::from(pull.to_json());
            self.outputs.push(Output::Publish(
                Publish::new(&self.next, body).with_reply(&self.inbox),
            ));
        }
    }

    fn collect_events(&mut self) {
        while let Some(event) = self.machine.poll_event() {
            match event {
                PullEvent::Error(error) => self.outputs.push(Output::Error(error)),
                PullEvent::Finished(_) => self.outputs.push(Output::Finished),
                _ => {}
            }
        }
    }
}

impl Machine for PullConsume {
    type Item = Message;
    type Error = PullError;

    fn handle_message(&mut self, now: Instant, message: Message) {
        let received = self.machine.handle_message(now, &message);
        self.collect_pulls();
        if received == Received::Message {
            self.outputs.push(Output::Deliver(message));
        }
        self.collect_events();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.machine.handle_timeout(now);
        self.collect_pulls();
        self.collect_events();
    }

    fn handle_link(&mut self, now: Instant, link: Link) {
        match link {
            Link::Down => self.machine.handle_disconnected(now),
            Link::Up => self.machine.handle_reconnected(now),
        }
        self.collect_pulls();
        self.collect_events();
    }

    fn stop(&mut self) {
        self.machine.stop();
        self.outputs.push(Output::Finished);
    }

    fn poll_output(&mut self) -> Option<Output<Message, PullError>> {
        self.outputs.pop()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.machine.poll_timeout()
    }
}
