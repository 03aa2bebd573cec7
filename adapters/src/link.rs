//! How a consumer stream learns that the connection went down or came back: from the core's
//! link epoch (completed handshakes) and state, read on every poll, never from the
//! application's event stream (which drops its oldest events when it is not read).
//!
//! Invariant: every poll reports each change since the previous one, however long the
//! stream was not polled: `down` if the link it last saw is gone (disconnected now, or
//! replaced by a newer handshake), then `up` if a newer handshake completed. The watcher's
//! waker is registered with the shared state, which wakes it on every connect, disconnect
//! and close, so an idle stream cannot sleep through a reconnect.

use std::sync::Arc;
use std::task::Context;

use nats_sansio::connection::ConnectionState;

use crate::shared::Shared;

/// What changed since the last look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LinkChange {
    /// The link last seen is gone.
    pub(crate) down: bool,
    /// A new link is up (after `down`, when both).
    pub(crate) up: bool,
}

impl LinkChange {
    pub(crate) fn any(self) -> bool {
        self.down || self.up
    }
}

/// Watches the link for one consumer stream.
#[derive(Debug)]
pub(crate) struct LinkWatch {
    shared: Arc<Shared>,
    id: u64,
    epoch: u64,
    up: bool,
}

impl LinkWatch {
    /// A watcher for a machine made now, which takes the link to be up (the machines do):
    /// if it is not, the first poll reports it `down`.
    pub(crate) fn new(shared: Arc<Shared>) -> LinkWatch {
        let (id, epoch) = {
            let mut state = shared.lock();
            (state.next_id(), state.conn.link_epoch())
        };
        LinkWatch {
            shared,
            id,
            epoch,
            up: true,
        }
    }

    /// What changed since the last call; registers `cx`'s waker for the next change.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> LinkChange {
        let (epoch, up) = {
            let mut state = self.shared.lock();
            state.link_watchers.insert(self.id, cx.waker().clone());
            let up = state.conn.state() == ConnectionState::Connected;
            (state.conn.link_epoch(), up)
        };
        let mut change = LinkChange::default();
        if epoch != self.epoch || up != self.up {
            change.down = self.up;
            change.up = up;
        }
        self.epoch = epoch;
        self.up = up;
        change
    }
}

impl Drop for LinkWatch {
    fn drop(&mut self) {
        self.shared.lock().link_watchers.remove(&self.id);
    }
}
