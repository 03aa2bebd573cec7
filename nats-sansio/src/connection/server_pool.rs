//! The server pool as the application sees and changes it: every server with its attempts
//! and last error, and a new pool set while the connection runs.
//!
//! Invariant: changing the pool never drops the connection in use; it decides only where
//! the next attempt goes, and every server of a new pool starts with no failed attempts.

use std::time::Instant;

use super::{check_servers, ConfigError, Connection, ServerStatus, State};
use crate::auth::ServerAddr;

impl Connection {
    /// Every server of the pool, discovered ones included, in the order they are tried,
    /// with its failed attempts, whether it was ever connected to and its last error.
    pub fn server_pool(&self) -> Vec<ServerStatus> {
        self.pool.statuses()
    }

    /// Replaces the pool (as async-nats's `set_server_pool`): later attempts go to these
    /// servers (shuffled unless [`retain_servers_order`](super::Options::retain_servers_order)),
    /// each with its attempt count reset, and they are the servers whose credentials count
    /// as the user's. The connection in use stays up; [`force_reconnect`](Self::force_reconnect)
    /// moves it now.
    ///
    /// # Errors
    ///
    /// An empty list, a server this build cannot reach, or a closed connection
    /// ([`ConfigError::Closed`]); the pool is then unchanged.
    pub fn set_server_pool(
        &mut self,
        now: Instant,
        servers: Vec<ServerAddr>,
    ) -> Result<(), ConfigError> {
        self.advance_clock(now);
        check_servers(&servers)?;
        if self.state == State::Closed {
            return Err(ConfigError::Closed);
        }
        let shuffle = (!self.opts.retain_servers_order).then_some(&mut self.rng);
        self.pool.replace(&servers, shuffle);
        self.opts.servers = servers;
        self.attempt = 0;
        Ok(())
    }
}
