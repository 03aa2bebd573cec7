//! Push consumers: the messages the server pushes to a deliver subject, with heartbeats,
//! flow control and gap reports handled by the core's `PushMachine`.
//!
//! Invariant: this file only wires the machine to IO: pushed messages go to the machine, data
//! is yielded, flow-control requests and stalled subjects are answered with the empty
//! publishes the machine asks for, and its alarm runs on a runtime timer.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use bytes::Bytes;
use nats_sansio::jetstream::push::{PushEvent, PushMachine, Pushed};

use super::message::JsMessage;
use super::{Consumer, JetStreamError};
use crate::runtime::DeadlineTimer;
use crate::{Client, Subscriber};

/// An item of a push consumer's stream.
#[derive(Debug)]
#[non_exhaustive]
pub enum PushItem {
    /// A message to process.
    Message(JsMessage),
    /// Something to know: a missed heartbeat or a gap in consumer sequences.
    Event(PushEvent),
}

impl Consumer {
    /// The messages of a push consumer (its config has a `deliver_subject`; with a
    /// `deliver_group`, this subscription joins the group). Heartbeats and flow control are
    /// handled; missed heartbeats and gaps come as [`PushItem::Event`].
    pub async fn push_messages(&self) -> Result<PushMessages, JetStreamError> {
        let config = &self.cached_info().config;
        if config.deliver_subject.is_empty() {
            return Err(JetStreamError::NotJetStreamMessage(
                "not a push consumer: no deliver_subject".into(),
            ));
        }
        let client = self.context().client().clone();
        let queue = !config.deliver_group.is_empty();
        let subscriber = if queue {
            client
                .queue_subscribe(&config.deliver_subject, &config.deliver_group)
                .await
        } else {
            client.subscribe(&config.deliver_subject).await
        }
        .map_err(JetStreamError::Subscribe)?;
        let runtime = std::sync::Arc::clone(&client.shared_state().runtime);
        let now = runtime.now();
        Ok(PushMessages {
            machine: PushMachine::new(now, Some(config.idle_heartbeat), queue),
            timer: DeadlineTimer::new(runtime.as_ref()),
            client,
            subscriber,
            events: VecDeque::new(),
            flow_control_answered: 0,
        })
    }
}

/// The stream of a push consumer.
pub struct PushMessages {
    client: Client,
    subscriber: Subscriber,
    machine: PushMachine,
    timer: DeadlineTimer,
    events: VecDeque<PushEvent>,
    flow_control_answered: u64,
}

impl std::fmt::Debug for PushMessages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushMessages")
            .field(
                "last_consumer_sequence",
                &self.machine.last_consumer_sequence(),
            )
            .finish_non_exhaustive()
    }
}

impl PushMessages {
    /// Flow-control requests answered so far.
    pub fn flow_control_answered(&self) -> u64 {
        self.flow_control_answered
    }

    fn now(&self) -> Instant {
        self.client.shared_state().runtime.now()
    }

    /// An empty publish (flow-control answer or unstall), without waiting for room.
    fn answer(&self, subject: &str) {
        let _ = self
            .client
            .shared_state()
            .command(|state| state.conn.publish(subject, None, None, Bytes::new()));
    }
}

impl futures_lite::Stream for PushMessages {
    type Item = Result<PushItem, JetStreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            while let Some(event) = this.machine.poll_event() {
                this.events.push_back(event);
            }
            if let Some(event) = this.events.pop_front() {
                return Poll::Ready(Some(Ok(PushItem::Event(event))));
            }
            match Pin::new(&mut this.subscriber).poll_next(cx) {
                Poll::Ready(Some(message)) => {
                    let now = this.now();
                    match this.machine.handle_message(now, &message) {
                        Pushed::Message => {
                            return Poll::Ready(Some(Ok(PushItem::Message(JsMessage::new(
                                this.client.clone(),
                                message,
                            )))))
                        }
                        // Everything before it was yielded: the application keeps up.
                        Pushed::FlowControl { reply } => {
                            this.answer(&reply);
                            this.flow_control_answered += 1;
                        }
                        Pushed::Heartbeat {
                            unstall: Some(subject),
                        } => this.answer(&subject),
                        _ => {}
                    }
                    continue;
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => {}
            }
            let now = this.now();
            if this
                .timer
                .poll(cx, this.machine.poll_timeout(), now)
                .is_ready()
            {
                this.machine.handle_timeout(this.now());
                continue;
            }
            return Poll::Pending;
        }
    }
}
