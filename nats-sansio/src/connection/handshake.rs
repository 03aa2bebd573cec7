//! The handshake on each new socket: INFO, the TLS upgrade, CONNECT and PING, then the PONG
//! that completes it and restores subscriptions.
//!
//! With [`Auth::Deferred`](crate::auth::Auth::Deferred) the handshake pauses after INFO
//! (and the TLS upgrade) until the driver answers [`Directive::Authenticate`]; an answer is
//! taken only for the socket it was asked on.
//!
//! Invariant: nothing but handshake ops (and TLS records) is written before the handshake's
//! PONG: they go to the control queue, and the user's queue (the reconnect buffer) follows
//! only once subscriptions are restored, so a replayed publish never reaches a server that
//! has not yet seen the subscriptions it may depend on.

use std::time::Instant;

use super::keepalive::PongFor;
use super::ConnectionEvent;
use super::{Connection, ConnectionError, Directive, State, Timer};
use crate::auth;
use crate::proto::{ConnectInfo, QueueGroup, ServerInfo};

impl Connection {
    pub(super) fn on_info(&mut self, info: ServerInfo) {
        if info.max_payload > 0 {
            self.max_payload = info.max_payload;
            self.transport.set_max_payload(self.max_payload);
        }
        if !self.opts.ignore_discovered_servers {
            let rng = if self.opts.retain_servers_order {
                None
            } else {
                Some(&mut self.rng)
            };
            let new = self.pool.discover(&info.connect_urls, rng);
            if !new.is_empty() {
                self.raise(ConnectionEvent::ServersDiscovered { servers: new });
            }
        }
        if info.ldm {
            if let Some(server) = self.current_server().cloned() {
                self.raise(ConnectionEvent::LameDuck { server });
            }
        }
        let first = self.state == State::AwaitInfo;
        self.info = Some(info);
        if first {
            if let Err(e) = self.on_first_info() {
                self.drop_connection(e);
            }
        }
    }

    /// INFO arrived on a new socket: upgrade to TLS if needed, then CONNECT and PING.
    pub(super) fn on_first_info(&mut self) -> Result<(), ConnectionError> {
        let info = self.info.as_ref().cloned().unwrap_or_default();
        let Some(server) = self.pool.current().map(|s| s.addr.clone()) else {
            return Err(ConnectionError::NoServers);
        };
        #[cfg(feature = "tls")]
        {
            let want_tls =
                self.opts.tls.required || self.opts.tls.tls_first || server.tls_required();
            // Over WebSocket the URL decided TLS before the server spoke (`wss://`).
            let websocket = self.transport.is_websocket();
            if !websocket && !self.transport.is_encrypted() && (want_tls || info.tls_required) {
                if want_tls && !(info.tls_required || info.tls_available) {
                    return Err(ConnectionError::TlsNotAvailable);
                }
                self.start_tls()?;
            }
        }
        #[cfg(not(feature = "tls"))]
        if (info.tls_required && !self.transport.is_websocket()) || server.tls_required() {
            return Err(ConnectionError::TlsNotAvailable);
        }
        if matches!(self.opts.auth, auth::Auth::Deferred) {
            // The driver computes the credentials (it may take a while: the connect timeout
            // still runs) and answers with `handle_credentials`.
            self.credential_requests += 1;
            self.state = State::AwaitCredentials;
            self.directives.push_back(Directive::Authenticate {
                nonce: info.nonce.clone(),
                request: self.credential_requests,
            });
            return Ok(());
        }
        // A discovered server has no credentials of its own: use those of the URLs given.
        let credentials = if server.has_credentials() {
            &server
        } else {
            self.opts
                .servers
                .iter()
                .find(|s| s.has_credentials())
                .unwrap_or(&server)
        };
        let fields = auth::resolve(&self.opts.auth, credentials, info.nonce.as_deref())?;
        self.send_connect(&info, fields);
        Ok(())
    }

    /// The driver's answer to [`Directive::Authenticate`] `request`: the credentials to
    /// send, or why there are none (the connection is then dropped with
    /// [`AuthError::Callback`](crate::auth::AuthError::Callback) and retried as any failed
    /// connect). An answer to an older request, or one that comes after the socket it was
    /// for is gone, is ignored.
    pub fn handle_credentials(
        &mut self,
        now: Instant,
        request: u64,
        credentials: Result<auth::AuthResponse, String>,
    ) {
        self.advance_clock(now);
        if self.state != State::AwaitCredentials || request != self.credential_requests {
            return;
        }
        match credentials {
            Ok(response) => {
                let info = self.info.as_ref().cloned().unwrap_or_default();
                self.send_connect(&info, auth::AuthFields::from(response));
            }
            Err(message) => {
                self.drop_connection(ConnectionError::Auth(auth::AuthError::Callback(message)))
            }
        }
    }

    /// Queues CONNECT with `credentials`, then the handshake's PING.
    fn send_connect(&mut self, info: &ServerInfo, credentials: auth::AuthFields) {
        let connect = ConnectInfo {
            verbose: false,
            pedantic: false,
            tls_required: self.transport.is_encrypted(),
            auth_token: credentials.auth_token,
            user: credentials.user,
            pass: credentials.pass,
            name: self.opts.name.clone(),
            lang: "rust".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            protocol: 1,
            echo: self.opts.echo,
            sig: credentials.sig,
            jwt: credentials.jwt,
            nkey: credentials.nkey,
            headers: info.headers,
            no_responders: info.headers,
        };
        // Publishes buffered before this server said its limits must fit them.
        let max_payload = if info.max_payload > 0 {
            info.max_payload
        } else {
            self.max_payload
        };
        if let Some(reason) = self.outbound.first_unfit(max_payload, info.headers) {
            let messages = self.outbound.discard();
            self.raise(ConnectionEvent::PublishesDiscarded { messages, reason });
        }
        self.control.connect(&connect);
        self.control.ping();
        self.pongs.push_back(PongFor::Handshake);
        self.state = State::AwaitPong;
    }

    pub(super) fn on_handshake_complete(&mut self) {
        if self.state != State::AwaitPong {
            return;
        }
        self.state = State::Connected;
        self.link_epoch += 1;
        self.timers.stop(Timer::ConnectTimeout);
        self.timers
            .set(Timer::PingInterval, self.now + self.opts.ping_interval);
        self.attempt = 0;
        if let Some(server) = self.pool.current_mut() {
            server.failed_attempts = 0;
            server.auth_failures = 0;
            server.did_connect = true;
        }
        self.requests.mark_all_sent();
        // Restore subscriptions before replaying the reconnect buffer.
        for sid in self.subs.receiving() {
            let Some(sub) = self.subs.by_sid.get(&sid) else {
                continue;
            };
            let queue = sub.queue_group.as_ref().map(QueueGroup::as_str);
            self.control.subscribe(sid, sub.subject.as_str(), queue);
            if let Some(remaining) = sub.remaining() {
                self.control.unsubscribe(sid, Some(remaining));
            }
        }
        self.stats.connects += 1;
        let server = self.current_server().cloned();
        let Some(server) = server else { return };
        if self.ever_connected {
            self.stats.reconnects += 1;
            self.raise(ConnectionEvent::Reconnected { server });
        } else {
            self.ever_connected = true;
            self.raise(ConnectionEvent::Connected { server });
        }
    }
}
