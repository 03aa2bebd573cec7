//! The pull machine's timers: a fixed, named table.
//!
//! Invariant: every deadline the machine waits on is in [`Timers`], so `poll_timeout` is its
//! minimum and nothing else.

use std::time::Instant;

/// The machine's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// Nothing arrived for twice the idle heartbeat by then.
    HeartbeatAlarm,
    /// A fetch gives up by then if the server never ended its pull.
    FetchDeadline,
}

impl Timer {
    pub(super) const VALUES: [Timer; 2] = [Timer::HeartbeatAlarm, Timer::FetchDeadline];
}

/// One optional deadline per [`Timer`].
#[derive(Debug, Default, Clone)]
pub(super) struct Timers {
    data: [Option<Instant>; 2],
}

impl Timers {
    pub(super) fn set(&mut self, timer: Timer, at: Instant) {
        self.data[timer as usize] = Some(at);
    }

    pub(super) fn stop(&mut self, timer: Timer) {
        self.data[timer as usize] = None;
    }

    pub(super) fn stop_all(&mut self) {
        self.data = [None; 2];
    }

    /// True, and the timer is stopped, when it was set to fire at or before `now`.
    pub(super) fn take_expired(&mut self, timer: Timer, now: Instant) -> bool {
        match self.data[timer as usize] {
            Some(at) if at <= now => {
                self.data[timer as usize] = None;
                true
            }
            _ => false,
        }
    }

    pub(super) fn next(&self) -> Option<Instant> {
        self.data.iter().flatten().min().copied()
    }
}
