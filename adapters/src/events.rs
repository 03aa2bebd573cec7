//! What the client tells the application about its connection, as a stream.
//!
//! Invariant: every listener sees every event after it subscribed, in order, unless it falls
//! more than a bounded number of events behind; then the oldest are dropped, never the newest.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_lite::Stream;

use crate::shared::Shared;

/// A connection event: the core's [`ConnectionEvent`](nats_sansio::ConnectionEvent), re-exported (connected,
/// reconnected, disconnected with the publishes it cost, draining, closed with the
/// publishes that were never sent, lame duck, servers discovered, server errors, slow
/// consumers, messages dropped as unreadable).
pub use nats_sansio::ConnectionEvent as ClientEvent;

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
