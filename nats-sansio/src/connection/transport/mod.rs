//! The transport: the stack of byte layers between the driver's socket and the NATS codec.
//!
//! Invariant: the connection machine reads and writes protocol bytes only through
//! [`Transport`]; with no layer active, bytes pass straight between the socket and the
//! codec's buffers, and each layer transforms them in order without dropping or reordering
//! any. The stack, from the codec down: WebSocket framing (`ws://`, `wss://`), then TLS,
//! then the socket. A layer lives as long as one socket: [`Transport::reset`] drops every
//! layer when the socket goes.

#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "websocket")]
mod websocket;

use bytes::{Buf, BytesMut};

use super::outbound::Outbound;
use super::{Connection, ConnectionError};
#[cfg(feature = "tls")]
use crate::auth::ServerAddr;
use crate::proto::{Decoder, Encoder};
#[cfg(feature = "websocket")]
use crate::rng::Rng;
#[cfg(feature = "tls")]
use crate::tls::TlsSession;

/// The byte layers of the current socket.
#[derive(Default)]
pub(crate) struct Transport {
    #[cfg(feature = "tls")]
    tls: Option<tls::TlsLayer>,
    #[cfg(feature = "websocket")]
    ws: Option<websocket::WsLayer>,
}

impl Transport {
    /// Drops every layer: the socket is gone.
    pub(crate) fn reset(&mut self) {
        #[cfg(feature = "tls")]
        {
            self.tls = None;
        }
        #[cfg(feature = "websocket")]
        {
            self.ws = None;
        }
    }

    /// Whether the socket carries WebSocket frames.
    pub(crate) fn is_websocket(&self) -> bool {
        #[cfg(feature = "websocket")]
        {
            self.ws.is_some()
        }
        #[cfg(not(feature = "websocket"))]
        false
    }

    /// The server's `max_payload`, from its INFO (a compressed WebSocket message must
    /// inflate to no more).
    pub(crate) fn set_max_payload(&mut self, max_payload: usize) {
        #[cfg(feature = "websocket")]
        if let Some(ws) = self.ws.as_mut() {
            ws.set_max_payload(max_payload);
        }
        let _ = max_payload;
    }

    /// Ends the connection after what is queued as the protocol below the codec wants
    /// (a WebSocket close frame); nothing for a bare socket.
    pub(crate) fn begin_close(&mut self) {
        #[cfg(feature = "websocket")]
        if let Some(ws) = self.ws.as_mut() {
            ws.begin_close();
        }
    }

    /// Whether a layer (TLS, WebSocket) sits between the socket and the codec, so the
    /// driver's reads go to that layer's buffer rather than the codec's.
    pub(crate) fn is_layered(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return true;
        }
        #[cfg(feature = "websocket")]
        if self.ws.is_some() {
            return true;
        }
        false
    }

    /// Whether bytes on the socket are encrypted.
    pub(crate) fn is_encrypted(&self) -> bool {
        #[cfg(feature = "tls")]
        {
            self.tls.is_some()
        }
        #[cfg(not(feature = "tls"))]
        false
    }

    /// Where the driver puts bytes read from the socket: the lowest layer's buffer, or the
    /// codec's when no layer is active.
    pub(crate) fn recv_buf<'a>(&'a mut self, decoder: &'a mut Decoder) -> &'a mut BytesMut {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_mut() {
            return tls.recv_buf();
        }
        #[cfg(feature = "websocket")]
        if let Some(ws) = self.ws.as_mut() {
            return ws.recv_buf();
        }
        decoder.buffer_mut()
    }

    /// Moves what the layers can decode into the codec's buffer; true when any arrived.
    pub(crate) fn receive(&mut self, decoder: &mut Decoder) -> Result<bool, ConnectionError> {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_mut() {
            #[cfg(feature = "websocket")]
            if let Some(ws) = self.ws.as_mut() {
                tls.receive(ws.recv_buf())?;
                decoder.make_room(ws.recv_buf().len());
                return ws.receive(decoder.buffer_mut());
            }
            decoder.make_room(tls.recv_buf().len());
            return tls.receive(decoder.buffer_mut());
        }
        #[cfg(feature = "websocket")]
        if let Some(ws) = self.ws.as_mut() {
            decoder.make_room(ws.recv_buf().len());
            return ws.receive(decoder.buffer_mut());
        }
        let _ = decoder;
        Ok(false)
    }

    /// Lets the layers take what the encoders hold (`control` first). Call before
    /// [`next`](Self::next); an error means the socket must go.
    pub(crate) fn prepare(
        &mut self,
        control: &mut Encoder,
        outbound: Option<&mut Outbound>,
    ) -> Result<(), ConnectionError> {
        #[cfg(feature = "websocket")]
        if let Some(ws) = self.ws.as_mut() {
            ws.frame([
                Some(control as &mut dyn Buf),
                outbound.map(|o| o as &mut dyn Buf),
            ]);
            #[cfg(feature = "tls")]
            if let Some(tls) = self.tls.as_mut() {
                return tls.encrypt([Some(ws.outgoing_buf() as &mut dyn Buf), None]);
            }
            return Ok(());
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_mut() {
            return tls.encrypt([
                Some(control as &mut dyn Buf),
                outbound.map(|o| o as &mut dyn Buf),
            ]);
        }
        let _ = (control, outbound);
        Ok(())
    }

    /// The next bytes for the socket: the top layer's output, or the encoders' (`control`
    /// before `outbound`) when no layer is active.
    pub(crate) fn next<'a>(
        &'a mut self,
        control: &'a mut Encoder,
        outbound: Option<&'a mut Outbound>,
    ) -> Option<&'a mut dyn Buf> {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_mut() {
            return tls.outgoing();
        }
        #[cfg(feature = "websocket")]
        if let Some(ws) = self.ws.as_mut() {
            return ws.outgoing();
        }
        if control.has_remaining() {
            Some(control)
        } else {
            outbound
                .filter(|o| o.has_remaining())
                .map(|o| o as &mut dyn Buf)
        }
    }

    /// Whether a layer holds bytes not yet handed to the socket.
    pub(crate) fn has_pending(&self) -> bool {
        #[cfg(feature = "websocket")]
        if self
            .ws
            .as_ref()
            .is_some_and(websocket::WsLayer::has_pending)
        {
            return true;
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_ref() {
            return tls.has_pending();
        }
        false
    }

    /// The active TLS session.
    #[cfg(feature = "tls")]
    pub(crate) fn tls_session(&self) -> Option<&TlsSession> {
        self.tls.as_ref().map(tls::TlsLayer::session)
    }
}

impl Connection {
    /// The TLS session of the current connection, if it uses TLS: to inspect the negotiated
    /// protocol version, cipher suite and peer certificates, or whether the handshake resumed
    /// an earlier session (`rustls().handshake_kind()`).
    #[cfg(feature = "tls")]
    pub fn tls_session(&self) -> Option<&TlsSession> {
        self.transport.tls_session()
    }

    /// Puts a TLS layer on the current socket.
    #[cfg(feature = "tls")]
    pub(super) fn start_tls(&mut self) -> Result<(), ConnectionError> {
        // The configuration `new` (or the first upgrade) prepared: the same `Arc` for every
        // session (resumption).
        let config = self
            .opts
            .tls
            .prepare()
            .map_err(|e| ConnectionError::Tls(e.to_string()))?;
        let Some(server) = self.pool.current() else {
            return Err(ConnectionError::NoServers);
        };
        let name = self.tls_server_name(&server.addr, server.discovered);
        // Bytes already buffered after INFO belong to the TLS stream.
        let already_read = self.decoder.buffer_mut().split();
        self.transport.tls = Some(tls::TlsLayer::new(config, &name, already_read)?);
        Ok(())
    }

    /// The name to verify the certificate against: a discovered server advertised by IP
    /// keeps the host name of the user's first server.
    #[cfg(feature = "tls")]
    fn tls_server_name(&self, addr: &ServerAddr, discovered: bool) -> String {
        let is_ip = addr.host().parse::<std::net::IpAddr>().is_ok();
        if discovered && is_ip {
            if let Some(named) = self
                .opts
                .servers
                .iter()
                .find(|s| s.host().parse::<std::net::IpAddr>().is_err())
            {
                return named.host().to_owned();
            }
        }
        addr.host().to_owned()
    }

    /// Starts the layers a new socket to the current server needs before the server speaks:
    /// TLS at once for `tls_first` and for WebSocket over TLS (a `wss://` listener is TLS
    /// from its first byte), then the WebSocket upgrade.
    pub(super) fn start_layers(&mut self) -> Result<(), ConnectionError> {
        let websocket = self.pool.current().is_some_and(|s| s.addr.is_websocket());
        #[cfg(feature = "tls")]
        if self.opts.tls.tls_first || (websocket && self.uses_tls()) {
            self.start_tls()?;
        }
        if websocket {
            self.start_websocket()?;
        }
        Ok(())
    }

    /// Puts a WebSocket layer on the current socket: the upgrade request goes out first.
    #[cfg(feature = "websocket")]
    fn start_websocket(&mut self) -> Result<(), ConnectionError> {
        use crate::websocket::handshake::{key_from, UpgradeRequest};
        let Some(server) = self.pool.current() else {
            return Err(ConnectionError::NoServers);
        };
        let addr = &server.addr;
        let mut random = [0u8; 16];
        random[..8].copy_from_slice(&self.rng.next_u64().to_ne_bytes());
        random[8..].copy_from_slice(&self.rng.next_u64().to_ne_bytes());
        let key = key_from(random);
        let request = UpgradeRequest {
            host: addr.host(),
            port: addr.port(),
            default_port: addr.port() == addr.scheme().default_port(),
            path: addr.path(),
            key: &key,
            headers: &self.opts.websocket_headers,
            compression: self.opts.websocket_compression,
        };
        let masks = Rng::new(self.rng.next_u64());
        self.transport.ws = Some(websocket::WsLayer::new(&request, masks));
        Ok(())
    }

    /// Without the `websocket` feature, `Connection::new` refuses WebSocket URLs.
    #[cfg(not(feature = "websocket"))]
    fn start_websocket(&mut self) -> Result<(), ConnectionError> {
        Err(ConnectionError::WebSocket(
            "this build has no `websocket` feature".into(),
        ))
    }

    /// Whether the next connection will use TLS (it sets the reconnect jitter).
    pub(super) fn uses_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        {
            self.opts.tls.required
                || self.opts.tls.tls_first
                || self.pool.current().is_some_and(|s| s.addr.tls_required())
        }
        #[cfg(not(feature = "tls"))]
        false
    }
}
