//! The server side of WebSocket for the simulated network: nats-server's upgrade and
//! framing in front of a simulated server, one gateway per socket.
//!
//! Invariants:
//! - Nothing the server writes reaches the client before the `101` answering the client's
//!   upgrade request (INFO waits), and the NATS bytes in each direction are exactly those
//!   of the plain connection: the gateway only frames and unframes.
//! - Frames to the client are cut at random sizes, fragmented at random and interleaved with
//!   pings, all from the world's seeded generator; a server that closes sends a close frame
//!   (1001) before its EOF, as nats-server does.
//! - Every client frame must be masked and every client data frame binary; anything else is
//!   a violation, as is data before the upgrade completes.

use nats_sansio::websocket::accept_key;
use nats_sansio::websocket::frame::write_server_frame as frame;

use super::net::Rng;

/// One socket's WebSocket server side.
#[derive(Debug, Default)]
pub(crate) struct WsGateway {
    /// Bytes from the client not yet understood (the request head, or part of a frame).
    input: Vec<u8>,
    /// The request was answered: frames follow both ways.
    upgraded: bool,
    /// The `101` to send before anything else.
    answer: Option<Vec<u8>>,
    /// Server output held until the upgrade.
    held: Vec<u8>,
    /// Frames the client sent against the rules.
    pub(crate) violations: Vec<String>,
}

impl WsGateway {
    /// Bytes from the client: returns the NATS bytes they carry.
    pub(crate) fn receive(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.input.extend_from_slice(bytes);
        if !self.upgraded {
            let Some(end) = find(&self.input, b"\r\n\r\n") else {
                return Vec::new();
            };
            let head = String::from_utf8_lossy(&self.input[..end]).into_owned();
            self.input.drain(..end + 4);
            let key = head
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .map(str::to_owned);
            let Some(key) = key.filter(|_| head.starts_with("GET ")) else {
                self.violations
                    .push(format!("bad upgrade request {head:?}"));
                return Vec::new();
            };
            self.answer = Some(
                format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                    accept_key(&key)
                )
                .into_bytes(),
            );
            self.upgraded = true;
        }
        let mut data = Vec::new();
        loop {
            let input = &self.input;
            if input.len() < 2 {
                break;
            }
            if input[1] & 0x80 == 0 {
                self.violations.push("an unmasked client frame".into());
            }
            let (len, at) = match input[1] & 0x7F {
                126 if input.len() >= 4 => {
                    (usize::from(u16::from_be_bytes([input[2], input[3]])), 4)
                }
                127 if input.len() >= 10 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&input[2..10]);
                    (u64::from_be_bytes(b) as usize, 10)
                }
                126 | 127 => break,
                n => (usize::from(n), 2),
            };
            if input.len() < at + 4 + len {
                break;
            }
            let key = [input[at], input[at + 1], input[at + 2], input[at + 3]];
            let payload = input[at + 4..at + 4 + len]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[i % 4]);
            match input[0] {
                0x82 => data.extend(payload),
                0x88 | 0x8A => {} // close (EOF follows) and pong
                other => self
                    .violations
                    .push(format!("client frame byte 0 {other:#x}")),
            }
            self.input.drain(..at + 4 + len);
        }
        data
    }

    /// Server output: returns the bytes for the wire (nothing before the upgrade).
    pub(crate) fn send(&mut self, nats: &[u8], rng: &mut Rng) -> Vec<u8> {
        self.held.extend_from_slice(nats);
        if !self.upgraded {
            return Vec::new();
        }
        let mut wire = self.answer.take().unwrap_or_default();
        let held = std::mem::take(&mut self.held);
        let mut at = 0;
        while at < held.len() {
            let fragments = rng.range(1, 3);
            for i in 0..fragments {
                let len = (rng.range(1, 2048) as usize).min(held.len() - at);
                let opcode = if i == 0 { 0x2 } else { 0x0 };
                let fin = if i + 1 == fragments { 0x80 } else { 0 };
                frame(&mut wire, fin | opcode, &held[at..at + len]);
                at += len;
                if rng.chance(5) {
                    frame(&mut wire, 0x89, b"sim");
                }
            }
        }
        wire
    }

    /// The close frame a closing server sends before its EOF.
    pub(crate) fn close_frame(&self) -> Vec<u8> {
        let mut wire = Vec::new();
        if self.upgraded {
            frame(&mut wire, 0x88, b"\x03\xe9Server Shutdown");
        }
        wire
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
