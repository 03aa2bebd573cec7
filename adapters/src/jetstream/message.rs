//! A message delivered by a JetStream consumer, and its acknowledgements.
//!
//! Invariant: after a terminal ack (`ack`, `nak`, `term`) the message refuses further acks;
//! it is marked acked only after the ack was accepted for sending.

use std::ops::Deref;
use std::time::Duration;

use nats_sansio::jetstream::ack::{self, AckKind, MessageMetadata};
use nats_sansio::proto::Message;

use super::JetStreamError;
use crate::client::Request;
use crate::Client;

/// How long a double ack waits for the server's confirmation by default.
const DOUBLE_ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// A JetStream message: the core message plus acknowledgements.
#[derive(Debug)]
pub struct JsMessage {
    client: Client,
    message: Message,
    acked: bool,
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
            acked: false,
        }
    }

    /// The core message.
    pub fn into_message(self) -> Message {
        self.message
    }

    /// Stream, consumer, sequences, delivery count and pending count, from the reply subject.
    pub fn metadata(&self) -> Result<MessageMetadata, JetStreamError> {
        ack::parse(self.reply_subject()?)
            .map_err(|e| JetStreamError::NotJetStreamMessage(e.to_string()))
    }

    fn reply_subject(&self) -> Result<&str, JetStreamError> {
        self.message
            .reply
            .as_ref()
            .map(|r| r.as_str())
            .ok_or_else(|| JetStreamError::NotJetStreamMessage("no reply subject".into()))
    }

    /// Acknowledges: processed, never redeliver.
    pub async fn ack(&mut self) -> Result<(), JetStreamError> {
        self.ack_with(AckKind::Ack).await
    }

    /// Negative ack: redeliver (after `delay`, if given).
    pub async fn nak(&mut self, delay: Option<Duration>) -> Result<(), JetStreamError> {
        self.ack_with(AckKind::Nak(delay)).await
    }

    /// Still working on it: resets the ack-wait timer (may be sent repeatedly).
    pub async fn in_progress(&mut self) -> Result<(), JetStreamError> {
        self.ack_with(AckKind::Progress).await
    }

    /// Terminates: never redeliver (the reason goes to the server's advisory).
    pub async fn term(&mut self, reason: Option<String>) -> Result<(), JetStreamError> {
        self.ack_with(AckKind::Term(reason)).await
    }

    /// Sends any acknowledgement.
    pub async fn ack_with(&mut self, kind: AckKind) -> Result<(), JetStreamError> {
        if self.acked {
            return Err(JetStreamError::AlreadyAcked);
        }
        let reply = self.reply_subject()?.to_owned();
        self.client.publish(&reply, kind.payload()).await?;
        self.acked = kind.is_terminal();
        Ok(())
    }

    /// Acknowledges and waits for the server to confirm it applied the ack (bounded by a
    /// timeout; a timeout means the outcome is unknown, not that the ack failed).
    pub async fn double_ack(&mut self) -> Result<(), JetStreamError> {
        if self.acked {
            return Err(JetStreamError::AlreadyAcked);
        }
        let reply = self.reply_subject()?.to_owned();
        let request = Request::new()
            .payload(AckKind::Ack.payload())
            .timeout(DOUBLE_ACK_TIMEOUT);
        self.client.send_request(&reply, request).await?;
        self.acked = true;
        Ok(())
    }
}
