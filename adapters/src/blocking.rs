//! A blocking driver of the [`Connection`] machine over `std::net`, in one thread.
//!
//! Invariant: this file holds no protocol logic. It only follows the machine's run loop:
//! carry out directives, write what `poll_transmit` holds, read what the socket has into the
//! machine, fire `handle_timeout` when `poll_timeout` passes, and keep the events it sees in
//! arrival order for the caller. Connection events are logged (feature `tracing`) as they
//! come out of the machine, whether or not the caller ever takes them.
//!
//! Invariant: the event queue stays bounded for a caller that only reads messages. A
//! [`Event::MessagesReady`] is kept at most once per subscription, and is dropped once
//! [`next_message`](BlockingConnection::next_message) finds that subscription's queue empty
//! (the notice is then stale). A connect attempt tries every address the host resolves to,
//! in order, all within the options' `connect_timeout`.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use nats_sansio::connection::{
    ConnectionError, Delivery, Directive, Event, FlushError, Options, RequestError, Sid,
};
use nats_sansio::proto::{HeaderMap, Message};
use nats_sansio::{Connection, ConnectionEvent};

/// The longest a single read waits, so timers are checked at least this often.
const MAX_READ_WAIT: Duration = Duration::from_millis(50);

/// A connection driven by the calling thread: every method that waits runs the machine's
/// loop until its condition holds or its timeout passes.
#[derive(Debug)]
pub struct BlockingConnection {
    conn: Connection,
    socket: Option<TcpStream>,
    events: VecDeque<Event>,
    scratch: Vec<u8>,
    /// The options' `connect_timeout`: the budget of the TCP connect, every address included.
    connect_timeout: Duration,
}

impl BlockingConnection {
    /// Connects and waits for the handshake to complete (or the connection to close).
    pub fn connect(mut options: Options) -> Result<BlockingConnection, ConnectionError> {
        crate::entropy::fill_seed(&mut options);
        let connect_timeout = options.connect_timeout;
        let timeout = connect_timeout * 2 + Duration::from_secs(1);
        let conn = Connection::new(options, Instant::now())
            .map_err(|e| ConnectionError::Io(e.to_string()))?;
        let mut this = BlockingConnection {
            conn,
            socket: None,
            events: VecDeque::new(),
            scratch: vec![0; 64 * 1024],
            connect_timeout,
        };
        let outcome = this.wait_event(timeout, |e| match e {
            Event::Connection(ConnectionEvent::Connected { .. }) => Some(Ok(())),
            Event::Connection(ConnectionEvent::Closed { reason, .. }) => {
                Some(Err(reason.clone().unwrap_or(ConnectionError::Closed)))
            }
            _ => None,
        });
        match outcome {
            Some(Ok(())) => Ok(this),
            Some(Err(e)) => Err(e),
            None => Err(ConnectionError::ConnectTimeout),
        }
    }

    /// The machine, for commands and getters. Run [`turn`](Self::turn) (or any waiting
    /// method) afterwards so its output reaches the socket.
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Runs one turn of the loop, waiting at most `max_wait` for the socket.
    pub fn turn(&mut self, max_wait: Duration) {
        self.drain_outputs();
        let now = Instant::now();
        let until_timer = self
            .conn
            .poll_timeout()
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or(max_wait);
        let wait = max_wait.min(until_timer).min(MAX_READ_WAIT);
        self.read(wait);
        self.conn.handle_timeout(Instant::now());
        self.drain_outputs();
    }

    /// Removes and returns the first queued event `pick` accepts, running the loop until one
    /// arrives or `timeout` passes. Other events stay queued, in order.
    pub fn wait_event<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&Event) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            self.drain_outputs();
            if let Some((i, value)) = self
                .events
                .iter()
                .enumerate()
                .find_map(|(i, e)| pick(e).map(|v| (i, v)))
            {
                self.events.remove(i);
                return Some(value);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            self.turn(deadline - now);
        }
    }

    /// Every event seen so far and not yet taken.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.drain_outputs();
        self.events.drain(..).collect()
    }

    /// How many events are queued, seen and not yet taken. It stays small for a caller that
    /// only reads messages: see the module's invariant.
    pub fn queued_events(&self) -> usize {
        self.events.len()
    }

    /// Publishes and runs one turn so the bytes leave.
    pub fn publish(
        &mut self,
        subject: &str,
        payload: impl Into<Bytes>,
    ) -> Result<(), nats_sansio::connection::PublishError> {
        self.conn.publish(subject, None, None, payload.into())?;
        self.drain_outputs();
        Ok(())
    }

    /// Subscribes; messages come from [`next_message`](Self::next_message).
    pub fn subscribe(
        &mut self,
        subject: &str,
        queue_group: Option<&str>,
    ) -> Result<Sid, nats_sansio::connection::SubscribeError> {
        let sid = self.conn.subscribe(subject, queue_group)?;
        self.drain_outputs();
        Ok(sid)
    }

    /// The next message of a subscription, waiting up to `timeout`; `None` on timeout or
    /// when the subscription ended.
    pub fn next_message(&mut self, sid: Sid, timeout: Duration) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.conn.next_message(sid) {
                Delivery::Message(m) => return Some(m),
                Delivery::Ended => {
                    self.forget_ready(sid);
                    return None;
                }
                _ => self.forget_ready(sid),
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            self.turn(deadline - now);
        }
    }

    /// Sends a request and waits for its reply.
    pub fn request(
        &mut self,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Message, RequestError> {
        let id = self.conn.request(
            Instant::now(),
            subject,
            headers,
            payload.into(),
            Some(timeout),
        )?;
        self.wait_event(timeout + Duration::from_secs(1), |e| match e {
            Event::Response { id: got, result } if *got == id => Some(result.clone()),
            _ => None,
        })
        .unwrap_or(Err(RequestError::TimedOut))
    }

    /// A PING/PONG round trip: everything sent before it reached the server.
    pub fn flush(&mut self, timeout: Duration) -> Result<(), FlushError> {
        let id = self.conn.flush(Instant::now(), Some(timeout))?;
        self.wait_event(timeout + Duration::from_secs(1), |e| match e {
            Event::Flushed { id: got, result } if *got == id => Some(result.clone()),
            _ => None,
        })
        .unwrap_or(Err(FlushError::TimedOut))
    }

    /// Closes the connection.
    pub fn close(&mut self) {
        self.conn.close(Instant::now());
        self.drain_outputs();
    }

    /// Carries out directives, writes pending bytes and collects events.
    fn drain_outputs(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(directive) = self.conn.poll_directive() {
                progressed = true;
                self.on_directive(directive);
            }
            if let Err(e) = self.write_all() {
                progressed = true;
                self.socket = None;
                self.conn
                    .handle_disconnected(Instant::now(), &e.to_string());
            }
            while let Some(event) = self.conn.poll_event() {
                progressed = true;
                if let Event::Connection(event) = &event {
                    crate::log::connection_event(event);
                }
                if let Event::MessagesReady { sid } = event {
                    if self.events.iter().any(|e| is_ready(e, sid)) {
                        continue;
                    }
                }
                self.events.push_back(event);
            }
            if !progressed {
                return;
            }
        }
    }

    /// Drops the queued [`Event::MessagesReady`] of `sid`: its queue was found empty, so
    /// the notice is stale (the machine raises a new one when messages arrive).
    fn forget_ready(&mut self, sid: Sid) {
        if let Some(i) = self.events.iter().position(|e| is_ready(e, sid)) {
            self.events.remove(i);
        }
    }

    fn on_directive(&mut self, directive: Directive) {
        match directive {
            Directive::Connect { server } => {
                let connected = (server.host(), server.port())
                    .to_socket_addrs()
                    .and_then(|addrs| connect_any(addrs, self.connect_timeout));
                match connected {
                    Ok(socket) => {
                        let _ = socket.set_nodelay(true);
                        self.socket = Some(socket);
                        self.conn.handle_connected(Instant::now());
                    }
                    Err(e) => self
                        .conn
                        .handle_connect_failed(Instant::now(), &e.to_string()),
                }
            }
            Directive::Close => {
                // The last publishes before a close; what the socket refuses is counted by
                // the machine in `ConnectionEvent::Closed`.
                if let Err(e) = self.write_all() {
                    self.conn
                        .handle_disconnected(Instant::now(), &e.to_string());
                }
                self.socket = None;
            }
            // Deferred credentials come from an async callback, which only the async
            // client runs; here the connect fails with this reason.
            Directive::Authenticate { request, .. } => self.conn.handle_credentials(
                Instant::now(),
                request,
                Err("deferred credentials need the async client (use Auth::Callback here)".into()),
            ),
        }
    }

    fn write_all(&mut self) -> io::Result<()> {
        let Some(socket) = self.socket.as_mut() else {
            return Ok(());
        };
        socket.set_write_timeout(Some(Duration::from_secs(10)))?;
        while let Some(buf) = self.conn.poll_transmit() {
            let mut slices = [IoSlice::new(&[]); 64];
            let n = buf.chunks_vectored(&mut slices);
            let written = socket.write_vectored(&slices[..n])?;
            if written == 0 {
                return Err(io::Error::new(ErrorKind::WriteZero, "socket closed"));
            }
            buf.advance(written);
        }
        Ok(())
    }

    fn read(&mut self, wait: Duration) {
        let Some(socket) = self.socket.as_mut() else {
            if !wait.is_zero() {
                std::thread::sleep(wait.min(Duration::from_millis(5)));
            }
            return;
        };
        let _ = socket.set_read_timeout(Some(wait.max(Duration::from_millis(1))));
        match socket.read(&mut self.scratch) {
            Ok(0) => {
                self.socket = None;
                self.conn
                    .handle_disconnected(Instant::now(), "connection closed by server");
            }
            Ok(n) => self
                .conn
                .handle_received(Instant::now(), &self.scratch[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                self.socket = None;
                self.conn
                    .handle_disconnected(Instant::now(), &e.to_string());
            }
        }
    }
}

fn is_ready(event: &Event, sid: Sid) -> bool {
    matches!(event, Event::MessagesReady { sid: s } if *s == sid)
}

/// Connects to the first of `addrs` that accepts, trying them in order, all within
/// `timeout`. The error is the last address's (or `TimedOut` when the budget ran out
/// before an address could be tried).
fn connect_any(
    addrs: impl IntoIterator<Item = SocketAddr>,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let deadline = Instant::now() + timeout;
    let mut last = io::Error::new(ErrorKind::NotFound, "no address for host");
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                ErrorKind::TimedOut,
                format!("connect timed out before trying {addr}"),
            ));
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(socket) => return Ok(socket),
            Err(e) => last = io::Error::new(e.kind(), format!("{addr}: {e}")),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, TcpListener};

    use super::*;

    /// A local port with nothing listening on it.
    fn closed_port() -> SocketAddr {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        addr
    }

    #[test]
    fn connect_any_skips_addresses_that_refuse() {
        let live = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let live_addr = live.local_addr().unwrap();
        let socket = connect_any([closed_port(), live_addr], Duration::from_secs(5))
            .expect("the second address accepts");
        assert_eq!(socket.peer_addr().unwrap(), live_addr);
        let (accepted, _) = live.accept().unwrap();
        assert_eq!(accepted.peer_addr().unwrap(), socket.local_addr().unwrap());
    }

    #[test]
    fn connect_any_reports_the_last_failure() {
        let closed = closed_port();
        let e = connect_any([closed_port(), closed], Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        assert!(e.to_string().starts_with(&closed.to_string()), "{e}");
        let e = connect_any([], Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }
}
