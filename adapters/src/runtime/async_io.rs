//! smol and async-std, which share async-io's reactor and sockets and differ only in how they
//! spawn. Timers come from our own timer thread (`timer_thread`), not async-io's.

use std::io::{self, IoSlice, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use std::net::SocketAddr;

use async_io::Async;
use async_net::TcpStream;
use bytes::BytesMut;
use futures_lite::{AsyncRead, AsyncWrite};
use socket2::{Domain, Protocol, Socket, Type};

use super::{AsyncStream, AsyncTimer, BoxFuture, DirectRead, DirectWrite, Runtime};

fn connect(host: &str, port: u16) -> BoxFuture<io::Result<Box<dyn AsyncStream>>> {
    let host = host.to_owned();
    Box::pin(async move {
        let stream = TcpStream::connect((host.as_str(), port)).await?;
        stream.set_nodelay(true)?;
        Ok(Box::new(Stream(stream)) as Box<dyn AsyncStream>)
    })
}

/// Binds `local`, then connects (non-blocking, through async-io's reactor).
fn connect_from(
    host: &str,
    port: u16,
    local: SocketAddr,
) -> BoxFuture<io::Result<Box<dyn AsyncStream>>> {
    let host = host.to_owned();
    Box::pin(async move {
        let resolved = async_net::resolve((host.as_str(), port)).await?;
        let addrs = super::same_family(resolved, local, &host)?;
        let stream = super::first_connecting(addrs, |addr| async move {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
            socket.bind(&local.into())?;
            socket.set_nonblocking(true)?;
            match socket.connect(&addr.into()) {
                Ok(()) => {}
                // Under way: unix says EINPROGRESS, Windows WSAEWOULDBLOCK.
                #[cfg(unix)]
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            let stream = Async::new_nonblocking(std::net::TcpStream::from(socket))?;
            // Writable once connected; then the outcome is the socket's pending error.
            stream.writable().await?;
            match stream.get_ref().take_error()? {
                None => Ok(TcpStream::from(stream)),
                Some(e) => Err(e),
            }
        })
        .await?;
        stream.set_nodelay(true)?;
        Ok(Box::new(Stream(stream)) as Box<dyn AsyncStream>)
    })
}

/// Timers come from our timer thread, not async-io's reactor (see `timer_thread`).
fn new_timer(at: Instant) -> Pin<Box<dyn AsyncTimer>> {
    Box::pin(super::timer_thread::ThreadTimer::new(at))
}

/// Runs the client on smol's global executor.
#[cfg(feature = "smol")]
#[derive(Debug, Clone, Copy, Default)]
pub struct SmolRuntime;

#[cfg(feature = "smol")]
impl Runtime for SmolRuntime {
    fn connect(&self, host: &str, port: u16) -> BoxFuture<io::Result<Box<dyn AsyncStream>>> {
        connect(host, port)
    }

    fn connect_from(
        &self,
        host: &str,
        port: u16,
        local: SocketAddr,
    ) -> BoxFuture<io::Result<Box<dyn AsyncStream>>> {
        connect_from(host, port, local)
    }

    fn new_timer(&self, at: Instant) -> Pin<Box<dyn AsyncTimer>> {
        new_timer(at)
    }

    fn spawn(&self, future: BoxFuture<()>) {
        smol::spawn(future).detach();
    }
}

/// Runs the client on async-std's executor.
#[cfg(feature = "async-std")]
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStdRuntime;

#[cfg(feature = "async-std")]
impl Runtime for AsyncStdRuntime {
    fn connect(&self, host: &str, port: u16) -> BoxFuture<io::Result<Box<dyn AsyncStream>>> {
        connect(host, port)
    }

    fn connect_from(
        &self,
        host: &str,
        port: u16,
        local: SocketAddr,
    ) -> BoxFuture<io::Result<Box<dyn AsyncStream>>> {
        connect_from(host, port, local)
    }

    fn new_timer(&self, at: Instant) -> Pin<Box<dyn AsyncTimer>> {
        new_timer(at)
    }

    fn spawn(&self, future: BoxFuture<()>) {
        async_std::task::spawn(future);
    }
}

#[derive(Debug)]
struct Stream(TcpStream);

/// The direct writer and reader of a [`Stream`]: its socket, written without the reactor (a
/// non-blocking write that takes what it can), read through it.
#[derive(Debug)]
struct Direct(Arc<Async<std::net::TcpStream>>);

impl DirectWrite for Direct {
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&mut self.0.get_ref()).write_vectored(bufs)
    }
}

impl DirectRead for Direct {
    fn poll_read_buf(
        &self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        max: usize,
    ) -> Poll<io::Result<usize>> {
        // async-io reads into initialized memory.
        super::read_zeroed(buf, max, |room| Pin::new(&mut &*self.0).poll_read(cx, room))
    }
}

impl AsyncStream for Stream {
    fn direct_writer(&self) -> Option<Arc<dyn DirectWrite>> {
        Some(Arc::new(Direct(self.0.clone().into())))
    }

    fn direct_reader(&self) -> Option<Arc<dyn DirectRead>> {
        Some(Arc::new(Direct(self.0.clone().into())))
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
}
