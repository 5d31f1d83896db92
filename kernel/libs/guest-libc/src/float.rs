//! Floating-point conversions of the printf engine (`%f %F %e %E %g %G %a
//! %A`), exact like glibc's `__printf_fp` and `__printf_fphex` in the C locale
//! with the default rounding mode (round to nearest, ties to even, on the
//! exact binary value).
//!
//! Decimal conversions use an exact big-integer expansion of the value (every
//! `double` and x87 `long double`, subnormals included, has a finite decimal
//! expansion), so any precision prints the digits glibc prints. `%a` of a
//! `double` prints `0x1.<13 hex digits>p±E` (`0x0.<...>p-1022` for
//! subnormals); `%La` follows glibc's x86 layout, a full nibble before the
//! point (`1.0L` is `0x8p-3`). `inf`/`nan` (upper case for `F E G A`) keep
//! their sign and are padded with spaces only. With `-` and `0` together
//! (possible only through a negative `*` width on glibc's positional path)
//! decimal conversions pad on the right with zeros and `%a` does not pad, as
//! glibc does.

use alloc::vec;
use alloc::vec::Vec;

/// An 80-bit x87 `long double` as passed by `va_arg(ap, long double)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LongDouble {
    /// The 64-bit significand, explicit integer bit included.
    pub mantissa: u64,
    /// Sign (bit 15) and biased exponent (bits 0..15).
    pub sign_exp: u16,
}

/// The flags of a floating conversion.
#[derive(Debug, Clone, Copy)]
pub struct FloatSpec {
    /// One of `f F e E g G a A`.
    pub conv: u8,
    /// `#`.
    pub alt: bool,
    /// ` `.
    pub space: bool,
    /// `-`.
    pub left: bool,
    /// `+`.
    pub showsign: bool,
    /// `0`.
    pub pad_zero: bool,
    /// Field width (0: none).
    pub width: i32,
    /// Precision (-1: none).
    pub prec: i32,
}

/// A value to print, with its encoding (needed by `%a`).
#[derive(Debug, Clone, Copy)]
pub enum FloatValue {
    /// A `double`, as its bits.
    Double(u64),
    /// An x87 `long double`.
    Long(LongDouble),
}

impl FloatValue {
    /// A `double`.
    pub fn from_f64(v: f64) -> Self {
        FloatValue::Double(v.to_bits())
    }

    /// A `long double`.
    pub fn from_long_double(v: LongDouble) -> Self {
        FloatValue::Long(v)
    }

    fn negative(&self) -> bool {
        match self {
            FloatValue::Double(b) => b >> 63 != 0,
            FloatValue::Long(l) => l.sign_exp >> 15 != 0,
        }
    }

    /// Classifies the value; finite values as `mant * 2^exp`.
    fn class(&self) -> Class {
        match *self {
            FloatValue::Double(b) => {
                let e = ((b >> 52) & 0x7ff) as i32;
                let f = b & ((1u64 << 52) - 1);
                if e == 0x7ff {
                    if f == 0 {
                        Class::Inf
                    } else {
                        Class::Nan
                    }
                } else if e == 0 {
                    Class::Finite(f, -1074)
                } else {
                    Class::Finite(f | (1u64 << 52), e - 1075)
                }
            }
            FloatValue::Long(l) => {
                let e = i32::from(l.sign_exp & 0x7fff);
                let m = l.mantissa;
                let int_bit = m >> 63 != 0;
                if e == 0x7fff {
                    if int_bit && m << 1 == 0 {
                        Class::Inf
                    } else {
                        Class::Nan
                    }
                } else if e == 0 {
                    // Denormals and pseudo-denormals.
                    Class::Finite(m, 1 - 16383 - 63)
                } else if !int_bit {
                    // Unnormals: glibc's isnanl calls them NaN.
                    Class::Nan
                } else {
                    Class::Finite(m, e - 16383 - 63)
                }
            }
        }
    }
}

enum Class {
    Nan,
    Inf,
    Finite(u64, i32),
}

/// A piece of output: literal bytes or a run of one byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes to write.
    Bytes(Vec<u8>),
    /// `byte` repeated `count` times.
    Run(u8, usize),
}

/// The rendered conversion as pieces (long zero runs are not materialised).
/// None when memory for the digits cannot be had (glibc: -1, ENOMEM).
pub fn format(spec: &FloatSpec, value: &FloatValue) -> Option<Vec<Piece>> {
    let neg = value.negative();
    let sign = if neg {
        Some(b'-')
    } else if spec.showsign {
        Some(b'+')
    } else if spec.space {
        Some(b' ')
    } else {
        None
    };
    let upper = spec.conv.is_ascii_uppercase();
    match value.class() {
        Class::Nan => Some(special(spec, sign, if upper { b"NAN" } else { b"nan" })),
        Class::Inf => Some(special(spec, sign, if upper { b"INF" } else { b"inf" })),
        Class::Finite(m, e) => match spec.conv {
            b'a' | b'A' => Some(hex(spec, sign, value)),
            _ => decimal(spec, sign, m, e),
        },
    }
}

fn special(spec: &FloatSpec, sign: Option<u8>, text: &[u8]) -> Vec<Piece> {
    let mut width = spec.width;
    if sign.is_some() {
        width = width.saturating_sub(1);
    }
    width = width.saturating_sub(3);
    let mut out = Vec::new();
    if !spec.left && width > 0 {
        out.push(Piece::Run(b' ', width as usize));
    }
    let mut body = Vec::new();
    body.extend(sign);
    body.extend_from_slice(text);
    out.push(Piece::Bytes(body));
    if spec.left && width > 0 {
        out.push(Piece::Run(b' ', width as usize));
    }
    out
}

// ---------------------------------------------------------------------------
// Exact decimal expansion.

/// Little-endian base-2^32 big integer.
struct Big(Vec<u32>);

impl Big {
    fn from_u64(v: u64) -> Self {
        Big(vec![v as u32, (v >> 32) as u32])
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn mul_small(&mut self, m: u32) {
        let mut carry = 0u64;
        for limb in self.0.iter_mut() {
            let v = u64::from(*limb) * u64::from(m) + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn shl(&mut self, bits: u32) {
        let words = (bits / 32) as usize;
        let rest = bits % 32;
        if rest != 0 {
            let mut carry = 0u32;
            for limb in self.0.iter_mut() {
                let v = (*limb << rest) | carry;
                carry = *limb >> (32 - rest);
                *limb = v;
            }
            if carry != 0 {
                self.0.push(carry);
            }
        }
        if words > 0 {
            let mut v = vec![0u32; words];
            v.extend_from_slice(&self.0);
            self.0 = v;
        }
    }

    /// Divides in place, returns the remainder.
    fn divrem_small(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for limb in self.0.iter_mut().rev() {
            let v = (rem << 32) | u64::from(*limb);
            *limb = (v / u64::from(d)) as u32;
            rem = v % u64::from(d);
        }
        self.trim();
        rem as u32
    }

    fn is_zero(&self) -> bool {
        self.0.iter().all(|&l| l == 0)
    }
}

/// The exact decimal digits of `mant * 2^exp` (`mant != 0`): digits without
/// leading or trailing zeros and `e10` with value = 0.digits * 10^e10.
fn exact_digits(mant: u64, exp: i32) -> (Vec<u8>, i32) {
    let tz = mant.trailing_zeros();
    let mant = mant >> tz;
    let exp = exp + tz as i32;
    let mut n = Big::from_u64(mant);
    let mut scale10 = 0i32;
    if exp >= 0 {
        n.shl(exp as u32);
    } else {
        // mant / 2^k = mant * 5^k / 10^k
        let k = (-exp) as u32;
        let mut left = k;
        while left >= 13 {
            n.mul_small(1_220_703_125); // 5^13
            left -= 13;
        }
        if left > 0 {
            n.mul_small(5u32.pow(left));
        }
        scale10 = -(k as i32);
    }
    n.trim();
    // Decimal digits, least significant chunk first.
    let mut chunks = Vec::new();
    while !n.is_zero() {
        chunks.push(n.divrem_small(1_000_000_000));
    }
    let mut digits = Vec::with_capacity(chunks.len() * 9);
    for (i, c) in chunks.iter().rev().enumerate() {
        let mut buf = [0u8; 9];
        let mut v = *c;
        for slot in buf.iter_mut().rev() {
            *slot = (v % 10) as u8;
            v /= 10;
        }
        if i == 0 {
            let first = buf.iter().position(|&d| d != 0).unwrap_or(8);
            digits.extend_from_slice(&buf[first..]);
        } else {
            digits.extend_from_slice(&buf);
        }
    }
    let e10 = digits.len() as i32 + scale10;
    while digits.last() == Some(&0) {
        digits.pop();
    }
    (digits, e10)
}

/// The digit stream of glibc's `hack_digit`: the digits of 0.D * 10^k from
/// a starting position; positions before 0 and past the end are zeros.
struct Stream<'a> {
    digits: &'a [u8],
    pos: i64,
}

impl Stream<'_> {
    fn next(&mut self) -> u8 {
        let d = if self.pos >= 0 { self.digits.get(self.pos as usize).copied().unwrap_or(0) } else { 0 };
        self.pos += 1;
        b'0' + d
    }

    /// Whether any non-zero digit is left (`digits` has no trailing zeros).
    fn more(&self) -> bool {
        self.pos < self.digits.len() as i64
    }
}

/// The layout `fp_text` chose: glibc's `p.type`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    Fixed,
    Exp,
}

/// glibc's `__printf_fp` digit generation and rounding for `%f`, `%e` and
/// `%g` (lower-cased in `conv`), reproduced step by step because `%g` has
/// observable quirks (`%#.3g` of 999.5 is `1.e+03`). `digits`/`e10`:
/// value = 0.digits * 10^e10 (digits empty for zero). Returns the text
/// without sign, or None when memory runs out.
fn fp_text(conv: u8, upper: bool, alt: bool, prec: i32, digits: &[u8], e10: i32) -> Option<Vec<u8>> {
    const POINT: u8 = b'.';
    // glibc's exponent magnitude and sign (zero: 0, positive).
    let x0: i64 = if digits.is_empty() { 0 } else { i64::from(e10) - 1 };
    let mut exponent: i64 = x0.abs();
    let mut expsign = x0 < 0;
    let mut layout: Layout;
    let intdig_max: i64;
    let mut fracdig_max: i64;
    let fracdig_min: i64;
    let dig_max: i64;
    let mut significant: bool;
    match conv {
        b'e' => {
            layout = Layout::Exp;
            intdig_max = 1;
            fracdig_max = if prec < 0 { 6 } else { i64::from(prec) };
            fracdig_min = fracdig_max;
            dig_max = i64::MAX;
            significant = true;
        }
        b'f' => {
            layout = Layout::Fixed;
            fracdig_max = if prec < 0 { 6 } else { i64::from(prec) };
            fracdig_min = fracdig_max;
            dig_max = i64::MAX;
            significant = true;
            intdig_max = if !expsign { exponent + 1 } else { 1 };
        }
        _ => {
            dig_max = match prec {
                p if p < 0 => 6,
                0 => 1,
                p => i64::from(p),
            };
            if (!expsign && exponent >= dig_max) || (expsign && exponent > 4) {
                layout = Layout::Exp;
                fracdig_max = dig_max - 1;
                intdig_max = 1;
            } else {
                layout = Layout::Fixed;
                intdig_max = if !expsign { exponent + 1 } else { 0 };
                fracdig_max = dig_max - intdig_max;
            }
            fracdig_min = if alt { fracdig_max } else { 0 };
            significant = false;
        }
    }
    let mut buf: Vec<u8> = Vec::new();
    let need = intdig_max.max(0).saturating_add(fracdig_max.max(0)).saturating_add(16);
    buf.try_reserve(usize::try_from(need).ok()?).ok()?;
    let mut intdig_no: i64 = 0;
    // The stream starts at the first integer digit, or (for |x| < 1 in the
    // fixed layout) at the 10^-1 position.
    let fixed_below_one = layout == Layout::Fixed && expsign;
    let mut stream = Stream { digits, pos: if fixed_below_one { x0 + 1 } else { 0 } };
    if !fixed_below_one {
        while intdig_no < intdig_max {
            intdig_no += 1;
            buf.push(stream.next());
        }
        significant = true;
        if alt || fracdig_min > 0 || (fracdig_max > 0 && stream.more()) {
            buf.push(POINT);
        }
    } else {
        buf.push(b'0');
        buf.push(POINT);
    }
    let mut fracdig_no: i64 = 0;
    let mut added_zeros: i64 = 0;
    while fracdig_no < fracdig_min + added_zeros || (fracdig_no < fracdig_max && stream.more()) {
        fracdig_no += 1;
        let d = stream.next();
        buf.push(d);
        if d != b'0' {
            significant = true;
        } else if !significant {
            fracdig_max += 1;
            if fracdig_min > 0 {
                added_zeros += 1;
            }
        }
    }
    // Rounding: to nearest, ties to even, on the exact value.
    let last_digit = match buf.last() {
        Some(&POINT) => buf.len().checked_sub(2).and_then(|i| buf.get(i)).copied().unwrap_or(b'0'),
        Some(&d) => d,
        None => b'0',
    };
    let next_digit = stream.next();
    let more_bits = (next_digit != b'0' && next_digit != b'5') || stream.more();
    let round_up = next_digit >= b'5' && ((last_digit.wrapping_sub(b'0')) & 1 == 1 || more_bits);
    if round_up {
        let mut wtp = buf.len();
        let mut at_point = false;
        if fracdig_no > 0 {
            let mut removed = 0;
            while wtp > 0 {
                wtp -= 1;
                match buf.get(wtp).copied() {
                    Some(POINT) => {
                        at_point = true;
                        break;
                    }
                    Some(b'9') => {
                        if let Some(b) = buf.get_mut(wtp) {
                            *b = b'0';
                        }
                        removed += 1;
                    }
                    _ => break,
                }
            }
            if removed == fracdig_min && added_zeros > 0 {
                added_zeros -= 1;
            }
            if !at_point {
                if let Some(b) = buf.get_mut(wtp) {
                    *b += 1;
                }
            } else if conv == b'g' && layout == Layout::Fixed && alt && wtp == 1 && buf.first() == Some(&b'0') {
                // The rounded number is 1.0 under %#g: "1." keeps one digit less.
                added_zeros -= 1;
            }
        }
        if fracdig_no == 0 || at_point {
            if fracdig_no == 0 {
                wtp = buf.len();
            }
            if wtp > 0 && buf.get(wtp - 1) == Some(&POINT) {
                wtp -= 1;
            }
            let mut all_nines = true;
            while wtp > 0 {
                wtp -= 1;
                match buf.get_mut(wtp) {
                    Some(b) if *b == b'9' => *b = b'0',
                    Some(b) => {
                        *b += 1;
                        all_nines = false;
                        break;
                    }
                    None => break,
                }
            }
            if all_nines {
                if layout == Layout::Exp {
                    if let Some(first) = buf.first_mut() {
                        *first = b'1';
                    }
                    if !expsign {
                        exponent += 1;
                    } else {
                        exponent -= 1;
                    }
                    if exponent == 0 {
                        expsign = false;
                    }
                } else if intdig_no == dig_max {
                    // %g: fitted the fixed layout before rounding, not after.
                    let old_point = usize::try_from(intdig_no).ok()?;
                    buf.insert(0, POINT);
                    buf.insert(0, b'1');
                    if alt || fracdig_no > 0 {
                        if let Some(b) = buf.get_mut(old_point + 2) {
                            *b = b'0';
                        }
                        fracdig_no += 1;
                    }
                    fracdig_no += intdig_no;
                    intdig_no = 1;
                    exponent += 1;
                    layout = Layout::Exp;
                } else {
                    buf.insert(0, b'1');
                    intdig_no += 1;
                }
                if intdig_no + fracdig_no > dig_max {
                    let cut = intdig_no + fracdig_no - dig_max;
                    let keep = buf.len().saturating_sub(usize::try_from(cut).ok()?);
                    buf.truncate(keep);
                    fracdig_no -= cut;
                }
            }
        }
    }
    while fracdig_no > fracdig_min + added_zeros && buf.last() == Some(&b'0') {
        buf.pop();
        fracdig_no -= 1;
    }
    if fracdig_no == 0 && !alt && buf.last() == Some(&POINT) {
        buf.pop();
    }
    if layout == Layout::Exp {
        if expsign && exponent == 4 && conv == b'g' {
            // Rounded up to 1e-4: printed as 0.0001 followed by as many
            // zeros as there were digits after "1.".
            let extra = buf.len().saturating_sub(2);
            let mut t = b"0.0001".to_vec();
            t.resize(t.len() + extra, b'0');
            buf = t;
        } else {
            buf.push(if upper { b'E' } else { b'e' });
            buf.push(if expsign { b'-' } else { b'+' });
            if exponent < 10 {
                buf.push(b'0');
            }
            crate::strerror::push_unsigned(exponent.unsigned_abs(), &mut buf);
        }
    }
    Some(buf)
}

fn decimal(spec: &FloatSpec, sign: Option<u8>, mant: u64, exp: i32) -> Option<Vec<Piece>> {
    let (digits, e10) = if mant == 0 { (Vec::new(), 0) } else { exact_digits(mant, exp) };
    let upper = spec.conv.is_ascii_uppercase();
    let text = fp_text(spec.conv.to_ascii_lowercase(), upper, spec.alt, spec.prec, &digits, e10)?;
    Some(finish(spec, sign, Vec::new(), vec![Piece::Bytes(text)], true))
}

fn push_bytes(pieces: &mut Vec<Piece>, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    if let Some(Piece::Bytes(last)) = pieces.last_mut() {
        last.extend_from_slice(bytes);
    } else {
        pieces.push(Piece::Bytes(bytes.to_vec()));
    }
}

fn push_run(pieces: &mut Vec<Piece>, byte: u8, n: usize) {
    if n == 0 {
        return;
    }
    if n <= 64 {
        push_bytes(pieces, &vec![byte; n]);
    } else {
        pieces.push(Piece::Run(byte, n));
    }
}

fn pieces_len(pieces: &[Piece]) -> usize {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Bytes(b) => b.len(),
            Piece::Run(_, n) => *n,
        })
        .fold(0usize, |a, b| a.saturating_add(b))
}

/// Pads `prefix` (after the sign) and `body` to the width.
fn finish(spec: &FloatSpec, sign: Option<u8>, prefix: Vec<u8>, body: Vec<Piece>, decimal: bool) -> Vec<Piece> {
    let len = pieces_len(&body).saturating_add(prefix.len()).saturating_add(usize::from(sign.is_some()));
    let width = spec.width.max(0) as usize;
    let fill = width.saturating_sub(len);
    let mut out = Vec::new();
    if !spec.left && !spec.pad_zero {
        push_run(&mut out, b' ', fill);
    }
    let mut head = Vec::new();
    head.extend(sign);
    head.extend_from_slice(&prefix);
    push_bytes(&mut out, &head);
    if !spec.left && spec.pad_zero {
        push_run(&mut out, b'0', fill);
    }
    for p in body {
        match p {
            Piece::Bytes(b) => push_bytes(&mut out, &b),
            Piece::Run(b, n) => push_run(&mut out, b, n),
        }
    }
    if spec.left {
        if decimal {
            push_run(&mut out, if spec.pad_zero { b'0' } else { b' ' }, fill);
        } else if !spec.pad_zero {
            push_run(&mut out, b' ', fill);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// %a

fn hex(spec: &FloatSpec, sign: Option<u8>, value: &FloatValue) -> Vec<Piece> {
    let upper = spec.conv == b'A';
    let table: &[u8; 16] = if upper { b"0123456789ABCDEF" } else { b"0123456789abcdef" };
    // Fraction digits (after the leading one), leading digit, exponent.
    let (mut digs, mut leading, mut exponent, zero_mantissa): (Vec<u8>, u8, i32, bool) = match *value {
        FloatValue::Double(b) => {
            let e = ((b >> 52) & 0x7ff) as i32;
            let f = b & ((1u64 << 52) - 1);
            let digs: Vec<u8> = (0..13).rev().map(|i| ((f >> (i * 4)) & 0xf) as u8).collect();
            let exponent = if e == 0 {
                if f == 0 {
                    0
                } else {
                    -1022
                }
            } else {
                e - 1023
            };
            (digs, if e == 0 { 0 } else { 1 }, exponent, f == 0)
        }
        FloatValue::Long(l) => {
            let e = i32::from(l.sign_exp & 0x7fff);
            let m = l.mantissa;
            let digs: Vec<u8> = (0..15).rev().map(|i| ((m >> (i * 4)) & 0xf) as u8).collect();
            let exponent = if e == 0 {
                if m == 0 {
                    0
                } else {
                    -(16382 + 3)
                }
            } else {
                e - (16383 + 3)
            };
            (digs, (m >> 60) as u8, exponent, m == 0)
        }
    };
    let mut precision = spec.prec;
    if !zero_mantissa {
        while digs.last() == Some(&0) {
            digs.pop();
        }
        let n = digs.len() as i32;
        let mut round_up = false;
        if precision != -1 && precision < n {
            let p = precision as usize;
            let last = if p > 0 { digs.get(p - 1).copied().unwrap_or(0) } else { leading };
            let next = digs.get(p).copied().unwrap_or(0);
            let more = (next & 7) != 0 || precision + 1 < n;
            round_up = next >= 8 && ((last & 1) != 0 || more);
        }
        if precision == -1 {
            precision = n;
        } else {
            digs.truncate(precision.max(0) as usize);
            if round_up {
                let mut carried = true;
                for d in digs.iter_mut().rev() {
                    if *d == 15 {
                        *d = 0;
                    } else {
                        *d += 1;
                        carried = false;
                        break;
                    }
                }
                if carried {
                    if leading < 15 {
                        leading += 1;
                    } else {
                        leading = 1;
                        exponent += 4;
                    }
                }
            }
        }
    } else {
        if precision == -1 {
            precision = 0;
        }
        digs.clear();
    }
    let point = precision > 0 || spec.alt;
    let mut body = Vec::new();
    push_bytes(&mut body, &[table[usize::from(leading & 15)]]);
    if point {
        push_bytes(&mut body, b".");
    }
    let shown = digs.len().min(precision.max(0) as usize);
    let frac: Vec<u8> = digs.iter().take(shown).map(|&d| table[usize::from(d & 15)]).collect();
    push_bytes(&mut body, &frac);
    if precision > 0 {
        push_run(&mut body, b'0', (precision as usize).saturating_sub(shown));
    }
    let mut tail = vec![if upper { b'P' } else { b'p' }, if exponent < 0 { b'-' } else { b'+' }];
    crate::strerror::push_unsigned(u64::from(exponent.unsigned_abs()), &mut tail);
    push_bytes(&mut body, &tail);
    finish(spec, sign, if upper { b"0X".to_vec() } else { b"0x".to_vec() }, body, false)
}
