//! What the pull machine tells its caller: how it classified each inbound message, and events.
//!
//! Invariant: an [`PullEvent::Error`] is always terminal and is immediately followed by
//! `Finished(FinishReason::Failed)`; a [`PullEvent::Warning`] and
//! [`PullEvent::MissedHeartbeat`] never end a consume; `Finished` is emitted exactly once and
//! is the last event.

use crate::proto::StatusCode;

use super::status::PullStatus;

/// How [`PullMachine::handle_message`](super::PullMachine::handle_message) classified a
/// message that arrived on the pull inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Received {
    /// A user message: deliver it to the application. It was counted against the pull.
    Message,
    /// An idle heartbeat (or flow-control request): nothing to deliver.
    Heartbeat,
    /// A status the machine acted on (see [`poll_event`](super::PullMachine::poll_event) and
    /// [`poll_pull`](super::PullMachine::poll_pull) for what followed). Never user data.
    Status(PullStatus),
    /// The machine had already finished. A user message here was delivered after the pull
    /// ended; the application may `-NAK` it, or let the server redeliver it after `ack_wait`.
    Ignored,
}

/// Why a fetch or a consume ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FinishReason {
    /// The requested number of messages arrived (or the server said `409 Batch Completed`).
    BatchFilled,
    /// The byte budget is used up (received, or `409 Message Size Exceeds MaxBytes`).
    MaxBytesReached,
    /// Nothing (more) to deliver: `404 No Messages` or `408 Requests Pending`.
    NoMessages,
    /// The pull expired: `408 Request Timeout` / `408 Interest Expired`, or the client-side
    /// deadline passed without either.
    Expired,
    /// The server ended the pull with this status (leadership change, server shutdown, pin
    /// id mismatch, or a consumer limit, which was also reported as a warning).
    Interrupted(PullStatus),
    /// No message, status or heartbeat for twice the idle heartbeat (fetch only; a consume
    /// re-pulls instead).
    MissedHeartbeat,
    /// A terminal error, reported by the [`PullEvent::Error`] just before.
    Failed,
    /// The caller stopped the machine.
    Stopped,
}

/// A terminal error.
#[derive(thiserror::Error, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PullError {
    /// `400 Bad Request`: the server refused the pull request; the description says why.
    #[error("pull request refused: {0}")]
    BadRequest(String),
    /// `409 Consumer Deleted`.
    #[error("consumer deleted")]
    ConsumerDeleted,
    /// `409 Consumer is push based`: pulls are not possible on this consumer.
    #[error("consumer is push based")]
    ConsumerIsPushBased,
    /// `503` on a fetch: no JetStream server answered the pull.
    #[error("no responders: JetStream unavailable or the consumer subject has no server")]
    NoResponders,
    /// A single message is larger than a consume's whole byte budget, so it can never be
    /// delivered (a full-budget pull ended with `409 Message Size Exceeds MaxBytes` and no
    /// byte used).
    #[error("a message is larger than the whole byte budget of {max_bytes} bytes")]
    MessageTooLarge {
        /// The consume's byte budget.
        max_bytes: usize,
    },
    /// A status this client does not know; never delivered as data.
    #[error("unexpected status {code} {}", description.as_deref().unwrap_or(""))]
    UnknownStatus {
        /// The code.
        code: StatusCode,
        /// The description, if any.
        description: Option<String>,
    },
}

/// A condition worth reporting that does not end a consume.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PullWarning {
    /// `409 Exceeded MaxRequestBatch/MaxRequestExpires/MaxRequestMaxBytes/MaxWaiting`: a pull
    /// was refused by a consumer limit (the description says which).
    LimitExceeded(String),
    /// `503` on a consume: no JetStream server answered a pull; the consume keeps going and
    /// re-pulls after the missed-heartbeat alarm.
    NoResponders,
}

/// An event for the application.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PullEvent {
    /// The fetch or consume is over; nothing more will come from this machine.
    Finished(FinishReason),
    /// A terminal error; `Finished(Failed)` follows.
    Error(PullError),
    /// A warning; the consume continues (a fetch reports `Finished` next when it ended too).
    Warning(PullWarning),
    /// Nothing arrived for twice the idle heartbeat (warning-class: a consume resets what it
    /// counted as requested and pulls again; a fetch ends with `MissedHeartbeat`).
    MissedHeartbeat,
}
