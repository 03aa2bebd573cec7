//! The body of a pull request (`CONSUMER.MSG.NEXT.<stream>.<consumer>`).
//!
//! Invariant: [`PullRequest::to_json`] always writes `batch`, writes every other field only
//! when it is set (non-zero, non-empty, `true`), and writes durations as integer nanoseconds,
//! which is the only duration form the server reads.

use std::time::Duration;

use serde::Serialize;

/// What a pull asks the server for. Published as JSON ([`to_json`](Self::to_json)) to
/// `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` with the consumer's inbox as the reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PullRequest {
    /// How many messages at most (the server reads 0 as 1).
    pub batch: usize,
    /// How many bytes at most, counted as subject + reply + headers + payload; 0 = no limit.
    pub max_bytes: usize,
    /// When the server ends the pull with `408 Request Timeout`; `None` = never.
    pub expires: Option<Duration>,
    /// Answer at once (`404 No Messages`) when nothing is pending, rather than waiting.
    pub no_wait: bool,
    /// How often the server sends `100 Idle Heartbeat` while the pull is idle; at most half
    /// of `expires`.
    pub idle_heartbeat: Option<Duration>,
    /// The priority group (consumers with a priority policy).
    pub group: Option<String>,
    /// Overflow policy: serve this pull only when more than this many messages are pending.
    pub min_pending: Option<u64>,
    /// Overflow policy: serve this pull only when more than this many acks are pending.
    pub min_ack_pending: Option<u64>,
    /// Pinned-client policy: the pin id this client was given (`Nats-Pin-Id`).
    pub id: Option<String>,
    /// Prioritized policy: 0 (served first) to 9.
    pub priority: Option<u8>,
}

/// The wire form of [`PullRequest`].
#[derive(Serialize)]
struct Wire<'a> {
    batch: usize,
    #[serde(skip_serializing_if = "is_zero")]
    max_bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<u64>,
    #[serde(skip_serializing_if = "is_false")]
    no_wait: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    idle_heartbeat: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_pending: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_ack_pending: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    priority: Option<u8>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A duration as the server's nanosecond count (a Go `int64`); zero means "not set".
fn nanos(d: Option<Duration>) -> Option<u64> {
    let ns = d?.as_nanos();
    (ns > 0).then(|| u64::try_from(ns).unwrap_or(u64::MAX).min(i64::MAX as u64))
}

impl PullRequest {
    /// The JSON body to publish.
    ///
    /// ```
    /// use std::time::Duration;
    /// use nats_sansio::jetstream::pull::PullRequest;
    ///
    /// let request = PullRequest {
    ///     batch: 10,
    ///     expires: Some(Duration::from_secs(30)),
    ///     idle_heartbeat: Some(Duration::from_secs(15)),
    ///     ..PullRequest::default()
    /// };
    /// assert_eq!(
    ///     request.to_json(),
    ///     br#"{"batch":10,"expires":30000000000,"idle_heartbeat":15000000000}"#
    /// );
    /// ```
    pub fn to_json(&self) -> Vec<u8> {
        let wire = Wire {
            batch: self.batch,
            max_bytes: self.max_bytes,
            expires: nanos(self.expires),
            no_wait: self.no_wait,
            idle_heartbeat: nanos(self.idle_heartbeat),
            group: self.group.as_deref().filter(|g| !g.is_empty()),
            min_pending: self.min_pending.filter(|n| *n > 0),
            min_ack_pending: self.min_ack_pending.filter(|n| *n > 0),
            id: self.id.as_deref().filter(|id| !id.is_empty()),
            priority: self.priority.filter(|p| *p > 0),
        };
        // Serialising a struct of numbers, booleans and strings into a Vec cannot fail.
        serde_json::to_vec(&wire).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_only_what_is_set() {
        let cases: Vec<(PullRequest, &str)> = vec![
            (PullRequest::default(), r#"{"batch":0}"#),
            (
                PullRequest {
                    batch: 1,
                    no_wait: true,
                    ..PullRequest::default()
                },
                r#"{"batch":1,"no_wait":true}"#,
            ),
            (
                PullRequest {
                    batch: 1_000_000,
                    max_bytes: 4096,
                    expires: Some(Duration::from_millis(1500)),
                    idle_heartbeat: Some(Duration::ZERO),
                    group: Some("jobs".into()),
                    min_pending: Some(10),
                    min_ack_pending: Some(0),
                    id: Some("PIN1".into()),
                    priority: Some(3),
                    ..PullRequest::default()
                },
                concat!(
                    r#"{"batch":1000000,"max_bytes":4096,"expires":1500000000,"#,
                    r#""group":"jobs","min_pending":10,"id":"PIN1","priority":3}"#
                ),
            ),
            (
                PullRequest {
                    batch: 2,
                    expires: Some(Duration::MAX),
                    group: Some("a\"b".into()),
                    ..PullRequest::default()
                },
                r#"{"batch":2,"expires":9223372036854775807,"group":"a\"b"}"#,
            ),
        ];
        for (request, json) in cases {
            assert_eq!(String::from_utf8(request.to_json()).unwrap(), json);
        }
    }
}
