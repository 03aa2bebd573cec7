//! The ordered consumer ([`OrderedConsumer`]) in the machine shape: it creates, follows,
//! replaces and deletes its ephemeral consumers through API requests whose subjects and
//! replies are decided here, subscribes its inbox (pull form) or each generation's deliver
//! subject (push form), and delivers the stream's messages in order, each once.
//!
//! Invariant: at most one creation is in flight, and its reply (or failure) goes back to the
//! machine exactly once; in push form a generation's deliver subject is subscribed before
//! its creation is requested, so nothing it pushes is missed, and only the current and the
//! previous generation stay subscribed. Deletions are requests whose replies nobody reads.

use std::time::Instant;

use bytes::Bytes;

use super::Outputs;
use crate::connection::RequestError;
use crate::jetstream::ack::AckSpans;
use crate::jetstream::api::{
    parse_response, ApiPrefix, ConsumerInfo, CreateConsumerRequest, ResponseError,
};
use crate::jetstream::ordered::{
    CreateError, FirstConsumer, OrderedAction, OrderedConfig, OrderedConfigError, OrderedConsumer,
    OrderedError, OrderedEvent, OrderedMode, OrderedReceived,
};
use crate::machine::{Link, Machine, Output, Publish};
use crate::proto::Message;

/// Every message of a stream (or of its filter) from the configured start, in stream order,
/// each exactly once.
#[derive(Debug)]
pub struct OrderedConsume {
    machine: OrderedConsumer,
    prefix: ApiPrefix,
    stream: String,
    push: bool,
    /// Push form: the deliver subjects subscribed, oldest first (at most two).
    generations: Vec<String>,
    /// The token of the creation in flight.
    creating: Option<u64>,
    next_token: u64,
    resets: u64,
    flow_control_answered: u64,
    outputs: Outputs<Message, OrderedError>,
}

impl OrderedConsume {
    /// Reads `stream` through `inbox` (a fresh inbox of this connection; its last token
    /// names the consumers `<token>_<serial>`). The first creation is asked for at once.
    ///
    /// # Errors
    ///
    /// An invalid name or invalid pull options.
    pub fn new(
        now: Instant,
        prefix: &ApiPrefix,
        stream: &str,
        inbox: &str,
        config: OrderedConfig,
    ) -> Result<OrderedConsume, OrderedConfigError> {
        let name_prefix = inbox.rsplit('.').next().unwrap_or("ordered");
        let push = config.mode != OrderedMode::Pull;
        let machine = OrderedConsumer::new(now, stream, name_prefix, inbox, config)?;
        let mut this = OrderedConsume {
            machine,
            prefix: prefix.clone(),
            stream: stream.to_owned(),
            push,
            generations: Vec::new(),
            creating: None,
            next_token: 0,
            resets: 0,
            flow_control_answered: 0,
            outputs: Outputs::default(),
        };
        if !push {
            this.outputs.push(Output::Subscribe {
                subject: format!("{inbox}.*"),
                queue_group: None,
            });
        }
        this.collect_requests();
        this.collect_events();
        Ok(this)
    }

    /// The consumer currently read, if one is.
    pub fn consumer_name(&self) -> Option<&str> {
        self.machine.consumer_name()
    }

    /// The stream sequence of the last message delivered (0: none yet).
    pub fn last_stream_sequence(&self) -> u64 {
        self.machine.last_stream_sequence()
    }

    /// The first consumer created and its backlog then, once its creation was confirmed.
    pub fn first_consumer(&self) -> Option<&FirstConsumer> {
        self.machine.first_consumer()
    }

    /// The ack metadata of the last message delivered
    /// ([`OrderedConsumer::last_delivered`]): what a machine built on this one reads of
    /// each `Deliver` it takes, right after the input that produced it.
    pub fn last_delivered(&self) -> Option<&AckSpans> {
        self.machine.last_delivered()
    }

    /// How many times the consumer was replaced.
    pub fn resets(&self) -> u64 {
        self.resets
    }

    /// Flow-control requests (and stalls) answered so far (push form).
    pub fn flow_control_answered(&self) -> u64 {
        self.flow_control_answered
    }

    /// The application still holds `messages` of the delivered messages, `bytes` bytes in
    /// all (pull form; [`OrderedConsumer::set_held`]): pulls count them against the byte or
    /// message budget. Letting go of some may make a pull due: drain the outputs after.
    pub fn set_held(&mut self, messages: usize, bytes: usize) {
        self.machine.set_held(messages, bytes);
        self.collect();
    }

    /// Every message delivered counts as held at once ([`OrderedConsumer::hold_delivered`]),
    /// until lowered with [`set_held`](Self::set_held).
    pub fn hold_delivered(&mut self) {
        self.machine.hold_delivered();
    }

    /// Whether a consumer creation is waiting for its reply.
    pub fn is_creating(&self) -> bool {
        self.creating.is_some()
    }

    fn request(&mut self, subject: String, payload: Bytes) -> u64 {
        self.next_token += 1;
        let token = self.next_token;
        self.outputs.push(Output::Request {
            token,
            subject,
            payload,
        });
        token
    }

    /// API calls, flow-control answers and pulls the machine asks for.
    fn collect_requests(&mut self) {
        while let Some(action) = self.machine.poll_action() {
            match action {
                OrderedAction::CreateConsumer(request) => self.create(*request),
                OrderedAction::DeleteConsumer(name) => {
                    // Best effort: the server removes it after its inactive threshold anyway.
                    if let Ok(subject) = self.prefix.consumer_delete(&self.stream, &name) {
                        self.request(subject, Bytes::new());
                    }
                }
                OrderedAction::Publish(subject) => {
                    self.flow_control_answered += 1;
                    self.outputs
                        .push(Output::Publish(Publish::new(subject, Bytes::new())));
                }
            }
        }
        while let Some(pull) = self.machine.poll_pull() {
            // A pull that cannot be sent is caught by the missed-heartbeat alarm.
            if let Ok(next) = self.prefix.consumer_msg_next(&self.stream, &pull.consumer) {
                let body = Bytes::from(pull.request.to_json());
                self.outputs.push(Output::Publish(
                    Publish::new(next, body).with_reply(pull.reply),
                ));
            }
        }
    }

    fn create(&mut self, request: CreateConsumerRequest) {
        let subject = match self.prefix.consumer_create_for(&request) {
            Ok(subject) => subject,
            Err(e) => {
                let now = self.machine_now();
                self.machine
                    .handle_consumer_created(now, Err(CreateError::Unavailable(e.to_string())));
                return;
            }
        };
        if self.push {
            let deliver = request.config.deliver_subject.clone();
            if self.generations.len() == 2 {
                let oldest = self.generations.remove(0);
                self.outputs.push(Output::Unsubscribe { subject: oldest });
            }
            self.outputs.push(Output::Subscribe {
                subject: deliver.clone(),
                queue_group: None,
            });
            self.generations.push(deliver);
        }
        let payload = match serde_json::to_vec(&request) {
            Ok(body) => Bytes::from(body),
            Err(e) => {
                let now = self.machine_now();
                self.machine
                    .handle_consumer_created(now, Err(CreateError::Unavailable(e.to_string())));
                return;
            }
        };
        self.creating = Some(self.request(subject, payload));
    }

    /// The machine's own clock, for outcomes decided without a new input.
    fn machine_now(&self) -> Instant {
        self.machine.now()
    }

    fn collect_events(&mut self) {
        while let Some(event) = self.machine.poll_event() {
            match event {
                OrderedEvent::Error(error) => self.outputs.push(Output::Error(error)),
                OrderedEvent::Finished => self.outputs.push(Output::Finished),
                OrderedEvent::Reset { .. } => self.resets += 1,
                _ => {}
            }
        }
    }

    fn collect(&mut self) {
        self.collect_requests();
        self.collect_events();
    }
}

/// What a creation's reply means to the machine.
fn creation_outcome(reply: Result<Message, RequestError>) -> Result<ConsumerInfo, CreateError> {
    match reply {
        Ok(message) => match parse_response::<ConsumerInfo>(&message.payload) {
            Ok(info) => Ok(info),
            Err(ResponseError::Api(api)) => Err(CreateError::Api(api)),
            Err(other) => Err(CreateError::Unavailable(other.to_string())),
        },
        Err(RequestError::NoResponders) => Err(CreateError::NoResponders),
        Err(other) => Err(CreateError::Unavailable(other.to_string())),
    }
}

impl Machine for OrderedConsume {
    type Item = Message;
    type Error = OrderedError;

    fn handle_message(&mut self, now: Instant, message: Message) {
        let received = self.machine.handle_message(now, &message);
        self.collect_requests();
        if let OrderedReceived::Deliver { .. } = received {
            self.outputs.push(Output::Deliver(message));
        }
        self.collect();
    }

    fn handle_reply(&mut self, now: Instant, token: u64, reply: Result<Message, RequestError>) {
        if self.creating != Some(token) {
            // A deletion's answer: nobody waits for it.
            return;
        }
        self.creating = None;
        self.machine
            .handle_consumer_created(now, creation_outcome(reply));
        self.collect();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.machine.handle_timeout(now);
        self.collect();
    }

    fn handle_link(&mut self, now: Instant, link: Link) {
        match link {
            Link::Down => self.machine.handle_disconnected(now),
            Link::Up => self.machine.handle_reconnected(now),
        }
        self.collect();
    }

    fn stop(&mut self) {
        self.machine.stop();
        self.collect_requests();
        self.outputs.push(Output::Finished);
    }

    fn poll_output(&mut self) -> Option<Output<Message, OrderedError>> {
        self.outputs.pop()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.machine.poll_timeout()
    }
}
