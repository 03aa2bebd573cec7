//! Pull consumers: `fetch` (one pull) and `messages` (pulls kept in flight), both a stream of
//! messages driven by the core's `PullMachine`.
//!
//! Invariant: this file only wires the machine to IO. Messages arriving on the inbox go to
//! the machine, which says whether each is user data; the pull requests it emits are
//! published with the inbox as the reply; its deadline is a runtime timer; connection events
//! (disconnected, reconnected, from the link epoch) are handed to it. No pull logic lives here.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use bytes::Bytes;
use nats_sansio::jetstream::api::ConsumerInfo;
use nats_sansio::jetstream::pull::{
    ConsumeOptions, FetchOptions, FinishReason, PullEvent, PullMachine, Received,
};

use super::message::JsMessage;
use super::{Context, JetStreamError};
use crate::link::LinkWatch;
use crate::runtime::DeadlineTimer;
use crate::Subscriber;

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
        self.info = self.context.request(subject, None::<&()>).await?;
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
    pub async fn messages(&self, options: ConsumeOptions) -> Result<Messages, JetStreamError> {
        let now = self.context.client().shared_state().runtime.now();
        let machine = PullMachine::consume(now, options)?;
        self.messages_with(machine).await
    }

    async fn messages_with(&self, machine: PullMachine) -> Result<Messages, JetStreamError> {
        let client = self.context.client();
        let inbox = client.new_inbox();
        let subscriber = client
            .subscribe(&inbox)
            .await
            .map_err(JetStreamError::Subscribe)?;
        let next = self
            .context
            .prefix()
            .consumer_msg_next(&self.info.stream_name, &self.info.name)?;
        let runtime = Arc::clone(&client.shared_state().runtime);
        let timer = DeadlineTimer::new(runtime.as_ref());
        Ok(Messages {
            context: self.context.clone(),
            machine,
            subscriber,
            link: LinkWatch::new(Arc::clone(client.shared_state())),
            inbox,
            next,
            timer,
            errors: VecDeque::new(),
            finished: false,
        })
    }
}

/// Messages of a fetch or a continuous consume. Ends after a fetch completes; a consume
/// ends only on a terminal error (yielded first) or when dropped.
pub struct Messages {
    context: Context,
    machine: PullMachine,
    subscriber: Subscriber,
    link: LinkWatch,
    inbox: String,
    next: String,
    timer: DeadlineTimer,
    errors: VecDeque<JetStreamError>,
    finished: bool,
}

impl std::fmt::Debug for Messages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messages")
            .field("inbox", &self.inbox)
            .field("pending_messages", &self.machine.pending_messages())
            .finish_non_exhaustive()
    }
}

impl Messages {
    fn now(&self) -> Instant {
        self.context.client().shared_state().runtime.now()
    }

    /// Publishes what the machine asks for and collects its events.
    fn drain_machine(&mut self) {
        while let Some(pull) = self.machine.poll_pull() {
            let body = Bytes::from(pull.to_json());
            let shared = self.context.client().shared_state();
            let result = shared.command(|state| {
                state
                    .conn
                    .publish(&self.next, Some(&self.inbox), None, body)
            });
            if let Err(e) = result {
                self.errors.push_back(e.into());
            }
        }
        while let Some(event) = self.machine.poll_event() {
            match event {
                PullEvent::Error(e) => self.errors.push_back(e.into()),
                PullEvent::Finished(reason) => {
                    self.finished = true;
                    if reason == FinishReason::Failed && self.errors.is_empty() {
                        self.errors
                            .push_back(JetStreamError::Malformed("pull consumer failed".into()));
                    }
                }
                _ => {}
            }
        }
    }
}

impl futures_lite::Stream for Messages {
    type Item = Result<JsMessage, JetStreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            this.drain_machine();
            if let Some(error) = this.errors.pop_front() {
                return Poll::Ready(Some(Err(error)));
            }
            if this.finished {
                return Poll::Ready(None);
            }
            // Connection changes pause and resume the pulls (read from the link epoch, so
            // none is missed however long this stream was not polled).
            let change = this.link.poll(cx);
            if change.any() {
                let now = this.now();
                if change.down {
                    this.machine.handle_disconnected(now);
                }
                if change.up {
                    this.machine.handle_reconnected(now);
                }
                continue;
            }
            match Pin::new(&mut this.subscriber).poll_next(cx) {
                Poll::Ready(Some(message)) => {
                    let now = this.now();
                    if this.machine.handle_message(now, &message) == Received::Message {
                        this.drain_machine();
                        return Poll::Ready(Some(Ok(JsMessage::new(
                            this.context.client().clone(),
                            message,
                        ))));
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
