//! Byte scans a word at a time, and decimal numbers: the pieces the decoder's control-line
//! scan and the ack-subject parser share.
//!
//! Invariant: every function here is exact (no false positives from carries between bytes)
//! and total: any input gives an answer, none panics.

/// Eight bytes at a time: each byte's top bit set where the byte equals `byte` (exact: the
/// test cannot carry into a neighbouring byte).
#[inline(always)]
pub(crate) fn bytes_equal(word: u64, byte: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = word ^ (0x0101_0101_0101_0101 * u64::from(byte));
    !(((x & LOW7).wrapping_add(LOW7)) | x) & !LOW7
}

/// The top bits of the eight bytes of `flags` gathered into bits 0..8 (bit `i` for byte
/// `i`). The partial products land on distinct bits, so nothing carries.
#[inline(always)]
pub(crate) fn gather(flags: u64) -> u64 {
    ((flags >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// Eight bytes at a time: each byte's top bit set where the byte is below `0x21` (a space
/// or an ASCII control character, `\r` and `\n` among them). Exact, as [`bytes_equal`].
#[inline(always)]
pub(crate) fn bytes_below_0x21(word: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    !((word & LOW7).wrapping_add(0x5f5f_5f5f_5f5f_5f5f) | word) & !LOW7
}

/// A decimal number of 1 to 20 digits that fits a `u64`.
#[inline(always)]
pub(crate) fn parse_number(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    if bytes.len() < 20 {
        // Up to 19 digits cannot overflow.
        let mut n: u64 = 0;
        for &b in bytes {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                return None;
            }
            n = n * 10 + u64::from(digit);
        }
        return Some(n);
    }
    let mut n: u64 = 0;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}
