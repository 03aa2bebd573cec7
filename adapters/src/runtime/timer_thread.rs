//! Timers for the runtimes built on async-io (smol, async-std), served by one background
//! thread instead of async-io's reactor.
//!
//! Why: async-io keeps its timers in the reactor, and every reactor turn made while any timer
//! is registered allocates (it splits its timer tree in two). A client always has a deadline
//! (the keep-alive ping), so every wake-up of the runtime would cost allocations, about four
//! per request. Here a deadline costs nothing until it is due: the thread sleeps until the
//! earliest one and wakes the task that waits on it.
//!
//! Invariant: a task is woken only once its timer's deadline has passed (the thread checks
//! the clock after every wait, spurious or not), a timer reset or dropped before then is not
//! woken for its old deadline, and in steady state (timers reset and polled again and again)
//! nothing allocates: the heap, the map and the list of wakers keep their capacity.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::AsyncTimer;

/// The service: deadlines under one lock, and the condition the thread sleeps on.
struct Service {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// Deadlines by time; an entry whose timer was reset or dropped meanwhile is skipped.
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    /// The timers waiting now: their deadline and the waker to call at it.
    waiting: HashMap<u64, (Instant, Waker)>,
    next_id: u64,
}

static SERVICE: OnceLock<&'static Service> = OnceLock::new();

fn service() -> &'static Service {
    SERVICE.get_or_init(|| {
        let service: &'static Service = Box::leak(Box::new(Service {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("nats-client-timers".into())
            .spawn(move || service.run())
            .expect("the timer thread starts");
        service
    })
}

impl Service {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state inconsistent: every change
        // is a single insert or remove.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The thread: wakes the timers that are due, then sleeps until the next deadline or a
    /// new earlier one.
    fn run(&self) {
        let mut due: Vec<Waker> = Vec::new();
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            while let Some(&Reverse((at, id))) = state.heap.peek() {
                if at > now {
                    break;
                }
                state.heap.pop();
                if state
                    .waiting
                    .get(&id)
                    .is_some_and(|(wanted, _)| *wanted == at)
                {
                    if let Some((_, waker)) = state.waiting.remove(&id) {
                        due.push(waker);
                    }
                }
            }
            let next = state.heap.peek().map(|Reverse((at, _))| *at);
            if !due.is_empty() {
                drop(state);
                for waker in due.drain(..) {
                    waker.wake();
                }
                state = self.lock();
                continue;
            }
            state = match next {
                None => self.changed.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(at) => {
                    let wait = at.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(state, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }
}

/// One timer of the service.
#[derive(Debug)]
pub(crate) struct ThreadTimer {
    id: u64,
    at: Instant,
}

impl ThreadTimer {
    /// A timer for `at`.
    pub(crate) fn new(at: Instant) -> ThreadTimer {
        let mut state = service().lock();
        state.next_id += 1;
        ThreadTimer {
            id: state.next_id,
            at,
        }
    }
}

impl AsyncTimer for ThreadTimer {
    fn reset(self: Pin<&mut Self>, at: Instant) {
        // The registration follows at the next poll; a waiting one for the old deadline is
        // then replaced.
        self.get_mut().at = at;
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let service = service();
        if Instant::now() >= this.at {
            service.lock().waiting.remove(&this.id);
            return Poll::Ready(());
        }
        let mut state = service.lock();
        match state.waiting.get_mut(&this.id) {
            Some((at, waker)) if *at == this.at => {
                if !waker.will_wake(cx.waker()) {
                    *waker = cx.waker().clone();
                }
            }
            _ => {
                state.waiting.insert(this.id, (this.at, cx.waker().clone()));
                let earliest = state
                    .heap
                    .peek()
                    .is_none_or(|Reverse((at, _))| this.at < *at);
                state.heap.push(Reverse((this.at, this.id)));
                if earliest {
                    service.changed.notify_one();
                }
            }
        }
        Poll::Pending
    }
}

impl Drop for ThreadTimer {
    fn drop(&mut self) {
        service().lock().waiting.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;
    use std::time::Duration;

    use super::*;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn until(what: &str, cond: impl Fn() -> bool) {
        let limit = Instant::now() + Duration::from_secs(20);
        while !cond() {
            assert!(Instant::now() < limit, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_timer_wakes_its_task_once_due_and_is_ready_then() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let at = Instant::now() + Duration::from_millis(30);
        let mut timer = ThreadTimer::new(at);
        assert!(Pin::new(&mut timer).poll(&mut cx).is_pending());
        until("the wake-up", || count.0.load(Ordering::SeqCst) == 1);
        assert!(Instant::now() >= at, "never woken early");
        assert!(Pin::new(&mut timer).poll(&mut cx).is_ready());
    }

    #[test]
    fn a_reset_timer_is_woken_for_its_new_deadline_only() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut timer = ThreadTimer::new(Instant::now() + Duration::from_millis(20));
        assert!(Pin::new(&mut timer).poll(&mut cx).is_pending());
        // Pushed back before it fired: the old deadline passes without a wake-up.
        let later = Instant::now() + Duration::from_millis(150);
        Pin::new(&mut timer).reset(later);
        assert!(Pin::new(&mut timer).poll(&mut cx).is_pending());
        until("the wake-up", || count.0.load(Ordering::SeqCst) >= 1);
        assert!(Instant::now() >= later, "woken for the old deadline");
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_dropped_timer_wakes_nobody() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut timer = ThreadTimer::new(Instant::now() + Duration::from_millis(10));
        assert!(Pin::new(&mut timer).poll(&mut cx).is_pending());
        drop(timer);
        // A second timer due later proves the thread went past the first deadline.
        let witness = Arc::new(Count(AtomicUsize::new(0)));
        let witness_waker = Waker::from(witness.clone());
        let mut witness_cx = Context::from_waker(&witness_waker);
        let mut later = ThreadTimer::new(Instant::now() + Duration::from_millis(40));
        assert!(Pin::new(&mut later).poll(&mut witness_cx).is_pending());
        until("the later timer", || witness.0.load(Ordering::SeqCst) == 1);
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }
}
