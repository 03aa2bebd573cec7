//! The one driver of every machine above the connection ([`nats_sansio::machine::Machine`]):
//! JetStream consumers today, the key-value watcher and the others next.
//!
//! Invariant: this file decides nothing about any protocol. It carries out each output in
//! the order the machine gave it (subscribe, unsubscribe, publish, request, deliver), hands
//! back every message of the machine's subscriptions (older subscriptions first), every
//! request's reply or failure, every link change read from the connection's epoch and every
//! deadline, and yields what the machine delivers. Dropped, it stops the machine and still
//! sends the cleanups the machine asks for.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::Stream;
use nats_sansio::connection::SubscribeError;
use nats_sansio::machine::{Link, Machine, Output, Publish};

use crate::client::PendingReply;
use crate::link::LinkWatch;
use crate::runtime::DeadlineTimer;
use crate::{Client, Request, Subscriber};

/// How many messages already at hand a machine is handed on one reading of the clock.
const MESSAGE_BATCH: usize = 64;

/// A machine driven on the client's connection, yielding what it delivers; `E` is the
/// application's error type for the machine's errors and failed subscriptions.
pub(crate) struct MachineStream<M: Machine, E> {
    client: Client,
    machine: M,
    /// The machine's subscriptions, oldest first.
    subscriptions: Vec<(String, Subscriber)>,
    /// Requests waiting for their replies, by the machine's token.
    requests: Vec<(u64, PendingReply)>,
    link: LinkWatch,
    timer: DeadlineTimer,
    request_timeout: Duration,
    ready: VecDeque<Result<M::Item, E>>,
    finished: bool,
}

impl<M: Machine, E> std::fmt::Debug for MachineStream<M, E>
where
    M: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MachineStream")
            .field("machine", &self.machine)
            .field("requests_in_flight", &self.requests.len())
            .finish_non_exhaustive()
    }
}

impl<M, E> MachineStream<M, E>
where
    M: Machine,
    E: From<M::Error> + From<SubscribeError>,
{
    /// Drives `machine` on `client`'s connection; its requests time out after
    /// `request_timeout`.
    fn new(client: Client, machine: M, request_timeout: Duration) -> Self {
        let runtime = Arc::clone(&client.shared_state().runtime);
        MachineStream {
            link: LinkWatch::new(Arc::clone(client.shared_state())),
            timer: DeadlineTimer::new(runtime.as_ref()),
            client,
            machine,
            subscriptions: Vec::new(),
            requests: Vec::new(),
            request_timeout,
            ready: VecDeque::new(),
            finished: false,
        }
    }

    /// Drives `machine` on `client`'s connection and carries out its set-up (subscriptions,
    /// first requests) before returning, so that a refusal is the caller's error.
    pub(crate) async fn start(
        client: Client,
        machine: M,
        request_timeout: Duration,
    ) -> Result<Self, E> {
        let mut stream = MachineStream::new(client, machine, request_timeout);
        stream.settle().await?;
        Ok(stream)
    }

    /// The machine, for its getters.
    pub(crate) fn machine(&self) -> &M {
        &self.machine
    }

    /// Hands the machine an input of its own, beyond the shared shape (a put's next bytes,
    /// a get's consumed chunk), then carries out what it asks.
    pub(crate) fn feed(&mut self, input: impl FnOnce(&mut M, Instant)) {
        let now = self.now();
        input(&mut self.machine, now);
        self.carry_out();
    }

    fn now(&self) -> Instant {
        self.client.shared_state().runtime.now()
    }

    /// Carries out every output the machine has.
    fn carry_out(&mut self) {
        while let Some(output) = self.machine.poll_output() {
            match output {
                Output::Subscribe {
                    subject,
                    queue_group,
                } => match self
                    .client
                    .subscribe_inner(&subject, queue_group.as_deref())
                {
                    Ok(subscriber) => self.subscriptions.push((subject, subscriber)),
                    Err(e) => self.ready.push_back(Err(e.into())),
                },
                Output::Unsubscribe { subject } => {
                    // Dropping the subscriber unsubscribes.
                    self.subscriptions.retain(|(s, _)| *s != subject);
                }
                Output::Publish(message) => publish(&self.client, message),
                Output::Request {
                    token,
                    subject,
                    payload,
                } => {
                    let request = Request::new()
                        .payload(payload)
                        .timeout(self.request_timeout);
                    match self.client.start_request(&subject, request) {
                        Ok(reply) => self.requests.push((token, reply)),
                        Err(e) => {
                            let now = self.now();
                            self.machine.handle_reply(now, token, Err(e));
                        }
                    }
                }
                Output::Deliver(item) => self.ready.push_back(Ok(item)),
                Output::Error(error) => self.ready.push_back(Err(error.into())),
                Output::Finished => self.finished = true,
            }
        }
    }

    /// Hands the machine one input (a link change, a reply, a message, its deadline), or
    /// registers for the next.
    fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let change = self.link.poll(cx);
        if change.any() {
            let now = self.now();
            if change.down {
                self.machine.handle_link(now, Link::Down);
            }
            if change.up {
                self.machine.handle_link(now, Link::Up);
            }
            return Poll::Ready(());
        }
        for i in 0..self.requests.len() {
            if let Poll::Ready(reply) = Pin::new(&mut self.requests[i].1).poll(cx) {
                let (token, _) = self.requests.remove(i);
                let now = self.now();
                self.machine.handle_reply(now, token, reply);
                return Poll::Ready(());
            }
        }
        for i in 0..self.subscriptions.len() {
            match Pin::new(&mut self.subscriptions[i].1).poll_next(cx) {
                Poll::Ready(Some(message)) => {
                    // What the subscriber took with it goes in too, on the same reading of
                    // the clock: one reading and one pass through here per batch.
                    let now = self.now();
                    self.machine.handle_message(now, message);
                    for _ in 1..MESSAGE_BATCH {
                        let Some(message) = self.subscriptions[i].1.next_taken() else {
                            break;
                        };
                        self.machine.handle_message(now, message);
                    }
                    return Poll::Ready(());
                }
                Poll::Ready(None) => {
                    // Ended (the connection closed or drained, the server refused it): the
                    // others may still deliver. With none left, nothing more can arrive
                    // while the machine still expects something: that is an error.
                    self.subscriptions.remove(i);
                    if self.subscriptions.is_empty() {
                        self.ready.push_back(Err(SubscribeError::Closed.into()));
                        self.finished = true;
                    }
                    return Poll::Ready(());
                }
                Poll::Pending => {}
            }
        }
        let now = self.now();
        if self
            .timer
            .poll(cx, self.machine.poll_timeout(), now)
            .is_ready()
        {
            self.machine.handle_timeout(self.now());
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// The next item, error or end.
    pub(crate) fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<M::Item, E>>> {
        loop {
            self.carry_out();
            if let Some(item) = self.ready.pop_front() {
                return Poll::Ready(Some(item));
            }
            if self.finished {
                return Poll::Ready(None);
            }
            if self.poll_input(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }

    /// The next item, with the client attached (a message that can be acknowledged, for
    /// example).
    pub(crate) fn poll_item_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        attach: impl FnOnce(Client, M::Item) -> T,
    ) -> Poll<Option<Result<T, E>>> {
        self.poll_item(cx)
            .map(|item| item.map(|result| result.map(|item| attach(self.client.clone(), item))))
    }

    /// Drives the machine until no request is in flight (its set-up calls answered): the
    /// first error it reports is the set-up's failure. Items delivered meanwhile are kept.
    async fn settle(&mut self) -> Result<(), E> {
        std::future::poll_fn(|cx| loop {
            self.carry_out();
            if let Some(position) = self.ready.iter().position(Result::is_err) {
                if let Some(Err(error)) = self.ready.remove(position) {
                    return Poll::Ready(Err(error));
                }
            }
            if self.requests.is_empty() || self.finished {
                return Poll::Ready(Ok(()));
            }
            if self.poll_input(cx).is_pending() {
                return Poll::Pending;
            }
        })
        .await
    }
}

impl<M: Machine, E> Drop for MachineStream<M, E> {
    fn drop(&mut self) {
        self.machine.stop();
        while let Some(output) = self.machine.poll_output() {
            match output {
                Output::Publish(message) => publish(&self.client, message),
                // A cleanup (a consumer deletion): sent; nobody reads its reply.
                Output::Request {
                    subject, payload, ..
                } => {
                    let request = Request::new().payload(payload);
                    drop(self.client.start_request(&subject, request));
                }
                _ => {}
            }
        }
    }
}

/// Queues a machine's publish without waiting for room; a failure is the machine's to
/// notice (its timers catch what never arrives).
pub(crate) fn publish(client: &Client, message: Publish) {
    let Publish {
        subject,
        reply,
        headers,
        payload,
    } = message;
    let _ = client.shared_state().command(|state| {
        state
            .conn
            .publish(&subject, reply.as_deref(), headers.as_ref(), payload)
    });
}
