//! An incremental decoder of server ops.
//!
//! Invariant: fed any chunking of the same bytes, the decoder yields the same ops. Bytes stay
//! in `buf` until a whole op is there; payloads, subjects and reply subjects are split off it
//! with no copy. The control line is searched for once per byte (the scan resumes where it
//! stopped), and is capped. A protocol violation poisons the decoder: every later call returns
//! [`DecodeError::Poisoned`] until [`Decoder::reset`]. No input makes it panic.
//!
//! Speed: a short control line (the common `MSG`/`HMSG` case) is read in one pass eight bytes
//! at a time, which finds its end, its separators and whether it is all ASCII at once (so its
//! subjects need no UTF-8 check); every other line takes the byte-at-a-time path, which
//! splits it the same way. A frame is split off the read buffer once, and its parts are
//! slices of that one handle.

#[cfg(test)]
use std::ops::Range;

#[cfg(test)]
use bytes::Bytes;
use bytes::{Buf, BytesMut};

use super::swar::{bytes_below_0x21, bytes_equal, gather, parse_number};
use super::{HeaderMap, Message, ServerInfo, Subject, SubjectError};
use blocks::Blocks;

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

/// The parsed control line of a MSG or HMSG, waiting for its payload. Ranges are
/// `(start, end)` offsets into the control line.
#[derive(Debug, Clone, Copy)]
struct MsgHead {
    /// Length of the control line including its line end.
    line_len: usize,
    subject: (usize, usize),
    sid: u64,
    reply: Option<(usize, usize)>,
    header_len: usize,
    total_len: usize,
    /// The whole control line is ASCII, so the subjects need no UTF-8 check.
    ascii: bool,
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
    /// How `buf` grows, and the blocks it reuses.
    blocks: Blocks,
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

/// The arguments of a MSG or HMSG line: up to five `(start, end)` fields and their count.
type Fields = ([(usize, usize); 5], usize);

/// Splits `line[start..]` at runs of spaces and tabs into at most five fields; `None` if
/// there are more. The twin of [`Short::fields`], for long lines: each field's end is found
/// with `memchr2` (a JetStream delivery's ack reply subject alone is often 80 bytes).
fn fields(line: &[u8], start: usize) -> Option<Fields> {
    let mut out = [(0, 0); 5];
    let mut n = 0;
    let mut i = start;
    while i < line.len() {
        while line.get(i).is_some_and(|&b| is_space(b)) {
            i += 1;
        }
        if i == line.len() {
            break;
        }
        let begin = i;
        let rest = line.get(i..).unwrap_or_default();
        i += memchr::memchr2(b' ', b'\t', rest).unwrap_or(rest.len());
        *out.get_mut(n)? = (begin, i);
        n += 1;
    }
    Some((out, n))
}

/// A control line found within the first [`Short::WIDTH`] bytes of the buffer, with its
/// separators as a bit mask. One pass over its bytes yields the line end, where the spaces
/// are, and whether it is all ASCII. Only lines whose sole bytes below `0x21` are spaces and
/// the line end qualify; any other (a tab, a stray `\r`, a control character) is left to
/// the byte-at-a-time path, which reads every line alike.
struct Short {
    /// Offset of the `\n`.
    newline: usize,
    /// Offset of the line end (`\r\n` or `\n`).
    end: usize,
    /// Bit `i` set where byte `i` (before `end`) is a space.
    spaces: u64,
    /// Every byte before `end` is ASCII.
    ascii: bool,
}

impl Short {
    /// How far the one-pass scan looks for the line end.
    const WIDTH: usize = 64;

    /// Scans the start of `buf`. `Err(at)` when the line is not a short one: no `\n` lies
    /// before `at`, where the search for it may resume.
    #[inline(always)]
    fn scan(buf: &[u8]) -> Result<Short, usize> {
        let mut spaces = 0;
        let mut high = 0;
        for at in (0..Self::WIDTH).step_by(8) {
            let rest = buf.get(at..).unwrap_or_default();
            let word = match rest.first_chunk::<8>() {
                Some(word) => u64::from_le_bytes(*word),
                None => {
                    // The tail, padded with zeros (which stop the scan at the end of `buf`).
                    let mut word = [0; 8];
                    if let Some(head) = word.get_mut(..rest.len()) {
                        head.copy_from_slice(rest);
                    }
                    u64::from_le_bytes(word)
                }
            };
            let space = bytes_equal(word, b' ');
            let stop = bytes_below_0x21(word) & !space;
            if stop != 0 {
                // Keep only the bytes before the first stop.
                let before = (stop & stop.wrapping_neg()) - 1;
                spaces |= gather(space & before) << at;
                high |= word & before;
                let end = at + (stop.trailing_zeros() / 8) as usize;
                let newline = match buf.get(end) {
                    Some(b'\n') => end,
                    Some(b'\r') if buf.get(end + 1) == Some(&b'\n') => end + 1,
                    _ => return Err(end.min(buf.len())),
                };
                return Ok(Short {
                    newline,
                    end,
                    spaces,
                    ascii: high & 0x8080_8080_8080_8080 == 0,
                });
            }
            spaces |= gather(space) << at;
            high |= word;
        }
        Err(Self::WIDTH)
    }

    /// The fields of `line` (which ends before the `\n`) after `op_end`, as
    /// [`fields`] splits them.
    #[inline(always)]
    fn fields(&self, end: usize, op_end: usize) -> Option<Fields> {
        // Non-separator bytes of the arguments: below `end`, at or after `op_end`.
        let inside = (1u64 << end) - 1;
        let words = !self.spaces & inside & !((1u64 << op_end) - 1);
        let mut starts = words & !(words << 1);
        let mut ends = words & !(words >> 1);
        let n = starts.count_ones() as usize;
        if n > 5 {
            return None;
        }
        let mut out = [(0, 0); 5];
        for field in out.iter_mut().take(n) {
            *field = (
                starts.trailing_zeros() as usize,
                ends.trailing_zeros() as usize + 1,
            );
            starts &= starts - 1;
            ends &= ends - 1;
        }
        Some((out, n))
    }
}

#[inline(always)]
fn parse_size(bytes: &[u8]) -> Option<usize> {
    parse_number(bytes).and_then(|n| usize::try_from(n).ok())
}

/// Is `op` (of any case) the three letters `msg`? `x | 0x20` folds exactly the two cases of
/// a letter onto the lower one.
#[inline(always)]
fn is_msg(op: &[u8]) -> bool {
    matches!(op, [m, s, g] if m | 0x20 == b'm' && s | 0x20 == b's' && g | 0x20 == b'g')
}

/// Is `op` (of any case) `hmsg`?
#[inline(always)]
fn is_hmsg(op: &[u8]) -> bool {
    matches!(op, [h, rest @ ..] if h | 0x20 == b'h' && is_msg(rest))
}

/// `bytes[range]`, empty when out of range (it never is for ranges the decoder made).
#[inline(always)]
fn field(bytes: &[u8], (start, end): (usize, usize)) -> &[u8] {
    bytes.get(start..end).unwrap_or_default()
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
            blocks: Blocks::default(),
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
        self.make_room(data.len());
        self.buf.extend_from_slice(data);
    }

    /// Makes room for `n` more bytes. The buffer grows by doubling, and reuses the blocks it
    /// grew out of once no message cut from them is alive, so a reader that keeps up costs
    /// no allocation per message.
    pub fn make_room(&mut self, n: usize) {
        self.blocks.make_room(&mut self.buf, n);
    }

    /// Makes room for a read of up to `n` bytes straight into the buffer, and returns how
    /// many that read should take at most. While a message larger than a block of reads
    /// (64 KiB) is awaited in the block made for it, the read takes no more than the
    /// message's rest: the bytes after it start the next block, instead of the whole
    /// message moving to a bigger one (a copy of it, and two blocks held for one message).
    /// A smaller message's rest is no reason to cut a read short: at worst that rest moves.
    pub fn room_for_read(&mut self, n: usize) -> usize {
        if let State::Payload(head) = &self.state {
            let whole = head.line_len + head.total_len + 2;
            let rest = whole.saturating_sub(self.buf.len());
            if whole > blocks::GROWTH_CAP
                && rest > 0
                && self.buf.capacity() - self.buf.len() >= rest
            {
                return n.min(rest);
            }
        }
        self.make_room(n);
        n
    }

    /// Lets go of the memory the buffer grew to, if nothing is pending in it: the buffer
    /// starts small again, as a new decoder's. Messages already cut from it keep their bytes.
    /// Returns whether it did.
    pub fn release_memory(&mut self) -> bool {
        if !self.buf.is_empty() || !matches!(self.state, State::Line { scanned: 0 }) {
            return false;
        }
        self.buf = BytesMut::new();
        self.blocks.release();
        true
    }

    /// Bytes of memory the buffer holds: the block it is in and the blocks kept for reuse.
    pub fn held_memory(&self) -> usize {
        self.blocks.held()
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
        // Every `Ok` path below sets the state it leaves the decoder in.
        let result = match self.state {
            State::Line { scanned } => self.decode_line(scanned),
            State::Payload(head) => self.decode_payload(head),
            State::Poisoned => return Err(DecodeError::Poisoned),
        };
        if result.is_err() {
            self.state = State::Poisoned;
        }
        result
    }

    #[inline(always)]
    fn decode_line(&mut self, scanned: usize) -> Result<Option<ServerOp>, DecodeError> {
        // The common case: a whole short line at the front, scanned in one pass.
        if scanned == 0 {
            let short = match Short::scan(&self.buf) {
                Ok(short) => short,
                // No `\n` before `at`: the search resumes there.
                Err(at) => return self.decode_long_line(at),
            };
            if short.end > self.max_control_line {
                return Err(DecodeError::ControlLineTooLong {
                    limit: self.max_control_line,
                });
            }
            let op_end = (short.spaces.trailing_zeros() as usize).min(short.end);
            let op = self.buf.get(..op_end).unwrap_or_default();
            let with_headers = if is_msg(op) {
                false
            } else if is_hmsg(op) {
                true
            } else {
                return self.other_op(short.newline);
            };
            let fields = short.fields(short.end, op_end);
            let head = self.msg_head(fields, short.newline + 1, with_headers, short.ascii)?;
            return self.decode_payload(head);
        }
        self.decode_long_line(scanned)
    }

    /// The end of the line whose `\n` is at `newline` (before a `\r`), within the cap.
    #[inline(always)]
    fn line_end(&self, newline: usize) -> Result<usize, DecodeError> {
        let end = match newline.checked_sub(1) {
            Some(cr) if self.buf.get(cr) == Some(&b'\r') => cr,
            _ => newline,
        };
        if end > self.max_control_line {
            return Err(DecodeError::ControlLineTooLong {
                limit: self.max_control_line,
            });
        }
        Ok(end)
    }

    /// A line that is not a [`Short`] one, or one that came in pieces: the search for its
    /// end resumes at `scanned`.
    #[cold]
    #[inline(never)]
    fn decode_long_line(&mut self, scanned: usize) -> Result<Option<ServerOp>, DecodeError> {
        let rest = self.buf.get(scanned..).unwrap_or_default();
        let Some(pos) = memchr::memchr(b'\n', rest) else {
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
        let end = self.line_end(newline)?;
        let line = self.buf.get(..end).unwrap_or_default();
        let op_end = line.iter().position(|&b| is_space(b)).unwrap_or(line.len());
        let op = line.get(..op_end).unwrap_or_default();
        let with_headers = if is_msg(op) {
            false
        } else if is_hmsg(op) {
            true
        } else {
            return self.other_op(newline);
        };
        let fields = fields(line, op_end);
        let head = self.msg_head(fields, newline + 1, with_headers, line.is_ascii())?;
        self.decode_payload(head)
    }

    /// Any op but MSG and HMSG, on the line whose `\n` is at `newline`.
    #[cold]
    #[inline(never)]
    fn other_op(&mut self, newline: usize) -> Result<Option<ServerOp>, DecodeError> {
        let line_len = newline + 1;
        let end = self.line_end(newline)?;
        let line = self.buf.get(..end).unwrap_or_default();
        let op_end = line.iter().position(|&b| is_space(b)).unwrap_or(line.len());
        let (op, arguments) = line.split_at(op_end);
        let no_arguments = arguments.iter().all(|&b| is_space(b));
        let simple = |this: &mut Decoder, op: ServerOp| {
            this.buf.advance(line_len);
            this.state = State::Line { scanned: 0 };
            Ok(Some(op))
        };
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
            let text = String::from_utf8_lossy(arguments);
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
            let info = ServerInfo::parse(arguments)
                .map_err(|e| DecodeError::InvalidInfo(e.to_string()))?;
            return simple(self, ServerOp::Info(Box::new(info)));
        }
        Err(DecodeError::UnknownOperation)
    }

    /// The head of a MSG (`with_headers` false) or HMSG line of `line_len` bytes, from its
    /// argument `fields` (`None`: more than five).
    #[inline(always)]
    fn msg_head(
        &self,
        fields: Option<Fields>,
        line_len: usize,
        with_headers: bool,
        ascii: bool,
    ) -> Result<MsgHead, DecodeError> {
        let op = if with_headers { "HMSG" } else { "MSG" };
        let invalid = || DecodeError::InvalidArguments { op };
        let (f, n) = fields.ok_or_else(invalid)?;
        let (subject, sid, reply, sizes) = match (with_headers, n) {
            (false, 3) => (f[0], f[1], None, (f[2], f[2])),
            (false, 4) => (f[0], f[1], Some(f[2]), (f[3], f[3])),
            (true, 4) => (f[0], f[1], None, (f[2], f[3])),
            (true, 5) => (f[0], f[1], Some(f[2]), (f[3], f[4])),
            _ => return Err(invalid()),
        };
        let line = &self.buf[..];
        let sid = parse_number(field(line, sid)).ok_or_else(invalid)?;
        let (header_len, total_len) = if with_headers {
            let h = parse_size(field(line, sizes.0));
            let t = parse_size(field(line, sizes.1));
            match (h, t) {
                (Some(h), Some(t)) if h <= t && h > 0 => (h, t),
                _ => return Err(invalid()),
            }
        } else {
            (0, parse_size(field(line, sizes.1)).ok_or_else(invalid)?)
        };
        if total_len > self.max_payload {
            return Err(DecodeError::PayloadTooLarge {
                size: total_len,
                limit: self.max_payload,
            });
        }
        Ok(MsgHead {
            line_len,
            subject,
            sid,
            reply,
            header_len,
            total_len,
            ascii,
        })
    }

    /// Out of line on purpose: inlined into `decode` it made the whole path slower on the
    /// micro bench (1.65 against 1.78 GB/s, best-of-10 medians), the larger function
    /// spilling more.
    #[inline(never)]
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
            return Ok(self.await_payload(head));
        };
        self.state = State::Line { scanned: 0 };
        if !head.ascii {
            if let Err(reason) = self.check_utf8(&head) {
                // The frame is consumed; it costs only this message.
                self.buf.advance(body_end + terminator);
                return Ok(Some(ServerOp::Unreadable {
                    sid: head.sid,
                    length: head.total_len,
                    reason,
                }));
            }
        }
        // One split of the read buffer for the whole frame; the parts are slices of it, and
        // the frame's own handle becomes the payload.
        let mut frame = self.buf.split_to(body_end + terminator).freeze();
        let subject = Subject::from_server_checked(frame.slice(head.subject.0..head.subject.1));
        let reply = head
            .reply
            .map(|(start, end)| Subject::from_server_checked(frame.slice(start..end)));
        let header_len = head.header_len;
        if header_len == 0 {
            frame.truncate(body_end);
            frame.advance(head.line_len);
            return Ok(Some(ServerOp::Msg {
                sid: head.sid,
                message: Message {
                    subject,
                    reply,
                    headers: None,
                    payload: frame,
                    length: head.total_len,
                },
            }));
        }
        // The frame is sound (its sizes and terminator check out); a malformed header block
        // inside it came from another client, so it costs that message its bad lines, not
        // the connection.
        let block = frame.slice(head.line_len..head.line_len + header_len);
        let headers = HeaderMap::decode_received(block);
        frame.truncate(body_end);
        frame.advance(head.line_len + header_len);
        Ok(Some(ServerOp::Msg {
            sid: head.sid,
            message: Message {
                subject,
                reply,
                headers: Some(headers),
                payload: frame,
                length: head.total_len,
            },
        }))
    }

    /// Waits for the rest of a message, with room reserved for it.
    #[cold]
    #[inline(never)]
    fn await_payload(&mut self, head: MsgHead) -> Option<ServerOp> {
        let body_end = head.line_len + head.total_len;
        let rest = (body_end + 2).saturating_sub(self.buf.len());
        self.blocks.make_room_for_message(&mut self.buf, rest);
        self.state = State::Payload(head);
        None
    }

    /// Checks the subject and the reply of a line that is not all ASCII.
    #[cold]
    #[inline(never)]
    fn check_utf8(&self, head: &MsgHead) -> Result<(), SubjectError> {
        let line = &self.buf[..];
        Subject::check_from_server(field(line, head.subject))?;
        match head.reply {
            Some(reply) => Subject::check_from_server(field(line, reply)),
            None => Ok(()),
        }
    }
}

/// Bytes of a payload, for tests that check zero-copy.
#[cfg(test)]
fn as_ptr_range(b: &Bytes) -> Range<usize> {
    let start = b.as_ptr() as usize;
    start..start + b.len()
}

mod blocks;
#[cfg(test)]
mod peer_tests;
#[cfg(test)]
mod tests;
