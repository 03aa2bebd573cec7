//! The state user tasks and the driver share: the machine behind one mutex, plus the wakers
//! and result slots that connect the machine's events to waiting futures.
//!
//! Invariant: every access to the machine happens under the lock, and whoever changes what the
//! machine has to send (a command) wakes the driver when the outbound queue went from empty
//! to non-empty, or writes it itself: one writer at a time holds the write turn ([`Writer`]),
//! taken and given back under the lock, so bytes reach the socket in the order they left the
//! machine; a task that gives the turn back with bytes unwritten or output waiting wakes the
//! driver. The driver turns every event into a result in a slot or a wake-up, so no waiting
//! future misses its event.
//!
//! Wake-ups decided under the lock happen once it is released ([`Wakes`], [`StateGuard`]):
//! a task woken on another thread would otherwise run straight into the lock its waker
//! still holds, sleep on the mutex and need a second wake-up.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::{Buf, Bytes};

use nats_sansio::connection::{
    ConnectionError, ConnectionState, FlushError, FlushId, RequestError, RequestId, Sid,
};
use nats_sansio::id_map::IdMap;
use nats_sansio::jetstream::publish::AckWindow;
use nats_sansio::proto::Message;
use nats_sansio::{Connection, ConnectionEvent, Event};

use crate::driver::{
    drop_written, front_slices, DEFAULT_READ_BUFFER_CAPACITY, MAX_SLICES, TAKE_LIMIT,
};
use crate::reading::{ReadTurn, Reading};
use crate::runtime::{DirectWrite, Runtime};

/// A result a future is waiting for.
#[derive(Debug)]
pub(crate) enum Slot<T> {
    Waiting(Option<Waker>),
    Ready(T),
}

impl<T> Slot<T> {
    /// Fills the slot; the waiting task's wake-up goes to `wakes`.
    fn fill(&mut self, value: T, wakes: &mut Wakes) {
        if let Slot::Waiting(Some(waker)) = std::mem::replace(self, Slot::Ready(value)) {
            wakes.push(waker);
        }
    }
}

/// Wake-ups owed, carried out when the lock is released (by [`StateGuard`]).
#[derive(Debug, Default)]
pub(crate) struct Wakes {
    queued: [Option<Waker>; WAKES_HELD],
    len: usize,
}

/// Wake-ups kept for the unlock at most; beyond them (a read that feeds many subscribers
/// at once) a task is woken at once, under the lock.
const WAKES_HELD: usize = 8;

impl Wakes {
    /// Owes `waker` a wake-up.
    pub(crate) fn push(&mut self, waker: Waker) {
        match self.queued.get_mut(self.len) {
            Some(place) => {
                *place = Some(waker);
                self.len += 1;
            }
            None => waker.wake(),
        }
    }

    fn wake_all(self) {
        for waker in self.queued.into_iter().take(self.len).flatten() {
            waker.wake();
        }
    }
}

/// The locked state; released, it carries out the wake-ups owed ([`Wakes`]).
pub(crate) struct StateGuard<'a> {
    guard: Option<MutexGuard<'a, State>>,
}

impl Deref for StateGuard<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        self.guard.as_ref().expect("held until dropped")
    }
}

impl DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        self.guard.as_mut().expect("held until dropped")
    }
}

impl Drop for StateGuard<'_> {
    fn drop(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        if guard.wakes.len == 0 {
            return;
        }
        let wakes = std::mem::take(&mut guard.wakes);
        drop(guard);
        wakes.wake_all();
    }
}

/// How the connection ended.
#[derive(Debug, Clone)]
pub(crate) struct Closed {
    pub(crate) reason: Option<ConnectionError>,
    pub(crate) unsent_messages: u64,
}

impl Closed {
    /// What `close` and `drain` return: `Ok` only for a clean close that lost nothing.
    pub(crate) fn outcome(&self) -> Result<(), crate::CloseError> {
        match (&self.reason, self.unsent_messages) {
            (None, 0) => Ok(()),
            (Some(e), 0) => Err(crate::CloseError::Connection(e.clone())),
            (reason, messages) => Err(crate::CloseError::Unsent {
                messages,
                reason: reason.clone(),
            }),
        }
    }
}

/// What the machine, the driver and the handles share.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    pub(crate) runtime: Arc<dyn Runtime>,
    /// The waker of every read of the socket: [`State::turn`]'s, which passes the wake-up
    /// on to the task holding the read turn, else the driver.
    pub(crate) read_waker: Waker,
}

/// Everything under the lock.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) conn: Connection,
    /// The driver's waker, to wake it when there is something to send.
    driver: Option<Waker>,
    /// Subscribers waiting for messages.
    pub(crate) subscribers: IdMap<Sid, Waker>,
    pub(crate) requests: IdMap<RequestId, Slot<Result<Message, RequestError>>>,
    pub(crate) flushes: IdMap<FlushId, Slot<Result<(), FlushError>>>,
    /// The first connect's outcome.
    pub(crate) first_connect: Slot<Result<(), ConnectionError>>,
    /// Tasks waiting for the outbound queue to shrink (back-pressure) or for the close.
    pub(crate) waiting_for_room: Vec<Waker>,
    pub(crate) waiting_for_close: Vec<Waker>,
    /// Event listeners, each with its queue.
    listeners: IdMap<u64, Listener>,
    next_listener: u64,
    /// Set once `ConnectionEvent::Closed` arrived: why, and how many accepted publishes were lost.
    pub(crate) closed: Option<Closed>,
    /// JetStream publishes whose ack has not arrived yet, and publishers waiting for one to.
    pub(crate) acks_in_flight: AckWindow,
    pub(crate) waiting_for_ack_room: Vec<Waker>,
    /// Tasks waiting for `acks_in_flight` to be empty (`Context::wait_for_acks`).
    waiting_for_no_acks: Vec<Waker>,
    /// Link watchers (consumer streams), woken whenever the link goes down or comes up.
    pub(crate) link_watchers: IdMap<u64, Waker>,
    /// Who holds the one write turn: bytes taken from the machine are written by one
    /// writer at a time, so they reach the socket in the order they were taken.
    pub(crate) writer: Writer,
    /// The current socket's direct writer, while the driver has a socket.
    pub(crate) direct: Option<Arc<dyn DirectWrite>>,
    /// What a task took and could not write, for the driver to write before anything else
    /// (always for the current socket: the rest of a lost socket's is dropped).
    pub(crate) handoff: VecDeque<Bytes>,
    /// The deadline the driver's timer is armed for (set as it goes to sleep).
    pub(crate) armed: Option<Instant>,
    /// An empty queue with room, lent to each task write so that it allocates nothing.
    spare: VecDeque<Bytes>,
    /// The socket's read side and the buffer lent for its next read.
    pub(crate) reading: Reading,
    /// Who the socket's readiness wakes: the task holding the read turn, else the driver.
    pub(crate) turn: Arc<ReadTurn>,
    /// Wake-ups owed when the lock is released.
    pub(crate) wakes: Wakes,
}

/// Who holds the write turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writer {
    /// Nobody: the driver takes and writes as usual, or a task may write directly.
    Idle,
    /// The driver holds bytes it took and has not written.
    Driver,
    /// A task is writing what it took; it hands back the rest and wakes the driver.
    Task,
}

/// What a task took from the machine to write itself ([`Shared::command_and_write`]).
struct TaskWrite {
    writer: Arc<dyn DirectWrite>,
    chunks: VecDeque<Bytes>,
    epoch: u64,
}

impl TaskWrite {
    /// Writes until everything is written or the socket takes no more; what is left stays
    /// in `chunks` (a failed socket is the driver's to notice on its next read or write).
    fn write(&mut self) {
        while !self.chunks.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let n = front_slices(&self.chunks, &mut slices);
            let written = match self.writer.try_write_vectored(&slices[..n]) {
                Ok(0) => return,
                Ok(written) => written,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            drop_written(&mut self.chunks, written);
        }
    }
}

#[derive(Debug, Default)]
struct Listener {
    queue: VecDeque<ConnectionEvent>,
    waker: Option<Waker>,
}

/// Events kept per listener before the oldest are dropped.
const LISTENER_CAPACITY: usize = 1024;

impl Shared {
    pub(crate) fn new(conn: Connection, runtime: Arc<dyn Runtime>) -> Arc<Shared> {
        let turn = Arc::new(ReadTurn::default());
        let read_waker = Waker::from(Arc::clone(&turn));
        Arc::new(Shared {
            state: Mutex::new(State {
                conn,
                driver: None,
                subscribers: IdMap::default(),
                requests: IdMap::default(),
                flushes: IdMap::default(),
                first_connect: Slot::Waiting(None),
                waiting_for_room: Vec::new(),
                waiting_for_close: Vec::new(),
                listeners: IdMap::default(),
                next_listener: 0,
                closed: None,
                acks_in_flight: AckWindow::default(),
                waiting_for_ack_room: Vec::new(),
                waiting_for_no_acks: Vec::new(),
                link_watchers: IdMap::default(),
                writer: Writer::Idle,
                direct: None,
                handoff: VecDeque::new(),
                armed: None,
                spare: VecDeque::new(),
                reading: Reading::new(DEFAULT_READ_BUFFER_CAPACITY),
                turn,
                wakes: Wakes::default(),
            }),
            runtime,
            read_waker,
        })
    }

    /// Locks the state. A panic while the lock was held poisons it; the state is still
    /// consistent (the machine never panics mid-update), so the poison is ignored.
    pub(crate) fn lock(&self) -> StateGuard<'_> {
        StateGuard {
            guard: Some(self.state.lock().unwrap_or_else(|e| e.into_inner())),
        }
    }

    /// Runs a command on the machine and wakes the driver only when it has new work: the
    /// outbound queue went from empty to non-empty, or a deadline earlier than the one it
    /// sleeps on appeared.
    pub(crate) fn command<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self.lock();
        let before = state.work_mark();
        let result = f(&mut state);
        state.wake_driver_for_new_work(before);
        result
    }

    /// Runs a command whose output its task will wait on (a request with nothing else in
    /// flight), and writes that output from this task when nobody else is writing: the
    /// driver is neither woken nor given a pass for it. Anything the socket does not take
    /// at once goes to the driver, as after [`command`](Self::command).
    pub(crate) fn command_and_write<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self.lock();
        let before = state.work_mark();
        let result = f(&mut state);
        self.write_now(state, before);
        result
    }

    /// The end of a command run under `state` since `before`: its output written by this
    /// task when it may ([`command_and_write`](Self::command_and_write)), else the driver
    /// woken for it.
    pub(crate) fn write_now(&self, mut state: StateGuard<'_>, before: WorkMark) {
        let Some(mut task) = state.take_for_task(before) else {
            state.wake_driver_for_new_work(before);
            return;
        };
        drop(state);
        task.write();
        let mut state = self.lock();
        state.writer = Writer::Idle;
        if !task.chunks.is_empty() && task.epoch == state.conn.socket_epoch() {
            // The hand-off queue is empty: the task's rest takes its place.
            std::mem::swap(&mut state.handoff, &mut task.chunks);
        }
        task.chunks.clear();
        state.spare = task.chunks;
        // The driver took nothing while the turn was ours: what came meanwhile is its now.
        let more = !state.handoff.is_empty() || state.conn.pending_bytes() > 0;
        if more {
            state.wake_driver();
        } else {
            state.wake_driver_for_new_work(WorkMark {
                was_empty: true,
                ..before
            });
        }
    }
}

/// What the driver last saw: whether the outbound queue was empty, and its deadline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WorkMark {
    was_empty: bool,
    deadline: Option<std::time::Instant>,
}

impl State {
    /// Notes the machine's state before a command.
    pub(crate) fn work_mark(&self) -> WorkMark {
        WorkMark {
            was_empty: self.conn.pending_bytes() == 0,
            deadline: self.conn.poll_timeout(),
        }
    }

    /// Wakes the driver if the command gave it new work: output where there was none, or
    /// an earlier deadline than it sleeps on (the one it armed, else the machine's before
    /// the command).
    pub(crate) fn wake_driver_for_new_work(&mut self, before: WorkMark) {
        let new_output = before.was_empty && self.conn.pending_bytes() > 0;
        let earlier_deadline = match (self.conn.poll_timeout(), self.armed.or(before.deadline)) {
            (Some(now), Some(then)) => now < then,
            (Some(_), None) => true,
            _ => false,
        };
        if new_output || earlier_deadline {
            self.wake_driver();
        }
    }

    /// Takes what the machine has to send for a task to write itself, if it may: the
    /// command made the first output, nobody holds the write turn or left bytes for the
    /// driver, a socket is there, and this is the only request waiting for a reply. The
    /// turn is the task's until it gives it back.
    fn take_for_task(&mut self, before: WorkMark) -> Option<TaskWrite> {
        if !before.was_empty
            || self.writer != Writer::Idle
            || !self.handoff.is_empty()
            || self.requests.len() != 1
        {
            return None;
        }
        let writer = Arc::clone(self.direct.as_ref()?);
        let mut chunks = std::mem::take(&mut self.spare);
        let mut taken = 0;
        while taken < TAKE_LIMIT && chunks.len() < MAX_SLICES {
            let Some(buf) = self.conn.poll_transmit() else {
                break;
            };
            let n = buf.chunk().len();
            if n == 0 {
                break;
            }
            chunks.push_back(buf.copy_to_bytes(n));
            taken += n;
        }
        if chunks.is_empty() {
            self.spare = chunks;
            return None;
        }
        self.writer = Writer::Task;
        Some(TaskWrite {
            writer,
            chunks,
            epoch: self.conn.socket_epoch(),
        })
    }

    /// Wakes the driver (after a command that may have produced a directive), once the
    /// lock is released.
    pub(crate) fn wake_driver(&mut self) {
        if let Some(waker) = &self.driver {
            self.wakes.push(waker.clone());
        }
    }

    pub(crate) fn set_driver_waker(&mut self, waker: &Waker) {
        match &self.driver {
            Some(w) if w.will_wake(waker) => {}
            _ => self.driver = Some(waker.clone()),
        }
    }

    /// Hands one machine event to whoever waits for it.
    pub(crate) fn dispatch(&mut self, event: Event) {
        match event {
            Event::MessagesReady { sid } => {
                if let Some(waker) = self.subscribers.remove(&sid) {
                    self.wakes.push(waker);
                }
            }
            Event::Response { id, result } => {
                self.ack_arrived(id);
                // Its task reads no more for it (if it did): the driver reads from now on.
                if let Some(driver) = self.turn.release(id) {
                    self.wakes.push(driver);
                }
                if let Some(slot) = self.requests.get_mut(&id) {
                    slot.fill(result, &mut self.wakes);
                }
            }
            Event::Flushed { id, result } => {
                if let Some(slot) = self.flushes.get_mut(&id) {
                    slot.fill(result, &mut self.wakes);
                }
            }
            Event::Connection(event) => self.on_connection_event(event),
            // A subscription's end reaches its reader through `MessagesReady` and
            // `next_message`; nothing else waits for it.
            _ => {}
        }
    }

    /// A connection event: log it, wake what depends on the link, settle the first connect
    /// and the close, then hand it to every listener.
    fn on_connection_event(&mut self, event: ConnectionEvent) {
        crate::log::connection_event(&event);
        if matches!(
            event,
            ConnectionEvent::Connected { .. }
                | ConnectionEvent::Reconnected { .. }
                | ConnectionEvent::Disconnected { .. }
                | ConnectionEvent::Closed { .. }
        ) {
            for (_, waker) in self.link_watchers.drain() {
                self.wakes.push(waker);
            }
        }
        match &event {
            ConnectionEvent::Connected { .. } => self.first_connect.fill(Ok(()), &mut self.wakes),
            ConnectionEvent::Closed {
                reason,
                unsent_messages,
            } => {
                if matches!(self.first_connect, Slot::Waiting(_)) {
                    self.first_connect.fill(
                        Err(reason.clone().unwrap_or(ConnectionError::Closed)),
                        &mut self.wakes,
                    );
                }
                self.closed = Some(Closed {
                    reason: reason.clone(),
                    unsent_messages: *unsent_messages,
                });
                for (_, waker) in self.subscribers.drain() {
                    self.wakes.push(waker);
                }
                for waker in self.waiting_for_room.drain(..) {
                    self.wakes.push(waker);
                }
                for waker in self.waiting_for_close.drain(..) {
                    self.wakes.push(waker);
                }
                for waker in self.waiting_for_ack_room.drain(..) {
                    self.wakes.push(waker);
                }
                for waker in self.waiting_for_no_acks.drain(..) {
                    self.wakes.push(waker);
                }
            }
            _ => {}
        }
        self.broadcast(event);
    }

    /// A JetStream publish's ack (or its failure) arrived, or its future was dropped: its
    /// slot in the window is free.
    pub(crate) fn ack_arrived(&mut self, id: RequestId) {
        if self.acks_in_flight.leave(id) {
            for waker in self.waiting_for_ack_room.drain(..) {
                self.wakes.push(waker);
            }
            if self.acks_in_flight.is_empty() {
                for waker in self.waiting_for_no_acks.drain(..) {
                    self.wakes.push(waker);
                }
            }
        }
    }

    /// Ready once no JetStream publish awaits its ack (or the connection closed, which
    /// answers every request); else the task is woken when the last one leaves.
    pub(crate) fn poll_no_acks(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.acks_in_flight.is_empty() || self.closed.is_some() {
            return Poll::Ready(());
        }
        if !self
            .waiting_for_no_acks
            .iter()
            .any(|w| w.will_wake(cx.waker()))
        {
            self.waiting_for_no_acks.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Wakes publishers waiting for room once the queue is below the limit.
    pub(crate) fn release_room(&mut self, limit: usize) {
        if self.conn.pending_bytes() < limit || self.conn.state() != ConnectionState::Connected {
            for waker in self.waiting_for_room.drain(..) {
                self.wakes.push(waker);
            }
        }
    }

    fn broadcast(&mut self, event: ConnectionEvent) {
        for listener in self.listeners.values_mut() {
            if listener.queue.len() == LISTENER_CAPACITY {
                listener.queue.pop_front();
            }
            listener.queue.push_back(event.clone());
            if let Some(waker) = listener.waker.take() {
                self.wakes.push(waker);
            }
        }
    }

    /// A fresh id for a listener or a link watcher.
    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_listener += 1;
        self.next_listener
    }

    pub(crate) fn add_listener(&mut self) -> u64 {
        self.next_listener += 1;
        self.listeners
            .insert(self.next_listener, Listener::default());
        self.next_listener
    }

    pub(crate) fn remove_listener(&mut self, id: u64) {
        self.listeners.remove(&id);
    }

    pub(crate) fn poll_listener(
        &mut self,
        id: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Option<ConnectionEvent>> {
        let closed = self.closed.is_some();
        let Some(listener) = self.listeners.get_mut(&id) else {
            return Poll::Ready(None);
        };
        if let Some(event) = listener.queue.pop_front() {
            return Poll::Ready(Some(event));
        }
        if closed {
            return Poll::Ready(None);
        }
        listener.waker = Some(cx.waker().clone());
        self.turn_to_driver();
        Poll::Pending
    }
}

/// Polls a slot in a map: the value once ready (removing the slot), else registers the waker.
pub(crate) fn poll_slot<K: std::hash::Hash + Eq, T>(
    slots: &mut IdMap<K, Slot<T>>,
    key: K,
    cx: &mut Context<'_>,
) -> Poll<Option<T>> {
    match slots.get_mut(&key) {
        None => Poll::Ready(None),
        Some(Slot::Ready(_)) => match slots.remove(&key) {
            Some(Slot::Ready(value)) => Poll::Ready(Some(value)),
            _ => Poll::Ready(None),
        },
        Some(Slot::Waiting(waker)) => {
            *waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// Polls the first-connect slot.
pub(crate) fn poll_first_connect(
    slot: &mut Slot<Result<(), ConnectionError>>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), ConnectionError>> {
    match slot {
        Slot::Ready(result) => Poll::Ready(result.clone()),
        Slot::Waiting(waker) => {
            *waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

#[cfg(all(test, feature = "tokio"))]
pub(crate) mod tests {
    use std::io;
    use std::sync::Mutex;
    use std::time::Duration;

    use nats_sansio::connection::{Directive, Options};

    use super::*;

    const INFO: &[u8] = b"INFO {\"server_id\":\"s\",\"version\":\"2.11.0\",\"proto\":1,\"headers\":true,\"max_payload\":1048576}\r\n";

    /// A socket that takes `room` bytes in all, then would block; it keeps what it took.
    #[derive(Debug)]
    pub(crate) struct Recorder {
        room: usize,
        bytes: Mutex<Vec<u8>>,
    }

    impl DirectWrite for Recorder {
        fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            let mut bytes = self.bytes.lock().unwrap();
            let mut taken = 0;
            for buf in bufs {
                let n = buf.len().min(self.room - bytes.len());
                bytes.extend_from_slice(&buf[..n]);
                taken += n;
            }
            match taken {
                0 => Err(io::ErrorKind::WouldBlock.into()),
                n => Ok(n),
            }
        }
    }

    /// Shared state around a machine that completed its handshake (what it sent for it
    /// taken), with `direct` as the socket's direct writer.
    pub(crate) fn connected(direct: &Arc<Recorder>) -> Arc<Shared> {
        let runtime: Arc<dyn Runtime> = Arc::new(crate::runtime::tokio::TokioRuntime);
        let now = runtime.now();
        let mut options = Options::new("nats://127.0.0.1:4222").unwrap();
        options.seed = Some(7);
        let mut conn = Connection::new(options, now).unwrap();
        assert!(matches!(
            conn.poll_directive(),
            Some(Directive::Connect { .. })
        ));
        conn.handle_connected(now);
        conn.handle_received(now, INFO);
        while let Some(buf) = conn.poll_transmit() {
            let n = buf.chunk().len();
            buf.advance(n);
        }
        conn.handle_received(now, b"PONG\r\n");
        let shared = Shared::new(conn, runtime);
        shared.lock().direct = Some(Arc::clone(direct) as Arc<dyn DirectWrite>);
        shared
    }

    pub(crate) fn recorder(room: usize) -> Arc<Recorder> {
        Arc::new(Recorder {
            room,
            bytes: Mutex::new(Vec::new()),
        })
    }

    /// Starts a request as the client does, its output written by this task if it may.
    pub(crate) fn request(shared: &Shared, subject: &str) -> RequestId {
        let now = shared.runtime.now();
        shared.command_and_write(|state| {
            let timeout = Some(Duration::from_secs(5));
            let id = state
                .conn
                .request(now, subject, None, "?".into(), timeout)
                .unwrap();
            state.requests.insert(id, Slot::Waiting(None));
            id
        })
    }

    pub(crate) fn written(direct: &Recorder) -> String {
        String::from_utf8_lossy(&direct.bytes.lock().unwrap()).into_owned()
    }

    #[test]
    fn a_lone_request_is_written_by_its_task() {
        let direct = recorder(usize::MAX);
        let shared = connected(&direct);
        request(&shared, "service");
        assert!(
            written(&direct).contains("PUB service "),
            "{}",
            written(&direct)
        );
        let state = shared.lock();
        assert_eq!(state.writer, Writer::Idle);
        assert!(state.handoff.is_empty());
        assert_eq!(state.conn.pending_bytes(), 0);
    }

    #[test]
    fn a_task_writes_only_with_the_turn_free_and_nothing_older_waiting() {
        let blocked: [fn(&mut State); 4] = [
            |state| state.writer = Writer::Driver,
            |state| state.writer = Writer::Task,
            |state| state.handoff.push_back(Bytes::from_static(b"PING\r\n")),
            |state| {
                let id = state
                    .conn
                    .request(Instant::now(), "other", None, "?".into(), None)
                    .unwrap();
                state.requests.insert(id, Slot::Waiting(None));
            },
        ];
        for block in blocked {
            let direct = recorder(usize::MAX);
            let shared = connected(&direct);
            block(&mut shared.lock());
            let before = shared.lock().conn.pending_bytes();
            request(&shared, "service");
            assert_eq!(written(&direct), "", "the task wrote out of turn");
            assert!(
                shared.lock().conn.pending_bytes() > before,
                "left to the driver"
            );
        }
        // Older output waiting for the driver: the request queues behind it.
        let direct = recorder(usize::MAX);
        let shared = connected(&direct);
        shared.command(|state| state.conn.publish("first", None, None, "1".into()).unwrap());
        request(&shared, "service");
        assert_eq!(written(&direct), "");
    }

    #[test]
    fn what_the_socket_does_not_take_goes_to_the_driver_first() {
        let direct = recorder(10);
        let shared = connected(&direct);
        request(&shared, "service");
        assert_eq!(written(&direct).len(), 10);
        let state = shared.lock();
        assert_eq!(state.writer, Writer::Idle);
        let rest: Vec<u8> = state.handoff.iter().flat_map(|b| b.to_vec()).collect();
        let whole = written(&direct) + &String::from_utf8_lossy(&rest);
        assert!(
            whole.starts_with("SUB ") || whole.starts_with("PUB service "),
            "{whole}"
        );
        assert!(whole.contains("PUB service "), "{whole}");
    }

    /// A waker that notes, each time it is woken, whether the shared state's lock was free.
    struct LockProbe {
        shared: std::sync::Weak<Shared>,
        woken: Mutex<Vec<bool>>,
    }

    impl std::task::Wake for LockProbe {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            let shared = self.shared.upgrade().expect("the state lives");
            let free = shared.state.try_lock().is_ok();
            self.woken.lock().unwrap().push(free);
        }
    }

    fn probe(shared: &Arc<Shared>) -> (Arc<LockProbe>, Waker) {
        let probe = Arc::new(LockProbe {
            shared: Arc::downgrade(shared),
            woken: Mutex::new(Vec::new()),
        });
        let waker = Waker::from(Arc::clone(&probe));
        (probe, waker)
    }

    #[test]
    fn tasks_are_woken_once_the_lock_is_released() {
        let direct = recorder(usize::MAX);
        let shared = connected(&direct);
        // A subscriber told its messages are ready, by the driver's dispatch.
        let (subscriber, waker) = probe(&shared);
        {
            let mut state = shared.lock();
            let sid = state.conn.subscribe("updates", None).unwrap();
            state.subscribers.insert(sid, waker);
            state.dispatch(Event::MessagesReady { sid });
            assert!(
                subscriber.woken.lock().unwrap().is_empty(),
                "not under the lock"
            );
        }
        assert_eq!(*subscriber.woken.lock().unwrap(), [true]);
        // The driver, given output by a command (what it had is written first).
        let (driver, waker) = probe(&shared);
        {
            let mut state = shared.lock();
            state.set_driver_waker(&waker);
            while let Some(buf) = state.conn.poll_transmit() {
                let n = buf.chunk().len();
                buf.advance(n);
            }
        }
        shared.command(|state| state.conn.publish("news", None, None, "1".into()).unwrap());
        assert_eq!(*driver.woken.lock().unwrap(), [true]);
    }

    #[test]
    fn every_task_is_woken_however_many_at_once() {
        let direct = recorder(usize::MAX);
        let shared = connected(&direct);
        let (subscribers, waker) = probe(&shared);
        let count = WAKES_HELD + 3;
        {
            let mut state = shared.lock();
            for i in 0..count {
                let sid = state.conn.subscribe(&format!("s{i}"), None).unwrap();
                state.subscribers.insert(sid, waker.clone());
                state.dispatch(Event::MessagesReady { sid });
            }
        }
        let woken = subscribers.woken.lock().unwrap();
        assert_eq!(woken.len(), count, "nobody is left asleep");
        assert_eq!(
            woken.iter().filter(|free| **free).count(),
            WAKES_HELD,
            "as many as are held are woken after the unlock"
        );
    }
}
