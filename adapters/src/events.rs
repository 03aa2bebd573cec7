//! What the client tells the application about its connection, as a stream.
//!
//! Invariant: every listener sees every event after it subscribed, in order, unless it falls
//! more than a bounded number of events behind; then the oldest are dropped, never the newest.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_lite::Stream;
use nats_sansio::auth::ServerAddr;
use nats_sansio::connection::{ConnectionError, PublishError, Sid};
use nats_sansio::proto::SubjectError;
use nats_sansio::Event;

use crate::shared::Shared;

/// A connection event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// Connected for the first time.
    Connected {
        /// The server.
        server: ServerAddr,
    },
    /// Connected again after a disconnect; subscriptions restored, buffer replayed.
    Reconnected {
        /// The server.
        server: ServerAddr,
    },
    /// The connection was lost; the client reconnects.
    Disconnected {
        /// Why.
        reason: ConnectionError,
        /// Publishes queued for the old socket and not written: lost, reported here.
        unsent_messages: u64,
    },
    /// Closed for good.
    Closed {
        /// Why, or `None` after `close` or `drain`.
        reason: Option<ConnectionError>,
        /// Accepted publishes that were never written, now lost (see
        /// [`CloseError::Unsent`](crate::CloseError::Unsent)).
        unsent_messages: u64,
    },
    /// The server is in lame-duck mode and will shut down soon.
    LameDuck {
        /// The server.
        server: ServerAddr,
    },
    /// New servers joined the pool.
    ServersDiscovered {
        /// The servers.
        servers: Vec<ServerAddr>,
    },
    /// The server reported an error that does not end the connection.
    ServerError {
        /// The server's text.
        message: String,
    },
    /// Publishes buffered while disconnected were discarded unsent: the server connected to
    /// cannot take one of them.
    PublishesDiscarded {
        /// How many.
        messages: u64,
        /// What the server could not take.
        reason: PublishError,
    },
    /// A subscription dropped messages over its pending limit (once per episode).
    SlowConsumer {
        /// The subscription.
        sid: Sid,
    },
    /// A message whose subject or reply subject is not UTF-8 was dropped; the connection
    /// and the messages after it are unaffected.
    UnreadableMessage {
        /// The subscription it was for.
        sid: Sid,
        /// What is wrong with it.
        reason: SubjectError,
    },
}

impl ClientEvent {
    /// The application-facing form of a machine event, if it has one.
    pub(crate) fn from_machine(event: Event) -> Option<ClientEvent> {
        Some(match event {
            Event::Connected { server } => ClientEvent::Connected { server },
            Event::Reconnected { server } => ClientEvent::Reconnected { server },
            Event::Disconnected {
                reason,
                unsent_messages,
            } => ClientEvent::Disconnected {
                reason,
                unsent_messages,
            },
            Event::Closed {
                reason,
                unsent_messages,
            } => ClientEvent::Closed {
                reason,
                unsent_messages,
            },
            Event::LameDuck { server } => ClientEvent::LameDuck { server },
            Event::ServersDiscovered { servers } => ClientEvent::ServersDiscovered { servers },
            Event::ServerError { message } => ClientEvent::ServerError { message },
            Event::SlowConsumer { sid } => ClientEvent::SlowConsumer { sid },
            Event::UnreadableMessage { sid, reason } => {
                ClientEvent::UnreadableMessage { sid, reason }
            }
            Event::PublishesDiscarded { messages, reason } => {
                ClientEvent::PublishesDiscarded { messages, reason }
            }
            _ => return None,
        })
    }
}

/// A stream of [`ClientEvent`]s, from [`Client::events`](crate::Client::events). It ends
/// after the connection closed and every queued event was read.
#[derive(Debug)]
pub struct Events {
    shared: Arc<Shared>,
    id: u64,
}

impl Events {
    pub(crate) fn new(shared: Arc<Shared>) -> Events {
        let id = shared.lock().add_listener();
        Events { shared, id }
    }
}

impl Stream for Events {
    type Item = ClientEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ClientEvent>> {
        self.shared.lock().poll_listener(self.id, cx)
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        self.shared.lock().remove_listener(self.id);
    }
}
