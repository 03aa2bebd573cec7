//! permessage-deflate (RFC 7692) without context takeover: each message compressed and
//! inflated on its own, as nats-server negotiates it.
//!
//! Invariant: a message's compressed form is raw DEFLATE ending in a sync flush whose empty
//! stored block (`00 00 ff ff`) is cut off; inflating appends it back. State never carries
//! from one message to the next (both sides agreed on no context takeover), and inflating
//! stops with an error past a size limit instead of growing without bound.

use bytes::{Buf, BytesMut};
use miniz_oxide::deflate::core::{create_comp_flags_from_zip_params, CompressorOxide};
use miniz_oxide::inflate::stream::InflateState;
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

use super::WsError;

/// The tail of a sync flush, cut off by the sender and put back by the receiver.
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Raw DEFLATE (negative window bits), as the extension requires.
const RAW_WINDOW_BITS: i32 = -15;

/// A fast level: messages are small and latency counts more than the last percent.
const LEVEL: i32 = 1;

/// Compresses messages one at a time.
pub struct Deflater {
    compressor: Box<CompressorOxide>,
}

impl Default for Deflater {
    fn default() -> Self {
        let flags = create_comp_flags_from_zip_params(LEVEL, RAW_WINDOW_BITS, 0);
        Deflater {
            compressor: Box::new(CompressorOxide::new(flags)),
        }
    }
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deflater")
    }
}

impl Deflater {
    /// Appends the compressed form of the next `len` bytes of `src` (advanced past them)
    /// to `out`.
    pub fn compress(&mut self, src: &mut dyn Buf, len: usize, out: &mut BytesMut) {
        self.compressor.reset();
        let start = out.len();
        let mut left = len;
        loop {
            let chunk = src.chunk();
            let take = chunk.len().min(left);
            let last = take == left;
            let flush = if last { MZFlush::Sync } else { MZFlush::None };
            let mut input = &chunk[..take];
            loop {
                let room = input.len() / 2 + 1024;
                let end = out.len();
                // `deflate` writes into an initialised slice.
                out.resize(end + room, 0);
                let result = miniz_oxide::deflate::stream::deflate(
                    &mut self.compressor,
                    input,
                    &mut out[end..],
                    flush,
                );
                out.truncate(end + result.bytes_written);
                input = &input[result.bytes_consumed..];
                // Done when the input is in and the output did not fill (the flush, too,
                // is complete); an error only says no progress was possible.
                if result.status.is_err() || (input.is_empty() && result.bytes_written < room) {
                    break;
                }
            }
            src.advance(take);
            left -= take;
            if last {
                break;
            }
        }
        if out[start..].ends_with(&SYNC_TAIL) {
            out.truncate(out.len() - SYNC_TAIL.len());
        }
    }
}

/// Inflates messages one at a time.
pub struct Inflater {
    state: Box<InflateState>,
}

impl Default for Inflater {
    fn default() -> Self {
        Inflater {
            state: InflateState::new_boxed(DataFormat::Raw),
        }
    }
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inflater")
    }
}

impl Inflater {
    /// Appends the inflated form of one compressed message to `out`; an error when it is
    /// not valid DEFLATE or inflates to more than `limit` bytes.
    pub fn inflate(
        &mut self,
        compressed: &[u8],
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), WsError> {
        self.state.reset(DataFormat::Raw);
        let start = out.len();
        for mut input in [compressed, &SYNC_TAIL[..]] {
            loop {
                if out.len() - start > limit {
                    return Err(WsError::Protocol(format!(
                        "a compressed message inflates to more than {limit} bytes"
                    )));
                }
                let room = (input.len() * 4).clamp(4096, 256 * 1024);
                let end = out.len();
                out.resize(end + room, 0);
                let result = miniz_oxide::inflate::stream::inflate(
                    &mut self.state,
                    input,
                    &mut out[end..],
                    MZFlush::None,
                );
                out.truncate(end + result.bytes_written);
                input = &input[result.bytes_consumed..];
                match result.status {
                    Ok(MZStatus::StreamEnd) => break,
                    Ok(_) => {}
                    // No progress possible: everything given was used.
                    Err(MZError::Buf) => break,
                    Err(e) => {
                        return Err(WsError::Protocol(format!(
                            "a compressed message is not valid DEFLATE ({e:?})"
                        )))
                    }
                }
                if input.is_empty() && result.bytes_written < room {
                    break;
                }
            }
        }
        if out.len() - start > limit {
            return Err(WsError::Protocol(format!(
                "a compressed message inflates to more than {limit} bytes"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(plain: &[u8]) -> Vec<u8> {
        let mut compressed = BytesMut::new();
        let mut src = plain;
        Deflater::default().compress(&mut src, plain.len(), &mut compressed);
        assert!(src.is_empty());
        assert!(!compressed.ends_with(&SYNC_TAIL));
        let mut out = BytesMut::new();
        Inflater::default()
            .inflate(&compressed, &mut out, 1 << 30)
            .unwrap();
        out.to_vec()
    }

    #[test]
    fn messages_of_every_size_round_trip() {
        for len in [0, 1, 63, 64, 1000, 70_000, 1 << 20] {
            let plain: Vec<u8> = (0..len)
                .map(|i| (i % 251) as u8 ^ (i / 1000) as u8)
                .collect();
            assert_eq!(round_trip(&plain), plain, "{len}");
        }
        let text = b"PUB orders.new 5\r\nhello\r\n".repeat(10_000);
        assert_eq!(round_trip(&text), text);
    }

    #[test]
    fn repetitive_nats_traffic_shrinks() {
        let text = b"PUB orders.new 5\r\nhello\r\n".repeat(1000);
        let mut compressed = BytesMut::new();
        Deflater::default().compress(&mut &text[..], text.len(), &mut compressed);
        assert!(compressed.len() * 20 < text.len(), "{}", compressed.len());
    }

    #[test]
    fn a_message_takes_bytes_across_the_chunks_of_a_buf_and_leaves_the_rest() {
        let mut src = (&b"PUB a 2\r\n"[..]).chain(&b"hi\r\nPUB b 0\r\n\r\n"[..]);
        let mut compressed = BytesMut::new();
        Deflater::default().compress(&mut src, 13, &mut compressed);
        assert_eq!(src.remaining(), 11);
        let mut out = BytesMut::new();
        Inflater::default()
            .inflate(&compressed, &mut out, 100)
            .unwrap();
        assert_eq!(&out[..], b"PUB a 2\r\nhi\r\n");
    }

    #[test]
    fn bombs_and_garbage_are_errors() {
        let zeros = vec![0u8; 1 << 20];
        let mut compressed = BytesMut::new();
        Deflater::default().compress(&mut &zeros[..], zeros.len(), &mut compressed);
        let mut out = BytesMut::new();
        let err = Inflater::default()
            .inflate(&compressed, &mut out, 64 * 1024)
            .unwrap_err();
        assert!(err.to_string().contains("more than 65536"), "{err}");
        let mut out = BytesMut::new();
        assert!(Inflater::default()
            .inflate(&[0xff, 0xff, 0xff, 0xff, 0xff], &mut out, 1 << 20)
            .is_err());
    }

    #[test]
    fn the_inflater_keeps_no_context_between_messages() {
        let mut deflater = Deflater::default();
        let mut inflater = Inflater::default();
        for msg in [&b"first message"[..], b"first message again", b"x"] {
            let mut compressed = BytesMut::new();
            deflater.compress(&mut &msg[..], msg.len(), &mut compressed);
            let mut out = BytesMut::new();
            inflater.inflate(&compressed, &mut out, 1 << 20).unwrap();
            assert_eq!(&out[..], msg);
        }
    }
}
