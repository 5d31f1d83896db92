//! The `__isoc99_sscanf` engine: glibc 2.36's `__vfscanf_internal` in the C
//! locale, over an input byte string (the C string: a NUL ends it).
//!
//! # Contract
//!
//! [`sscanf`] walks the format, reads the input and hands every assignment to
//! [`Stores`] (the FFI layer writes through the `va_list` pointers). Its
//! result is what the C function returns: the number of assignments, or -1
//! (`EOF`) when an input failure (end of input) happens before the first
//! assignment. Conversions whose target is fetched with `*` suppressed make
//! no calls. A `%N$` conversion names its target with [`Target::Pos`]; every
//! target is a pointer, so the FFI layer can find argument N by skipping N-1
//! pointers of a copy of the `va_list`.
//!
//! # glibc behaviours reproduced (checked against the host glibc)
//!
//! * A white-space directive matches any amount of white space (none too);
//!   it is applied lazily, before the next literal or conversion. Every
//!   conversion except `%[`, `%c`, `%C` and `%n` skips white space first, `%%`
//!   included, and so do those four after a white-space directive.
//! * Literals must match; end of input there is an input failure.
//! * Integers (`d i u o x X p`): optional sign, then for `i`/`x`/`X`/`p` a
//!   `0x`/`0X` prefix (for `i` a leading `0` means octal); the width counts
//!   every byte, sign and prefix included. After `0x` with no hex digit the
//!   value is 0 and the `x` stays consumed. The collected text goes through
//!   `strtol` (`d i`) or `strtoul` (`u o x X p`) and is then truncated to
//!   the target size, as glibc stores it: `%d` of `4294967297` stores 1,
//!   `%d` of `99999999999999999999` stores -1 (`LONG_MAX` truncated), `%u` of
//!   `-1` stores `UINT_MAX`, `%hhd` of `300` stores 44. `%p` also accepts
//!   `(nil)`.
//! * `%c` reads exactly the width (default 1) bytes, storing what it got if
//!   the input ends early; `%s` reads non-white-space bytes; `%[` a scanset
//!   (`^` negates; `]` or `-` right after `[`/`[^` is a member; `a-z` is a
//!   range when the end is not below the start, otherwise `-` is a member)
//!   and fails when no byte matches. `%s` and `%[` store a NUL after the bytes.
//!   The `m` flag (`%ms`, `%m[`, `%mc`) asks the FFI layer to allocate.
//! * `%lc`, `%ls`, `%l[`, `%C`, `%S` store `wchar_t`s converted as `mbrtowc`
//!   in the C locale: bytes 0..=0x7f; a byte above 0x7f is an encoding error
//!   (`EILSEQ`; the call returns the count so far).
//! * `%n` stores the number of bytes consumed and is not counted.
//! * Length modifiers `hh h l ll q L j z t` (64-bit for all but `hh`/`h`).
//! * A format ending inside a specification, an unknown conversion, or a
//!   target pointer the FFI layer reports as NULL (for strings) is a matching
//!   failure (the count so far is returned).
//!
//! # Not reproduced
//!
//! The floating conversions (`e E f F g G a A`) are not implemented: the
//! engine stops there and reports [`ScanError::Unsupported`] (glibc would
//! parse with `strtod`). The xenstore tools do not use them.

use alloc::vec::Vec;

use crate::strtol::{self, is_space};

/// Which argument a conversion stores into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The next pointer of the `va_list`.
    Next,
    /// Argument number N (1-based) of `%N$`.
    Pos(usize),
}

/// The object an integer conversion stores into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntSize {
    /// `hh`: `char`.
    Char,
    /// `h`: `short`.
    Short,
    /// No modifier: `int`.
    Int,
    /// `l ll q L j z t` and `%p`: 8 bytes.
    Long,
}

/// Why the FFI layer could not take a string target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// The pointer (or for `m`, the `char **`) is NULL: matching failure.
    NullTarget,
    /// The `m` allocation failed: the call returns -1.
    NoMemory,
}

/// The text stored by a string conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text<'a> {
    /// Bytes (`%c`, `%s`, `%[`).
    Bytes(&'a [u8]),
    /// Wide characters (`%lc`, `%ls`, `%l[`).
    Wide(&'a [u32]),
}

/// The assignments of a scanf call.
pub trait Stores {
    /// Stores an integer (`value` truncated to `size` as C does).
    fn store_int(&mut self, target: Target, size: IntSize, value: u64);
    /// Fetches the target of a string conversion before any input is read,
    /// as glibc does (for `alloc`, the `char **` of the `m` flag).
    fn begin_string(&mut self, target: Target, wide: bool, alloc: bool) -> Result<(), StoreError>;
    /// Stores the text of the string conversion begun last, followed by a NUL
    /// (a zero `wchar_t`) when `terminate` is set.
    fn finish_string(&mut self, text: Text<'_>, terminate: bool) -> Result<(), StoreError>;
}

/// How a call that does not simply return a count ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanError {
    /// A conversion this engine does not implement (floating point); the
    /// count of assignments made before it is included.
    Unsupported {
        /// Assignments done so far.
        done: i32,
    },
}

/// The result of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    /// What `sscanf` returns (-1 for EOF).
    pub ret: i32,
    /// The errno set by the call (`EILSEQ` on an encoding error, `ENOMEM`).
    pub errno: Option<i32>,
}

const SUPPRESS: u32 = 1;
const LONG: u32 = 2;
const LONGDBL: u32 = 4;
const SHORT: u32 = 8;
const CHAR: u32 = 16;
const MALLOC: u32 = 32;

/// The input as a stream with glibc's `inchar`/`ungetc` bookkeeping.
struct Input<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    /// `inchar()`: the next byte, or None at the end (EOF).
    fn get(&mut self) -> Option<u8> {
        let c = self.s.get(self.pos).copied()?;
        self.pos += 1;
        Some(c)
    }

    /// `ungetc(c)`: a no-op for EOF.
    fn unget(&mut self, c: Option<u8>) {
        if c.is_some() {
            self.pos -= 1;
        }
    }
}

enum Stop {
    /// Matching failure: return `done`.
    Conv,
    /// Input failure: return EOF if nothing was assigned.
    Input,
    /// Encoding error (EILSEQ): return `done`.
    Encoding,
    /// Allocation failure: return EOF.
    NoMemory,
    Unsupported,
}

/// `__isoc99_sscanf(input, format, ...)`.
pub fn sscanf<S: Stores + ?Sized>(input: &[u8], format: &[u8], stores: &mut S) -> Result<Scanned, ScanError> {
    let input = match input.iter().position(|&b| b == 0) {
        Some(n) => input.get(..n).unwrap_or(input),
        None => input,
    };
    let format = match format.iter().position(|&b| b == 0) {
        Some(n) => format.get(..n).unwrap_or(format),
        None => format,
    };
    let mut done: i32 = 0;
    let mut inp = Input { s: input, pos: 0 };
    let stop = run(&mut inp, format, stores, &mut done);
    match stop {
        None => Ok(Scanned { ret: done, errno: None }),
        Some(Stop::Conv) => Ok(Scanned { ret: done, errno: None }),
        Some(Stop::Input) => Ok(Scanned { ret: if done == 0 { -1 } else { done }, errno: None }),
        Some(Stop::Encoding) => Ok(Scanned { ret: done, errno: Some(crate::errno::EILSEQ) }),
        Some(Stop::NoMemory) => Ok(Scanned { ret: -1, errno: Some(crate::errno::ENOMEM) }),
        Some(Stop::Unsupported) => Err(ScanError::Unsupported { done }),
    }
}

fn fmt_at(f: &[u8], i: usize) -> u8 {
    f.get(i).copied().unwrap_or(0)
}

/// glibc's `read_int` for scanf widths and positions (saturating).
fn read_int(f: &[u8], i: &mut usize) -> usize {
    let mut v: usize = 0;
    while fmt_at(f, *i).is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add(usize::from(fmt_at(f, *i) - b'0'));
        *i += 1;
    }
    v
}

fn run<S: Stores + ?Sized>(inp: &mut Input<'_>, f: &[u8], stores: &mut S, done: &mut i32) -> Option<Stop> {
    let mut i = 0usize;
    let mut skip_space = false;
    while i < f.len() {
        let fc = fmt_at(f, i);
        i += 1;
        if fc != b'%' {
            if is_space(fc) {
                skip_space = true;
                continue;
            }
            let mut c = inp.get();
            if c.is_none() {
                return Some(Stop::Input);
            }
            if skip_space {
                while c.is_some_and(is_space) {
                    c = inp.get();
                    if c.is_none() {
                        return Some(Stop::Input);
                    }
                }
                skip_space = false;
            }
            if c != Some(fc) {
                inp.unget(c);
                return Some(Stop::Conv);
            }
            continue;
        }
        // A conversion specification.
        let mut flags = 0u32;
        let mut target = Target::Next;
        let mut width: Option<usize> = None;
        let mut have_width = false;
        if fmt_at(f, i).is_ascii_digit() {
            let n = read_int(f, &mut i);
            if fmt_at(f, i) == b'$' {
                i += 1;
                if n > 0 {
                    target = Target::Pos(n);
                }
            } else {
                width = Some(n);
                have_width = true;
            }
        }
        if !have_width {
            while matches!(fmt_at(f, i), b'*' | b'\'' | b'I') {
                if fmt_at(f, i) == b'*' {
                    flags |= SUPPRESS;
                }
                i += 1;
            }
            if fmt_at(f, i).is_ascii_digit() {
                width = Some(read_int(f, &mut i));
            }
        }
        // A width of 0 means none.
        let mut width: i64 = match width {
            Some(0) | None => -1,
            Some(w) => i64::try_from(w).unwrap_or(i64::MAX),
        };
        match fmt_at(f, i) {
            b'h' => {
                i += 1;
                if fmt_at(f, i) == b'h' {
                    i += 1;
                    flags |= CHAR;
                } else {
                    flags |= SHORT;
                }
            }
            b'l' => {
                i += 1;
                if fmt_at(f, i) == b'l' {
                    i += 1;
                    flags |= LONGDBL | LONG;
                } else {
                    flags |= LONG;
                }
            }
            b'q' | b'L' => {
                i += 1;
                flags |= LONGDBL | LONG;
            }
            b'm' => {
                i += 1;
                flags |= MALLOC;
                if fmt_at(f, i) == b'l' {
                    i += 1;
                    flags |= LONG;
                }
            }
            b'z' | b'j' | b't' => {
                i += 1;
                flags |= LONG;
            }
            _ => {}
        }
        if i >= f.len() {
            return Some(Stop::Conv);
        }
        let fc = fmt_at(f, i);
        i += 1;
        if skip_space || !matches!(fc, b'[' | b'c' | b'C' | b'n') {
            let mut c = inp.get();
            while c.is_some_and(is_space) {
                c = inp.get();
            }
            inp.unget(c);
            skip_space = false;
        }
        let suppress = flags & SUPPRESS != 0;
        let alloc = flags & MALLOC != 0;
        match fc {
            b'%' => {
                let c = inp.get();
                match c {
                    None => return Some(Stop::Input),
                    Some(b'%') => {}
                    Some(_) => {
                        inp.unget(c);
                        return Some(Stop::Conv);
                    }
                }
            }
            b'n' => {
                if !suppress {
                    let size = int_size(flags);
                    stores.store_int(target, size, inp.pos as u64);
                }
            }
            b'c' | b'C' => {
                let wide = fc == b'C' || flags & LONG != 0;
                if width == -1 {
                    width = 1;
                }
                if !suppress {
                    if let Err(e) = stores.begin_string(target, wide, alloc) {
                        return Some(store_stop(e));
                    }
                }
                let mut c = inp.get();
                if c.is_none() {
                    return Some(Stop::Input);
                }
                let mut got: Vec<u8> = Vec::new();
                loop {
                    if let Some(b) = c {
                        if wide && b > 0x7f {
                            return Some(Stop::Encoding);
                        }
                        // The text is as long as the input, which the
                        // program controls: growing it may fail.
                        if !suppress && got.try_reserve(1).map(|_| got.push(b)).is_err() {
                            return Some(Stop::NoMemory);
                        }
                    }
                    width -= 1;
                    if width <= 0 {
                        break;
                    }
                    c = inp.get();
                    if c.is_none() {
                        break;
                    }
                }
                if !suppress {
                    if let Err(e) = finish(stores, &got, wide, false) {
                        return Some(store_stop(e));
                    }
                    *done += 1;
                }
            }
            b's' | b'S' => {
                let wide = fc == b'S' || flags & LONG != 0;
                if !suppress {
                    if let Err(e) = stores.begin_string(target, wide, alloc) {
                        return Some(store_stop(e));
                    }
                }
                let mut c = inp.get();
                if c.is_none() {
                    return Some(Stop::Input);
                }
                let mut got: Vec<u8> = Vec::new();
                loop {
                    if let Some(b) = c {
                        if is_space(b) {
                            inp.unget(c);
                            break;
                        }
                        if wide && b > 0x7f {
                            return Some(Stop::Encoding);
                        }
                        // The text is as long as the input, which the
                        // program controls: growing it may fail.
                        if !suppress && got.try_reserve(1).map(|_| got.push(b)).is_err() {
                            return Some(Stop::NoMemory);
                        }
                    }
                    width -= 1;
                    if width == 0 {
                        break;
                    }
                    c = inp.get();
                    if c.is_none() {
                        break;
                    }
                }
                if !suppress {
                    if let Err(e) = finish(stores, &got, wide, true) {
                        return Some(store_stop(e));
                    }
                    *done += 1;
                }
            }
            b'[' => {
                let wide = flags & LONG != 0;
                if !suppress {
                    if let Err(e) = stores.begin_string(target, wide, alloc) {
                        return Some(store_stop(e));
                    }
                }
                let mut not_in = false;
                if fmt_at(f, i) == b'^' {
                    i += 1;
                    not_in = true;
                }
                let mut set = [false; 256];
                let first = fmt_at(f, i);
                if first == b']' || first == b'-' {
                    set[usize::from(first)] = true;
                    i += 1;
                }
                let mut closed = false;
                while i < f.len() {
                    let fc = fmt_at(f, i);
                    i += 1;
                    if fc == b']' {
                        closed = true;
                        break;
                    }
                    let next = fmt_at(f, i);
                    let prev = if i >= 2 { fmt_at(f, i - 2) } else { 0 };
                    if fc == b'-' && next != 0 && next != b']' && prev <= next {
                        for b in prev..next {
                            set[usize::from(b)] = true;
                        }
                    } else {
                        set[usize::from(fc)] = true;
                    }
                }
                if !closed {
                    return Some(Stop::Conv);
                }
                let start = inp.pos;
                let mut c = inp.get();
                if c.is_none() {
                    return Some(Stop::Input);
                }
                let mut got: Vec<u8> = Vec::new();
                loop {
                    if let Some(b) = c {
                        if set[usize::from(b)] == not_in {
                            inp.unget(c);
                            break;
                        }
                        if wide && b > 0x7f {
                            return Some(Stop::Encoding);
                        }
                        // The text is as long as the input, which the
                        // program controls: growing it may fail.
                        if !suppress && got.try_reserve(1).map(|_| got.push(b)).is_err() {
                            return Some(Stop::NoMemory);
                        }
                    }
                    width -= 1;
                    if width == 0 {
                        break;
                    }
                    c = inp.get();
                    if c.is_none() {
                        break;
                    }
                }
                if inp.pos == start {
                    return Some(Stop::Conv);
                }
                if !suppress {
                    if let Err(e) = finish(stores, &got, wide, true) {
                        return Some(store_stop(e));
                    }
                    *done += 1;
                }
            }
            b'd' | b'i' | b'u' | b'o' | b'x' | b'X' | b'p' => {
                let (mut base, signed) = match fc {
                    b'd' => (10u32, true),
                    b'i' => (0, true),
                    b'u' => (10, false),
                    b'o' => (8, false),
                    _ => (16, false),
                };
                let pointer = fc == b'p';
                if pointer {
                    flags &= !(SHORT | LONGDBL | CHAR);
                    flags |= LONG;
                }
                let mut buf: Vec<u8> = Vec::new();
                let mut c = inp.get();
                if c.is_none() {
                    return Some(Stop::Input);
                }
                if matches!(c, Some(b'-' | b'+')) {
                    buf.extend(c);
                    if width > 0 {
                        width -= 1;
                    }
                    c = inp.get();
                }
                if width != 0 && c == Some(b'0') {
                    if width > 0 {
                        width -= 1;
                    }
                    buf.push(b'0');
                    c = inp.get();
                    if width != 0 && c.is_some_and(|b| b.eq_ignore_ascii_case(&b'x')) {
                        if base == 0 {
                            base = 16;
                        }
                        if base == 16 {
                            if width > 0 {
                                width -= 1;
                            }
                            c = inp.get();
                        }
                    } else if base == 0 {
                        base = 8;
                    }
                }
                if base == 0 {
                    base = 10;
                }
                while let Some(b) = c {
                    if width == 0 {
                        break;
                    }
                    let ok = if base == 16 {
                        b.is_ascii_hexdigit()
                    } else {
                        b.is_ascii_digit() && u32::from(b - b'0') < base
                    };
                    if !ok {
                        break;
                    }
                    buf.push(b);
                    if width > 0 {
                        width -= 1;
                    }
                    c = inp.get();
                }
                if buf.is_empty() || (buf.len() == 1 && matches!(buf.first(), Some(b'+' | b'-'))) {
                    let nil = buf.is_empty() && pointer && !(0..5).contains(&width) && c == Some(b'(') && {
                        let mut ok = true;
                        for want in [b'n', b'i', b'l'] {
                            c = inp.get();
                            if !c.is_some_and(|b| b.eq_ignore_ascii_case(&want)) {
                                ok = false;
                                break;
                            }
                        }
                        if ok {
                            c = inp.get();
                            ok = c == Some(b')');
                        }
                        ok
                    };
                    if nil {
                        buf.push(b'0');
                    } else {
                        inp.unget(c);
                        return Some(Stop::Conv);
                    }
                } else {
                    inp.unget(c);
                }
                let (value, end) = if signed {
                    let p = strtol::strtol(&buf, base as i32);
                    (p.value as u64, p.end.unwrap_or(0))
                } else {
                    let p = strtol::strtoul(&buf, base as i32);
                    (p.value, p.end.unwrap_or(0))
                };
                if end == 0 {
                    return Some(Stop::Conv);
                }
                if !suppress {
                    stores.store_int(target, int_size(flags), value);
                    *done += 1;
                }
            }
            b'e' | b'E' | b'f' | b'F' | b'g' | b'G' | b'a' | b'A' => return Some(Stop::Unsupported),
            _ => return Some(Stop::Conv),
        }
    }
    None
}

fn int_size(flags: u32) -> IntSize {
    if flags & (LONG | LONGDBL) != 0 {
        IntSize::Long
    } else if flags & SHORT != 0 {
        IntSize::Short
    } else if flags & CHAR == 0 {
        IntSize::Int
    } else {
        IntSize::Char
    }
}

fn store_stop(e: StoreError) -> Stop {
    match e {
        StoreError::NullTarget => Stop::Conv,
        StoreError::NoMemory => Stop::NoMemory,
    }
}

fn finish<S: Stores + ?Sized>(stores: &mut S, got: &[u8], wide: bool, terminate: bool) -> Result<(), StoreError> {
    if wide {
        let mut w: Vec<u32> = Vec::new();
        w.try_reserve_exact(got.len()).map_err(|_| StoreError::NoMemory)?;
        w.extend(got.iter().map(|&b| u32::from(b)));
        stores.finish_string(Text::Wide(&w), terminate)
    } else {
        stores.finish_string(Text::Bytes(got), terminate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::host_sscanf_raw;
    use alloc::string::String;
    use alloc::vec;
    use proptest::prelude::*;
    use std::ffi::{c_void, CString};

    extern crate std;

    const SLOT: usize = 512;

    /// Ten target buffers written as glibc writes through the pointers.
    struct Buffers {
        slots: Vec<Vec<u8>>,
        next: usize,
        current: usize,
    }

    impl Buffers {
        fn new() -> Self {
            Buffers { slots: vec![vec![0xaa; SLOT]; 10], next: 0, current: 0 }
        }
        fn slot(&mut self, t: Target) -> usize {
            match t {
                Target::Next => {
                    let i = self.next;
                    self.next += 1;
                    i
                }
                Target::Pos(n) => n - 1,
            }
        }
    }

    impl Stores for Buffers {
        fn store_int(&mut self, target: Target, size: IntSize, value: u64) {
            let i = self.slot(target);
            let n = match size {
                IntSize::Char => 1,
                IntSize::Short => 2,
                IntSize::Int => 4,
                IntSize::Long => 8,
            };
            self.slots[i][..n].copy_from_slice(&value.to_le_bytes()[..n]);
        }
        fn begin_string(&mut self, target: Target, _wide: bool, _alloc: bool) -> Result<(), StoreError> {
            self.current = self.slot(target);
            Ok(())
        }
        fn finish_string(&mut self, text: Text<'_>, terminate: bool) -> Result<(), StoreError> {
            let slot = &mut self.slots[self.current];
            match text {
                Text::Bytes(b) => {
                    slot[..b.len()].copy_from_slice(b);
                    if terminate {
                        slot[b.len()] = 0;
                    }
                }
                Text::Wide(w) => {
                    for (k, c) in w.iter().enumerate() {
                        slot[k * 4..k * 4 + 4].copy_from_slice(&c.to_le_bytes());
                    }
                    if terminate {
                        slot[w.len() * 4..w.len() * 4 + 4].fill(0);
                    }
                }
            }
            Ok(())
        }
    }

    fn check(input: &[u8], fmt: &[u8]) {
        let ci = CString::new(input).unwrap();
        let cf = CString::new(fmt).unwrap();
        let mut host: Vec<Vec<u8>> = vec![vec![0xaa; SLOT]; 10];
        let ptrs: [*mut c_void; 10] = core::array::from_fn(|i| host[i].as_mut_ptr() as *mut c_void);
        let hr = host_sscanf_raw(&ci, &cf, &ptrs);
        let mut ours = Buffers::new();
        let r = sscanf(input, fmt, &mut ours).expect("supported");
        assert_eq!(r.ret, hr, "sscanf({:?}, {:?})", String::from_utf8_lossy(input), String::from_utf8_lossy(fmt));
        for (k, (o, h)) in ours.slots.iter().zip(host.iter()).enumerate() {
            assert_eq!(
                o,
                h,
                "target {k} of sscanf({:?}, {:?})",
                String::from_utf8_lossy(input),
                String::from_utf8_lossy(fmt)
            );
        }
    }

    fn c(input: &str, fmt: &str) {
        check(input.as_bytes(), fmt.as_bytes());
    }

    #[test]
    fn xenstore_formats() {
        for input in ["41rest", "4g", "x", "", "fff", "0x41", " 41", "7", "377", "400", "8", "12345"] {
            c(input, "%2x%n");
            c(input, "%3o%n");
        }
    }

    #[test]
    fn integers() {
        let inputs = [
            "",
            " ",
            "0",
            "1",
            "-1",
            "+1",
            "+",
            "-",
            "- 1",
            "42abc",
            "  \t\n 42",
            "0x",
            "0X1f",
            "0xg",
            "-0x10",
            "0x0x1",
            "010",
            "08",
            "09",
            "0b1",
            "4294967297",
            "4294967295",
            "2147483648",
            "-2147483649",
            "99999999999999999999",
            "-99999999999999999999",
            "18446744073709551615",
            "18446744073709551616",
            "300",
            "-129",
            "65536",
            "(nil)",
            "(NIL)",
            "(ni",
            "(nix)",
            "0x7fffffffffffffff",
            "ff",
            "FF",
            "z",
            "12 34 56",
            "1,2,3",
        ];
        let fmts = [
            "%d",
            "%i",
            "%u",
            "%o",
            "%x",
            "%X",
            "%p",
            "%hhd",
            "%hd",
            "%ld",
            "%lld",
            "%qd",
            "%Ld",
            "%jd",
            "%zd",
            "%td",
            "%hhu",
            "%hu",
            "%lu",
            "%llx",
            "%hhi",
            "%hi",
            "%li",
            "%1d",
            "%2d",
            "%3i",
            "%1x",
            "%2x",
            "%3x",
            "%2i",
            "%5p",
            "%4p",
            "%*d%d",
            "%d%n",
            "%d %d %d",
            "%d,%d,%d",
            "%*d%n",
            "%n%d",
            "%hhn%d%hn",
            "%ln",
            "%lln",
            "%2$d %1$d",
            "%1$d",
            "%0$d",
            "%*2d%d",
        ];
        for i in inputs {
            let i = i.replace("\\t", "\t").replace("\\n", "\n");
            for f in fmts {
                c(&i, f);
            }
        }
    }

    #[test]
    fn strings_and_sets() {
        let inputs = [
            "",
            " ",
            "abc",
            "  abc def",
            "abc\tdef",
            "a]b-c^d",
            "---",
            "]]]",
            "x",
            "hello world",
            "\u{e9}t\u{e9}",
            "zzzz",
        ];
        let fmts = [
            "%s",
            "%3s",
            "%1s",
            "%c",
            "%3c",
            "%5c",
            "%*c%c",
            "%c%n",
            " %c",
            "%s%n",
            "%s %s",
            "%[a-c]",
            "%[^a-c]",
            "%[]a]",
            "%[^]a]",
            "%[-a]",
            "%[a-]",
            "%[z-a]",
            "%[--a]",
            "%[a-c-e]",
            "%2[a-z]",
            "%[^ ]%n",
            "%[^\n]",
            "%[",
            "%[^",
            "%[]",
            "%[a",
            " %[a-z]",
            "%*[a-z]%n",
            "%ls",
            "%lc",
            "%3lc",
            "%l[a-z]",
            "%S",
            "%C",
            "%%",
            " %%",
            "%%%d",
            "abc%n",
            "ab",
            "a b",
            "a  c",
            " ",
            "%y",
            "%",
            "%5",
            "%hh",
            "%[\u{e0}-\u{ff}]",
            "%[^\u{e9}]",
            "%[a-\u{ff}]",
            "%ms",
        ];
        for i in inputs {
            let i = i.replace("\\t", "\t").replace("\\u{e9}", "\u{e9}");
            for f in fmts {
                if f == "%ms" {
                    continue;
                }
                c(&i, f);
            }
        }
    }

    #[test]
    fn explicit_values() {
        let run = |input: &[u8], fmt: &[u8]| {
            let mut b = Buffers::new();
            let r = sscanf(input, fmt, &mut b).expect("supported");
            check(input, fmt);
            (r.ret, b)
        };
        let (r, b) = run(b"0xg", b"%x%n");
        assert_eq!(r, 1);
        assert_eq!(&b.slots[0][..4], &0u32.to_le_bytes());
        assert_eq!(&b.slots[1][..4], &2u32.to_le_bytes());
        let (r, b) = run(b"4294967297", b"%d");
        assert_eq!((r, &b.slots[0][..4]), (1, &1i32.to_le_bytes()[..]));
        let (r, b) = run(b"99999999999999999999", b"%d");
        assert_eq!((r, &b.slots[0][..4]), (1, &(-1i32).to_le_bytes()[..]));
        let (r, b) = run(b"300", b"%hhd");
        assert_eq!((r, b.slots[0][0]), (1, 44));
        let (r, _) = run(b"12", b"%*d%d");
        assert_eq!(r, -1);
        let (r, _) = run(b"", b"%n%d");
        assert_eq!(r, -1);
        let (r, _) = run(b"x", b"%d");
        assert_eq!(r, 0);
        let (r, b) = run(b"(nil)", b"%p");
        assert_eq!((r, &b.slots[0][..8]), (1, &[0u8; 8][..]));
        let (r, b) = run(b"ab", b"%5c");
        assert_eq!((r, &b.slots[0][..3]), (1, &b"ab\xaa"[..]));
    }

    #[test]
    fn malloc_flag_and_null_target() {
        struct Refuse;
        impl Stores for Refuse {
            fn store_int(&mut self, _: Target, _: IntSize, _: u64) {}
            fn begin_string(&mut self, _: Target, _: bool, alloc: bool) -> Result<(), StoreError> {
                Err(if alloc { StoreError::NoMemory } else { StoreError::NullTarget })
            }
            fn finish_string(&mut self, _: Text<'_>, _: bool) -> Result<(), StoreError> {
                Ok(())
            }
        }
        assert_eq!(sscanf(b"", b"%s", &mut Refuse), Ok(Scanned { ret: 0, errno: None }));
        assert_eq!(sscanf(b"abc", b"%ms", &mut Refuse), Ok(Scanned { ret: -1, errno: Some(12) }));
        let mut b = Buffers::new();
        assert_eq!(sscanf(b"abc def", b"%ms %m[a-z]", &mut b), Ok(Scanned { ret: 2, errno: None }));
        assert_eq!(&b.slots[0][..4], b"abc\0");
        assert_eq!(&b.slots[1][..4], b"def\0");
        assert_eq!(sscanf(b"1.5", b"%d%f", &mut Buffers::new()), Err(ScanError::Unsupported { done: 1 }));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn sweep(input in "[ 0-9a-fxX+\\-(nil)]{0,12}", w in proptest::option::of(1u32..6),
                 l in prop::sample::select(vec!["", "hh", "h", "l", "ll", "j", "z", "t"]),
                 conv in prop::sample::select(vec!["d", "i", "u", "o", "x", "X", "p", "s", "c", "[0-9a-f]", "[^x]", "n"]),
                 tail in prop::sample::select(vec!["", "%n", " %s", "%c", "x%d"]), star in any::<bool>()) {
            let wide_ok = !(l == "l" && matches!(conv, "s" | "c" | "[0-9a-f]" | "[^x]"));
            let l = if wide_ok { l } else { "" };
            let fmt = alloc::format!("{}{}{}{}{}", if star { "%*" } else { "%" }, w.map(|w| w.to_string()).unwrap_or_default(), l, conv, tail);
            check(input.as_bytes(), fmt.as_bytes());
        }
    }
}
