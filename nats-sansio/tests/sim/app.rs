//! Applications riding on a simulated client's `Connection`: the hook through which a machine
//! above the connection (a pull consumer, an ordered consumer) travels the faulty network.
//!
//! Invariants:
//! - The world calls an app only from inside its own run loop, and drains the connection
//!   after every call, so whatever the app publishes or subscribes is sent as the contract
//!   asks.
//! - An app sees every event of its connection, in order, none dropped (the link going down
//!   and up included: `ConnectionEvent::Disconnected` / `ConnectionEvent::Reconnected`), and every message of the
//!   subscriptions it made through [`AppCx::subscribe`], in arrival order, before the
//!   `MessagesReady` event that announced them.
//! - [`App::on_timeout`] is called when [`App::poll_timeout`] is due, never earlier.

use std::any::Any;
use std::collections::BTreeSet;
use std::time::Instant;

use nats_sansio::connection::{ConnectionState, Sid};
use nats_sansio::proto::Message;
use nats_sansio::{Connection, Event};

/// What an app gets at every call: its client's connection and the virtual time.
pub(crate) struct AppCx<'a> {
    pub(crate) conn: &'a mut Connection,
    pub(crate) now: Instant,
    pub(crate) subs: &'a mut BTreeSet<Sid>,
}

impl AppCx<'_> {
    /// Subscribes; the messages go to [`App::on_message`].
    pub(crate) fn subscribe(&mut self, subject: &str) -> Sid {
        self.subscribe_in(subject, None)
    }

    /// Subscribes, in a queue group if one is given; the messages go to [`App::on_message`].
    pub(crate) fn subscribe_in(&mut self, subject: &str, queue_group: Option<&str>) -> Sid {
        let sid = self
            .conn
            .subscribe(subject, queue_group)
            .expect("app subscribe");
        self.subs.insert(sid);
        sid
    }

    /// Drops a subscription made with [`subscribe`](Self::subscribe).
    pub(crate) fn unsubscribe(&mut self, sid: Sid) {
        self.conn.unsubscribe(sid);
        self.subs.remove(&sid);
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.conn.state() == ConnectionState::Connected
    }
}

/// An application on one simulated client (its `Debug` is printed when a run fails).
pub(crate) trait App: std::fmt::Debug {
    /// Installed on the client: subscribe, build the machine, send what it asks for.
    fn start(&mut self, cx: &mut AppCx<'_>);
    /// One event of the connection (all of them, in order).
    fn on_event(&mut self, cx: &mut AppCx<'_>, event: &Event);
    /// One message of a subscription made with [`AppCx::subscribe`].
    fn on_message(&mut self, cx: &mut AppCx<'_>, sid: Sid, message: Message);
    /// [`poll_timeout`](App::poll_timeout) is due.
    fn on_timeout(&mut self, cx: &mut AppCx<'_>);
    /// When the app next needs [`on_timeout`](App::on_timeout).
    fn poll_timeout(&self) -> Option<Instant>;
    /// For the scenario to read what the app observed.
    fn as_any(&self) -> &dyn Any;
}
