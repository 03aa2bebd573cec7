//! Reading the socket: by the driver, or by the task waiting for the one request in flight,
//! which then reads its reply itself instead of being woken by the driver after it did.
//!
//! Invariant: the machine's lent receive buffer lies in the shared state ([`Reading`])
//! except while one reader, the driver or a task, is in the middle of one read with it, so
//! one read of the socket is under way at a time. Every read is polled with one waker,
//! [`ReadTurn`]'s: the socket's readiness wakes the task holding the read turn, else the
//! driver. A task holds the turn only while its reply's slot is waiting, and gives it back
//! when the reply is dispatched (by whoever read it) or its future is dropped. No readiness
//! is lost between readers: a reader that puts the buffer back after a read that found
//! nothing reads again if readiness fired since that read began, a task that gives the turn
//! back then wakes the driver, and a task ends its reads only with the socket's readiness
//! waker registered (a read that found nothing) or the driver woken to go on.

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use nats_sansio::connection::{LentRecvBuf, RequestError, RequestId};
use nats_sansio::proto::Message;

use crate::runtime::DirectRead;
use crate::shared::{poll_slot, Shared, Slot, State, StateGuard};

/// Reads a waiting task makes in one poll before leaving the rest to the driver.
const TASK_READS: usize = 8;
/// A read asks for this little at first (idle connections stay cheap); see [`ReadSize`].
const MIN_READ_SIZE: usize = 1024;

/// Who is woken when the socket has bytes: the task holding the read turn, else the driver.
/// It is the waker of every read ([`Shared::read_waker`]).
#[derive(Debug, Default)]
pub(crate) struct ReadTurn {
    inner: Mutex<Turn>,
}

#[derive(Debug, Default)]
struct Turn {
    driver: Option<Waker>,
    /// The task holding the turn: the request it waits for, and its waker.
    task: Option<(RequestId, Waker)>,
    /// Readiness fired since the last read began.
    fired: bool,
}

impl Turn {
    /// The holder's turn back to the driver, and the driver's waker if it must read.
    fn give_back(&mut self) -> Option<Waker> {
        self.task = None;
        if self.fired {
            self.driver.clone()
        } else {
            None
        }
    }
}

impl ReadTurn {
    fn lock(&self) -> MutexGuard<'_, Turn> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The driver's waker, woken when no task holds the turn.
    pub(crate) fn set_driver(&self, waker: &Waker) {
        let mut turn = self.lock();
        match &turn.driver {
            Some(w) if w.will_wake(waker) => {}
            _ => turn.driver = Some(waker.clone()),
        }
    }

    /// Gives the turn to the task waiting for `id` (again, with its current waker), unless
    /// another task holds it.
    fn claim(&self, id: RequestId, waker: &Waker) -> bool {
        let mut turn = self.lock();
        match &mut turn.task {
            Some((holder, _)) if *holder != id => false,
            Some((_, w)) if w.will_wake(waker) => true,
            task => {
                *task = Some((id, waker.clone()));
                true
            }
        }
    }

    /// Takes the turn back from the task waiting for `id`, if it holds it: the driver's
    /// waker when readiness fired since the last read began (the driver must read then).
    pub(crate) fn release(&self, id: RequestId) -> Option<Waker> {
        let mut turn = self.lock();
        if !matches!(&turn.task, Some((holder, _)) if *holder == id) {
            return None;
        }
        turn.give_back()
    }

    /// Takes the turn back from whichever task holds it, as [`release`](Self::release).
    fn release_any(&self) -> Option<Waker> {
        let mut turn = self.lock();
        turn.task.as_ref()?;
        turn.give_back()
    }

    /// A read begins: it takes whatever readiness fired before it.
    pub(crate) fn begin_read(&self) {
        self.lock().fired = false;
    }

    /// True when readiness fired since the last read began.
    pub(crate) fn fired(&self) -> bool {
        self.lock().fired
    }
}

impl Wake for ReadTurn {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let waker = {
            let mut turn = self.lock();
            turn.fired = true;
            match &turn.task {
                Some((_, task)) => Some(task.clone()),
                None => turn.driver.clone(),
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// How many bytes a read asks for: little at first, doubled (up to the read buffer
/// capacity) each time a read fills it, halved when a read brings an eighth of it or less
/// (a read into initialized memory first zeroes the room it offers).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadSize {
    next: usize,
    max: usize,
}

impl ReadSize {
    pub(crate) fn new(max: usize) -> ReadSize {
        ReadSize {
            next: MIN_READ_SIZE,
            max: max.max(MIN_READ_SIZE),
        }
    }

    /// What a read into `lent` asks for: no more than its room, a large message's rest
    /// when that is less (a read cut short there says nothing of what is waiting).
    fn want(&self, lent: &LentRecvBuf) -> usize {
        self.next.min(lent.room())
    }

    /// A read that asked for `want` brought `got`.
    fn note(&mut self, want: usize, got: usize) {
        if got == self.next {
            // More is waiting: read more at a time from now on.
            self.next = (want * 2).min(self.max);
        } else if got <= want / 8 {
            self.next = (want / 2).max(MIN_READ_SIZE);
        }
    }
}

/// The current socket's read side and the buffer lent for it, under the lock.
#[derive(Debug)]
pub(crate) struct Reading {
    /// The socket's shared read side, when its stream has one: tasks read only then.
    pub(crate) reader: Option<Arc<dyn DirectRead>>,
    /// The machine's lent receive buffer, between reads.
    lent: Option<LentRecvBuf>,
    /// A reader has the buffer, in the middle of a read.
    held: bool,
    /// How a task's read found the socket failed (its epoch, why): the driver's to act on.
    pub(crate) failed: Option<(u64, String)>,
    pub(crate) size: ReadSize,
}

impl Reading {
    pub(crate) fn new(max_read_size: usize) -> Reading {
        Reading {
            reader: None,
            lent: None,
            held: false,
            failed: None,
            size: ReadSize::new(max_read_size),
        }
    }

    /// The socket is gone: its reader, its buffer (wherever it is) and its failure.
    pub(crate) fn clear(&mut self) {
        self.reader = None;
        self.lent = None;
        self.held = false;
        self.failed = None;
    }

    /// Takes the buffer for a read, with how much the read asks for; `None` while another
    /// reader has it (or none is lent).
    pub(crate) fn take(&mut self) -> Option<(LentRecvBuf, usize)> {
        let lent = self.lent.take()?;
        self.held = true;
        let want = self.size.want(&lent);
        Some((lent, want))
    }

    /// True when a buffer taken in socket epoch `epoch` is still the current socket's: not
    /// if the socket was dropped (or replaced) during the read.
    fn current(&self, epoch: u64, state_epoch: u64) -> bool {
        self.held && epoch == state_epoch
    }
}

impl State {
    /// Something besides the task holding the read turn waits for what the socket brings
    /// (a subscriber, another request, a flush): the driver reads from now on, so that a
    /// holder that is not polled (kept in a `select!` that went elsewhere) holds up
    /// nobody. It is woken if readiness fired meanwhile.
    pub(crate) fn turn_to_driver(&mut self) {
        if let Some(driver) = self.turn.release_any() {
            self.wakes.push(driver);
        }
    }

    /// Has the machine lend its buffer for the socket's next read, unless it is lent; true
    /// when it lent it.
    pub(crate) fn lend_for_read(&mut self) -> bool {
        if self.reading.lent.is_some() || self.reading.held {
            return false;
        }
        let lent = self.conn.lend_recv_buf(self.reading.size.next);
        self.reading.lent = Some(lent);
        true
    }

    /// Puts back a buffer whose read found nothing (dropped if its socket is gone).
    pub(crate) fn put_back(&mut self, lent: LentRecvBuf) {
        if self.reading.current(lent.epoch(), self.conn.socket_epoch()) {
            self.reading.held = false;
            self.reading.lent = Some(lent);
        }
    }

    /// Hands the machine a buffer its read filled with `got` of the `want` bytes asked
    /// for, and dispatches what it made of them (dropped if its socket is gone).
    pub(crate) fn absorb(
        &mut self,
        now: std::time::Instant,
        lent: LentRecvBuf,
        want: usize,
        got: usize,
    ) {
        if !self.reading.current(lent.epoch(), self.conn.socket_epoch()) {
            return;
        }
        self.reading.held = false;
        self.reading.size.note(want, got);
        self.conn.handle_lent_recv_buf(now, lent);
        while let Some(event) = self.conn.poll_event() {
            self.dispatch(event);
        }
    }
}

impl Shared {
    /// Polls for request `id`'s reply (`None` if the request is forgotten), reading the
    /// socket for it when it may ([`read_for_reply`](Self::read_for_reply)).
    pub(crate) fn poll_reply(
        &self,
        id: RequestId,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, RequestError>>> {
        let mut state = self.lock();
        if let Poll::Ready(reply) = poll_slot(&mut state.requests, id, cx) {
            return Poll::Ready(reply);
        }
        let mut state = self.read_for_reply(state, id, cx);
        poll_slot(&mut state.requests, id, cx)
    }

    /// Lets the task waiting for request `id` read the socket, when it may: it is the only
    /// request in flight, the socket has a shared reader, its buffer is free, and no other
    /// task holds the read turn. It reads until the socket has nothing more (its readiness
    /// then wakes this task), dispatching what it reads as the driver would, and wakes the
    /// driver for what the machine has to send or do after it, or to read on when the
    /// task stops early. Returns the lock.
    fn read_for_reply<'a>(
        &'a self,
        mut state: StateGuard<'a>,
        id: RequestId,
        cx: &mut Context<'_>,
    ) -> StateGuard<'a> {
        if state.requests.len() != 1 {
            // Replies for several: the driver reads for them all.
            state.turn_to_driver();
            return state;
        }
        if state.closed.is_some()
            || state.reading.lent.is_none()
            || !matches!(state.requests.get(&id), Some(Slot::Waiting(_)))
        {
            return state;
        }
        let Some(reader) = state.reading.reader.clone() else {
            return state;
        };
        if !state.turn.claim(id, cx.waker()) {
            return state;
        }
        // Its reply is dispatched by this task's own read, or else by the driver's, which
        // finds the waker again (the caller registers it after this).
        if let Some(Slot::Waiting(waker)) = state.requests.get_mut(&id) {
            *waker = None;
        }
        let turn = Arc::clone(&state.turn);
        let mut read_cx = Context::from_waker(&self.read_waker);
        for _ in 0..TASK_READS {
            let Some((mut lent, want)) = state.reading.take() else {
                return state;
            };
            drop(state);
            turn.begin_read();
            let polled = reader.poll_read_buf(&mut read_cx, lent.buf_mut(), want);
            state = self.lock();
            match polled {
                Poll::Pending => {
                    state.put_back(lent);
                    if !turn.fired() {
                        return state;
                    }
                }
                Poll::Ready(Ok(got)) if got > 0 => {
                    let before = state.work_mark();
                    state.absorb(self.runtime.now(), lent, want, got);
                    if state.reading.reader.is_some() {
                        state.lend_for_read();
                    }
                    if state.conn.has_directive() {
                        state.wake_driver();
                    } else {
                        state.wake_driver_for_new_work(before);
                    }
                }
                Poll::Ready(result) => {
                    let reason = match result {
                        Err(e) => e.to_string(),
                        Ok(_) => "connection closed by server".to_owned(),
                    };
                    if state
                        .reading
                        .current(lent.epoch(), state.conn.socket_epoch())
                    {
                        state.reading.held = false;
                        state.reading.failed = Some((lent.epoch(), reason));
                        state.wake_driver();
                    }
                    return state;
                }
            }
        }
        // Still more to read: the driver goes on.
        state.wake_driver();
        state
    }
}

#[cfg(all(test, feature = "tokio"))]
mod tests {
    use std::collections::VecDeque;
    use std::io;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::BytesMut;

    use super::*;
    use crate::shared::tests::{connected, recorder, request, written};

    /// A waker that counts its wake-ups.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        (Arc::clone(&count), Waker::from(count))
    }

    fn woken(count: &Count) -> usize {
        count.0.load(Ordering::SeqCst)
    }

    /// A socket's read side that gives one queued chunk per read and otherwise has
    /// nothing. With `fire_once`, its first read that finds nothing reports readiness (bytes
    /// that arrived as it returned) and queues them.
    #[derive(Debug, Default)]
    struct Script {
        chunks: Mutex<VecDeque<Vec<u8>>>,
        fire_once: Mutex<Option<Vec<u8>>>,
        reads: AtomicUsize,
    }

    impl DirectRead for Script {
        fn poll_read_buf(
            &self,
            cx: &mut Context<'_>,
            buf: &mut BytesMut,
            max: usize,
        ) -> Poll<io::Result<usize>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if let Some(chunk) = self.chunks.lock().unwrap().pop_front() {
                assert!(chunk.len() <= max);
                buf.extend_from_slice(&chunk);
                return Poll::Ready(Ok(chunk.len()));
            }
            if let Some(late) = self.fire_once.lock().unwrap().take() {
                self.chunks.lock().unwrap().push_back(late);
                cx.waker().wake_by_ref();
            }
            Poll::Pending
        }
    }

    /// Shared state with one request in flight, a scripted read side with a buffer lent for
    /// it, and counting wakers for the driver and the request's task. Returns the reply's
    /// bytes as the server would send them.
    struct Setup {
        shared: Arc<Shared>,
        id: RequestId,
        script: Arc<Script>,
        driver: Arc<Count>,
        task: Arc<Count>,
        task_waker: Waker,
        reply: Vec<u8>,
    }

    fn setup() -> Setup {
        let direct = recorder(usize::MAX);
        let shared = connected(&direct);
        let id = request(&shared, "service");
        let sent = written(&direct);
        let sid = sent
            .lines()
            .find_map(|line| line.strip_prefix("SUB "))
            .and_then(|rest| rest.split(' ').nth(1))
            .expect("the inbox subscription");
        let inbox = sent
            .lines()
            .find_map(|line| line.strip_prefix("PUB service "))
            .and_then(|rest| rest.split(' ').next())
            .expect("the request");
        let reply = format!("MSG {inbox} {sid} 6\r\nanswer\r\n").into_bytes();
        let script = Arc::new(Script::default());
        let (driver, driver_waker) = counter();
        let (task, task_waker) = counter();
        {
            let mut state = shared.lock();
            state.reading.reader = Some(Arc::clone(&script) as Arc<dyn DirectRead>);
            assert!(state.lend_for_read());
            state.set_driver_waker(&driver_waker);
            state.turn.set_driver(&driver_waker);
        }
        Setup {
            shared,
            id,
            script,
            driver,
            task,
            task_waker,
            reply,
        }
    }

    impl Setup {
        /// The request's task polls, as its future does: it may read for its reply. True
        /// once the reply is in.
        fn poll(&self) -> bool {
            let mut cx = Context::from_waker(&self.task_waker);
            match self.shared.poll_reply(self.id, &mut cx) {
                Poll::Ready(reply) => {
                    assert_eq!(&reply.unwrap().unwrap().payload[..], b"answer");
                    true
                }
                Poll::Pending => false,
            }
        }

        fn readiness(&self) {
            self.shared.read_waker.wake_by_ref();
        }
    }

    #[test]
    fn the_lone_request_reads_its_reply_itself() {
        let s = setup();
        assert!(!s.poll(), "nothing to read yet");
        s.script.chunks.lock().unwrap().push_back(s.reply.clone());
        s.readiness();
        assert_eq!(
            (woken(&s.task), woken(&s.driver)),
            (1, 0),
            "the task is woken"
        );
        assert!(s.poll(), "the task read its reply");
        assert_eq!(woken(&s.task), 1, "its own reply woke it no more");
        assert_eq!(woken(&s.driver), 0, "the driver slept through it");
        // The reply gave the turn back: the next readiness is the driver's.
        s.readiness();
        assert_eq!((woken(&s.task), woken(&s.driver)), (1, 1));
    }

    #[test]
    fn readiness_during_a_read_that_found_nothing_is_read_at_once() {
        let s = setup();
        *s.script.fire_once.lock().unwrap() = Some(s.reply.clone());
        assert!(s.poll(), "read again after the readiness came");
        assert_eq!(s.script.reads.load(Ordering::SeqCst), 3);
        assert_eq!(woken(&s.driver), 0);
    }

    #[test]
    fn a_turn_given_back_after_readiness_wakes_the_driver() {
        let s = setup();
        assert!(!s.poll());
        // Readiness reaches the holder, which is dropped (or answered) before reading.
        s.readiness();
        assert_eq!(woken(&s.driver), 0);
        let driver = s.shared.lock().turn.release(s.id);
        driver.expect("the driver is owed the readiness").wake();
        assert_eq!(woken(&s.driver), 1);
        // Without readiness since the last read, giving the turn back wakes nobody.
        let s = setup();
        assert!(!s.poll());
        assert!(s.shared.lock().turn.release(s.id).is_none());
    }

    #[test]
    fn another_waiter_takes_the_turn_back_for_the_driver() {
        let s = setup();
        assert!(!s.poll());
        // A subscriber starts waiting: the holder keeps it no longer.
        s.shared.lock().turn_to_driver();
        s.readiness();
        assert_eq!((woken(&s.task), woken(&s.driver)), (0, 1));
        // A second request in flight (the driver is woken to send it): the first does not
        // take the turn again.
        request(&s.shared, "other");
        let before = woken(&s.driver);
        assert!(!s.poll());
        s.readiness();
        assert_eq!((woken(&s.task), woken(&s.driver)), (0, before + 1));
        // Nor does another task take it from a holder.
        let s = setup();
        assert!(!s.poll());
        let other_id = request(&s.shared, "other");
        let (other, other_waker) = counter();
        let turn = Arc::clone(&s.shared.lock().turn);
        assert!(!turn.claim(other_id, &other_waker));
        s.readiness();
        assert_eq!((woken(&s.task), woken(&other)), (1, 0));
    }

    #[test]
    fn a_failed_read_is_left_to_the_driver() {
        #[derive(Debug)]
        struct Reset;
        impl DirectRead for Reset {
            fn poll_read_buf(
                &self,
                _: &mut Context<'_>,
                _: &mut BytesMut,
                _: usize,
            ) -> Poll<io::Result<usize>> {
                Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()))
            }
        }
        let s = setup();
        s.shared.lock().reading.reader = Some(Arc::new(Reset));
        assert!(!s.poll());
        let state = s.shared.lock();
        let epoch = state.conn.socket_epoch();
        assert!(matches!(&state.reading.failed, Some((e, _)) if *e == epoch));
        drop(state);
        assert_eq!(woken(&s.driver), 1, "the driver is woken to reconnect");
    }
}
