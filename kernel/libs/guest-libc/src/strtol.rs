//! `strtol`, `strtoul`, `strtoll`, `strtoull` and `atoi`, exactly as glibc
//! 2.36 in the C locale on x86_64 (`long` and `long long` are both 64-bit).
//!
//! # Contract
//!
//! The input is the bytes of the C string (a slice; a NUL inside ends it).
//! Every function returns a [`Parsed`]: the value, the index `endptr` would
//! get (`None` when glibc leaves `*endptr` unchanged) and the errno glibc sets
//! (`None` when it leaves errno alone).
//!
//! # glibc behaviours reproduced (checked against the host glibc)
//!
//! * Bases: 0 and 2..=36. Any other base returns 0 with `EINVAL` and does not
//!   touch `*endptr`.
//! * Leading white space is `isspace` in the C locale: space, `\t \n \v \f \r`.
//!   Then one optional `+` or `-`.
//! * Base 16 and base 0 accept a `0x`/`0X` prefix; base 0 then means 16, a
//!   leading `0` otherwise means 8, anything else 10. (`0b` is not a prefix in
//!   2.36.)
//! * No digits: the value is 0, errno untouched, and `endptr` is the start of
//!   the string, except after `0x` with no hex digit, where `endptr` points at
//!   the `x` (just past the `0`).
//! * Overflow: every digit is still consumed; `strtol` returns `LONG_MAX` or
//!   `LONG_MIN` and `strtoul` `ULONG_MAX`, with `ERANGE`. `strtol` accepts
//!   exactly `-9223372036854775808`.
//! * `strtoul` of a negative number negates in unsigned arithmetic
//!   (`"-1"` is `ULONG_MAX`, no error); the magnitude must fit in 64 bits.
//! * `atoi(s)` is `(int) strtol(s, NULL, 10)` (truncation, errno may be set).

/// The result of a conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed<T> {
    /// The returned value.
    pub value: T,
    /// The index `*endptr` is set to, or None when glibc does not set it.
    pub end: Option<usize>,
    /// The errno set by the call, if any.
    pub errno: Option<i32>,
}

/// `isspace` in the C locale.
pub fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The value of `b` as a digit in bases up to 36.
pub fn digit_value(b: u8) -> Option<u32> {
    match b {
        b'0'..=b'9' => Some(u32::from(b - b'0')),
        b'a'..=b'z' => Some(u32::from(b - b'a') + 10),
        b'A'..=b'Z' => Some(u32::from(b - b'A') + 10),
        _ => None,
    }
}

/// What the common scanner found.
#[derive(Debug, Clone, Copy)]
struct Scan {
    negative: bool,
    magnitude: u64,
    overflow: bool,
    /// Index of the end (the `endptr` value).
    end: usize,
}

fn byte(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

/// The part of glibc's `____strtol_l_internal` shared by all variants.
/// `Err(())` for an invalid base.
fn scan(s: &[u8], base: i32) -> Result<Scan, ()> {
    if base < 0 || base == 1 || base > 36 {
        return Err(());
    }
    let mut base = base as u32;
    let mut i = 0usize;
    while is_space(byte(s, i)) {
        i += 1;
    }
    let noconv = Scan { negative: false, magnitude: 0, overflow: false, end: 0 };
    if byte(s, i) == 0 {
        return Ok(noconv);
    }
    let mut negative = false;
    match byte(s, i) {
        b'-' => {
            negative = true;
            i += 1;
        }
        b'+' => i += 1,
        _ => {}
    }
    if byte(s, i) == b'0' {
        if (base == 0 || base == 16) && byte(s, i + 1).eq_ignore_ascii_case(&b'X') {
            i += 2;
            base = 16;
        } else if base == 0 {
            base = 8;
        }
    } else if base == 0 {
        base = 10;
    }
    let start = i;
    let mut magnitude: u64 = 0;
    let mut overflow = false;
    while let Some(d) = digit_value(byte(s, i)).filter(|&d| d < base) {
        match magnitude.checked_mul(u64::from(base)).and_then(|v| v.checked_add(u64::from(d))) {
            Some(v) => magnitude = v,
            None => overflow = true,
        }
        i += 1;
    }
    if i == start {
        // No digits. "0x" followed by a non-hex-digit: end after the '0'.
        if start >= 2 && byte(s, start - 1).eq_ignore_ascii_case(&b'X') && byte(s, start - 2) == b'0' {
            return Ok(Scan { end: start - 1, ..noconv });
        }
        return Ok(noconv);
    }
    Ok(Scan { negative, magnitude, overflow, end: i })
}

fn only_to_nul(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == 0) {
        Some(n) => s.get(..n).unwrap_or(s),
        None => s,
    }
}

/// `strtol(s, &end, base)`.
pub fn strtol(s: &[u8], base: i32) -> Parsed<i64> {
    let s = only_to_nul(s);
    match scan(s, base) {
        Err(()) => Parsed { value: 0, end: None, errno: Some(crate::errno::EINVAL) },
        Ok(sc) => {
            let limit = if sc.negative { 1u64 << 63 } else { i64::MAX as u64 };
            if sc.overflow || sc.magnitude > limit {
                let value = if sc.negative { i64::MIN } else { i64::MAX };
                return Parsed { value, end: Some(sc.end), errno: Some(crate::errno::ERANGE) };
            }
            let value = if sc.negative { (sc.magnitude as i64).wrapping_neg() } else { sc.magnitude as i64 };
            Parsed { value, end: Some(sc.end), errno: None }
        }
    }
}

/// `strtoul(s, &end, base)`.
pub fn strtoul(s: &[u8], base: i32) -> Parsed<u64> {
    let s = only_to_nul(s);
    match scan(s, base) {
        Err(()) => Parsed { value: 0, end: None, errno: Some(crate::errno::EINVAL) },
        Ok(sc) => {
            if sc.overflow {
                return Parsed { value: u64::MAX, end: Some(sc.end), errno: Some(crate::errno::ERANGE) };
            }
            let value = if sc.negative { sc.magnitude.wrapping_neg() } else { sc.magnitude };
            Parsed { value, end: Some(sc.end), errno: None }
        }
    }
}

/// `strtoll`: the same as [`strtol`] on x86_64.
pub fn strtoll(s: &[u8], base: i32) -> Parsed<i64> {
    strtol(s, base)
}

/// `strtoull`: the same as [`strtoul`] on x86_64.
pub fn strtoull(s: &[u8], base: i32) -> Parsed<u64> {
    strtoul(s, base)
}

/// `atoi(s)`: `(int) strtol(s, NULL, 10)`; the errno of the call is returned
/// too because glibc's `atoi` sets it on overflow.
pub fn atoi(s: &[u8]) -> Parsed<i32> {
    let p = strtol(s, 10);
    Parsed { value: p.value as i32, end: p.end, errno: p.errno }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{host_strtol, host_strtoul, GLIBC_LOCK};
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn check(s: &[u8], base: i32) {
        let _g = GLIBC_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let (hv, hend, herr) = host_strtol(s, base);
        let p = strtol(s, base);
        let end = p.end;
        assert_eq!(
            (p.value, end, p.errno.unwrap_or(0)),
            (hv, hend, herr),
            "strtol({:?}, {base})",
            String::from_utf8_lossy(s)
        );
        let (hv, hend, herr) = host_strtoul(s, base);
        let p = strtoul(s, base);
        let end = p.end;
        assert_eq!(
            (p.value, end, p.errno.unwrap_or(0)),
            (hv, hend, herr),
            "strtoul({:?}, {base})",
            String::from_utf8_lossy(s)
        );
    }

    extern crate std;
    use std::string::String;

    #[test]
    fn table() {
        let inputs: &[&str] = &[
            "",
            " ",
            "0",
            "1",
            "-1",
            "+1",
            "+-1",
            "-+1",
            "  \t\n\x0b\x0c\r42",
            "42abc",
            "0x",
            "0X",
            "0x1f",
            "0xg",
            "-0x",
            " -0x10",
            "0x0x1",
            "010",
            "08",
            "0b101",
            "z",
            "Z",
            "zz",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "18446744073709551616",
            "-18446744073709551615",
            "-18446744073709551616",
            "99999999999999999999999x",
            "0000000000000000000000000001",
            "  +0x7fffffffffffffff",
            "0x8000000000000000",
            "-0x8000000000000000",
            "0xffffffffffffffff",
            "0x10000000000000000",
            "1e5",
            "\u{a0}1",
            "- 1",
            "0x+1",
            "0x-1",
            "-",
            "+",
            "0",
            "00x1",
            "1_000",
            "0xABCDEF",
            "0xabcdef",
        ];
        for s in inputs {
            for base in [-1, 0, 1, 2, 3, 8, 10, 16, 17, 35, 36, 37] {
                check(s.as_bytes(), base);
            }
        }
    }

    #[test]
    fn invalid_base_leaves_endptr() {
        assert_eq!(strtol(b"12", 1), Parsed { value: 0, end: None, errno: Some(22) });
        assert_eq!(strtoul(b"12", 37), Parsed { value: 0, end: None, errno: Some(22) });
        assert_eq!(strtol(b"0x", 16), Parsed { value: 0, end: Some(1), errno: None });
        assert_eq!(strtol(b"  x", 10), Parsed { value: 0, end: Some(0), errno: None });
        assert_eq!(atoi(b"4294967297"), Parsed { value: 1, end: Some(10), errno: None });
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn sweep(s in "[ \t+\\-0xX1-9a-fA-Fg-z]{0,24}", base in -2i32..40) {
            check(s.as_bytes(), base);
        }

        #[test]
        fn numbers(v in any::<i64>(), u in any::<u64>(), base in prop::sample::select(vec![0, 8, 10, 16])) {
            let a = alloc::format!("{v}");
            let b = alloc::format!("{u:#x}");
            let c = alloc::format!("-{u}");
            let d = alloc::format!("0{u:o}");
            for s in [a, b, c, d] {
                check(s.as_bytes(), base);
            }
            let _ = Vec::<u8>::new();
        }
    }
}
