//! The WebSocket byte layer: the upgrade handshake, then masked frames out and deframed
//! bytes in, between the codec and the socket (or TLS, for `wss://`).
//!
//! Invariant: nothing of the codec's goes out before the server's `101` is checked (the
//! upgrade request is the only thing written until then), and bytes keep their order both
//! ways: frames are written whole into `outgoing`, only once it has been emptied (a pong
//! and the final close frame queue behind what is there, never inside a frame); data from
//! the server reaches the codec in stream order, and the server's close frame is reported
//! only after every byte that preceded it has been handed on.

use bytes::{Buf, BytesMut};

use crate::connection::ConnectionError;
use crate::rng::Rng;
use crate::websocket::deflate::Deflater;
use crate::websocket::frame::{self, Control, FrameReader, CLOSE_NORMAL, MAX_FRAME_PAYLOAD};
use crate::websocket::handshake::{self, UpgradeRequest};
use crate::websocket::WsError;

/// How many payload bytes one [`WsLayer::frame`] call frames at most before the frames are
/// written: bounds the copy while keeping writes large. The driver takes one batch per pass,
/// so this is also the most one pass writes: at 256 KiB a 1 KiB publisher over ws:// made
/// four times the writes and futex calls of the same over TCP.
const FRAME_BATCH: usize = 1024 * 1024;

/// "No status received" (RFC 6455 §7.4.1): reported when a close frame carried no code.
const CLOSE_NO_STATUS: u16 = 1005;

/// The most one compressed message from the server may inflate to: more than a server
/// flushes at once (its default `max_pending` is 64 MiB).
const MAX_INFLATED: usize = 128 * 1024 * 1024;

/// Messages shorter than this go out uncompressed (as nats-server leaves its short flushes):
/// compressing them costs more than it saves.
const COMPRESS_FROM: usize = 64;

/// The client's closing frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    /// Not asked for.
    No,
    /// To be written after everything queued.
    Wanted,
    /// In `outgoing`.
    Queued,
}

/// One WebSocket connection over the socket (or TLS session) below it.
pub(crate) struct WsLayer {
    /// The `Sec-WebSocket-Key` sent, until the server's answer is checked.
    key: Option<String>,
    /// Bytes from below: the response head, then frames.
    incoming: BytesMut,
    /// Bytes for below: the upgrade request, then whole frames.
    outgoing: BytesMut,
    reader: FrameReader,
    /// Draws every mask key.
    rng: Rng,
    /// The server's close frame: code and reason.
    closed_by_server: Option<(u16, String)>,
    closing: Closing,
    /// Compression was offered; once the server accepted it, the compressor and its
    /// output buffer.
    offered_compression: bool,
    deflate: Option<(Deflater, BytesMut)>,
    /// The most plain bytes one outgoing message carries: the server inflates a compressed
    /// message to at most its `max_payload`.
    max_message: usize,
}

fn ws_error(e: WsError) -> ConnectionError {
    match e {
        WsError::UpgradeRefused { status, reason } => {
            ConnectionError::WebSocketUpgrade { status, reason }
        }
        other => ConnectionError::WebSocket(other.to_string()),
    }
}

impl WsLayer {
    /// Starts a connection: the upgrade request is queued at once, with a key and then
    /// mask keys drawn from `rng`.
    pub(crate) fn new(request: &UpgradeRequest<'_>, rng: Rng) -> WsLayer {
        let mut outgoing = BytesMut::new();
        handshake::write_request(request, &mut outgoing);
        WsLayer {
            key: Some(request.key.to_owned()),
            incoming: BytesMut::new(),
            outgoing,
            reader: FrameReader::new(),
            rng,
            closed_by_server: None,
            closing: Closing::No,
            offered_compression: request.compression,
            deflate: None,
            max_message: MAX_FRAME_PAYLOAD,
        }
    }

    /// The server's `max_payload`: a compressed message must inflate to no more.
    pub(crate) fn set_max_payload(&mut self, max_payload: usize) {
        self.max_message = max_payload.clamp(COMPRESS_FROM, MAX_FRAME_PAYLOAD);
    }

    fn mask_key(&mut self) -> [u8; 4] {
        (self.rng.next_u64() as u32).to_ne_bytes()
    }

    /// Where bytes from below go.
    pub(crate) fn recv_buf(&mut self) -> &mut BytesMut {
        &mut self.incoming
    }

    /// Checks the upgrade answer, then deframes what arrived, appending the data to
    /// `data`; true when any arrived. Answers pings. Once the server's close frame has been
    /// reached and every byte before it handed on, the close is the error.
    pub(crate) fn receive(&mut self, data: &mut BytesMut) -> Result<bool, ConnectionError> {
        if let Some(key) = &self.key {
            let offered = self.offered_compression;
            match handshake::parse_response(&self.incoming, key, offered).map_err(ws_error)? {
                None => return Ok(false),
                Some(accepted) => {
                    self.incoming.advance(accepted.head_len);
                    self.key = None;
                    if accepted.compression {
                        self.reader.enable_compression(MAX_INFLATED);
                        self.deflate = Some((Deflater::default(), BytesMut::new()));
                    }
                }
            }
        }
        let before = data.len();
        while self.closed_by_server.is_none() {
            match self
                .reader
                .read(&mut self.incoming, data)
                .map_err(ws_error)?
            {
                None => break,
                Some(Control::Ping(payload)) => {
                    let key = self.mask_key();
                    frame::write_pong(&mut self.outgoing, &payload, key);
                }
                Some(Control::Close { code, reason }) => {
                    self.closed_by_server = Some((code.unwrap_or(CLOSE_NO_STATUS), reason));
                    // Nothing after a close frame counts.
                    self.incoming.clear();
                }
            }
        }
        if data.len() > before {
            return Ok(true);
        }
        match &self.closed_by_server {
            Some((code, reason)) => Err(ConnectionError::WebSocketClosed {
                code: *code,
                reason: reason.clone(),
            }),
            None => Ok(false),
        }
    }

    /// Once the last frames are written and the upgrade accepted, frames what `sources`
    /// hold, in order (up to a batch), and then the closing frame if one is wanted.
    pub(crate) fn frame(&mut self, sources: [Option<&mut dyn Buf>; 2]) {
        if !self.outgoing.is_empty() || self.key.is_some() || self.closing == Closing::Queued {
            return;
        }
        let mut framed = 0;
        for source in sources.into_iter().flatten() {
            while framed < FRAME_BATCH && source.has_remaining() {
                let key = self.mask_key();
                framed += match self.deflate.as_mut() {
                    Some((deflater, scratch)) if source.remaining() >= COMPRESS_FROM => {
                        frame::write_compressed_frame(
                            &mut self.outgoing,
                            source,
                            self.max_message,
                            key,
                            deflater,
                            scratch,
                        )
                    }
                    _ => frame::write_data_frame(&mut self.outgoing, source, key),
                };
            }
            if source.has_remaining() {
                return;
            }
        }
        if self.closing == Closing::Wanted {
            let key = self.mask_key();
            frame::write_close(&mut self.outgoing, CLOSE_NORMAL, key);
            self.closing = Closing::Queued;
        }
    }

    /// Ends the connection after what is queued with a close frame (code 1000), unless the
    /// server closed it first.
    pub(crate) fn begin_close(&mut self) {
        if self.closing == Closing::No && self.closed_by_server.is_none() && self.key.is_none() {
            self.closing = Closing::Wanted;
        }
    }

    /// Bytes to write below, if any.
    pub(crate) fn outgoing(&mut self) -> Option<&mut dyn Buf> {
        if self.outgoing.is_empty() {
            None
        } else {
            Some(&mut self.outgoing)
        }
    }

    /// The buffer of bytes for below, for a layer under this one to take from.
    #[cfg(feature = "tls")]
    pub(crate) fn outgoing_buf(&mut self) -> &mut BytesMut {
        &mut self.outgoing
    }

    /// Whether bytes wait to be written below, or the closing frame to be framed.
    pub(crate) fn has_pending(&self) -> bool {
        !self.outgoing.is_empty() || self.closing == Closing::Wanted
    }
}
