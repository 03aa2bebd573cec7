//! An incremental decoder of server ops.
//!
//! Invariant: fed any chunking of the same bytes, the decoder yields the same ops. Bytes stay
//! in `buf` until a whole op is there; payloads, subjects and reply subjects are split off it
//! with no copy. The control line is searched for once per byte (the scan resumes where it
//! stopped), and is capped. A protocol violation poisons the decoder: every later call returns
//! [`DecodeError::Poisoned`] until [`Decoder::reset`]. No input makes it panic.

use std::ops::Range;

#[cfg(test)]
use bytes::Bytes;
use bytes::{Buf, BytesMut};

use super::{HeaderMap, Message, ServerInfo, Subject, SubjectError};

/// An op sent by the server.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerOp {
    /// `INFO {json}`.
    Info(Box<ServerInfo>),
    /// `MSG` or `HMSG`: a message for subscription `sid`.
    Msg {
        /// The subscription id the client chose.
        sid: u64,
        /// The message.
        message: Message,
    },
    /// A well-framed `MSG` or `HMSG` whose subject or reply subject this client cannot
    /// represent (not UTF-8). Its bytes are consumed and the decoder goes on with the next
    /// frame: another client's odd publish costs that message, not the connection.
    Unreadable {
        /// The subscription id the client chose.
        sid: u64,
        /// Header and payload bytes of the dropped message.
        length: usize,
        /// What is wrong with the subject.
        reason: SubjectError,
    },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK` (only with `verbose`).
    Ok,
    /// `-ERR '<text>'`: the text, trimmed, without the quotes.
    Err(String),
}

/// Why the server's bytes could not be decoded. Every variant poisons the decoder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// No line end within the control-line limit.
    #[error("control line longer than {limit} bytes")]
    ControlLineTooLong {
        /// The limit.
        limit: usize,
    },
    /// The line does not start with a known op.
    #[error("unknown protocol operation")]
    UnknownOperation,
    /// The op's arguments are malformed.
    #[error("invalid arguments to {op}")]
    InvalidArguments {
        /// The op.
        op: &'static str,
    },
    /// A message larger than the guard.
    #[error("message of {size} bytes is over the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The announced size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The payload is not followed by a line end.
    #[error("payload not followed by CRLF")]
    MissingPayloadTerminator,
    /// The INFO JSON does not parse.
    #[error("invalid INFO: {0}")]
    InvalidInfo(String),
    /// An earlier error poisoned the decoder.
    #[error("decoder poisoned by an earlier protocol error")]
    Poisoned,
}

/// The parsed control line of a MSG or HMSG, waiting for its payload.
#[derive(Debug, Clone)]
struct MsgHead {
    /// Length of the control line including its line end.
    line_len: usize,
    subject: Range<usize>,
    sid: u64,
    reply: Option<Range<usize>>,
    header_len: usize,
    total_len: usize,
}

#[derive(Debug)]
enum State {
    /// Looking for a control line; bytes before `scanned` hold no `\n`.
    Line { scanned: usize },
    /// Waiting for a message's payload.
    Payload(MsgHead),
    /// A protocol violation happened.
    Poisoned,
}

/// The incremental decoder. Append bytes with [`buffer_mut`](Self::buffer_mut) or
/// [`extend_from_slice`](Self::extend_from_slice), then call [`decode`](Self::decode) until it
/// returns `Ok(None)`.
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    state: State,
    max_control_line: usize,
    max_payload: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Splits `line[range]` at runs of spaces and tabs into at most `N` ranges; `None` if there
/// are more.
fn fields<const N: usize>(line: &[u8], start: usize) -> Option<([Range<usize>; N], usize)> {
    let mut out: [Range<usize>; N] = std::array::from_fn(|_| 0..0);
    let mut n = 0;
    let mut i = start;
    while i < line.len() {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i == line.len() {
            break;
        }
        let begin = i;
        while i < line.len() && !is_space(line[i]) {
            i += 1;
        }
        if n == N {
            return None;
        }
        out[n] = begin..i;
        n += 1;
    }
    Some((out, n))
}

fn parse_number(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

fn parse_size(bytes: &[u8]) -> Option<usize> {
    parse_number(bytes).and_then(|n| usize::try_from(n).ok())
}

impl Decoder {
    /// The default cap on a control line. The server's own limit on what it accepts is 4096
    /// by default but configurable, and it does not apply to what it sends, so the client's
    /// cap is well above it.
    pub const DEFAULT_MAX_CONTROL_LINE: usize = 64 * 1024;
    /// The default guard on a message's announced size.
    pub const DEFAULT_MAX_PAYLOAD: usize = 64 * 1024 * 1024;

    /// A decoder with the default limits.
    pub fn new() -> Decoder {
        Decoder::with_limits(Self::DEFAULT_MAX_CONTROL_LINE, Self::DEFAULT_MAX_PAYLOAD)
    }

    /// A decoder with the given control-line cap and message size guard.
    pub fn with_limits(max_control_line: usize, max_payload: usize) -> Decoder {
        Decoder {
            // Grows with what arrives; an idle connection keeps it small.
            buf: BytesMut::new(),
            state: State::Line { scanned: 0 },
            max_control_line,
            max_payload,
        }
    }

    /// Changes the message size guard.
    pub fn set_max_payload(&mut self, n: usize) {
        self.max_payload = n;
    }

    /// The buffer inbound bytes are appended to.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Appends inbound bytes.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered and not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// True after a protocol violation.
    pub fn is_poisoned(&self) -> bool {
        matches!(self.state, State::Poisoned)
    }

    /// Forgets buffered bytes and any poison, for a new connection.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.state = State::Line { scanned: 0 };
    }

    /// The next complete op, `Ok(None)` when more bytes are needed.
    pub fn decode(&mut self) -> Result<Option<ServerOp>, DecodeError> {
        let result = match std::mem::replace(&mut self.state, State::Poisoned) {
            State::Poisoned => return Err(DecodeError::Poisoned),
            State::Line { scanned } => self.decode_line(scanned),
            State::Payload(head) => self.decode_payload(head),
        };
        if result.is_err() {
            self.state = State::Poisoned;
        }
        result
    }

    fn decode_line(&mut self, scanned: usize) -> Result<Option<ServerOp>, DecodeError> {
        let Some(pos) = memchr::memchr(b'\n', &self.buf[scanned.min(self.buf.len())..]) else {
            // One byte of slack for the `\r` of a line end still to come.
            if self.buf.len() > self.max_control_line + 1 {
                return Err(DecodeError::ControlLineTooLong {
                    limit: self.max_control_line,
                });
            }
            self.state = State::Line {
                scanned: self.buf.len(),
            };
            return Ok(None);
        };
        let newline = scanned + pos;
        let line_len = newline + 1;
        let end = if newline > 0 && self.buf[newline - 1] == b'\r' {
            newline - 1
        } else {
            newline
        };
        if end > self.max_control_line {
            return Err(DecodeError::ControlLineTooLong {
                limit: self.max_control_line,
            });
        }
        let line = &self.buf[..end];
        let op_end = line.iter().position(|&b| is_space(b)).unwrap_or(line.len());
        let op = &line[..op_end];
        let no_arguments = line[op_end..].iter().all(|&b| is_space(b));
        let simple = |this: &mut Decoder, op: ServerOp| {
            this.buf.advance(line_len);
            this.state = State::Line { scanned: 0 };
            Ok(Some(op))
        };
        if op.eq_ignore_ascii_case(b"MSG") {
            let head = self.msg_head(line, op_end, line_len, false)?;
            return self.decode_payload(head);
        }
        if op.eq_ignore_ascii_case(b"HMSG") {
            let head = self.msg_head(line, op_end, line_len, true)?;
            return self.decode_payload(head);
        }
        if op.eq_ignore_ascii_case(b"PING") {
            if !no_arguments {
                return Err(DecodeError::InvalidArguments { op: "PING" });
            }
            return simple(self, ServerOp::Ping);
        }
        if op.eq_ignore_ascii_case(b"PONG") {
            if !no_arguments {
                return Err(DecodeError::InvalidArguments { op: "PONG" });
            }
            return simple(self, ServerOp::Pong);
        }
        if op.eq_ignore_ascii_case(b"+OK") {
            if !no_arguments {
                return Err(DecodeError::InvalidArguments { op: "+OK" });
            }
            return simple(self, ServerOp::Ok);
        }
        if op.eq_ignore_ascii_case(b"-ERR") {
            let text = String::from_utf8_lossy(&line[op_end..]);
            let text = text.trim();
            let text = text
                .strip_prefix('\'')
                .and_then(|t| t.strip_suffix('\''))
                .unwrap_or(text)
                .trim()
                .to_owned();
            return simple(self, ServerOp::Err(text));
        }
        if op.eq_ignore_ascii_case(b"INFO") {
            let info = ServerInfo::parse(&line[op_end..])
                .map_err(|e| DecodeError::InvalidInfo(e.to_string()))?;
            return simple(self, ServerOp::Info(Box::new(info)));
        }
        Err(DecodeError::UnknownOperation)
    }

    fn msg_head(
        &self,
        line: &[u8],
        op_end: usize,
        line_len: usize,
        with_headers: bool,
    ) -> Result<MsgHead, DecodeError> {
        let op = if with_headers { "HMSG" } else { "MSG" };
        let invalid = DecodeError::InvalidArguments { op };
        let Some((f, n)) = fields::<5>(line, op_end) else {
            return Err(invalid);
        };
        let (subject, sid, reply, sizes) = match (with_headers, n) {
            (false, 3) => (&f[0], &f[1], None, &f[2..3]),
            (false, 4) => (&f[0], &f[1], Some(f[2].clone()), &f[3..4]),
            (true, 4) => (&f[0], &f[1], None, &f[2..4]),
            (true, 5) => (&f[0], &f[1], Some(f[2].clone()), &f[3..5]),
            _ => return Err(invalid),
        };
        let sid = parse_number(&line[sid.clone()]).ok_or(DecodeError::InvalidArguments { op })?;
        let (header_len, total_len) = if with_headers {
            let h = parse_size(&line[sizes[0].clone()]);
            let t = parse_size(&line[sizes[1].clone()]);
            match (h, t) {
                (Some(h), Some(t)) if h <= t && h > 0 => (h, t),
                _ => return Err(DecodeError::InvalidArguments { op }),
            }
        } else {
            let t =
                parse_size(&line[sizes[0].clone()]).ok_or(DecodeError::InvalidArguments { op })?;
            (0, t)
        };
        if total_len > self.max_payload {
            return Err(DecodeError::PayloadTooLarge {
                size: total_len,
                limit: self.max_payload,
            });
        }
        Ok(MsgHead {
            line_len,
            subject: subject.clone(),
            sid,
            reply,
            header_len,
            total_len,
        })
    }

    fn decode_payload(&mut self, head: MsgHead) -> Result<Option<ServerOp>, DecodeError> {
        let body_end = head.line_len + head.total_len;
        // The payload ends with CRLF (tolerating a bare LF).
        let terminator = match self.buf.get(body_end) {
            None => None,
            Some(b'\n') => Some(1),
            Some(b'\r') => match self.buf.get(body_end + 1) {
                None => None,
                Some(b'\n') => Some(2),
                Some(_) => return Err(DecodeError::MissingPayloadTerminator),
            },
            Some(_) => return Err(DecodeError::MissingPayloadTerminator),
        };
        let Some(terminator) = terminator else {
            self.buf.reserve(body_end + 2 - self.buf.len());
            self.state = State::Payload(head);
            return Ok(None);
        };
        let line = self.buf.split_to(head.line_len).freeze();
        // The frame is sound (its sizes and terminator check out); a malformed header block
        // inside it came from another client, so it costs that message its bad lines, not
        // the connection.
        let headers = if head.header_len > 0 {
            let block = self.buf.split_to(head.header_len).freeze();
            Some(HeaderMap::decode_received(block))
        } else {
            None
        };
        let payload = self.buf.split_to(head.total_len - head.header_len).freeze();
        self.buf.advance(terminator);
        self.state = State::Line { scanned: 0 };
        let subject = Subject::from_server(line.slice(head.subject));
        let reply = head
            .reply
            .map(|range| Subject::from_server(line.slice(range)))
            .transpose();
        let (subject, reply) = match (subject, reply) {
            (Ok(subject), Ok(reply)) => (subject, reply),
            (Err(reason), _) | (_, Err(reason)) => {
                return Ok(Some(ServerOp::Unreadable {
                    sid: head.sid,
                    length: head.total_len,
                    reason,
                }))
            }
        };
        Ok(Some(ServerOp::Msg {
            sid: head.sid,
            message: Message {
                subject,
                reply,
                headers,
                payload,
                length: head.total_len,
            },
        }))
    }
}

/// Bytes of a payload, for tests that check zero-copy.
#[cfg(test)]
fn as_ptr_range(b: &Bytes) -> Range<usize> {
    let start = b.as_ptr() as usize;
    start..start + b.len()
}

#[cfg(test)]
mod peer_tests;
#[cfg(test)]
mod tests;
