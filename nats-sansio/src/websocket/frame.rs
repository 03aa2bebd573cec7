//! WebSocket frames (RFC 6455 §5): the client's masked frames out, the server's frames in.
//!
//! Invariant: [`FrameReader`] consumes its input exactly once, in order, whatever the
//! chunking: the data payloads it appends are the concatenation of the data frames'
//! payloads, and each control frame is returned at the point of the stream where it stood,
//! so a close frame is seen only after every byte sent before it. Any violation of the
//! framing rules is an error; after one the reader must not be used again.

use bytes::{Buf, BufMut, BytesMut};

use super::deflate::{Deflater, Inflater};
use super::WsError;

/// The largest payload of a data frame the client writes: a flush of more bytes goes out as
/// several complete frames.
pub const MAX_FRAME_PAYLOAD: usize = 64 * 1024;

/// The largest payload of a control frame (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The most bytes of one compressed message gathered before it is inflated.
const MAX_COMPRESSED_MESSAGE: usize = 64 * 1024 * 1024;

/// The close code of a normal closure.
pub const CLOSE_NORMAL: u16 = 1000;

const FIN: u8 = 0x80;
/// RSV1: the message is compressed (permessage-deflate), on its first frame only.
const COMPRESSED: u8 = 0x40;
/// RSV2 and RSV3: no extension defines them.
const RSV23: u8 = 0x30;
const MASKED: u8 = 0x80;
const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// XORs `data` with the 4-byte `key`, the first byte with `key[0]` (masking and unmasking
/// are the same operation).
pub fn apply_mask(data: &mut [u8], key: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut words = data.chunks_exact_mut(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        word.copy_from_slice(&(u64::from_ne_bytes(w) ^ wide).to_ne_bytes());
    }
    // Eight is a multiple of four: the rest starts again at key[0].
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

/// Appends the header of a masked frame of `len` payload bytes whose first byte (FIN,
/// RSV1, opcode) is `b0`.
fn write_header(out: &mut BytesMut, b0: u8, len: usize, key: [u8; 4]) {
    out.put_u8(b0);
    if len < 126 {
        out.put_u8(MASKED | len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.put_u8(MASKED | 126);
        out.put_u16(len);
    } else {
        out.put_u8(MASKED | 127);
        out.put_u64(len as u64);
    }
    out.put_slice(&key);
}

/// Appends one binary frame holding the next `min(src.remaining(), MAX_FRAME_PAYLOAD)`
/// bytes of `src`, masked with `key`, and advances `src` past them. Returns how many payload
/// bytes the frame took (0 when `src` is empty: nothing is written).
pub fn write_data_frame(out: &mut BytesMut, src: &mut dyn Buf, key: [u8; 4]) -> usize {
    let len = src.remaining().min(MAX_FRAME_PAYLOAD);
    if len == 0 {
        return 0;
    }
    out.reserve(len + 14);
    write_header(out, FIN | OP_BINARY, len, key);
    let start = out.len();
    let mut left = len;
    while left > 0 {
        let chunk = src.chunk();
        let n = chunk.len().min(left);
        out.extend_from_slice(&chunk[..n]);
        src.advance(n);
        left -= n;
    }
    apply_mask(&mut out[start..], key);
    len
}

/// Appends one binary message compressed with `deflater`: the next
/// `min(src.remaining(), max_plain)` bytes of `src`, advanced past them. `scratch` is a
/// buffer reused between calls. Returns how many plain bytes the message took.
pub fn write_compressed_frame(
    out: &mut BytesMut,
    src: &mut dyn Buf,
    max_plain: usize,
    key: [u8; 4],
    deflater: &mut Deflater,
    scratch: &mut BytesMut,
) -> usize {
    let len = src.remaining().min(max_plain);
    if len == 0 {
        return 0;
    }
    scratch.clear();
    deflater.compress(src, len, scratch);
    out.reserve(scratch.len() + 14);
    write_header(out, FIN | COMPRESSED | OP_BINARY, scratch.len(), key);
    let start = out.len();
    out.extend_from_slice(scratch);
    apply_mask(&mut out[start..], key);
    len
}

/// Appends an unmasked frame with first byte `b0` (FIN, RSV1, opcode) and `payload`, as a
/// server sends it: for simulated servers and tests of a client.
pub fn write_server_frame(out: &mut impl BufMut, b0: u8, payload: &[u8]) {
    out.put_u8(b0);
    match payload.len() {
        n if n < 126 => out.put_u8(n as u8),
        n if n <= 0xFFFF => {
            out.put_u8(126);
            out.put_u16(n as u16);
        }
        n => {
            out.put_u8(127);
            out.put_u64(n as u64);
        }
    }
    out.put_slice(payload);
}

/// Appends a pong answering a ping with `payload` (at most 125 bytes, as a ping's is).
pub fn write_pong(out: &mut BytesMut, payload: &[u8], key: [u8; 4]) {
    write_control(out, OP_PONG, payload, key);
}

/// Appends a close frame with `code` and no reason.
pub fn write_close(out: &mut BytesMut, code: u16, key: [u8; 4]) {
    write_control(out, OP_CLOSE, &code.to_be_bytes(), key);
}

fn write_control(out: &mut BytesMut, opcode: u8, payload: &[u8], key: [u8; 4]) {
    let payload = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
    write_header(out, FIN | opcode, payload.len(), key);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key);
}

/// A control frame from the server, for the caller to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Answer with a pong carrying the same payload ([`write_pong`]).
    Ping(Vec<u8>),
    /// The server closes the connection: no frame follows.
    Close {
        /// The close code, `None` when the frame carried none.
        code: Option<u16>,
        /// The reason text (lossily decoded when not UTF-8).
        reason: String,
    },
}

#[derive(Debug)]
enum State {
    /// Waiting for a frame header.
    Header,
    /// Inside a data frame: `left` payload bytes still to come; `fin`: the message's last.
    Data { left: u64, fin: bool },
    /// Inside a control frame: `payload` gathered so far, `left` bytes to come.
    Control {
        opcode: u8,
        left: usize,
        payload: Vec<u8>,
    },
}

/// Reads the server's frames from a byte stream, incrementally.
#[derive(Debug)]
pub struct FrameReader {
    state: State,
    /// A data message was begun by a frame without FIN: continuations may follow.
    fragmented: bool,
    /// permessage-deflate was negotiated: the inflater and the most a message may inflate to.
    compression: Option<(Inflater, usize)>,
    /// The message being read is compressed: its frames gather in `compressed`.
    message_compressed: bool,
    compressed: BytesMut,
}

impl Default for FrameReader {
    fn default() -> Self {
        FrameReader {
            state: State::Header,
            fragmented: false,
            compression: None,
            message_compressed: false,
            compressed: BytesMut::new(),
        }
    }
}

fn protocol(message: impl Into<String>) -> WsError {
    WsError::Protocol(message.into())
}

impl FrameReader {
    /// A reader expecting a frame header.
    pub fn new() -> FrameReader {
        FrameReader::default()
    }

    /// Accepts compressed messages (permessage-deflate was negotiated), each inflating to
    /// at most `limit` bytes.
    pub fn enable_compression(&mut self, limit: usize) {
        self.compression = Some((Inflater::default(), limit));
    }

    /// Consumes frames from the front of `input`, appending data payloads to `data`, until
    /// `input` holds no complete part of a frame or a control frame is complete: that one
    /// is returned (pongs are skipped). Call again after acting on it; after a
    /// [`Control::Close`] stop reading.
    pub fn read(
        &mut self,
        input: &mut BytesMut,
        data: &mut BytesMut,
    ) -> Result<Option<Control>, WsError> {
        loop {
            match &mut self.state {
                State::Header => {
                    if !self.read_header(input)? {
                        return Ok(None);
                    }
                }
                State::Data { left, fin } => {
                    if *left > 0 {
                        let n = usize::try_from(*left)
                            .unwrap_or(usize::MAX)
                            .min(input.len());
                        if n == 0 {
                            return Ok(None);
                        }
                        let target = if self.message_compressed {
                            &mut self.compressed
                        } else {
                            &mut *data
                        };
                        target.extend_from_slice(&input[..n]);
                        input.advance(n);
                        *left -= n as u64;
                        continue;
                    }
                    let fin = *fin;
                    self.state = State::Header;
                    if fin && self.message_compressed {
                        self.message_compressed = false;
                        if let Some((inflater, limit)) = self.compression.as_mut() {
                            inflater.inflate(&self.compressed, data, *limit)?;
                        }
                        self.compressed.clear();
                    }
                }
                State::Control {
                    opcode,
                    left,
                    payload,
                } => {
                    let n = (*left).min(input.len());
                    payload.extend_from_slice(&input[..n]);
                    input.advance(n);
                    *left -= n;
                    if *left > 0 {
                        return Ok(None);
                    }
                    let (opcode, payload) = (*opcode, std::mem::take(payload));
                    self.state = State::Header;
                    match opcode {
                        OP_PING => return Ok(Some(Control::Ping(payload))),
                        OP_CLOSE => return close(&payload).map(Some),
                        _ => {} // a pong: nothing to do
                    }
                }
            }
        }
    }

    /// Reads one frame header if `input` holds all of it; false when more bytes are needed.
    fn read_header(&mut self, input: &mut BytesMut) -> Result<bool, WsError> {
        let [b0, b1, ..] = input[..] else {
            return Ok(false);
        };
        if b1 & MASKED != 0 {
            return Err(protocol("the server sent a masked frame"));
        }
        if b0 & RSV23 != 0 || (b0 & COMPRESSED != 0 && self.compression.is_none()) {
            return Err(protocol(
                "a frame has reserved bits set, and no extension was negotiated",
            ));
        }
        let compressed = b0 & COMPRESSED != 0;
        let header_len = match b1 & 0x7F {
            126 => 4,
            127 => 10,
            _ => 2,
        };
        if input.len() < header_len {
            return Ok(false);
        }
        let len = match b1 & 0x7F {
            126 => u64::from(u16::from_be_bytes([input[2], input[3]])),
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&input[2..10]);
                let len = u64::from_be_bytes(b);
                if len >> 63 != 0 {
                    return Err(protocol("a frame length has its top bit set"));
                }
                len
            }
            short => u64::from(short),
        };
        let fin = b0 & FIN != 0;
        let opcode = b0 & 0x0F;
        match opcode {
            OP_CONTINUATION | OP_TEXT | OP_BINARY => {
                if opcode == OP_CONTINUATION && !self.fragmented {
                    return Err(protocol(
                        "a continuation frame without a message to continue",
                    ));
                }
                if opcode != OP_CONTINUATION && self.fragmented {
                    return Err(protocol(
                        "a new data frame before the last fragment of the message",
                    ));
                }
                if compressed && opcode == OP_CONTINUATION {
                    return Err(protocol("a continuation frame marked compressed"));
                }
                if opcode != OP_CONTINUATION {
                    self.message_compressed = compressed;
                }
                if self.message_compressed
                    && self.compressed.len() as u64 + len > MAX_COMPRESSED_MESSAGE as u64
                {
                    return Err(protocol("a compressed message longer than 64 MiB"));
                }
                self.fragmented = !fin;
                self.state = State::Data { left: len, fin };
            }
            OP_CLOSE | OP_PING | OP_PONG => {
                if !fin {
                    return Err(protocol("a fragmented control frame"));
                }
                if compressed {
                    return Err(protocol("a control frame marked compressed"));
                }
                if len > MAX_CONTROL_PAYLOAD as u64 {
                    return Err(protocol("a control frame longer than 125 bytes"));
                }
                self.state = State::Control {
                    opcode,
                    left: len as usize,
                    payload: Vec::new(),
                };
            }
            other => return Err(protocol(format!("unknown opcode {other:#x}"))),
        }
        input.advance(header_len);
        Ok(true)
    }
}

/// Decodes a close frame's payload: empty, or a 2-byte code and a reason.
fn close(payload: &[u8]) -> Result<Control, WsError> {
    match payload {
        [] => Ok(Control::Close {
            code: None,
            reason: String::new(),
        }),
        [_] => Err(protocol("a close frame with a 1-byte payload")),
        [hi, lo, reason @ ..] => Ok(Control::Close {
            code: Some(u16::from_be_bytes([*hi, *lo])),
            reason: String::from_utf8_lossy(reason).into_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unmasked server frame.
    fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_server_frame(&mut out, b0, payload);
        out
    }

    /// Reads everything, returning the data and the control frames in order.
    fn read_all(chunks: &[&[u8]]) -> Result<(Vec<u8>, Vec<Control>), WsError> {
        let mut reader = FrameReader::new();
        let (mut input, mut data, mut controls) = (BytesMut::new(), BytesMut::new(), vec![]);
        for chunk in chunks {
            input.extend_from_slice(chunk);
            while let Some(c) = reader.read(&mut input, &mut data)? {
                controls.push(c);
            }
        }
        Ok((data.to_vec(), controls))
    }

    #[test]
    fn masking_matches_the_byte_rule_at_every_length() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..40 {
            let plain: Vec<u8> = (0..len as u8).collect();
            let mut masked = plain.clone();
            apply_mask(&mut masked, key);
            let expected: Vec<u8> = plain
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[i % 4])
                .collect();
            assert_eq!(masked, expected);
            apply_mask(&mut masked, key);
            assert_eq!(masked, plain);
        }
        // RFC 6455 §5.7: a masked "Hello".
        let mut hello = b"Hello".to_vec();
        apply_mask(&mut hello, key);
        assert_eq!(hello, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn data_frames_are_final_binary_masked_and_cut_at_the_limit() {
        let payload: Vec<u8> = (0..MAX_FRAME_PAYLOAD + 300).map(|i| i as u8).collect();
        let mut src = &payload[..];
        let key = [1, 2, 3, 4];
        let mut out = BytesMut::new();
        assert_eq!(write_data_frame(&mut out, &mut src, key), MAX_FRAME_PAYLOAD);
        assert_eq!(write_data_frame(&mut out, &mut src, key), 300);
        assert_eq!(write_data_frame(&mut out, &mut src, key), 0);
        // The first: FIN|binary, MASK|126, 16-bit length, key, masked payload.
        assert_eq!(out[0], 0x82);
        assert_eq!(out[1], 0x80 | 127);
        assert_eq!(&out[2..10], &(MAX_FRAME_PAYLOAD as u64).to_be_bytes());
        assert_eq!(&out[10..14], &key);
        let mut body = out[14..14 + MAX_FRAME_PAYLOAD].to_vec();
        apply_mask(&mut body, key);
        assert_eq!(body, &payload[..MAX_FRAME_PAYLOAD]);
        let second = &out[14 + MAX_FRAME_PAYLOAD..];
        assert_eq!(&second[..4], &[0x82, 0x80 | 126, 0x01, 0x2c]);
        let mut body = second[8..].to_vec();
        apply_mask(&mut body, key);
        assert_eq!(body, &payload[MAX_FRAME_PAYLOAD..]);
    }

    #[test]
    fn a_frame_takes_bytes_across_the_chunks_of_a_buf() {
        let mut src = (&b"PUB a 2\r\n"[..]).chain(&b"hi\r\n"[..]);
        let mut out = BytesMut::new();
        assert_eq!(write_data_frame(&mut out, &mut src, [9, 9, 9, 9]), 13);
        let mut body = out[6..].to_vec();
        apply_mask(&mut body, [9, 9, 9, 9]);
        assert_eq!(body, b"PUB a 2\r\nhi\r\n");
    }

    #[test]
    fn control_frames_out_are_masked_with_their_payload() {
        let mut out = BytesMut::new();
        write_close(&mut out, CLOSE_NORMAL, [0, 0, 0, 0]);
        assert_eq!(&out[..], &[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
        let mut out = BytesMut::new();
        write_pong(&mut out, b"abc", [1, 1, 1, 1]);
        assert_eq!(
            &out[..],
            &[0x8a, 0x83, 1, 1, 1, 1, b'a' ^ 1, b'b' ^ 1, b'c' ^ 1]
        );
    }

    #[test]
    fn any_chunking_yields_the_same_stream_and_controls_in_place() {
        let mut wire = frame(0x82, b"INFO {}\r\n");
        wire.extend(frame(0x02, b"MSG a 1 5\r\nhe")); // first fragment
        wire.extend(frame(0x89, b"p1")); // a ping between fragments
        wire.extend(frame(0x80, b"llo\r\n")); // the last fragment
        wire.extend(frame(0x8A, b"ignored pong"));
        wire.extend(frame(0x81, &vec![b'x'; 300])); // text, 16-bit length
        wire.extend(frame(0x82, &vec![b'y'; 70_000])); // 64-bit length
        wire.extend(frame(0x88, b"\x03\xe9Server Shutdown"));
        let (data, controls) = read_all(&[&wire]).unwrap();
        let mut expected = b"INFO {}\r\nMSG a 1 5\r\nhello\r\n".to_vec();
        expected.extend(vec![b'x'; 300]);
        expected.extend(vec![b'y'; 70_000]);
        assert_eq!(data, expected);
        assert_eq!(
            controls,
            [
                Control::Ping(b"p1".to_vec()),
                Control::Close {
                    code: Some(1001),
                    reason: "Server Shutdown".into()
                }
            ]
        );
        // One byte at a time, and the ping comes after the first fragment's bytes.
        let mut reader = FrameReader::new();
        let (mut input, mut data) = (BytesMut::new(), BytesMut::new());
        let mut seen_ping_at = None;
        for b in &wire {
            input.extend_from_slice(&[*b]);
            while let Some(c) = reader.read(&mut input, &mut data).unwrap() {
                if matches!(c, Control::Ping(_)) {
                    seen_ping_at = Some(data.len());
                }
            }
        }
        assert_eq!(data.to_vec(), expected);
        assert_eq!(seen_ping_at, Some(b"INFO {}\r\nMSG a 1 5\r\nhe".len()));
    }

    #[test]
    fn framing_violations_are_errors() {
        let cases: &[(Vec<u8>, &str)] = &[
            (vec![0x82, 0x81, 1, 2, 3, 4, 0], "masked"),
            (frame(0xC2, b"x"), "reserved bits"),
            (frame(0x80, b"x"), "continuation"),
            (
                [frame(0x02, b"a"), frame(0x82, b"b")].concat(),
                "before the last fragment",
            ),
            (frame(0x09, b""), "fragmented control"),
            (frame(0x89, &[0; 126]), "longer than 125"),
            (frame(0x83, b""), "unknown opcode"),
            (
                [&[0x82u8, 127][..], &[0x80, 0, 0, 0, 0, 0, 0, 1]].concat(),
                "top bit",
            ),
            (frame(0x88, b"\x03"), "1-byte"),
        ];
        for (wire, needle) in cases {
            match read_all(&[wire]) {
                Err(WsError::Protocol(m)) => assert!(m.contains(needle), "{m} / {needle}"),
                other => panic!("{needle}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_empty_close_has_no_code() {
        let (_, controls) = read_all(&[&frame(0x88, b"")]).unwrap();
        assert_eq!(
            controls,
            [Control::Close {
                code: None,
                reason: String::new()
            }]
        );
    }
}
