//! `OrderedApp`: an ordered consumer (`OrderedConsumer`, pull form) on a simulated client.
//!
//! Invariant: glue only, as the adapter's `OrderedMessages` does it. Every message of the
//! `<inbox>.*` subscription goes to the machine in arrival order and is recorded exactly when
//! the machine says `Deliver`; a consumer creation is an API request whose outcome goes back
//! to the machine (one at a time, as it asks); deletions are fire-and-forget publishes; pulls
//! are published with the reply the machine names; the link going down and up is handed to
//! it from the connection's events.

use std::any::Any;
use std::time::Instant;

use bytes::Bytes;
use nats_sansio::connection::{RequestError, RequestId, Sid};
use nats_sansio::jetstream::api::{parse_response, ApiPrefix, ConsumerInfo, ResponseError};
use nats_sansio::jetstream::ordered::{
    CreateError, OrderedAction, OrderedConfig, OrderedConsumer, OrderedEvent, OrderedReceived,
};
use nats_sansio::proto::Message;
use nats_sansio::Event;

use super::app::{App, AppCx};

/// One message the application was given.
#[derive(Debug, Clone)]
pub(crate) struct Delivered {
    pub(crate) stream_sequence: u64,
    pub(crate) subject: String,
    pub(crate) payload: Vec<u8>,
}

#[derive(Debug)]
pub(crate) struct OrderedApp {
    stream: String,
    config: OrderedConfig,
    api: ApiPrefix,
    machine: Option<OrderedConsumer>,
    /// The consumer creation in flight.
    creating: Option<RequestId>,
    pub(crate) delivered: Vec<Delivered>,
    pub(crate) events: Vec<OrderedEvent>,
}

impl OrderedApp {
    pub(crate) fn new(stream: &str, config: OrderedConfig) -> OrderedApp {
        OrderedApp {
            stream: stream.to_owned(),
            config,
            api: ApiPrefix::default(),
            machine: None,
            creating: None,
            delivered: Vec::new(),
            events: Vec::new(),
        }
    }

    pub(crate) fn machine(&self) -> &OrderedConsumer {
        self.machine.as_ref().expect("started")
    }

    fn machine_mut(&mut self) -> &mut OrderedConsumer {
        self.machine.as_mut().expect("started")
    }

    /// Performs what the machine asks for and collects its events.
    fn drive(&mut self, cx: &mut AppCx<'_>) {
        let now = cx.now;
        while let Some(action) = self.machine_mut().poll_action() {
            match action {
                OrderedAction::CreateConsumer(request) => {
                    assert!(self.creating.is_none(), "two consumer creations at once");
                    let config = &request.config;
                    let filter = (!config.filter_subject.is_empty())
                        .then_some(config.filter_subject.as_str());
                    let subject = self
                        .api
                        .consumer_create(&self.stream, &config.name, filter)
                        .expect("valid names");
                    let body = Bytes::from(serde_json::to_vec(&*request).expect("json"));
                    match cx.conn.request(now, &subject, None, body, None) {
                        Ok(id) => self.creating = Some(id),
                        Err(e) => self.machine_mut().handle_consumer_created(
                            now,
                            Err(CreateError::Unavailable(e.to_string())),
                        ),
                    }
                }
                OrderedAction::DeleteConsumer(name) => {
                    let subject = self
                        .api
                        .consumer_delete(&self.stream, &name)
                        .expect("valid names");
                    // Best effort, as the adapter's background delete.
                    let _ = cx.conn.publish(&subject, None, None, Bytes::new());
                }
                OrderedAction::Publish(subject) => {
                    let _ = cx.conn.publish(&subject, None, None, Bytes::new());
                }
            }
        }
        while let Some(pull) = self.machine_mut().poll_pull() {
            let subject = self
                .api
                .consumer_msg_next(&self.stream, &pull.consumer)
                .expect("valid names");
            let body = Bytes::from(pull.request.to_json());
            // A lost pull is caught by the missed-heartbeat alarm.
            let _ = cx.conn.publish(&subject, Some(&pull.reply), None, body);
        }
        while let Some(event) = self.machine_mut().poll_event() {
            self.events.push(event);
        }
    }
}

/// A creation reply as the machine wants it.
fn created(result: &Result<Message, RequestError>) -> Result<ConsumerInfo, CreateError> {
    match result {
        Ok(reply) => parse_response::<ConsumerInfo>(&reply.payload).map_err(|e| match e {
            ResponseError::Api(api) => CreateError::Api(api),
            other => CreateError::Unavailable(other.to_string()),
        }),
        Err(RequestError::NoResponders) => Err(CreateError::NoResponders),
        Err(other) => Err(CreateError::Unavailable(other.to_string())),
    }
}

impl App for OrderedApp {
    fn start(&mut self, cx: &mut AppCx<'_>) {
        let inbox = cx.conn.new_inbox();
        // The inbox's random token names the consumers, as the adapter does.
        let prefix = inbox.rsplit('.').next().unwrap_or("ordered").to_owned();
        cx.subscribe(&format!("{inbox}.*"));
        let mut machine =
            OrderedConsumer::new(cx.now, &self.stream, &prefix, &inbox, self.config.clone())
                .expect("valid ordered config");
        if !cx.is_connected() {
            machine.handle_disconnected(cx.now);
        }
        self.machine = Some(machine);
        self.drive(cx);
    }

    fn on_event(&mut self, cx: &mut AppCx<'_>, event: &Event) {
        let now = cx.now;
        match event {
            Event::Disconnected { .. } => self.machine_mut().handle_disconnected(now),
            Event::Reconnected { .. } => self.machine_mut().handle_reconnected(now),
            Event::Response { id, result } if Some(*id) == self.creating => {
                self.creating = None;
                let outcome = created(result);
                self.machine_mut().handle_consumer_created(now, outcome);
            }
            _ => return,
        }
        self.drive(cx);
    }

    fn on_message(&mut self, cx: &mut AppCx<'_>, _sid: Sid, message: Message) {
        let now = cx.now;
        if let OrderedReceived::Deliver(meta) = self.machine_mut().handle_message(now, &message) {
            self.delivered.push(Delivered {
                stream_sequence: meta.stream_sequence,
                subject: message.subject.as_str().to_owned(),
                payload: message.payload.to_vec(),
            });
        }
        self.drive(cx);
    }

    fn on_timeout(&mut self, cx: &mut AppCx<'_>) {
        let now = cx.now;
        self.machine_mut().handle_timeout(now);
        self.drive(cx);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.machine
            .as_ref()
            .and_then(OrderedConsumer::poll_timeout)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
