//! The virtual clock, the seeded generator and the byte pipes of the simulated network.
//!
//! Invariants:
//! - Virtual time only moves forward, and only when the world says so ([`Clock::advance_to`]).
//! - A [`Pipe`] is a TCP byte stream: segments come out in the order they went in, never
//!   earlier than their due time, and a stall holds back everything behind it. Chunking and
//!   latency change *when* and *in how many reads* bytes arrive, never which bytes or their order.
//! - Every random choice comes from one [`Rng`] seeded by the test, so a seed replays exactly.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub(crate) use nats_sansio::rng::Rng;

/// The virtual clock: one real `Instant` taken at start plus a virtual offset.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    base: Instant,
    elapsed: Duration,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock {
            base: Instant::now(),
            elapsed: Duration::ZERO,
        }
    }

    pub(crate) fn now(&self) -> Instant {
        self.base + self.elapsed
    }

    /// Virtual time since the start.
    pub(crate) fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The virtual offset of an instant taken from this clock.
    pub(crate) fn offset(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.base)
    }

    pub(crate) fn advance_to(&mut self, at: Duration) {
        assert!(at >= self.elapsed, "virtual time went backwards");
        self.elapsed = at;
    }
}

/// How a seed shapes the network: latency, jitter, read sizes and write sizes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NetProfile {
    pub(crate) latency: Duration,
    pub(crate) jitter: Duration,
    /// Largest read the receiver gets at once (1 = a byte at a time).
    pub(crate) max_read: usize,
    /// Largest write the driver makes per `poll_transmit` (short writes when small).
    pub(crate) max_write: usize,
}

impl NetProfile {
    pub(crate) fn random(rng: &mut Rng) -> NetProfile {
        let size = |rng: &mut Rng| match rng.below(5) {
            0 => 1,
            1 => rng.range(2, 16) as usize,
            2 => rng.range(17, 512) as usize,
            _ => usize::MAX,
        };
        NetProfile {
            latency: rng.duration(Duration::ZERO, Duration::from_millis(5)),
            jitter: rng.duration(Duration::ZERO, Duration::from_millis(2)),
            max_read: size(rng),
            max_write: size(rng),
        }
    }
}

/// What travels through a pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Data(Vec<u8>),
    /// The writer closed its end (FIN): the reader sees end-of-stream after the data before.
    Eof,
}

/// One direction of a connection.
#[derive(Debug, Default)]
pub(crate) struct Pipe {
    queue: VecDeque<(Duration, Segment)>,
    /// Nothing is delivered before this (a stall).
    stalled_until: Duration,
}

impl Pipe {
    /// Queues bytes written at `now`, cut into reads of at most `profile.max_read` bytes.
    pub(crate) fn write(
        &mut self,
        now: Duration,
        data: &[u8],
        profile: &NetProfile,
        rng: &mut Rng,
    ) {
        let mut rest = data;
        while !rest.is_empty() {
            let n = if profile.max_read >= rest.len() {
                rest.len()
            } else {
                rng.range(1, profile.max_read as u64) as usize
            };
            let due = self.next_due(now, profile, rng);
            self.queue
                .push_back((due, Segment::Data(rest[..n].to_vec())));
            rest = &rest[n..];
        }
    }

    /// Queues the end of the stream.
    pub(crate) fn close(&mut self, now: Duration, profile: &NetProfile, rng: &mut Rng) {
        let due = self.next_due(now, profile, rng);
        self.queue.push_back((due, Segment::Eof));
    }

    /// Due time of a new segment: after the latency, never before the segment ahead of it.
    fn next_due(&self, now: Duration, profile: &NetProfile, rng: &mut Rng) -> Duration {
        let jitter = rng.duration(Duration::ZERO, profile.jitter);
        let due = now + profile.latency + jitter;
        self.queue.back().map_or(due, |(last, _)| due.max(*last))
    }

    /// Holds back every delivery until `until`.
    pub(crate) fn stall(&mut self, until: Duration) {
        self.stalled_until = self.stalled_until.max(until);
    }

    /// When the next segment can be delivered.
    pub(crate) fn next_delivery(&self) -> Option<Duration> {
        self.queue
            .front()
            .map(|(due, _)| (*due).max(self.stalled_until))
    }

    /// The next segment due at `now`, if any.
    pub(crate) fn pop_due(&mut self, now: Duration) -> Option<Segment> {
        if self.next_delivery()? <= now {
            self.queue.pop_front().map(|(_, s)| s)
        } else {
            None
        }
    }
}
