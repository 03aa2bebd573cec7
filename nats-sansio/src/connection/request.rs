//! Request/reply over one multiplexed inbox.
//!
//! Invariant: the machine holds at most one reply subscription (`<prefix>.<token>.*`),
//! created with the first request; a request costs a token and a deadline, and ends exactly
//! once: with a reply, `NoResponders`, its timeout, a disconnect (if it was sent) or the
//! close.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::subscriptions::Subscription;
use super::timer::Deadline;
use super::{Connection, Event, HeaderMap, PublishError, RequestError, RequestId, State};
use crate::proto::{validate_publish, Message, StatusCode, Subject};

impl Connection {
    /// A new unique inbox subject (`<inbox prefix>.<random token>`).
    pub fn new_inbox(&mut self) -> String {
        format!("{}.{}", self.opts.inbox_prefix, self.rng.token(22))
    }

    /// Sends a request and waits for one reply, delivered as [`Event::Response`]. `timeout`
    /// of `None` uses the options' request timeout. A `503` status reply is
    /// [`RequestError::NoResponders`].
    pub fn request(
        &mut self,
        now: Instant,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: Bytes,
        timeout: Option<Duration>,
    ) -> Result<RequestId, PublishError> {
        self.request_borrowed(now, subject, headers, &payload, timeout)
    }

    /// [`request`](Self::request) with a borrowed payload, for callers that keep it (to
    /// retry, say): a clone of a `Vec`-backed `Bytes` would allocate.
    pub fn request_borrowed(
        &mut self,
        now: Instant,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: &Bytes,
        timeout: Option<Duration>,
    ) -> Result<RequestId, PublishError> {
        self.advance_clock(now);
        validate_publish(subject).map_err(PublishError::InvalidSubject)?;
        match self.state {
            State::Closed => return Err(PublishError::Closed),
            _ if self.draining => return Err(PublishError::Draining),
            _ => {}
        }
        if self.requests.sid.is_none() {
            self.start_mux_subscription();
        }
        let token = self.requests.start(self.state == State::Connected);
        // The reply subject is moved out and back so `self` can be borrowed for the publish.
        let reply = std::mem::take(&mut self.requests.reply);
        let queued = self.queue_publish(subject, Some(&reply), headers, payload);
        self.requests.reply = reply;
        if let Err(e) = queued {
            self.requests.finish(token);
            return Err(e);
        }
        if let Some(timeout) = timeout.or(self.opts.request_timeout) {
            self.deadlines
                .push(self.now + timeout, Deadline::Request(token));
            self.compact_deadlines();
        }
        Ok(RequestId(token))
    }

    /// Forgets a pending request; a late reply is ignored.
    pub fn cancel_request(&mut self, id: RequestId) {
        self.requests.finish(id.0);
        self.prune_deadlines();
    }

    pub(super) fn start_mux_subscription(&mut self) {
        let prefix = format!("{}.{}.", self.opts.inbox_prefix, self.rng.token(22));
        let subject = format!("{prefix}*");
        // The prefix was validated in `new`, and the token is alphanumeric.
        let Ok(subject) = Subject::new(subject) else {
            return;
        };
        let sub = Subscription::new(subject, None, usize::MAX, usize::MAX);
        let sid = self.subs.insert(sub);
        if self.state == State::Connected {
            self.outbound
                .encoder
                .subscribe(sid, &format!("{prefix}*"), None);
        }
        self.requests.prefix = Some(prefix);
        self.requests.sid = Some(sid);
    }

    pub(super) fn on_response(&mut self, message: Message) {
        let Some(token) = self.requests.token_of(message.subject.as_str()) else {
            return;
        };
        if !self.requests.finish(token) {
            return;
        }
        self.prune_deadlines();
        let no_responders =
            message.status() == Some(StatusCode::NO_RESPONDERS) && message.payload.is_empty();
        let result = if no_responders {
            Err(RequestError::NoResponders)
        } else {
            Ok(message)
        };
        self.events.push_back(Event::Response {
            id: RequestId(token),
            result,
        });
    }
}
