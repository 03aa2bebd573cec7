//! The fixed, named timer table every machine keeps its own timers in.
//!
//! Invariant: a table holds at most one deadline per name, so a machine's `poll_timeout` is
//! the minimum over its table (and, for the connection, its deadline queue) and nothing else.
//! Firing is explicit: a timer due at `now` is stopped as it is taken, so it fires once.

use std::marker::PhantomData;
use std::time::Instant;

/// A machine's set of timer names: a fieldless enum listed in table order.
pub(crate) trait TimerName: Copy + 'static {
    /// Every name, in table order (the table's length).
    const ALL: &'static [Self];

    /// The name's slot in the table.
    fn index(self) -> usize;
}

/// One optional deadline per name of `T`; `N` is `T::ALL.len()`.
#[derive(Debug, Clone)]
pub(crate) struct TimerTable<T, const N: usize> {
    data: [Option<Instant>; N],
    names: PhantomData<T>,
}

impl<T: TimerName, const N: usize> Default for TimerTable<T, N> {
    fn default() -> Self {
        debug_assert_eq!(T::ALL.len(), N, "a table has one slot per timer name");
        TimerTable {
            data: [None; N],
            names: PhantomData,
        }
    }
}

impl<T: TimerName, const N: usize> TimerTable<T, N> {
    /// Arms `timer` for `at`, replacing any earlier deadline of it.
    pub(crate) fn set(&mut self, timer: T, at: Instant) {
        self.data[timer.index()] = Some(at);
    }

    /// Disarms `timer`.
    pub(crate) fn stop(&mut self, timer: T) {
        self.data[timer.index()] = None;
    }

    /// Disarms every timer.
    pub(crate) fn stop_all(&mut self) {
        self.data = [None; N];
    }

    /// True, and the timer is stopped, when it was set to fire at or before `now`.
    pub(crate) fn take_expired(&mut self, timer: T, now: Instant) -> bool {
        match self.data[timer.index()] {
            Some(at) if at <= now => {
                self.data[timer.index()] = None;
                true
            }
            _ => false,
        }
    }

    /// The earliest armed deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.data.iter().flatten().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Name {
        A,
        B,
        C,
    }

    impl TimerName for Name {
        const ALL: &'static [Name] = &[Name::A, Name::B, Name::C];
        fn index(self) -> usize {
            self as usize
        }
    }

    #[test]
    fn fires_once() {
        let t0 = crate::test_clock::base();
        let mut table = TimerTable::<Name, 3>::default();
        assert_eq!(table.next(), None);
        table.set(Name::C, t0 + Duration::from_secs(1));
        table.set(Name::A, t0 + Duration::from_secs(2));
        table.set(Name::B, t0 + Duration::from_secs(9));
        assert_eq!(table.next(), Some(t0 + Duration::from_secs(1)));
        let later = t0 + Duration::from_secs(5);
        let due: Vec<_> = Name::ALL
            .iter()
            .filter(|&&n| table.take_expired(n, later))
            .collect();
        assert_eq!(due, [&Name::A, &Name::C]);
        assert!(!table.take_expired(Name::A, later), "a timer fires once");
        assert_eq!(table.next(), Some(t0 + Duration::from_secs(9)));
        assert!(!table.take_expired(Name::B, t0));
        table.stop_all();
        assert_eq!(table.next(), None);
    }
}
