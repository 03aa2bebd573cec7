//! Push consumers: the messages the server pushes to a deliver subject, with heartbeats,
//! flow control and gap reports handled by the core's `PushConsume` machine on the generic
//! driver.
//!
//! Invariant: nothing here decides anything about push delivery; this file checks that the
//! consumer is a push consumer and turns delivered messages into acknowledgeable ones.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use nats_sansio::jetstream::consume::{PushConsume, PushDelivery};
use nats_sansio::jetstream::push::{PushEvent, PushMachine};

use super::message::JsMessage;
use super::{Consumer, JetStreamError};
use crate::machine_stream::MachineStream;

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
        let now = client.shared_state().runtime.now();
        let queue = !config.deliver_group.is_empty();
        let machine = PushConsume::new(
            &config.deliver_subject,
            &config.deliver_group,
            PushMachine::new(now, Some(config.idle_heartbeat), queue),
        );
        let inner = MachineStream::start(client, machine, self.context().timeout()).await?;
        Ok(PushMessages { inner })
    }
}

/// The stream of a push consumer.
#[derive(Debug)]
pub struct PushMessages {
    inner: MachineStream<PushConsume, JetStreamError>,
}

impl PushMessages {
    /// Flow-control requests answered so far.
    pub fn flow_control_answered(&self) -> u64 {
        self.inner.machine().flow_control_answered()
    }
}

impl futures_lite::Stream for PushMessages {
    type Item = Result<PushItem, JetStreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.inner
            .poll_item_with(cx, |client, delivery| match delivery {
                PushDelivery::Message(message) => {
                    PushItem::Message(JsMessage::new(client, message))
                }
                PushDelivery::Event(event) => PushItem::Event(event),
            })
    }
}
