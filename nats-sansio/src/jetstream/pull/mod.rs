//! The pull consumer as a pure state machine: one fetch, or a continuous consume.
//!
//! The machine knows nothing of [`Connection`](crate::Connection). Its caller subscribes an
//! inbox, publishes every [`PullRequest`] that [`PullMachine::poll_pull`] hands out to
//! `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` with that inbox as the reply, and feeds
//! every message that arrives on the inbox to [`PullMachine::handle_message`].
//!
//! Invariant: `pending_messages` / `pending_bytes` are what has been requested and neither
//! received nor released by a status (spec §3.8): a pull adds what it asks for, a user message
//! subtracts 1 and its size (subject + reply + headers + payload), a status with
//! `Nats-Pending-Messages`/`Nats-Pending-Bytes` subtracts those, and a status that ends pulls
//! without saying how much (404, 408 Requests Pending, 409 Leadership Change, 423), a missed
//! heartbeat and a reconnect zero them. A consume pulls `max - pending - held` whenever
//! `pending + held` is at or below its threshold and below its maximum, and only while
//! connected; so it can neither stall (every path that ends a pull lowers pending, and the
//! caller lowers `held` as it consumes) nor have more than its maximum requested and held.
//! `held` is what the caller says it still holds of what was delivered
//! ([`PullMachine::set_held`]; zero unless it says so), which bounds the caller's memory by the
//! budget however slowly it consumes. Nothing here does IO or reads a clock.

mod event;
mod options;
mod request;
mod status;
mod timer;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::proto::Message;

pub use event::{FinishReason, PullError, PullEvent, PullWarning, Received};
pub use options::{
    ConsumeOptions, FetchOptions, PriorityOptions, PullConfigError, BYTES_ONLY_BATCH,
    DEFAULT_CONSUME_MAX_MESSAGES, DEFAULT_EXPIRES, MIN_CONSUME_EXPIRES,
};
pub use request::PullRequest;
pub use status::{pending_counts, PullStatus, PENDING_BYTES, PENDING_MESSAGES, PIN_ID};

use crate::timer::TimerName;
use options::Budget;
use timer::{Timer, Timers};

/// How long after a fetch's `expires` the machine gives up on the server's `408` and ends the
/// fetch as expired by itself. The client's deadline must exceed the server's (spec §3.4).
pub const CLIENT_EXPIRY_GRACE: Duration = Duration::from_secs(1);

/// How long a `no_wait` fetch without `expires` waits for the server's answer.
pub const NO_WAIT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the machine does.
#[derive(Debug, Clone)]
enum Mode {
    /// One pull of `batch` messages and at most `max_bytes` bytes (0 = no byte limit).
    Fetch {
        batch: usize,
        max_bytes: usize,
        no_wait: bool,
        sent: bool,
    },
    /// Pulls kept in flight within `budget`.
    Consume { budget: Budget },
}

/// A pull consumer's fetch or continuous consume, as a pure state machine.
///
/// # The run loop
///
/// After creating the machine and after **every** `handle_*` call, the caller drains
/// [`poll_pull`](Self::poll_pull) (publish each request) and [`poll_event`](Self::poll_event),
/// then sleeps until [`poll_timeout`](Self::poll_timeout) and calls
/// [`handle_timeout`](Self::handle_timeout). Time never goes backwards: a `now` older than
/// one already seen is taken as the newest seen.
///
/// A driver's step, given the time (the machine never reads a clock) and what happened:
///
/// ```
/// use std::time::Instant;
/// use nats_sansio::jetstream::pull::{PullEvent, PullMachine, PullRequest, Received};
/// use nats_sansio::proto::Message;
///
/// /// What woke the driver.
/// enum Wake<'a> {
///     Inbox(&'a Message),
///     Timer,
/// }
///
/// /// One turn of the loop; returns when to wake for the timer, if ever.
/// fn step(
///     pull: &mut PullMachine,
///     now: Instant,
///     wake: Wake<'_>,
///     mut publish: impl FnMut(PullRequest),
///     mut deliver: impl FnMut(&Message),
///     mut report: impl FnMut(PullEvent),
/// ) -> Option<Instant> {
///     match wake {
///         Wake::Inbox(message) => {
///             if pull.handle_message(now, message) == Received::Message {
///                 deliver(message);
///             }
///         }
///         Wake::Timer => pull.handle_timeout(now),
///     }
///     // Publish to CONSUMER.MSG.NEXT.<stream>.<consumer> with the inbox as the reply.
///     while let Some(request) = pull.poll_pull() {
///         publish(request);
///     }
///     while let Some(event) = pull.poll_event() {
///         report(event);
///     }
///     pull.poll_timeout()
/// }
/// ```
#[derive(Debug)]
pub struct PullMachine {
    now: Instant,
    mode: Mode,
    finished: bool,
    connected: bool,
    timers: Timers,
    events: VecDeque<PullEvent>,
    expires: Option<Duration>,
    idle_heartbeat: Option<Duration>,
    priority: Option<PriorityOptions>,
    pin_id: Option<String>,
    pending_messages: usize,
    pending_bytes: usize,
    held_messages: usize,
    held_bytes: usize,
    delivered_messages: u64,
    delivered_bytes: u64,
}

impl PullMachine {
    fn new(
        now: Instant,
        mode: Mode,
        expires: Option<Duration>,
        idle_heartbeat: Option<Duration>,
        priority: Option<PriorityOptions>,
    ) -> PullMachine {
        let pin_id = priority.as_ref().and_then(|p| p.pin_id.clone());
        let mut machine = PullMachine {
            now,
            mode,
            finished: false,
            connected: true,
            timers: Timers::default(),
            events: VecDeque::new(),
            expires,
            idle_heartbeat: idle_heartbeat.filter(|hb| !hb.is_zero()),
            priority,
            pin_id,
            pending_messages: 0,
            pending_bytes: 0,
            held_messages: 0,
            held_bytes: 0,
            delivered_messages: 0,
            delivered_bytes: 0,
        };
        machine.arm_heartbeat();
        machine
    }

    /// One pull: ends when the batch is filled, the byte budget used up, the pull expires,
    /// or a status ends it. The caller is assumed connected; call
    /// [`handle_disconnected`](Self::handle_disconnected) first if not.
    ///
    /// # Errors
    ///
    /// A [`PullConfigError`] for options the server would refuse.
    pub fn fetch(now: Instant, options: FetchOptions) -> Result<PullMachine, PullConfigError> {
        let (batch, max_bytes) = options.validate()?;
        let expires = options.expires.filter(|e| !e.is_zero());
        let mut machine = PullMachine::new(
            now,
            Mode::Fetch {
                batch,
                max_bytes,
                no_wait: options.no_wait,
                sent: false,
            },
            expires,
            options.idle_heartbeat,
            options.priority,
        );
        let deadline = match (expires, options.no_wait) {
            (Some(expires), _) => Some(expires.saturating_add(CLIENT_EXPIRY_GRACE)),
            (None, true) => Some(NO_WAIT_TIMEOUT),
            (None, false) => None,
        };
        if let Some(deadline) = deadline {
            if let Some(at) = now.checked_add(deadline) {
                machine.timers.set(Timer::FetchDeadline, at);
            }
        }
        Ok(machine)
    }

    /// A continuous consume: keeps pulls in flight within a message or byte budget until a
    /// terminal error or [`stop`](Self::stop). The caller is assumed connected.
    ///
    /// # Errors
    ///
    /// A [`PullConfigError`] for inconsistent options or options the server would refuse.
    pub fn consume(now: Instant, options: ConsumeOptions) -> Result<PullMachine, PullConfigError> {
        let settings = options.validate()?;
        Ok(PullMachine::new(
            now,
            Mode::Consume {
                budget: settings.budget,
            },
            Some(settings.expires),
            Some(settings.idle_heartbeat),
            options.priority,
        ))
    }

    // ===================== getters =====================

    /// Has the machine finished (the `Finished` event is queued or was taken)?
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Messages requested and not yet received or released.
    pub fn pending_messages(&self) -> usize {
        self.pending_messages
    }

    /// Bytes requested and not yet received or released.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// What the caller said it still holds ([`set_held`](Self::set_held)): messages, bytes.
    pub fn held(&self) -> (usize, usize) {
        (self.held_messages, self.held_bytes)
    }

    /// User messages received so far.
    pub fn delivered_messages(&self) -> u64 {
        self.delivered_messages
    }

    /// Bytes of user messages received so far (subject + reply + headers + payload).
    pub fn delivered_bytes(&self) -> u64 {
        self.delivered_bytes
    }

    /// The pin id this client holds (pinned-client priority policy), sent as `id` on pulls.
    pub fn pin_id(&self) -> Option<&str> {
        self.pin_id.as_deref()
    }

    /// The idle heartbeat asked of the server, if any.
    pub fn idle_heartbeat(&self) -> Option<Duration> {
        self.idle_heartbeat
    }

    // ===================== outputs =====================

    /// The next pull request to publish, if one is due.
    ///
    /// Nothing is due while disconnected or after the machine finished. Publish it to
    /// `CONSUMER.MSG.NEXT.<stream>.<consumer>` with the inbox as the reply.
    pub fn poll_pull(&mut self) -> Option<PullRequest> {
        if self.finished || !self.connected {
            return None;
        }
        let (batch, max_bytes, no_wait) = match &mut self.mode {
            Mode::Fetch {
                batch,
                max_bytes,
                no_wait,
                sent,
            } => {
                if *sent {
                    return None;
                }
                *sent = true;
                self.pending_messages = *batch;
                self.pending_bytes = *max_bytes;
                (*batch, *max_bytes, *no_wait)
            }
            Mode::Consume {
                budget: Budget::Messages { max, threshold },
            } => {
                let used = self.pending_messages.saturating_add(self.held_messages);
                if used > *threshold || used >= *max {
                    return None;
                }
                self.pending_messages = *max - self.held_messages;
                (*max - used, 0, false)
            }
            Mode::Consume {
                budget: Budget::Bytes { max, threshold },
            } => {
                let used = self.pending_bytes.saturating_add(self.held_bytes);
                if used > *threshold || used >= *max {
                    return None;
                }
                self.pending_bytes = *max - self.held_bytes;
                (BYTES_ONLY_BATCH, *max - used, false)
            }
        };
        if matches!(self.mode, Mode::Consume { .. }) {
            // The server heartbeats a waiting pull: watch for them from now on (a no-op
            // unless the alarm was off because nothing was requested, see `set_held`).
            self.arm_heartbeat();
        }
        let priority = self.priority.as_ref();
        Some(PullRequest {
            batch,
            max_bytes,
            expires: self.expires,
            no_wait,
            idle_heartbeat: self.idle_heartbeat,
            group: priority.map(|p| p.group.clone()),
            min_pending: priority.and_then(|p| p.min_pending),
            min_ack_pending: priority.and_then(|p| p.min_ack_pending),
            id: self.pin_id.clone(),
            priority: priority.and_then(|p| p.priority),
        })
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<PullEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    // ===================== inputs =====================

    /// A message arrived on the pull inbox: a user message, a heartbeat or a status.
    pub fn handle_message(&mut self, now: Instant, message: &Message) -> Received {
        self.advance_clock(now);
        if self.finished {
            return Received::Ignored;
        }
        // Any inbound message proves the pull alive.
        self.arm_heartbeat();
        if let Some(pin) = message.headers.as_ref().and_then(|h| h.get(PIN_ID)) {
            if !pin.is_empty() {
                self.pin_id = Some(pin.to_owned());
            }
        }
        let received = match PullStatus::from_message(message) {
            None => {
                self.on_user_message(message);
                Received::Message
            }
            Some(PullStatus::IdleHeartbeat | PullStatus::FlowControl) => Received::Heartbeat,
            Some(status) => {
                self.on_status(&status, message);
                Received::Status(status)
            }
        };
        if self.nothing_requested() {
            // The pull ended and the caller holds the rest of the budget: no pull waits.
            self.timers.stop(Timer::HeartbeatAlarm);
        }
        received
    }

    /// Fires the timers due at `now`. Spurious calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance_clock(now);
        let now = self.now;
        for &timer in Timer::ALL {
            if !self.finished && self.timers.take_expired(timer, now) {
                match timer {
                    Timer::HeartbeatAlarm => self.on_missed_heartbeat(),
                    Timer::FetchDeadline => self.finish(FinishReason::Expired),
                }
            }
        }
    }

    /// The connection was lost: the heartbeat alarm pauses and no pull is issued until
    /// [`handle_reconnected`](Self::handle_reconnected). A consume never ends because of it.
    pub fn handle_disconnected(&mut self, now: Instant) {
        self.advance_clock(now);
        self.connected = false;
        self.timers.stop(Timer::HeartbeatAlarm);
    }

    /// The connection is back: the heartbeat alarm restarts and a consume forgets what it had
    /// requested and pulls its full budget afresh. A fetch keeps waiting for its one pull (its
    /// deadline kept running), or sends it now if it never could.
    pub fn handle_reconnected(&mut self, now: Instant) {
        self.advance_clock(now);
        if self.finished {
            return;
        }
        self.connected = true;
        self.arm_heartbeat();
        if matches!(self.mode, Mode::Consume { .. }) {
            self.reset_pending();
        }
    }

    /// The caller still holds `messages` delivered messages of `bytes` bytes in all (sizes as
    /// counted against the budget: subject + reply + headers + payload). A consume counts them
    /// against its budget, so it pulls again only as the caller lets go of what it has: what
    /// is requested plus what is held never exceeds the maximum, whatever the caller's pace.
    /// While nothing is requested (all of the budget held), no pull waits at the server, so the
    /// heartbeat alarm is off until the next pull. A fetch ignores it.
    pub fn set_held(&mut self, messages: usize, bytes: usize) {
        self.held_messages = messages;
        self.held_bytes = bytes;
        if self.nothing_requested() {
            self.timers.stop(Timer::HeartbeatAlarm);
        }
    }

    // ===================== commands =====================

    /// Ends the machine: no more pulls, `Finished(Stopped)`; later messages are ignored.
    pub fn stop(&mut self) {
        if !self.finished {
            self.finish(FinishReason::Stopped);
        }
    }

    // ===================== reactions =====================

    fn on_user_message(&mut self, message: &Message) {
        let size = message.subject.as_bytes().len()
            + message.reply.as_ref().map_or(0, |r| r.as_bytes().len())
            + message.length;
        self.delivered_messages += 1;
        self.delivered_bytes += size as u64;
        self.pending_messages = self.pending_messages.saturating_sub(1);
        self.pending_bytes = self.pending_bytes.saturating_sub(size);
        if let Mode::Fetch {
            batch, max_bytes, ..
        } = self.mode
        {
            if self.delivered_messages >= batch as u64 {
                self.finish(FinishReason::BatchFilled);
            } else if max_bytes > 0 && self.delivered_bytes >= max_bytes as u64 {
                self.finish(FinishReason::MaxBytesReached);
            }
        }
    }

    fn on_status(&mut self, status: &PullStatus, message: &Message) {
        if *status == PullStatus::PinIdMismatch {
            self.pin_id = None;
        }
        // Terminal in either mode (spec §3.5; 400 and push based stop a consume too).
        let error = match status {
            PullStatus::BadRequest(why) => Some(PullError::BadRequest(why.clone())),
            PullStatus::ConsumerDeleted => Some(PullError::ConsumerDeleted),
            PullStatus::ConsumerIsPushBased => Some(PullError::ConsumerIsPushBased),
            PullStatus::Unknown { code, description } => Some(PullError::UnknownStatus {
                code: *code,
                description: description.clone(),
            }),
            _ => None,
        };
        if let Some(error) = error {
            return self.fail(error);
        }
        match self.mode {
            Mode::Fetch { .. } => self.on_fetch_status(status),
            Mode::Consume { budget } => self.on_consume_status(status, message, budget),
        }
    }

    /// Spec §3.5, the "terminal for fetch" column.
    fn on_fetch_status(&mut self, status: &PullStatus) {
        let reason = match status {
            PullStatus::IdleHeartbeat | PullStatus::FlowControl => return,
            PullStatus::NoMessages | PullStatus::RequestsPending => FinishReason::NoMessages,
            PullStatus::RequestTimeout | PullStatus::InterestExpired => FinishReason::Expired,
            PullStatus::MessageSizeExceedsMaxBytes => FinishReason::MaxBytesReached,
            PullStatus::BatchCompleted => FinishReason::BatchFilled,
            PullStatus::LimitExceeded(why) => {
                self.warn(PullWarning::LimitExceeded(why.clone()));
                FinishReason::Interrupted(status.clone())
            }
            PullStatus::LeadershipChange
            | PullStatus::ServerShutdown
            | PullStatus::PinIdMismatch => FinishReason::Interrupted(status.clone()),
            PullStatus::NoResponders => return self.fail(PullError::NoResponders),
            // Handled by `on_status`.
            PullStatus::BadRequest(_)
            | PullStatus::ConsumerDeleted
            | PullStatus::ConsumerIsPushBased
            | PullStatus::Unknown { .. } => return,
        };
        self.finish(reason);
    }

    /// Spec §3.5, the "for consume" column.
    fn on_consume_status(&mut self, status: &PullStatus, message: &Message, budget: Budget) {
        match status {
            PullStatus::IdleHeartbeat | PullStatus::FlowControl => {}
            // Pulls ended without saying how much they had left: forget all, pull afresh.
            PullStatus::NoMessages
            | PullStatus::RequestsPending
            | PullStatus::LeadershipChange
            | PullStatus::PinIdMismatch => self.reset_pending(),
            PullStatus::RequestTimeout
            | PullStatus::InterestExpired
            | PullStatus::BatchCompleted
            | PullStatus::ServerShutdown => self.release_pending(message),
            PullStatus::MessageSizeExceedsMaxBytes => {
                // A pull of the whole budget that used none of it: the next message is
                // larger than the budget and re-pulling would loop forever.
                if let (Budget::Bytes { max, .. }, Some((_, left))) =
                    (budget, pending_counts(message))
                {
                    if left >= max as u64 {
                        return self.fail(PullError::MessageTooLarge { max_bytes: max });
                    }
                }
                self.release_pending(message);
            }
            // Pending stays inflated; the missed-heartbeat alarm resets it and re-pulls.
            PullStatus::LimitExceeded(why) => self.warn(PullWarning::LimitExceeded(why.clone())),
            PullStatus::NoResponders => self.warn(PullWarning::NoResponders),
            // Handled by `on_status`.
            PullStatus::BadRequest(_)
            | PullStatus::ConsumerDeleted
            | PullStatus::ConsumerIsPushBased
            | PullStatus::Unknown { .. } => {}
        }
    }

    fn on_missed_heartbeat(&mut self) {
        self.events.push_back(PullEvent::MissedHeartbeat);
        match self.mode {
            Mode::Fetch { .. } => self.finish(FinishReason::MissedHeartbeat),
            Mode::Consume { .. } => {
                self.reset_pending();
                self.arm_heartbeat();
            }
        }
    }

    // ===================== helpers =====================

    /// Subtracts a status's `Nats-Pending-*` headers; without them, forgets all pending.
    fn release_pending(&mut self, message: &Message) {
        match pending_counts(message) {
            Some((messages, bytes)) => {
                let sub = |pending: usize, n: u64| {
                    pending.saturating_sub(usize::try_from(n).unwrap_or(usize::MAX))
                };
                self.pending_messages = sub(self.pending_messages, messages);
                self.pending_bytes = sub(self.pending_bytes, bytes);
            }
            None => self.reset_pending(),
        }
    }

    fn reset_pending(&mut self) {
        self.pending_messages = 0;
        self.pending_bytes = 0;
    }

    /// A consume with nothing requested because the caller holds its budget: no pull waits
    /// at the server, so no heartbeat can come.
    fn nothing_requested(&self) -> bool {
        match self.mode {
            Mode::Consume {
                budget: Budget::Messages { .. },
            } => self.pending_messages == 0 && self.held_messages > 0,
            Mode::Consume {
                budget: Budget::Bytes { .. },
            } => self.pending_bytes == 0 && self.held_bytes > 0,
            Mode::Fetch { .. } => false,
        }
    }

    /// (Re)starts the alarm at twice the idle heartbeat from now, if heartbeats are on, the
    /// connection is up and a pull may be waiting at the server.
    fn arm_heartbeat(&mut self) {
        match self.idle_heartbeat {
            Some(hb) if self.connected && !self.finished && !self.nothing_requested() => {
                if let Some(at) = self.now.checked_add(hb.saturating_mul(2)) {
                    self.timers.set(Timer::HeartbeatAlarm, at);
                }
            }
            _ => self.timers.stop(Timer::HeartbeatAlarm),
        }
    }

    fn warn(&mut self, warning: PullWarning) {
        self.events.push_back(PullEvent::Warning(warning));
    }

    fn fail(&mut self, error: PullError) {
        self.events.push_back(PullEvent::Error(error));
        self.finish(FinishReason::Failed);
    }

    fn finish(&mut self, reason: FinishReason) {
        self.finished = true;
        self.timers.stop_all();
        self.events.push_back(PullEvent::Finished(reason));
    }

    fn advance_clock(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }
}
