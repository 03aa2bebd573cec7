//! The runtime trait: everything the driver needs from an async runtime, and nothing else.
//!
//! Invariant: the trait is object safe, so the client's types carry no runtime generics, and
//! each runtime's implementation is a small file of glue with no protocol logic.

use std::fmt::Debug;
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::BytesMut;

#[cfg(any(feature = "smol", feature = "async-std"))]
pub(crate) mod async_io;
#[cfg(any(feature = "smol", feature = "async-std"))]
mod timer_thread;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// An async runtime: TCP connects, timers, spawning and the clock.
pub trait Runtime: Send + Sync + Debug + 'static {
    /// Opens a TCP connection (resolving `host`).
    fn connect(&self, host: &str, port: u16) -> BoxFuture<io::Result<Box<dyn AsyncStream>>>;
    /// Opens a TCP connection from the local address `local` (a source IP, port 0 for any),
    /// trying the addresses of `host` of the same family. Runtimes that cannot bind before
    /// connecting keep this default, which fails with `Unsupported`.
    fn connect_from(
        &self,
        host: &str,
        port: u16,
        local: SocketAddr,
    ) -> BoxFuture<io::Result<Box<dyn AsyncStream>>> {
        let _ = (host, port, local);
        Box::pin(async {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this runtime cannot bind a local address",
            ))
        })
    }
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

/// A socket's write side that any task may use beside the driver: one attempt that never
/// waits. Whoever writes holds the client's one write turn, so bytes stay in order.
pub trait DirectWrite: Send + Sync + Debug {
    /// Writes what the socket takes at once: how many bytes, `WouldBlock` for none.
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
}

/// A socket's read side that any task may poll beside the driver: the client lets one read
/// be under way at a time (the one holding the machine's lent receive buffer), and every
/// read is polled with the same waker, which passes the wake-up on to whoever reads next.
pub trait DirectRead: Send + Sync + Debug {
    /// Reads at most `max` bytes and appends them to `buf` (which has room for them), as
    /// [`AsyncStream::poll_read_buf`] does.
    fn poll_read_buf(
        &self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        max: usize,
    ) -> Poll<io::Result<usize>>;
}

/// A byte stream (a TCP socket).
pub trait AsyncStream: Send + Debug + 'static {
    /// Reads into `buf`; `Ok(0)` is the end of the stream.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;

    /// Reads at most `max` bytes and appends them to `buf` (which has room for them),
    /// returning how many. The provided method zeroes the room first and reads into it with
    /// [`poll_read`](Self::poll_read); a stream that can read into memory not yet written
    /// overrides it and saves that pass over every byte received.
    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        max: usize,
    ) -> Poll<io::Result<usize>> {
        read_zeroed(buf, max, |room| self.poll_read(cx, room))
    }

    /// A handle that writes to this socket from another task without waiting
    /// ([`DirectWrite`]), if the stream has one: a task waiting on a request then writes it
    /// itself instead of waking the driver. The provided method has none.
    fn direct_writer(&self) -> Option<Arc<dyn DirectWrite>> {
        None
    }

    /// A handle that reads this socket from another task ([`DirectRead`]), if the stream
    /// has one: a task waiting for a reply then reads it itself instead of being woken by
    /// the driver. With one, the driver reads through it too; the provided method has none.
    fn direct_reader(&self) -> Option<Arc<dyn DirectRead>> {
        None
    }
    /// Writes from the slices, returning how many bytes were taken.
    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>>;
}

/// Appends up to `max` bytes to `buf` with `read`, which reads into initialized memory: the
/// room is zeroed first, and what the read did not fill is cut off again.
pub(crate) fn read_zeroed(
    buf: &mut BytesMut,
    max: usize,
    read: impl FnOnce(&mut [u8]) -> Poll<io::Result<usize>>,
) -> Poll<io::Result<usize>> {
    let start = buf.len();
    buf.resize(start + max, 0);
    let polled = read(&mut buf[start..]);
    let got = match polled {
        Poll::Ready(Ok(n)) => n,
        _ => 0,
    };
    buf.truncate(start + got);
    polled
}

/// The addresses in `resolved` of `local`'s family, or an error naming the host when none is.
pub(crate) fn same_family(
    resolved: impl IntoIterator<Item = SocketAddr>,
    local: SocketAddr,
    host: &str,
) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(|a| a.is_ipv4() == local.is_ipv4())
        .collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("{host} has no address of the local address {local}'s family"),
        ));
    }
    Ok(addrs)
}

/// Tries `connect` on each address in turn; the last error if none connects.
pub(crate) async fn first_connecting<T, F, Fut>(addrs: Vec<SocketAddr>, connect: F) -> io::Result<T>
where
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let mut last = None;
    for addr in addrs {
        match connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::AddrNotAvailable, "no address")))
}

/// A runtime timer kept armed for a machine's next deadline (its `poll_timeout`).
pub(crate) struct DeadlineTimer {
    timer: Pin<Box<dyn AsyncTimer>>,
    armed_for: Option<Instant>,
}

impl DeadlineTimer {
    pub(crate) fn new(runtime: &dyn Runtime) -> DeadlineTimer {
        DeadlineTimer {
            timer: runtime.new_timer(runtime.now()),
            armed_for: None,
        }
    }

    /// `Ready` when `deadline` has passed at `now` or the timer fired: the caller then calls
    /// its machine's `handle_timeout` (harmless when nothing is due yet) and polls again.
    /// Otherwise returns `Pending` with the timer armed no later than `deadline`.
    ///
    /// The timer is moved only to an earlier deadline. A later one (a request answered, a
    /// deadline pushed back) keeps the armed timer, which then fires early once and is armed
    /// afresh: a request whose deadline comes and goes before the armed one costs no timer
    /// operation, where resetting for each would cost two per request (and allocations on
    /// runtimes whose timers are a shared tree).
    pub(crate) fn poll(
        &mut self,
        cx: &mut Context<'_>,
        deadline: Option<Instant>,
        now: Instant,
    ) -> Poll<()> {
        let Some(at) = deadline else {
            // Nothing to wait for: an armed timer may fire, harmlessly, once.
            return Poll::Pending;
        };
        if at <= now {
            return Poll::Ready(());
        }
        let keep = self
            .armed_for
            .is_some_and(|armed| armed > now && armed <= at);
        if !keep {
            self.timer.as_mut().reset(at);
            self.armed_for = Some(at);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.armed_for = None;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Debug for DeadlineTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadlineTimer")
            .field("armed_for", &self.armed_for)
            .finish()
    }
}
