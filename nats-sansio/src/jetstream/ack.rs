//! Acknowledgements: the metadata a JetStream message carries in its ack reply subject, and
//! the payloads a client publishes to that subject to acknowledge it.
//!
//! Invariant: [`parse`] accepts exactly the two layouts the server emits (9 tokens, or 11 and
//! more) and nothing else; every numeric field is a plain unsigned decimal. [`AckKind::payload`]
//! produces exactly the bytes the server's `processAck` recognises for that kind.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;

use super::pull::PullRequest;
use crate::proto::swar::{bytes_equal, parse_number};

/// The prefix of every ack reply subject.
const ACK_PREFIX: [&str; 2] = ["$JS", "ACK"];

/// The domain token that means "no domain" in a v2 ack subject.
const NO_DOMAIN: &str = "_";

/// What a JetStream message's ack reply subject says about it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageMetadata {
    /// The stream the message is stored in.
    pub stream: String,
    /// The consumer that delivered it.
    pub consumer: String,
    /// The JetStream domain, when the subject is in the v2 layout and names one.
    pub domain: Option<String>,
    /// How many times it has been delivered, this delivery included (1 = first delivery).
    pub delivered: u64,
    /// Its sequence number in the stream.
    pub stream_sequence: u64,
    /// Its sequence number in the consumer.
    pub consumer_sequence: u64,
    /// When it was stored, in nanoseconds since the Unix epoch.
    pub timestamp_nanos: u64,
    /// How many messages are left for this consumer after this one.
    pub pending: u64,
}

/// Why a reply subject is not a JetStream ack subject.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataError {
    /// The subject does not start with `$JS.ACK.`.
    #[error("not a JetStream ack subject: it does not start with '$JS.ACK.'")]
    NotAckSubject,
    /// The subject has a number of tokens that is neither 9 (v1) nor 11 or more (v2).
    #[error("invalid JetStream ack subject: {0} tokens (expected 9, or 11 or more)")]
    TokenCount(usize),
    /// A token is empty.
    #[error("invalid JetStream ack subject: empty token")]
    EmptyToken,
    /// A numeric field is not an unsigned decimal number.
    #[error("invalid JetStream ack subject: {field} is not a number: {value:?}")]
    InvalidNumber {
        /// Which field.
        field: &'static str,
        /// What was there instead.
        value: String,
    },
}

/// Parses the metadata out of an ack reply subject.
///
/// Two layouts are accepted (ADR-15):
/// - v1, 9 tokens: `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`;
/// - v2, 11 tokens or more: `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.
///   <sseq>.<cseq>.<ts>.<pending>[.<more>...]`, the domain `_` meaning none; tokens after the
///   eleventh are ignored.
///
/// # Errors
///
/// A [`MetadataError`] for a subject not starting `$JS.ACK.`, with 10 or fewer than 9 tokens,
/// with an empty token, or with a non-numeric numeric field.
///
/// ```
/// use nats_sansio::jetstream::ack;
///
/// let m = ack::parse("$JS.ACK.ORDERS.worker.1.42.7.1700000000000000000.3").unwrap();
/// assert_eq!((m.stream.as_str(), m.stream_sequence, m.pending), ("ORDERS", 42, 3));
/// assert!(ack::parse("$JS.ACK.ORDERS.worker.1.42.7.1700000000000000000").is_err());
/// ```
pub fn parse(reply: &str) -> Result<MessageMetadata, MetadataError> {
    parse_ref(reply).map(|info| info.to_owned())
}

/// What an ack reply subject says, borrowed from it: [`parse`] without allocating, for the
/// machines that read every delivered message's subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckInfo<'a> {
    /// The stream the message is stored in.
    pub stream: &'a str,
    /// The consumer that delivered it.
    pub consumer: &'a str,
    /// The JetStream domain, when the subject is in the v2 layout and names one.
    pub domain: Option<&'a str>,
    /// How many times it has been delivered, this delivery included.
    pub delivered: u64,
    /// Its sequence number in the stream.
    pub stream_sequence: u64,
    /// Its sequence number in the consumer.
    pub consumer_sequence: u64,
    /// When it was stored, in nanoseconds since the Unix epoch.
    pub timestamp_nanos: u64,
    /// How many messages are left for this consumer after this one.
    pub pending: u64,
}

impl AckInfo<'_> {
    /// The owned form.
    pub fn to_owned(&self) -> MessageMetadata {
        MessageMetadata {
            stream: self.stream.to_owned(),
            consumer: self.consumer.to_owned(),
            domain: self.domain.map(str::to_owned),
            delivered: self.delivered,
            stream_sequence: self.stream_sequence,
            consumer_sequence: self.consumer_sequence,
            timestamp_nanos: self.timestamp_nanos,
            pending: self.pending,
        }
    }
}

/// Parses an ack reply subject as [`parse`] does, borrowing the names from it.
///
/// # Errors
///
/// As [`parse`].
pub fn parse_ref(reply: &str) -> Result<AckInfo<'_>, MetadataError> {
    parse_spans(reply).map(|spans| spans.info(reply))
}

/// What [`parse_ref`] reads, kept without borrowing the subject: its numbers, and where its
/// names lie in it. A machine that parsed a subject hands this on, and the next reader gets
/// the same [`AckInfo`] from the subject for nothing ([`AckSpans::info`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckSpans {
    stream: (usize, usize),
    consumer: (usize, usize),
    domain: Option<(usize, usize)>,
    delivered: u64,
    stream_sequence: u64,
    consumer_sequence: u64,
    timestamp_nanos: u64,
    pending: u64,
}

impl AckSpans {
    /// The metadata of `reply`, the subject these spans were parsed from.
    pub fn info<'a>(&self, reply: &'a str) -> AckInfo<'a> {
        let name = |(start, end): (usize, usize)| reply.get(start..end).unwrap_or_default();
        AckInfo {
            stream: name(self.stream),
            consumer: name(self.consumer),
            domain: self.domain.map(name),
            delivered: self.delivered,
            stream_sequence: self.stream_sequence,
            consumer_sequence: self.consumer_sequence,
            timestamp_nanos: self.timestamp_nanos,
            pending: self.pending,
        }
    }
}

/// Parses an ack reply subject as [`parse`] does, into [`AckSpans`].
///
/// # Errors
///
/// As [`parse`].
pub fn parse_spans(reply: &str) -> Result<AckSpans, MetadataError> {
    // Every delivered message's subject is read this way: one pass over its bytes, eight at
    // a time, finds the dots; the tokens are the spans between them.
    let bytes = reply.as_bytes();
    let mut dots = Dots::default();
    let mut words = bytes.chunks_exact(8);
    let mut base = 0;
    for word in words.by_ref() {
        let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
        let mut found = bytes_equal(word, b'.');
        while found != 0 {
            dots.push(base + (found.trailing_zeros() / 8) as usize);
            found &= found - 1;
        }
        base += 8;
    }
    for (i, &b) in words.remainder().iter().enumerate() {
        if b == b'.' {
            dots.push(base + i);
        }
    }
    dots.push(bytes.len());
    let span = |i: usize| match i {
        0 => (0, dots.ends[0]),
        _ => (dots.ends[i - 1] + 1, dots.ends[i]),
    };
    // A span's bounds are character boundaries: a `.` is one byte.
    let token = |i: usize| {
        let (start, end) = span(i);
        reply.get(start..end).unwrap_or_default()
    };
    let count = dots.count;
    if count < 2 || [token(0), token(1)] != ACK_PREFIX {
        return Err(MetadataError::NotAckSubject);
    }
    if dots.any_empty {
        return Err(MetadataError::EmptyToken);
    }
    let (domain, first) = match count {
        9 => (None, 2),
        n if n >= 11 => (Some(span(2)).filter(|_| token(2) != NO_DOMAIN), 4),
        n => return Err(MetadataError::TokenCount(n)),
    };
    Ok(AckSpans {
        stream: span(first),
        consumer: span(first + 1),
        domain,
        delivered: number("delivered", token(first + 2))?,
        stream_sequence: number("stream sequence", token(first + 3))?,
        consumer_sequence: number("consumer sequence", token(first + 4))?,
        timestamp_nanos: number("timestamp", token(first + 5))?,
        pending: number("pending", token(first + 6))?,
    })
}

/// The token ends of a subject being scanned: the first twelve (all any layout reads), the
/// count of all, and whether any token is empty.
#[derive(Default)]
struct Dots {
    ends: [usize; 12],
    count: usize,
    /// Where the next token starts.
    next: usize,
    any_empty: bool,
}

impl Dots {
    /// The token that started at `next` ends at `at` (a dot, or the subject's end).
    #[inline(always)]
    fn push(&mut self, at: usize) {
        if let Some(end) = self.ends.get_mut(self.count) {
            *end = at;
        }
        self.any_empty |= at == self.next;
        self.count += 1;
        self.next = at + 1;
    }
}

/// An unsigned decimal: ASCII digits only (no sign, no spaces), fitting in a `u64`.
fn number(field: &'static str, token: &str) -> Result<u64, MetadataError> {
    parse_number(token.as_bytes()).ok_or_else(|| MetadataError::InvalidNumber {
        field,
        value: token.to_owned(),
    })
}

impl FromStr for MessageMetadata {
    type Err = MetadataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

/// How to acknowledge a message: what to publish to its reply subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AckKind {
    /// `+ACK`: processed; never redeliver.
    Ack,
    /// `-NAK`: redeliver, at once or after the delay (`-NAK {"delay":<ns>}`).
    Nak(Option<Duration>),
    /// `+WPI`: still working on it; resets the ack-wait timer. May be sent repeatedly.
    Progress,
    /// `+NXT`: acknowledge and ask for more, delivered to the subject the ack is published
    /// with as its reply. `None` asks for one message, `Some` sends the pull request.
    Next(Option<PullRequest>),
    /// `+TERM`: never redeliver; the reason, if any, goes into the server's advisory.
    Term(Option<String>),
}

impl AckKind {
    /// The bytes to publish to the message's reply subject.
    ///
    /// ```
    /// use std::time::Duration;
    /// use nats_sansio::jetstream::ack::AckKind;
    ///
    /// assert_eq!(AckKind::Ack.payload(), "+ACK");
    /// assert_eq!(AckKind::Nak(Some(Duration::from_secs(1))).payload(), "-NAK {\"delay\":1000000000}");
    /// assert_eq!(AckKind::Term(Some("bad input".into())).payload(), "+TERM bad input");
    /// ```
    pub fn payload(&self) -> Bytes {
        match self {
            AckKind::Ack => Bytes::from_static(b"+ACK"),
            AckKind::Nak(None) => Bytes::from_static(b"-NAK"),
            AckKind::Nak(Some(delay)) => {
                Bytes::from(format!("-NAK {{\"delay\":{}}}", delay.as_nanos()))
            }
            AckKind::Progress => Bytes::from_static(b"+WPI"),
            AckKind::Next(None) => Bytes::from_static(b"+NXT"),
            AckKind::Next(Some(request)) => {
                let mut out = b"+NXT ".to_vec();
                out.extend_from_slice(&request.to_json());
                Bytes::from(out)
            }
            AckKind::Term(None) => Bytes::from_static(b"+TERM"),
            AckKind::Term(Some(reason)) if reason.trim().is_empty() => Bytes::from_static(b"+TERM"),
            AckKind::Term(Some(reason)) => Bytes::from(format!("+TERM {reason}")),
        }
    }

    /// Does this ack settle the message, so that no further ack may follow?
    ///
    /// `+ACK`, `-NAK`, `+TERM` and `+NXT` (which acks) do; `+WPI` does not.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, AckKind::Progress)
    }

    /// Does the server answer this ack when it is sent as a request (a "double ack")?
    ///
    /// Every kind but `+NXT`, whose reply subject receives messages instead.
    pub fn is_answered(&self) -> bool {
        !matches!(self, AckKind::Next(_))
    }
}

impl fmt::Display for AckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.payload()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(
        stream: &str,
        consumer: &str,
        domain: Option<&str>,
        n: [u64; 5],
    ) -> Result<MessageMetadata, MetadataError> {
        Ok(MessageMetadata {
            stream: stream.into(),
            consumer: consumer.into(),
            domain: domain.map(Into::into),
            delivered: n[0],
            stream_sequence: n[1],
            consumer_sequence: n[2],
            timestamp_nanos: n[3],
            pending: n[4],
        })
    }

    #[test]
    fn parse_table() {
        let ts = 1_700_000_000_123_456_789;
        let cases: Vec<(&str, Result<MessageMetadata, MetadataError>)> = vec![
            (
                "$JS.ACK.S.C.1.2.3.1700000000123456789.4",
                meta("S", "C", None, [1, 2, 3, ts, 4]),
            ),
            (
                "$JS.ACK._.ACCHASH.S.C.5.6.7.1700000000123456789.0",
                meta("S", "C", None, [5, 6, 7, ts, 0]),
            ),
            (
                "$JS.ACK.hub.ACCHASH.ORDERS.dur.1.100.99.1700000000123456789.8",
                meta("ORDERS", "dur", Some("hub"), [1, 100, 99, ts, 8]),
            ),
            (
                "$JS.ACK.hub.ACCHASH.S.C.1.2.3.1700000000123456789.4.random",
                meta("S", "C", Some("hub"), [1, 2, 3, ts, 4]),
            ),
            (
                "$JS.ACK.hub.ACCHASH.S.C.1.2.3.1700000000123456789.4.x.y",
                meta("S", "C", Some("hub"), [1, 2, 3, ts, 4]),
            ),
            (
                "$JS.ACK.S.C.18446744073709551615.2.3.4.5",
                meta("S", "C", None, [u64::MAX, 2, 3, 4, 5]),
            ),
            // 10 tokens: neither layout.
            (
                "$JS.ACK.hub.S.C.1.2.3.1700000000123456789.4",
                Err(MetadataError::TokenCount(10)),
            ),
            ("$JS.ACK.S.C.1.2.3.4", Err(MetadataError::TokenCount(8))),
            ("$JS.ACK", Err(MetadataError::TokenCount(2))),
            ("$JS.NAK.S.C.1.2.3.4.5", Err(MetadataError::NotAckSubject)),
            ("JS.ACK.S.C.1.2.3.4.5", Err(MetadataError::NotAckSubject)),
            ("$js.ack.S.C.1.2.3.4.5", Err(MetadataError::NotAckSubject)),
            ("", Err(MetadataError::NotAckSubject)),
            ("garbage", Err(MetadataError::NotAckSubject)),
            ("$JS.ACK.S..1.2.3.4.5", Err(MetadataError::EmptyToken)),
            (
                "$JS.ACK.S.C.one.2.3.4.5",
                Err(MetadataError::InvalidNumber {
                    field: "delivered",
                    value: "one".into(),
                }),
            ),
            (
                "$JS.ACK.S.C.1.-2.3.4.5",
                Err(MetadataError::InvalidNumber {
                    field: "stream sequence",
                    value: "-2".into(),
                }),
            ),
            (
                "$JS.ACK.S.C.1.2.+3.4.5",
                Err(MetadataError::InvalidNumber {
                    field: "consumer sequence",
                    value: "+3".into(),
                }),
            ),
            (
                "$JS.ACK.S.C.1.2.3.4.18446744073709551616",
                Err(MetadataError::InvalidNumber {
                    field: "pending",
                    value: "18446744073709551616".into(),
                }),
            ),
            (
                "$JS.ACK._.H.S.C.1.2.3.x.5",
                Err(MetadataError::InvalidNumber {
                    field: "timestamp",
                    value: "x".into(),
                }),
            ),
        ];
        for (subject, want) in cases {
            assert_eq!(parse(subject), want, "{subject}");
            assert_eq!(subject.parse::<MessageMetadata>(), want, "{subject}");
        }
    }

    /// The plain reading of the layouts: split at every dot, then pick the tokens.
    fn split_parse(reply: &str) -> Result<MessageMetadata, MetadataError> {
        let tokens: Vec<&str> = reply.split('.').collect();
        if tokens.len() < 2 || tokens[..2] != ACK_PREFIX {
            return Err(MetadataError::NotAckSubject);
        }
        if tokens.iter().any(|t| t.is_empty()) {
            return Err(MetadataError::EmptyToken);
        }
        let (domain, rest) = match tokens.len() {
            9 => (None, &tokens[2..9]),
            n if n >= 11 => (Some(tokens[2]).filter(|d| *d != NO_DOMAIN), &tokens[4..11]),
            n => return Err(MetadataError::TokenCount(n)),
        };
        let number = |field, token: &str| {
            let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
            digits
                .then(|| token.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| MetadataError::InvalidNumber {
                    field,
                    value: token.to_owned(),
                })
        };
        Ok(MessageMetadata {
            stream: rest[0].to_owned(),
            consumer: rest[1].to_owned(),
            domain: domain.map(str::to_owned),
            delivered: number("delivered", rest[2])?,
            stream_sequence: number("stream sequence", rest[3])?,
            consumer_sequence: number("consumer sequence", rest[4])?,
            timestamp_nanos: number("timestamp", rest[5])?,
            pending: number("pending", rest[6])?,
        })
    }

    #[test]
    fn parse_reads_every_subject_as_a_plain_split_does() {
        let mut rng = crate::rng::Rng::new(11);
        let pieces = [
            "",
            "_",
            "7",
            "0",
            "42",
            "1700000000123456789",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
            "KV_bucket",
            "consumer_name_22chars",
            "é",
            "x.y",
            "-1",
            "+2",
            "$JS",
            "ACK",
        ];
        let mut valid = 0;
        for _ in 0..50_000 {
            let count = rng.below(14) as usize;
            let mut tokens: Vec<&str> = Vec::with_capacity(count + 2);
            if rng.below(8) != 0 {
                tokens.extend(["$JS", "ACK"]);
            }
            for _ in 0..count {
                let digits = rng.below(3) != 0;
                tokens.push(match digits {
                    true => pieces[2 + rng.below(7) as usize],
                    false => pieces[rng.below(pieces.len() as u64) as usize],
                });
            }
            let subject = tokens.join(".");
            let want = split_parse(&subject);
            valid += usize::from(want.is_ok());
            assert_eq!(parse(&subject), want, "{subject}");
        }
        assert!(valid > 1000, "{valid}");
    }

    #[test]
    fn payload_table() {
        let next = PullRequest {
            batch: 5,
            ..PullRequest::default()
        };
        let cases: Vec<(AckKind, &str, bool)> = vec![
            (AckKind::Ack, "+ACK", true),
            (AckKind::Nak(None), "-NAK", true),
            (
                AckKind::Nak(Some(Duration::from_millis(1500))),
                "-NAK {\"delay\":1500000000}",
                true,
            ),
            (
                AckKind::Nak(Some(Duration::ZERO)),
                "-NAK {\"delay\":0}",
                true,
            ),
            (AckKind::Progress, "+WPI", false),
            (AckKind::Next(None), "+NXT", true),
            (AckKind::Next(Some(next)), "+NXT {\"batch\":5}", true),
            (AckKind::Term(None), "+TERM", true),
            (AckKind::Term(Some(String::new())), "+TERM", true),
            (
                AckKind::Term(Some("poison message".into())),
                "+TERM poison message",
                true,
            ),
        ];
        for (kind, payload, terminal) in cases {
            assert_eq!(kind.payload(), payload.as_bytes(), "{kind:?}");
            assert_eq!(kind.to_string(), payload);
            assert_eq!(kind.is_terminal(), terminal, "{kind:?}");
            assert_eq!(kind.is_answered(), !matches!(kind, AckKind::Next(_)));
        }
    }
}
