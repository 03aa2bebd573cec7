//! The base instant of the crate's unit tests.
//!
//! Invariant: this is the only place in `src/` that reads the clock, and it is compiled for
//! tests only. The machines never read it: a test takes one base instant here and hands the
//! machine that plus durations, so virtual time drives every timer.

use std::time::Instant;

/// A base instant for a test.
pub(crate) fn base() -> Instant {
    Instant::now()
}
