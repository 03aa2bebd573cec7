//! The ordered consumer (ADR-17, spec §3.10) as a pure state machine layered on
//! [`PullMachine`] or, in [`OrderedMode::Push`], on [`PushMachine`]: a client-managed chain
//! of ephemeral consumers that together read a stream in order, without gaps and without
//! duplicates.
//!
//! The machine asks its caller to create consumers ([`OrderedAction::CreateConsumer`]) and
//! to delete the ones it gave up on ([`OrderedAction::DeleteConsumer`], best effort), hands
//! out the pulls of the consumer it follows ([`OrderedConsumer::poll_pull`]; pull mode) or
//! the flow-control answers it owes ([`OrderedAction::Publish`]; push mode), and decides for
//! every message arriving on its inbox whether the application gets it
//! ([`OrderedReceived::Deliver`]).
//!
//! Both modes share everything but the reader: in push mode each consumer generation pushes
//! to its own deliver subject `<inbox>.<serial>` with flow control and an idle heartbeat; a
//! heartbeat whose `Nats-Last-Consumer` is past the last consumer sequence seen is a gap, and
//! a push consumer's messages that arrive before its creation is confirmed are accepted under
//! the same rule as any other.
//!
//! Invariant: a message is delivered only if its stream sequence is above the last one
//! delivered (so nothing is delivered twice), and it is either the consumer-sequence
//! successor of the previous message from the same consumer, or a message of a consumer that
//! was created to start at or before the last delivered stream sequence plus one and whose
//! earlier messages were all seen (so nothing is skipped). Any break of that chain (a
//! consumer-sequence gap, seen on a message or on a heartbeat's `Nats-Last-Consumer`, in
//! either mode; a missed heartbeat, the consumer deleted or not found, no
//! responders, a reconnect) replaces the consumer by one starting right after the last
//! delivered stream sequence. Messages of the replaced consumer that still arrive in order
//! are delivered until the replacement delivers its first message, so a false alarm drops
//! nothing already on its way. Nothing here does IO or reads a clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::proto::Message;

use super::ack::{self, AckSpans};
use super::api::{
    validate_name, AckPolicy, ApiError, ApiErrorKind, ConsumerConfig, ConsumerInfo,
    CreateConsumerRequest, DeliverPolicy, NameError, NameKind, ReplayPolicy,
};
use super::pull::{
    ConsumeOptions, PullConfigError, PullError, PullEvent, PullMachine, PullRequest, PullStatus,
    PullWarning, Received, DEFAULT_EXPIRES,
};
use super::push::{PushEvent, PushMachine, Pushed, LAST_CONSUMER};

/// How long the server keeps an ordered consumer nobody pulls from.
pub const INACTIVE_THRESHOLD: Duration = Duration::from_secs(5 * 60);
/// The first wait before retrying a failed consumer creation; it doubles on every failure.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between creation attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The idle heartbeat of an ordered consume whose pulls expire after 10 s or more, and of a
/// push-mode ordered consumer.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);
/// The ack wait of a push-mode consumer (ADR-17; irrelevant with no acks, but set as the
/// reference clients do).
pub const PUSH_ACK_WAIT: Duration = Duration::from_secs(22 * 60 * 60);

/// How the consumers are read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrderedMode {
    /// Pull consumers, pulled with [`OrderedConfig::consume`] (nats.go's ordered consumer).
    #[default]
    Pull,
    /// Push consumers (ADR-17 legacy variant): each pushes to a fresh deliver subject with
    /// flow control, this idle heartbeat, `max_deliver` 1 and [`PUSH_ACK_WAIT`].
    /// [`OrderedConfig::consume`] is ignored.
    Push {
        /// The server's idle heartbeat; silence for twice this replaces the consumer.
        idle_heartbeat: Duration,
    },
}

impl OrderedMode {
    /// Push mode with the default heartbeat of 5 s.
    pub fn push() -> OrderedMode {
        OrderedMode::Push {
            idle_heartbeat: DEFAULT_HEARTBEAT,
        }
    }
}

/// What an ordered consumer reads, and how.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderedConfig {
    /// Only messages on these subjects (none: the whole stream).
    pub filter_subjects: Vec<String>,
    /// Where the first consumer starts; later ones start after the last delivered message.
    pub deliver_policy: DeliverPolicy,
    /// Replay pace.
    pub replay_policy: ReplayPolicy,
    /// Deliver headers only (with the size in `Nats-Msg-Size`).
    pub headers_only: bool,
    /// Remove an abandoned consumer after this long (default [`INACTIVE_THRESHOLD`]).
    pub inactive_threshold: Option<Duration>,
    /// Give up after this many consecutive failed re-creations (default: never).
    pub max_reset_attempts: Option<u32>,
    /// Pull (default) or push consumers.
    pub mode: OrderedMode,
    /// The pulls: message or byte budget, expiry, heartbeat (default [`DEFAULT_HEARTBEAT`],
    /// or `expires / 2` when `expires` is under 10 s). No priority group.
    pub consume: ConsumeOptions,
}

impl OrderedConfig {
    /// The whole stream from its first message, 500 messages requested at a time.
    pub fn new() -> OrderedConfig {
        OrderedConfig::default()
    }
}

/// Why an ordered consumer cannot be built.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrderedConfigError {
    /// The stream name or the consumer name prefix is invalid.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The pull options are invalid.
    #[error(transparent)]
    Pull(#[from] PullConfigError),
    /// Ordered consumers have no priority groups.
    #[error("an ordered consumer takes no priority group")]
    PriorityGroup,
    /// A push-mode ordered consumer needs a non-zero idle heartbeat.
    #[error("a push ordered consumer needs a non-zero idle heartbeat")]
    ZeroHeartbeat,
}

/// Why a consumer creation failed, as the caller saw it.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CreateError {
    /// The server refused with this API error.
    #[error("consumer creation refused: {0}")]
    Api(ApiError),
    /// No JetStream answered (`503`).
    #[error("consumer creation: no responders")]
    NoResponders,
    /// No answer (timeout, connection lost) or an unreadable one; the consumer may exist.
    #[error("consumer creation failed: {0}")]
    Unavailable(String),
}

/// Why the machine replaced its consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResetReason {
    /// A message's consumer sequence was not the next one.
    Gap {
        /// The consumer sequence expected.
        expected: u64,
        /// The one received.
        received: u64,
    },
    /// Nothing arrived for twice the idle heartbeat.
    MissedHeartbeat,
    /// `409 Consumer Deleted`.
    ConsumerDeleted,
    /// The caller learned that the consumer does not exist (`10014`).
    ConsumerNotFound,
    /// `503` on a pull: nothing serves the consumer.
    NoResponders,
    /// The connection came back; the consumer may be gone with the server.
    Reconnected,
}

/// A terminal error.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrderedError {
    /// The first consumer could not be created, or the stream is gone.
    #[error(transparent)]
    Create(CreateError),
    /// Re-creation failed `attempts` times in a row.
    #[error("ordered consumer gave up after {attempts} failed re-creations: {last}")]
    ResetAttemptsExhausted {
        /// Consecutive failures.
        attempts: u32,
        /// The last one.
        last: CreateError,
    },
    /// The pull failed in a way a new consumer would not fix.
    #[error(transparent)]
    Pull(PullError),
}

/// An API call the caller performs for the machine. Not `non_exhaustive` on purpose: a
/// caller must perform every kind, so a new one is a breaking change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderedAction {
    /// Send to `CONSUMER.CREATE.<stream>.<name>[.<filter>]` and report the outcome with
    /// [`OrderedConsumer::handle_consumer_created`].
    CreateConsumer(Box<CreateConsumerRequest>),
    /// Send to `CONSUMER.DELETE.<stream>.<name>`; the outcome does not matter.
    DeleteConsumer(String),
    /// Publish an empty message to this subject before delivering anything fed later: a
    /// flow-control answer or an unstall (push mode).
    Publish(String),
}

/// A pull to publish to `CONSUMER.MSG.NEXT.<stream>.<consumer>` with `reply` as the reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderedPull {
    /// The consumer.
    pub consumer: String,
    /// The reply subject: the machine's inbox and the consumer's serial.
    pub reply: String,
    /// The request body.
    pub request: PullRequest,
}

/// An event for the application.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrderedEvent {
    /// A consumer was created and is now followed.
    ConsumerCreated {
        /// Its name.
        name: String,
    },
    /// The followed consumer is being replaced.
    Reset {
        /// The consumer given up.
        consumer: String,
        /// Why.
        reason: ResetReason,
    },
    /// A re-creation failed; the next attempt is at `retry_at`.
    CreateFailed {
        /// What went wrong.
        error: CreateError,
        /// Consecutive failures so far.
        attempt: u32,
        /// When the machine tries again.
        retry_at: Instant,
    },
    /// A warning from the pulls; consuming goes on.
    Warning(PullWarning),
    /// A terminal error; `Finished` follows.
    Error(OrderedError),
    /// Nothing more will be delivered.
    Finished,
}

/// Why a message is not for the application.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dropped {
    /// A heartbeat or a status of the followed consumer's pulls (acted on).
    Status(PullStatus),
    /// A heartbeat, flow-control request or other status on the followed push consumer's
    /// deliver subject (acted on; an answer owed is queued as [`OrderedAction::Publish`]).
    Push(Pushed),
    /// Its stream sequence was already delivered.
    Duplicate,
    /// It comes after a consumer-sequence gap; the consumer is being replaced.
    Gap,
    /// From a consumer, or a pull, no longer followed.
    Stale,
    /// Not a JetStream message (no ack reply subject).
    NotJetStream,
    /// The machine has finished.
    Finished,
}

/// What [`OrderedConsumer::handle_message`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderedReceived {
    /// In order: deliver it to the application.
    Deliver {
        /// Its stream sequence.
        stream_sequence: u64,
    },
    /// Not for the application.
    Dropped(Dropped),
}

/// The first consumer an ordered consumer created, as its creation reply described it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstConsumer {
    /// Its name; the ack subject of each message it delivers names it.
    pub name: String,
    /// The messages it had to deliver when it was created: those it had already pushed
    /// (`delivered.consumer_seq`, a push consumer may start before its creation reply is
    /// written) plus those still pending (`num_pending`).
    pub backlog: u64,
}

/// A consumer whose messages are still accepted while they stay in sequence.
#[derive(Debug)]
struct Follow {
    name: String,
    expected_cseq: u64,
}

/// What reads the consumer being followed.
#[derive(Debug)]
enum Reader {
    Pull(PullMachine),
    Push(PushMachine),
}

impl Reader {
    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Reader::Pull(pull) => pull.poll_timeout(),
            Reader::Push(push) => push.poll_timeout(),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Reader::Pull(pull) => pull.handle_timeout(now),
            Reader::Push(push) => push.handle_timeout(now),
        }
    }
}

/// The consumer being read.
#[derive(Debug)]
struct Active {
    follow: Follow,
    /// The pulls' reply subject, or the push consumer's deliver subject.
    reply: String,
    reader: Reader,
}

#[derive(Debug)]
enum Phase {
    /// A create action is out; `stale` once the connection was replaced meanwhile. A push
    /// consumer may deliver before the answer: `early` follows it (`gap` if it broke order).
    Creating {
        name: String,
        stale: bool,
        early: u64,
        gap: Option<(u64, u64)>,
    },
    /// Waiting to try creating again.
    BackingOff { at: Instant },
    /// Waiting for the connection to create the next consumer.
    Disconnected,
    /// Reading a consumer.
    Active(Box<Active>),
    /// Done.
    Finished,
}

/// An ordered consumer, as a pure state machine.
///
/// # The run loop
///
/// Subscribe `<inbox>.*` and build the machine with that inbox (push mode: instead subscribe
/// each [`OrderedAction::CreateConsumer`]'s `deliver_subject` before sending it, and keep the
/// previous generation's subscription until the next one; the server does not push to a
/// wildcard subscription's interest). After creating it and after
/// **every** `handle_*` call, drain [`poll_action`](Self::poll_action) (perform each API
/// call; report a creation's outcome with
/// [`handle_consumer_created`](Self::handle_consumer_created); publish an empty message for
/// each [`OrderedAction::Publish`] before delivering anything fed later),
/// [`poll_pull`](Self::poll_pull) (publish each pull) and [`poll_event`](Self::poll_event),
/// then sleep until [`poll_timeout`](Self::poll_timeout) and call
/// [`handle_timeout`](Self::handle_timeout). Feed every message of the inbox subscription to
/// [`handle_message`](Self::handle_message) and deliver exactly those it answers
/// [`OrderedReceived::Deliver`] for, in the order they were fed. Time never goes backwards.
///
/// ```
/// use std::time::Instant;
/// use nats_sansio::jetstream::ordered::{OrderedAction, OrderedConfig, OrderedConsumer};
///
/// /// The first thing a new machine asks for, given the time.
/// fn first_consumer_name(now: Instant) -> String {
///     let mut ordered =
///         OrderedConsumer::new(now, "ORDERS", "oc1", "_INBOX.oc1", OrderedConfig::new())
///             .expect("valid names and options");
///     assert!(ordered.poll_pull().is_none(), "no pull before the consumer exists");
///     match ordered.poll_action() {
///         Some(OrderedAction::CreateConsumer(request)) => request.config.name,
///         _ => unreachable!("the first consumer is asked for at once"),
///     }
/// }
/// ```
#[derive(Debug)]
pub struct OrderedConsumer {
    now: Instant,
    stream: String,
    prefix: String,
    inbox: String,
    config: OrderedConfig,
    serial: u64,
    phase: Phase,
    previous: Option<Follow>,
    last_sseq: u64,
    /// The ack metadata of the last message delivered.
    last_delivered: Option<AckSpans>,
    resume_from: Option<u64>,
    created_once: bool,
    first: Option<FirstConsumer>,
    failures: u32,
    connected: bool,
    delivered: u64,
    /// What the caller holds of the delivered messages (pull mode): messages, bytes.
    held: (usize, usize),
    /// Count each delivered message as held at once (see `hold_delivered`).
    hold_delivered: bool,
    actions: VecDeque<OrderedAction>,
    events: VecDeque<OrderedEvent>,
}

impl OrderedConsumer {
    /// An ordered consumer of `stream`. Its consumers are named `<name_prefix>_<serial>`,
    /// and its pulls' replies are `<inbox>.<serial>`. The caller is assumed connected; the
    /// first [`OrderedAction::CreateConsumer`] is queued at once.
    ///
    /// # Errors
    ///
    /// An [`OrderedConfigError`] for an invalid name or invalid pull options.
    pub fn new(
        now: Instant,
        stream: &str,
        name_prefix: &str,
        inbox: &str,
        mut config: OrderedConfig,
    ) -> Result<OrderedConsumer, OrderedConfigError> {
        validate_name(NameKind::Stream, stream)?;
        validate_name(NameKind::Consumer, name_prefix)?;
        if config.consume.priority.is_some() {
            return Err(OrderedConfigError::PriorityGroup);
        }
        if let OrderedMode::Push { idle_heartbeat } = config.mode {
            if idle_heartbeat.is_zero() {
                return Err(OrderedConfigError::ZeroHeartbeat);
            }
        } else if config.consume.idle_heartbeat.is_none() {
            let expires = config.consume.expires.unwrap_or(DEFAULT_EXPIRES);
            config.consume.idle_heartbeat = Some(if expires < Duration::from_secs(10) {
                expires / 2
            } else {
                DEFAULT_HEARTBEAT
            });
        }
        if config.mode == OrderedMode::Pull {
            PullMachine::consume(now, config.consume.clone())?;
        }
        let mut machine = OrderedConsumer {
            now,
            stream: stream.to_owned(),
            prefix: name_prefix.to_owned(),
            inbox: inbox.to_owned(),
            config,
            serial: 0,
            phase: Phase::Disconnected,
            previous: None,
            last_sseq: 0,
            last_delivered: None,
            resume_from: None,
            created_once: false,
            first: None,
            failures: 0,
            connected: true,
            delivered: 0,
            held: (0, 0),
            hold_delivered: false,
            actions: VecDeque::new(),
            events: VecDeque::new(),
        };
        machine.start_create();
        Ok(machine)
    }

    // ===================== getters =====================

    /// The stream sequence of the last message delivered (0: none yet).
    pub fn last_stream_sequence(&self) -> u64 {
        self.last_sseq
    }

    /// The ack metadata of the last message delivered (the one the last
    /// [`OrderedReceived::Deliver`] was for), read once here: its names are spans of that
    /// message's reply subject ([`AckSpans::info`]).
    pub fn last_delivered(&self) -> Option<&AckSpans> {
        self.last_delivered.as_ref()
    }

    /// Messages delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// The consumer being read, if one is.
    pub fn consumer_name(&self) -> Option<&str> {
        match &self.phase {
            Phase::Active(active) => Some(&active.follow.name),
            _ => None,
        }
    }

    /// The first consumer created and what it had to deliver then, once its creation was
    /// confirmed: the "initial data" of a reader that must tell when it has caught up.
    pub fn first_consumer(&self) -> Option<&FirstConsumer> {
        self.first.as_ref()
    }

    /// Consumers asked for so far (the serial of the latest).
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// Has the machine finished (the `Finished` event is queued or was taken)?
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished)
    }

    // ===================== outputs =====================

    /// The next API call to perform.
    pub fn poll_action(&mut self) -> Option<OrderedAction> {
        self.actions.pop_front()
    }

    /// The next pull to publish.
    pub fn poll_pull(&mut self) -> Option<OrderedPull> {
        let Phase::Active(active) = &mut self.phase else {
            return None;
        };
        let Reader::Pull(pull) = &mut active.reader else {
            return None;
        };
        let request = pull.poll_pull()?;
        Some(OrderedPull {
            consumer: active.follow.name.clone(),
            reply: active.reply.clone(),
            request,
        })
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<OrderedEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Active(active) => active.reader.poll_timeout(),
            Phase::BackingOff { at } => Some(*at),
            _ => None,
        }
    }

    // ===================== inputs =====================

    /// The outcome of the last [`OrderedAction::CreateConsumer`].
    pub fn handle_consumer_created(
        &mut self,
        now: Instant,
        result: Result<ConsumerInfo, CreateError>,
    ) {
        self.advance_clock(now);
        let (name, stale, early, gap) =
            match std::mem::replace(&mut self.phase, Phase::Disconnected) {
                Phase::Creating {
                    name,
                    stale,
                    early,
                    gap,
                } => (name, stale, early, gap),
                other => {
                    // Not waiting for one (stopped meanwhile): clean it up.
                    self.phase = other;
                    if let Ok(info) = result {
                        self.actions
                            .push_back(OrderedAction::DeleteConsumer(info.name));
                    }
                    return;
                }
            };
        match result {
            Ok(info) => {
                self.on_created(name, stale, early, &info);
                if let Some((expected, received)) = gap {
                    self.reset(ResetReason::Gap { expected, received });
                }
            }
            Err(error) => self.on_create_failed(name, error),
        }
    }

    /// A message arrived on the inbox subscription: a user message, a heartbeat or a status.
    pub fn handle_message(&mut self, now: Instant, message: &Message) -> OrderedReceived {
        self.advance_clock(now);
        let received = self.on_message(message);
        if self.hold_delivered && matches!(received, OrderedReceived::Deliver { .. }) {
            let size = message.subject.as_bytes().len()
                + message.reply.as_ref().map_or(0, |r| r.as_bytes().len())
                + message.length;
            let (messages, bytes) = self.held;
            self.set_held(messages + 1, bytes + size);
        }
        self.pump();
        received
    }

    /// Fires the timers due at `now`. Spurious calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance_clock(now);
        let now = self.now;
        match &mut self.phase {
            Phase::Active(active) => active.reader.handle_timeout(now),
            Phase::BackingOff { at } if *at <= now => self.start_create(),
            _ => {}
        }
        self.pump();
    }

    /// The caller learned from the server (err_code 10014) that consumer `name` does not
    /// exist; if it is the one being read, it is replaced.
    pub fn handle_consumer_not_found(&mut self, now: Instant, name: &str) {
        self.advance_clock(now);
        if self.consumer_name() == Some(name) {
            self.reset(ResetReason::ConsumerNotFound);
        }
    }

    /// The connection was lost: pulls pause, no consumer is created until it is back.
    pub fn handle_disconnected(&mut self, now: Instant) {
        self.advance_clock(now);
        self.connected = false;
        if let Phase::Active(active) = &mut self.phase {
            // A push consumer's heartbeat alarm may fire meanwhile: the reconnect replaces
            // that consumer anyway.
            if let Reader::Pull(pull) = &mut active.reader {
                pull.handle_disconnected(self.now);
            }
        }
    }

    /// The connection is back: the consumer is replaced (it may have gone with the server),
    /// and a waiting creation is tried at once.
    pub fn handle_reconnected(&mut self, now: Instant) {
        self.advance_clock(now);
        self.connected = true;
        match &mut self.phase {
            Phase::Active(_) => self.reset(ResetReason::Reconnected),
            Phase::Creating { stale, .. } => *stale = true,
            Phase::BackingOff { .. } | Phase::Disconnected => self.start_create(),
            Phase::Finished => {}
        }
    }

    /// The caller still holds `messages` of the delivered messages, `bytes` bytes in all
    /// (pull mode; see [`PullMachine::set_held`]): the pulls of this and every later consumer
    /// count them against the budget, so what is requested plus what the caller holds never
    /// exceeds it. Push mode ignores it.
    pub fn set_held(&mut self, messages: usize, bytes: usize) {
        self.held = (messages, bytes);
        if let Phase::Active(active) = &mut self.phase {
            if let Reader::Pull(pull) = &mut active.reader {
                pull.set_held(messages, bytes);
            }
        }
    }

    /// From now on, every message delivered counts as held (one message, its subject +
    /// reply + headers + payload bytes) before any pull is computed, until the caller lowers
    /// the count with [`set_held`](Self::set_held) as it lets go of messages; so no pull can
    /// ask again for bytes the caller just received.
    pub fn hold_delivered(&mut self) {
        self.hold_delivered = true;
    }

    // ===================== commands =====================

    /// Ends the machine: the consumer is deleted, `Finished` is emitted, later messages are
    /// dropped.
    pub fn stop(&mut self) {
        self.finish();
    }

    // ===================== reactions =====================

    /// `early`: the consumer sequence expected next from it (above 1 if a push consumer
    /// delivered before its creation was confirmed).
    fn on_created(&mut self, name: String, stale: bool, early: u64, info: &ConsumerInfo) {
        self.failures = 0;
        if !self.created_once {
            self.created_once = true;
            self.first = Some(FirstConsumer {
                name: name.clone(),
                backlog: info.num_pending.saturating_add(info.delivered.consumer_seq),
            });
            // Where the first consumer really started, so that a replacement made before
            // anything was delivered starts there too (a `new`/`last`/time policy re-applied
            // later would start elsewhere). Last-per-subject too: the server reports the
            // first of its last messages (or, with none, the stream's end) as the start;
            // from there a replacement also delivers older messages of later subjects, but
            // re-applying last-per-subject would skip what changed meanwhile.
            let known = !matches!(self.config.deliver_policy, DeliverPolicy::Other(_));
            if self.resume_from.is_none() && known {
                self.resume_from = Some(info.delivered.stream_seq.saturating_add(1).max(1));
            }
        }
        if stale {
            // Created across a reconnect: it may not have survived; replace it.
            self.actions.push_back(OrderedAction::DeleteConsumer(name));
            self.start_create();
            return;
        }
        let reader = match self.config.mode {
            OrderedMode::Push { idle_heartbeat } => Reader::Push(
                PushMachine::new(self.now, Some(idle_heartbeat), false)
                    .with_last_consumer_sequence(early - 1),
            ),
            _ => match PullMachine::consume(self.now, self.config.consume.clone()) {
                Ok(mut pull) => {
                    pull.set_held(self.held.0, self.held.1);
                    if !self.connected {
                        pull.handle_disconnected(self.now);
                    }
                    Reader::Pull(pull)
                }
                Err(e) => {
                    // Validated in `new`; kept as an error rather than a panic.
                    self.actions.push_back(OrderedAction::DeleteConsumer(name));
                    return self.fail(OrderedError::Create(CreateError::Unavailable(
                        e.to_string(),
                    )));
                }
            },
        };
        self.events
            .push_back(OrderedEvent::ConsumerCreated { name: name.clone() });
        self.phase = Phase::Active(Box::new(Active {
            reply: format!("{}.{}", self.inbox, self.serial),
            follow: Follow {
                name,
                expected_cseq: early,
            },
            reader,
        }));
    }

    fn on_create_failed(&mut self, name: String, error: CreateError) {
        if matches!(error, CreateError::Unavailable(_)) {
            // It may have been created all the same.
            self.actions.push_back(OrderedAction::DeleteConsumer(name));
        }
        let stream_gone =
            matches!(&error, CreateError::Api(e) if e.kind() == ApiErrorKind::StreamNotFound);
        if !self.created_once || stream_gone {
            return self.fail(OrderedError::Create(error));
        }
        self.failures = self.failures.saturating_add(1);
        if let Some(max) = self.config.max_reset_attempts {
            if self.failures >= max {
                return self.fail(OrderedError::ResetAttemptsExhausted {
                    attempts: self.failures,
                    last: error,
                });
            }
        }
        let at = self.now + backoff(self.failures);
        self.events.push_back(OrderedEvent::CreateFailed {
            error,
            attempt: self.failures,
            retry_at: at,
        });
        self.phase = Phase::BackingOff { at };
    }

    fn on_message(&mut self, message: &Message) -> OrderedReceived {
        let now = self.now;
        let dropped = |why| OrderedReceived::Dropped(why);
        if matches!(self.phase, Phase::Finished) {
            return dropped(Dropped::Finished);
        }
        if let Some(status) = PullStatus::from_message(message) {
            return self.on_status(message, status);
        }
        let Some(reply) = message.reply.as_ref().map(|reply| reply.as_str()) else {
            return dropped(Dropped::NotJetStream);
        };
        let Ok(spans) = ack::parse_spans(reply) else {
            return dropped(Dropped::NotJetStream);
        };
        let meta = spans.info(reply);
        match &mut self.phase {
            Phase::Active(active) if active.follow.name == meta.consumer => {
                match &mut active.reader {
                    Reader::Pull(pull) => {
                        if pull.handle_message(now, message) != Received::Message {
                            return dropped(Dropped::Stale);
                        }
                    }
                    Reader::Push(push) => push.handle_data(now, meta.consumer_sequence),
                }
                let expected = active.follow.expected_cseq;
                if meta.consumer_sequence != expected {
                    self.reset(ResetReason::Gap {
                        expected,
                        received: meta.consumer_sequence,
                    });
                    return dropped(Dropped::Gap);
                }
                active.follow.expected_cseq += 1;
                // The replacement has taken over: the consumer it replaced is done.
                self.previous = None;
                return self.accept(meta.stream_sequence, spans);
            }
            Phase::Creating {
                name, early, gap, ..
            } if *name == meta.consumer => {
                // A push consumer delivering before its creation was confirmed.
                if gap.is_some() || meta.consumer_sequence != *early {
                    // Replaced as soon as it is confirmed.
                    gap.get_or_insert((*early, meta.consumer_sequence));
                    return dropped(Dropped::Gap);
                }
                *early += 1;
                self.previous = None;
                return self.accept(meta.stream_sequence, spans);
            }
            _ => {}
        }
        match &mut self.previous {
            Some(previous) if previous.name == meta.consumer => {
                if meta.consumer_sequence != previous.expected_cseq {
                    self.previous = None;
                    return dropped(Dropped::Stale);
                }
                previous.expected_cseq += 1;
                self.accept(meta.stream_sequence, spans)
            }
            _ => dropped(Dropped::Stale),
        }
    }

    /// A status: only those on the followed consumer's subject count (statuses carry no
    /// consumer name).
    fn on_status(&mut self, message: &Message, status: PullStatus) -> OrderedReceived {
        let now = self.now;
        let Phase::Active(active) = &mut self.phase else {
            return OrderedReceived::Dropped(Dropped::Stale);
        };
        if message.subject.as_str() != active.reply {
            return OrderedReceived::Dropped(Dropped::Stale);
        }
        let push = match &mut active.reader {
            Reader::Pull(pull) => {
                pull.handle_message(now, message);
                // A heartbeat names the last consumer sequence the server delivered: one
                // not seen yet was lost on its way, and no later message will reveal it
                // while the consumer has nothing more to send.
                let expected = active.follow.expected_cseq;
                let last = (status == PullStatus::IdleHeartbeat)
                    .then(|| last_consumer_sequence(message))
                    .flatten();
                if let Some(last) = last.filter(|&last| last >= expected) {
                    self.reset(ResetReason::Gap {
                        expected,
                        received: last,
                    });
                }
                return OrderedReceived::Dropped(Dropped::Status(status));
            }
            Reader::Push(push) => push,
        };
        let pushed = push.handle_message(now, message);
        match &pushed {
            // Everything fed before it was delivered: the application has reached it.
            Pushed::FlowControl { reply } => self
                .actions
                .push_back(OrderedAction::Publish(reply.clone())),
            Pushed::Heartbeat {
                unstall: Some(subject),
            } => self
                .actions
                .push_back(OrderedAction::Publish(subject.clone())),
            _ => {}
        }
        OrderedReceived::Dropped(Dropped::Push(pushed))
    }

    /// A message in consumer order: delivered unless its stream sequence already was.
    fn accept(&mut self, stream_sequence: u64, spans: AckSpans) -> OrderedReceived {
        if stream_sequence <= self.last_sseq {
            return OrderedReceived::Dropped(Dropped::Duplicate);
        }
        self.last_sseq = stream_sequence;
        self.last_delivered = Some(spans);
        self.resume_from = Some(stream_sequence.saturating_add(1));
        self.delivered += 1;
        OrderedReceived::Deliver { stream_sequence }
    }

    /// Acts on what the current pull reported.
    fn pump(&mut self) {
        loop {
            let Phase::Active(active) = &mut self.phase else {
                return;
            };
            let event = match &mut active.reader {
                Reader::Pull(pull) => pull.poll_event(),
                Reader::Push(push) => {
                    match push.poll_event() {
                        Some(PushEvent::MissedHeartbeat) => {
                            self.reset(ResetReason::MissedHeartbeat)
                        }
                        Some(PushEvent::Gap { expected, got }) => self.reset(ResetReason::Gap {
                            expected,
                            received: got,
                        }),
                        None => return,
                    }
                    continue;
                }
            };
            let Some(event) = event else {
                return;
            };
            match event {
                PullEvent::MissedHeartbeat => self.reset(ResetReason::MissedHeartbeat),
                PullEvent::Error(PullError::ConsumerDeleted) => {
                    self.reset(ResetReason::ConsumerDeleted)
                }
                PullEvent::Warning(PullWarning::NoResponders) => {
                    self.reset(ResetReason::NoResponders)
                }
                PullEvent::Warning(warning) => {
                    self.events.push_back(OrderedEvent::Warning(warning))
                }
                PullEvent::Error(error) => self.fail(OrderedError::Pull(error)),
                // Follows an error (handled above) or a stop (ours).
                _ => {}
            }
        }
    }

    // ===================== helpers =====================

    /// Gives up the consumer being read and asks for its replacement.
    fn reset(&mut self, reason: ResetReason) {
        let Phase::Active(active) = std::mem::replace(&mut self.phase, Phase::Disconnected) else {
            return;
        };
        let name = active.follow.name.clone();
        self.events.push_back(OrderedEvent::Reset {
            consumer: name.clone(),
            reason,
        });
        self.actions.push_back(OrderedAction::DeleteConsumer(name));
        // Keep following whichever consumer last delivered, for what is already on its way.
        if active.follow.expected_cseq > 1 || self.previous.is_none() {
            self.previous = Some(active.follow);
        }
        self.start_create();
    }

    fn start_create(&mut self) {
        if !self.connected {
            self.phase = Phase::Disconnected;
            return;
        }
        self.serial += 1;
        let name = format!("{}_{}", self.prefix, self.serial);
        let config = self.consumer_config(&name);
        self.actions
            .push_back(OrderedAction::CreateConsumer(Box::new(
                CreateConsumerRequest {
                    stream_name: self.stream.clone(),
                    config,
                    ..CreateConsumerRequest::default()
                },
            )));
        self.phase = Phase::Creating {
            name,
            stale: false,
            early: 1,
            gap: None,
        };
    }

    fn consumer_config(&self, name: &str) -> ConsumerConfig {
        let deliver_policy = match self.resume_from {
            Some(start_seq) => DeliverPolicy::ByStartSequence { start_seq },
            None => self.config.deliver_policy.clone(),
        };
        let mut filters = self.config.filter_subjects.clone();
        let (filter_subject, filter_subjects) = if filters.len() == 1 {
            (filters.remove(0), Vec::new())
        } else {
            (String::new(), filters)
        };
        let mut config = ConsumerConfig {
            name: name.to_owned(),
            deliver_policy,
            ack_policy: AckPolicy::None,
            replay_policy: self.config.replay_policy.clone(),
            headers_only: self.config.headers_only,
            filter_subject,
            filter_subjects,
            inactive_threshold: self.config.inactive_threshold.unwrap_or(INACTIVE_THRESHOLD),
            num_replicas: 1,
            mem_storage: true,
            ..ConsumerConfig::default()
        };
        if let OrderedMode::Push { idle_heartbeat } = self.config.mode {
            // `name` is `<prefix>_<serial>`: its generation pushes to `<inbox>.<serial>`.
            config.deliver_subject = format!("{}.{}", self.inbox, self.serial);
            config.flow_control = true;
            config.idle_heartbeat = idle_heartbeat;
            config.max_deliver = 1;
            config.ack_wait = PUSH_ACK_WAIT;
        }
        config
    }

    fn fail(&mut self, error: OrderedError) {
        if self.is_finished() {
            return;
        }
        self.events.push_back(OrderedEvent::Error(error));
        self.finish();
    }

    fn finish(&mut self) {
        match std::mem::replace(&mut self.phase, Phase::Finished) {
            Phase::Finished => return,
            Phase::Active(active) => self
                .actions
                .push_back(OrderedAction::DeleteConsumer(active.follow.name)),
            Phase::Creating { name, .. } => {
                self.actions.push_back(OrderedAction::DeleteConsumer(name))
            }
            Phase::BackingOff { .. } | Phase::Disconnected => {}
        }
        self.previous = None;
        self.events.push_back(OrderedEvent::Finished);
    }

    /// The newest time the machine has seen.
    pub(crate) fn now(&self) -> Instant {
        self.now
    }

    fn advance_clock(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }
}

/// The `Nats-Last-Consumer` of a heartbeat: the last consumer sequence delivered.
fn last_consumer_sequence(message: &Message) -> Option<u64> {
    let value = message.headers.as_ref()?.get(LAST_CONSUMER)?;
    value.trim().parse().ok()
}

/// The wait after `failures` consecutive failed creations: 1 s, doubling, at most 10 s.
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(8);
    INITIAL_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF)
}
