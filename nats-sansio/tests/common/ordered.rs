//! The ordered consumer machine driven by hand over a virtual clock, for its pull-mode and
//! push-mode tests: a harness that collects everything the machine puts out, and the step of
//! a seeded simulation in which the client reads what is on the wire.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use nats_sansio::jetstream::api::CreateConsumerRequest;
use nats_sansio::jetstream::ordered::{
    CreateError, OrderedAction, OrderedConfig, OrderedConsumer, OrderedEvent, OrderedMode,
    OrderedPull, OrderedReceived, ResetReason,
};
use nats_sansio::proto::Message;
use nats_sansio::rng::Rng;

use super::{consumer_info, STREAM};

/// The machine and everything it has put out, over a virtual clock.
pub(crate) struct Harness {
    pub(crate) m: OrderedConsumer,
    pub(crate) now: Instant,
    pub(crate) actions: Vec<OrderedAction>,
    pub(crate) pulls: Vec<OrderedPull>,
    pub(crate) events: Vec<OrderedEvent>,
    /// The creation asked for last, kept across `take`.
    pub(crate) asked: Option<CreateConsumerRequest>,
    /// Push mode, which must never pull.
    push: bool,
}

impl Harness {
    /// A machine on [`STREAM`] naming its consumers `<prefix>_<serial>` and its inboxes
    /// `<inbox>.<serial>`.
    pub(crate) fn start(prefix: &str, inbox: &str, config: OrderedConfig) -> Harness {
        let now = Instant::now();
        let push = config.mode != OrderedMode::Pull;
        let m = OrderedConsumer::new(now, STREAM, prefix, inbox, config).unwrap();
        let mut h = Harness {
            m,
            now,
            actions: Vec::new(),
            pulls: Vec::new(),
            events: Vec::new(),
            asked: None,
            push,
        };
        h.drain();
        h
    }

    pub(crate) fn drain(&mut self) {
        while let Some(action) = self.m.poll_action() {
            if let OrderedAction::CreateConsumer(request) = &action {
                self.asked = Some((**request).clone());
            }
            self.actions.push(action);
        }
        self.pulls.extend(std::iter::from_fn(|| self.m.poll_pull()));
        assert!(
            !self.push || self.pulls.is_empty(),
            "push mode never pulls: {:?}",
            self.pulls
        );
        self.events
            .extend(std::iter::from_fn(|| self.m.poll_event()));
    }

    /// Forgets what was put out so far.
    pub(crate) fn take(&mut self) -> (Vec<OrderedAction>, Vec<OrderedPull>, Vec<OrderedEvent>) {
        (
            std::mem::take(&mut self.actions),
            std::mem::take(&mut self.pulls),
            std::mem::take(&mut self.events),
        )
    }

    /// The creation asked for last since `take` (panics if none).
    pub(crate) fn last_create(&self) -> CreateConsumerRequest {
        self.actions
            .iter()
            .rev()
            .find_map(|a| match a {
                OrderedAction::CreateConsumer(r) => Some((**r).clone()),
                _ => None,
            })
            .expect("a consumer creation was asked for")
    }

    pub(crate) fn creates(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| matches!(a, OrderedAction::CreateConsumer(_)))
            .count()
    }

    pub(crate) fn deletes(&self) -> Vec<String> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                OrderedAction::DeleteConsumer(n) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }

    /// The flow-control answers published.
    pub(crate) fn publishes(&self) -> Vec<String> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                OrderedAction::Publish(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    /// Answers the last creation with success; returns the consumer's name.
    pub(crate) fn create_ok(&mut self, delivered_sseq: u64) -> String {
        let name = self
            .asked
            .clone()
            .expect("a creation was asked for")
            .config
            .name;
        self.m
            .handle_consumer_created(self.now, Ok(consumer_info(&name, delivered_sseq)));
        self.drain();
        name
    }

    pub(crate) fn create_err(&mut self, error: CreateError) {
        self.m.handle_consumer_created(self.now, Err(error));
        self.drain();
    }

    pub(crate) fn feed(&mut self, message: &Message) -> OrderedReceived {
        let r = self.m.handle_message(self.now, message);
        self.drain();
        r
    }

    /// Feeds `messages`; returns the stream sequences delivered.
    pub(crate) fn feed_each(&mut self, messages: impl IntoIterator<Item = Message>) -> Vec<u64> {
        messages
            .into_iter()
            .filter_map(|message| match self.feed(&message) {
                OrderedReceived::Deliver { stream_sequence } => Some(stream_sequence),
                OrderedReceived::Dropped(_) => None,
            })
            .collect()
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        self.now += by;
        self.m.handle_timeout(self.now);
        self.drain();
    }

    pub(crate) fn resets(&self) -> Vec<ResetReason> {
        self.events
            .iter()
            .filter_map(|e| match e {
                OrderedEvent::Reset { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }
}

/// A simulation step: the client reads up to three messages off `wire`, 10 ms apart, and
/// records the stream sequences delivered in `received`.
pub(crate) fn read_some(
    m: &mut OrderedConsumer,
    rng: &mut Rng,
    now: &mut Instant,
    wire: &mut VecDeque<Message>,
    received: &mut Vec<u64>,
) {
    for _ in 0..rng.next_u64() % 4 {
        let Some(message) = wire.pop_front() else {
            break;
        };
        *now += Duration::from_millis(10);
        if let OrderedReceived::Deliver { stream_sequence } = m.handle_message(*now, &message) {
            received.push(stream_sequence);
        }
    }
}

/// A server restart in a seeded simulation: the messages in flight and every consumer are
/// lost, and the machine sees its link go down and come back.
pub(crate) fn restart_server<C>(
    m: &mut OrderedConsumer,
    now: Instant,
    wire: &mut VecDeque<Message>,
    server: &mut BTreeMap<String, C>,
) {
    m.handle_disconnected(now);
    wire.clear();
    server.clear();
    m.handle_reconnected(now);
}
