//! Subjects and queue group names as validated newtypes.
//!
//! Invariant: a [`Subject`] always holds valid UTF-8 and, when built by the public
//! constructors, follows the subscribe rules (non-empty, no empty token, no whitespace or
//! ASCII control character, `>` only as the last token). Subjects that come from the server
//! are only checked for UTF-8 and non-emptiness (the server already routed them). A
//! [`QueueGroup`] is always valid UTF-8, non-empty and free of whitespace and control
//! characters. The free `validate_*` functions never allocate.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::str::FromStr;

use bytes::Bytes;

/// Why a subject or queue group name was rejected.
///
/// The error carries no copy of the offending text, so building it never allocates.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubjectError {
    /// The subject (or queue group) is the empty string.
    #[error("it is empty")]
    Empty,
    /// The subject has an empty token: a leading or trailing `.`, or `..`.
    #[error("it has an empty token (a leading or trailing '.', or '..')")]
    EmptyToken,
    /// The subject contains whitespace or an ASCII control character.
    #[error("it contains whitespace or a control character")]
    Whitespace,
    /// A publish subject (or reply subject) contains a `*` or `>` wildcard token.
    #[error("wildcard tokens '*' and '>' are only allowed when subscribing")]
    WildcardInPublish,
    /// The `>` wildcard appears as a token that is not the last one.
    #[error("the '>' wildcard must be the last token")]
    MisplacedFullWildcard,
    /// The bytes are not valid UTF-8.
    #[error("it is not valid UTF-8")]
    InvalidUtf8,
}

/// Is `b` a byte that may never appear in a subject or queue group (whitespace or control)?
#[inline(always)]
fn is_forbidden_byte(b: u8) -> bool {
    b <= b' ' || b == 0x7f
}

/// Shared single pass over a subject: `publish` additionally rejects wildcard tokens.
#[inline(always)]
fn validate_subject(s: &str, publish: bool) -> Result<(), SubjectError> {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return Err(SubjectError::Empty);
    }
    let mut token_start = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'.' {
            check_token(bytes, token_start, i, publish, false)?;
            token_start = i + 1;
        } else if is_forbidden_byte(b) {
            return Err(SubjectError::Whitespace);
        }
    }
    check_token(bytes, token_start, bytes.len(), publish, true)
}

/// Checks the token `bytes[start..end]`; `last` says whether it is the final token.
#[inline(always)]
fn check_token(
    bytes: &[u8],
    start: usize,
    end: usize,
    publish: bool,
    last: bool,
) -> Result<(), SubjectError> {
    match bytes.get(start..end) {
        None | Some([]) => Err(SubjectError::EmptyToken),
        Some([b'*']) if publish => Err(SubjectError::WildcardInPublish),
        Some([b'>']) if publish => Err(SubjectError::WildcardInPublish),
        Some([b'>']) if !last => Err(SubjectError::MisplacedFullWildcard),
        Some(_) => Ok(()),
    }
}

/// Checks that `s` is a valid subject to publish to (or to use as a reply subject).
///
/// The rules are those of [`validate_subscribe`] plus: no token may be a wildcard (`*` or
/// `>`). Tokens that merely contain those characters, like `foo*` or `foo>`, are literal and
/// allowed. Runs in one pass and never allocates.
///
/// # Errors
///
/// The first rule broken, as a [`SubjectError`].
pub fn validate_publish(s: &str) -> Result<(), SubjectError> {
    validate_subject(s, true)
}

/// Checks only what keeps `s` from breaking the protocol line it is written on: not empty,
/// no whitespace or control byte. Tokens are not checked (see
/// [`Options::skip_subject_validation`](crate::connection::Options::skip_subject_validation)).
///
/// # Errors
///
/// [`SubjectError::Empty`] or [`SubjectError::Whitespace`].
pub fn validate_framing(s: &str) -> Result<(), SubjectError> {
    if s.is_empty() {
        return Err(SubjectError::Empty);
    }
    if s.bytes().any(is_forbidden_byte) {
        return Err(SubjectError::Whitespace);
    }
    Ok(())
}

/// Checks that `s` is a valid subscription filter.
///
/// A subject is one or more non-empty tokens joined by `.` (so no leading or trailing `.` and
/// no `..`), with no whitespace and no ASCII control character. `*` as a whole token matches
/// any one token and `>` as the whole last token matches one or more trailing tokens.
/// Runs in one pass and never allocates.
///
/// # Errors
///
/// The first rule broken, as a [`SubjectError`].
pub fn validate_subscribe(s: &str) -> Result<(), SubjectError> {
    validate_subject(s, false)
}

/// Checks that `s` is a valid queue group name: non-empty, without whitespace or control
/// characters. Never allocates.
///
/// This is what the server enforces. ADR-6 is stricter (a queue group is a single token, so
/// it also excludes `.`, `*` and `>`), but servers accept those and so do we.
///
/// # Errors
///
/// [`SubjectError::Empty`] or [`SubjectError::Whitespace`].
pub fn validate_queue_group(s: &str) -> Result<(), SubjectError> {
    if s.is_empty() {
        return Err(SubjectError::Empty);
    }
    if s.bytes().any(is_forbidden_byte) {
        return Err(SubjectError::Whitespace);
    }
    Ok(())
}

/// Implements the string-like trait set shared by [`Subject`] and [`QueueGroup`].
macro_rules! string_newtype {
    ($name:ident, $validate:path) => {
        impl $name {
            /// Validates `s` and takes ownership of it without copying.
            ///
            /// # Errors
            ///
            /// The first rule broken, as a [`SubjectError`].
            pub fn new(s: impl Into<String>) -> Result<Self, SubjectError> {
                let s = s.into();
                $validate(&s)?;
                Ok(Self(Bytes::from(s)))
            }

            /// Builds a value from a static string without allocating.
            ///
            /// # Panics
            ///
            /// If `s` is not valid; meant for literals in code.
            pub fn from_static(s: &'static str) -> Self {
                if let Err(e) = $validate(s) {
                    panic!("{}::from_static({s:?}): {e}", stringify!($name));
                }
                Self(Bytes::from_static(s.as_bytes()))
            }

            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                // The invariant guarantees UTF-8; the fallback is never taken.
                match std::str::from_utf8(&self.0) {
                    Ok(s) => s,
                    Err(_) => {
                        debug_assert!(false, "{} invariant broken: not UTF-8", stringify!($name));
                        ""
                    }
                }
            }

            /// The value as raw bytes.
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }

            /// The underlying shared buffer (cheap to clone, no copy).
            pub fn as_shared_bytes(&self) -> &Bytes {
                &self.0
            }
        }

        impl Hash for $name {
            fn hash<H: Hasher>(&self, state: &mut H) {
                // Must match `str`'s hash, so that `Borrow<str>` lookups work.
                self.as_str().hash(state);
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.as_bytes().cmp(other.as_bytes())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.as_str(), f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                self.as_str()
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                self.as_str()
            }
        }

        impl FromStr for $name {
            type Err = SubjectError;
            fn from_str(s: &str) -> Result<Self, SubjectError> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = SubjectError;
            fn try_from(s: &str) -> Result<Self, SubjectError> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = SubjectError;
            fn try_from(s: String) -> Result<Self, SubjectError> {
                Self::new(s)
            }
        }

        impl TryFrom<Bytes> for $name {
            type Error = SubjectError;
            fn try_from(b: Bytes) -> Result<Self, SubjectError> {
                let s = std::str::from_utf8(&b).map_err(|_| SubjectError::InvalidUtf8)?;
                $validate(s)?;
                Ok(Self(b))
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_bytes() == other.as_bytes()
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_bytes() == other.as_bytes()
            }
        }
    };
}

/// A NATS subject, such as `orders.eu.new` or the filter `orders.*.>`.
///
/// Cheap to clone (a reference-counted [`Bytes`]). Built by [`Subject::new`] and friends it
/// follows the subscribe rules of [`validate_subscribe`], so it may hold wildcards; use
/// [`validate_publish`] or [`Subject::is_wildcard`] before publishing to it.
#[derive(Clone, PartialEq, Eq)]
pub struct Subject(Bytes);

string_newtype!(Subject, validate_subscribe);

impl Subject {
    /// Does any token consist of a wildcard (`*` or `>`)?
    pub fn is_wildcard(&self) -> bool {
        self.as_bytes()
            .split(|&b| b == b'.')
            .any(|t| t == b"*" || t == b">")
    }

    /// Checks a subject received from the server: only that it is non-empty UTF-8 (the
    /// server already routed it).
    pub(crate) fn check_from_server(bytes: &[u8]) -> Result<(), SubjectError> {
        if bytes.is_empty() {
            return Err(SubjectError::Empty);
        }
        std::str::from_utf8(bytes).map_err(|_| SubjectError::InvalidUtf8)?;
        Ok(())
    }

    /// A subject received from the server whose bytes passed
    /// [`check_from_server`](Self::check_from_server) (or are known to: a non-empty field of
    /// an all-ASCII control line); keeps them without copying.
    pub(crate) fn from_server_checked(bytes: Bytes) -> Subject {
        debug_assert_eq!(Subject::check_from_server(&bytes), Ok(()));
        Subject(bytes)
    }
}

/// A queue group name: members of the same group share the messages of a subscription.
///
/// Non-empty, without whitespace or control characters (see [`validate_queue_group`]).
#[derive(Clone, PartialEq, Eq)]
pub struct QueueGroup(Bytes);

string_newtype!(QueueGroup, validate_queue_group);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn subscribe_rules() {
        let ok = [
            "foo",
            "foo.bar",
            "foo.*",
            "*",
            ">",
            "foo.>",
            "*.*.>",
            "foo*",
            "foo>",
            "foo.>bar",
            "a.b*.c",
            "$JS.API.INFO",
            "ünïcödé.subject",
            "_INBOX.abc.*",
        ];
        for s in ok {
            assert_eq!(validate_subscribe(s), Ok(()), "{s:?}");
        }
        let bad = [
            ("", SubjectError::Empty),
            (".", SubjectError::EmptyToken),
            (".foo", SubjectError::EmptyToken),
            ("foo.", SubjectError::EmptyToken),
            ("foo..bar", SubjectError::EmptyToken),
            ("foo bar", SubjectError::Whitespace),
            ("foo\tbar", SubjectError::Whitespace),
            ("foo\r\n", SubjectError::Whitespace),
            ("foo\nbar", SubjectError::Whitespace),
            ("foo\0bar", SubjectError::Whitespace),
            ("foo\x7fbar", SubjectError::Whitespace),
            (" foo", SubjectError::Whitespace),
            (">.foo", SubjectError::MisplacedFullWildcard),
            ("foo.>.bar", SubjectError::MisplacedFullWildcard),
        ];
        for (s, e) in bad {
            assert_eq!(validate_subscribe(s), Err(e), "{s:?}");
        }
    }

    #[test]
    fn publish_rules() {
        for s in ["foo", "foo.bar", "foo*", "foo>", "a.b*.c>", "_INBOX.x.y"] {
            assert_eq!(validate_publish(s), Ok(()), "{s:?}");
        }
        let bad = [
            ("", SubjectError::Empty),
            ("foo.*", SubjectError::WildcardInPublish),
            ("*", SubjectError::WildcardInPublish),
            (">", SubjectError::WildcardInPublish),
            ("foo.>", SubjectError::WildcardInPublish),
            ("foo.*.bar", SubjectError::WildcardInPublish),
            ("foo..bar", SubjectError::EmptyToken),
            ("foo bar", SubjectError::Whitespace),
        ];
        for (s, e) in bad {
            assert_eq!(validate_publish(s), Err(e), "{s:?}");
        }
    }

    #[test]
    fn queue_group_rules() {
        assert_eq!(validate_queue_group("workers"), Ok(()));
        assert_eq!(validate_queue_group("a.b*>"), Ok(()));
        assert_eq!(validate_queue_group(""), Err(SubjectError::Empty));
        assert_eq!(validate_queue_group("a b"), Err(SubjectError::Whitespace));
        assert_eq!(validate_queue_group("a\r"), Err(SubjectError::Whitespace));
        assert!(QueueGroup::new("q").is_ok());
        assert_eq!(QueueGroup::from_static("q").as_str(), "q");
    }

    #[test]
    fn subject_traits() {
        let s = Subject::new("foo.bar").unwrap();
        assert_eq!(s.as_str(), "foo.bar");
        assert_eq!(s, "foo.bar");
        assert_eq!(&s, "foo.bar");
        assert_eq!(format!("{s}"), "foo.bar");
        assert_eq!(format!("{s:?}"), "\"foo.bar\"");
        assert_eq!(s.len(), 7); // via Deref<Target = str>
        assert!(!s.is_wildcard());
        assert!(Subject::from_static("foo.*").is_wildcard());
        assert!(Subject::from_static(">").is_wildcard());
        assert!(!Subject::from_static("foo*.bar>").is_wildcard());
        let parsed: Subject = "a.b".parse().unwrap();
        assert_eq!(parsed, Subject::try_from("a.b").unwrap());
        assert_eq!(parsed, Subject::try_from(String::from("a.b")).unwrap());
        assert_eq!(
            Subject::try_from(Bytes::from_static(b"a b")),
            Err(SubjectError::Whitespace)
        );
        assert_eq!(
            Subject::try_from(Bytes::from_static(b"\xff")),
            Err(SubjectError::InvalidUtf8)
        );
        assert!(Subject::new("a..b").is_err());
        assert!(Subject::from_static("a") < Subject::from_static("b"));

        // Borrow<str> must agree with Hash/Eq.
        let mut set = HashSet::new();
        set.insert(Subject::from_static("x.y"));
        assert!(set.contains("x.y"));
        assert!(!set.contains("x.z"));
    }

    #[test]
    fn from_static_does_not_copy() {
        const S: &str = "static.subject";
        let s = Subject::from_static(S);
        assert_eq!(s.as_bytes().as_ptr(), S.as_ptr());
    }

    #[test]
    #[should_panic]
    fn from_static_panics_on_invalid() {
        let _ = Subject::from_static("bad subject");
    }

    #[test]
    fn from_server_is_lenient_and_zero_copy() {
        let b = Bytes::from_static(b"foo..bar");
        assert_eq!(Subject::check_from_server(&b), Ok(()));
        let s = Subject::from_server_checked(b.clone());
        assert_eq!(s.as_bytes().as_ptr(), b.as_ptr());
        assert_eq!(Subject::check_from_server(b""), Err(SubjectError::Empty));
        assert_eq!(
            Subject::check_from_server(b"\xc3"),
            Err(SubjectError::InvalidUtf8)
        );
    }
}
