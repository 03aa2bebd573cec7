//! What a `-ERR` from the server means for the connection.
//!
//! Invariant: an error the server keeps the connection open after (permissions, invalid
//! subject, subscription limit) is an event and at most ends one subscription; any other
//! error drops the socket, and an authorization error counts against the server so that a
//! server refusing the credentials twice leaves the pool.

use super::ConnectionEvent;
use super::{Connection, ConnectionError, SubscriptionEnd};
use crate::proto::QueueGroup;

impl Connection {
    pub(super) fn on_server_error(&mut self, text: String) {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("permissions violation") {
            self.on_permissions_violation(&text, &lower);
            self.raise(ConnectionEvent::ServerError { message: text });
            return;
        }
        let non_fatal = lower.starts_with("invalid subject")
            || lower.starts_with("invalid publish subject")
            || lower.starts_with("maximum subscriptions exceeded");
        if non_fatal {
            self.raise(ConnectionEvent::ServerError { message: text });
            return;
        }
        let reason = if lower.starts_with("authorization violation")
            || lower.starts_with("authentication")
            || lower.starts_with("user authentication")
            || lower.starts_with("account authentication")
        {
            if let Some(server) = self.pool.current_mut() {
                server.auth_failures += 1;
            }
            ConnectionError::AuthorizationViolation(text)
        } else {
            ConnectionError::Server(text)
        };
        self.drop_connection(reason);
    }

    /// `Permissions Violation for Subscription to "<subject>"[ using queue "<queue>"]` ends
    /// the matching subscription.
    pub(super) fn on_permissions_violation(&mut self, text: &str, lower: &str) {
        if !lower.starts_with("permissions violation for subscription to ") {
            return;
        }
        let mut quoted = text.split('"').skip(1).step_by(2);
        let Some(subject) = quoted.next() else { return };
        let queue = if lower.contains(" using queue ") {
            quoted.next()
        } else {
            None
        };
        let sid = self.subs.receiving().into_iter().find(|sid| {
            self.subs.by_sid.get(sid).is_some_and(|s| {
                s.subject.as_str() == subject
                    && s.queue_group.as_ref().map(QueueGroup::as_str) == queue
            })
        });
        if let Some(sid) = sid {
            self.end_subscription(sid, SubscriptionEnd::PermissionDenied(text.to_owned()));
        }
    }
}
