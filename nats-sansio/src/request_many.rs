//! Request-many (scatter-gather, spec §1.10, ADR-47): one request, every reply that comes
//! until a stop condition, as a machine of the one shape ([`Machine`]).
//!
//! The machine subscribes a fresh inbox the caller gives it (a
//! [`Connection::new_inbox`](crate::Connection::new_inbox)), publishes the request with that
//! reply subject, delivers every reply as an item, and on the first stop condition drops the
//! subscription and finishes. Stop conditions, combinable (ADR-47 and Orbit, not nats.js's
//! exclusive strategies):
//!
//! - **total timeout**: always on ([`RequestManyOptions::timeout`]); the first reply is
//!   awaited with it, and nothing extends the call past it;
//! - **stall**: after a reply, no further reply within [`RequestManyOptions::stall`]; each
//!   wait is the lesser of the stall and the time left; a zero stall, or one not shorter than
//!   the total timeout, counts as unset (ADR-47);
//! - **max messages**: [`RequestManyOptions::max_messages`] replies delivered;
//! - **sentinel**: a reply the [`Sentinel`] recognises; it is not delivered (Orbit's
//!   reading; ADR-47 leaves it open).
//!
//! These end the call normally. A status in place of a reply ends it with an error: `503`
//! is [`RequestManyError::NoResponders`] (checked before the sentinel, since both have an
//! empty payload), any other status [`RequestManyError::Status`]. If the link drops after
//! the request went out on it, replies can no longer arrive: the call ends with
//! [`RequestManyError::Disconnected`] (ADR-47 asks to tell that apart from a timeout). A
//! request published while the link was down waits in the connection's reconnect buffer, so
//! the call keeps waiting for the next link, bounded by the total timeout.
//!
//! Why a machine and not a connection feature: it needs nothing the connection alone
//! has (a subscription, a publish and two timers are all outputs of the one shape), so it
//! runs in the adapters' generic machine stream and the simulation's `MachineApp` as it is,
//! and its stop rules are tested without a connection. The cost is one SUB and one UNSUB per
//! call instead of a slot on the shared request inbox: request-many serves discovery and
//! scatter-gather, not the hot request path, and ADR-47 asks a non-multiplexed inbox to be
//! unsubscribed at the end, which this does.
//!
//! Invariant: the outputs are, in order, `Subscribe`, `Publish`, then one `Deliver` per
//! reply, then exactly once `Unsubscribe`, at most one `Error`, `Finished`; nothing is
//! delivered after the end, and no more than `max_messages` replies are.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::machine::{Link, Machine, Output, Publish};
use crate::proto::{validate_publish, HeaderMap, Message, StatusCode, SubjectError};
use crate::timer::{TimerName, TimerTable};

/// The total timeout when none is given: the connection's default request timeout. Adapters
/// pass the connection's configured request timeout instead (ADR-47: "defaults to the
/// connection or system request timeout").
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A reply that ends the call instead of being delivered.
#[derive(Clone)]
pub enum Sentinel {
    /// ADR-47's standard sentinel (Orbit's `DefaultSentinel`): an empty payload, whatever the
    /// headers.
    EmptyPayload,
    /// Stricter: an empty payload without headers, so a header-only reply (a service error,
    /// say) is still delivered.
    EmptyMessage,
    /// The caller's predicate: true ends the call.
    Custom(Arc<dyn Fn(&Message) -> bool + Send + Sync>),
}

impl Sentinel {
    /// Whether `message` is the sentinel.
    pub fn matches(&self, message: &Message) -> bool {
        match self {
            Sentinel::EmptyPayload => message.payload.is_empty(),
            Sentinel::EmptyMessage => {
                message.payload.is_empty()
                    && message
                        .headers
                        .as_ref()
                        .is_none_or(|h| h.is_empty() && h.status().is_none())
            }
            Sentinel::Custom(predicate) => predicate(message),
        }
    }
}

impl fmt::Debug for Sentinel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sentinel::EmptyPayload => f.write_str("EmptyPayload"),
            Sentinel::EmptyMessage => f.write_str("EmptyMessage"),
            Sentinel::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// When a request-many call ends.
#[derive(Debug, Clone)]
pub struct RequestManyOptions {
    /// The total timeout: the call never lasts longer. Zero ends it at the first timeout
    /// check.
    pub timeout: Duration,
    /// End when no reply follows the last one within this.
    pub stall: Option<Duration>,
    /// End after this many replies (at least 1).
    pub max_messages: Option<usize>,
    /// End at the reply it recognises (not delivered).
    pub sentinel: Option<Sentinel>,
}

impl Default for RequestManyOptions {
    fn default() -> RequestManyOptions {
        RequestManyOptions {
            timeout: DEFAULT_TIMEOUT,
            stall: None,
            max_messages: None,
            sentinel: None,
        }
    }
}

impl RequestManyOptions {
    /// The stall in effect: ADR-47 treats a zero stall, or one not shorter than the total
    /// timeout, as unset.
    pub fn effective_stall(&self) -> Option<Duration> {
        self.stall
            .filter(|stall| !stall.is_zero() && *stall < self.timeout)
    }
}

/// Why a request-many call cannot start, or ended with an error.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestManyError {
    /// The request subject is not a valid publish subject.
    #[error("invalid request subject {subject:?}: {reason}")]
    InvalidSubject {
        /// The subject given.
        subject: String,
        /// What is wrong with it.
        reason: SubjectError,
    },
    /// The inbox is not a valid subject without wildcards.
    #[error("invalid inbox {inbox:?}: {reason}")]
    InvalidInbox {
        /// The inbox given.
        inbox: String,
        /// What is wrong with it.
        reason: SubjectError,
    },
    /// `max_messages` of zero (nothing could ever be delivered).
    #[error("max messages must be at least 1")]
    ZeroMaxMessages,
    /// Nobody is subscribed to the subject (status 503).
    #[error("no responders")]
    NoResponders,
    /// A status message came in place of a reply.
    #[error("status {code} in place of a reply{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Status {
        /// The status.
        code: StatusCode,
        /// Its description, if any.
        description: Option<String>,
    },
    /// The link dropped after the request went out: replies can no longer arrive.
    #[error("disconnected while gathering replies")]
    Disconnected,
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The total timeout passed.
    TimedOut,
    /// No reply followed the last one within the stall.
    Stalled,
    /// `max_messages` replies were delivered.
    MaxMessages,
    /// The sentinel came.
    Sentinel,
    /// The application stopped it.
    Stopped,
    /// It ended with the error it reported (no responders, a status, a disconnect).
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Total,
    Stall,
}

impl TimerName for Timer {
    const ALL: &'static [Timer] = &[Timer::Total, Timer::Stall];

    fn index(self) -> usize {
        self as usize
    }
}

/// One request-many call, in the machine shape; its items are the replies.
pub struct RequestMany {
    inbox: String,
    options: RequestManyOptions,
    /// The request, until the driver takes it (after the subscription).
    request: Option<Publish>,
    subscribed: bool,
    /// Whether the link is up, as the driver last said.
    link_up: bool,
    /// The request went out on a live link: losing it loses the replies.
    sent: bool,
    received: usize,
    timers: TimerTable<Timer, 2>,
    now: Instant,
    /// What comes after the replies already delivered: unsubscribe, error, finished.
    ending: std::collections::VecDeque<Output<Message, RequestManyError>>,
    end: Option<End>,
}

impl fmt::Debug for RequestMany {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestMany")
            .field("inbox", &self.inbox)
            .field("options", &self.options)
            .field("received", &self.received)
            .field("sent", &self.sent)
            .field("end", &self.end)
            .finish()
    }
}

impl RequestMany {
    /// A call publishing `payload` (with `headers`) to `subject`, gathering replies on
    /// `inbox`, a fresh unique inbox of the connection. The total timeout runs from `now`.
    ///
    /// # Errors
    ///
    /// [`RequestManyError::InvalidSubject`], [`RequestManyError::InvalidInbox`],
    /// [`RequestManyError::ZeroMaxMessages`].
    pub fn new(
        now: Instant,
        inbox: &str,
        subject: &str,
        headers: Option<HeaderMap>,
        payload: Bytes,
        options: RequestManyOptions,
    ) -> Result<RequestMany, RequestManyError> {
        validate_publish(subject).map_err(|reason| RequestManyError::InvalidSubject {
            subject: subject.to_owned(),
            reason,
        })?;
        validate_publish(inbox).map_err(|reason| RequestManyError::InvalidInbox {
            inbox: inbox.to_owned(),
            reason,
        })?;
        if options.max_messages == Some(0) {
            return Err(RequestManyError::ZeroMaxMessages);
        }
        let mut timers = TimerTable::default();
        timers.set(Timer::Total, now + options.timeout);
        Ok(RequestMany {
            inbox: inbox.to_owned(),
            request: Some(Publish {
                subject: subject.to_owned(),
                reply: Some(inbox.to_owned()),
                headers,
                payload,
            }),
            options,
            subscribed: false,
            link_up: true,
            sent: false,
            received: 0,
            timers,
            now,
            ending: std::collections::VecDeque::new(),
            end: None,
        })
    }

    /// The inbox the replies come to.
    pub fn inbox(&self) -> &str {
        &self.inbox
    }

    /// Replies delivered so far.
    pub fn received(&self) -> usize {
        self.received
    }

    /// Why the call ended, once it has.
    pub fn end(&self) -> Option<End> {
        self.end
    }

    /// Ends the call (once): drop the subscription, report `error`, finish.
    fn finish(&mut self, end: End, error: Option<RequestManyError>) {
        if self.end.is_some() {
            return;
        }
        self.end = Some(end);
        self.timers.stop_all();
        // A request never handed out needs no subscription dropped, and is never sent.
        self.request = None;
        if self.subscribed {
            self.ending.push_back(Output::Unsubscribe {
                subject: self.inbox.clone(),
            });
        }
        if let Some(error) = error {
            self.ending.push_back(Output::Error(error));
        }
        self.ending.push_back(Output::Finished);
    }
}

impl Machine for RequestMany {
    type Item = Message;
    type Error = RequestManyError;

    fn handle_message(&mut self, now: Instant, message: Message) {
        self.now = self.now.max(now);
        if self.end.is_some() || message.subject.as_str() != self.inbox {
            return;
        }
        // Status first: a 503 has an empty payload, as the standard sentinel does.
        if let Some(code) = message.status() {
            let error = if code == StatusCode::NO_RESPONDERS {
                RequestManyError::NoResponders
            } else {
                RequestManyError::Status {
                    code,
                    description: message.description().map(str::to_owned),
                }
            };
            self.finish(End::Failed, Some(error));
            return;
        }
        if self
            .options
            .sentinel
            .as_ref()
            .is_some_and(|s| s.matches(&message))
        {
            self.finish(End::Sentinel, None);
            return;
        }
        self.received += 1;
        self.ending.push_back(Output::Deliver(message));
        if self
            .options
            .max_messages
            .is_some_and(|max| self.received >= max)
        {
            self.finish(End::MaxMessages, None);
        } else if let Some(stall) = self.options.effective_stall() {
            // The total timer stays armed, so a wait is the lesser of the stall and the rest.
            self.timers.set(Timer::Stall, self.now + stall);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        if self.timers.take_expired(Timer::Total, self.now) {
            self.finish(End::TimedOut, None);
        } else if self.timers.take_expired(Timer::Stall, self.now) {
            self.finish(End::Stalled, None);
        }
    }

    fn handle_link(&mut self, now: Instant, link: Link) {
        self.now = self.now.max(now);
        match link {
            Link::Down => {
                self.link_up = false;
                if self.sent {
                    self.finish(End::Failed, Some(RequestManyError::Disconnected));
                }
            }
            Link::Up => {
                self.link_up = true;
                // A request buffered while the link was down goes out on this one.
                if self.request.is_none() && self.subscribed {
                    self.sent = true;
                }
            }
        }
    }

    fn stop(&mut self) {
        self.finish(End::Stopped, None);
    }

    fn poll_output(&mut self) -> Option<Output<Message, RequestManyError>> {
        if !self.subscribed && self.request.is_some() {
            self.subscribed = true;
            return Some(Output::Subscribe {
                subject: self.inbox.clone(),
                queue_group: None,
            });
        }
        if let Some(request) = self.request.take() {
            self.sent = self.link_up;
            return Some(Output::Publish(request));
        }
        self.ending.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }
}

#[cfg(test)]
mod tests;
