//! The counters a connection keeps across reconnects.
//!
//! Invariant: counters only grow; publishes count once they are handed to the transport
//! (not when queued), received messages once they are read off the wire, dropped ones as
//! well.

use super::subscriptions::Subscription;
use super::{Connection, Sid, SubscriptionStats};

/// Counters kept across reconnects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Statistics {
    /// Messages received.
    pub in_messages: u64,
    /// Header and payload bytes received.
    pub in_bytes: u64,
    /// Publishes written to the transport.
    pub out_messages: u64,
    /// Header and payload bytes of the publishes written.
    pub out_bytes: u64,
    /// Successful connects, the first one included.
    pub connects: u64,
    /// Successful reconnects.
    pub reconnects: u64,
    /// Messages dropped by subscriptions over their pending limits.
    pub dropped_messages: u64,
    /// Messages dropped because their subject or reply subject is not UTF-8 (counted in
    /// `in_messages` too); each raised [`ConnectionEvent::UnreadableMessage`](super::ConnectionEvent::UnreadableMessage).
    pub unreadable_messages: u64,
}

impl Connection {
    /// Counters kept across reconnects.
    pub fn statistics(&self) -> Statistics {
        let mut stats = self.stats;
        stats.out_messages += self.outbound.msgs_written;
        stats.out_bytes += self.outbound.msg_bytes_written;
        stats
    }

    /// Counters of one subscription.
    pub fn subscription_stats(&self, sid: Sid) -> Option<SubscriptionStats> {
        self.subs.by_sid.get(&sid).map(Subscription::stats)
    }
}
