//! The TLS byte layer: a rustls session driven in memory between the socket and the codec.
//!
//! Invariant: ciphertext from the socket enters `incoming` and leaves it only through the
//! session, as plaintext appended to the codec's buffer; plaintext from the encoders leaves
//! only as ciphertext in `outgoing`, and nothing new is encrypted until `outgoing` has been
//! written, so bytes keep their order in both directions and memory stays bounded by what
//! rustls buffers plus one batch of records.

use std::sync::Arc;

use bytes::{Buf, BytesMut};
use rustls::ClientConfig;

use crate::connection::ConnectionError;
use crate::tls::TlsSession;

/// One TLS session and its two ciphertext buffers.
pub(crate) struct TlsLayer {
    session: TlsSession,
    incoming: BytesMut,
    outgoing: BytesMut,
}

fn tls_error(e: impl std::fmt::Display) -> ConnectionError {
    ConnectionError::Tls(e.to_string())
}

impl TlsLayer {
    /// Starts a session verifying `server_name`. `already_read` holds bytes that arrived
    /// after the plaintext INFO: they are the first of the TLS stream.
    pub(crate) fn new(
        config: Arc<ClientConfig>,
        server_name: &str,
        already_read: BytesMut,
    ) -> Result<TlsLayer, ConnectionError> {
        Ok(TlsLayer {
            session: TlsSession::new(config, server_name).map_err(tls_error)?,
            incoming: already_read,
            outgoing: BytesMut::new(),
        })
    }

    /// The session, for inspection.
    pub(crate) fn session(&self) -> &TlsSession {
        &self.session
    }

    /// Where the driver puts ciphertext read from the socket.
    pub(crate) fn recv_buf(&mut self) -> &mut BytesMut {
        &mut self.incoming
    }

    /// Decrypts what arrived, appending plaintext to `plaintext`; true when any came out.
    pub(crate) fn receive(&mut self, plaintext: &mut BytesMut) -> Result<bool, ConnectionError> {
        if self.incoming.is_empty() {
            return Ok(false);
        }
        let before = plaintext.len();
        self.session
            .receive_ciphertext(&mut self.incoming, plaintext)
            .map_err(tls_error)?;
        Ok(plaintext.len() > before)
    }

    /// Once the last ciphertext is written, encrypts what `sources` hold, in order.
    pub(crate) fn encrypt(
        &mut self,
        sources: [Option<&mut dyn Buf>; 2],
    ) -> Result<(), ConnectionError> {
        if !self.outgoing.is_empty() {
            return Ok(());
        }
        let mut result = Ok(());
        for source in sources.into_iter().flatten() {
            if result.is_ok() && source.has_remaining() {
                result = self.session.send_plaintext(&mut &mut *source);
            }
        }
        // Whatever rustls produced (an alert too, on error) goes out.
        self.session.poll_ciphertext(&mut self.outgoing);
        result.map_err(tls_error)
    }

    /// Ciphertext to write, if any.
    pub(crate) fn outgoing(&mut self) -> Option<&mut dyn Buf> {
        if self.outgoing.is_empty() {
            None
        } else {
            Some(&mut self.outgoing)
        }
    }

    /// Whether ciphertext is waiting to be written.
    pub(crate) fn has_pending(&self) -> bool {
        !self.outgoing.is_empty()
    }
}
