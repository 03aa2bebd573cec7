//! Pull consumers: `fetch` (one pull) and `messages` (pulls kept in flight), both a stream of
//! messages: the core's `PullConsume` machine on the generic driver.
//!
//! Invariant: nothing here decides anything about pulls; this file names the consumer and a
//! fresh inbox, and turns delivered messages into acknowledgeable ones.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use nats_sansio::jetstream::api::ConsumerInfo;
use nats_sansio::jetstream::consume::PullConsume;
use nats_sansio::jetstream::pull::{ConsumeOptions, FetchOptions, PullMachine};

use super::message::JsMessage;
use super::{Context, JetStreamError};
use crate::machine_stream::MachineStream;
/// A pull consumer.
#[derive(Debug, Clone)]
pub struct Consumer {
    context: Context,
    info: ConsumerInfo,
}

impl Consumer {
    pub(crate) fn new(context: Context, info: ConsumerInfo) -> Consumer {
        Consumer { context, info }
    }

    /// The consumer's name.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The info last fetched.
    pub fn cached_info(&self) -> &ConsumerInfo {
        &self.info
    }

    pub(crate) fn context(&self) -> &Context {
        &self.context
    }

    /// Fetches the consumer's current info.
    pub async fn info(&mut self) -> Result<&ConsumerInfo, JetStreamError> {
        let subject = self
            .context
            .prefix()
            .consumer_info(&self.info.stream_name, &self.info.name)?;
        self.info = self.context.api_request(subject, None::<&()>).await?;
        Ok(&self.info)
    }

    /// One pull: up to `max_messages` messages, ending early when the server has no more
    /// (`no_wait`) or the pull expires.
    pub async fn fetch(&self, options: FetchOptions) -> Result<Messages, JetStreamError> {
        let now = self.context.client().shared_state().runtime.now();
        let machine = PullMachine::fetch(now, options)?;
        self.messages_with(machine).await
    }

    /// A continuous stream of messages, with pulls kept in flight by message (or byte)
    /// thresholds, idle heartbeats, and reconnects handled.
    ///
    /// Each item is a [`JsMessage`] to acknowledge, or an error; a terminal error (the
    /// consumer was deleted, for example) is yielded and then the stream ends. Dropping the
    /// stream stops pulling. For one bounded batch, use [`fetch`](Self::fetch).
    ///
    /// ```no_run
    /// # async fn run(stream: nats_client::jetstream::Stream) -> Result<(), nats_client::jetstream::JetStreamError> {
    /// use futures_lite::StreamExt;
    /// use nats_client::jetstream::{api::ConsumerConfig, pull::ConsumeOptions};
    ///
    /// let mut config = ConsumerConfig::default();
    /// config.durable_name = "billing".into();
    /// let consumer = stream.create_consumer(config).await?;
    ///
    /// // Up to 100 messages kept in flight (the default budget is larger).
    /// let mut messages = consumer.messages(ConsumeOptions::messages(100)).await?;
    /// while let Some(message) = messages.next().await {
    ///     let mut message = message?;
    ///     let metadata = message.metadata()?;
    ///     println!("#{} on {}", metadata.stream_sequence, message.subject);
    ///     message.ack().await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn messages(&self, options: ConsumeOptions) -> Result<Messages, JetStreamError> {
        let now = self.context.client().shared_state().runtime.now();
        let machine = PullMachine::consume(now, options)?;
        self.messages_with(machine).await
    }

    async fn messages_with(&self, machine: PullMachine) -> Result<Messages, JetStreamError> {
        let client = self.context.client().clone();
        let machine = PullConsume::new(
            self.context.prefix(),
            &self.info.stream_name,
            &self.info.name,
            client.new_inbox(),
            machine,
        )?;
        let inner = MachineStream::start(client, machine, self.context.timeout()).await?;
        Ok(Messages { inner })
    }
}

/// Messages of a fetch or a continuous consume. Ends after a fetch completes; a consume
/// ends only on a terminal error (yielded first) or when dropped.
#[derive(Debug)]
pub struct Messages {
    inner: MachineStream<PullConsume, JetStreamError>,
}

impl futures_lite::Stream for Messages {
    type Item = Result<JsMessage, JetStreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_item_with(cx, JsMessage::new)
    }
}
