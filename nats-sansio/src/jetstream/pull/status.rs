//! The status messages a pull inbox receives, classified (spec §1.6 and §3.5).
//!
//! Invariant: every message with an inline status maps to exactly one [`PullStatus`]; a status
//! this module does not recognise becomes [`PullStatus::Unknown`], never data for the user.
//! Descriptions are matched case-insensitively and by prefix where the server appends details
//! (`Exceeded MaxRequestBatch of 10`, `Bad Request - ...`).

use crate::proto::{Message, StatusCode};

/// Header carrying how many messages a finished pull had left unfilled.
pub const PENDING_MESSAGES: &str = "Nats-Pending-Messages";
/// Header carrying how many bytes a finished pull had left unfilled.
pub const PENDING_BYTES: &str = "Nats-Pending-Bytes";
/// Header carrying the pinned client's id (priority policy `pinned_client`).
pub const PIN_ID: &str = "Nats-Pin-Id";

/// A status message received on a pull inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PullStatus {
    /// `100 Idle Heartbeat`: the pull is alive, nothing to deliver.
    IdleHeartbeat,
    /// `100 FlowControl Request` (push consumers; on a pull inbox it only proves liveness).
    FlowControl,
    /// `404 No Messages`: a `no_wait` pull found nothing (more).
    NoMessages,
    /// `408 Request Timeout`: the pull expired. Carries the pending headers.
    RequestTimeout,
    /// `408 Interest Expired`: the server lost interest on the reply. Carries the pending headers.
    InterestExpired,
    /// `408 Requests Pending`: a `no_wait` pull refused because waiting pulls claim what is
    /// pending.
    RequestsPending,
    /// `409 Message Size Exceeds MaxBytes`: the next message would not fit the byte budget.
    /// Carries the pending headers.
    MessageSizeExceedsMaxBytes,
    /// `409 Batch Completed`: the batch count was reached with bytes left. Carries the
    /// pending headers.
    BatchCompleted,
    /// `409 Exceeded MaxRequestBatch/MaxRequestExpires/MaxRequestMaxBytes/MaxWaiting`: the
    /// pull was refused by a consumer limit; the description says which.
    LimitExceeded(String),
    /// `409 Leadership Change`: the consumer's leader moved; the pull is gone.
    LeadershipChange,
    /// `409 Server Shutdown`: the server is shutting down; the pull is gone. Carries the
    /// pending headers.
    ServerShutdown,
    /// `409 Consumer Deleted`.
    ConsumerDeleted,
    /// `409 Consumer is push based`.
    ConsumerIsPushBased,
    /// `423 Nats-Pin-Id mismatch` or `423 Nats-Wrong-Pin-Id`: this client is no longer the
    /// pinned one.
    PinIdMismatch,
    /// `400 Bad Request - <why>`: the pull request is invalid.
    BadRequest(String),
    /// `503`: no responders (JetStream unavailable, or no such consumer subject).
    NoResponders,
    /// Any other status.
    Unknown {
        /// The code.
        code: StatusCode,
        /// The description, if any.
        description: Option<String>,
    },
}

/// Does `text` start with `prefix`, ignoring ASCII case?
fn starts_with(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

impl PullStatus {
    /// The status of `message`, or `None` when it carries none (a user message).
    pub fn from_message(message: &Message) -> Option<PullStatus> {
        let code = message.status()?;
        Some(PullStatus::classify(code, message.description()))
    }

    /// Classifies a status code and its description.
    pub fn classify(code: StatusCode, description: Option<&str>) -> PullStatus {
        let text = description.unwrap_or("").trim();
        let is = |prefix: &str| starts_with(text, prefix);
        match code.as_u16() {
            100 if is("FlowControl") => PullStatus::FlowControl,
            100 => PullStatus::IdleHeartbeat,
            400 => PullStatus::BadRequest(text.to_owned()),
            404 => PullStatus::NoMessages,
            408 if is("Interest Expired") => PullStatus::InterestExpired,
            408 if is("Requests Pending") => PullStatus::RequestsPending,
            408 => PullStatus::RequestTimeout,
            409 if is("Message Size Exceeds MaxBytes") => PullStatus::MessageSizeExceedsMaxBytes,
            409 if is("Batch Completed") => PullStatus::BatchCompleted,
            409 if is("Exceeded Max") => PullStatus::LimitExceeded(text.to_owned()),
            409 if is("Leadership Change") => PullStatus::LeadershipChange,
            409 if is("Server Shutdown") => PullStatus::ServerShutdown,
            409 if is("Consumer Deleted") => PullStatus::ConsumerDeleted,
            409 if is("Consumer is push based") => PullStatus::ConsumerIsPushBased,
            423 => PullStatus::PinIdMismatch,
            503 => PullStatus::NoResponders,
            _ => PullStatus::Unknown {
                code,
                description: description.map(str::to_owned),
            },
        }
    }
}

/// The `Nats-Pending-Messages` and `Nats-Pending-Bytes` headers of a status message: what
/// the pull it ends had asked for and not received. `None` unless both are present and
/// numeric.
pub fn pending_counts(message: &Message) -> Option<(u64, u64)> {
    let headers = message.headers.as_ref()?;
    let messages = headers.get(PENDING_MESSAGES)?.trim().parse().ok()?;
    let bytes = headers.get(PENDING_BYTES)?.trim().parse().ok()?;
    Some((messages, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let code = |n| StatusCode::from_u16(n).unwrap();
        let cases: Vec<(u16, Option<&str>, PullStatus)> = vec![
            (100, Some("Idle Heartbeat"), PullStatus::IdleHeartbeat),
            (100, None, PullStatus::IdleHeartbeat),
            (100, Some("FlowControl Request"), PullStatus::FlowControl),
            (404, Some("No Messages"), PullStatus::NoMessages),
            (408, Some("Request Timeout"), PullStatus::RequestTimeout),
            (408, Some("Interest Expired"), PullStatus::InterestExpired),
            (408, Some("Requests Pending"), PullStatus::RequestsPending),
            (408, None, PullStatus::RequestTimeout),
            (
                409,
                Some("Message Size Exceeds MaxBytes"),
                PullStatus::MessageSizeExceedsMaxBytes,
            ),
            (409, Some("Batch Completed"), PullStatus::BatchCompleted),
            (
                409,
                Some("Exceeded MaxRequestBatch of 10"),
                PullStatus::LimitExceeded("Exceeded MaxRequestBatch of 10".into()),
            ),
            (
                409,
                Some("Exceeded MaxRequestExpires of 1s"),
                PullStatus::LimitExceeded("Exceeded MaxRequestExpires of 1s".into()),
            ),
            (
                409,
                Some("Exceeded MaxRequestMaxBytes of 100"),
                PullStatus::LimitExceeded("Exceeded MaxRequestMaxBytes of 100".into()),
            ),
            (
                409,
                Some("Exceeded MaxWaiting"),
                PullStatus::LimitExceeded("Exceeded MaxWaiting".into()),
            ),
            (409, Some("Leadership Change"), PullStatus::LeadershipChange),
            (409, Some("Server Shutdown"), PullStatus::ServerShutdown),
            (409, Some("Consumer Deleted"), PullStatus::ConsumerDeleted),
            (
                409,
                Some("consumer is push based"),
                PullStatus::ConsumerIsPushBased,
            ),
            (423, Some("Nats-Pin-Id mismatch"), PullStatus::PinIdMismatch),
            (423, Some("Nats-Wrong-Pin-Id"), PullStatus::PinIdMismatch),
            (
                400,
                Some("Bad Request - Priority Group missing"),
                PullStatus::BadRequest("Bad Request - Priority Group missing".into()),
            ),
            (503, None, PullStatus::NoResponders),
            (
                409,
                Some("Something New"),
                PullStatus::Unknown {
                    code: code(409),
                    description: Some("Something New".into()),
                },
            ),
            (
                204,
                Some("EOB"),
                PullStatus::Unknown {
                    code: code(204),
                    description: Some("EOB".into()),
                },
            ),
        ];
        for (n, description, want) in cases {
            assert_eq!(PullStatus::classify(code(n), description), want, "{n}");
        }
    }
}
