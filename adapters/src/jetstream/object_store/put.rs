//! Putting an object: the application's reader feeds the core's put machine, which cuts
//! chunks, keeps at most a window of them unacknowledged and then stores the record.
//!
//! Invariant: a chunk's worth of input is read only while the machine wants it, so memory
//! stays a few chunks (the window) whatever the object size and however fast the reader is;
//! a failed read or a dropped put stops the machine, which purges what it stored.

use std::future::poll_fn;
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use futures_lite::AsyncRead;
use nats_sansio::object_store::{ObjectInfo, ObjectMeta, ObjectStoreError, Put, PutOptions};

use super::error::Error;
use super::store::{now_utc, nuid, ObjectStore};
use crate::machine_stream::MachineStream;

impl ObjectStore {
    /// Stores the bytes `data` yields under `meta`'s name (a `&str` will do), replacing the
    /// object of that name, as async-nats's `put`; returns the record stored. The object
    /// is read a chunk at a time (128 KiB unless `meta` says otherwise) and at most a window
    /// of chunks waits for acknowledgement, so memory stays bounded whatever the size. It is
    /// stored whole or not at all: a failed put (a read error, a server refusal, a lost
    /// connection) purges the chunks it sent.
    pub async fn put<R>(
        &self,
        meta: impl Into<ObjectMeta>,
        data: &mut R,
    ) -> Result<ObjectInfo, Error>
    where
        R: AsyncRead + Unpin + ?Sized,
    {
        self.put_with(meta, data, PutOptions::default()).await
    }

    /// Stores `bytes` under `meta`'s name (see [`put`](Self::put)).
    pub async fn put_bytes(
        &self,
        meta: impl Into<ObjectMeta>,
        bytes: Bytes,
    ) -> Result<ObjectInfo, Error> {
        self.put(meta, &mut &bytes[..]).await
    }

    /// As [`put`](Self::put), with the window and timeouts of `options`.
    pub async fn put_with<R>(
        &self,
        meta: impl Into<ObjectMeta>,
        data: &mut R,
        options: PutOptions,
    ) -> Result<ObjectInfo, Error>
    where
        R: AsyncRead + Unpin + ?Sized,
    {
        let client = self.context.client().clone();
        let now = client.shared_state().runtime.now();
        let inbox = client.new_inbox();
        let machine = Put::new(now, &self.bucket, meta.into(), &nuid(), &inbox, options)?;
        let chunk = machine.chunk_size();
        let mut put: MachineStream<Put, Error> =
            MachineStream::start(client, machine, self.context.timeout()).await?;
        let mut buf = BytesMut::new();
        let mut ended = false;
        let mut info = poll_fn(|cx| loop {
            // Whether the reader was asked this turn and has nothing yet (then it wakes us).
            let mut reader_waits = false;
            if !ended && put.machine().wants_input() {
                if buf.capacity() < chunk {
                    buf.reserve(chunk);
                }
                buf.resize(chunk, 0);
                match std::pin::Pin::new(&mut *data).poll_read(cx, &mut buf[..]) {
                    Poll::Ready(Ok(0)) => {
                        buf.clear();
                        ended = true;
                        put.feed(|m, now| m.handle_end(now));
                    }
                    Poll::Ready(Ok(n)) => {
                        buf.truncate(n);
                        let piece = buf.split().freeze();
                        put.feed(|m, now| m.handle_data(now, piece));
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::Read(e))),
                    Poll::Pending => {
                        buf.clear();
                        reader_waits = true;
                    }
                }
            }
            match put.poll_item(cx) {
                Poll::Ready(Some(result)) => return Poll::Ready(result),
                Poll::Ready(None) => {
                    return Poll::Ready(Err(ObjectStoreError::Malformed(
                        "the put ended without a record".into(),
                    )
                    .into()))
                }
                // Acks handled just now may have opened the window: read again unless the
                // reader itself is waiting (it wakes us) or there is nothing to read.
                Poll::Pending if reader_waits || ended || !put.machine().wants_input() => {
                    return Poll::Pending
                }
                Poll::Pending => {}
            }
        })
        .await?;
        info.mtime = now_utc();
        Ok(info)
    }
}

/// A tokio reader (a `tokio::fs::File`, a socket) as the `futures` reader
/// [`ObjectStore::put`] takes: `bucket.put("name", &mut TokioReader::new(file))`.
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub struct TokioReader<R>(R);

#[cfg(feature = "tokio")]
impl<R> TokioReader<R> {
    /// Wraps `reader`.
    pub fn new(reader: R) -> TokioReader<R> {
        TokioReader(reader)
    }

    /// The reader back.
    pub fn into_inner(self) -> R {
        self.0
    }
}

#[cfg(feature = "tokio")]
impl<R: tokio::io::AsyncRead + Unpin> AsyncRead for TokioReader<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut read = tokio::io::ReadBuf::new(buf);
        match std::pin::Pin::new(&mut self.0).poll_read(cx, &mut read) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(read.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}
