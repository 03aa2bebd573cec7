//! JetStream publish rules that do not depend on IO: the window of acks in flight, how a
//! publish reply maps to an ack, a failure or a retry (with its back-off), the headers a
//! publish sets, and how a message TTL is written.
//!
//! Invariant: a publish is retried only when the server certainly did not store it (no
//! responders, or the stream's ingest queue refused it with `429`/10167 and friends), never
//! after a timeout or a disconnect (the message may be stored); attempts are bounded by the
//! policy and each wait is a pure function of the attempt number, capped by the policy. A
//! publish enters the ack window only while it has room, and leaves it exactly once.

use std::time::Duration;

use crate::connection::{RequestError, RequestId};
use crate::id_map::IdSet;
use crate::proto::{Message, StatusCode};

use super::api::{ApiError, ErrorCode, PubAck, ResponseError};

/// The header that gives a message its own time to live (server 2.11+, ADR-43).
pub const NATS_TTL: &str = "Nats-TTL";
/// The message id the stream deduplicates on within its duplicate window.
pub const NATS_MSG_ID: &str = "Nats-Msg-Id";
/// Store only if the subject belongs to this stream.
pub const NATS_EXPECTED_STREAM: &str = "Nats-Expected-Stream";
/// Store only if the stream's last sequence is this.
pub const NATS_EXPECTED_LAST_SEQUENCE: &str = "Nats-Expected-Last-Sequence";
/// Store only if the last sequence stored for this subject is this.
pub const NATS_EXPECTED_LAST_SUBJECT_SEQUENCE: &str = "Nats-Expected-Last-Subject-Sequence";
/// Store only if the stream's last message id is this.
pub const NATS_EXPECTED_LAST_MSG_ID: &str = "Nats-Expected-Last-Msg-Id";
/// Replace older messages: `sub` (those on the same subject) or `all` (the whole stream);
/// the stream must allow rollups (`allow_rollup_hdrs`).
pub const NATS_ROLLUP: &str = "Nats-Rollup";
/// The `Nats-Rollup` value that keeps only the newest message of its subject.
pub const ROLLUP_SUBJECT: &str = "sub";
/// Why the server wrote a delete marker (`MaxAge`, `Purge`, `Remove`; server 2.11+, ADR-43).
pub const NATS_MARKER_REASON: &str = "Nats-Marker-Reason";

/// JetStream publishes a client keeps awaiting their ack at most, by default: past it, a
/// publish waits for an ack to arrive (back-pressure on the publisher, bounded memory).
pub const DEFAULT_MAX_ACKS_IN_FLIGHT: usize = 4000;

/// The publishes of one client whose ack has not arrived yet.
#[derive(Debug, Default)]
pub struct AckWindow {
    in_flight: IdSet<RequestId>,
}

impl AckWindow {
    /// Whether one more publish may be issued under `limit` (at least one always may).
    pub fn has_room(&self, limit: usize) -> bool {
        self.in_flight.len() < limit.max(1)
    }

    /// The publish `id` was issued.
    pub fn enter(&mut self, id: RequestId) {
        self.in_flight.insert(id);
    }

    /// The ack of `id` arrived, or it failed, or nobody waits for it any more; true when
    /// that freed a slot (publishers waiting for room may go on).
    pub fn leave(&mut self, id: RequestId) -> bool {
        self.in_flight.remove(&id)
    }

    /// Publishes awaiting their ack.
    pub fn len(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether no publish awaits its ack.
    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }
}

/// The shortest TTL the server accepts (it refuses shorter ones with 10165).
pub const MIN_TTL: Duration = Duration::from_secs(1);

/// The `Nats-TTL` value for a TTL: a Go duration string the server parses exactly
/// (`"90s"`, `"1900ms"`, `"1500us"`, `"7ns"`), never rounded or raised, so what the message
/// carries is what was asked for. A TTL below [`MIN_TTL`] is sent as it is and the server
/// refuses the publish with 10165 ([`ErrorCode::MESSAGE_TTL_INVALID`]): a clear error rather
/// than a message that silently lives longer than asked.
///
/// [`ErrorCode::MESSAGE_TTL_INVALID`]: super::api::ErrorCode::MESSAGE_TTL_INVALID
///
/// ```
/// use std::time::Duration;
/// use nats_sansio::jetstream::publish::ttl_header_value;
///
/// assert_eq!(ttl_header_value(Duration::from_secs(60)), "60s");
/// assert_eq!(ttl_header_value(Duration::from_millis(1900)), "1900ms");
/// assert_eq!(ttl_header_value(Duration::from_millis(10)), "10ms");
/// ```
pub fn ttl_header_value(ttl: Duration) -> String {
    let nanos = ttl.as_nanos();
    if nanos % 1_000_000_000 == 0 {
        format!("{}s", ttl.as_secs())
    } else if nanos % 1_000_000 == 0 {
        format!("{}ms", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!("{}us", nanos / 1_000)
    } else {
        format!("{nanos}ns")
    }
}

/// Why a publish failed for good.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PublishFailure {
    /// The request failed (no responders after the last attempt, timeout, disconnect).
    Request(RequestError),
    /// The server answered with an error, or with something that is not a PubAck.
    Response(ResponseError),
}

/// What to do with a publish attempt's reply.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PublishStep {
    /// The stream stored the message (or recognised it as a duplicate).
    Acked(PubAck),
    /// Wait this long, then publish the same message again.
    RetryAfter(Duration),
    /// Give up: this is the answer.
    Failed(PublishFailure),
}

/// The retry policy of JetStream publishes: which replies are retried, how long to wait
/// before each new attempt, and how many attempts in all.
///
/// Retried: `503` no responders (no stream yet, or a leader election), `429` back-pressure
/// (10167 too many requests, 10210/10211 too many batches in flight, with or without the
/// `429` status header), 10008 (JetStream temporarily unavailable) and 10163 (expected last
/// subject sequence temporarily unavailable). Everything else is final.
///
/// The wait before attempt `n + 1` is drawn from `[b/2, b]` where `b` is
/// `initial_backoff × 2^(n-1)` capped at `max_backoff`; where in that range is a pure
/// function of the attempt and a caller's `salt` (one per publish), so publishes refused
/// together do not all come back at the same instant and overflow the queue again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishRetry {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The wait after the first failed attempt.
    pub initial_backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
}

impl Default for PublishRetry {
    /// Five attempts, waiting 250 ms, 500 ms, 1 s and 2 s between them (3.75 s in all).
    fn default() -> PublishRetry {
        PublishRetry {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl PublishRetry {
    /// No retries: the first reply is the answer.
    pub fn never() -> PublishRetry {
        PublishRetry {
            max_attempts: 1,
            ..PublishRetry::default()
        }
    }

    /// Decides on the reply to attempt number `attempt` (1 for the first) of the publish
    /// identified by `salt` (any number that differs between publishes, for the jitter).
    pub fn handle_reply(
        &self,
        attempt: u32,
        salt: u64,
        reply: Result<Message, RequestError>,
    ) -> PublishStep {
        let failure = match reply {
            Ok(message) => match PubAck::parse(&message.payload) {
                Ok(ack) => return PublishStep::Acked(ack),
                // A back-pressure status without a readable body is still back-pressure.
                Err(ResponseError::Malformed(_))
                    if message.status() == Some(StatusCode::TOO_MANY_REQUESTS) =>
                {
                    PublishFailure::Response(ResponseError::Api(ApiError {
                        code: 429,
                        err_code: ErrorCode::TOO_MANY_REQUESTS,
                        description: message
                            .description()
                            .unwrap_or("too many requests")
                            .to_owned(),
                    }))
                }
                Err(e) => PublishFailure::Response(e),
            },
            Err(e) => PublishFailure::Request(e),
        };
        if attempt < self.max_attempts && is_retriable(&failure) {
            PublishStep::RetryAfter(self.backoff(attempt, salt))
        } else {
            PublishStep::Failed(failure)
        }
    }

    /// The wait after failed attempt number `attempt` (1 for the first) of the publish
    /// identified by `salt`: in `[b/2, b]`, `b` the capped exponential back-off.
    pub fn backoff(&self, attempt: u32, salt: u64) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        let cap = self
            .initial_backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff);
        let half = cap / 2;
        let spread = u64::try_from((cap - half).as_nanos()).unwrap_or(u64::MAX);
        let jitter = mix(salt ^ u64::from(attempt).rotate_left(32)) % spread.saturating_add(1);
        half + Duration::from_nanos(jitter)
    }
}

/// A 64-bit finaliser (splitmix64): neighbouring salts give unrelated jitters.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Whether the server certainly did not store the message and may take it later.
fn is_retriable(failure: &PublishFailure) -> bool {
    match failure {
        PublishFailure::Request(RequestError::NoResponders) => true,
        PublishFailure::Request(_) => false,
        PublishFailure::Response(ResponseError::Api(e)) => {
            e.code == 429
                || matches!(
                    e.err_code,
                    ErrorCode::TOO_MANY_REQUESTS
                        | ErrorCode::ATOMIC_PUBLISH_TOO_MANY_INFLIGHT
                        | ErrorCode::BATCH_PUBLISH_TOO_MANY_INFLIGHT
                        | ErrorCode::CLUSTER_NOT_AVAILABLE
                        | ErrorCode::EXPECTED_LAST_SEQ_PER_SUBJECT_NOT_READY
                )
        }
        PublishFailure::Response(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{HeaderMap, Subject};
    use bytes::Bytes;

    fn reply(status: Option<(u16, &str)>, body: &str) -> Result<Message, RequestError> {
        let headers = status.map(|(code, description)| {
            let mut headers = HeaderMap::new();
            headers.set_status(
                StatusCode::from_u16(code).unwrap(),
                Some(description.to_owned()),
            );
            headers
        });
        Ok(Message {
            subject: Subject::new("_INBOX.x").unwrap(),
            reply: None,
            headers,
            payload: Bytes::from(body.to_owned()),
            length: body.len(),
        })
    }

    const BUSY: &str =
        r#"{"stream":"S","error":{"code":429,"err_code":10167,"description":"too many requests"}}"#;

    #[test]
    fn back_pressure_is_retried_with_growing_waits_then_fails() {
        let policy = PublishRetry::default();
        let steps: Vec<PublishStep> = (1..=5)
            .map(|attempt| {
                policy.handle_reply(attempt, 7, reply(Some((429, "Too Many Requests")), BUSY))
            })
            .collect();
        let caps = [250, 500, 1000, 2000].map(Duration::from_millis);
        for (step, cap) in steps.iter().zip(caps) {
            let PublishStep::RetryAfter(wait) = step else {
                panic!("retried: {step:?}")
            };
            assert!(
                *wait >= cap / 2 && *wait <= cap,
                "{wait:?} within [{cap:?}/2, {cap:?}]"
            );
        }
        match &steps[4] {
            PublishStep::Failed(PublishFailure::Response(ResponseError::Api(e))) => {
                assert_eq!(e.err_code, ErrorCode::TOO_MANY_REQUESTS)
            }
            other => panic!("the last attempt fails with the 10167 error: {other:?}"),
        }
    }

    #[test]
    fn publishes_refused_together_come_back_spread_out() {
        let policy = PublishRetry::default();
        let waits: std::collections::BTreeSet<Duration> =
            (0..100).map(|salt| policy.backoff(1, salt)).collect();
        assert!(waits.len() > 90, "distinct waits: {}", waits.len());
        assert_eq!(policy.backoff(3, 42), policy.backoff(3, 42), "pure");
    }

    #[test]
    fn a_429_status_without_a_body_is_back_pressure() {
        let step =
            PublishRetry::default().handle_reply(1, 0, reply(Some((429, "Too Many Requests")), ""));
        assert!(matches!(step, PublishStep::RetryAfter(_)), "{step:?}");
        let step =
            PublishRetry::never().handle_reply(1, 0, reply(Some((429, "Too Many Requests")), ""));
        let PublishStep::Failed(PublishFailure::Response(ResponseError::Api(e))) = step else {
            panic!("{step:?}")
        };
        assert_eq!(e.kind(), super::super::api::ApiErrorKind::TooManyRequests);
    }

    #[test]
    fn no_responders_and_unavailable_are_retried_the_rest_is_final() {
        let policy = PublishRetry::default();
        assert!(matches!(
            policy.handle_reply(1, 0, Err(RequestError::NoResponders)),
            PublishStep::RetryAfter(_)
        ));
        let unavailable = r#"{"error":{"code":503,"err_code":10008,"description":"unavailable"}}"#;
        assert!(matches!(
            policy.handle_reply(2, 0, reply(None, unavailable)),
            PublishStep::RetryAfter(_)
        ));
        // The message may be stored: never published twice.
        for e in [RequestError::TimedOut, RequestError::Disconnected] {
            assert_eq!(
                policy.handle_reply(1, 0, Err(e.clone())),
                PublishStep::Failed(PublishFailure::Request(e))
            );
        }
        let wrong =
            r#"{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"}}"#;
        assert!(matches!(
            policy.handle_reply(1, 0, reply(None, wrong)),
            PublishStep::Failed(PublishFailure::Response(ResponseError::Api(_)))
        ));
        assert!(matches!(
            policy.handle_reply(1, 0, reply(None, r#"{"stream":"S","seq":4}"#)),
            PublishStep::Acked(PubAck { seq: 4, .. })
        ));
    }

    #[test]
    fn backoff_is_capped_and_never_overflows() {
        let policy = PublishRetry {
            max_attempts: u32::MAX,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        for salt in [0, 1, u64::MAX] {
            for (attempt, cap) in [(0, 100), (4, 800), (5, 1000), (u32::MAX, 1000)] {
                let wait = policy.backoff(attempt, salt);
                let cap = Duration::from_millis(cap);
                assert!(wait >= cap / 2 && wait <= cap, "{attempt}: {wait:?}");
            }
        }
        let zero = PublishRetry {
            initial_backoff: Duration::ZERO,
            ..policy
        };
        assert_eq!(zero.backoff(3, 9), Duration::ZERO);
    }

    #[test]
    fn ttl_keeps_its_sub_second_part() {
        assert_eq!(ttl_header_value(Duration::from_millis(1900)), "1900ms");
        assert_eq!(
            ttl_header_value(Duration::from_micros(1_000_001)),
            "1000001us"
        );
        assert_eq!(ttl_header_value(Duration::new(2, 5)), "2000000005ns");
        assert_eq!(ttl_header_value(Duration::from_secs(3600)), "3600s");
        assert_eq!(ttl_header_value(Duration::ZERO), "0s");
    }
}
