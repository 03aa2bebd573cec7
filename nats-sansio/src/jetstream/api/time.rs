//! Time on the JetStream wire: RFC 3339 timestamps and integer-nanosecond durations.
//!
//! Invariant: a [`DateTime`] keeps exactly the text the server sent (so a config read from the
//! server is sent back byte for byte), and its numeric value is computed on demand with our own
//! civil-date arithmetic; no clock is ever read. The text is kept inline (no allocation)
//! when it is as short as a timestamp is, so decoding one costs nothing on the heap. Durations are `std::time::Duration` on our
//! side and a signed 64-bit count of nanoseconds (Go's `time.Duration`) on the wire.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Nanoseconds in one second.
const NANOS_PER_SEC: i128 = 1_000_000_000;
/// Seconds in one day.
const SECS_PER_DAY: i128 = 86_400;

/// The text of Go's zero `time.Time`, which the server sends for "never" in non-optional
/// timestamp fields (an empty stream's `first_ts`, for example).
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `00` to `99`, each two digits at `2 * n`.
const PAIRS: [u8; 200] = {
    let mut pairs = [0; 200];
    let mut n = 0;
    while n < 100 {
        pairs[2 * n] = b'0' + (n / 10) as u8;
        pairs[2 * n + 1] = b'0' + (n % 10) as u8;
        n += 1;
    }
    pairs
};

/// A timestamp as the server writes it: RFC 3339, usually UTC with nanoseconds.
///
/// The original text is kept, so deserializing and serializing again is lossless.
/// [`unix_nanos`](DateTime::unix_nanos) parses it; [`from_unix_nanos`](DateTime::from_unix_nanos)
/// builds one. The default is Go's zero time, [`GO_ZERO_TIME`].
///
/// ```
/// use nats_sansio::jetstream::api::DateTime;
///
/// let t = DateTime::from_unix_nanos(1_700_000_000_123_456_789).unwrap();
/// assert_eq!(t.as_str(), "2023-11-14T22:13:20.123456789Z");
/// assert_eq!(t.unix_nanos(), Some(1_700_000_000_123_456_789));
/// let shifted = DateTime::new("2023-11-15T00:13:20.123456789+02:00");
/// assert_eq!(shifted.unix_nanos(), t.unix_nanos());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DateTime(Text);

/// The longest text kept inline: RFC 3339 with nanoseconds and an offset is 35 bytes, the
/// Go layout old servers wrote 39.
const INLINE: usize = 40;

/// A timestamp's text: inline when it fits (every timestamp the server writes), else boxed.
/// A given text always takes the same form, so the derived equality compares texts.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Text {
    Inline { len: u8, bytes: [u8; INLINE] },
    Boxed(Box<str>),
}

impl Text {
    fn new(text: &str) -> Text {
        let mut bytes = [0; INLINE];
        match bytes.get_mut(..text.len()) {
            Some(inline) => {
                inline.copy_from_slice(text.as_bytes());
                Text::Inline {
                    len: text.len() as u8,
                    bytes,
                }
            }
            None => Text::Boxed(text.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Copied from a `&str` whole: always UTF-8.
            Text::Inline { len, bytes } => bytes
                .get(..usize::from(*len))
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or_default(),
            Text::Boxed(text) => text,
        }
    }
}

impl fmt::Debug for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DateTime").field(&self.as_str()).finish()
    }
}

impl DateTime {
    /// Wraps a timestamp string without checking it; [`unix_nanos`](DateTime::unix_nanos)
    /// returns `None` later if it does not parse.
    pub fn new(text: impl AsRef<str>) -> DateTime {
        DateTime(Text::new(text.as_ref()))
    }

    /// Wraps a timestamp string after checking that it parses.
    ///
    /// # Errors
    ///
    /// [`DateTimeError`] if `text` is not a timestamp [`unix_nanos`](DateTime::unix_nanos)
    /// accepts.
    pub fn parse(text: impl AsRef<str>) -> Result<DateTime, DateTimeError> {
        let text = text.as_ref();
        match parse_unix_nanos(text) {
            Some(_) => Ok(DateTime::new(text)),
            None => Err(DateTimeError {
                text: text.to_owned(),
            }),
        }
    }

    /// Formats `nanos` since the Unix epoch as RFC 3339 in UTC with nine fractional digits,
    /// for example `2023-11-14T22:13:20.123456789Z`.
    ///
    /// Returns `None` if the instant falls outside the years 0000 to 9999, which RFC 3339
    /// cannot write.
    pub fn from_unix_nanos(nanos: i128) -> Option<DateTime> {
        // The usual instant (a server timestamp, 1970 to 2554) takes 64-bit arithmetic;
        // 128-bit division is a library call, and this runs for every entry a watch reads.
        let (secs, frac) = match u64::try_from(nanos) {
            Ok(n) => (i64::try_from(n / 1_000_000_000).ok()?, n % 1_000_000_000),
            Err(_) => (
                i64::try_from(nanos.div_euclid(NANOS_PER_SEC)).ok()?,
                u64::try_from(nanos.rem_euclid(NANOS_PER_SEC)).ok()?,
            ),
        };
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return None;
        }
        // `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, every field zero-padded: 30 bytes, written two
        // digits at a time (this runs for every entry a watch reads).
        let mut bytes = *b"0000-00-00T00:00:00.000000000Z\0\0\0\0\0\0\0\0\0\0";
        let (year, sod) = (year.unsigned_abs(), sod.unsigned_abs());
        let fields = [
            (0, year / 100),
            (2, year),
            (5, month.unsigned_abs()),
            (8, day.unsigned_abs()),
            (11, sod / 3600),
            (14, sod % 3600 / 60),
            (17, sod % 60),
            (21, frac / 1_000_000),
            (23, frac / 10_000),
            (25, frac / 100),
            (27, frac),
        ];
        for (at, value) in fields {
            let pair = (value % 100) as usize * 2;
            if let (Some(out), Some(digits)) =
                (bytes.get_mut(at..at + 2), PAIRS.get(pair..pair + 2))
            {
                out.copy_from_slice(digits);
            }
        }
        bytes[20] = b'0' + (frac / 100_000_000 % 10) as u8;
        Some(DateTime(Text::Inline { len: 30, bytes }))
    }

    /// Nanoseconds since the Unix epoch (negative before 1970), or `None` if the text does
    /// not parse.
    ///
    /// Accepts RFC 3339 (`T`, `t` or a space between date and time; optional fraction of any
    /// length, digits past the ninth ignored; `Z`, `z` or a `±hh:mm` offset), and Go's
    /// `time.Time.String()` layout that old servers wrote in `Nats-Time-Stamp`
    /// (`2022-08-06 00:29:27.587861324 +0000 UTC`, anything after the offset ignored).
    pub fn unix_nanos(&self) -> Option<i128> {
        parse_unix_nanos(self.as_str())
    }

    /// The timestamp text as received or built.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Whether this is Go's zero time (`0001-01-01T00:00:00Z`, or any text meaning that
    /// instant), which the server uses for "never".
    pub fn is_go_zero(&self) -> bool {
        self.as_str() == GO_ZERO_TIME || self.unix_nanos() == parse_unix_nanos(GO_ZERO_TIME)
    }

    /// Consumes the wrapper and returns the text.
    pub fn into_string(self) -> String {
        self.as_str().to_owned()
    }
}

impl Default for DateTime {
    fn default() -> DateTime {
        DateTime::new(GO_ZERO_TIME)
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for DateTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DateTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<DateTime, D::Error> {
        // Kept verbatim even if it does not parse: a newer server's layout must not break
        // reading the rest of a response.
        deserializer.deserialize_str(TextVisitor)
    }
}

/// Reads a timestamp string without an intermediate `String`.
struct TextVisitor;

impl serde::de::Visitor<'_> for TextVisitor {
    type Value = DateTime;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 timestamp string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<DateTime, E> {
        Ok(DateTime::new(text))
    }
}

/// A timestamp that does not parse, from [`DateTime::parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid RFC 3339 timestamp {text:?}")]
pub struct DateTimeError {
    /// The rejected text.
    pub text: String,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i128, month: i128, day: i128) -> i128 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (`civil_from_days`). Any
/// `i64` day count computed from an `i64` of seconds is in range.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i128) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i128, month: i128) -> i128 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A byte cursor for the timestamp grammar.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// Exactly `n` ASCII digits as a number.
    fn digits(&mut self, n: usize) -> Option<i128> {
        let mut value = 0i128;
        for _ in 0..n {
            let b = self.peek()?;
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i128::from(b - b'0');
            self.pos += 1;
        }
        Some(value)
    }
}

fn parse_unix_nanos(text: &str) -> Option<i128> {
    let mut c = Cursor {
        bytes: text.as_bytes(),
        pos: 0,
    };
    let year = c.digits(4)?;
    c.eat(b'-')?;
    let month = c.digits(2)?;
    c.eat(b'-')?;
    let day = c.digits(2)?;
    let separator = c.peek()?;
    if !matches!(separator, b'T' | b't' | b' ') {
        return None;
    }
    c.pos += 1;
    let hour = c.digits(2)?;
    c.eat(b':')?;
    let minute = c.digits(2)?;
    c.eat(b':')?;
    let second = c.digits(2)?;
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut frac = 0i128;
    if c.eat(b'.').is_some() {
        let mut count = 0;
        while let Some(b) = c.peek().filter(u8::is_ascii_digit) {
            if count < 9 {
                frac = frac * 10 + i128::from(b - b'0');
            }
            count += 1;
            c.pos += 1;
        }
        if count == 0 {
            return None;
        }
        for _ in count..9 {
            frac *= 10;
        }
    }
    let offset_secs = match c.peek()? {
        b'Z' | b'z' => {
            c.pos += 1;
            0
        }
        b'+' | b'-' => offset(&mut c, true)?,
        // Go's `time.Time.String()`: ` +0000 UTC`, then maybe ` m=+0.001`.
        b' ' if separator == b' ' => {
            c.pos += 1;
            let secs = offset(&mut c, false)?;
            if c.peek().is_some_and(|b| b != b' ') {
                return None;
            }
            c.pos = c.bytes.len();
            secs
        }
        _ => return None,
    };
    if c.pos != c.bytes.len() {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * SECS_PER_DAY + hour * 3600 + minute * 60 + second - offset_secs;
    Some(secs * NANOS_PER_SEC + frac)
}

/// `±hh:mm` (RFC 3339) or `±hhmm` (Go's `String()`), as seconds east of UTC.
fn offset(c: &mut Cursor<'_>, colon: bool) -> Option<i128> {
    let sign = match c.peek()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    c.pos += 1;
    let hours = c.digits(2)?;
    if colon {
        c.eat(b':')?;
    }
    let minutes = c.digits(2)?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3600 + minutes * 60))
}

/// Serde helpers for durations as integer nanoseconds, Go's `time.Duration` on the wire.
///
/// Use as `#[serde(with = "nanos")]` on a `Duration`, `#[serde(with = "nanos::option")]` on an
/// `Option<Duration>` and `#[serde(with = "nanos::vec")]` on a `Vec<Duration>`. Writing
/// saturates at `i64::MAX` nanoseconds (about 292 years). Reading accepts any JSON integer and
/// `null`; a negative value (the server's `-1` for "never") reads as zero for `Duration` and as
/// `None` for `Option<Duration>`.
pub mod nanos {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    /// Nanoseconds of `d` as Go's `int64`, saturating.
    pub fn to_i64(d: &Duration) -> i64 {
        i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
    }

    /// Writes a `Duration` as integer nanoseconds.
    ///
    /// # Errors
    ///
    /// Whatever the serializer reports.
    pub fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(to_i64(d))
    }

    /// Reads integer nanoseconds (negative or `null` as zero).
    ///
    /// # Errors
    ///
    /// If the value is not an integer or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        Ok(deserializer
            .deserialize_any(NanosVisitor)?
            .unwrap_or_default())
    }

    /// The same for `Option<Duration>`: `None` is written as `null` (pair it with
    /// `skip_serializing_if = "Option::is_none"`), and `null` or a negative value reads as
    /// `None`.
    pub mod option {
        use super::*;

        /// Writes `Some` as integer nanoseconds and `None` as `null`.
        ///
        /// # Errors
        ///
        /// Whatever the serializer reports.
        pub fn serialize<S: Serializer>(
            d: &Option<Duration>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => serializer.serialize_i64(to_i64(d)),
                None => serializer.serialize_none(),
            }
        }

        /// Reads integer nanoseconds; `null` or negative is `None`.
        ///
        /// # Errors
        ///
        /// If the value is not an integer or `null`.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Duration>, D::Error> {
            deserializer.deserialize_any(NanosVisitor)
        }
    }

    /// The same for `Vec<Duration>` (a consumer's `backoff`); `null` reads as empty.
    pub mod vec {
        use super::*;

        /// Writes each duration as integer nanoseconds.
        ///
        /// # Errors
        ///
        /// Whatever the serializer reports.
        pub fn serialize<S: Serializer>(d: &[Duration], serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_seq(d.iter().map(to_i64))
        }

        /// Reads an array of integer nanoseconds (negative as zero), or `null` as empty.
        ///
        /// # Errors
        ///
        /// If the value is not an array of integers or `null`.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Vec<Duration>, D::Error> {
            deserializer.deserialize_any(VecVisitor)
        }

        struct VecVisitor;

        impl<'de> Visitor<'de> for VecVisitor {
            type Value = Vec<Duration>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of integer nanoseconds")
            }

            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }

            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(d) = seq.next_element::<Element>()? {
                    out.push(d.0);
                }
                Ok(out)
            }
        }

        struct Element(Duration);

        impl<'de> serde::Deserialize<'de> for Element {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Element, D::Error> {
                super::deserialize(deserializer).map(Element)
            }
        }
    }

    struct NanosVisitor;

    impl<'de> Visitor<'de> for NanosVisitor {
        type Value = Option<Duration>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("integer nanoseconds")
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(u64::try_from(v).ok().map(Duration::from_nanos))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Duration::from_nanos(v)))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            // Not sent by the server, but a JSON number like 1e9 is still a count of nanos.
            if v.is_finite() && v >= 0.0 {
                Ok(Some(Duration::from_nanos(v as u64)))
            } else {
                Ok(None)
            }
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(NanosVisitor)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn n(text: &str) -> Option<i128> {
        DateTime::new(text).unix_nanos()
    }

    #[test]
    fn epoch_and_known_instants() {
        assert_eq!(n("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(n("2000-03-01T00:00:00Z"), Some(951_868_800 * NANOS_PER_SEC));
        assert_eq!(
            n("2024-02-29T12:00:00Z"),
            Some(1_709_208_000 * NANOS_PER_SEC)
        );
        assert_eq!(n("1969-12-31T23:59:59.999999999Z"), Some(-1));
        assert_eq!(n(GO_ZERO_TIME), Some(-62_135_596_800 * NANOS_PER_SEC));
        assert!(DateTime::default().is_go_zero());
    }

    #[test]
    fn fractions_and_offsets() {
        let base = 1_700_000_000 * NANOS_PER_SEC;
        assert_eq!(n("2023-11-14T22:13:20Z"), Some(base));
        assert_eq!(n("2023-11-14T22:13:20.5Z"), Some(base + 500_000_000));
        assert_eq!(n("2023-11-14T22:13:20.000000001Z"), Some(base + 1));
        // Digits past nanoseconds are ignored.
        assert_eq!(
            n("2023-11-14T22:13:20.1234567899Z"),
            Some(base + 123_456_789)
        );
        assert_eq!(n("2023-11-15T00:13:20+02:00"), Some(base));
        assert_eq!(n("2023-11-14T17:43:20.25-04:30"), Some(base + 250_000_000));
        assert_eq!(n("2023-11-14t22:13:20z"), Some(base));
        assert_eq!(n("2023-11-14 22:13:20Z"), Some(base));
    }

    #[test]
    fn go_string_layout() {
        let want = n("2022-08-06T00:29:27.587861324Z");
        assert!(want.is_some());
        assert_eq!(n("2022-08-06 00:29:27.587861324 +0000 UTC"), want);
        assert_eq!(
            n("2022-08-06 02:29:27.587861324 +0200 CEST m=+0.000000001"),
            want
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2023-11-31T00:00:00Z",
            "2023-11-14T24:00:00Z",
            "2023-11-14T22:60:00Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20+0200",
            "2023-11-14T22:13:20Zjunk",
            "2023-11-14T22:13:20 +0000",
            "23-11-14T22:13:20Z",
        ] {
            assert_eq!(n(bad), None, "{bad}");
            assert!(DateTime::parse(bad).is_err(), "{bad}");
        }
        assert!(DateTime::parse("2024-02-29T00:00:00Z").is_ok());
    }

    #[test]
    fn format_round_trips() {
        for nanos in [
            0i128,
            1,
            -1,
            1_700_000_000_123_456_789,
            951_782_400 * NANOS_PER_SEC, // 2000-02-29
            -62_135_596_800 * NANOS_PER_SEC,
            253_402_300_799 * NANOS_PER_SEC + 999_999_999, // 9999-12-31T23:59:59.999999999
        ] {
            let t = DateTime::from_unix_nanos(nanos).unwrap();
            assert_eq!(t.unix_nanos(), Some(nanos), "{t}");
            assert_eq!(t.as_str().len(), 30, "{t}");
            // The same value as the text read back: equality compares texts.
            assert_eq!(t, DateTime::new(t.as_str()), "{t}");
        }
        assert_eq!(
            DateTime::from_unix_nanos(951_782_400 * NANOS_PER_SEC)
                .unwrap()
                .as_str(),
            "2000-02-29T00:00:00.000000000Z"
        );
        assert_eq!(
            DateTime::from_unix_nanos(-1).unwrap().as_str(),
            "1969-12-31T23:59:59.999999999Z"
        );
        assert!(DateTime::from_unix_nanos(253_402_300_800 * NANOS_PER_SEC).is_none());
        assert!(DateTime::from_unix_nanos(-62_167_219_201 * NANOS_PER_SEC).is_none());
    }

    #[test]
    fn formatted_instants_parse_back_to_themselves() {
        // Every form of instant, from 1970 to 2554 (the 64-bit path) and on both sides of
        // it (the 128-bit path), through the parser: an independent reading of the text.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut instants = vec![0, 1, 999_999_999, 1_000_000_000, i128::from(u64::MAX)];
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            instants.push(i128::from(x));
            instants.push(-(i128::from(x) % 62_167_219_200_000_000_000));
            instants.push(i128::from(x) * 13);
        }
        for nanos in instants {
            let Some(t) = DateTime::from_unix_nanos(nanos) else {
                assert!(nanos >= 253_402_300_800 * NANOS_PER_SEC, "{nanos}");
                continue;
            };
            assert_eq!(t.as_str().len(), 30, "{t:?}");
            assert_eq!(t.unix_nanos(), Some(nanos), "{t:?}");
        }
    }

    #[test]
    fn civil_math_agrees_both_ways_over_centuries() {
        let mut days = days_from_civil(1600, 1, 1);
        let end = days_from_civil(2400, 12, 31);
        let (mut y, mut m, mut d) = (1600, 1, 1);
        while days <= end {
            let civil = civil_from_days(i64::try_from(days).unwrap());
            assert_eq!(civil, (y as i64, m as i64, d as i64));
            assert_eq!(days_from_civil(y, m, d), days);
            days += 1;
            d += 1;
            if d > days_in_month(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn serde_keeps_text() {
        let text = "\"2023-11-15T00:13:20.1+02:00\"";
        let t: DateTime = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), text);
        let odd: DateTime = serde_json::from_str("\"yesterday\"").unwrap();
        assert_eq!(odd.unix_nanos(), None);
        // Longer than any timestamp: kept whole, compared by text as the short ones are.
        let long = "2023-11-15T00:13:20.123456789123456789+02:00 and then some";
        let kept: DateTime = serde_json::from_str(&format!("\"{long}\"")).unwrap();
        assert_eq!(kept.as_str(), long);
        assert_eq!(kept, DateTime::new(long));
        assert_ne!(kept, DateTime::new(&long[..30]));
        assert_eq!(kept.unix_nanos(), None, "trailing text is not a timestamp");
        let escaped: DateTime = serde_json::from_str("\"2023-11-14T22:13:20\\u005a\"").unwrap();
        assert_eq!(
            escaped.as_str(),
            "2023-11-14T22:13:20Z",
            "escapes are decoded"
        );
        assert_eq!(format!("{escaped:?}"), "DateTime(\"2023-11-14T22:13:20Z\")");
    }

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug, Default)]
    struct Durations {
        #[serde(with = "nanos", default)]
        plain: Duration,
        #[serde(
            with = "nanos::option",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        maybe: Option<Duration>,
        #[serde(with = "nanos::vec", default, skip_serializing_if = "Vec::is_empty")]
        list: Vec<Duration>,
    }

    #[test]
    fn nanos_helpers() {
        let d = Durations {
            plain: Duration::from_secs(30),
            maybe: Some(Duration::from_millis(1)),
            list: vec![Duration::from_secs(1), Duration::from_nanos(5)],
        };
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(
            json,
            r#"{"plain":30000000000,"maybe":1000000,"list":[1000000000,5]}"#
        );
        assert_eq!(serde_json::from_str::<Durations>(&json).unwrap(), d);

        let empty = Durations::default();
        assert_eq!(serde_json::to_string(&empty).unwrap(), r#"{"plain":0}"#);
        let odd: Durations =
            serde_json::from_str(r#"{"plain":-1,"maybe":-1,"list":null}"#).unwrap();
        assert_eq!(odd, Durations::default());
        let null: Durations = serde_json::from_str(r#"{"plain":null,"maybe":null}"#).unwrap();
        assert_eq!(null, Durations::default());
        let huge = Durations {
            plain: Duration::from_secs(u64::MAX),
            ..Durations::default()
        };
        assert_eq!(
            serde_json::to_string(&huge).unwrap(),
            format!(r#"{{"plain":{}}}"#, i64::MAX)
        );
        assert!(serde_json::from_str::<Durations>(r#"{"plain":"1s"}"#).is_err());
    }
}
