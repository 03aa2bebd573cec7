//! Options of a fetch and of a continuous consume, their defaults and their validation.
//!
//! Invariant: an options value that passes `validate` produces only pull requests the server
//! accepts on its own terms (a limit set, heartbeat at most half of expires, a well-formed
//! priority group, priority 0 to 9), so a `400 Bad Request` can only come from the consumer's
//! configuration.

use std::time::Duration;

/// The batch size sent when only a byte budget limits a pull (ADR-37; the server reads an
/// absent batch as 1).
pub const BYTES_ONLY_BATCH: usize = 1_000_000;

/// Default number of messages a consume keeps requested.
pub const DEFAULT_CONSUME_MAX_MESSAGES: usize = 500;

/// Default expiry of every pull a consume sends, and of a fetch.
pub const DEFAULT_EXPIRES: Duration = Duration::from_secs(30);

/// The shortest expiry a consume accepts.
pub const MIN_CONSUME_EXPIRES: Duration = Duration::from_secs(1);

/// Bounds of a consume's default idle heartbeat (expires / 2, clamped).
const HEARTBEAT_BOUNDS: (Duration, Duration) =
    (Duration::from_millis(500), Duration::from_secs(30));

/// The longest priority group name the server accepts.
const MAX_GROUP_LEN: usize = 16;

/// Priority group settings (consumers with a `priority_policy`, server 2.11+).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriorityOptions {
    /// The group every pull names: 1 to 16 of `A-Z a-z 0-9 - _ / =`.
    pub group: String,
    /// Overflow policy: only serve this client when more than this many messages are pending.
    pub min_pending: Option<u64>,
    /// Overflow policy: only serve this client when more than this many acks are pending.
    pub min_ack_pending: Option<u64>,
    /// Prioritized policy: 0 (served first) to 9.
    pub priority: Option<u8>,
    /// Pinned-client policy: a pin id obtained earlier (for example by a previous fetch); the
    /// machine then keeps it up to date from `Nats-Pin-Id`.
    pub pin_id: Option<String>,
}

impl PriorityOptions {
    /// Settings naming `group` and nothing else.
    pub fn new(group: impl Into<String>) -> PriorityOptions {
        PriorityOptions {
            group: group.into(),
            ..PriorityOptions::default()
        }
    }

    fn validate(&self) -> Result<(), PullConfigError> {
        let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '=');
        if self.group.is_empty()
            || self.group.len() > MAX_GROUP_LEN
            || !self.group.chars().all(valid_char)
        {
            return Err(PullConfigError::InvalidGroup(self.group.clone()));
        }
        match self.priority {
            Some(p) if p > 9 => Err(PullConfigError::InvalidPriority(p)),
            _ => Ok(()),
        }
    }
}

/// Why options were refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PullConfigError {
    /// Neither a message count nor a byte budget was given (or one was zero).
    #[error("a pull needs a maximum number of messages or of bytes, greater than zero")]
    NoLimit,
    /// A consume was given both a message count and a byte budget.
    #[error("consume takes max_messages or max_bytes, not both")]
    BothLimits,
    /// The idle heartbeat is more than half the expiry (or there is no expiry).
    #[error("idle heartbeat {heartbeat:?} must be at most half of expires ({expires:?})")]
    HeartbeatTooLarge {
        /// The heartbeat asked for.
        heartbeat: Duration,
        /// The expiry, if any.
        expires: Option<Duration>,
    },
    /// A consume's expiry is under one second.
    #[error("consume expires must be at least 1 s, got {0:?}")]
    ExpiresTooShort(Duration),
    /// A threshold over the maximum it belongs to.
    #[error("threshold {threshold} must not exceed the maximum {max}")]
    ThresholdTooLarge {
        /// The threshold asked for.
        threshold: usize,
        /// The maximum.
        max: usize,
    },
    /// A priority group name that is empty, longer than 16, or has a character outside
    /// `A-Z a-z 0-9 - _ / =`.
    #[error("invalid priority group name {0:?}")]
    InvalidGroup(String),
    /// A priority over 9.
    #[error("priority must be between 0 and 9, got {0}")]
    InvalidPriority(u8),
}

/// Options of one pull ([`PullMachine::fetch`](super::PullMachine::fetch)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchOptions {
    /// The most messages to return (`None`: limited by bytes only).
    pub max_messages: Option<usize>,
    /// The most bytes to return (`None`: limited by count only).
    pub max_bytes: Option<usize>,
    /// Server-side expiry of the pull (default 30 s); the machine gives up on its own a
    /// little later ([`CLIENT_EXPIRY_GRACE`](super::CLIENT_EXPIRY_GRACE)).
    pub expires: Option<Duration>,
    /// Ask for heartbeats at this interval while the pull is idle (at most `expires / 2`);
    /// the fetch ends with a missed-heartbeat alarm after twice that without any message.
    pub idle_heartbeat: Option<Duration>,
    /// Return at once with what is there: ends with `NoMessages` when nothing is.
    pub no_wait: bool,
    /// Priority group settings.
    pub priority: Option<PriorityOptions>,
}

impl Default for FetchOptions {
    /// One message, expiring after 30 s, no heartbeat (the options of `next`).
    fn default() -> FetchOptions {
        FetchOptions::messages(1)
    }
}

impl FetchOptions {
    /// Up to `n` messages, expiring after 30 s.
    pub fn messages(n: usize) -> FetchOptions {
        FetchOptions {
            max_messages: Some(n),
            max_bytes: None,
            expires: Some(DEFAULT_EXPIRES),
            idle_heartbeat: None,
            no_wait: false,
            priority: None,
        }
    }

    /// Up to `n` messages that are available now: the pull ends at once, with
    /// `NoMessages` when there are none (`no_wait` without `expires`; with an `expires` the
    /// server would instead wait for the first message until then).
    pub fn no_wait(n: usize) -> FetchOptions {
        FetchOptions {
            no_wait: true,
            expires: None,
            ..FetchOptions::messages(n)
        }
    }

    /// Up to `n` bytes of messages, expiring after 30 s.
    pub fn bytes(n: usize) -> FetchOptions {
        FetchOptions {
            max_messages: None,
            max_bytes: Some(n),
            ..FetchOptions::messages(0)
        }
    }

    /// The batch and byte limit to request, after validating everything.
    pub(super) fn validate(&self) -> Result<(usize, usize), PullConfigError> {
        let batch = self.max_messages.unwrap_or(0);
        let bytes = self.max_bytes.unwrap_or(0);
        if batch == 0 && bytes == 0 || self.max_messages == Some(0) || self.max_bytes == Some(0) {
            return Err(PullConfigError::NoLimit);
        }
        check_heartbeat(self.idle_heartbeat, self.expires.filter(|e| !e.is_zero()))?;
        if let Some(priority) = &self.priority {
            priority.validate()?;
        }
        let batch = if batch == 0 { BYTES_ONLY_BATCH } else { batch };
        Ok((batch, bytes))
    }
}

/// Options of a continuous consume ([`PullMachine::consume`](super::PullMachine::consume)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsumeOptions {
    /// How many messages to keep requested (default 500 when `max_bytes` is not set either).
    pub max_messages: Option<usize>,
    /// How many bytes to keep requested, instead of a message count.
    pub max_bytes: Option<usize>,
    /// Expiry of every pull (default 30 s, at least 1 s).
    pub expires: Option<Duration>,
    /// Heartbeat interval (default `expires / 2` clamped to 500 ms ..= 30 s); the alarm
    /// fires after twice this without any message.
    pub idle_heartbeat: Option<Duration>,
    /// Pull again when the messages still requested drop to this (default: half the
    /// maximum, rounded up). Message mode only.
    pub threshold_messages: Option<usize>,
    /// Pull again when the bytes still requested drop to this (default: half the maximum,
    /// rounded up). Byte mode only.
    pub threshold_bytes: Option<usize>,
    /// Priority group settings.
    pub priority: Option<PriorityOptions>,
}

/// The limit a consume keeps requested.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Budget {
    /// Keep `max` messages requested; pull again at `threshold`.
    Messages { max: usize, threshold: usize },
    /// Keep `max` bytes requested; pull again at `threshold`.
    Bytes { max: usize, threshold: usize },
}

/// Validated consume settings.
#[derive(Clone, Debug)]
pub(super) struct ConsumeSettings {
    pub(super) budget: Budget,
    pub(super) expires: Duration,
    pub(super) idle_heartbeat: Duration,
}

impl ConsumeOptions {
    /// Options with the defaults: 500 messages, 30 s expiry, 15 s heartbeat.
    pub fn new() -> ConsumeOptions {
        ConsumeOptions::default()
    }

    /// Keep `n` messages requested.
    pub fn messages(n: usize) -> ConsumeOptions {
        ConsumeOptions {
            max_messages: Some(n),
            ..ConsumeOptions::default()
        }
    }

    /// Keep `n` bytes requested.
    pub fn bytes(n: usize) -> ConsumeOptions {
        ConsumeOptions {
            max_bytes: Some(n),
            ..ConsumeOptions::default()
        }
    }

    pub(super) fn validate(&self) -> Result<ConsumeSettings, PullConfigError> {
        let half_up = |n: usize| n / 2 + n % 2;
        let threshold = |given: Option<usize>, max: usize| {
            let threshold = given.unwrap_or(half_up(max));
            if threshold > max {
                Err(PullConfigError::ThresholdTooLarge { threshold, max })
            } else {
                Ok(threshold)
            }
        };
        let budget = match (self.max_messages, self.max_bytes) {
            (Some(_), Some(_)) => return Err(PullConfigError::BothLimits),
            (Some(0), None) | (None, Some(0)) => return Err(PullConfigError::NoLimit),
            (None, Some(max)) => Budget::Bytes {
                max,
                threshold: threshold(self.threshold_bytes, max)?,
            },
            (max, None) => {
                let max = max.unwrap_or(DEFAULT_CONSUME_MAX_MESSAGES);
                Budget::Messages {
                    max,
                    threshold: threshold(self.threshold_messages, max)?,
                }
            }
        };
        let expires = self.expires.unwrap_or(DEFAULT_EXPIRES);
        if expires < MIN_CONSUME_EXPIRES {
            return Err(PullConfigError::ExpiresTooShort(expires));
        }
        let idle_heartbeat = match self.idle_heartbeat {
            Some(hb) => hb,
            None => (expires / 2).clamp(HEARTBEAT_BOUNDS.0, HEARTBEAT_BOUNDS.1),
        };
        check_heartbeat(Some(idle_heartbeat), Some(expires))?;
        if idle_heartbeat.is_zero() {
            return Err(PullConfigError::HeartbeatTooLarge {
                heartbeat: idle_heartbeat,
                expires: Some(expires),
            });
        }
        if let Some(priority) = &self.priority {
            priority.validate()?;
        }
        Ok(ConsumeSettings {
            budget,
            expires,
            idle_heartbeat,
        })
    }
}

/// The server refuses a heartbeat over half the expiry (`400 Bad Request - heartbeat value
/// too large`), and a heartbeat without an expiry is over half of zero.
fn check_heartbeat(
    heartbeat: Option<Duration>,
    expires: Option<Duration>,
) -> Result<(), PullConfigError> {
    match heartbeat {
        Some(hb) if !hb.is_zero() && hb * 2 > expires.unwrap_or(Duration::ZERO) => {
            Err(PullConfigError::HeartbeatTooLarge {
                heartbeat: hb,
                expires,
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consume_defaults() {
        let s = ConsumeOptions::new().validate().unwrap();
        assert_eq!(
            s.budget,
            Budget::Messages {
                max: 500,
                threshold: 250
            }
        );
        assert_eq!(s.expires, Duration::from_secs(30));
        assert_eq!(s.idle_heartbeat, Duration::from_secs(15));

        let s = ConsumeOptions::messages(7).validate().unwrap();
        assert_eq!(
            s.budget,
            Budget::Messages {
                max: 7,
                threshold: 4
            }
        );
        let s = ConsumeOptions::messages(1).validate().unwrap();
        assert_eq!(
            s.budget,
            Budget::Messages {
                max: 1,
                threshold: 1
            }
        );
        let s = ConsumeOptions::bytes(1001).validate().unwrap();
        assert_eq!(
            s.budget,
            Budget::Bytes {
                max: 1001,
                threshold: 501
            }
        );

        let hb = |secs: f64| {
            ConsumeOptions {
                expires: Some(Duration::from_secs_f64(secs)),
                ..ConsumeOptions::new()
            }
            .validate()
            .unwrap()
            .idle_heartbeat
        };
        assert_eq!(hb(1.0), Duration::from_millis(500));
        assert_eq!(hb(10.0), Duration::from_secs(5));
        assert_eq!(hb(300.0), Duration::from_secs(30));
    }

    #[test]
    fn consume_refusals() {
        let cases: Vec<(ConsumeOptions, PullConfigError)> = vec![
            (
                ConsumeOptions {
                    max_messages: Some(10),
                    max_bytes: Some(10),
                    ..ConsumeOptions::new()
                },
                PullConfigError::BothLimits,
            ),
            (ConsumeOptions::messages(0), PullConfigError::NoLimit),
            (ConsumeOptions::bytes(0), PullConfigError::NoLimit),
            (
                ConsumeOptions {
                    expires: Some(Duration::from_millis(999)),
                    ..ConsumeOptions::new()
                },
                PullConfigError::ExpiresTooShort(Duration::from_millis(999)),
            ),
            (
                ConsumeOptions {
                    idle_heartbeat: Some(Duration::from_secs(16)),
                    ..ConsumeOptions::new()
                },
                PullConfigError::HeartbeatTooLarge {
                    heartbeat: Duration::from_secs(16),
                    expires: Some(Duration::from_secs(30)),
                },
            ),
            (
                ConsumeOptions {
                    threshold_messages: Some(11),
                    ..ConsumeOptions::messages(10)
                },
                PullConfigError::ThresholdTooLarge {
                    threshold: 11,
                    max: 10,
                },
            ),
            (
                ConsumeOptions {
                    priority: Some(PriorityOptions::new("bad group")),
                    ..ConsumeOptions::new()
                },
                PullConfigError::InvalidGroup("bad group".into()),
            ),
            (
                ConsumeOptions {
                    priority: Some(PriorityOptions::new("g".repeat(17))),
                    ..ConsumeOptions::new()
                },
                PullConfigError::InvalidGroup("g".repeat(17)),
            ),
            (
                ConsumeOptions {
                    priority: Some(PriorityOptions {
                        priority: Some(10),
                        ..PriorityOptions::new("jobs")
                    }),
                    ..ConsumeOptions::new()
                },
                PullConfigError::InvalidPriority(10),
            ),
        ];
        for (options, want) in cases {
            assert_eq!(options.validate().unwrap_err(), want, "{options:?}");
        }
    }

    #[test]
    fn fetch_limits() {
        assert_eq!(FetchOptions::messages(5).validate(), Ok((5, 0)));
        assert_eq!(
            FetchOptions::bytes(100).validate(),
            Ok((BYTES_ONLY_BATCH, 100))
        );
        let both = FetchOptions {
            max_bytes: Some(100),
            ..FetchOptions::messages(5)
        };
        assert_eq!(both.validate(), Ok((5, 100)));
        assert_eq!(
            FetchOptions::messages(0).validate(),
            Err(PullConfigError::NoLimit)
        );
        let hb_without_expiry = FetchOptions {
            expires: None,
            idle_heartbeat: Some(Duration::from_secs(1)),
            ..FetchOptions::messages(1)
        };
        assert!(matches!(
            hb_without_expiry.validate(),
            Err(PullConfigError::HeartbeatTooLarge { expires: None, .. })
        ));
        let ok_group = FetchOptions {
            priority: Some(PriorityOptions::new("A-z_0/9=")),
            ..FetchOptions::messages(1)
        };
        assert!(ok_group.validate().is_ok());
    }
}
