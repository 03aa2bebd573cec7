//! The pull machine's timers: a fixed, named table.
//!
//! Invariant: every deadline the machine waits on is in [`Timers`], so `poll_timeout` is its
//! minimum and nothing else.

use crate::timer::TimerName;

/// The machine's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// Nothing arrived for twice the idle heartbeat by then.
    HeartbeatAlarm,
    /// A fetch gives up by then if the server never ended its pull.
    FetchDeadline,
}

impl TimerName for Timer {
    const ALL: &'static [Timer] = &[Timer::HeartbeatAlarm, Timer::FetchDeadline];

    fn index(self) -> usize {
        self as usize
    }
}

/// One optional deadline per [`Timer`].
pub(super) type Timers = crate::timer::TimerTable<Timer, 2>;
