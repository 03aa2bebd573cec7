//! A counting global allocator: every `alloc`, `alloc_zeroed` and `realloc` in the process
//! (all threads) bumps one counter, so a window of a benchmark can be divided by its
//! operations to give heap allocations per operation.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// The system allocator with a counter in front.
pub(crate) struct Counting;

// SAFETY: every method forwards to `System` with the same arguments; the counter has no
// effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations so far, process-wide.
pub(crate) fn count() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Counts the allocations made from now until [`Window::per`] is called.
pub(crate) struct Window(u64);

impl Window {
    pub(crate) fn start() -> Window {
        Window(count())
    }

    /// Allocations since the start, divided by `ops`.
    pub(crate) fn per(&self, ops: u64) -> f64 {
        (count() - self.0) as f64 / ops.max(1) as f64
    }
}
