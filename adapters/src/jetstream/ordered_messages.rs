//! The ordered consumer: a stream of a JetStream stream's messages, in order, each once,
//! across gaps, missed heartbeats, deleted consumers and reconnects. The core's
//! `OrderedConsumer` decides everything; this file wires it to IO.
//!
//! Invariant: every message of the inbox subscription goes to the machine in arrival order
//! and is yielded exactly when the machine says `Deliver`; its consumer creations are API
//! requests whose outcome goes back to it (one at a time, as it asks), its deletions are
//! fire-and-forget background requests, its pulls are published with the reply it names, its
//! deadline is a runtime timer, its flow-control answers are empty publishes made before the
//! next message is yielded, and link changes (from the core's link epoch) are handed to it. No ordering logic lives
//! here. Push mode shares all of this: its deliver subjects are under the same inbox.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use bytes::Bytes;
use nats_sansio::jetstream::api::{ConsumerInfo, CreateConsumerRequest, SuccessResponse};
use nats_sansio::jetstream::ordered::{
    OrderedAction, OrderedConfig, OrderedConsumer, OrderedEvent, OrderedMode, OrderedReceived,
};

use super::message::JsMessage;
use super::{Context, JetStreamError};
use crate::link::LinkWatch;
use crate::runtime::{BoxFuture, DeadlineTimer};
use crate::Subscriber;

/// Messages of an ordered consumer: every message of the stream (or of its filter) from the
/// configured start, in stream order, each exactly once. The consumers behind it are
/// ephemeral, created, replaced and deleted as needed. It ends only on a terminal error
/// (yielded first) or when dropped.
pub struct OrderedMessages {
    context: Context,
    machine: OrderedConsumer,
    /// Pull mode: the `<inbox>.*` subscription. Push mode: the deliver subjects of the
    /// previous and the current generation (the server needs an exact subscription).
    subscribers: Vec<Subscriber>,
    push: bool,
    link: LinkWatch,
    stream: String,
    inbox: String,
    timer: DeadlineTimer,
    creating: Option<BoxFuture<Created>>,
    errors: VecDeque<JetStreamError>,
    resets: u64,
    flow_control_answered: u64,
    finished: bool,
}

impl std::fmt::Debug for OrderedMessages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderedMessages")
            .field("stream", &self.stream)
            .field("inbox", &self.inbox)
            .field("consumer", &self.machine.consumer_name())
            .field("last_stream_sequence", &self.machine.last_stream_sequence())
            .finish_non_exhaustive()
    }
}

impl OrderedMessages {
    /// Creates the first consumer and returns once it exists.
    pub(crate) async fn start(
        context: Context,
        stream: &str,
        config: OrderedConfig,
    ) -> Result<OrderedMessages, JetStreamError> {
        let client = context.client().clone();
        let inbox = client.new_inbox();
        // The inbox's random token names the consumers: `<token>_<serial>`.
        let prefix = inbox.rsplit('.').next().unwrap_or("ordered").to_owned();
        let push = config.mode != OrderedMode::Pull;
        let subscribers = if push {
            Vec::new()
        } else {
            vec![client
                .subscribe(&format!("{inbox}.*"))
                .await
                .map_err(JetStreamError::Subscribe)?]
        };
        let link = LinkWatch::new(Arc::clone(client.shared_state()));
        let runtime = Arc::clone(&client.shared_state().runtime);
        let machine = OrderedConsumer::new(runtime.now(), stream, &prefix, &inbox, config)?;
        let mut messages = OrderedMessages {
            context,
            machine,
            subscribers,
            push,
            link,
            stream: stream.to_owned(),
            inbox,
            timer: DeadlineTimer::new(runtime.as_ref()),
            creating: None,
            errors: VecDeque::new(),
            resets: 0,
            flow_control_answered: 0,
            finished: false,
        };
        // The first creation is awaited here, so a refusal is this call's error.
        messages.drive();
        if let Some(creating) = messages.creating.take() {
            let created = creating.await;
            messages.on_created(created);
            messages.drive();
        }
        match messages.errors.pop_front() {
            Some(error) => Err(error),
            None => Ok(messages),
        }
    }

    /// The consumer currently read, if one is.
    pub fn consumer_name(&self) -> Option<&str> {
        self.machine.consumer_name()
    }

    /// The stream sequence of the last message yielded (0: none yet).
    pub fn last_stream_sequence(&self) -> u64 {
        self.machine.last_stream_sequence()
    }

    /// How many times the consumer was replaced.
    pub fn resets(&self) -> u64 {
        self.resets
    }

    /// Flow-control requests (and stalls) answered so far (push mode).
    pub fn flow_control_answered(&self) -> u64 {
        self.flow_control_answered
    }

    /// A creation's outcome; a push generation's subscription becomes the current one.
    fn on_created(&mut self, (subscriber, result): Created) {
        if let Some(subscriber) = subscriber {
            if self.subscribers.len() == 2 {
                // Dropped: unsubscribed; its consumer is being deleted.
                self.subscribers.remove(0);
            }
            self.subscribers.push(subscriber);
        }
        let now = self.now();
        self.machine
            .handle_consumer_created(now, result.map_err(JetStreamError::into_create_error));
    }

    fn now(&self) -> Instant {
        self.context.client().shared_state().runtime.now()
    }

    /// Performs what the machine asks for and collects its events.
    fn drive(&mut self) {
        while let Some(action) = self.machine.poll_action() {
            match action {
                OrderedAction::CreateConsumer(request) => {
                    self.creating =
                        Some(Box::pin(create(self.context.clone(), *request, self.push)));
                }
                OrderedAction::DeleteConsumer(name) => self.delete_in_background(&name),
                OrderedAction::Publish(subject) => {
                    // A flow-control answer: the machine queued it when the application
                    // reached it. Lost with the connection, the reconnect replaces the
                    // consumer anyway.
                    let shared = self.context.client().shared_state();
                    let _ = shared
                        .command(|state| state.conn.publish(&subject, None, None, Bytes::new()));
                    self.flow_control_answered += 1;
                }
            }
        }
        while let Some(pull) = self.machine.poll_pull() {
            let result = self
                .context
                .prefix()
                .consumer_msg_next(&self.stream, &pull.consumer)
                .map_err(JetStreamError::from)
                .and_then(|subject| {
                    let body = Bytes::from(pull.request.to_json());
                    let shared = self.context.client().shared_state();
                    shared
                        .command(|state| {
                            state.conn.publish(&subject, Some(&pull.reply), None, body)
                        })
                        .map_err(JetStreamError::from)
                });
            // A failed publish is caught by the missed-heartbeat alarm, which replaces the
            // consumer; it is not the application's error.
            drop(result);
        }
        while let Some(event) = self.machine.poll_event() {
            match event {
                OrderedEvent::Error(error) => self.errors.push_back(error.into()),
                OrderedEvent::Finished => self.finished = true,
                OrderedEvent::Reset { .. } => self.resets += 1,
                _ => {}
            }
        }
    }

    fn delete_in_background(&self, name: &str) {
        let Ok(subject) = self.context.prefix().consumer_delete(&self.stream, name) else {
            return;
        };
        let context = self.context.clone();
        let runtime = Arc::clone(&self.context.client().shared_state().runtime);
        runtime.spawn(Box::pin(async move {
            // Best effort: the server removes it after its inactive threshold anyway.
            let _ = context
                .request::<SuccessResponse>(subject, None::<&()>)
                .await;
        }));
    }
}

/// A creation's outcome, with the subscription to a push generation's deliver subject.
type Created = (Option<Subscriber>, Result<ConsumerInfo, JetStreamError>);

/// One consumer creation request; in push mode its deliver subject is subscribed first, so
/// nothing it pushes is missed.
async fn create(context: Context, request: CreateConsumerRequest, push: bool) -> Created {
    let mut subscriber = None;
    if push {
        match context
            .client()
            .subscribe(&request.config.deliver_subject)
            .await
        {
            Ok(sub) => subscriber = Some(sub),
            Err(e) => return (None, Err(JetStreamError::Subscribe(e))),
        }
    }
    (subscriber, create_consumer(context, request).await)
}

async fn create_consumer(
    context: Context,
    request: CreateConsumerRequest,
) -> Result<ConsumerInfo, JetStreamError> {
    let config = &request.config;
    let filter = (!config.filter_subject.is_empty()).then_some(config.filter_subject.as_str());
    let subject = context
        .prefix()
        .consumer_create(&request.stream_name, &config.name, filter)?;
    context.request(subject, Some(&request)).await
}

impl Drop for OrderedMessages {
    fn drop(&mut self) {
        self.machine.stop();
        while let Some(action) = self.machine.poll_action() {
            if let OrderedAction::DeleteConsumer(name) = action {
                self.delete_in_background(&name);
            }
        }
    }
}

impl futures_lite::Stream for OrderedMessages {
    type Item = Result<JsMessage, JetStreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            this.drive();
            if let Some(error) = this.errors.pop_front() {
                return Poll::Ready(Some(Err(error)));
            }
            if this.finished {
                return Poll::Ready(None);
            }
            // Connection changes, from the link epoch: none is missed however long this
            // stream was not polled.
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
            if let Some(creating) = this.creating.as_mut() {
                if let Poll::Ready(created) = creating.as_mut().poll(cx) {
                    this.creating = None;
                    this.on_created(created);
                    continue;
                }
            }
            // The previous generation's first: what it still delivers comes before.
            let mut polled = Poll::Pending;
            for subscriber in &mut this.subscribers {
                polled = Pin::new(subscriber).poll_next(cx);
                if polled.is_ready() {
                    break;
                }
            }
            match polled {
                Poll::Ready(Some(message)) => {
                    let now = this.now();
                    if let OrderedReceived::Deliver(_) = this.machine.handle_message(now, &message)
                    {
                        this.drive();
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
