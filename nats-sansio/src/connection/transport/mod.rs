//! The transport: the stack of byte layers between the driver's socket and the NATS codec.
//!
//! Invariant: the connection machine reads and writes protocol bytes only through
//! [`Transport`]; with no layer active, bytes pass straight between the socket and the
//! codec's buffers, and each layer (TLS today, WebSocket framing next) transforms them in
//! order without dropping or reordering any. A layer lives as long as one socket:
//! [`Transport::reset`] drops every layer when the socket goes.

#[cfg(feature = "tls")]
mod tls;

use bytes::{Buf, BytesMut};

use super::outbound::Outbound;
use super::{Connection, ConnectionError};
#[cfg(feature = "tls")]
use crate::auth::ServerAddr;
use crate::proto::{Decoder, Encoder};
#[cfg(feature = "tls")]
use crate::tls::TlsSession;

/// The byte layers of the current socket.
#[derive(Default)]
pub(crate) struct Transport {
    #[cfg(feature = "tls")]
    tls: Option<tls::TlsLayer>,
}

impl Transport {
    /// Drops every layer: the socket is gone.
    pub(crate) fn reset(&mut self) {
        #[cfg(feature = "tls")]
        {
            self.tls = None;
        }
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
        decoder.buffer_mut()
    }

    /// Moves what the layers can decode into the codec's buffer; true when any arrived.
    pub(crate) fn receive(&mut self, decoder: &mut Decoder) -> Result<bool, ConnectionError> {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_mut() {
            return tls.receive(decoder.buffer_mut());
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
