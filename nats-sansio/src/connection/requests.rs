//! Request/reply over one multiplexed inbox subscription.
//!
//! Invariant: every pending request owns one token, and its reply subject is
//! `<inbox prefix>.<connection token>.<request token>`; the one wildcard subscription
//! `<inbox prefix>.<connection token>.*` receives every reply, so a request costs a token and a
//! map slot, never a subscription. A request is marked `sent` once its publish belongs to a
//! live socket; if that socket dies, its reply can never arrive (the inbox subscription died
//! with it), so exactly the sent requests fail at once, while those still in the reconnect
//! buffer wait for the next connection.

use std::fmt::Write as _;

use super::event::Sid;
use super::subscriptions::DetMap;

#[derive(Debug, Default)]
pub(crate) struct Requests {
    /// `<inbox prefix>.<connection token>.`, chosen at the first request.
    pub(crate) prefix: Option<String>,
    /// The wildcard subscription's sid.
    pub(crate) sid: Option<Sid>,
    next_token: u64,
    /// Pending request tokens, and whether each one's publish belongs to the live socket.
    pending: DetMap<u64, bool>,
    /// Scratch space for reply subjects, reused so a request allocates nothing here.
    pub(crate) reply: String,
}

impl Requests {
    /// Starts a request (`sent`: published on a live socket, not buffered): returns its
    /// token; its reply subject is left in `reply`.
    pub(crate) fn start(&mut self, sent: bool) -> u64 {
        self.next_token += 1;
        let token = self.next_token;
        self.pending.insert(token, sent);
        self.reply.clear();
        self.reply
            .push_str(self.prefix.as_deref().unwrap_or_default());
        // Writing to a String cannot fail.
        let _ = write!(self.reply, "{token}");
        token
    }

    /// Finishes a request; false when it was not pending (already answered or timed out).
    pub(crate) fn finish(&mut self, token: u64) -> bool {
        self.pending.remove(&token).is_some()
    }

    pub(crate) fn is_pending(&self, token: u64) -> bool {
        self.pending.contains_key(&token)
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Removes and returns the requests sent on a socket that just died, in order.
    pub(crate) fn take_sent(&mut self) -> Vec<u64> {
        let mut tokens: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, sent)| **sent)
            .map(|(t, _)| *t)
            .collect();
        tokens.sort_unstable();
        for token in &tokens {
            self.pending.remove(token);
        }
        tokens
    }

    /// A new connection took over the reconnect buffer: every pending request is now sent.
    pub(crate) fn mark_all_sent(&mut self) {
        for sent in self.pending.values_mut() {
            *sent = true;
        }
    }

    /// Every pending token, emptying the table.
    pub(crate) fn drain_all(&mut self) -> Vec<u64> {
        let mut tokens: Vec<u64> = self.pending.drain().map(|(t, _)| t).collect();
        tokens.sort_unstable();
        tokens
    }

    /// The request token a reply subject carries, if it is one of ours.
    pub(crate) fn token_of(&self, subject: &str) -> Option<u64> {
        let prefix = self.prefix.as_deref()?;
        subject.strip_prefix(prefix)?.parse().ok()
    }
}
