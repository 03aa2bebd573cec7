//! Batched Direct Get: every message of a `batch` or `multi_last` request, as a stream that
//! ends at the server's `204 EOB`: the core's `DirectBatch` machine on the generic driver.
//!
//! Invariant: nothing here decides which reply is a message, an ending or an error; this
//! file names a fresh inbox and the request's timeout.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use nats_sansio::jetstream::api::DirectGetRequest;
use nats_sansio::jetstream::consume::DirectBatch;
use nats_sansio::jetstream::direct::{DirectMessage, EndOfBatch};

use super::{Context, JetStreamError};
use crate::machine_stream::MachineStream;

/// The messages of a batched Direct Get, in stream order, then the end (see
/// [`Stream::direct_get_batch`](super::Stream::direct_get_batch)). An error (no message
/// found, a refused request, a timeout) is the last item.
#[derive(Debug)]
pub struct DirectGetBatch {
    inner: MachineStream<DirectBatch, JetStreamError>,
}

impl DirectGetBatch {
    /// Subscribes a fresh inbox and sends the request with it as the reply.
    pub(crate) async fn start(
        context: Context,
        stream: &str,
        request: &DirectGetRequest,
    ) -> Result<DirectGetBatch, JetStreamError> {
        let client = context.client().clone();
        let now = client.shared_state().runtime.now();
        let machine = DirectBatch::new(
            now,
            context.prefix(),
            stream,
            client.new_inbox(),
            request,
            context.timeout(),
        )?;
        let inner = MachineStream::start(client, machine, context.timeout()).await?;
        Ok(DirectGetBatch { inner })
    }

    /// The batch's end: how many messages still match after it, the last sequence sent and
    /// (for `multi_last`) the sequence the answer is as of. `None` until the stream ended, or
    /// when it ended otherwise (an error, an old server that does not batch).
    pub fn end_of_batch(&self) -> Option<EndOfBatch> {
        self.inner.machine().end_of_batch()
    }
}

impl futures_lite::Stream for DirectGetBatch {
    type Item = Result<DirectMessage, JetStreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_item(cx)
    }
}
