//! Client ops encoded into an outbound queue that is a `bytes::Buf` with vectored chunks.
//!
//! Invariant: the queue holds complete frames in the order they were encoded. Small writes are
//! coalesced into one growing buffer (`tail`); a payload at or above the flatten threshold is
//! queued by reference between coalesced chunks, never copied. `len` always equals the bytes
//! not yet advanced over.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use super::{ConnectInfo, HeaderMap};

/// Spare capacity the tail grows by.
const TAIL_BLOCK: usize = 64 * 1024;

/// The outbound queue of client ops.
#[derive(Debug)]
pub struct Encoder {
    /// Chunks that come before `tail`: frozen coalesced buffers and large payloads.
    chunks: VecDeque<Bytes>,
    /// Where small writes are coalesced; always last.
    tail: BytesMut,
    len: usize,
    threshold: usize,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

/// Decimal digits of `n`, written into `buf`; returns the used suffix.
fn digits(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

fn digit_count(n: usize) -> usize {
    let mut count = 1;
    let mut n = n / 10;
    while n > 0 {
        count += 1;
        n /= 10;
    }
    count
}

impl Encoder {
    /// Payloads of at least this many bytes are queued by reference instead of copied.
    pub const DEFAULT_FLATTEN_THRESHOLD: usize = 4096;

    /// An empty queue with the default flatten threshold.
    pub fn new() -> Encoder {
        Encoder::with_flatten_threshold(Self::DEFAULT_FLATTEN_THRESHOLD)
    }

    /// An empty queue that queues payloads of `threshold` bytes or more by reference.
    pub fn with_flatten_threshold(threshold: usize) -> Encoder {
        Encoder {
            chunks: VecDeque::new(),
            tail: BytesMut::new(),
            len: 0,
            threshold: threshold.max(1),
        }
    }

    /// Bytes queued and not yet advanced over.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.tail.clear();
        self.len = 0;
    }

    /// Ensures `needed` bytes of spare capacity in the tail, growing it by whole blocks: a
    /// large payload splits the tail off as a shared chunk, and a tail too small to take the
    /// next frame would then need a fresh allocation per publish; with blocks it needs one
    /// per block, and none once the chunks before it were written and dropped (the block is
    /// reclaimed).
    fn make_room(&mut self, needed: usize) {
        if self.tail.capacity() - self.tail.len() < needed {
            self.tail.reserve(needed.max(TAIL_BLOCK));
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
        self.len += bytes.len();
    }

    fn put_number(&mut self, n: u64) {
        let mut buf = [0u8; 20];
        let d = digits(n, &mut buf);
        self.tail.extend_from_slice(d);
        self.len += d.len();
    }

    /// `CONNECT <json>\r\n`.
    pub fn connect(&mut self, info: &ConnectInfo) {
        self.put(b"CONNECT ");
        self.put(&info.to_json());
        self.put(b"\r\n");
    }

    /// `PUB` (or `HPUB` when `headers` is given, even empty) with its payload. The arguments
    /// must already be valid.
    pub fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&HeaderMap>,
        payload: &Bytes,
    ) {
        let header_len = headers.map_or(0, HeaderMap::encoded_len);
        let inline_payload = if payload.len() < self.threshold {
            payload.len()
        } else {
            0
        };
        self.make_room(
            48 + subject.len() + reply.map_or(0, str::len) + header_len + inline_payload,
        );
        self.put(if headers.is_some() { b"HPUB " } else { b"PUB " });
        self.put(subject.as_bytes());
        self.put(b" ");
        if let Some(reply) = reply {
            self.put(reply.as_bytes());
            self.put(b" ");
        }
        if let Some(headers) = headers {
            self.put_number(header_len as u64);
            self.put(b" ");
            self.put_number((header_len + payload.len()) as u64);
            self.put(b"\r\n");
            let before = self.tail.len();
            headers.encode(&mut self.tail);
            self.len += self.tail.len() - before;
        } else {
            self.put_number(payload.len() as u64);
            self.put(b"\r\n");
        }
        if payload.len() >= self.threshold {
            if !self.tail.is_empty() {
                self.chunks.push_back(self.tail.split().freeze());
            }
            self.chunks.push_back(payload.clone());
            self.len += payload.len();
        } else {
            self.put(payload);
        }
        self.put(b"\r\n");
    }

    /// Exactly the bytes [`publish`](Self::publish) adds for these arguments.
    pub fn publish_len(
        subject: &str,
        reply: Option<&str>,
        headers: Option<&HeaderMap>,
        payload_len: usize,
    ) -> usize {
        let reply_len = reply.map_or(0, |r| r.len() + 1);
        match headers {
            Some(h) => {
                let header_len = h.encoded_len();
                let total = header_len + payload_len;
                5 + subject.len()
                    + 1
                    + reply_len
                    + digit_count(header_len)
                    + 1
                    + digit_count(total)
                    + 2
                    + total
                    + 2
            }
            None => {
                4 + subject.len() + 1 + reply_len + digit_count(payload_len) + 2 + payload_len + 2
            }
        }
    }

    /// `SUB <subject> [queue] <sid>\r\n`.
    pub fn subscribe(&mut self, sid: u64, subject: &str, queue_group: Option<&str>) {
        self.put(b"SUB ");
        self.put(subject.as_bytes());
        self.put(b" ");
        if let Some(queue) = queue_group {
            self.put(queue.as_bytes());
            self.put(b" ");
        }
        self.put_number(sid);
        self.put(b"\r\n");
    }

    /// `UNSUB <sid> [max]\r\n`.
    pub fn unsubscribe(&mut self, sid: u64, max_msgs: Option<u64>) {
        self.put(b"UNSUB ");
        self.put_number(sid);
        if let Some(max) = max_msgs {
            self.put(b" ");
            self.put_number(max);
        }
        self.put(b"\r\n");
    }

    /// `PING\r\n`.
    pub fn ping(&mut self) {
        self.put(b"PING\r\n");
    }

    /// `PONG\r\n`.
    pub fn pong(&mut self) {
        self.put(b"PONG\r\n");
    }
}

impl Buf for Encoder {
    fn remaining(&self) -> usize {
        self.len
    }

    fn chunk(&self) -> &[u8] {
        match self.chunks.front() {
            Some(front) => front,
            None => &self.tail,
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for chunk in self.chunks.iter().map(|c| &c[..]).chain([&self.tail[..]]) {
            if n == dst.len() {
                break;
            }
            if !chunk.is_empty() {
                dst[n] = IoSlice::new(chunk);
                n += 1;
            }
        }
        n
    }

    fn advance(&mut self, mut cnt: usize) {
        cnt = cnt.min(self.len);
        self.len -= cnt;
        while cnt > 0 {
            match self.chunks.front_mut() {
                Some(front) => {
                    let step = cnt.min(front.len());
                    front.advance(step);
                    cnt -= step;
                    if front.is_empty() {
                        self.chunks.pop_front();
                    }
                }
                None => {
                    let step = cnt.min(self.tail.len());
                    self.tail.advance(step);
                    cnt -= step;
                    if step == 0 {
                        break;
                    }
                }
            }
        }
        if self.len == 0 {
            // Lets the tail reuse its allocation from the start.
            self.tail.clear();
        }
    }

    /// Hands out the next `len` bytes without copying them when they lie in one chunk (a
    /// queued payload, or the coalescing tail split off): a driver can own what it writes
    /// and write it without holding the machine.
    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        assert!(len <= self.len, "copy_to_bytes past the end");
        let whole = match self.chunks.front_mut() {
            Some(front) if len <= front.len() => {
                let out = front.split_to(len);
                if front.is_empty() {
                    self.chunks.pop_front();
                }
                Some(out)
            }
            None if len <= self.tail.len() => Some(self.tail.split_to(len).freeze()),
            _ => None,
        };
        match whole {
            Some(out) => {
                self.len -= len;
                out
            }
            None => {
                // Across chunks: gather them into one.
                let mut out = BytesMut::with_capacity(len);
                while out.len() < len {
                    let chunk = self.chunk();
                    let n = chunk.len().min(len - out.len());
                    out.extend_from_slice(&chunk[..n]);
                    self.advance(n);
                }
                out.freeze()
            }
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn bytes_handed_out_chunk_by_chunk_are_the_stream_in_order() {
        let mut enc = Encoder::new();
        let big = Bytes::from(vec![b'z'; 100_000]);
        enc.publish("a", None, None, &Bytes::from_static(b"small"));
        enc.publish("b", None, None, &big);
        enc.publish("c", None, None, &Bytes::from_static(b"end"));
        let mut expected = Encoder::new();
        expected.publish("a", None, None, &Bytes::from_static(b"small"));
        expected.publish("b", None, None, &big);
        expected.publish("c", None, None, &Bytes::from_static(b"end"));
        let expected = all(&mut expected);
        let mut got = Vec::new();
        while enc.has_remaining() {
            let n = enc.chunk().len();
            let before = enc.remaining();
            let bytes = enc.copy_to_bytes(n);
            assert_eq!(bytes.len(), n);
            assert_eq!(enc.remaining(), before - n);
            got.extend_from_slice(&bytes);
        }
        assert_eq!(got, expected);
        // Across chunks, in one piece.
        let mut enc = Encoder::new();
        enc.publish("a", None, None, &big);
        enc.publish("b", None, None, &Bytes::from_static(b"x"));
        let n = enc.remaining();
        let whole = enc.copy_to_bytes(n);
        assert_eq!(enc.remaining(), 0);
        assert!(whole.starts_with(b"PUB a 100000\r\nzzz"));
        assert!(whole.ends_with(b"PUB b 1\r\nx\r\n"));
    }
    use super::*;

    fn all(enc: &mut Encoder) -> Vec<u8> {
        let n = enc.remaining();
        enc.copy_to_bytes(n).to_vec()
    }

    #[test]
    fn exact_bytes_for_each_op() {
        let mut enc = Encoder::new();
        enc.subscribe(1, "a.*", None);
        enc.subscribe(22, "b", Some("q"));
        enc.unsubscribe(1, None);
        enc.unsubscribe(22, Some(5));
        enc.ping();
        enc.pong();
        enc.publish("a", None, None, &Bytes::from_static(b"hi"));
        enc.publish("a", Some("r.1"), None, &Bytes::new());
        assert_eq!(
            all(&mut enc),
            b"SUB a.* 1\r\nSUB b q 22\r\nUNSUB 1\r\nUNSUB 22 5\r\nPING\r\nPONG\r\nPUB a 2\r\nhi\r\nPUB a r.1 0\r\n\r\n"
        );
        assert!(enc.is_empty());
    }

    #[test]
    fn hpub_counts_header_bytes() {
        let mut enc = Encoder::new();
        let mut h = HeaderMap::new();
        h.insert("A", "b");
        enc.publish("s", Some("r"), Some(&h), &Bytes::from_static(b"xyz"));
        // "NATS/1.0\r\nA: b\r\n\r\n" is 18 bytes.
        assert_eq!(
            all(&mut enc),
            b"HPUB s r 18 21\r\nNATS/1.0\r\nA: b\r\n\r\nxyz\r\n"
        );
    }

    #[test]
    fn publish_len_is_exact() {
        let mut h = HeaderMap::new();
        h.insert("Name", "value");
        for payload in [0usize, 1, 9, 10, 99, 4095, 4096, 100_000] {
            for reply in [None, Some("reply.x")] {
                for headers in [None, Some(&h)] {
                    let mut enc = Encoder::new();
                    enc.publish("sub.j", reply, headers, &Bytes::from(vec![7u8; payload]));
                    assert_eq!(
                        enc.len(),
                        Encoder::publish_len("sub.j", reply, headers, payload),
                        "payload {payload} reply {reply:?} headers {}",
                        headers.is_some()
                    );
                }
            }
        }
    }

    #[test]
    fn large_payloads_are_referenced_not_copied() {
        let mut enc = Encoder::new();
        let big = Bytes::from(vec![1u8; 10_000]);
        enc.ping();
        enc.publish("a", None, None, &big);
        enc.pong();
        let mut slices = [IoSlice::new(&[]); 8];
        let n = enc.chunks_vectored(&mut slices);
        assert_eq!(n, 3);
        assert_eq!(
            slices[1].as_ptr(),
            big.as_ptr(),
            "the payload is the caller's buffer"
        );
        assert_eq!(&slices[0][..], b"PING\r\nPUB a 10000\r\n");
        assert_eq!(&slices[2][..], b"\r\nPONG\r\n");
        // Advance across chunk boundaries, a few bytes at a time.
        let total = enc.len();
        let mut out = Vec::new();
        while enc.has_remaining() {
            let step = enc.chunk().len().min(7);
            out.extend_from_slice(&enc.chunk()[..step]);
            enc.advance(step);
        }
        assert_eq!(out.len(), total);
        assert!(out.starts_with(b"PING\r\nPUB a 10000\r\n\x01"));
        assert!(out.ends_with(b"\x01\r\nPONG\r\n"));
    }

    #[test]
    fn digits_formats_every_width() {
        let mut buf = [0u8; 20];
        for n in [0u64, 9, 10, 12345, u64::MAX] {
            assert_eq!(digits(n, &mut buf), n.to_string().as_bytes());
            assert_eq!(digit_count(n as usize), n.to_string().len());
        }
    }
}
