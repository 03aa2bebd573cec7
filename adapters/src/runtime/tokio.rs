//! The tokio runtime.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Sleep;

use super::{AsyncStream, AsyncTimer, BoxFuture, Runtime};

/// Runs the client on the current tokio runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioRuntime;

impl Runtime for TokioRuntime {
    fn connect(&self, host: &str, port: u16) -> BoxFuture<io::Result<Box<dyn AsyncStream>>> {
        let host = host.to_owned();
        Box::pin(async move {
            let stream = TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(Stream(stream)) as Box<dyn AsyncStream>)
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
            Ok(Box::new(Stream(stream)) as Box<dyn AsyncStream>)
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

#[derive(Debug)]
struct Stream(TcpStream);

impl AsyncStream for Stream {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(buf);
        match Pin::new(&mut self.0).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        max: usize,
    ) -> Poll<io::Result<usize>> {
        // tokio reads into the buffer's spare room as it is (no zeroing) and counts in what
        // arrived; one poll of its read is one read of the socket.
        let mut room = buf.limit(max);
        let read = self.0.read_buf(&mut room);
        std::pin::pin!(read).poll(cx)
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
}
