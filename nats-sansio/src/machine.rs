//! The one shape of every machine above the connection: JetStream consumers today, the
//! key-value watcher, object get and put and service endpoints next.
//!
//! A machine never touches the [`Connection`](crate::Connection). Its driver carries out
//! what [`Machine::poll_output`] asks (subscribe, publish, send an API request, hand an item
//! to the application), feeds back what arrives ([`Machine::handle_message`],
//! [`Machine::handle_reply`]), fires its deadline ([`Machine::handle_timeout`]), and tells it
//! when the link to the server went down or came back ([`Machine::handle_link`]), which the
//! driver reads from [`Connection::link_epoch`](crate::Connection::link_epoch), never from
//! the application's event stream (which may drop old events).
//!
//! Invariant: a machine's protocol rules (which subject to use, how a reply maps to an
//! error, when to retry or pull again) live in the machine; a driver decides nothing and
//! carries out every output in the order the machine gave it, so one generic driver serves
//! every machine, in an async runtime, a blocking loop or the simulation.
//!
//! # The run loop
//!
//! After creating a machine and after every `handle_*` call, drain
//! [`poll_output`](Machine::poll_output), then sleep until
//! [`poll_timeout`](Machine::poll_timeout) (or until a message, a reply or a link change
//! arrives):
//!
//! ```
//! use std::time::Instant;
//! use nats_sansio::machine::{Machine, Output};
//!
//! /// Carries out a machine's outputs; returns the items for the application.
//! fn drain<M: Machine>(machine: &mut M) -> Vec<M::Item> {
//!     let mut items = Vec::new();
//!     while let Some(output) = machine.poll_output() {
//!         match output {
//!             Output::Subscribe { subject, queue_group } => {
//!                 /* subscribe (in the group); messages to handle_message */
//!             }
//!             Output::Unsubscribe { subject } => { /* unsubscribe */ }
//!             Output::Publish(message) => { /* publish it */ }
//!             Output::Request { token, subject, payload } => {
//!                 /* request; the reply (or its failure) to handle_reply(token, ..) */
//!             }
//!             Output::Deliver(item) => items.push(item),
//!             Output::Error(error) => { /* hand the error to the application */ }
//!             Output::Finished => break,
//!         }
//!     }
//!     items
//! }
//! ```

use std::time::Instant;

use bytes::Bytes;

use crate::connection::RequestError;
use crate::proto::{HeaderMap, Message};

/// A change of the link to the server, as the driver saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The connection was lost: what was in flight on it is gone.
    Down,
    /// A new connection is up (its subscriptions restored): the machine may resume.
    Up,
}

/// A message a machine asks its driver to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    /// Where to.
    pub subject: String,
    /// The reply subject, if any.
    pub reply: Option<String>,
    /// Headers, if any.
    pub headers: Option<HeaderMap>,
    /// The payload.
    pub payload: Bytes,
}

impl Publish {
    /// A publish without reply or headers.
    pub fn new(subject: impl Into<String>, payload: Bytes) -> Publish {
        Publish {
            subject: subject.into(),
            reply: None,
            headers: None,
            payload,
        }
    }

    /// The same publish with a reply subject.
    pub fn with_reply(mut self, reply: impl Into<String>) -> Publish {
        self.reply = Some(reply.into());
        self
    }
}

/// What a machine asks of its driver, or hands the application. Exhaustive on purpose, as
/// [`Directive`](crate::Directive) is: a driver carries out every kind, so a new one is a
/// compile error in every driver rather than an output silently ignored.
#[derive(Debug)]
pub enum Output<T, E> {
    /// Subscribe to `subject`; give what arrives on it to
    /// [`handle_message`](Machine::handle_message). Subscriptions are taken in this order,
    /// and the driver hands messages of an older subscription first when several wait.
    Subscribe {
        /// The subject.
        subject: String,
        /// The queue group to join, if any.
        queue_group: Option<String>,
    },
    /// Drop the subscription to `subject`.
    Unsubscribe {
        /// The subject.
        subject: String,
    },
    /// Publish this message; a failure to queue it is the machine's to notice (its timers
    /// catch what never arrives), so the driver does not report it.
    Publish(Publish),
    /// Send a request to `subject` and give its reply, or why there is none, to
    /// [`handle_reply`](Machine::handle_reply) with `token`. A machine that is being
    /// stopped may ask for requests whose replies nobody reads (cleanups).
    Request {
        /// The machine's name for this request.
        token: u64,
        /// Where to.
        subject: String,
        /// The request body.
        payload: Bytes,
    },
    /// An item for the application.
    Deliver(T),
    /// An error for the application; the machine goes on unless `Finished` follows.
    Error(E),
    /// Nothing more will come from this machine.
    Finished,
}

/// A machine above the connection, driven as this module says.
pub trait Machine {
    /// What the machine hands the application.
    type Item;
    /// The errors it reports.
    type Error;

    /// A message arrived on one of the machine's subscriptions.
    fn handle_message(&mut self, now: Instant, message: Message);

    /// The reply to the request `token` arrived, or the request failed. A machine that
    /// sends no requests keeps this default, which ignores the call.
    fn handle_reply(&mut self, now: Instant, token: u64, reply: Result<Message, RequestError>) {
        let _ = (now, token, reply);
    }

    /// The machine's deadline passed. Early or repeated calls are harmless.
    fn handle_timeout(&mut self, now: Instant);

    /// The link to the server went down or came back.
    fn handle_link(&mut self, now: Instant, link: Link);

    /// The application is gone: the machine asks for its cleanups (as outputs), then
    /// finishes.
    fn stop(&mut self);

    /// The next thing to do.
    fn poll_output(&mut self) -> Option<Output<Self::Item, Self::Error>>;

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, if ever.
    fn poll_timeout(&self) -> Option<Instant>;
}
