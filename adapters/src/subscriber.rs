//! `Subscriber`: a stream of the messages of one subscription.
//!
//! Invariant: messages wait in the machine's per-subscription queue (bounded by its pending
//! limits, which go on counting the batch the stream took last); once the stream's own queue
//! is empty it swaps it, under one lock, for everything the machine queued, and yields from
//! there without the lock, in order. It registers its waker only when both queues are
//! empty, so the driver wakes it once per batch, not per message. A
//! subscriber holds a client handle, so the connection lives as long as any subscriber does.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_lite::Stream;
use nats_sansio::connection::{Sid, SubscribeError, SubscriptionStats, Taken};
use nats_sansio::proto::Message;

use crate::shared::Shared;
use crate::Client;

/// The messages of one subscription. Dropping it unsubscribes. It keeps the connection open:
/// a subscriber read in its own task goes on receiving after every [`Client`] is dropped,
/// and the connection closes once the last client and subscriber are gone.
#[derive(Debug)]
pub struct Subscriber {
    shared: Arc<Shared>,
    /// Keeps the connection open while the subscriber lives.
    _client: Client,
    sid: Sid,
    /// Set once the subscription was ended on purpose, so drop sends no UNSUB.
    ended: bool,
    /// Messages taken from the machine's queue, yielded before anything else.
    taken: VecDeque<Message>,
    /// Their bytes (headers and payload), for the stats.
    taken_bytes: usize,
    /// The machine said the subscription ended: the stream ends once `taken` is empty.
    finished: bool,
}

impl Subscriber {
    pub(crate) fn new(client: Client, sid: Sid) -> Subscriber {
        Subscriber {
            shared: Arc::clone(client.shared_state()),
            _client: client,
            sid,
            ended: false,
            taken: VecDeque::new(),
            taken_bytes: 0,
            finished: false,
        }
    }

    /// The subscription id.
    pub fn sid(&self) -> Sid {
        self.sid
    }

    /// Stops the subscription now (as async-nats's `unsubscribe`): queued messages are
    /// discarded and the stream ends. A connection already closed is
    /// [`SubscribeError::Closed`]; unsubscribing twice is fine.
    pub async fn unsubscribe(&mut self) -> Result<(), SubscribeError> {
        if self.ended {
            return Ok(());
        }
        let sid = self.sid;
        let result = self.shared.command(|state| {
            if state.conn.is_closed() {
                return Err(SubscribeError::Closed);
            }
            state.subscribers.remove(&sid);
            state.conn.unsubscribe(sid);
            Ok(())
        });
        self.ended = true;
        self.taken.clear();
        self.taken_bytes = 0;
        result
    }

    /// Ends the subscription once it has received `max` messages in total; the stream then
    /// ends.
    pub async fn unsubscribe_after(&mut self, max: u64) {
        let sid = self.sid;
        self.shared
            .command(|state| state.conn.unsubscribe_after(sid, max));
    }

    /// Unsubscribes, lets messages in flight arrive, then ends the stream after the queued
    /// messages.
    pub async fn drain(&mut self) {
        let sid = self.sid;
        let now = self.shared.runtime.now();
        self.shared
            .command(|state| state.conn.drain_subscription(now, sid));
    }

    /// Ends the subscription `sid` from outside its stream (a service stopping its
    /// endpoints): at once, or, with `drain`, after the messages in flight arrived and the
    /// queued ones were read. The stream's task is woken to see it.
    pub(crate) fn end(shared: &Shared, sid: Sid, drain: bool) {
        let now = shared.runtime.now();
        shared.command(|state| {
            if drain {
                state.conn.drain_subscription(now, sid);
            } else {
                state.conn.unsubscribe(sid);
                if let Some(waker) = state.subscribers.remove(&sid) {
                    state.wakes.push(waker);
                }
            }
        });
    }

    /// Queued, delivered and dropped message counts.
    pub fn stats(&self) -> Option<SubscriptionStats> {
        let mut stats = self.shared.lock().conn.subscription_stats(self.sid)?;
        stats.pending_messages += self.taken.len();
        stats.pending_bytes += self.taken_bytes;
        Some(stats)
    }

    /// The next message already taken from the machine, if any: no lock, no waiting, and
    /// no end of stream (that is [`poll_next`](Stream::poll_next)'s to report).
    pub(crate) fn next_taken(&mut self) -> Option<Message> {
        self.pop_taken()
    }

    /// The next taken message, counted out.
    fn pop_taken(&mut self) -> Option<Message> {
        let message = self.taken.pop_front()?;
        self.taken_bytes -= message.length;
        Some(message)
    }
}

impl Stream for Subscriber {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        let this = &mut *self;
        if let Some(message) = this.pop_taken() {
            return Poll::Ready(Some(message));
        }
        if !this.finished {
            let sid = this.sid;
            let state = &mut *this.shared.lock();
            // The stream's queue is empty: it goes back to the machine, which swaps in
            // everything queued since.
            match state.conn.take_messages(sid, &mut this.taken) {
                Taken::Messages { bytes, .. } => this.taken_bytes = bytes,
                Taken::Empty => {
                    state.subscribers.insert(sid, cx.waker().clone());
                    state.turn_to_driver();
                }
                _ => this.finished = true,
            }
        }
        match this.pop_taken() {
            Some(message) => Poll::Ready(Some(message)),
            None if this.finished => {
                this.ended = true;
                Poll::Ready(None)
            }
            None => Poll::Pending,
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        if !self.ended {
            let sid = self.sid;
            let state = &mut *self.shared.lock();
            state.subscribers.remove(&sid);
            state.conn.unsubscribe(sid);
            state.wake_driver();
        }
    }
}
