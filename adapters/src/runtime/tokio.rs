//! The tokio runtime.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use bytes::{BufMut, BytesMut};
use tokio::io::Interest;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Sleep;

use super::{AsyncStream, AsyncTimer, BoxFuture, DirectRead, DirectWrite, Runtime};

/// Runs the client on the current tokio runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioRuntime;

impl Runtime for TokioRuntime {
    fn connect(&self, host: &str, port: u16) -> BoxFuture<io::Result<Box<dyn AsyncStream>>> {
        let host = host.to_owned();
        Box::pin(async move {
            let stream = TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(Stream(Arc::new(stream))) as Box<dyn AsyncStream>)
        })
    }

    fn connect_from(
        &self,
        host: &str,
        port: u16,
        local: SocketAddr,
    ) -> BoxFuture<io::Result<Box<dyn AsyncStream>>> {
        let host = host.to_owned();
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((host.as_str(), port)).await?;
            let addrs = super::same_family(resolved, local, &host)?;
            let stream = super::first_connecting(addrs, |addr| async move {
                let socket = if addr.is_ipv4() {
                    TcpSocket::new_v4()?
                } else {
                    TcpSocket::new_v6()?
                };
                socket.bind(local)?;
                socket.connect(addr).await
            })
            .await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(Stream(Arc::new(stream))) as Box<dyn AsyncStream>)
        })
    }

    fn new_timer(&self, at: Instant) -> Pin<Box<dyn AsyncTimer>> {
        Box::pin(Timer(Box::pin(tokio::time::sleep_until(at.into()))))
    }

    fn spawn(&self, future: BoxFuture<()>) {
        tokio::spawn(future);
    }
}

/// `Sleep` is `!Unpin`; boxing it keeps the timer `Unpin`, so no unsafe projection is needed.
#[derive(Debug)]
struct Timer(Pin<Box<Sleep>>);

impl AsyncTimer for Timer {
    fn reset(self: Pin<&mut Self>, at: Instant) {
        self.get_mut().0.as_mut().reset(at.into());
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().0.as_mut().poll(cx)
    }
}

/// The socket, shared with its direct writer: reads and the driver's writes wait on its
/// readiness, a direct write only tries.
#[derive(Debug)]
struct Stream(Arc<TcpStream>);

/// The direct writer and reader of a [`Stream`].
#[derive(Debug)]
struct Direct(Arc<TcpStream>);

impl DirectWrite for Direct {
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }
}

impl DirectRead for Direct {
    fn poll_read_buf(
        &self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        max: usize,
    ) -> Poll<io::Result<usize>> {
        poll_read_buf(&self.0, cx, buf, max)
    }
}

/// Reads at most `max` bytes into `buf`'s spare room as it is (no zeroing) and counts in
/// what arrived. A read that took less than it could have drained the socket (where
/// readiness comes from epoll or kqueue): the readiness is cleared then, reported as
/// `WouldBlock` to `try_io`, which clears it unless an event came meanwhile, so the next
/// read waits for data instead of asking the kernel first and being told there is none (a
/// syscall per request saved). tokio's own `AsyncRead` does the same.
fn poll_read_buf(
    stream: &TcpStream,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
    max: usize,
) -> Poll<io::Result<usize>> {
    loop {
        ready!(stream.poll_read_ready(cx))?;
        let mut got = None;
        let read = stream.try_io(Interest::READABLE, || {
            let n = stream.try_read_buf(&mut (&mut *buf).limit(max))?;
            got = Some(n);
            if n > 0 && n < max && !cfg!(windows) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(n)
        });
        match (read, got) {
            (_, Some(n)) => return Poll::Ready(Ok(n)),
            (Err(e), None) if e.kind() == io::ErrorKind::WouldBlock => continue,
            (result, None) => return Poll::Ready(result),
        }
    }
}

impl AsyncStream for Stream {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result),
            }
        }
    }

    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        max: usize,
    ) -> Poll<io::Result<usize>> {
        poll_read_buf(&self.0, cx, buf, max)
    }

    fn direct_writer(&self) -> Option<Arc<dyn DirectWrite>> {
        Some(Arc::new(Direct(Arc::clone(&self.0))))
    }

    fn direct_reader(&self) -> Option<Arc<dyn DirectRead>> {
        Some(Arc::new(Direct(Arc::clone(&self.0))))
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write_vectored(bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result),
            }
        }
    }
}
