//! Inline status codes carried on the `NATS/1.0 <code>` line of a header block.
//!
//! Invariant: a [`StatusCode`] always holds a three-digit number (100 to 999), so it always
//! encodes as exactly three ASCII digits.

use std::fmt;

/// A three-digit status code from a header block, such as `503` (no responders).
///
/// Any value from 100 to 999 is representable; the constants name those a client must know.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct StatusCode(u16);

impl StatusCode {
    /// `100`: JetStream idle heartbeat or flow-control request.
    pub const IDLE_HEARTBEAT: StatusCode = StatusCode(100);
    /// `200`: OK.
    pub const OK: StatusCode = StatusCode(200);
    /// `204`: end of a Direct Get batch (`EOB`).
    pub const EOB: StatusCode = StatusCode(204);
    /// `400`: bad request.
    pub const BAD_REQUEST: StatusCode = StatusCode(400);
    /// `404`: not found / no messages.
    pub const NOT_FOUND: StatusCode = StatusCode(404);
    /// `408`: request timeout (a pull request expired, among others).
    pub const TIMEOUT: StatusCode = StatusCode(408);
    /// `409`: conflict (consumer deleted, leadership change, limits exceeded, ...).
    pub const CONFLICT: StatusCode = StatusCode(409);
    /// `412`: precondition failed (required API level not met).
    pub const PRECONDITION_FAILED: StatusCode = StatusCode(412);
    /// `413`: too many results.
    pub const TOO_MANY_RESULTS: StatusCode = StatusCode(413);
    /// `423`: pinned-client id mismatch.
    pub const PIN_ID_MISMATCH: StatusCode = StatusCode(423);
    /// `429`: too many requests (JetStream publish back-pressure).
    pub const TOO_MANY_REQUESTS: StatusCode = StatusCode(429);
    /// `500`: internal error.
    pub const INTERNAL_ERROR: StatusCode = StatusCode(500);
    /// `503`: no responders.
    pub const NO_RESPONDERS: StatusCode = StatusCode(503);

    /// The code for `n`, if it is a three-digit number (100 to 999).
    pub const fn from_u16(n: u16) -> Option<StatusCode> {
        if n >= 100 && n <= 999 {
            Some(StatusCode(n))
        } else {
            None
        }
    }

    /// The numeric value.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Is this an error status, that is 400 or above?
    ///
    /// 1xx (heartbeats, flow control) and 2xx (OK, EOB) are control signals, not errors.
    pub const fn is_error(self) -> bool {
        self.0 >= 400
    }

    /// The three ASCII digits of the code.
    pub(crate) const fn digits(self) -> [u8; 3] {
        let n = self.0;
        [
            b'0' + (n / 100 % 10) as u8,
            b'0' + (n / 10 % 10) as u8,
            b'0' + (n % 10) as u8,
        ]
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_and_display() {
        assert_eq!(StatusCode::from_u16(99), None);
        assert_eq!(StatusCode::from_u16(1000), None);
        assert_eq!(StatusCode::from_u16(503), Some(StatusCode::NO_RESPONDERS));
        assert_eq!(StatusCode::from_u16(100).unwrap().as_u16(), 100);
        assert_eq!(StatusCode::NO_RESPONDERS.to_string(), "503");
        assert_eq!(&StatusCode::TIMEOUT.digits(), b"408");
        assert!(StatusCode::NO_RESPONDERS.is_error());
        assert!(StatusCode::BAD_REQUEST.is_error());
        assert!(!StatusCode::IDLE_HEARTBEAT.is_error());
        assert!(!StatusCode::EOB.is_error());
    }
}
