//! Batched Direct Get: every message of a `batch` or `multi_last` request, as a stream that
//! ends at the server's `204 EOB`.
//!
//! Invariant: this file only wires the core's `DirectGet` machine to IO: the request is
//! published with a fresh inbox (subscribed first) as its reply, every reply on the inbox goes
//! to the machine in arrival order, what it hands out is yielded, and its deadline is a
//! runtime timer. Which reply is a message, an ending or an error is the machine's decision.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use nats_sansio::jetstream::api::DirectGetRequest;
use nats_sansio::jetstream::direct::{DirectGet, DirectMessage, EndOfBatch};

use super::{Context, JetStreamError};
use crate::runtime::DeadlineTimer;
use crate::Subscriber;

/// The messages of a batched Direct Get, in stream order, then the end (see
/// [`Stream::direct_get_batch`](super::Stream::direct_get_batch)). An error (no message
/// found, a refused request, a timeout) is the last item.
pub struct DirectGetBatch {
    context: Context,
    machine: DirectGet,
    subscriber: Subscriber,
    timer: DeadlineTimer,
}

impl std::fmt::Debug for DirectGetBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectGetBatch")
            .field("received", &self.machine.received())
            .field("finished", &self.machine.is_finished())
            .finish_non_exhaustive()
    }
}

impl DirectGetBatch {
    /// Subscribes a fresh inbox and sends the request with it as the reply.
    pub(crate) async fn start(
        context: Context,
        subject: String,
        request: &DirectGetRequest,
    ) -> Result<DirectGetBatch, JetStreamError> {
        let body =
            serde_json::to_vec(request).map_err(|e| JetStreamError::Malformed(e.to_string()))?;
        let client = context.client().clone();
        let inbox = client.new_inbox();
        let subscriber = client.subscribe(&inbox).await?;
        let runtime = Arc::clone(&client.shared_state().runtime);
        let machine = DirectGet::new(runtime.now(), request, context.timeout());
        client
            .publish_with_reply(&subject, &inbox, Bytes::from(body))
            .await?;
        Ok(DirectGetBatch {
            context,
            machine,
            subscriber,
            timer: DeadlineTimer::new(runtime.as_ref()),
        })
    }

    /// The batch's end: how many messages still match after it, the last sequence sent and
    /// (for `multi_last`) the sequence the answer is as of. `None` until the stream ended, or
    /// when it ended otherwise (an error, an old server that does not batch).
    pub fn end_of_batch(&self) -> Option<EndOfBatch> {
        self.machine.end_of_batch()
    }
}

impl futures_lite::Stream for DirectGetBatch {
    type Item = Result<DirectMessage, JetStreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.machine.is_finished() {
                return Poll::Ready(None);
            }
            let runtime = &this.context.client().shared_state().runtime;
            match Pin::new(&mut this.subscriber).poll_next(cx) {
                Poll::Ready(Some(message)) => {
                    match this.machine.handle_message(runtime.now(), message) {
                        Some(item) => return Poll::Ready(Some(item.map_err(Into::into))),
                        None => continue,
                    }
                }
                Poll::Ready(None) => {
                    return Poll::Ready(Some(Err(JetStreamError::Request(
                        nats_sansio::connection::RequestError::Closed,
                    ))))
                }
                Poll::Pending => {}
            }
            let now = runtime.now();
            if this
                .timer
                .poll(cx, this.machine.poll_timeout(), now)
                .is_ready()
            {
                if let Some(error) = this.machine.handle_timeout(runtime.now()) {
                    return Poll::Ready(Some(Err(error.into())));
                }
                continue;
            }
            return Poll::Pending;
        }
    }
}
