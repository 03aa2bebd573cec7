//! `Client`: the handle user tasks hold, cheap to clone, shared across tasks and threads.
//!
//! Invariant: a command takes the lock, runs the machine's verb, and wakes the driver only
//! when the machine has new work; the connection closes when the last `Client` clone and the
//! last `Subscriber` are dropped (each subscriber holds a client; event streams do not).

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use nats_sansio::connection::{
    ConnectionError, ConnectionState, FlushError, PublishError, RequestError, RequestId,
    ServerStatus, Statistics, SubscribeError,
};
use nats_sansio::proto::{HeaderMap, Message, ServerInfo};
use nats_sansio::Connection;

use crate::driver::Driver;
use crate::error::{CloseError, ConnectError};
use crate::events::Events;
use crate::options::ConnectOptions;
use crate::runtime::Runtime;
use crate::shared::{poll_first_connect, poll_slot, Shared, Slot};
use crate::subscriber::Subscriber;
use crate::ToServerAddrs;

/// A connection to NATS. Clone it freely; every clone talks to the same connection, which
/// closes (after writing what is queued) when the last clone and the last
/// [`Subscriber`] are dropped.
#[derive(Debug, Clone)]
pub struct Client {
    handle: Arc<Handle>,
}

/// Owned by the clones; its drop is the last clone's drop.
#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
    max_pending: usize,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let now = self.shared.runtime.now();
        let state = &mut *self.shared.lock();
        state.conn.close(now);
        state.wake_driver();
    }
}

/// A request with options, made by [`Client::request_builder`].
#[derive(Debug, Default, Clone)]
pub struct Request {
    payload: Bytes,
    headers: Option<HeaderMap>,
    timeout: Option<Duration>,
}

impl Request {
    /// An empty request.
    pub fn new() -> Request {
        Request::default()
    }

    /// The payload.
    pub fn payload(mut self, payload: Bytes) -> Request {
        self.payload = payload;
        self
    }

    /// Headers to send.
    pub fn headers(mut self, headers: HeaderMap) -> Request {
        self.headers = Some(headers);
        self
    }

    /// Timeout of this request (instead of the client's default).
    pub fn timeout(mut self, timeout: Duration) -> Request {
        self.timeout = Some(timeout);
        self
    }
}

impl Client {
    pub(crate) async fn connect(
        options: ConnectOptions,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Client, ConnectError> {
        let wait_for_connect = !options.options.retry_on_initial_connect;
        let mut machine_options = options.options.clone();
        crate::entropy::fill_seed(&mut machine_options);
        let conn = Connection::new(machine_options, runtime.now())?;
        let shared = Shared::new(conn, Arc::clone(&runtime));
        runtime.spawn(Box::pin(Driver::new(Arc::clone(&shared), &options)));
        let client = Client {
            handle: Arc::new(Handle {
                shared,
                max_pending: options.max_pending_bytes,
            }),
        };
        // With `retry_on_initial_connect` the client is returned at once and connects in the
        // background (publishes are buffered meanwhile).
        if wait_for_connect {
            poll_fn(|cx| poll_first_connect(&mut client.shared().lock().first_connect, cx)).await?;
        }
        Ok(client)
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    fn now(&self) -> std::time::Instant {
        self.shared().runtime.now()
    }

    /// Publishes a message.
    ///
    /// Returns once the message is encoded into the outbound queue (it waits only while the
    /// queue is over [`ConnectOptions::max_pending_bytes`](crate::ConnectOptions::max_pending_bytes)); the driver writes
    /// it. Call [`flush`](Self::flush) to know the server has it. The subject and the size
    /// (against the server's `max_payload`) are checked here, as typed [`PublishError`]s.
    /// While disconnected, the publish is kept in the reconnect buffer and sent after the
    /// reconnect.
    ///
    /// ```no_run
    /// # async fn run(client: nats_client::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.publish("events.created", "hello".into()).await?;
    /// client.publish("events.created", vec![1u8, 2, 3].into()).await?; // a `Bytes`, as in async-nats
    /// client.flush().await?; // the server has both
    /// # Ok(())
    /// # }
    /// ```
    pub async fn publish(
        &self,
        subject: impl AsRef<str>,
        payload: Bytes,
    ) -> Result<(), PublishError> {
        self.publish_message(subject.as_ref(), None, None, payload)
            .await
    }

    /// Publishes a message with a reply subject.
    pub async fn publish_with_reply(
        &self,
        subject: impl AsRef<str>,
        reply: impl AsRef<str>,
        payload: Bytes,
    ) -> Result<(), PublishError> {
        let reply = Some(reply.as_ref());
        self.publish_message(subject.as_ref(), reply, None, payload)
            .await
    }

    /// Publishes a message with headers.
    pub async fn publish_with_headers(
        &self,
        subject: impl AsRef<str>,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<(), PublishError> {
        self.publish_message(subject.as_ref(), None, Some(&headers), payload)
            .await
    }

    /// Publishes a message with a reply subject and headers.
    pub async fn publish_with_reply_and_headers(
        &self,
        subject: impl AsRef<str>,
        reply: impl AsRef<str>,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<(), PublishError> {
        let reply = Some(reply.as_ref());
        self.publish_message(subject.as_ref(), reply, Some(&headers), payload)
            .await
    }

    /// Encodes the publish into the outbound queue, waiting while the queue is over the
    /// pending limit.
    async fn publish_message(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&HeaderMap>,
        payload: Bytes,
    ) -> Result<(), PublishError> {
        let max_pending = self.handle.max_pending;
        // Moved into the machine once, so publishing never clones (or allocates for) it.
        let mut payload = Some(payload);
        poll_fn(|cx| {
            let state = &mut *self.shared().lock();
            let pending = state.conn.pending_bytes();
            if pending >= max_pending && state.conn.state() == ConnectionState::Connected {
                state.waiting_for_room.push(cx.waker().clone());
                state.wake_driver();
                return Poll::Pending;
            }
            let Some(payload) = payload.take() else {
                return Poll::Ready(Ok(()));
            };
            let result = state.conn.publish(subject, reply, headers, payload);
            if pending == 0 && state.conn.pending_bytes() > 0 {
                state.wake_driver();
            }
            Poll::Ready(result)
        })
        .await
    }

    /// Subscribes to a subject (wildcards allowed).
    ///
    /// The [`Subscriber`] is a `Stream` of [`Message`]s; dropping it unsubscribes. It keeps
    /// the connection open, and the subscription is restored after every reconnect.
    ///
    /// ```no_run
    /// # async fn run(client: nats_client::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use futures_lite::StreamExt;
    ///
    /// let mut sub = client.subscribe("orders.>").await?;
    /// while let Some(message) = sub.next().await {
    ///     println!("{}: {:?}", message.subject, message.payload);
    ///     if let Some(reply) = &message.reply {
    ///         client.publish(reply, "got it".into()).await?;
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn subscribe(&self, subject: impl AsRef<str>) -> Result<Subscriber, SubscribeError> {
        self.subscribe_inner(subject.as_ref(), None)
    }

    /// Subscribes as a member of a queue group: each message goes to one member.
    pub async fn queue_subscribe(
        &self,
        subject: impl AsRef<str>,
        queue_group: impl AsRef<str>,
    ) -> Result<Subscriber, SubscribeError> {
        self.subscribe_inner(subject.as_ref(), Some(queue_group.as_ref()))
    }

    pub(crate) fn subscribe_inner(
        &self,
        subject: &str,
        queue_group: Option<&str>,
    ) -> Result<Subscriber, SubscribeError> {
        let sid = self
            .shared()
            .command(|state| state.conn.subscribe(subject, queue_group))?;
        Ok(Subscriber::new(self.clone(), sid))
    }

    /// Sends a request and waits for the first reply (the client's default timeout).
    ///
    /// All requests share one inbox subscription. With nobody listening the server answers
    /// at once and this returns [`RequestError::NoResponders`]; with no reply in time,
    /// [`RequestError::TimedOut`]. For headers or a per-request timeout, use
    /// [`send_request`](Self::send_request).
    ///
    /// ```no_run
    /// # async fn run(client: nats_client::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use nats_client::{error::RequestError, Request};
    ///
    /// match client.request("service.time", "now?".into()).await {
    ///     Ok(reply) => println!("{:?}", reply.payload),
    ///     Err(RequestError::NoResponders) => println!("nobody serves service.time"),
    ///     Err(error) => return Err(error.into()),
    /// }
    ///
    /// let request = Request::new().payload("now?".into()).timeout(Duration::from_millis(500));
    /// let reply = client.send_request("service.time", request).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn request(
        &self,
        subject: impl AsRef<str>,
        payload: Bytes,
    ) -> Result<Message, RequestError> {
        self.send_request(subject, Request::new().payload(payload))
            .await
    }

    /// A request with headers; otherwise as [`request`](Self::request).
    pub async fn request_with_headers(
        &self,
        subject: impl AsRef<str>,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<Message, RequestError> {
        self.send_request(subject, Request::new().headers(headers).payload(payload))
            .await
    }

    /// A request builder: headers, timeout.
    pub fn request_builder(&self) -> Request {
        Request::new()
    }

    /// Sends a request built with [`Request`].
    pub async fn send_request(
        &self,
        subject: impl AsRef<str>,
        request: Request,
    ) -> Result<Message, RequestError> {
        self.start_request(subject.as_ref(), request)?.await
    }

    /// Issues a request now and returns the future of its reply, so several can be in
    /// flight in the order they were issued.
    pub(crate) fn start_request(
        &self,
        subject: &str,
        request: Request,
    ) -> Result<PendingReply, RequestError> {
        let now = self.now();
        let Request {
            payload,
            headers,
            timeout,
        } = request;
        let id = self.shared().command_and_write(|state| {
            let id = state
                .conn
                .request(now, subject, headers.as_ref(), payload, timeout)?;
            state.requests.insert(id, Slot::Waiting(None));
            Ok::<_, RequestError>(id)
        })?;
        Ok(PendingReply {
            shared: Arc::clone(self.shared()),
            id,
            answered: false,
        })
    }

    /// Issues a JetStream publish once fewer than `max_in_flight` of the client's JetStream
    /// publishes await their ack. The payload is borrowed: the caller keeps it for retries.
    pub(crate) fn poll_start_ack_request(
        &self,
        cx: &mut std::task::Context<'_>,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: &Bytes,
        timeout: Duration,
        max_in_flight: usize,
    ) -> Poll<Result<PendingReply, RequestError>> {
        let now = self.now();
        let mut state = self.shared().lock();
        if !state.acks_in_flight.has_room(max_in_flight) && state.closed.is_none() {
            state.waiting_for_ack_room.push(cx.waker().clone());
            return Poll::Pending;
        }
        let before = state.work_mark();
        let id = state
            .conn
            .request_borrowed(now, subject, headers, payload, Some(timeout))?;
        state.requests.insert(id, Slot::Waiting(None));
        state.acks_in_flight.enter(id);
        self.shared().write_now(state, before);
        Poll::Ready(Ok(PendingReply {
            shared: Arc::clone(self.shared()),
            id,
            answered: false,
        }))
    }

    pub(crate) fn shared_state(&self) -> &Arc<Shared> {
        self.shared()
    }

    /// A PING/PONG round trip: when it returns, the server has everything sent before.
    pub async fn flush(&self) -> Result<(), FlushError> {
        let now = self.now();
        let id = self.shared().command(|state| {
            let id = state.conn.flush(now, None)?;
            state.flushes.insert(id, Slot::Waiting(None));
            Ok::<_, FlushError>(id)
        })?;
        poll_fn(|cx| {
            let mut state = self.shared().lock();
            let polled = poll_slot(&mut state.flushes, id, cx);
            if polled.is_pending() {
                state.turn_to_driver();
            }
            polled
        })
        .await
        .unwrap_or(Err(FlushError::Closed))
    }

    /// The round-trip time of a flush.
    pub async fn rtt(&self) -> Result<Duration, FlushError> {
        let start = self.now();
        self.flush().await?;
        Ok(self.now().saturating_duration_since(start))
    }

    /// Unsubscribes everything, lets messages in flight arrive, then closes. Subscribers
    /// still yield what they had queued. Accepted publishes are written before the close;
    /// those that never can be are reported as for [`close`](Self::close).
    pub async fn drain(&self) -> Result<(), CloseError> {
        let now = self.now();
        self.shared().command(|state| {
            state.conn.drain(now);
            state.wake_driver();
        });
        self.closed().await
    }

    /// Drops the current connection and connects again at once, to the next server of the
    /// pool, as after a lost connection (subscriptions restored, requests in flight failed
    /// with `Disconnected`); the events stream tells `Disconnected` then `Reconnected`. Does
    /// nothing unless connected.
    pub async fn force_reconnect(&self) {
        let now = self.now();
        self.shared().command(|state| {
            state.conn.force_reconnect(now);
            state.wake_driver();
        });
    }

    /// Every server of the pool, discovered ones included, in the order they are tried,
    /// with its failed attempts, whether it was ever connected to and its last error.
    pub fn server_pool(&self) -> Vec<ServerStatus> {
        self.shared().lock().conn.server_pool()
    }

    /// Replaces the server pool, as async-nats's `set_server_pool`: later connects go to
    /// these servers, each with its attempts reset. The connection in use stays up
    /// ([`force_reconnect`](Self::force_reconnect) moves it now).
    ///
    /// # Errors
    ///
    /// An invalid or empty list, or a closed client; the pool is then unchanged.
    pub async fn set_server_pool(&self, servers: impl ToServerAddrs) -> Result<(), ConnectError> {
        let servers = servers.to_server_addrs()?;
        let now = self.now();
        self.shared().command(|state| {
            let result = state.conn.set_server_pool(now, servers);
            state.wake_driver();
            result
        })?;
        Ok(())
    }

    /// Closes the connection and waits until it is closed.
    ///
    /// While connected, publishes already accepted are written first (for up to the drain
    /// timeout). While disconnected, the publishes kept in the reconnect buffer cannot be
    /// sent: they are discarded, and `close` returns [`CloseError::Unsent`] with their count
    /// (also in [`ClientEvent::Closed`](crate::ClientEvent::Closed)) instead of `Ok`. After
    /// the connection closed by itself (reconnects exhausted, for example), `close` returns
    /// why, with the count of publishes that closing cost.
    pub async fn close(&self) -> Result<(), CloseError> {
        let now = self.now();
        self.shared().command(|state| {
            state.conn.close(now);
            state.wake_driver();
        });
        self.closed().await
    }

    /// Waits until the connection is closed.
    async fn closed(&self) -> Result<(), CloseError> {
        poll_fn(|cx| {
            let state = &mut *self.shared().lock();
            match &state.closed {
                Some(closed) => Poll::Ready(closed.outcome()),
                None => {
                    state.waiting_for_close.push(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Counters kept across reconnects.
    pub fn statistics(&self) -> Statistics {
        self.shared().lock().conn.statistics()
    }

    /// The server's last INFO.
    pub fn server_info(&self) -> Option<ServerInfo> {
        self.shared().lock().conn.server_info().cloned()
    }

    /// The largest message the server accepts.
    pub fn max_payload(&self) -> usize {
        self.shared().lock().conn.max_payload()
    }

    /// Connected, reconnecting, or closed.
    pub fn connection_state(&self) -> ConnectionState {
        self.shared().lock().conn.state()
    }

    /// A new unique inbox subject.
    pub fn new_inbox(&self) -> String {
        self.shared().lock().conn.new_inbox()
    }

    /// A stream of connection events (connected, disconnected, lame duck, slow consumer,
    /// ...), from now on.
    pub fn events(&self) -> Events {
        Events::new(Arc::clone(self.shared()))
    }

    /// The reason the connection closed, if it did.
    pub fn close_reason(&self) -> Option<Option<ConnectionError>> {
        self.shared()
            .lock()
            .closed
            .as_ref()
            .map(|closed| closed.reason.clone())
    }
}

/// The reply to a request issued with `start_request`; dropping it forgets the request.
#[derive(Debug)]
pub(crate) struct PendingReply {
    shared: Arc<Shared>,
    id: RequestId,
    /// Its reply was taken: the dispatch that filled the slot already gave back the read
    /// turn and counted the ack, and taking it removed the slot, so nothing is left to
    /// forget.
    answered: bool,
}

impl std::future::Future for PendingReply {
    type Output = Result<Message, RequestError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Self::Output> {
        // The only request in flight reads its reply itself, when it may.
        let Poll::Ready(reply) = self.shared.poll_reply(self.id, cx) else {
            return Poll::Pending;
        };
        self.answered = reply.is_some();
        Poll::Ready(reply.unwrap_or(Err(RequestError::Closed)))
    }
}

impl Drop for PendingReply {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let state = &mut *self.shared.lock();
        if let Some(driver) = state.turn.release(self.id) {
            state.wakes.push(driver);
        }
        state.ack_arrived(self.id);
        if state.requests.remove(&self.id).is_some() {
            state.conn.cancel_request(self.id);
        }
    }
}
