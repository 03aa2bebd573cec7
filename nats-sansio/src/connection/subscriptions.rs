//! The subscription table: sids, per-subscription queues, pending limits and auto-unsubscribe.
//!
//! Invariant: a subscription's queue, with the last batch taken from it whole until the
//! taker comes back for the next, never holds more than its message and byte limits; a
//! message over a limit is dropped and counted, and the slow-consumer flag is raised once per
//! episode (it clears only when both fall below half of both limits). `delivered` counts
//! every message the server sent on the sid, queued or dropped, so an auto-unsubscribe limit
//! survives reconnects as `max - delivered`.

use std::collections::VecDeque;

use crate::proto::{Message, QueueGroup, Subject};

use super::event::{Sid, SubscriptionEnd};

pub(crate) use crate::id_map::IdMap as DetMap;

/// Whether a subscription still receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Receiving.
    Active,
    /// UNSUB sent as part of a drain; messages still arrive until the drain's PONG.
    Draining,
    /// Receives nothing more; ends once its queue is empty.
    Ended(SubscriptionEnd),
}

#[derive(Debug)]
pub(crate) struct Subscription {
    pub(crate) subject: Subject,
    pub(crate) queue_group: Option<QueueGroup>,
    /// Total messages after which the server drops interest (UNSUB max).
    pub(crate) max: Option<u64>,
    pub(crate) delivered: u64,
    pub(crate) phase: Phase,
    messages: VecDeque<Message>,
    pending_bytes: usize,
    /// The last batch [`take_all`](Subscription::take_all) handed out: messages and bytes
    /// that count against the limits until the taker comes back.
    taken_messages: usize,
    taken_bytes: usize,
    limit_messages: usize,
    limit_bytes: usize,
    slow: bool,
    pub(crate) dropped: u64,
}

/// What happened to one inbound message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued; `first` when the queue was empty before.
    Queued { first: bool },
    /// Dropped over a limit; `episode_start` when this begins a slow-consumer episode.
    Dropped { episode_start: bool },
    /// The subscription takes nothing more.
    Ignored,
}

/// What [`next_message`](super::Connection::next_message) found.
#[derive(Debug, PartialEq)]
#[non_exhaustive]
pub enum Delivery {
    /// The next queued message.
    Message(Message),
    /// Nothing queued yet; wait for [`Event::MessagesReady`](super::Event::MessagesReady).
    Empty,
    /// The subscription ended and its queue is empty (or it never existed).
    Ended,
}

/// What [`take_messages`](super::Connection::take_messages) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Taken {
    /// Messages moved into the batch, and their header and payload bytes.
    Messages {
        /// How many.
        messages: usize,
        /// Their header and payload bytes.
        bytes: usize,
    },
    /// Nothing queued yet; wait for [`Event::MessagesReady`](super::Event::MessagesReady).
    Empty,
    /// The subscription ended and its queue is empty (or it never existed).
    Ended,
}

/// Counters of one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SubscriptionStats {
    /// Messages queued, not yet fetched.
    pub pending_messages: usize,
    /// Header and payload bytes queued.
    pub pending_bytes: usize,
    /// Messages the server delivered on this subscription.
    pub delivered: u64,
    /// Messages dropped because a pending limit was hit.
    pub dropped: u64,
}

impl Subscription {
    pub(crate) fn new(
        subject: Subject,
        queue_group: Option<QueueGroup>,
        limit_messages: usize,
        limit_bytes: usize,
    ) -> Self {
        Subscription {
            subject,
            queue_group,
            max: None,
            delivered: 0,
            phase: Phase::Active,
            messages: VecDeque::new(),
            pending_bytes: 0,
            taken_messages: 0,
            taken_bytes: 0,
            limit_messages: limit_messages.max(1),
            limit_bytes: limit_bytes.max(1),
            slow: false,
            dropped: 0,
        }
    }

    /// Messages still allowed by an auto-unsubscribe limit (`None`: unlimited).
    pub(crate) fn remaining(&self) -> Option<u64> {
        self.max.map(|max| max.saturating_sub(self.delivered))
    }

    pub(crate) fn push(&mut self, message: Message) -> Pushed {
        if matches!(self.phase, Phase::Ended(_)) {
            return Pushed::Ignored;
        }
        self.delivered += 1;
        let size = message.length;
        if self.messages.len() + self.taken_messages >= self.limit_messages
            || (self.pending_bytes + self.taken_bytes).saturating_add(size) > self.limit_bytes
        {
            self.dropped += 1;
            let episode_start = !self.slow;
            self.slow = true;
            return Pushed::Dropped { episode_start };
        }
        let first = self.messages.is_empty();
        self.pending_bytes += size;
        self.messages.push_back(message);
        Pushed::Queued { first }
    }

    pub(crate) fn pop(&mut self) -> Option<Message> {
        let message = self.messages.pop_front()?;
        self.pending_bytes -= message.length;
        self.end_slow_episode();
        Some(message)
    }

    /// Swaps every queued message into `batch`, which the taker hands back empty (the
    /// previous batch, all consumed: it no longer counts), so its capacity is reused and no
    /// message is moved; the messages and bytes taken count against the limits until the
    /// next call.
    pub(crate) fn take_all(&mut self, batch: &mut VecDeque<Message>) -> (usize, usize) {
        batch.clear();
        std::mem::swap(&mut self.messages, batch);
        self.taken_messages = batch.len();
        self.taken_bytes = std::mem::take(&mut self.pending_bytes);
        self.end_slow_episode();
        (self.taken_messages, self.taken_bytes)
    }

    /// Clears the slow-consumer flag once what is held is below half of both limits.
    fn end_slow_episode(&mut self) {
        if self.slow
            && self.messages.len() + self.taken_messages <= self.limit_messages / 2
            && self.pending_bytes + self.taken_bytes <= self.limit_bytes / 2
        {
            self.slow = false;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub(crate) fn stats(&self) -> SubscriptionStats {
        SubscriptionStats {
            pending_messages: self.messages.len(),
            pending_bytes: self.pending_bytes,
            delivered: self.delivered,
            dropped: self.dropped,
        }
    }
}

/// All subscriptions of a connection, by sid.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    next_sid: Sid,
    pub(crate) by_sid: DetMap<Sid, Subscription>,
}

impl Subscriptions {
    pub(crate) fn insert(&mut self, sub: Subscription) -> Sid {
        self.next_sid += 1;
        self.by_sid.insert(self.next_sid, sub);
        self.next_sid
    }

    pub(crate) fn get_mut(&mut self, sid: Sid) -> Option<&mut Subscription> {
        self.by_sid.get_mut(&sid)
    }

    /// Sids of the subscriptions still receiving, in the order they were made.
    pub(crate) fn receiving(&self) -> Vec<Sid> {
        let mut sids: Vec<Sid> = self
            .by_sid
            .iter()
            .filter(|(_, s)| !matches!(s.phase, Phase::Ended(_)))
            .map(|(sid, _)| *sid)
            .collect();
        sids.sort_unstable();
        sids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(n: usize) -> Message {
        Message {
            subject: Subject::from_static("a"),
            reply: None,
            headers: None,
            payload: Bytes::from(vec![0u8; n]),
            length: n,
        }
    }

    #[test]
    fn slow_consumer_once_per_episode() {
        let mut s = Subscription::new(Subject::from_static("a"), None, 4, 1 << 20);
        for _ in 0..4 {
            assert!(matches!(s.push(msg(1)), Pushed::Queued { .. }));
        }
        assert_eq!(
            s.push(msg(1)),
            Pushed::Dropped {
                episode_start: true
            }
        );
        assert_eq!(
            s.push(msg(1)),
            Pushed::Dropped {
                episode_start: false
            }
        );
        s.pop();
        // Room again, but still in the episode until below half.
        assert!(matches!(s.push(msg(1)), Pushed::Queued { .. }));
        assert_eq!(
            s.push(msg(1)),
            Pushed::Dropped {
                episode_start: false
            }
        );
        s.pop();
        s.pop();
        s.pop();
        assert_eq!(s.stats().pending_messages, 1);
        s.push(msg(1));
        s.push(msg(1));
        s.push(msg(1));
        assert_eq!(
            s.push(msg(1)),
            Pushed::Dropped {
                episode_start: true
            }
        );
        assert_eq!(s.stats().dropped, 4);
        assert_eq!(s.stats().delivered, 12);
    }

    #[test]
    fn a_batch_taken_whole_counts_until_the_taker_comes_back() {
        let mut s = Subscription::new(Subject::from_static("a"), None, 4, 1 << 20);
        for _ in 0..3 {
            s.push(msg(2));
        }
        let mut batch = VecDeque::new();
        assert_eq!(s.take_all(&mut batch), (3, 6));
        assert_eq!((batch.len(), s.stats().pending_messages), (3, 0));
        // The batch still counts: one more fits, the next is over the limit.
        assert_eq!(s.push(msg(2)), Pushed::Queued { first: true });
        assert_eq!(
            s.push(msg(2)),
            Pushed::Dropped {
                episode_start: true
            }
        );
        // The taker consumed its batch and comes back: only the one queued since counts.
        batch.clear();
        assert_eq!(s.take_all(&mut batch), (1, 2));
        assert_eq!(s.push(msg(2)), Pushed::Queued { first: true });
        assert_eq!(s.push(msg(2)), Pushed::Queued { first: false });
        assert_eq!(s.stats().dropped, 1);
    }

    #[test]
    fn byte_limit_and_first_flag() {
        let mut s = Subscription::new(Subject::from_static("a"), None, 100, 10);
        assert_eq!(s.push(msg(6)), Pushed::Queued { first: true });
        assert_eq!(
            s.push(msg(6)),
            Pushed::Dropped {
                episode_start: true
            }
        );
        assert_eq!(s.push(msg(4)), Pushed::Queued { first: false });
        assert_eq!(s.stats().pending_bytes, 10);
    }
}
