//! The ordered consumer: a stream of a JetStream stream's messages, in order, each once,
//! across gaps, missed heartbeats, deleted consumers and reconnects: the core's
//! `OrderedConsume` machine on the generic driver.
//!
//! Invariant: nothing here decides anything about ordering, consumer creation or deletion;
//! this file names a fresh inbox, waits for the first consumer so that a refusal is the
//! caller's error, and turns delivered messages into acknowledgeable ones.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use nats_sansio::jetstream::consume::OrderedConsume;
use nats_sansio::jetstream::ordered::OrderedConfig;

use super::message::JsMessage;
use super::{Context, JetStreamError};
use crate::machine_stream::MachineStream;

/// Messages of an ordered consumer: every message of the stream (or of its filter) from the
/// configured start, in stream order, each exactly once. The consumers behind it are
/// ephemeral, created, replaced and deleted as needed. It ends only on a terminal error
/// (yielded first) or when dropped.
#[derive(Debug)]
pub struct OrderedMessages {
    inner: MachineStream<OrderedConsume, JetStreamError>,
}

impl OrderedMessages {
    /// Creates the first consumer and returns once it exists.
    pub(crate) async fn start(
        context: Context,
        stream: &str,
        config: OrderedConfig,
    ) -> Result<OrderedMessages, JetStreamError> {
        let client = context.client().clone();
        let now = client.shared_state().runtime.now();
        let machine =
            OrderedConsume::new(now, context.prefix(), stream, &client.new_inbox(), config)?;
        // The first creation is awaited here, so a refusal is this call's error.
        let inner = MachineStream::start(client, machine, context.timeout()).await?;
        Ok(OrderedMessages { inner })
    }

    /// The consumer currently read, if one is.
    pub fn consumer_name(&self) -> Option<&str> {
        self.inner.machine().consumer_name()
    }

    /// The stream sequence of the last message yielded (0: none yet).
    pub fn last_stream_sequence(&self) -> u64 {
        self.inner.machine().last_stream_sequence()
    }

    /// How many times the consumer was replaced.
    pub fn resets(&self) -> u64 {
        self.inner.machine().resets()
    }

    /// Flow-control requests (and stalls) answered so far (push mode).
    pub fn flow_control_answered(&self) -> u64 {
        self.inner.machine().flow_control_answered()
    }
}

impl futures_lite::Stream for OrderedMessages {
    type Item = Result<JsMessage, JetStreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_item_with(cx, JsMessage::new)
    }
}
