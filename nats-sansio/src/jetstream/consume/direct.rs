//! A batched Direct Get ([`DirectGet`]) in the machine shape: it subscribes its inbox,
//! publishes the request with the inbox as reply, and delivers each message until the
//! request's one ending.
//!
//! Invariant: the inbox is subscribed before the request is published, so no reply is
//! missed; after the ending (the EOB, an error, the timeout) nothing more is delivered.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Outputs;
use crate::jetstream::api::{ApiPrefix, DirectGetRequest, NameError};
use crate::jetstream::direct::{DirectGet, DirectGetError, DirectMessage, EndOfBatch};
use crate::machine::{Link, Machine, Output, Publish};
use crate::proto::Message;

/// The messages of one (batched) Direct Get request.
#[derive(Debug)]
pub struct DirectBatch {
    machine: DirectGet,
    outputs: Outputs<DirectMessage, DirectGetError>,
}

impl DirectBatch {
    /// Sends `request` to `stream`'s Direct Get subject with `inbox` (a fresh inbox of this
    /// connection) as the reply; a silence of `timeout` ends it.
    ///
    /// # Errors
    ///
    /// If the stream name is invalid.
    pub fn new(
        now: Instant,
        prefix: &ApiPrefix,
        stream: &str,
        inbox: String,
        request: &DirectGetRequest,
        timeout: Duration,
    ) -> Result<DirectBatch, NameError> {
        let subject = prefix.direct_get(stream)?;
        let body = serde_json::to_vec(request).unwrap_or_default();
        let mut outputs = Outputs::default();
        outputs.push(Output::Subscribe {
            subject: inbox.clone(),
            queue_group: None,
        });
        outputs.push(Output::Publish(
            Publish::new(subject, Bytes::from(body)).with_reply(inbox),
        ));
        Ok(DirectBatch {
            machine: DirectGet::new(now, request, timeout),
            outputs,
        })
    }

    /// The reply machine, for its counters.
    pub fn direct_get(&self) -> &DirectGet {
        &self.machine
    }

    /// The batch's end, once it arrived.
    pub fn end_of_batch(&self) -> Option<EndOfBatch> {
        self.machine.end_of_batch()
    }

    fn finish_if_done(&mut self) {
        if self.machine.is_finished() {
            self.outputs.push(Output::Finished);
        }
    }
}

impl Machine for DirectBatch {
    type Item = DirectMessage;
    type Error = DirectGetError;

    fn handle_message(&mut self, now: Instant, message: Message) {
        match self.machine.handle_message(now, message) {
            Some(Ok(item)) => self.outputs.push(Output::Deliver(item)),
            Some(Err(error)) => self.outputs.push(Output::Error(error)),
            None => {}
        }
        self.finish_if_done();
    }

    fn handle_timeout(&mut self, now: Instant) {
        if let Some(error) = self.machine.handle_timeout(now) {
            self.outputs.push(Output::Error(error));
        }
        self.finish_if_done();
    }

    fn handle_link(&mut self, _now: Instant, _link: Link) {
        // Replies lost with a connection are caught by the timeout.
    }

    fn stop(&mut self) {
        self.outputs.push(Output::Finished);
    }

    fn poll_output(&mut self) -> Option<Output<DirectMessage, DirectGetError>> {
        self.outputs.pop()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.machine.poll_timeout()
    }
}
