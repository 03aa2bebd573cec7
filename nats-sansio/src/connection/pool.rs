//! The server pool: user-given servers plus servers the cluster advertises, the order they are
//! tried in, and the back-off between attempts.
//!
//! Invariant: user-given servers leave the pool only by exhausting `max_reconnects` or by
//! repeated auth failures; discovered servers also leave when the cluster stops advertising
//! them, except the one currently in use. The back-off depends only on the attempt number and
//! the seeded generator.

use std::time::Duration;

use super::ConnectionError;
use crate::auth::ServerAddr;

use crate::rng::Rng;

/// One server in the pool.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    pub(crate) addr: ServerAddr,
    pub(crate) discovered: bool,
    /// Failed attempts since this server last completed a handshake.
    pub(crate) failed_attempts: u32,
    /// Authorization failures in a row.
    pub(crate) auth_failures: u32,
    /// A handshake with it completed at least once.
    pub(crate) did_connect: bool,
    /// Why the last connection to it ended or failed.
    pub(crate) last_error: Option<ConnectionError>,
}

impl Server {
    fn new(addr: ServerAddr, discovered: bool) -> Server {
        Server {
            addr,
            discovered,
            failed_attempts: 0,
            auth_failures: 0,
            did_connect: false,
            last_error: None,
        }
    }

    /// What the application may read about it.
    pub(crate) fn status(&self) -> ServerStatus {
        ServerStatus {
            addr: self.addr.clone(),
            discovered: self.discovered,
            failed_attempts: self.failed_attempts,
            did_connect: self.did_connect,
            last_error: self.last_error.clone(),
        }
    }
}

/// A server of the pool as the application sees it
/// ([`Connection::server_pool`](super::Connection::server_pool)).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ServerStatus {
    /// Its address.
    pub addr: ServerAddr,
    /// Advertised by the cluster rather than given by the user.
    pub discovered: bool,
    /// Failed attempts since it last completed a handshake.
    pub failed_attempts: u32,
    /// A handshake with it completed at least once.
    pub did_connect: bool,
    /// Why the last connection to it ended or failed, if one did.
    pub last_error: Option<ConnectionError>,
}

#[derive(Debug, Default)]
pub(crate) struct ServerPool {
    servers: Vec<Server>,
    /// Index of the server tried last.
    current: Option<usize>,
    /// The server the next `advance` moves to instead of the next in rotation.
    chosen: Option<usize>,
    /// Every address ever seen, so discovery reports only new ones.
    seen: Vec<ServerAddr>,
}

impl ServerPool {
    pub(crate) fn new(addrs: &[ServerAddr], shuffle: Option<&mut Rng>) -> Self {
        let mut servers: Vec<Server> = Vec::with_capacity(addrs.len());
        for addr in addrs {
            if !servers.iter().any(|s| s.addr == *addr) {
                servers.push(Server::new(addr.clone(), false));
            }
        }
        if let Some(rng) = shuffle {
            rng.shuffle(&mut servers);
        }
        let seen = servers.iter().map(|s| s.addr.clone()).collect();
        ServerPool {
            servers,
            current: None,
            chosen: None,
            seen,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.servers.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    pub(crate) fn addrs(&self) -> impl Iterator<Item = &ServerAddr> {
        self.servers.iter().map(|s| &s.addr)
    }

    /// The server tried last.
    pub(crate) fn current(&self) -> Option<&Server> {
        self.current.and_then(|i| self.servers.get(i))
    }

    pub(crate) fn current_mut(&mut self) -> Option<&mut Server> {
        self.current.and_then(|i| self.servers.get_mut(i))
    }

    /// Moves to the next server in rotation and returns it.
    pub(crate) fn advance(&mut self) -> Option<&Server> {
        if self.servers.is_empty() {
            self.current = None;
            return None;
        }
        let next = match (self.chosen.take(), self.current) {
            (Some(chosen), _) if chosen < self.servers.len() => chosen,
            (_, Some(i)) => (i + 1) % self.servers.len(),
            (_, None) => 0,
        };
        self.current = Some(next);
        self.servers.get(next)
    }

    /// Removes the current server (it exhausted its attempts or its credentials were refused
    /// twice); the rotation continues with the one after it.
    pub(crate) fn remove_current(&mut self) {
        if let Some(i) = self.current {
            if i < self.servers.len() {
                self.servers.remove(i);
            }
            self.current = if self.servers.is_empty() {
                None
            } else {
                // `advance` moves to i, the server that followed the removed one.
                Some((i + self.servers.len() - 1) % self.servers.len())
            };
        }
    }

    /// What the application may read about every server, in rotation order.
    pub(crate) fn statuses(&self) -> Vec<ServerStatus> {
        self.servers.iter().map(Server::status).collect()
    }

    /// Makes `addr` the next server tried; false (and nothing changed) if it is not in the
    /// pool.
    pub(crate) fn choose(&mut self, addr: &ServerAddr) -> bool {
        self.chosen = self.servers.iter().position(|s| s.addr == *addr);
        self.chosen.is_some()
    }

    /// Replaces the servers by `addrs` (shuffled with `shuffle`), all counters reset; the
    /// server in use stays current if it is among them, so the rotation goes on after it.
    pub(crate) fn replace(&mut self, addrs: &[ServerAddr], shuffle: Option<&mut Rng>) {
        let current = self.current().map(|s| s.addr.clone());
        let seen = std::mem::take(&mut self.seen);
        *self = ServerPool::new(addrs, shuffle);
        self.current = current.and_then(|addr| self.servers.iter().position(|s| s.addr == addr));
        for addr in seen {
            if !self.seen.contains(&addr) {
                self.seen.push(addr);
            }
        }
    }

    /// Applies an INFO `connect_urls` list; returns servers never seen before.
    pub(crate) fn discover(
        &mut self,
        connect_urls: &[String],
        rng: Option<&mut Rng>,
    ) -> Vec<ServerAddr> {
        let like = match self.current().or(self.servers.first()) {
            Some(s) => s.addr.clone(),
            None => return Vec::new(),
        };
        if connect_urls.is_empty() {
            return Vec::new();
        }
        let advertised: Vec<ServerAddr> = connect_urls
            .iter()
            .filter_map(|u| ServerAddr::from_discovered(u, &like).ok())
            .collect();
        let current_addr = self.current().map(|s| s.addr.clone());
        // Forget discovered servers the cluster no longer advertises (never the current one).
        let mut i = 0;
        while i < self.servers.len() {
            let s = &self.servers[i];
            let keep = !s.discovered
                || advertised.contains(&s.addr)
                || current_addr.as_ref() == Some(&s.addr);
            if keep {
                i += 1;
            } else {
                self.servers.remove(i);
                if let Some(c) = self.current {
                    if c > i {
                        self.current = Some(c - 1);
                    }
                }
            }
        }
        let mut added = Vec::new();
        for addr in advertised {
            if !self.servers.iter().any(|s| s.addr == addr) {
                added.push(Server::new(addr.clone(), true));
            }
        }
        if let Some(rng) = rng {
            rng.shuffle(&mut added);
        }
        let mut new = Vec::new();
        for server in added {
            if !self.seen.contains(&server.addr) {
                self.seen.push(server.addr.clone());
                new.push(server.addr.clone());
            }
            self.servers.push(server);
        }
        new
    }
}

/// Exponential back-off with seeded jitter: attempt 0 is immediate, then
/// `min(base * 2^(n-1), max) + uniform(0..jitter)`.
pub(crate) fn backoff(
    attempt: u32,
    base: Duration,
    max: Duration,
    jitter: Duration,
    rng: &mut Rng,
) -> Duration {
    if attempt == 0 {
        return Duration::ZERO;
    }
    let factor = 1u32 << (attempt - 1).min(20);
    let delay = base.saturating_mul(factor).min(max);
    let jitter_nanos = rng.below(jitter.as_nanos().min(u64::MAX as u128) as u64);
    delay + Duration::from_nanos(jitter_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> ServerAddr {
        ServerAddr::parse(s).unwrap()
    }

    #[test]
    fn rotation_and_removal() {
        let mut pool = ServerPool::new(&[addr("a:1"), addr("b:1"), addr("c:1")], None);
        assert_eq!(pool.advance().unwrap().addr, addr("a:1"));
        assert_eq!(pool.advance().unwrap().addr, addr("b:1"));
        pool.remove_current();
        assert_eq!(pool.advance().unwrap().addr, addr("c:1"));
        assert_eq!(pool.advance().unwrap().addr, addr("a:1"));
        pool.remove_current();
        pool.remove_current();
        assert!(pool.is_empty());
        assert!(pool.advance().is_none());
    }

    #[test]
    fn discovery_adds_new_and_forgets_unadvertised() {
        let mut pool = ServerPool::new(&[addr("nats://a:4222")], None);
        pool.advance();
        let new = pool.discover(&["b:4222".into(), "c:4222".into()], None);
        assert_eq!(new, vec![addr("b:4222"), addr("c:4222")]);
        assert_eq!(pool.len(), 3);
        // Empty list never wipes the pool.
        assert!(pool.discover(&[], None).is_empty());
        assert_eq!(pool.len(), 3);
        // c no longer advertised: forgotten; a is user-given: kept; b seen before: not new.
        let new = pool.discover(&["b:4222".into(), "a:4222".into()], None);
        assert!(new.is_empty());
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn backoff_grows_and_caps() {
        let mut rng = Rng::new(1);
        let ms = Duration::from_millis;
        assert_eq!(backoff(0, ms(10), ms(100), ms(0), &mut rng), ms(0));
        assert_eq!(backoff(1, ms(10), ms(100), ms(0), &mut rng), ms(10));
        assert_eq!(backoff(3, ms(10), ms(100), ms(0), &mut rng), ms(40));
        assert_eq!(backoff(30, ms(10), ms(100), ms(0), &mut rng), ms(100));
        let d = backoff(2, ms(10), ms(100), ms(50), &mut rng);
        assert!(d >= ms(20) && d < ms(70));
    }
}
