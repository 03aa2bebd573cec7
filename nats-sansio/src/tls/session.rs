//! One TLS client session over caller-owned buffers.
//!
//! Invariant: every byte of ciphertext handed to [`TlsSession::receive_ciphertext`] is either
//! consumed by rustls (and removed from the caller's buffer) or left in place for a later
//! call; all plaintext rustls has decrypted is moved out to the caller before a call
//! returns, so rustls' bounded plaintext buffer never stalls the session.

use std::fmt;
use std::io::{self, BufRead, Write};
use std::sync::Arc;

use bytes::{Buf, BufMut, BytesMut};
use rustls::client::ClientConfig;
use rustls::ClientConnection;
use rustls_pki_types::ServerName;

use super::TlsError;

/// A TLS client session driven in memory.
///
/// The run loop: after the socket is connected, call [`poll_ciphertext`](Self::poll_ciphertext)
/// and write what it produced (the ClientHello first). Feed every chunk read from the socket
/// to [`receive_ciphertext`](Self::receive_ciphertext), then call `poll_ciphertext` again
/// (handshake replies, key updates, alerts). Plaintext to send goes in with
/// [`send_plaintext`](Self::send_plaintext) (buffered until the handshake is done), then out
/// as ciphertext with `poll_ciphertext`. After an error, call `poll_ciphertext` once more to
/// send the alert rustls queued, then close the socket.
pub struct TlsSession {
    conn: ClientConnection,
    peer_closed: bool,
}

impl TlsSession {
    /// Starts a session that will verify the server certificate for `server_name`, a DNS
    /// name or an IP literal (IPv6 without brackets).
    pub fn new(config: Arc<ClientConfig>, server_name: &str) -> Result<TlsSession, TlsError> {
        let name = ServerName::try_from(server_name)
            .map_err(|_| TlsError::InvalidServerName(server_name.to_owned()))?
            .to_owned();
        let conn = ClientConnection::new(config, name)?;
        Ok(TlsSession {
            conn,
            peer_closed: false,
        })
    }

    /// Consumes ciphertext received from the server and appends the decrypted plaintext to
    /// `plaintext`.
    ///
    /// Consumed bytes are removed from the front of `ciphertext`; normally all of it is
    /// consumed (an incomplete record is kept inside rustls). After the peer's
    /// `close_notify` nothing more is accepted and the rest of `ciphertext` is discarded;
    /// see [`peer_closed`](Self::peer_closed). On error the session is dead: send the queued
    /// alert with [`poll_ciphertext`](Self::poll_ciphertext) and close the connection.
    pub fn receive_ciphertext(
        &mut self,
        ciphertext: &mut BytesMut,
        plaintext: &mut BytesMut,
    ) -> Result<(), TlsError> {
        while !ciphertext.is_empty() {
            if self.peer_closed {
                ciphertext.clear();
                break;
            }
            let mut input: &[u8] = ciphertext;
            let n = self
                .conn
                .read_tls(&mut input)
                .map_err(|e| TlsError::Transport(e.to_string()))?;
            ciphertext.advance(n);
            let state = self.conn.process_new_packets()?;
            if state.peer_has_closed() {
                self.peer_closed = true;
            }
            // Emptying rustls' plaintext buffer after every record batch keeps read_tls
            // from refusing input with "received plaintext buffer full".
            self.drain_plaintext(plaintext)?;
            if n == 0 {
                // rustls takes nothing more (close_notify seen): nothing else will fit.
                ciphertext.clear();
                break;
            }
        }
        Ok(())
    }

    fn drain_plaintext(&mut self, plaintext: &mut BytesMut) -> Result<(), TlsError> {
        loop {
            let mut reader = self.conn.reader();
            let n = match reader.fill_buf() {
                Ok([]) => {
                    // Only returned once the peer's close_notify was processed.
                    self.peer_closed = true;
                    return Ok(());
                }
                Ok(chunk) => {
                    plaintext.extend_from_slice(chunk);
                    chunk.len()
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(TlsError::Transport(e.to_string())),
            };
            reader.consume(n);
        }
    }

    /// Hands plaintext to rustls for encryption, advancing `plaintext` past what was taken.
    ///
    /// rustls buffers a bounded amount (64 KiB by default, also before the handshake
    /// completes), so this may take only part of `plaintext`: call
    /// [`poll_ciphertext`](Self::poll_ciphertext) and then this again with the rest.
    pub fn send_plaintext(&mut self, plaintext: &mut impl Buf) -> Result<(), TlsError> {
        while plaintext.has_remaining() {
            let n = self
                .conn
                .writer()
                .write(plaintext.chunk())
                .map_err(|e| TlsError::Transport(e.to_string()))?;
            if n == 0 {
                break;
            }
            plaintext.advance(n);
        }
        Ok(())
    }

    /// Appends all ciphertext ready to be sent (handshake messages, records, alerts) to
    /// `out`.
    pub fn poll_ciphertext(&mut self, out: &mut BytesMut) {
        let mut writer = out.writer();
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut writer) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    /// Whether the handshake is still in progress.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Whether [`poll_ciphertext`](Self::poll_ciphertext) has bytes to give.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Whether the server closed the TLS session cleanly (`close_notify`). All plaintext
    /// sent before it has been delivered; no more will come. The caller should send its own
    /// [`send_close_notify`](Self::send_close_notify) and close the socket.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Queues a `close_notify` alert; take it out with
    /// [`poll_ciphertext`](Self::poll_ciphertext). Plaintext sent afterwards is dropped.
    pub fn send_close_notify(&mut self) {
        self.conn.send_close_notify();
    }

    /// The underlying rustls connection, to inspect the negotiated session (protocol
    /// version, cipher suite, peer certificates).
    pub fn rustls(&self) -> &ClientConnection {
        &self.conn
    }
}

impl fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSession")
            .field("handshaking", &self.conn.is_handshaking())
            .field("protocol_version", &self.conn.protocol_version())
            .field("peer_closed", &self.peer_closed)
            .finish()
    }
}
