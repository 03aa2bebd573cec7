//! The state user tasks and the driver share: the machine behind one mutex, plus the wakers
//! and result slots that connect the machine's events to waiting futures.
//!
//! Invariant: every access to the machine happens under the lock, and whoever changes what the
//! machine has to send (a command) wakes the driver when the outbound queue went from empty
//! to non-empty; the driver turns every event into a result in a slot or a wake-up, so no
//! waiting future misses its event.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use nats_sansio::connection::{
    ConnectionError, ConnectionState, FlushError, FlushId, RequestError, RequestId, Sid,
};
use nats_sansio::id_map::IdMap;
use nats_sansio::jetstream::publish::AckWindow;
use nats_sansio::proto::Message;
use nats_sansio::{Connection, ConnectionEvent, Event};

use crate::runtime::Runtime;

/// A result a future is waiting for.
#[derive(Debug)]
pub(crate) enum Slot<T> {
    Waiting(Option<Waker>),
    Ready(T),
}

impl<T> Slot<T> {
    fn fill(&mut self, value: T) {
        if let Slot::Waiting(Some(waker)) = std::mem::replace(self, Slot::Ready(value)) {
            waker.wake();
        }
    }
}

/// How the connection ended.
#[derive(Debug, Clone)]
pub(crate) struct Closed {
    pub(crate) reason: Option<ConnectionError>,
    pub(crate) unsent_messages: u64,
}

impl Closed {
    /// What `close` and `drain` return: `Ok` only for a clean close that lost nothing.
    pub(crate) fn outcome(&self) -> Result<(), crate::CloseError> {
        match (&self.reason, self.unsent_messages) {
            (None, 0) => Ok(()),
            (Some(e), 0) => Err(crate::CloseError::Connection(e.clone())),
            (reason, messages) => Err(crate::CloseError::Unsent {
                messages,
                reason: reason.clone(),
            }),
        }
    }
}

/// What the machine, the driver and the handles share.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    pub(crate) runtime: Arc<dyn Runtime>,
}

/// Everything under the lock.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) conn: Connection,
    /// The driver's waker, to wake it when there is something to send.
    driver: Option<Waker>,
    /// Subscribers waiting for messages.
    pub(crate) subscribers: IdMap<Sid, Waker>,
    pub(crate) requests: IdMap<RequestId, Slot<Result<Message, RequestError>>>,
    pub(crate) flushes: IdMap<FlushId, Slot<Result<(), FlushError>>>,
    /// The first connect's outcome.
    pub(crate) first_connect: Slot<Result<(), ConnectionError>>,
    /// Tasks waiting for the outbound queue to shrink (back-pressure) or for the close.
    pub(crate) waiting_for_room: Vec<Waker>,
    pub(crate) waiting_for_close: Vec<Waker>,
    /// Event listeners, each with its queue.
    listeners: IdMap<u64, Listener>,
    next_listener: u64,
    /// Set once `ConnectionEvent::Closed` arrived: why, and how many accepted publishes were lost.
    pub(crate) closed: Option<Closed>,
    /// JetStream publishes whose ack has not arrived yet, and publishers waiting for one to.
    pub(crate) acks_in_flight: AckWindow,
    pub(crate) waiting_for_ack_room: Vec<Waker>,
    /// Tasks waiting for `acks_in_flight` to be empty (`Context::wait_for_acks`).
    waiting_for_no_acks: Vec<Waker>,
    /// Link watchers (consumer streams), woken whenever the link goes down or comes up.
    pub(crate) link_watchers: IdMap<u64, Waker>,
}

#[derive(Debug, Default)]
struct Listener {
    queue: VecDeque<ConnectionEvent>,
    waker: Option<Waker>,
}

/// Events kept per listener before the oldest are dropped.
const LISTENER_CAPACITY: usize = 1024;

impl Shared {
    pub(crate) fn new(conn: Connection, runtime: Arc<dyn Runtime>) -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(State {
                conn,
                driver: None,
                subscribers: IdMap::default(),
                requests: IdMap::default(),
                flushes: IdMap::default(),
                first_connect: Slot::Waiting(None),
                waiting_for_room: Vec::new(),
                waiting_for_close: Vec::new(),
                listeners: IdMap::default(),
                next_listener: 0,
                closed: None,
                acks_in_flight: AckWindow::default(),
                waiting_for_ack_room: Vec::new(),
                waiting_for_no_acks: Vec::new(),
                link_watchers: IdMap::default(),
            }),
            runtime,
        })
    }

    /// Locks the state. A panic while the lock was held poisons it; the state is still
    /// consistent (the machine never panics mid-update), so the poison is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a command on the machine and wakes the driver only when it has new work: the
    /// outbound queue went from empty to non-empty, or a deadline earlier than the one it
    /// sleeps on appeared.
    pub(crate) fn command<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self.lock();
        let before = state.work_mark();
        let result = f(&mut state);
        state.wake_driver_for_new_work(before);
        result
    }
}

/// What the driver last saw: whether the outbound queue was empty, and its deadline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WorkMark {
    was_empty: bool,
    deadline: Option<std::time::Instant>,
}

impl State {
    /// Notes the machine's state before a command.
    pub(crate) fn work_mark(&self) -> WorkMark {
        WorkMark {
            was_empty: self.conn.pending_bytes() == 0,
            deadline: self.conn.poll_timeout(),
        }
    }

    /// Wakes the driver if the command gave it new work: output where there was none, or
    /// an earlier deadline than it sleeps on.
    pub(crate) fn wake_driver_for_new_work(&self, before: WorkMark) {
        let new_output = before.was_empty && self.conn.pending_bytes() > 0;
        let earlier_deadline = match (self.conn.poll_timeout(), before.deadline) {
            (Some(now), Some(then)) => now < then,
            (Some(_), None) => true,
            _ => false,
        };
        if new_output || earlier_deadline {
            self.wake_driver();
        }
    }

    /// Wakes the driver (after a command that may have produced a directive).
    pub(crate) fn wake_driver(&self) {
        if let Some(waker) = &self.driver {
            waker.wake_by_ref();
        }
    }

    pub(crate) fn set_driver_waker(&mut self, waker: &Waker) {
        match &self.driver {
            Some(w) if w.will_wake(waker) => {}
            _ => self.driver = Some(waker.clone()),
        }
    }

    /// Hands one machine event to whoever waits for it.
    pub(crate) fn dispatch(&mut self, event: Event) {
        match event {
            Event::MessagesReady { sid } => {
                if let Some(waker) = self.subscribers.remove(&sid) {
                    waker.wake();
                }
            }
            Event::Response { id, result } => {
                self.ack_arrived(id);
                if let Some(slot) = self.requests.get_mut(&id) {
                    slot.fill(result);
                }
            }
            Event::Flushed { id, result } => {
                if let Some(slot) = self.flushes.get_mut(&id) {
                    slot.fill(result);
                }
            }
            Event::Connection(event) => self.on_connection_event(event),
            // A subscription's end reaches its reader through `MessagesReady` and
            // `next_message`; nothing else waits for it.
            _ => {}
        }
    }

    /// A connection event: log it, wake what depends on the link, settle the first connect
    /// and the close, then hand it to every listener.
    fn on_connection_event(&mut self, event: ConnectionEvent) {
        crate::log::connection_event(&event);
        if matches!(
            event,
            ConnectionEvent::Connected { .. }
                | ConnectionEvent::Reconnected { .. }
                | ConnectionEvent::Disconnected { .. }
                | ConnectionEvent::Closed { .. }
        ) {
            for (_, waker) in self.link_watchers.drain() {
                waker.wake();
            }
        }
        match &event {
            ConnectionEvent::Connected { .. } => self.first_connect.fill(Ok(())),
            ConnectionEvent::Closed {
                reason,
                unsent_messages,
            } => {
                if matches!(self.first_connect, Slot::Waiting(_)) {
                    self.first_connect
                        .fill(Err(reason.clone().unwrap_or(ConnectionError::Closed)));
                }
                self.closed = Some(Closed {
                    reason: reason.clone(),
                    unsent_messages: *unsent_messages,
                });
                for (_, waker) in self.subscribers.drain() {
                    waker.wake();
                }
                for waker in self.waiting_for_room.drain(..) {
                    waker.wake();
                }
                for waker in self.waiting_for_close.drain(..) {
                    waker.wake();
                }
                for waker in self.waiting_for_ack_room.drain(..) {
                    waker.wake();
                }
                for waker in self.waiting_for_no_acks.drain(..) {
                    waker.wake();
                }
            }
            _ => {}
        }
        self.broadcast(event);
    }

    /// A JetStream publish's ack (or its failure) arrived, or its future was dropped: its
    /// slot in the window is free.
    pub(crate) fn ack_arrived(&mut self, id: RequestId) {
        if self.acks_in_flight.leave(id) {
            for waker in self.waiting_for_ack_room.drain(..) {
                waker.wake();
            }
            if self.acks_in_flight.is_empty() {
                for waker in self.waiting_for_no_acks.drain(..) {
                    waker.wake();
                }
            }
        }
    }

    /// Ready once no JetStream publish awaits its ack (or the connection closed, which
    /// answers every request); else the task is woken when the last one leaves.
    pub(crate) fn poll_no_acks(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.acks_in_flight.is_empty() || self.closed.is_some() {
            return Poll::Ready(());
        }
        if !self
            .waiting_for_no_acks
            .iter()
            .any(|w| w.will_wake(cx.waker()))
        {
            self.waiting_for_no_acks.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Wakes publishers waiting for room once the queue is below the limit.
    pub(crate) fn release_room(&mut self, limit: usize) {
        if self.conn.pending_bytes() < limit || self.conn.state() != ConnectionState::Connected {
            for waker in self.waiting_for_room.drain(..) {
                waker.wake();
            }
        }
    }

    fn broadcast(&mut self, event: ConnectionEvent) {
        for listener in self.listeners.values_mut() {
            if listener.queue.len() == LISTENER_CAPACITY {
                listener.queue.pop_front();
            }
            listener.queue.push_back(event.clone());
            if let Some(waker) = listener.waker.take() {
                waker.wake();
            }
        }
    }

    /// A fresh id for a listener or a link watcher.
    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_listener += 1;
        self.next_listener
    }

    pub(crate) fn add_listener(&mut self) -> u64 {
        self.next_listener += 1;
        self.listeners
            .insert(self.next_listener, Listener::default());
        self.next_listener
    }

    pub(crate) fn remove_listener(&mut self, id: u64) {
        self.listeners.remove(&id);
    }

    pub(crate) fn poll_listener(
        &mut self,
        id: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Option<ConnectionEvent>> {
        let closed = self.closed.is_some();
        let Some(listener) = self.listeners.get_mut(&id) else {
            return Poll::Ready(None);
        };
        if let Some(event) = listener.queue.pop_front() {
            return Poll::Ready(Some(event));
        }
        if closed {
            return Poll::Ready(None);
        }
        listener.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Polls a slot in a map: the value once ready (removing the slot), else registers the waker.
pub(crate) fn poll_slot<K: std::hash::Hash + Eq, T>(
    slots: &mut IdMap<K, Slot<T>>,
    key: K,
    cx: &mut Context<'_>,
) -> Poll<Option<T>> {
    match slots.get_mut(&key) {
        None => Poll::Ready(None),
        Some(Slot::Ready(_)) => match slots.remove(&key) {
            Some(Slot::Ready(value)) => Poll::Ready(Some(value)),
            _ => Poll::Ready(None),
        },
        Some(Slot::Waiting(waker)) => {
            *waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// Polls the first-connect slot.
pub(crate) fn poll_first_connect(
    slot: &mut Slot<Result<(), ConnectionError>>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), ConnectionError>> {
    match slot {
        Slot::Ready(result) => Poll::Ready(result.clone()),
        Slot::Waiting(waker) => {
            *waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}
