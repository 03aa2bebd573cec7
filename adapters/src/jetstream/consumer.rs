//! Pull consumers: `fetch` (one pull) and `messages` (pulls kept in flight), both a stream of
//! messages: the core's `PullConsume` machine on the generic driver.
//!
//! Invariant: nothing here decides anything about pulls; this file names the consumer and a
//! fresh inbox, and turns delivered messages into acknowledgeable ones.

/// A consumer's configuration, as async-nats names it (`jetstream::consumer::Config`).
pub use nats_sansio::jetstream::api::ConsumerConfig as Config;
/// What the server says about a consumer (`jetstream::consumer::Info`).
pub use nats_sansio::jetstream::api::ConsumerInfo as Info;
pub use nats_sansio::jetstream::api::{AckPolicy, DeliverPolicy, ReplayPolicy};

/// Pull consumers under the names async-nats uses (`jetstream::consumer::pull::Config`).
pub mod pull {
    /// A pull consumer's configuration: the one consumer configuration, without a
    /// deliver subject.
    pub use nats_sansio::jetstream::api::ConsumerConfig as Config;
}

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

    /// One pull of the messages available now, as async-nats's `fetch()`: a builder whose
    /// [`messages`](FetchBuilder::messages) starts it. It asks for up to 100 messages (or
    /// what [`max_messages`](FetchBuilder::max_messages) says) and ends as soon as the
    /// server has no more, without an error when there were none.
    ///
    /// ```no_run
    /// # async fn run(consumer: nats_client::jetstream::Consumer) -> Result<(), nats_client::jetstream::JetStreamError> {
    /// use futures_lite::StreamExt;
    ///
    /// let mut batch = consumer.fetch().max_messages(10).messages().await?;
    /// while let Some(message) = batch.next().await {
    ///     message?.ack().await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn fetch(&self) -> FetchBuilder {
        FetchBuilder {
            consumer: self.clone(),
            options: FetchOptions::no_wait(DEFAULT_BATCH),
        }
    }

    /// One pull that waits for messages, as async-nats's `batch()`: up to 100 messages (or
    /// what [`max_messages`](FetchBuilder::max_messages) says), ending when they arrived or
    /// the pull expires (30 s unless [`expires`](FetchBuilder::expires) says otherwise).
    pub fn batch(&self) -> FetchBuilder {
        FetchBuilder {
            consumer: self.clone(),
            options: FetchOptions::messages(DEFAULT_BATCH),
        }
    }

    /// One pull with options: up to `max_messages` messages, ending early when the server
    /// has no more (`no_wait`) or the pull expires.
    pub async fn fetch_with(&self, options: FetchOptions) -> Result<Messages, JetStreamError> {
        let now = self.context.client().shared_state().runtime.now();
        let machine = PullMachine::fetch(now, options)?;
        self.start(machine).await
    }

    /// A continuous stream of messages with the default pull settings (500 messages kept
    /// requested, pulls expiring after 30 s, idle heartbeats), as async-nats's
    /// `messages()`; [`stream`](Self::stream) is the builder for other settings and
    /// [`messages_with`](Self::messages_with) takes them as [`ConsumeOptions`].
    ///
    /// Each item is a [`JsMessage`] to acknowledge, or an error; a terminal error (the
    /// consumer was deleted, for example) is yielded and then the stream ends. Dropping the
    /// stream stops pulling. Reconnects are handled. For one bounded batch, use
    /// [`fetch`](Self::fetch).
    ///
    /// ```no_run
    /// # async fn run(stream: nats_client::jetstream::Stream) -> Result<(), nats_client::jetstream::JetStreamError> {
    /// use futures_lite::StreamExt;
    /// use nats_client::jetstream::consumer::pull;
    ///
    /// let consumer = stream
    ///     .create_consumer(pull::Config {
    ///         durable_name: "billing".into(),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    ///
    /// let mut messages = consumer.messages().await?;
    /// while let Some(message) = messages.next().await {
    ///     let message = message?;
    ///     let info = message.info()?;
    ///     println!("#{} on {}", info.stream_sequence, message.subject);
    ///     message.ack().await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn messages(&self) -> Result<Messages, JetStreamError> {
        self.messages_with(ConsumeOptions::new()).await
    }

    /// A builder for a continuous stream with other pull settings, as async-nats's
    /// `stream()`: `consumer.stream().max_messages_per_batch(100).messages().await`.
    pub fn stream(&self) -> StreamBuilder {
        StreamBuilder {
            consumer: self.clone(),
            options: ConsumeOptions::new(),
        }
    }

    /// A continuous stream of messages with the given pull settings (see
    /// [`messages`](Self::messages)).
    pub async fn messages_with(&self, options: ConsumeOptions) -> Result<Messages, JetStreamError> {
        let now = self.context.client().shared_state().runtime.now();
        let machine = PullMachine::consume(now, options)?;
        self.start(machine).await
    }

    async fn start(&self, machine: PullMachine) -> Result<Messages, JetStreamError> {
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

/// How many messages [`Consumer::fetch`] and [`Consumer::batch`] ask for unless told.
pub const DEFAULT_BATCH: usize = 100;

/// The settings of one pull, started by [`messages`](Self::messages); made by
/// [`Consumer::fetch`] (no waiting) or [`Consumer::batch`] (waiting up to the expiry).
#[derive(Debug, Clone)]
#[must_use = "a pull starts only when `messages()` is awaited"]
pub struct FetchBuilder {
    consumer: Consumer,
    options: FetchOptions,
}

impl FetchBuilder {
    /// Ask for up to `n` messages.
    pub fn max_messages(mut self, n: usize) -> FetchBuilder {
        self.options.max_messages = Some(n);
        self
    }

    /// Ask for up to `n` bytes of messages (and no more messages than a message limit, if
    /// one is set too).
    pub fn max_bytes(mut self, n: usize) -> FetchBuilder {
        self.options.max_bytes = Some(n);
        self
    }

    /// The pull expires on the server after `expires`. On a [`Consumer::fetch`] the server
    /// then waits up to `expires` for the first message instead of answering at once.
    pub fn expires(mut self, expires: std::time::Duration) -> FetchBuilder {
        self.options.expires = Some(expires);
        self
    }

    /// Ask for idle heartbeats at this interval (at most half the expiry); the pull fails
    /// with a missed-heartbeat error after two go missing.
    pub fn heartbeat(mut self, interval: std::time::Duration) -> FetchBuilder {
        self.options.idle_heartbeat = Some(interval);
        self
    }

    /// Starts the pull; its messages come as a stream that ends with the pull.
    pub async fn messages(self) -> Result<Messages, JetStreamError> {
        self.consumer.fetch_with(self.options).await
    }
}

/// The settings of a continuous stream, started by [`messages`](Self::messages); made by
/// [`Consumer::stream`].
#[derive(Debug, Clone)]
#[must_use = "nothing is pulled until `messages()` is awaited"]
pub struct StreamBuilder {
    consumer: Consumer,
    options: ConsumeOptions,
}

impl StreamBuilder {
    /// Keep up to `n` messages requested (default 500).
    pub fn max_messages_per_batch(mut self, n: usize) -> StreamBuilder {
        self.options.max_messages = Some(n);
        self
    }

    /// Keep up to `n` bytes requested, instead of a message count.
    pub fn max_bytes_per_batch(mut self, n: usize) -> StreamBuilder {
        self.options.max_bytes = Some(n);
        self
    }

    /// Each pull expires after `expires` (default 30 s, at least 1 s).
    pub fn expires(mut self, expires: std::time::Duration) -> StreamBuilder {
        self.options.expires = Some(expires);
        self
    }

    /// Heartbeat interval (default half the expiry, clamped to 500 ms ..= 30 s).
    pub fn heartbeat(mut self, interval: std::time::Duration) -> StreamBuilder {
        self.options.idle_heartbeat = Some(interval);
        self
    }

    /// Pull again when the messages still requested drop to `n` (default half).
    pub fn threshold_messages(mut self, n: usize) -> StreamBuilder {
        self.options.threshold_messages = Some(n);
        self
    }

    /// Pull again when the bytes still requested drop to `n` (default half).
    pub fn threshold_bytes(mut self, n: usize) -> StreamBuilder {
        self.options.threshold_bytes = Some(n);
        self
    }

    /// Starts pulling.
    pub async fn messages(self) -> Result<Messages, JetStreamError> {
        self.consumer.messages_with(self.options).await
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
