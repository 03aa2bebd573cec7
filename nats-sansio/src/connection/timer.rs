//! The connection's timers: a fixed, named table for its own timers and one ordered queue for
//! the many per-request and per-flush deadlines.
//!
//! Invariant: every deadline the machine waits on is either in [`TimerTable`] or in
//! [`DeadlineQueue`], so `poll_timeout` is the minimum of the two and nothing else. Entries in
//! the queue are removed lazily: a fired entry whose request or flush is already gone is
//! ignored, and finished entries at the front are dropped as their work ends, so the
//! earliest deadline is (almost always) one still waited on: no wake-up for work long done.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::timer::TimerName;

/// The connection's own timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Time to send the next keep-alive PING.
    PingInterval,
    /// The whole connect (TCP, TLS, INFO, CONNECT, PONG) must finish by then.
    ConnectTimeout,
    /// Back-off before the next reconnect attempt.
    ReconnectBackoff,
    /// A client drain that has not finished by then closes anyway.
    DrainTimeout,
    /// Publishes queued at a close that the transport has not taken by then are discarded
    /// (and counted).
    CloseLinger,
}

impl TimerName for Timer {
    const ALL: &'static [Timer] = &[
        Timer::PingInterval,
        Timer::ConnectTimeout,
        Timer::ReconnectBackoff,
        Timer::DrainTimeout,
        Timer::CloseLinger,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// One optional deadline per [`Timer`].
pub(crate) type TimerTable = crate::timer::TimerTable<Timer, 5>;

/// What a queued deadline belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Deadline {
    /// A request's timeout.
    Request(u64),
    /// A flush's timeout.
    Flush(u64),
}

/// Deadlines ordered by time (a min-heap with lazy removal).
#[derive(Debug, Default)]
pub(crate) struct DeadlineQueue {
    heap: BinaryHeap<Reverse<(Instant, Deadline)>>,
}

impl DeadlineQueue {
    pub(crate) fn push(&mut self, at: Instant, what: Deadline) {
        self.heap.push(Reverse((at, what)));
    }

    /// The earliest deadline, which may belong to something already finished.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Pops one deadline due at or before `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Deadline> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse((_, d))| d),
            _ => None,
        }
    }

    /// Pops finished entries (for which `live` says false) off the front, so the earliest
    /// deadline is one still waited on.
    pub(crate) fn drop_finished_front(&mut self, mut live: impl FnMut(&Deadline) -> bool) {
        while let Some(Reverse((_, d))) = self.heap.peek() {
            if live(d) {
                return;
            }
            self.heap.pop();
        }
    }

    /// Drops entries for which `live` says false, so the heap does not grow with finished work.
    pub(crate) fn retain(&mut self, mut live: impl FnMut(&Deadline) -> bool) {
        self.heap.retain(|Reverse((_, d))| live(d));
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}
