//! Subscriptions seen from the connection: the commands, delivery into their queues, and
//! their ends.
//!
//! Invariant: a subscription's SUB goes out while connected or with the next handshake's
//! restore, never both; after it ended (unsubscribed, drained, limit, permission, close) no
//! message is queued on it, and its end is raised once, followed by a wake-up if its queue
//! is already empty so a waiting reader sees the end.

use std::collections::VecDeque;
use std::time::Instant;

use super::keepalive::PongFor;
use super::subscriptions::{Phase, Pushed, Subscription, Taken};
use super::ConnectionEvent;
use super::{Connection, Delivery, Event, Sid, State, SubscribeError, SubscriptionEnd};
use crate::proto::{validate_queue_group, Message, QueueGroup, Subject};

impl Connection {
    /// Subscribes to a subject (wildcards allowed), optionally in a queue group. Messages
    /// are fetched with [`next_message`](Self::next_message).
    pub fn subscribe(
        &mut self,
        subject: &str,
        queue_group: Option<&str>,
    ) -> Result<Sid, SubscribeError> {
        match self.state {
            State::Closed => return Err(SubscribeError::Closed),
            _ if self.draining => return Err(SubscribeError::Draining),
            _ => {}
        }
        let subject = Subject::new(subject).map_err(SubscribeError::InvalidSubject)?;
        let queue_group = match queue_group {
            Some(q) => {
                validate_queue_group(q).map_err(SubscribeError::InvalidQueueGroup)?;
                Some(QueueGroup::new(q).map_err(SubscribeError::InvalidQueueGroup)?)
            }
            None => None,
        };
        let sub = Subscription::new(
            subject,
            queue_group,
            self.opts.subscription_pending_messages,
            self.opts.subscription_pending_bytes,
        );
        let sid = self.subs.insert(sub);
        if self.state == State::Connected {
            if let Some(sub) = self.subs.by_sid.get(&sid) {
                self.outbound.encoder.subscribe(
                    sid,
                    sub.subject.as_str(),
                    sub.queue_group.as_ref().map(QueueGroup::as_str),
                );
            }
        }
        Ok(sid)
    }

    /// Stops a subscription now; messages already queued are discarded. Unknown sids are
    /// ignored.
    pub fn unsubscribe(&mut self, sid: Sid) {
        if self.subs.by_sid.remove(&sid).is_none() {
            return;
        }
        if self.state == State::Connected {
            self.outbound.encoder.unsubscribe(sid, None);
        }
    }

    /// Ends a subscription after it has received `max` messages in total (counted from the
    /// subscribe, across reconnects). If it already has, it ends now.
    pub fn unsubscribe_after(&mut self, sid: Sid, max: u64) {
        let Some(sub) = self.subs.get_mut(sid) else {
            return;
        };
        if matches!(sub.phase, Phase::Ended(_)) {
            return;
        }
        sub.max = Some(max);
        if sub.delivered >= max {
            self.end_subscription(sid, SubscriptionEnd::MaxMessages);
            if self.state == State::Connected {
                self.outbound.encoder.unsubscribe(sid, None);
            }
        } else if self.state == State::Connected {
            self.outbound.encoder.unsubscribe(sid, Some(max));
        }
    }

    /// Drains one subscription: unsubscribes, lets messages already in flight arrive, then
    /// ends it. Queued messages can still be fetched.
    pub fn drain_subscription(&mut self, now: Instant, sid: Sid) {
        self.advance_clock(now);
        let Some(sub) = self.subs.get_mut(sid) else {
            return;
        };
        if sub.phase != Phase::Active {
            return;
        }
        if self.state == State::Connected {
            sub.phase = Phase::Draining;
            self.outbound.encoder.unsubscribe(sid, None);
            self.outbound.encoder.ping();
            self.pongs.push_back(PongFor::DrainSubscription(sid));
        } else {
            self.end_subscription(sid, SubscriptionEnd::Drained);
        }
    }

    /// The next queued message of a subscription.
    pub fn next_message(&mut self, sid: Sid) -> Delivery {
        let Some(sub) = self.subs.by_sid.get_mut(&sid) else {
            return Delivery::Ended;
        };
        if let Some(message) = sub.pop() {
            return Delivery::Message(message);
        }
        if matches!(sub.phase, Phase::Ended(_)) {
            self.subs.by_sid.remove(&sid);
            return Delivery::Ended;
        }
        Delivery::Empty
    }

    /// Moves every queued message of `sid` into `batch` at once, in order, without moving
    /// any message: `batch` comes back empty from the previous call (its capacity is kept).
    /// The messages taken count against the subscription's pending limits until the next
    /// call, as if still queued.
    pub fn take_messages(&mut self, sid: Sid, batch: &mut VecDeque<Message>) -> Taken {
        let Some(sub) = self.subs.by_sid.get_mut(&sid) else {
            return Taken::Ended;
        };
        let (messages, bytes) = sub.take_all(batch);
        if messages > 0 {
            return Taken::Messages { messages, bytes };
        }
        if matches!(sub.phase, Phase::Ended(_)) {
            self.subs.by_sid.remove(&sid);
            return Taken::Ended;
        }
        Taken::Empty
    }

    pub(super) fn on_message(&mut self, sid: Sid, message: Message) {
        self.stats.in_messages += 1;
        self.stats.in_bytes += message.length as u64;
        if Some(sid) == self.requests.sid {
            self.on_response(message);
            return;
        }
        let Some(sub) = self.subs.get_mut(sid) else {
            return;
        };
        let pushed = sub.push(message);
        let reached_max = sub.max.is_some_and(|max| sub.delivered >= max);
        match pushed {
            Pushed::Queued { first } => {
                if first {
                    self.events.push_back(Event::MessagesReady { sid });
                }
            }
            Pushed::Dropped { episode_start } => {
                self.stats.dropped_messages += 1;
                if episode_start {
                    self.raise(ConnectionEvent::SlowConsumer { sid });
                }
            }
            Pushed::Ignored => {}
        }
        if reached_max {
            self.end_subscription(sid, SubscriptionEnd::MaxMessages);
        }
    }

    pub(super) fn end_subscription(&mut self, sid: Sid, reason: SubscriptionEnd) {
        let Some(sub) = self.subs.get_mut(sid) else {
            return;
        };
        if matches!(sub.phase, Phase::Ended(_)) {
            return;
        }
        sub.phase = Phase::Ended(reason.clone());
        let empty = sub.is_empty();
        self.events
            .push_back(Event::SubscriptionClosed { sid, reason });
        if empty {
            // Let a waiting reader see the end.
            self.events.push_back(Event::MessagesReady { sid });
        }
    }
}
