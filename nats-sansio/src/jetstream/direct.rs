//! Direct Get replies (ADR-31) as a pure machine: which reply is a message, which ends a
//! batch, which is an error, and what the headers say about each message.
//!
//! Invariant: a request gets exactly one ending: a single get ends with its one reply; a
//! batched get (`batch` > 0 or `multi_last`) ends with the `204 EOB` status (its numbers kept
//! for the caller), an error status, the first reply of an old server that does not batch
//! (no `Nats-Num-Pending`), or silence for the timeout since the last reply. Nothing is
//! handed out after the ending, and a status is never handed out as a message.

use std::time::{Duration, Instant};

use crate::proto::{Message, StatusCode};

use super::api::DirectGetRequest;

/// The stream that stored the message.
pub const NATS_STREAM: &str = "Nats-Stream";
/// The message's stream sequence.
pub const NATS_SEQUENCE: &str = "Nats-Sequence";
/// The subject the message was stored under.
pub const NATS_SUBJECT: &str = "Nats-Subject";
/// When the message was stored (RFC 3339).
pub const NATS_TIME_STAMP: &str = "Nats-Time-Stamp";
/// Batched replies: messages still matching after this one (on the EOB: after the batch).
pub const NATS_NUM_PENDING: &str = "Nats-Num-Pending";
/// Batched replies: the sequence of the previous message sent (on the EOB: the last one).
pub const NATS_LAST_SEQUENCE: &str = "Nats-Last-Sequence";
/// `multi_last` EOB: the stream sequence the answer is as of.
pub const NATS_UP_TO_SEQUENCE: &str = "Nats-UpTo-Sequence";

/// A stored message as Direct Get returns it, with what its headers say.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DirectMessage {
    /// Its stream sequence (0 with `no_hdr`).
    pub sequence: u64,
    /// Batched replies: how many more match after it.
    pub num_pending: Option<u64>,
    /// The reply as received: the stored payload and headers (with the `Nats-*` above).
    pub message: Message,
}

impl DirectMessage {
    /// Reads the headers of a Direct Get reply that carries a message.
    pub fn from_message(message: Message) -> DirectMessage {
        let headers = message.headers.as_ref();
        let number = |name| {
            headers
                .and_then(|h| h.get(name))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        DirectMessage {
            sequence: number(NATS_SEQUENCE).unwrap_or(0),
            num_pending: number(NATS_NUM_PENDING),
            message,
        }
    }

    /// The stream (empty with `no_hdr`), read from the reply's headers in place.
    pub fn stream(&self) -> &str {
        self.header(NATS_STREAM)
    }

    /// The subject it was stored under (empty with `no_hdr`).
    pub fn subject(&self) -> &str {
        self.header(NATS_SUBJECT)
    }

    fn header(&self, name: &str) -> &str {
        self.message
            .headers
            .as_ref()
            .and_then(|h| h.get(name))
            .unwrap_or("")
    }
}

/// The `204 EOB` that ends a batch: where a next page would start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndOfBatch {
    /// Messages still matching after the batch (0: everything was sent).
    pub num_pending: u64,
    /// The sequence of the last message sent; a next page asks from this plus one.
    pub last_sequence: u64,
    /// `multi_last`: the sequence the answer is as of (ask the next page up to it too).
    pub up_to_sequence: Option<u64>,
}

/// Why a Direct Get failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectGetError {
    /// `404`: no message matches (`Message Not Found`, or `No Results` for `multi_last`).
    #[error("no message found: {0}")]
    NotFound(String),
    /// `408`: the server refused the request (empty, malformed, conflicting selectors).
    #[error("bad direct get request: {0}")]
    BadRequest(String),
    /// `413`: `multi_last` matched more subjects than the server answers (1024).
    #[error("too many results")]
    TooManyResults,
    /// `412`: the request needs a higher API level than the server's.
    #[error("required API level not met: {0}")]
    RequiredApiLevel(String),
    /// `503`: nobody answers Direct Gets for this stream (no `allow_direct`, wrong name).
    #[error("no responders")]
    NoResponders,
    /// No reply for the timeout.
    #[error("direct get timed out")]
    TimedOut,
    /// Another error status (`500` internal error, ...).
    #[error("direct get answered {code}: {description}")]
    Status {
        /// The status code.
        code: u16,
        /// Its description.
        description: String,
    },
}

/// What one reply is.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DirectReply {
    /// A stored message.
    Message(DirectMessage),
    /// The end of a batch.
    EndOfBatch(EndOfBatch),
    /// An error status.
    Error(DirectGetError),
    /// A status that means nothing to a Direct Get (1xx, other 2xx): ignored.
    Ignored,
}

/// Classifies one Direct Get reply by its status and headers.
pub fn classify(message: Message) -> DirectReply {
    let Some(status) = message.status() else {
        return DirectReply::Message(DirectMessage::from_message(message));
    };
    let description = message.description().unwrap_or("").to_owned();
    match status {
        StatusCode::EOB => {
            let headers = message.headers.as_ref();
            let number = |name| {
                headers
                    .and_then(|h| h.get(name))
                    .and_then(|v| v.trim().parse::<u64>().ok())
            };
            DirectReply::EndOfBatch(EndOfBatch {
                num_pending: number(NATS_NUM_PENDING).unwrap_or(0),
                last_sequence: number(NATS_LAST_SEQUENCE).unwrap_or(0),
                up_to_sequence: number(NATS_UP_TO_SEQUENCE),
            })
        }
        StatusCode::NOT_FOUND => DirectReply::Error(DirectGetError::NotFound(description)),
        StatusCode::TIMEOUT => DirectReply::Error(DirectGetError::BadRequest(description)),
        StatusCode::TOO_MANY_RESULTS => DirectReply::Error(DirectGetError::TooManyResults),
        StatusCode::PRECONDITION_FAILED => {
            DirectReply::Error(DirectGetError::RequiredApiLevel(description))
        }
        StatusCode::NO_RESPONDERS => DirectReply::Error(DirectGetError::NoResponders),
        code if code.is_error() => DirectReply::Error(DirectGetError::Status {
            code: code.as_u16(),
            description,
        }),
        _ => DirectReply::Ignored,
    }
}

/// Whether a request is answered by a batch ending with `204 EOB` (`batch` > 0 or
/// `multi_last`) rather than by one reply.
pub fn is_batched(request: &DirectGetRequest) -> bool {
    request.batch > 0 || !request.multi_last.is_empty()
}

/// The replies to one Direct Get request, in arrival order: messages out, then the ending.
#[derive(Debug)]
pub struct DirectGet {
    batched: bool,
    no_hdr: bool,
    timeout: Duration,
    deadline: Instant,
    received: u64,
    finished: bool,
    end: Option<EndOfBatch>,
}

impl DirectGet {
    /// The machine for `request`, sent at `now`; a silence of `timeout` (before the first
    /// reply, or between two) ends it with [`DirectGetError::TimedOut`].
    pub fn new(now: Instant, request: &DirectGetRequest, timeout: Duration) -> DirectGet {
        DirectGet {
            batched: is_batched(request),
            no_hdr: request.no_hdr,
            timeout,
            deadline: now + timeout,
            received: 0,
            finished: false,
            end: None,
        }
    }

    /// A reply arrived: the message to hand out, the error that ends the request, or
    /// nothing (the EOB, an ignored status, anything after the end).
    pub fn handle_message(
        &mut self,
        now: Instant,
        message: Message,
    ) -> Option<Result<DirectMessage, DirectGetError>> {
        if self.finished {
            return None;
        }
        if now + self.timeout > self.deadline {
            self.deadline = now + self.timeout;
        }
        match classify(message) {
            DirectReply::Message(message) => {
                self.received += 1;
                // An old server answers a batch with one plain message and no EOB.
                let old_server = self.received == 1
                    && !self.no_hdr
                    && message.num_pending.is_none()
                    && message.message.headers.is_some();
                if !self.batched || old_server {
                    self.finished = true;
                }
                Some(Ok(message))
            }
            DirectReply::EndOfBatch(end) => {
                self.finished = true;
                self.end = Some(end);
                None
            }
            DirectReply::Error(e) => {
                self.finished = true;
                Some(Err(e))
            }
            _ => None,
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called, while not finished.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.finished).then_some(self.deadline)
    }

    /// The time has come: [`DirectGetError::TimedOut`] if no ending arrived.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<DirectGetError> {
        if self.finished || now < self.deadline {
            return None;
        }
        self.finished = true;
        Some(DirectGetError::TimedOut)
    }

    /// Whether the request has ended.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Messages handed out so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The batch's `204 EOB` numbers, once it arrived.
    pub fn end_of_batch(&self) -> Option<EndOfBatch> {
        self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{HeaderMap, Subject};
    use bytes::Bytes;

    fn message(status: Option<(u16, &str)>, headers: &[(&str, &str)], body: &str) -> Message {
        let mut map = HeaderMap::new();
        if let Some((code, description)) = status {
            map.set_status(
                StatusCode::from_u16(code).unwrap(),
                Some(description.into()),
            );
        }
        for (name, value) in headers {
            map.append(*name, *value);
        }
        let has_headers = status.is_some() || !headers.is_empty();
        Message {
            subject: Subject::new("_INBOX.dg").unwrap(),
            reply: None,
            headers: has_headers.then_some(map),
            payload: Bytes::from(body.to_owned()),
            length: body.len(),
        }
    }

    fn stored(seq: u64, pending: Option<u64>) -> Message {
        let seq = seq.to_string();
        let pending = pending.map(|p| p.to_string());
        let mut headers = vec![
            ("Nats-Stream", "S"),
            ("Nats-Subject", "kv.a"),
            ("Nats-Sequence", seq.as_str()),
            ("Nats-Time-Stamp", "2025-01-01T00:00:00.000000001Z"),
        ];
        if let Some(p) = &pending {
            headers.push(("Nats-Num-Pending", p.as_str()));
            headers.push(("Nats-Last-Sequence", "0"));
        }
        message(None, &headers, "v")
    }

    fn batch(n: usize) -> DirectGetRequest {
        DirectGetRequest {
            seq: 1,
            batch: n,
            ..DirectGetRequest::default()
        }
    }

    const TIMEOUT: Duration = Duration::from_secs(5);

    #[test]
    fn a_batch_hands_out_every_message_then_ends_at_the_eob() {
        let now = crate::test_clock::base();
        let mut get = DirectGet::new(now, &batch(3), TIMEOUT);
        let mut seqs = Vec::new();
        for (seq, pending) in [(1, 4), (2, 3), (3, 2)] {
            let got = get
                .handle_message(now, stored(seq, Some(pending)))
                .unwrap()
                .unwrap();
            assert_eq!((got.subject(), got.num_pending), ("kv.a", Some(pending)));
            seqs.push(got.sequence);
        }
        assert_eq!(seqs, [1, 2, 3]);
        assert!(
            !get.is_finished(),
            "a batch ends at its EOB, not at a count"
        );
        let eob = message(
            Some((204, "EOB")),
            &[("Nats-Num-Pending", "2"), ("Nats-Last-Sequence", "3")],
            "",
        );
        assert_eq!(get.handle_message(now, eob), None, "the EOB is no message");
        assert!(get.is_finished());
        assert_eq!(
            get.end_of_batch(),
            Some(EndOfBatch {
                num_pending: 2,
                last_sequence: 3,
                up_to_sequence: None
            })
        );
        assert_eq!(get.poll_timeout(), None);
        assert_eq!(
            get.handle_message(now, stored(4, Some(1))),
            None,
            "nothing after the end"
        );
    }

    #[test]
    fn multi_last_always_batches_and_its_eob_says_up_to_where() {
        let now = crate::test_clock::base();
        let request = DirectGetRequest {
            multi_last: vec!["kv.*".into()],
            ..DirectGetRequest::default()
        };
        let mut get = DirectGet::new(now, &request, TIMEOUT);
        assert!(get.handle_message(now, stored(7, Some(0))).unwrap().is_ok());
        let eob = message(
            Some((204, "EOB")),
            &[
                ("Nats-Num-Pending", "0"),
                ("Nats-Last-Sequence", "7"),
                ("Nats-UpTo-Sequence", "9"),
            ],
            "",
        );
        get.handle_message(now, eob);
        assert_eq!(get.end_of_batch().unwrap().up_to_sequence, Some(9));
    }

    #[test]
    fn error_statuses_end_the_request_with_their_meaning() {
        let now = crate::test_clock::base();
        let cases = [
            (
                (404, "No Results"),
                DirectGetError::NotFound("No Results".into()),
            ),
            (
                (408, "Bad Request"),
                DirectGetError::BadRequest("Bad Request".into()),
            ),
            ((413, "Too Many Results"), DirectGetError::TooManyResults),
            (
                (412, "Required Api Level"),
                DirectGetError::RequiredApiLevel("Required Api Level".into()),
            ),
            ((503, ""), DirectGetError::NoResponders),
            (
                (500, "boom"),
                DirectGetError::Status {
                    code: 500,
                    description: "boom".into(),
                },
            ),
        ];
        for (status, expected) in cases {
            let mut get = DirectGet::new(now, &batch(10), TIMEOUT);
            assert_eq!(
                get.handle_message(now, message(Some(status), &[], "")),
                Some(Err(expected))
            );
            assert!(get.is_finished());
            assert_eq!(get.end_of_batch(), None);
        }
    }

    #[test]
    fn a_single_get_ends_with_its_one_reply() {
        let now = crate::test_clock::base();
        let single = DirectGetRequest {
            seq: 4,
            ..DirectGetRequest::default()
        };
        let mut get = DirectGet::new(now, &single, TIMEOUT);
        assert_eq!(
            get.handle_message(now, stored(4, None))
                .unwrap()
                .unwrap()
                .sequence,
            4
        );
        assert!(get.is_finished());
    }

    #[test]
    fn an_old_server_answering_a_batch_with_one_message_ends_it() {
        let now = crate::test_clock::base();
        let mut get = DirectGet::new(now, &batch(5), TIMEOUT);
        assert!(get.handle_message(now, stored(1, None)).unwrap().is_ok());
        assert!(get.is_finished(), "no Nats-Num-Pending: no EOB will come");
        // Without headers asked for, the missing header means nothing.
        let bare = DirectGetRequest {
            no_hdr: true,
            ..batch(5)
        };
        let mut get = DirectGet::new(now, &bare, TIMEOUT);
        assert!(get
            .handle_message(now, message(None, &[], "v"))
            .unwrap()
            .is_ok());
        assert!(!get.is_finished());
    }

    #[test]
    fn silence_for_the_timeout_since_the_last_reply_ends_it() {
        let start = crate::test_clock::base();
        let mut get = DirectGet::new(start, &batch(5), TIMEOUT);
        assert_eq!(get.poll_timeout(), Some(start + TIMEOUT));
        let later = start + Duration::from_secs(3);
        get.handle_message(later, stored(1, Some(4)));
        assert_eq!(
            get.poll_timeout(),
            Some(later + TIMEOUT),
            "each reply extends it"
        );
        assert_eq!(get.handle_timeout(start + TIMEOUT), None, "not yet");
        assert_eq!(
            get.handle_timeout(later + TIMEOUT),
            Some(DirectGetError::TimedOut)
        );
        assert_eq!(get.handle_timeout(later + TIMEOUT * 2), None, "one ending");
        let heartbeat = message(Some((100, "Idle Heartbeat")), &[], "");
        assert_eq!(classify(heartbeat), DirectReply::Ignored);
    }
}
