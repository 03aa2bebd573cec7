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
        // Up to 19 digits cannot overflow. Long numbers (a timestamp's 19 digits) go eight
        // digits at a time.
        let mut n: u64 = 0;
        let mut rest = bytes;
        while let Some((word, tail)) = rest.split_first_chunk::<8>() {
            n = n * 100_000_000 + eight_digits(u64::from_le_bytes(*word))?;
            rest = tail;
        }
        for &b in rest {
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

/// The value of eight ASCII digits read little-endian from memory (the first digit in the
/// low byte), or `None` if any byte is not a digit.
#[inline(always)]
fn eight_digits(word: u64) -> Option<u64> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0xf0f0_f0f0_f0f0_f0f0;
    // A digit's high nibble is 3, and adding 6 to its low nibble does not carry into it.
    if word & HIGH != 0x30 * ONES || word.wrapping_add(6 * ONES) & HIGH != 0x30 * ONES {
        return None;
    }
    // Pairs, then quads, then the whole: each step multiplies the higher-order half and
    // adds the lower, within lanes that cannot overflow.
    let v = word - 0x30 * ONES;
    let v = (v * 10 + (v >> 8)) & 0x00ff_00ff_00ff_00ff;
    let v = (v * 100 + (v >> 16)) & 0x0000_ffff_0000_ffff;
    Some((v * 10_000 + (v >> 32)) & 0xffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_the_standard_parser_reads_them() {
        let mut rng = crate::rng::Rng::new(5);
        let letters = b"0123456789012345678901234567890123456789 x/:";
        for _ in 0..200_000 {
            let len = rng.below(23) as usize;
            let text = rng.bytes_from(letters, len);
            let text = String::from_utf8(text).unwrap();
            // At most 20 digits, leading zeros counted.
            let all_digits = len <= 20 && text.bytes().all(|b| b.is_ascii_digit());
            let want = all_digits.then(|| text.parse::<u64>().ok()).flatten();
            assert_eq!(parse_number(text.as_bytes()), want, "{text:?}");
        }
        for n in [
            0,
            9,
            10,
            12_345_678,
            99_999_999,
            100_000_000,
            1_700_000_000_123_456_789,
        ] {
            assert_eq!(parse_number(n.to_string().as_bytes()), Some(n));
        }
        assert_eq!(parse_number(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_number(b"18446744073709551616"), None);
        assert_eq!(parse_number(b"0000000000000000000000"), None);
    }
}
