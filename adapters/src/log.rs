//! Logging of connection events through the `tracing` crate (cargo feature `tracing`, on by
//! default).
//!
//! Invariant: this is the only module that names `tracing`, and [`connection_event`] is
//! called in exactly two places, where the drivers hand the machine's connection events on:
//! the async front end's `State::on_connection_event` and the blocking driver's event loop.
//! The core (`nats-sansio`) never logs; it reports events, and this module turns each into
//! one log record. Without the feature, [`connection_event`] does nothing.
//!
//! Levels: connects and clean closes are `info`; what costs the application something or
//! needs attention (a disconnect, lame duck, a server error, a slow consumer, an unreadable
//! message, publishes discarded or unsent at the close) is `warn`; a close with a reason is
//! `error`; servers discovered and a drain starting are `debug`. Server addresses are
//! logged with their `Display`, which hides passwords and tokens.

use nats_sansio::ConnectionEvent;

/// Logs one connection event.
#[cfg(feature = "tracing")]
pub(crate) fn connection_event(event: &ConnectionEvent) {
    use tracing::{debug, error, info, warn};

    match event {
        ConnectionEvent::Connected { server } => info!(%server, "connected"),
        ConnectionEvent::Reconnected { server } => info!(%server, "reconnected"),
        ConnectionEvent::Disconnected {
            reason,
            unsent_messages,
        } => warn!(%reason, unsent_messages, "disconnected"),
        ConnectionEvent::Closed {
            reason: Some(reason),
            unsent_messages,
        } => error!(%reason, unsent_messages, "closed"),
        ConnectionEvent::Closed {
            reason: None,
            unsent_messages: 0,
        } => info!(unsent_messages = 0u64, "closed"),
        ConnectionEvent::Closed {
            reason: None,
            unsent_messages,
        } => warn!(unsent_messages, "closed with publishes never sent"),
        ConnectionEvent::Draining => debug!("draining"),
        ConnectionEvent::LameDuck { server } => {
            warn!(%server, "server entered lame duck mode")
        }
        ConnectionEvent::ServersDiscovered { servers } => {
            debug!(servers = %Servers(servers), "servers discovered")
        }
        ConnectionEvent::PublishesDiscarded { messages, reason } => {
            warn!(messages, %reason, "buffered publishes discarded")
        }
        ConnectionEvent::ServerError { message } => warn!(%message, "server error"),
        ConnectionEvent::SlowConsumer { sid } => warn!(sid, "slow consumer, dropping messages"),
        ConnectionEvent::UnreadableMessage { sid, reason } => {
            warn!(sid, %reason, "unreadable message dropped")
        }
        // The event enum is non-exhaustive: an event added later is still logged.
        other => debug!(event = ?other, "connection event"),
    }
}

/// Logs one connection event: without the `tracing` feature, nothing.
#[cfg(not(feature = "tracing"))]
#[inline]
pub(crate) fn connection_event(_event: &ConnectionEvent) {}

/// A list of servers, displayed comma-separated (only formatted when the record is enabled).
#[cfg(feature = "tracing")]
struct Servers<'a>(&'a [nats_sansio::auth::ServerAddr]);

#[cfg(feature = "tracing")]
impl std::fmt::Display for Servers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, server) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{server}")?;
        }
        Ok(())
    }
}
