//! Message headers (ADR-4): an ordered, case-sensitive multimap plus an optional inline status.
//!
//! Invariant: [`HeaderMap::encoded_len`] is exactly the number of bytes
//! [`HeaderMap::encode`] writes, and a map that passes [`HeaderMap::validate`] survives
//! `encode` then [`HeaderMap::decode`] unchanged (values and description are compared
//! trimmed). Decoding never panics, whatever the input.
//!
//! A received header block whose every line is well formed is kept as it came (a shared
//! slice of the read buffer) and read in place: receiving headers allocates nothing, and a
//! map is copied into owned entries only when it is changed. A block with a malformed line
//! or a value that is not UTF-8 is decoded into owned entries at once, as before.

use std::ops::Range;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::status::StatusCode;

/// The version prefix of every header block.
const VERSION: &[u8] = b"NATS/1.0";

/// Why a header map is invalid, or a header block could not be decoded.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// A header name is empty.
    #[error("invalid header: empty header name")]
    EmptyName,
    /// A header name has a byte outside printable ASCII (33..=126) or a `:`.
    #[error("invalid header name {name:?}: names must be printable ASCII without ':' or spaces")]
    InvalidName {
        /// The offending name (lossily decoded when it came off the wire).
        name: String,
    },
    /// A header value contains CR or LF.
    #[error("invalid value for header {name:?}: values must not contain CR or LF")]
    InvalidValue {
        /// The name of the header whose value is invalid (the value itself is not repeated).
        name: String,
    },
    /// The status description contains CR or LF.
    #[error("invalid status description: it must not contain CR or LF")]
    InvalidDescription,
    /// The header block does not start with `NATS/1.0`.
    #[error("invalid header block: it does not start with 'NATS/1.0'")]
    MissingVersion,
    /// The text after `NATS/1.0` is not a three-digit status code.
    #[error("invalid header block: malformed status code after 'NATS/1.0'")]
    InvalidStatus,
    /// A header line has no `:`.
    #[error("invalid header block: a header line has no ':'")]
    MissingColon,
}

/// Headers of a message: ordered `(name, value)` entries plus an optional inline status.
///
/// Names are case-sensitive (the server never canonicalises them), a name may repeat, and
/// insertion order is kept and serialised one line per value. The inline status and its
/// description (`NATS/1.0 503`, `NATS/1.0 408 Request Timeout`) are kept apart from the
/// entries: [`len`](Self::len) and [`is_empty`](Self::is_empty) count entries only.
///
/// Mutators do not validate; call [`validate`](Self::validate) before sending (publish does).
#[derive(Clone, Default)]
pub struct HeaderMap {
    status: Option<StatusCode>,
    description: Option<String>,
    entries: Entries,
}

/// Where a map's entries are.
#[derive(Clone)]
enum Entries {
    /// Built or changed by the application.
    Owned(Vec<(String, String)>),
    /// Received: `lines` (a slice of the header block) holds `count` header lines, each
    /// checked at decode (a valid name, a `:`, UTF-8 throughout) and parsed again on every
    /// read.
    Received { lines: Bytes, count: u32 },
}

impl Entries {
    fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let (owned, received) = match self {
            Entries::Owned(entries) => (entries.as_slice(), &[][..]),
            Entries::Received { lines, .. } => (&[][..], &lines[..]),
        };
        let owned = owned.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        let lines = Lines { rest: received };
        // Every line was checked at decode: each is UTF-8 and splits.
        let received = lines.filter_map(|line| std::str::from_utf8(line).ok().and_then(split_line));
        owned.chain(received)
    }

    /// The values of `name`, in order, as [`iter`](Self::iter) has them. A received line
    /// is matched on its bytes first: only a match is read as text (a lookup reads the
    /// other lines no further than their names).
    fn values<'s, 'n>(&'s self, name: &'n str) -> impl Iterator<Item = &'s str> + use<'s, 'n> {
        let (owned, received) = match self {
            Entries::Owned(entries) => (entries.as_slice(), &[][..]),
            Entries::Received { lines, .. } => (&[][..], &lines[..]),
        };
        let owned = owned
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        // A name holds no ':' (a line's name ends at its first); one that does matches none.
        let searched = if name.contains(':') {
            &[][..]
        } else {
            received
        };
        let name = name.as_bytes();
        let received = Lines { rest: searched }.filter_map(move |line| {
            let value = line.strip_prefix(name)?.strip_prefix(b":")?;
            std::str::from_utf8(trim(value)).ok()
        });
        owned.chain(received)
    }
}

impl Default for Entries {
    fn default() -> Entries {
        Entries::Owned(Vec::new())
    }
}

impl PartialEq for HeaderMap {
    fn eq(&self, other: &HeaderMap) -> bool {
        self.status == other.status
            && self.description == other.description
            && self.iter().eq(other.iter())
    }
}

impl Eq for HeaderMap {}

impl std::fmt::Debug for HeaderMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderMap")
            .field("status", &self.status)
            .field("description", &self.description)
            .field("entries", &EntriesDebug(self))
            .finish()
    }
}

/// The entries of a map as a `Debug` list.
struct EntriesDebug<'a>(&'a HeaderMap);

impl std::fmt::Debug for EntriesDebug<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

impl HeaderMap {
    /// An empty map with no status.
    pub fn new() -> HeaderMap {
        HeaderMap::default()
    }

    /// Sets `name` to `value`, replacing every existing value of `name`.
    ///
    /// The new value takes the position of the first existing one (or goes last).
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        self.change(
            |entries| match entries.iter().position(|(n, _)| *n == name) {
                Some(first) => {
                    let mut index = 0;
                    entries.retain(|(n, _)| {
                        let keep = index <= first || *n != name;
                        index += 1;
                        keep
                    });
                    if let Some(entry) = entries.get_mut(first) {
                        entry.1 = value;
                    }
                }
                None => entries.push((name, value)),
            },
        );
    }

    /// Adds a value for `name` after the existing ones.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let entry = (name.into(), value.into());
        self.change(|entries| entries.push(entry));
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries.values(name).next()
    }

    /// The last value of `name`.
    pub fn get_last(&self, name: &str) -> Option<&str> {
        self.entries.values(name).last()
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries.values(name)
    }

    /// Removes every value of `name`; returns whether there was any.
    pub fn remove(&mut self, name: &str) -> bool {
        if !self.contains_key(name) {
            return false;
        }
        self.change(|entries| entries.retain(|(n, _)| n != name));
        true
    }

    /// Is there at least one value for `name`?
    pub fn contains_key(&self, name: &str) -> bool {
        self.entries.values(name).next().is_some()
    }

    /// All `(name, value)` entries in order (one per value).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter()
    }

    /// The number of entries (values), not counting the status.
    pub fn len(&self) -> usize {
        match &self.entries {
            Entries::Owned(entries) => entries.len(),
            Entries::Received { count, .. } => *count as usize,
        }
    }

    /// Are there no entries? (A map with only a status is empty.)
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs `f` on the entries as owned strings, copied out of a received block first.
    fn change<R>(&mut self, f: impl FnOnce(&mut Vec<(String, String)>) -> R) -> R {
        let mut entries = match std::mem::take(&mut self.entries) {
            Entries::Owned(entries) => entries,
            received => received
                .iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
        };
        let out = f(&mut entries);
        self.entries = Entries::Owned(entries);
        out
    }

    /// The inline status code, if any.
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }

    /// The inline status description, if any (only present with a status).
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Sets the inline status and its description. An empty description counts as none.
    pub fn set_status(&mut self, code: StatusCode, description: Option<String>) {
        self.status = Some(code);
        self.description = description.filter(|d| !d.is_empty());
    }

    /// Checks that the map can be sent: names non-empty printable ASCII (33..=126) without
    /// `:`, values and the description without CR or LF.
    ///
    /// # Errors
    ///
    /// The first problem found, as a [`HeaderError`].
    pub fn validate(&self) -> Result<(), HeaderError> {
        if let Some(d) = &self.description {
            if d.bytes().any(|b| b == b'\r' || b == b'\n') {
                return Err(HeaderError::InvalidDescription);
            }
        }
        for (name, value) in self.iter() {
            check_name(name.as_bytes())?;
            if value.bytes().any(|b| b == b'\r' || b == b'\n') {
                return Err(HeaderError::InvalidValue {
                    name: name.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// The exact number of bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        let mut len = VERSION.len() + 2;
        if self.status.is_some() {
            len += 4;
            if let Some(d) = self.description() {
                len += 1 + d.len();
            }
        }
        for (n, v) in self.iter() {
            len += n.len() + 2 + v.len() + 2;
        }
        len + 2
    }

    /// Writes the header block: `NATS/1.0[ code[ description]]\r\n`, one `Name: value\r\n`
    /// line per value, then `\r\n`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        dst.put_slice(VERSION);
        if let Some(code) = self.status {
            dst.put_u8(b' ');
            dst.put_slice(&code.digits());
            if let Some(d) = self.description() {
                dst.put_u8(b' ');
                dst.put_slice(d.as_bytes());
            }
        }
        dst.put_slice(b"\r\n");
        for (n, v) in self.iter() {
            dst.put_slice(n.as_bytes());
            dst.put_slice(b": ");
            dst.put_slice(v.as_bytes());
            dst.put_slice(b"\r\n");
        }
        dst.put_slice(b"\r\n");
    }

    /// Decodes a whole header block, from `NATS/1.0` through the blank line.
    ///
    /// Bare LF line ends are accepted. The status is the three digits after `NATS/1.0`, the
    /// rest of that line (trimmed) its description. Each following line splits at its first
    /// `:` into a name (validated) and a value (trimmed of spaces and tabs). Decoding stops
    /// at the first blank line or at the end of `block`. Non-UTF-8 bytes in values and the
    /// description are replaced (lossy) rather than rejected.
    ///
    /// # Errors
    ///
    /// A [`HeaderError`] for a missing `NATS/1.0`, a malformed status, a line without `:`, or
    /// an invalid name.
    pub fn decode(block: &[u8]) -> Result<HeaderMap, HeaderError> {
        Self::decode_with(Bytes::copy_from_slice(block), false)
    }

    /// Like [`decode`](Self::decode), but never fails: a malformed version or status line
    /// yields no status, and a malformed header line is skipped. For header blocks another
    /// client published (the server forwards them unchecked): one bad publisher must not
    /// break every subscriber's connection.
    pub fn decode_lenient(block: &[u8]) -> HeaderMap {
        Self::decode_received(Bytes::copy_from_slice(block))
    }

    /// Like [`decode_lenient`](Self::decode_lenient), keeping `block` (a slice of the read
    /// buffer) and reading the entries in place when every line is well formed: nothing is
    /// copied or allocated for them.
    pub fn decode_received(block: Bytes) -> HeaderMap {
        Self::decode_with(block, true).unwrap_or_default()
    }

    fn decode_with(block: Bytes, lenient: bool) -> Result<HeaderMap, HeaderError> {
        if let Some(InPlace {
            lines,
            count,
            status,
        }) = Self::decode_in_place(&block)?
        {
            // The block's own handle becomes the lines' (no new reference).
            let mut block = block;
            block.truncate(lines.end);
            block.advance(lines.start);
            let (status, description) = status.map_or((None, None), |(s, d)| (Some(s), d));
            return Ok(HeaderMap {
                status,
                description,
                entries: Entries::Received {
                    lines: block,
                    count,
                },
            });
        }
        let mut lines = Lines { rest: &block };
        let mut map = HeaderMap::new();
        let first = lines.next().ok_or(HeaderError::MissingVersion)?;
        match Self::status_line(first) {
            Ok(Some((code, description))) => {
                map.status = Some(code);
                map.description = description;
            }
            Ok(None) => {}
            Err(_) if lenient => {}
            Err(e) => return Err(e),
        }
        for line in lines {
            if line.is_empty() {
                break;
            }
            let parsed = memchr::memchr(b':', line)
                .ok_or(HeaderError::MissingColon)
                .and_then(|colon| {
                    let (name, value) = line.split_at(colon);
                    check_name(name)?;
                    Ok((name, trim(value.get(1..).unwrap_or_default())))
                });
            match parsed {
                Ok((name, value)) => map.append(
                    String::from_utf8_lossy(name),
                    String::from_utf8_lossy(value),
                ),
                Err(_) if lenient => {}
                Err(e) => return Err(e),
            }
        }
        Ok(map)
    }

    /// Where the header lines of `block` are, how many there are and the status, when its
    /// first line is a valid version and status line and every header line is well formed
    /// and UTF-8 (the map is then read in place); `None` when a line is not (the caller then
    /// decodes it the careful way). The only error is a first line that cannot be one, which
    /// both ways refuse alike.
    fn decode_in_place(block: &[u8]) -> Result<Option<InPlace>, HeaderError> {
        let mut lines = Lines { rest: block };
        let Some(first) = lines.next() else {
            return Ok(None);
        };
        let Ok(status) = Self::status_line(first) else {
            return Ok(None);
        };
        let start = block.len() - lines.rest.len();
        // One check of the whole rest spares a UTF-8 check per line in the usual all-ASCII
        // block.
        let ascii = lines.rest.is_ascii();
        let mut end = start;
        let mut count: u32 = 0;
        while let Some(line) = lines.next() {
            if line.is_empty() {
                break;
            }
            if !(ascii || std::str::from_utf8(line).is_ok()) || !is_header_line(line) {
                return Ok(None);
            }
            let Some(more) = count.checked_add(1) else {
                return Ok(None);
            };
            count = more;
            end = block.len() - lines.rest.len();
        }
        Ok(Some(InPlace {
            lines: start..end,
            count,
            status,
        }))
    }

    /// The status and description of a `NATS/1.0[ code[ description]]` line.
    fn status_line(first: &[u8]) -> Result<Option<(StatusCode, Option<String>)>, HeaderError> {
        let after = first
            .strip_prefix(VERSION)
            .ok_or(HeaderError::MissingVersion)?;
        let after_trimmed = trim(after);
        if after_trimmed.is_empty() {
            return Ok(None);
        }
        // Something follows the version: it must be separated by whitespace and start with
        // exactly three digits.
        if !matches!(after.first(), Some(b' ' | b'\t')) {
            return Err(HeaderError::InvalidStatus);
        }
        let (code, desc) = match after_trimmed {
            [a, b, c, rest @ ..]
                if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() =>
            {
                let n = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
                (n, rest)
            }
            _ => return Err(HeaderError::InvalidStatus),
        };
        if !desc.is_empty() && !matches!(desc.first(), Some(b' ' | b'\t')) {
            return Err(HeaderError::InvalidStatus);
        }
        let code = StatusCode::from_u16(code).ok_or(HeaderError::InvalidStatus)?;
        let desc = trim(desc);
        let description = (!desc.is_empty()).then(|| String::from_utf8_lossy(desc).into_owned());
        Ok(Some((code, description)))
    }
}

/// A received block that can be read in place: where its header lines are, how many, and
/// its status and description.
struct InPlace {
    lines: Range<usize>,
    count: u32,
    status: Option<(StatusCode, Option<String>)>,
}

/// Checks a header name: non-empty, printable ASCII 33..=126, no `:`.
fn check_name(name: &[u8]) -> Result<(), HeaderError> {
    if name.is_empty() {
        return Err(HeaderError::EmptyName);
    }
    if name.iter().any(|&b| !(33..=126).contains(&b) || b == b':') {
        return Err(HeaderError::InvalidName {
            name: String::from_utf8_lossy(name).into_owned(),
        });
    }
    Ok(())
}

/// Does `line` split as [`split_line`] splits it: a `:` after a valid name? (Without
/// building the error [`check_name`] would.)
fn is_header_line(line: &[u8]) -> bool {
    match memchr::memchr(b':', line) {
        Some(colon) => {
            let name = line.get(..colon).unwrap_or_default();
            !name.is_empty() && name.iter().all(|b| (33..=126).contains(b))
        }
        None => false,
    }
}

/// Trims spaces and tabs from both ends.
fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A header line split into its name (checked) and its value (trimmed), or `None` when the
/// line has no `:` or an invalid name.
fn split_line(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once(':')?;
    check_name(name.as_bytes()).ok()?;
    Some((name, value.trim_matches([' ', '\t'])))
}

/// Lines of a block, each without its `\n` or `\r\n` terminator; the final unterminated
/// piece (if non-empty) is also a line.
struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, rest) = match memchr::memchr(b'\n', self.rest) {
            Some(i) => (self.rest.get(..i)?, self.rest.get(i + 1..)?),
            None => (self.rest, &[][..]),
        };
        self.rest = rest;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(map: &HeaderMap) -> Vec<u8> {
        let mut b = BytesMut::new();
        map.encode(&mut b);
        assert_eq!(b.len(), map.encoded_len());
        b.to_vec()
    }

    #[test]
    fn multimap_semantics() {
        let mut h = HeaderMap::new();
        h.append("A", "1");
        h.append("b", "x");
        h.append("A", "2");
        h.append("a", "lower");
        assert_eq!(h.get("A"), Some("1"));
        assert_eq!(h.get_last("A"), Some("2"));
        assert_eq!(h.get_all("A").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(h.get("a"), Some("lower"));
        assert_eq!(h.len(), 4);
        h.insert("A", "3");
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("A", "3"), ("b", "x"), ("a", "lower")]
        );
        h.insert("new", "v");
        assert_eq!(h.get_last("new"), Some("v"));
        assert!(h.contains_key("b"));
        assert!(h.remove("b"));
        assert!(!h.remove("b"));
        assert!(!h.contains_key("b"));
        assert_eq!(h.len(), 3);
        assert!(!h.is_empty());
        let mut s = HeaderMap::new();
        s.set_status(StatusCode::NO_RESPONDERS, None);
        assert!(s.is_empty());
        assert_eq!(s.status(), Some(StatusCode::NO_RESPONDERS));
    }

    #[test]
    fn encode_exact() {
        assert_eq!(encode(&HeaderMap::new()), b"NATS/1.0\r\n\r\n");
        let mut h = HeaderMap::new();
        h.append("Foo", "bar");
        h.append("Foo", "baz");
        assert_eq!(encode(&h), b"NATS/1.0\r\nFoo: bar\r\nFoo: baz\r\n\r\n");
        h.set_status(StatusCode::TIMEOUT, Some("Request Timeout".into()));
        assert_eq!(
            encode(&h),
            b"NATS/1.0 408 Request Timeout\r\nFoo: bar\r\nFoo: baz\r\n\r\n"
        );
        let mut s = HeaderMap::new();
        s.set_status(StatusCode::NO_RESPONDERS, Some(String::new()));
        assert_eq!(encode(&s), b"NATS/1.0 503\r\n\r\n");
    }

    #[test]
    fn decode_status_lines() {
        let h = HeaderMap::decode(b"NATS/1.0 503\r\n\r\n").unwrap();
        assert_eq!(h.status(), Some(StatusCode::NO_RESPONDERS));
        assert_eq!(h.description(), None);
        assert!(h.is_empty());

        let h = HeaderMap::decode(b"NATS/1.0 408 Request Timeout\r\n\r\n").unwrap();
        assert_eq!(h.status(), Some(StatusCode::TIMEOUT));
        assert_eq!(h.description(), Some("Request Timeout"));

        let h = HeaderMap::decode(
            b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 5\r\nNats-Pending-Bytes: 100\r\n\r\n",
        )
        .unwrap();
        assert_eq!(h.status(), Some(StatusCode::TIMEOUT));
        assert_eq!(h.get("Nats-Pending-Messages"), Some("5"));
        assert_eq!(h.get("Nats-Pending-Bytes"), Some("100"));

        let h = HeaderMap::decode(b"NATS/1.0 503\r\nNats-Subject: foo\r\n\r\n").unwrap();
        assert_eq!(h.status(), Some(StatusCode::NO_RESPONDERS));
        assert_eq!(h.get("Nats-Subject"), Some("foo"));

        let h = HeaderMap::decode(b"NATS/1.0 100 Idle Heartbeat  \n\n").unwrap();
        assert_eq!(h.status(), Some(StatusCode::IDLE_HEARTBEAT));
        assert_eq!(h.description(), Some("Idle Heartbeat"));
    }

    #[test]
    fn decode_entries_and_tolerance() {
        let h = HeaderMap::decode(b"NATS/1.0\nA:1\nB:  two words \t\nA: x:y\n\n").unwrap();
        assert_eq!(h.status(), None);
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("A", "1"), ("B", "two words"), ("A", "x:y")]
        );
        // Missing final blank line is tolerated; empty value allowed.
        let h = HeaderMap::decode(b"NATS/1.0\r\nK:\r\n").unwrap();
        assert_eq!(h.get("K"), Some(""));
    }

    #[test]
    fn decode_errors() {
        let cases: &[(&[u8], HeaderError)] = &[
            (b"", HeaderError::MissingVersion),
            (b"HTTP/1.1\r\n\r\n", HeaderError::MissingVersion),
            (b"NATS/1.0x\r\n\r\n", HeaderError::InvalidStatus),
            (b"NATS/1.0 50\r\n\r\n", HeaderError::InvalidStatus),
            (b"NATS/1.0 5034\r\n\r\n", HeaderError::InvalidStatus),
            (b"NATS/1.0 099\r\n\r\n", HeaderError::InvalidStatus),
            (b"NATS/1.0\r\nnocolon\r\n\r\n", HeaderError::MissingColon),
            (b"NATS/1.0\r\n: v\r\n\r\n", HeaderError::EmptyName),
            (
                b"NATS/1.0\r\nbad name: v\r\n\r\n",
                HeaderError::InvalidName {
                    name: "bad name".into(),
                },
            ),
            (
                b"NATS/1.0\r\nName : v\r\n\r\n",
                HeaderError::InvalidName {
                    name: "Name ".into(),
                },
            ),
        ];
        for (block, err) in cases {
            assert_eq!(HeaderMap::decode(block).as_ref(), Err(err), "{block:?}");
        }
    }

    #[test]
    fn validate_rules() {
        let mut h = HeaderMap::new();
        h.append("Good-Name", "value with spaces");
        assert_eq!(h.validate(), Ok(()));
        let mut bad = h.clone();
        bad.append("Bad:Name", "v");
        assert!(matches!(
            bad.validate(),
            Err(HeaderError::InvalidName { .. })
        ));
        let mut bad = h.clone();
        bad.append("", "v");
        assert_eq!(bad.validate(), Err(HeaderError::EmptyName));
        let mut bad = h.clone();
        bad.append("X", "a\r\nInjected: 1");
        assert_eq!(
            bad.validate(),
            Err(HeaderError::InvalidValue { name: "X".into() })
        );
        let mut bad = h.clone();
        bad.set_status(StatusCode::OK, Some("a\nb".into()));
        assert_eq!(bad.validate(), Err(HeaderError::InvalidDescription));
        assert!(HeaderError::InvalidValue { name: "X".into() }
            .to_string()
            .contains("\"X\""));
    }

    #[test]
    fn round_trip() {
        let mut h = HeaderMap::new();
        h.set_status(StatusCode::CONFLICT, Some("Consumer Deleted".into()));
        h.append("Nats-Msg-Id", "abc");
        h.append("X-Multi", "1");
        h.append("X-Multi", "2");
        h.append("Üñí", "x"); // invalid name, but we only round-trip valid maps
        h.remove("Üñí");
        h.append("Empty", "");
        h.append("Unicode-Value", "héllo wörld");
        assert_eq!(h.validate(), Ok(()));
        let bytes = encode(&h);
        assert_eq!(HeaderMap::decode(&bytes).unwrap(), h);
    }

    #[test]
    fn decode_never_panics_on_garbage() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 40) as usize;
            let mut buf = b"NATS/1.0".to_vec();
            let alphabet = b"NATS/1.0 :\r\n\tab5";
            let mut y = x;
            for _ in 0..len {
                y = y.wrapping_mul(6364136223846793005).wrapping_add(1);
                buf.push(alphabet[(y >> 59) as usize % alphabet.len()]);
            }
            let _ = HeaderMap::decode(&buf);
            let _ = HeaderMap::decode(buf.get(8..).unwrap_or_default());
            // Read in place or decoded the careful way, a received block reads the same.
            let received = HeaderMap::decode_received(Bytes::from(buf.clone()));
            let careful = HeaderMap::decode_with_copies(&buf);
            assert_eq!(received, careful, "{buf:?}");
            assert_eq!(received.len(), careful.iter().count(), "{buf:?}");
        }
    }

    /// The careful decode alone (owned entries), to compare the in-place reading with.
    impl HeaderMap {
        fn decode_with_copies(block: &[u8]) -> HeaderMap {
            let mut map = HeaderMap::new();
            let mut lines = Lines { rest: block };
            if let Some(Ok(Some((code, description)))) = lines.next().map(HeaderMap::status_line) {
                map.set_status(code, description);
            }
            for line in lines.take_while(|l| !l.is_empty()) {
                let text = String::from_utf8_lossy(line);
                if let Some((name, value)) = split_line(&text) {
                    map.append(name, value);
                }
            }
            map
        }
    }

    #[test]
    fn lookups_find_what_iteration_finds() {
        let block = Bytes::from_static(
            b"NATS/1.0\r\nNats-Sequence: 7\r\nNats-Seq: 3\r\nA: 1\r\nA:2\r\nB:\t x \t\r\nAB: 5\r\n\r\n",
        );
        let received = HeaderMap::decode_received(block);
        assert!(matches!(received.entries, Entries::Received { .. }));
        let mut owned = received.clone();
        owned.append("C", "6");
        assert!(matches!(owned.entries, Entries::Owned(_)));
        let names = [
            "Nats-Sequence",
            "Nats-Seq",
            "Nats",
            "A",
            "AB",
            "B",
            "C",
            "A:1",
            "A: 1",
            "",
            "x",
        ];
        for map in [&received, &owned] {
            for name in names {
                let expected: Vec<&str> = map
                    .iter()
                    .filter(|(n, _)| *n == name)
                    .map(|(_, v)| v)
                    .collect();
                assert_eq!(map.get_all(name).collect::<Vec<_>>(), expected, "{name}");
                assert_eq!(map.get(name), expected.first().copied(), "{name}");
                assert_eq!(map.get_last(name), expected.last().copied(), "{name}");
                assert_eq!(map.contains_key(name), !expected.is_empty(), "{name}");
            }
        }
        assert_eq!(received.get_all("A").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(received.get("B"), Some("x"));
    }

    #[test]
    fn a_received_block_is_read_in_place_until_changed() {
        let block = Bytes::from_static(
            b"NATS/1.0\r\nNats-Stream: KV_b\r\nNats-Sequence: 7\r\nA: 1\r\nA: 2\r\n\r\n",
        );
        let mut h = HeaderMap::decode_received(block.clone());
        assert!(
            matches!(h.entries, Entries::Received { .. }),
            "a well-formed block is kept as it came"
        );
        assert_eq!(h.get("Nats-Sequence"), Some("7"));
        assert_eq!(
            (h.get("A"), h.get_last("A"), h.len()),
            (Some("1"), Some("2"), 4)
        );
        assert_eq!(h, HeaderMap::decode(&block).unwrap());
        let mut out = BytesMut::new();
        h.encode(&mut out);
        assert_eq!(&out[..], &block[..], "re-encoded byte for byte");
        // A change copies the entries out, keeping their order.
        h.insert("A", "3");
        assert!(matches!(h.entries, Entries::Owned(_)));
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("Nats-Stream", "KV_b"), ("Nats-Sequence", "7"), ("A", "3")]
        );
        // A bad line or a value that is not UTF-8: decoded the careful way, line dropped.
        let bad =
            HeaderMap::decode_received(Bytes::from_static(b"NATS/1.0\r\nno colon\r\nK: v\r\n\r\n"));
        assert!(matches!(bad.entries, Entries::Owned(_)));
        assert_eq!(bad.iter().collect::<Vec<_>>(), [("K", "v")]);
        let lossy = HeaderMap::decode_received(Bytes::from_static(b"NATS/1.0\r\nK: \xff\r\n\r\n"));
        assert_eq!(lossy.get("K"), Some("\u{fffd}"));
    }
}
