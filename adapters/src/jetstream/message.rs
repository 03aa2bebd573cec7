//! A message delivered by a JetStream consumer, and its acknowledgements.
//!
//! Invariants:
//! - After a terminal ack (`ack`, `nak`, `term`, `double_ack`, or `ack_with` of a terminal
//!   kind) the message refuses further acks, `in_progress` included. Acks take `&self`: the
//!   once-only rule is an atomic flag, claimed before the ack is sent, so of two concurrent
//!   terminal acks only one goes out. The claim is released if sending fails or the ack's
//!   future is dropped before sending finished, so a failed ack may be retried.
//! - [`JsMessage::split`] moves the flag, as it is, into the [`Acker`]: a message acked before
//!   the split gives an `Acker` that refuses every ack.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nats_sansio::jetstream::ack::{self, AckKind, MessageMetadata};
use nats_sansio::proto::{Message, Subject};

use super::JetStreamError;
use crate::client::Request;
use crate::Client;

/// How long a double ack waits for the server's confirmation by default.
const DOUBLE_ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// The acknowledgements of [`JsMessage`] and [`Acker`], written once: both types have an
/// `acks()` that lends what an ack needs.
macro_rules! ack_methods {
    () => {
        /// Acknowledges: processed, never redeliver.
        pub async fn ack(&self) -> Result<(), JetStreamError> {
            self.acks().send(AckKind::Ack).await
        }

        /// Negative ack: redeliver (after `delay`, if given).
        pub async fn nak(&self, delay: Option<Duration>) -> Result<(), JetStreamError> {
            self.acks().send(AckKind::Nak(delay)).await
        }

        /// Still working on it: resets the ack-wait timer (may be sent repeatedly, until a
        /// terminal ack).
        pub async fn in_progress(&self) -> Result<(), JetStreamError> {
            self.acks().send(AckKind::Progress).await
        }

        /// Terminates: never redeliver (the reason goes to the server's advisory).
        pub async fn term(&self, reason: Option<String>) -> Result<(), JetStreamError> {
            self.acks().send(AckKind::Term(reason)).await
        }

        /// Sends any acknowledgement; every kind but [`AckKind::Progress`] is terminal.
        pub async fn ack_with(&self, kind: AckKind) -> Result<(), JetStreamError> {
            self.acks().send(kind).await
        }

        /// Acknowledges and waits for the server to confirm it applied the ack (bounded by a
        /// timeout; a timeout means the outcome is unknown, not that the ack failed, and
        /// leaves the message ackable again).
        pub async fn double_ack(&self) -> Result<(), JetStreamError> {
            self.acks().double().await
        }
    };
}

/// A JetStream message: the core message plus acknowledgements.
///
/// It derefs to the core [`Message`] (`subject`, `reply`, `headers`, `payload`, `length`).
/// Where async-nats has `status` and `description` fields, these are the methods
/// [`Message::status`] and [`Message::description`], computed on demand from the header
/// block (deliberately: a message that never asks pays nothing for them).
///
/// Acks take `&self`, as async-nats's `message.ack().await`; a second terminal ack is
/// refused with [`JetStreamError::AlreadyAcked`]. [`split`](JsMessage::split) hands the
/// payload to the application and keeps the acks in an [`Acker`].
///
/// ```no_run
/// # async fn run(consumer: nats_client::jetstream::Consumer) -> Result<(), Box<dyn std::error::Error>> {
/// use futures_lite::StreamExt;
/// use nats_client::jetstream::pull::FetchOptions;
///
/// let mut batch = consumer.fetch_with(FetchOptions::messages(10)).await?;
/// while let Some(message) = batch.next().await {
///     let message = message?;
///     let info = message.info()?;
///     println!("{} (stream #{})", message.subject, info.stream_sequence);
///     message.ack().await?;
///     assert!(message.ack().await.is_err(), "acked once only");
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct JsMessage {
    client: Client,
    message: Message,
    acked: AtomicBool,
}

impl Deref for JsMessage {
    type Target = Message;

    fn deref(&self) -> &Message {
        &self.message
    }
}

impl JsMessage {
    pub(crate) fn new(client: Client, message: Message) -> JsMessage {
        JsMessage {
            client,
            message,
            acked: AtomicBool::new(false),
        }
    }

    /// The core message (the acks are given up; see [`split`](JsMessage::split) to keep
    /// them).
    pub fn into_message(self) -> Message {
        self.message
    }

    /// The core message for the application and an [`Acker`] that acknowledges it later,
    /// from anywhere (async-nats's `split`). The `Acker` keeps the once-only rule: if this
    /// message was already terminally acked, the `Acker` refuses every ack.
    ///
    /// ```no_run
    /// # async fn run(message: nats_client::jetstream::JsMessage) -> Result<(), Box<dyn std::error::Error>> {
    /// let (message, acker) = message.split();
    /// println!("{:?}", message.payload);
    /// acker.ack().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn split(self) -> (Message, Acker) {
        let acker = Acker {
            reply: self.message.reply.clone(),
            client: self.client,
            acked: self.acked,
        };
        (self.message, acker)
    }

    /// Stream, consumer, sequences, delivery count and pending count, parsed from the reply
    /// subject. [`info`](JsMessage::info) is the same under async-nats's name.
    pub fn metadata(&self) -> Result<MessageMetadata, JetStreamError> {
        ack::parse(reply_subject(self.message.reply.as_ref())?)
            .map_err(|e| JetStreamError::NotJetStreamMessage(e.to_string()))
    }

    /// The same as [`metadata`](JsMessage::metadata), under async-nats's name.
    pub fn info(&self) -> Result<MessageMetadata, JetStreamError> {
        self.metadata()
    }

    fn acks(&self) -> Acks<'_> {
        Acks {
            client: &self.client,
            reply: self.message.reply.as_ref(),
            acked: &self.acked,
        }
    }

    ack_methods!();
}

/// The acknowledgements of a [`JsMessage`] split from its payload by
/// [`JsMessage::split`]: `Send` and `Sync`, so it can ack from another task or thread, with
/// the same once-only rule (a second terminal ack is refused with
/// [`JetStreamError::AlreadyAcked`]).
///
/// Like async-nats's `Acker` it is not `Clone`: one message has one owner of its acks.
/// Share it by reference (or in an `Arc`) if several places may ack it.
#[derive(Debug)]
pub struct Acker {
    client: Client,
    reply: Option<Subject>,
    acked: AtomicBool,
}

impl Acker {
    fn acks(&self) -> Acks<'_> {
        Acks {
            client: &self.client,
            reply: self.reply.as_ref(),
            acked: &self.acked,
        }
    }

    ack_methods!();
}

// Both hold only `Send + Sync` parts; acking from another task depends on it.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<JsMessage>();
    send_sync::<Acker>();
};

/// What an ack needs, borrowed from a [`JsMessage`] or an [`Acker`].
struct Acks<'a> {
    client: &'a Client,
    reply: Option<&'a Subject>,
    acked: &'a AtomicBool,
}

impl Acks<'_> {
    async fn send(self, kind: AckKind) -> Result<(), JetStreamError> {
        let reply = reply_subject(self.reply)?;
        if !kind.is_terminal() {
            if self.acked.load(Ordering::Acquire) {
                return Err(JetStreamError::AlreadyAcked);
            }
            return Ok(self.client.publish(reply, kind.payload()).await?);
        }
        let claim = Claim::take(self.acked)?;
        self.client.publish(reply, kind.payload()).await?;
        claim.keep();
        Ok(())
    }

    async fn double(self) -> Result<(), JetStreamError> {
        let reply = reply_subject(self.reply)?;
        let claim = Claim::take(self.acked)?;
        let request = Request::new()
            .payload(AckKind::Ack.payload())
            .timeout(DOUBLE_ACK_TIMEOUT);
        self.client.send_request(reply, request).await?;
        claim.keep();
        Ok(())
    }
}

/// The once-only flag, claimed for one terminal ack; released when dropped unless kept
/// (the ack failed, or its future was dropped before it was sent).
struct Claim<'a> {
    acked: &'a AtomicBool,
    keep: bool,
}

impl<'a> Claim<'a> {
    fn take(acked: &'a AtomicBool) -> Result<Claim<'a>, JetStreamError> {
        acked
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .map_err(|_| JetStreamError::AlreadyAcked)?;
        Ok(Claim { acked, keep: false })
    }

    fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if !self.keep {
            self.acked.store(false, Ordering::Release);
        }
    }
}

fn reply_subject(reply: Option<&Subject>) -> Result<&str, JetStreamError> {
    reply
        .map(Subject::as_str)
        .ok_or_else(|| JetStreamError::NotJetStreamMessage("no reply subject".into()))
}
