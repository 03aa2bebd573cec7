//! The runtime trait: everything the driver needs from an async runtime, and nothing else.
//!
//! Invariant: the trait is object safe, so the client's types carry no runtime generics, and
//! each runtime's implementation is a small file of glue with no protocol logic.

use std::fmt::Debug;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

#[cfg(any(feature = "smol", feature = "async-std"))]
pub(crate) mod async_io;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// An async runtime: TCP connects, timers, spawning and the clock.
pub trait Runtime: Send + Sync + Debug + 'static {
    /// Opens a TCP connection (resolving `host`).
    fn connect(&self, host: &str, port: u16) -> BoxFuture<io::Result<Box<dyn AsyncStream>>>;
    /// A timer that fires at `at`.
    fn new_timer(&self, at: Instant) -> Pin<Box<dyn AsyncTimer>>;
    /// Runs a future in the background.
    fn spawn(&self, future: BoxFuture<()>);
    /// The current time; the only clock the client reads.
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A resettable timer.
pub trait AsyncTimer: Send + Debug + 'static {
    /// Moves the deadline.
    fn reset(self: Pin<&mut Self>, at: Instant);
    /// Ready once the deadline has passed.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;
}

/// A byte stream (a TCP socket).
pub trait AsyncStream: Send + Debug + 'static {
    /// Reads into `buf`; `Ok(0)` is the end of the stream.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    /// Writes from the slices, returning how many bytes were taken.
    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>>;
}
