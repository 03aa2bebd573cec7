//! Reading an object: the core's get machine delivers its chunks in order within a byte
//! budget; [`Object`] hands them to the application as an async reader.
//!
//! Invariant: a chunk counts against the machine's budget until the reader has copied all of
//! it out, so the memory of a read is the budget (a few chunks) however slowly the
//! application reads; the end of the object is reported only after the machine checked the
//! size and the digest, and a mismatch is the reader's error, never a short read.

use std::io;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::{Buf, Bytes};
use futures_lite::AsyncRead;
use nats_sansio::object_store::{Get, GetOptions, ObjectInfo};

use super::error::Error;
use super::store::ObjectStore;
use crate::machine_stream::MachineStream;

impl ObjectStore {
    /// The object `name` as an async reader (following a link to its target), as
    /// async-nats's `get`. A missing or deleted object, or a bucket link, fails here; a
    /// digest or size that does not match fails the read at its end.
    pub async fn get(&self, name: impl AsRef<str>) -> Result<Object, Error> {
        self.get_with(name, GetOptions::default()).await
    }

    /// As [`get`](Self::get), with the window of `options`.
    pub async fn get_with(
        &self,
        name: impl AsRef<str>,
        options: GetOptions,
    ) -> Result<Object, Error> {
        let info = self.info(name).await?;
        let client = self.context.client().clone();
        let now = client.shared_state().runtime.now();
        let inbox = client.new_inbox();
        let machine = Get::new(now, &self.bucket, info.clone(), &inbox, options)?;
        let inner = MachineStream::start(client, machine, self.context.timeout()).await?;
        Ok(Object {
            asked: info,
            inner,
            chunk: Bytes::new(),
            done: false,
        })
    }
}

/// An object being read (async-nats's `Object`): a [`futures_lite::AsyncRead`] (and, with
/// the feature `tokio`, a `tokio::io::AsyncRead`).
#[derive(Debug)]
pub struct Object {
    asked: ObjectInfo,
    inner: MachineStream<Get, Error>,
    /// What is left of the chunk being read.
    chunk: Bytes,
    done: bool,
}

impl Object {
    /// The record of what is read: a link's target once the link is followed.
    pub fn info(&self) -> &ObjectInfo {
        self.inner.machine().info().unwrap_or(&self.asked)
    }

    /// Copies what it can into `dst`; the number of bytes, 0 at the verified end.
    fn poll_fill(&mut self, cx: &mut TaskContext<'_>, dst: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            if !self.chunk.is_empty() {
                let n = dst.len().min(self.chunk.len());
                dst[..n].copy_from_slice(&self.chunk[..n]);
                self.chunk.advance(n);
                if self.chunk.is_empty() {
                    // Read out: its weight leaves the budget (another pull may go out).
                    self.inner.feed(|m, now| m.handle_consumed(now));
                }
                return Poll::Ready(Ok(n));
            }
            if self.done || dst.is_empty() {
                return Poll::Ready(Ok(0));
            }
            match self.inner.poll_item(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) if chunk.is_empty() => {
                    self.inner.feed(|m, now| m.handle_consumed(now));
                }
                Poll::Ready(Some(Ok(chunk))) => self.chunk = chunk,
                Poll::Ready(Some(Err(e))) => {
                    self.done = true;
                    return Poll::Ready(Err(e.into()));
                }
                Poll::Ready(None) => self.done = true,
            }
        }
    }
}

impl AsyncRead for Object {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_fill(cx, buf)
    }
}

#[cfg(feature = "tokio")]
impl tokio::io::AsyncRead for Object {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let dst = buf.initialize_unfilled();
        match self.poll_fill(cx, dst) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}
