//! The one driver future: the only place where IO meets the machine, on every runtime.
//!
//! Invariant: each pass reads without the lock, into the receive buffer the machine lent
//! for the current socket (so read bytes are never copied into the codec's buffer) unless a
//! task waiting for its reply is reading with it ([`crate::reading`]), then under the lock
//! hands it back with what it read, carries out directives, fires due timers, takes what
//! `poll_transmit` holds (owned chunks, in order, a bounded amount), dispatches every event
//! and lends the buffer again, then writes what it took without the lock, so tasks queue
//! their next commands while a write is in the kernel.
//! What was taken is written before anything taken later, and dropped with its socket; the
//! driver takes only while no task holds the write turn (a request with nothing else in
//! flight is written by its own task, [`Shared::command_and_write`]), and what a task could
//! not write comes first. Once
//! the connection is closed, writes happen under the lock, so the close is reported only
//! after the last byte. The driver sleeps only when a pass made no progress, after
//! registering its waker with the socket, the timer and the shared state.

use std::collections::VecDeque;
use std::future::Future;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use nats_sansio::auth::AuthResponse;
use nats_sansio::connection::{Directive, LentRecvBuf};

use crate::auth::{Auth, AuthError, Callback};
use crate::ConnectOptions;

use crate::reading::{ReadSize, ReadTurn};
use crate::runtime::{AsyncStream, BoxFuture, DeadlineTimer, DirectRead};
use crate::shared::{Shared, State, Writer};

/// Passes per poll before yielding to the executor.
const BUDGET: usize = 32;
/// The largest read buffer unless the options say otherwise.
pub(crate) const DEFAULT_READ_BUFFER_CAPACITY: usize = 64 * 1024;
/// Slices per vectored write.
pub(crate) const MAX_SLICES: usize = 64;
/// The most bytes the driver takes from the machine to write without the lock.
pub(crate) const TAKE_LIMIT: usize = 256 * 1024;

/// Drives one connection until it is closed.
pub(crate) struct Driver {
    shared: Arc<Shared>,
    stream: Option<Box<dyn AsyncStream>>,
    /// The socket's shared read side, if its stream has one (tasks may read then too).
    reader: Option<Arc<dyn DirectRead>>,
    /// Who the socket's readiness wakes; the driver when no task holds the turn.
    turn: Arc<ReadTurn>,
    connecting: Option<BoxFuture<std::io::Result<Box<dyn AsyncStream>>>>,
    timer: DeadlineTimer,
    /// Publishers wait for room below this many queued bytes.
    max_pending: usize,
    /// Sockets are bound to this address before connecting, if set.
    local_address: Option<SocketAddr>,
    /// Closed by the application: the socket is kept only to write the last publishes.
    lingering: bool,
    /// Computes credentials when the machine asks ([`Directive::Authenticate`]).
    auth: Option<Callback>,
    /// Bytes taken from the machine and not yet written, in order, and how many.
    taken: VecDeque<Bytes>,
    taken_len: usize,
    /// The credentials being computed, and the machine's name for the request.
    authenticating: Option<(u64, BoxFuture<Result<Auth, AuthError>>)>,
}

/// What a read without the lock found.
enum Read {
    /// No read: no socket, or a task is reading.
    None,
    /// Nothing to read: the buffer goes back.
    Nothing(LentRecvBuf),
    /// `got` of the `want` bytes asked for arrived in the buffer.
    Bytes {
        lent: LentRecvBuf,
        want: usize,
        got: usize,
    },
    Closed(String),
}

impl Driver {
    pub(crate) fn new(shared: Arc<Shared>, options: &ConnectOptions) -> Driver {
        let timer = DeadlineTimer::new(shared.runtime.as_ref());
        let turn = {
            let mut state = shared.lock();
            state.reading.size = ReadSize::new(options.read_buffer_capacity);
            Arc::clone(&state.turn)
        };
        Driver {
            shared,
            stream: None,
            reader: None,
            turn,
            connecting: None,
            timer,
            max_pending: options.max_pending_bytes,
            local_address: options.local_address,
            lingering: false,
            auth: options.auth_callback.clone(),
            taken: VecDeque::with_capacity(MAX_SLICES),
            taken_len: 0,
            authenticating: None,
        }
    }

    /// Polls the credentials being computed, without the lock.
    fn poll_auth(&mut self, cx: &mut Context<'_>) -> Option<(u64, Result<AuthResponse, String>)> {
        let (request, computing) = self.authenticating.as_mut()?;
        let Poll::Ready(result) = computing.as_mut().poll(cx) else {
            return None;
        };
        let request = *request;
        self.authenticating = None;
        Some((
            request,
            result.map(AuthResponse::from).map_err(|e| e.to_string()),
        ))
    }

    /// Polls the pending TCP connect and the socket, without the lock.
    fn poll_io(&mut self, cx: &mut Context<'_>) -> (Option<Result<(), String>>, Read) {
        let mut connected = None;
        if let Some(connecting) = self.connecting.as_mut() {
            if let Poll::Ready(result) = connecting.as_mut().poll(cx) {
                self.connecting = None;
                connected = Some(match result {
                    Ok(stream) => {
                        self.stream = Some(stream);
                        Ok(())
                    }
                    Err(e) => Err(e.to_string()),
                });
            }
        }
        let read = if self.stream.is_some() {
            self.read()
        } else {
            Read::None
        };
        (connected, read)
    }

    /// Reads with the lent buffer, if no task is reading with it, through the shared reader
    /// (or the stream, when it has none) with the read turn's waker.
    fn read(&mut self) -> Read {
        let Some((mut lent, want)) = self.shared.lock().reading.take() else {
            return Read::None;
        };
        self.turn.begin_read();
        let mut cx = Context::from_waker(&self.shared.read_waker);
        let polled = match (&self.reader, self.stream.as_mut()) {
            (Some(reader), _) => reader.poll_read_buf(&mut cx, lent.buf_mut(), want),
            (None, Some(stream)) => stream.poll_read_buf(&mut cx, lent.buf_mut(), want),
            (None, None) => Poll::Pending,
        };
        match polled {
            Poll::Pending => Read::Nothing(lent),
            Poll::Ready(Ok(0)) => Read::Closed("connection closed by server".into()),
            Poll::Ready(Ok(got)) => Read::Bytes { lent, want, got },
            Poll::Ready(Err(e)) => Read::Closed(e.to_string()),
        }
    }

    /// One pass: a read, then the machine under the lock, then a write without it; true
    /// when something happened.
    fn pass(&mut self, cx: &mut Context<'_>) -> bool {
        let (connected, read) = self.poll_io(cx);
        let credentials = self.poll_auth(cx);
        let shared = Arc::clone(&self.shared);
        let mut state = shared.lock();
        state.set_driver_waker(cx.waker());
        let now = shared.runtime.now();
        let mut progressed = connected.is_some();
        match connected {
            Some(Ok(())) => {
                state.direct = self.stream.as_ref().and_then(|s| s.direct_writer());
                self.reader = self.stream.as_ref().and_then(|s| s.direct_reader());
                state.reading.reader = self.reader.clone();
                state.conn.handle_connected(now);
            }
            Some(Err(reason)) => state.conn.handle_connect_failed(now, &reason),
            None => {}
        }
        if let Some((request, credentials)) = credentials {
            progressed = true;
            state.conn.handle_credentials(now, request, credentials);
        }
        match read {
            Read::None => {}
            Read::Nothing(lent) => {
                state.put_back(lent);
                // Readiness that fired during the read is the driver's to take.
                progressed |= self.turn.fired();
            }
            Read::Bytes { lent, want, got } => {
                progressed = true;
                state.absorb(now, lent, want, got);
            }
            Read::Closed(reason) => {
                progressed = true;
                self.drop_stream(&mut state);
                state.conn.handle_disconnected(now, &reason);
            }
        }
        if let Some((epoch, reason)) = state.reading.failed.take() {
            // A task's read found the socket failed.
            if self.stream.is_some() && epoch == state.conn.socket_epoch() {
                progressed = true;
                self.drop_stream(&mut state);
                state.conn.handle_disconnected(now, &reason);
            }
        }
        progressed |= self.carry_out_directives(&mut state, cx);
        if state.conn.poll_timeout().is_some_and(|t| t <= now) {
            state.conn.handle_timeout(now);
            progressed = true;
        }
        // Timers and reads may have produced directives or output.
        progressed |= self.carry_out_directives(&mut state, cx);
        let closing = state.conn.is_closed() || self.lingering;
        if closing {
            progressed |= self.write(&mut state, cx);
        } else {
            self.take_output(&mut state);
        }
        while let Some(event) = state.conn.poll_event() {
            progressed = true;
            state.dispatch(event);
        }
        if self.lingering
            && (self.stream.is_none()
                || (self.taken.is_empty()
                    && state.writer != Writer::Task
                    && state.handoff.is_empty()
                    && state.conn.poll_transmit().is_none()))
        {
            self.lingering = false;
            self.drop_stream(&mut state);
            // Asking for output again may have finished the close.
            while let Some(event) = state.conn.poll_event() {
                progressed = true;
                state.dispatch(event);
            }
        }
        // For the next pass's read; lending is progress, so that read happens.
        if self.stream.is_some() && state.lend_for_read() {
            progressed = true;
        }
        state.release_room(self.max_pending);
        drop(state);
        if !closing && !self.taken.is_empty() {
            match self.write_taken(cx) {
                Ok(wrote) => progressed |= wrote,
                Err(reason) => {
                    let mut state = shared.lock();
                    self.drop_stream(&mut state);
                    state
                        .conn
                        .handle_disconnected(shared.runtime.now(), &reason);
                    progressed = true;
                }
            }
        }
        progressed
    }

    /// Forgets the socket, what was taken for it (by the driver or a task) and the buffer
    /// lent for it.
    fn drop_stream(&mut self, state: &mut State) {
        self.stream = None;
        self.reader = None;
        state.reading.clear();
        self.taken.clear();
        self.taken_len = 0;
        state.direct = None;
        state.handoff.clear();
        if state.writer == Writer::Driver {
            state.writer = Writer::Idle;
        }
    }

    /// Takes what the machine holds for the socket, up to a bound, as owned chunks, after
    /// what a task left: unless a task holds the write turn (it wakes the driver when it
    /// gives it back). Holding bytes, the driver holds the turn; it gives it back once it
    /// has written them all.
    fn take_output(&mut self, state: &mut State) {
        if self.stream.is_none() {
            return;
        }
        match state.writer {
            Writer::Task => return,
            Writer::Driver if self.taken.is_empty() => state.writer = Writer::Idle,
            _ => {}
        }
        self.take_handoff(state);
        self.take_from_machine(state);
        if !self.taken.is_empty() {
            state.writer = Writer::Driver;
        }
    }

    /// What a task took and could not write, ahead of anything the driver takes next.
    fn take_handoff(&mut self, state: &mut State) {
        while let Some(chunk) = state.handoff.pop_front() {
            self.taken_len += chunk.len();
            self.taken.push_back(chunk);
        }
    }

    /// The machine's part of [`take_output`](Self::take_output).
    fn take_from_machine(&mut self, state: &mut State) {
        while self.taken_len < TAKE_LIMIT && self.taken.len() < MAX_SLICES {
            let Some(buf) = state.conn.poll_transmit() else {
                return;
            };
            let n = buf.chunk().len();
            if n == 0 {
                return;
            }
            self.taken.push_back(buf.copy_to_bytes(n));
            self.taken_len += n;
        }
    }

    /// Writes what was taken until it is all written or the socket pushes back; true when
    /// something was written, an error when the socket failed.
    fn write_taken(&mut self, cx: &mut Context<'_>) -> Result<bool, String> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(false);
        };
        let mut wrote = false;
        while !self.taken.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let n = front_slices(&self.taken, &mut slices);
            match stream.poll_write_vectored(cx, &slices[..n]) {
                Poll::Pending => return Ok(wrote),
                Poll::Ready(Ok(0)) => return Err("socket closed".into()),
                Poll::Ready(Ok(written)) => {
                    wrote = true;
                    self.taken_len -= written;
                    drop_written(&mut self.taken, written);
                }
                Poll::Ready(Err(e)) => return Err(e.to_string()),
            }
        }
        Ok(wrote)
    }

    fn carry_out_directives(&mut self, state: &mut State, cx: &mut Context<'_>) -> bool {
        let mut any = false;
        while let Some(directive) = state.conn.poll_directive() {
            any = true;
            match directive {
                Directive::Connect { server } => {
                    self.drop_stream(state);
                    self.authenticating = None;
                    let runtime = &self.shared.runtime;
                    self.connecting = Some(match self.local_address {
                        Some(local) => runtime.connect_from(server.host(), server.port(), local),
                        None => runtime.connect(server.host(), server.port()),
                    });
                }
                Directive::Close => {
                    self.write(state, cx);
                    self.connecting = None;
                    // A close by the application: the socket stays until the machine's last
                    // publishes are written (or it gives up on them and counts them).
                    self.lingering = state.conn.is_closed() && self.stream.is_some();
                    if !self.lingering {
                        self.drop_stream(state);
                    }
                }
                Directive::Authenticate { nonce, request } => match &self.auth {
                    // Polled from the next pass on, outside the lock.
                    Some(callback) => self.authenticating = Some((request, callback.call(nonce))),
                    None => state.conn.handle_credentials(
                        self.shared.runtime.now(),
                        request,
                        Err("deferred credentials without a callback".into()),
                    ),
                },
            }
        }
        any
    }

    /// Under the lock: writes what was taken, then what the machine holds, until it has
    /// nothing more or the socket pushes back (or a task holds the write turn: it wakes the
    /// driver when it gives it back).
    fn write(&mut self, state: &mut State, cx: &mut Context<'_>) -> bool {
        if state.writer == Writer::Task {
            return false;
        }
        self.take_handoff(state);
        let mut progressed = match self.write_taken(cx) {
            Ok(wrote) => wrote,
            Err(reason) => {
                self.drop_stream(state);
                state
                    .conn
                    .handle_disconnected(self.shared.runtime.now(), &reason);
                return true;
            }
        };
        if !self.taken.is_empty() {
            state.writer = Writer::Driver;
            return progressed;
        }
        if state.writer == Writer::Driver {
            state.writer = Writer::Idle;
        }
        let Some(stream) = self.stream.as_mut() else {
            return progressed;
        };
        loop {
            let Some(buf) = state.conn.poll_transmit() else {
                return progressed;
            };
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let n = buf.chunks_vectored(&mut slices);
            let reason = match stream.poll_write_vectored(cx, &slices[..n]) {
                Poll::Pending => return progressed,
                Poll::Ready(Ok(0)) => "socket closed".to_owned(),
                Poll::Ready(Ok(written)) => {
                    buf.advance(written);
                    progressed = true;
                    continue;
                }
                Poll::Ready(Err(e)) => e.to_string(),
            };
            self.drop_stream(state);
            state
                .conn
                .handle_disconnected(self.shared.runtime.now(), &reason);
            return true;
        }
    }
}

/// Points `slices` at the first chunks of `chunks` (as many as fit); how many it filled.
pub(crate) fn front_slices<'a>(
    chunks: &'a VecDeque<Bytes>,
    slices: &mut [IoSlice<'a>; MAX_SLICES],
) -> usize {
    let mut n = 0;
    for (slot, chunk) in slices.iter_mut().zip(chunks) {
        *slot = IoSlice::new(chunk);
        n += 1;
    }
    n
}

/// Drops the first `written` bytes of `chunks`, and the chunks they empty.
pub(crate) fn drop_written(chunks: &mut VecDeque<Bytes>, mut written: usize) {
    while written > 0 {
        let Some(front) = chunks.front_mut() else {
            return;
        };
        let step = written.min(front.len());
        front.advance(step);
        written -= step;
        if front.is_empty() {
            chunks.pop_front();
        }
    }
}

impl Future for Driver {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.turn.set_driver(cx.waker());
        for _ in 0..BUDGET {
            if this.pass(cx) {
                continue;
            }
            let finished = {
                let state = this.shared.lock();
                state.closed.is_some() && this.stream.is_none() && this.connecting.is_none()
            };
            if finished {
                return Poll::Ready(());
            }
            let now = this.shared.runtime.now();
            let deadline = {
                let mut state = this.shared.lock();
                // An earlier deadline still ahead stays armed rather than the timer moving
                // later: one early wake-up is cheaper than a wake-up from every request that
                // brings the later deadline back (a request's timeout, once per request).
                let deadline = match (state.armed, state.conn.poll_timeout()) {
                    (Some(armed), Some(wanted)) if armed > now && armed < wanted => Some(armed),
                    (_, wanted) => wanted,
                };
                state.armed = deadline;
                deadline
            };
            if this.timer.poll(cx, deadline, now).is_ready() {
                continue;
            }
            return Poll::Pending;
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
