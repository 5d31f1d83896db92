//! GNU `getopt_long`, `getopt_long_only` and `getopt` exactly as glibc 2.36
//! behaves (`posix/getopt.c`), in the C locale.
//!
//! # Contract
//!
//! [`GetoptState`] is glibc's `struct _getopt_data` plus the three globals it
//! mirrors. glibc's wrapper copies the globals `optind` and `opterr` into its
//! private state before every call and copies `optind`, `optarg` and `optopt`
//! back afterwards; the FFI layer does the same with the public fields:
//! set [`GetoptState::optind`] and [`GetoptState::opterr`] from the C globals,
//! call [`GetoptState::getopt`], then write `optind`, `optopt` and `optarg`
//! (resolved with [`GetoptState::optarg`] to a pointer into `argv`) back.
//! Setting `optind = 0` re-initialises the scan (and re-reads the optstring's
//! `+`/`-` and `POSIXLY_CORRECT`); the initial state is uninitialised, as
//! glibc's static data, so the first call initialises too.
//!
//! `argv` is an [`Argv`]: its length is `argc`, its elements are byte
//! strings, and permutation really swaps its elements (glibc reorders the
//! caller's `argv`). Diagnostics (when `opterr` is non-zero and the optstring
//! does not start with `:`) are appended to `diag`; the FFI layer writes them
//! to `stderr`. Long options with a `flag` pointer are described by an opaque
//! non-zero identity ([`LongOption::flag`]); when such an option matches, the
//! result asks the caller to store `val` there and the call returns 0.
//!
//! # glibc behaviours reproduced (checked against the host glibc)
//!
//! * Ordering: permute non-options to the end by default; stop at the first
//!   non-option when the optstring starts with `+` or `POSIXLY_CORRECT` is
//!   set; return non-options as option 1 when it starts with `-`. A `:` after
//!   that prefix makes a missing argument return `:` and silences messages.
//! * `--` ends the options (and is permuted like an option); `-` alone is a
//!   non-option; clusters `-abc`; `x:` takes the rest of the element or the
//!   next element; `x::` only the rest of the element.
//! * Long options: `--name`, `--name=value`, `--name value` (has_arg 1), exact
//!   matches win over abbreviations, unique abbreviations match, abbreviations
//!   matching several options that differ in has_arg/flag/val are ambiguous
//!   (every later candidate is compared with the first one, as glibc does),
//!   `-W foo` with `W;` in the optstring, `getopt_long_only` (`-name`).
//! * `optopt`: the option character (or long option `val`) of the failing
//!   option, 0 for unrecognized and ambiguous long options, unchanged by
//!   successful calls; it starts at 0 after the first call (glibc's private
//!   copy starts at 0 and overwrites the global's initial `'?'`).
//! * Messages, byte for byte (`%s` is `argv[0]`):
//!   `%s: invalid option -- '%c'`, `%s: option requires an argument -- '%c'`,
//!   `%s: unrecognized option '%s%s'` (prefix and the whole element after the
//!   dashes, `=value` included), `%s: option '%s%s' is ambiguous;
//!   possibilities: '--a' '--b'`, `%s: option '%s%s' doesn't allow an
//!   argument`, `%s: option '%s%s' requires an argument` (prefix `--`, `-` or
//!   `-W `), each ending in a newline.
//! * Option characters are C `char`s, signed on x86_64: a byte above 0x7f is
//!   returned (and stored in `optopt`) as a negative number.
//! * `argc < 1` returns -1 without touching anything else (glibc then also
//!   leaves `optarg` as it was).
//!
//! An `optind` set by the caller below 0 or above `argc` is undefined
//! behaviour in C: here a negative one re-initialises like 0 and one above
//! `argc` makes the call return -1 without changing anything.

use alloc::vec::Vec;

/// The argument vector of a call.
pub trait Argv {
    /// `argc`.
    fn len(&self) -> usize;
    /// The bytes of `argv[i]` (without the NUL); empty past the end.
    fn arg(&self, i: usize) -> &[u8];
    /// Swaps `argv[i]` and `argv[j]`.
    fn swap(&mut self, i: usize, j: usize);
    /// Whether `argc` is 0.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: AsRef<[u8]>> Argv for [T] {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
    fn arg(&self, i: usize) -> &[u8] {
        self.get(i).map_or(&[], |a| a.as_ref())
    }
    fn swap(&mut self, i: usize, j: usize) {
        if i < <[T]>::len(self) && j < <[T]>::len(self) {
            <[T]>::swap(self, i, j);
        }
    }
}

impl<T: AsRef<[u8]>> Argv for Vec<T> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn arg(&self, i: usize) -> &[u8] {
        self.as_slice().arg(i)
    }
    fn swap(&mut self, i: usize, j: usize) {
        Argv::swap(self.as_mut_slice(), i, j)
    }
}

/// One `struct option`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongOption<'a> {
    /// `name`.
    pub name: &'a [u8],
    /// `has_arg`: 0 none, 1 required, 2 optional (any non-zero value allows
    /// `=value`; only 1 takes the next element).
    pub has_arg: i32,
    /// `flag`: None for NULL, else an opaque identity of the `int *` (its
    /// address), compared for the ambiguity rule.
    pub flag: Option<usize>,
    /// `val`.
    pub val: i32,
}

/// What a call returns besides the updated state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetoptResult {
    /// The return value of `getopt_long`.
    pub ret: i32,
    /// The value to store in `*longindex` (None: leave it).
    pub longindex: Option<usize>,
    /// A long option with a `flag`: store `.1` into the `int` identified by `.0`.
    pub store_flag: Option<(usize, i32)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ordering {
    RequireOrder,
    Permute,
    ReturnInOrder,
}

/// glibc's `struct _getopt_data` with the mirrored globals.
#[derive(Debug, Clone)]
pub struct GetoptState {
    /// `optind`, in and out.
    pub optind: i32,
    /// `opterr`, in.
    pub opterr: i32,
    /// `optopt`, out.
    pub optopt: i32,
    /// `optarg`, out: (argv index, byte offset), None for NULL.
    pub optarg: Option<(usize, usize)>,
    nextchar: Option<(usize, usize)>,
    ordering: Ordering,
    initialized: bool,
    first_nonopt: i32,
    last_nonopt: i32,
}

impl Default for GetoptState {
    fn default() -> Self {
        Self::new()
    }
}

/// Which entry point: `getopt`, `getopt_long` or `getopt_long_only`.
#[derive(Debug, Clone, Copy)]
struct Call<'o, 'l> {
    optstring: &'o [u8],
    longopts: Option<&'l [LongOption<'l>]>,
    long_only: bool,
    print_errors: bool,
}

/// A `char` (signed on x86_64) as the `int` glibc returns.
fn schar(c: u8) -> i32 {
    i32::from(c as i8)
}

fn push_msg(diag: &mut Vec<u8>, parts: &[&[u8]]) {
    for p in parts {
        diag.extend_from_slice(p);
    }
}

impl GetoptState {
    /// The state of a fresh process: `optind` 1, `opterr` 1, uninitialised.
    pub const fn new() -> Self {
        GetoptState {
            optind: 1,
            opterr: 1,
            optopt: 0,
            optarg: None,
            nextchar: None,
            ordering: Ordering::Permute,
            initialized: false,
            first_nonopt: 0,
            last_nonopt: 0,
        }
    }

    /// `getopt_long` (`long_only` false) or `getopt_long_only` (true); plain
    /// `getopt` is `longopts == None`. `posixly_correct`: whether the
    /// environment has `POSIXLY_CORRECT` (or the entry point is
    /// `__posix_getopt`); only consulted when the scan is initialised.
    pub fn getopt<A: Argv + ?Sized>(
        &mut self,
        argv: &mut A,
        optstring: &[u8],
        longopts: Option<&[LongOption<'_>]>,
        long_only: bool,
        posixly_correct: bool,
        diag: &mut Vec<u8>,
    ) -> GetoptResult {
        let mut res = GetoptResult { ret: -1, longindex: None, store_flag: None };
        let argc = i32::try_from(argv.len()).unwrap_or(i32::MAX).min(i32::MAX - 2);
        if argc < 1 {
            return res;
        }
        if self.optind > argc {
            // Undefined behaviour in C (glibc reads past argv): end the scan.
            return res;
        }
        self.optarg = None;
        let mut optstring = optstring;
        if self.optind <= 0 || !self.initialized {
            optstring = self.initialize(optstring, posixly_correct);
        } else if matches!(optstring.first(), Some(b'-' | b'+')) {
            optstring = optstring.get(1..).unwrap_or_default();
        }
        let print_errors = self.opterr != 0 && optstring.first() != Some(&b':');
        let call = Call { optstring, longopts, long_only, print_errors };
        res.ret = self.internal(argv, argc, &call, &mut res, diag);
        res
    }

    fn initialize<'o>(&mut self, optstring: &'o [u8], posixly_correct: bool) -> &'o [u8] {
        if self.optind <= 0 {
            self.optind = 1;
        }
        self.first_nonopt = self.optind;
        self.last_nonopt = self.optind;
        self.nextchar = None;
        let rest = optstring.get(1..).unwrap_or_default();
        let out = match optstring.first() {
            Some(b'-') => {
                self.ordering = Ordering::ReturnInOrder;
                rest
            }
            Some(b'+') => {
                self.ordering = Ordering::RequireOrder;
                rest
            }
            _ => {
                self.ordering = if posixly_correct { Ordering::RequireOrder } else { Ordering::Permute };
                optstring
            }
        };
        self.initialized = true;
        out
    }

    fn idx(v: i32) -> usize {
        usize::try_from(v).unwrap_or(0)
    }

    /// The bytes of `nextchar` (empty when NULL).
    fn nextchar_bytes<'a, A: Argv + ?Sized>(&self, argv: &'a A) -> &'a [u8] {
        match self.nextchar {
            Some((i, off)) => argv.arg(i).get(off..).unwrap_or_default(),
            None => &[],
        }
    }

    fn nonoption<A: Argv + ?Sized>(argv: &A, i: i32) -> bool {
        let a = argv.arg(Self::idx(i));
        a.first() != Some(&b'-') || a.len() == 1
    }

    /// glibc's `exchange`: moves the non-options `[first_nonopt,
    /// last_nonopt)` after the options `[last_nonopt, optind)`.
    fn exchange<A: Argv + ?Sized>(&mut self, argv: &mut A) {
        let mut bottom = self.first_nonopt;
        let middle = self.last_nonopt;
        let mut top = self.optind;
        while top > middle && middle > bottom {
            if top - middle > middle - bottom {
                let len = middle - bottom;
                for i in 0..len {
                    argv.swap(Self::idx(bottom + i), Self::idx(top - (middle - bottom) + i));
                }
                top -= len;
            } else {
                let len = top - middle;
                for i in 0..len {
                    argv.swap(Self::idx(bottom + i), Self::idx(middle + i));
                }
                bottom += len;
            }
        }
        self.first_nonopt += self.optind - self.last_nonopt;
        self.last_nonopt = self.optind;
    }

    fn internal<A: Argv + ?Sized>(
        &mut self,
        argv: &mut A,
        argc: i32,
        call: &Call<'_, '_>,
        res: &mut GetoptResult,
        diag: &mut Vec<u8>,
    ) -> i32 {
        let optstring = call.optstring;
        if self.nextchar_bytes(argv).is_empty() {
            if self.last_nonopt > self.optind {
                self.last_nonopt = self.optind;
            }
            if self.first_nonopt > self.optind {
                self.first_nonopt = self.optind;
            }
            if self.ordering == Ordering::Permute {
                if self.first_nonopt != self.last_nonopt && self.last_nonopt != self.optind {
                    self.exchange(argv);
                } else if self.last_nonopt != self.optind {
                    self.first_nonopt = self.optind;
                }
                while self.optind < argc && Self::nonoption(argv, self.optind) {
                    self.optind += 1;
                }
                self.last_nonopt = self.optind;
            }
            if self.optind != argc && argv.arg(Self::idx(self.optind)) == b"--" {
                self.optind += 1;
                if self.first_nonopt != self.last_nonopt && self.last_nonopt != self.optind {
                    self.exchange(argv);
                } else if self.first_nonopt == self.last_nonopt {
                    self.first_nonopt = self.optind;
                }
                self.last_nonopt = argc;
                self.optind = argc;
            }
            if self.optind == argc {
                if self.first_nonopt != self.last_nonopt {
                    self.optind = self.first_nonopt;
                }
                return -1;
            }
            if Self::nonoption(argv, self.optind) {
                if self.ordering == Ordering::RequireOrder {
                    return -1;
                }
                self.optarg = Some((Self::idx(self.optind), 0));
                self.optind += 1;
                return 1;
            }
            let cur = Self::idx(self.optind);
            if call.longopts.is_some() {
                let a = argv.arg(cur);
                if a.get(1) == Some(&b'-') {
                    self.nextchar = Some((cur, 2));
                    return self.process_long_option(argv, argc, call, call.long_only, b"--", res, diag);
                }
                if call.long_only {
                    let second = a.get(1).copied().unwrap_or(0);
                    if a.len() > 2 || !optstring.contains(&second) {
                        self.nextchar = Some((cur, 1));
                        let code = self.process_long_option(argv, argc, call, true, b"-", res, diag);
                        if code != -1 {
                            return code;
                        }
                    }
                }
            }
            self.nextchar = Some((cur, 1));
        }
        // The next short option character.
        let Some((ni, noff)) = self.nextchar else {
            return -1;
        };
        let c = argv.arg(ni).get(noff).copied().unwrap_or(0);
        self.nextchar = Some((ni, noff + 1));
        let rest_empty = self.nextchar_bytes(argv).is_empty();
        if rest_empty {
            self.optind += 1;
        }
        let temp = optstring.iter().position(|&b| b == c);
        let Some(tpos) = temp.filter(|_| c != b':' && c != b';') else {
            if call.print_errors {
                push_msg(diag, &[argv.arg(0), b": invalid option -- '", &[c], b"'\n"]);
            }
            self.optopt = schar(c);
            return i32::from(b'?');
        };
        let t1 = optstring.get(tpos + 1).copied().unwrap_or(0);
        let t2 = optstring.get(tpos + 2).copied().unwrap_or(0);
        if c == b'W' && t1 == b';' && call.longopts.is_some() {
            let arg_at = if !rest_empty {
                self.nextchar
            } else if self.optind == argc {
                if call.print_errors {
                    push_msg(diag, &[argv.arg(0), b": option requires an argument -- '", &[c], b"'\n"]);
                }
                self.optopt = schar(c);
                return i32::from(if optstring.first() == Some(&b':') { b':' } else { b'?' });
            } else {
                Some((Self::idx(self.optind), 0))
            };
            self.nextchar = arg_at;
            self.optarg = None;
            return self.process_long_option(argv, argc, call, false, b"-W ", res, diag);
        }
        if t1 == b':' {
            if t2 == b':' {
                if !rest_empty {
                    self.optarg = self.nextchar;
                    self.optind += 1;
                } else {
                    self.optarg = None;
                }
                self.nextchar = None;
            } else {
                let mut ret = c;
                if !rest_empty {
                    self.optarg = self.nextchar;
                    self.optind += 1;
                } else if self.optind == argc {
                    if call.print_errors {
                        push_msg(diag, &[argv.arg(0), b": option requires an argument -- '", &[c], b"'\n"]);
                    }
                    self.optopt = schar(c);
                    ret = if optstring.first() == Some(&b':') { b':' } else { b'?' };
                } else {
                    self.optarg = Some((Self::idx(self.optind), 0));
                    self.optind += 1;
                }
                self.nextchar = None;
                return schar(ret);
            }
        }
        schar(c)
    }

    /// glibc's `process_long_option`; -1 means "not a long option" (only
    /// with `long_only`).
    #[allow(clippy::too_many_arguments)]
    fn process_long_option<A: Argv + ?Sized>(
        &mut self,
        argv: &mut A,
        argc: i32,
        call: &Call<'_, '_>,
        long_only: bool,
        prefix: &[u8],
        res: &mut GetoptResult,
        diag: &mut Vec<u8>,
    ) -> i32 {
        let Some(longopts) = call.longopts else {
            return -1;
        };
        let Some((ni, noff)) = self.nextchar else {
            return -1;
        };
        let next: Vec<u8> = self.nextchar_bytes(argv).to_vec();
        let namelen = next.iter().position(|&b| b == b'=').unwrap_or(next.len());
        let name = next.get(..namelen).unwrap_or_default();
        let mut found: Option<usize> = longopts.iter().position(|o| o.name == name);
        if found.is_none() {
            let mut ambig_set: Option<Vec<bool>> = None;
            let mut ambig_fallback = false;
            let mut first: Option<usize> = None;
            for (k, o) in longopts.iter().enumerate() {
                if !o.name.starts_with(name) {
                    continue;
                }
                match first {
                    None => first = Some(k),
                    Some(f) => {
                        let p = longopts.get(f).copied().unwrap_or(*o);
                        let differs = long_only || p.has_arg != o.has_arg || p.flag != o.flag || p.val != o.val;
                        if differs && !ambig_fallback {
                            if !call.print_errors {
                                ambig_fallback = true;
                            } else {
                                let set = ambig_set.get_or_insert_with(|| {
                                    let mut s = alloc::vec![false; longopts.len()];
                                    if let Some(x) = s.get_mut(f) {
                                        *x = true;
                                    }
                                    s
                                });
                                if let Some(x) = set.get_mut(k) {
                                    *x = true;
                                }
                            }
                        }
                    }
                }
            }
            if ambig_set.is_some() || ambig_fallback {
                if call.print_errors {
                    push_msg(diag, &[argv.arg(0), b": option '", prefix, &next, b"' is ambiguous; possibilities:"]);
                    if let Some(set) = &ambig_set {
                        for (o, _) in longopts.iter().zip(set.iter()).filter(|(_, &m)| m) {
                            push_msg(diag, &[b" '", prefix, o.name, b"'"]);
                        }
                    }
                    diag.push(b'\n');
                }
                self.nextchar = Some((ni, noff + next.len()));
                self.optind += 1;
                self.optopt = 0;
                return i32::from(b'?');
            }
            found = first;
        }
        let Some(index) = found else {
            let cur = argv.arg(Self::idx(self.optind));
            // strchr(optstring, c) also finds the terminating NUL.
            let c0 = next.first().copied().unwrap_or(0);
            let in_optstring = c0 == 0 || call.optstring.contains(&c0);
            if !long_only || cur.get(1) == Some(&b'-') || !in_optstring {
                if call.print_errors {
                    push_msg(diag, &[argv.arg(0), b": unrecognized option '", prefix, &next, b"'\n"]);
                }
                self.nextchar = None;
                self.optind += 1;
                self.optopt = 0;
                return i32::from(b'?');
            }
            return -1;
        };
        let Some(opt) = longopts.get(index).copied() else {
            return -1;
        };
        self.optind += 1;
        self.nextchar = None;
        if namelen < next.len() {
            if opt.has_arg != 0 {
                self.optarg = Some((ni, noff + namelen + 1));
            } else {
                if call.print_errors {
                    push_msg(diag, &[argv.arg(0), b": option '", prefix, opt.name, b"' doesn't allow an argument\n"]);
                }
                self.optopt = opt.val;
                return i32::from(b'?');
            }
        } else if opt.has_arg == 1 {
            if self.optind < argc {
                self.optarg = Some((Self::idx(self.optind), 0));
                self.optind += 1;
            } else {
                if call.print_errors {
                    push_msg(diag, &[argv.arg(0), b": option '", prefix, opt.name, b"' requires an argument\n"]);
                }
                self.optopt = opt.val;
                return i32::from(if call.optstring.first() == Some(&b':') { b':' } else { b'?' });
            }
        }
        res.longindex = Some(index);
        if let Some(flag) = opt.flag {
            res.store_flag = Some((flag, opt.val));
            return 0;
        }
        opt.val
    }

    /// The `optarg` of the last call as bytes of `argv` (what the C pointer
    /// points at), if any.
    pub fn optarg_bytes<'a, A: Argv + ?Sized>(&self, argv: &'a A) -> Option<&'a [u8]> {
        self.optarg.map(|(i, off)| argv.arg(i).get(off..).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{host_getopt_run, host_optopt, Entry, HostLongOpt, Run, Step, GLIBC_LOCK};
    use alloc::string::String;
    use alloc::vec;
    use proptest::prelude::*;

    extern crate std;

    #[allow(clippy::too_many_arguments)]
    fn engine_run(
        args: &[Vec<u8>],
        optstring: &[u8],
        longopts: &[HostLongOpt],
        entry: &Entry,
        opterr: i32,
        posixly: bool,
        max: usize,
        optopt0: i32,
    ) -> Run {
        let mut argv: Vec<Vec<u8>> = args.to_vec();
        let lo: Vec<LongOption<'_>> = longopts
            .iter()
            .map(|o| LongOption { name: &o.0, has_arg: o.1, flag: o.2.map(|k| k + 1), val: o.3 })
            .collect();
        let mut st = GetoptState::new();
        st.optind = 0;
        st.opterr = opterr;
        st.optopt = optopt0;
        let mut diag = Vec::new();
        let mut steps = Vec::new();
        for _ in 0..max {
            let (longs, long_only) = match entry {
                Entry::Getopt => (None, false),
                Entry::Long => (Some(lo.as_slice()), false),
                Entry::LongOnly => (Some(lo.as_slice()), true),
            };
            let r = st.getopt(&mut argv, optstring, longs, long_only, posixly, &mut diag);
            steps.push(Step {
                ret: r.ret,
                optind: st.optind,
                optopt: st.optopt,
                optarg: st.optarg,
                longindex: r.longindex.map_or(-1, |i| i as i32),
                flag_store: r.store_flag.map(|(id, v)| (id - 1, v)),
            });
            if r.ret == -1 {
                break;
            }
        }
        Run { steps, final_argv: argv, stderr: diag }
    }

    fn lopts() -> Vec<HostLongOpt> {
        vec![
            (b"help".to_vec(), 0, None, b'h' as i32),
            (b"flat".to_vec(), 0, None, b'f' as i32),
            (b"prefix".to_vec(), 0, None, b'p' as i32),
            (b"tidy".to_vec(), 0, None, b't' as i32),
            (b"upto".to_vec(), 0, None, b'u' as i32),
            (b"recurse".to_vec(), 0, None, b'r' as i32),
            (b"number".to_vec(), 1, None, b'n' as i32),
            (b"raw".to_vec(), 0, None, b'R' as i32),
            (b"opt".to_vec(), 2, None, b'o' as i32),
            (b"verbose".to_vec(), 0, Some(0), 1),
            (b"verify".to_vec(), 0, Some(1), 2),
            (b"vers".to_vec(), 0, Some(0), 1),
            (b"pre".to_vec(), 1, None, 300),
        ]
    }

    fn compare(args: &[&str], optstring: &str, entry: Entry, opterr: i32, posixly: bool) {
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        let lo = lopts();
        let _g = GLIBC_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        // glibc's internal getopt state starts zeroed while the global
        // `optopt` starts as '?': its first call ever copies the internal 0
        // out. Prime it once, so that every comparison starts from a state
        // the global describes, whatever test runs first.
        static PRIMED: std::sync::Once = std::sync::Once::new();
        PRIMED.call_once(|| {
            let _ = host_getopt_run(&[b"prime".to_vec()], b"", &[], Entry::Getopt, 0, false, 2);
        });
        let optopt0 = host_optopt();
        let host = host_getopt_run(&args, optstring.as_bytes(), &lo, entry_clone(&entry), opterr, posixly, 40);
        let ours = engine_run(&args, optstring.as_bytes(), &lo, &entry, opterr, posixly, 40, optopt0);
        assert_eq!(
            ours,
            host,
            "argv {:?} optstring {:?}\nours stderr: {}\nhost stderr: {}",
            args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>(),
            optstring,
            String::from_utf8_lossy(&ours.stderr),
            String::from_utf8_lossy(&host.stderr)
        );
    }

    fn entry_clone(e: &Entry) -> Entry {
        match e {
            Entry::Getopt => Entry::Getopt,
            Entry::Long => Entry::Long,
            Entry::LongOnly => Entry::LongOnly,
        }
    }

    #[test]
    fn xenstore_usage() {
        let os = "hfspturn:R";
        let cases: &[&[&str]] = &[
            &["read", "-p", "/local/domain"],
            &["read", "/a", "-p", "/b"],
            &["read", "-x"],
            &["read", "--bogus"],
            &["read", "--pre"],
            &["read", "--p"],
            &["watch", "-n"],
            &["watch", "-n", "3", "/a"],
            &["watch", "-n3", "/a"],
            &["watch", "--number=3", "/a"],
            &["watch", "--number", "3", "/a"],
            &["watch", "--number"],
            &["watch", "--num=4"],
            &["ls", "--flat=1"],
            &["ls", "--help"],
            &["ls", "--he"],
            &["ls", "-fps", "/"],
            &["ls", "-f", "--", "-p"],
            &["ls", "-", "-p"],
            &["ls", "a", "b", "-p", "c", "-s", "--", "-f", "d"],
            &["rm", "-t", "-Z", "x"],
            &["chmod", "-u", "-r", "/a", "n0", "r1"],
            &["write", "/a", "-1"],
        ];
        for c in cases {
            compare(c, os, Entry::Long, 1, false);
            compare(c, os, Entry::Long, 0, false);
            compare(c, os, Entry::Long, 1, true);
            compare(c, ":hfspturn:R", Entry::Long, 1, false);
            compare(c, "+hfspturn:R", Entry::Long, 1, false);
            compare(c, "-hfspturn:R", Entry::Long, 1, false);
            compare(c, "-:hfspturn:R", Entry::Long, 1, false);
            compare(c, os, Entry::LongOnly, 1, false);
            compare(c, os, Entry::Getopt, 1, false);
        }
    }

    #[test]
    fn messages_exact() {
        let lo = lopts();
        let mk = |v: &[&str]| -> Vec<Vec<u8>> { v.iter().map(|a| a.as_bytes().to_vec()).collect() };
        let cases: &[(&[&str], &str)] = &[
            (
                &["prog", "-x", "--nope=1", "--ver", "--help=3", "--number"],
                "prog: invalid option -- 'x'\n\
                 prog: unrecognized option '--nope=1'\n\
                 prog: option '--ver' is ambiguous; possibilities: '--verbose' '--verify'\n\
                 prog: option '--help' doesn't allow an argument\n\
                 prog: option '--number' requires an argument\n",
            ),
            (&["read", "-n"], "read: option requires an argument -- 'n'\n"),
            (&["p", "-W"], "p: option requires an argument -- 'W'\n"),
            (&["p", "-W", "pre"], "p: option '-W pre' requires an argument\n"),
            (&["p", "-W", "zzz"], "p: unrecognized option '-W zzz'\n"),
        ];
        for (args, want) in cases {
            let args = mk(args);
            let _g = GLIBC_LOCK.lock().unwrap_or_else(|p| p.into_inner());
            let optopt0 = host_optopt();
            let host = host_getopt_run(&args, b"hn:W;", &lo, Entry::Long, 1, false, 40);
            let ours = engine_run(&args, b"hn:W;", &lo, &Entry::Long, 1, false, 40, optopt0);
            assert_eq!(String::from_utf8_lossy(&ours.stderr), *want);
            assert_eq!(ours, host);
        }
    }

    #[test]
    fn tricky_cases() {
        let cases: &[(&[&str], &str)] = &[
            (&["p", "-a", "-b", "x"], "ab:"),
            (&["p", "-abx"], "ab:"),
            (&["p", "-ab"], "ab:"),
            (&["p", "-ab", "--", "z"], "ab:"),
            (&["p", "-c", "-cfoo", "-c", "foo"], "c::"),
            (&["p", "x", "y", "-a", "z", "-b", "w", "v", "-a"], "ab:"),
            (&["p", "x", "--", "y"], "a"),
            (&["p", "--"], "a"),
            (&["p"], "a"),
            (&["p", "-:"], "a:"),
            (&["p", "-;"], "a;"),
            (&["p", "-W", "verbose"], "W;"),
            (&["p", "-Wverbose", "-W", "pre=1", "-W"], "W;"),
            (&["p", "-W", "nope"], "W;"),
            (&["p", "-Wpre"], "W;"),
            (&["p", "-Wpre", "x"], "W;"),
            (&["p", "--opt", "--opt=5", "--opt", "6"], "o"),
            (&["p", "--vers", "--verb", "--veri"], ""),
            (&["p", "--v"], ""),
            (&["p", "--=x"], ""),
            (&["p", "--", "--help"], ""),
            (&["p", "-help", "-h", "-hel", "-pre=4", "-p", "-x", "-number", "3", "-o"], "hp"),
            (&["p", "-r", "-raw", "-re", "-pr"], "r"),
            (&["p", "a", "b", "c", "-h"], "h"),
            (&["p", "-h", "a", "-h", "b", "-h", "c"], "h"),
            (&["p", "-\u{e9}"], "h"),
        ];
        for (args, os) in cases {
            for entry in [Entry::Getopt, Entry::Long, Entry::LongOnly] {
                for (opterr, posixly) in [(1, false), (0, false), (1, true)] {
                    compare(args, os, entry_clone(&entry), opterr, posixly);
                }
            }
        }
    }

    #[test]
    fn optind_reset_and_argc_zero() {
        let mut st = GetoptState::new();
        let mut diag = Vec::new();
        let mut argv: Vec<&[u8]> = vec![b"p", b"-a", b"x"];
        assert_eq!(st.getopt(&mut argv, b"a", None, false, false, &mut diag).ret, i32::from(b'a'));
        assert_eq!(st.getopt(&mut argv, b"a", None, false, false, &mut diag).ret, -1);
        assert_eq!(st.optind, 2);
        st.optind = 0;
        assert_eq!(st.getopt(&mut argv, b"a", None, false, false, &mut diag).ret, i32::from(b'a'));
        let mut empty: Vec<&[u8]> = Vec::new();
        st.optarg = Some((7, 0));
        assert_eq!(st.getopt(&mut empty, b"a", None, false, false, &mut diag).ret, -1);
        assert_eq!(st.optarg, Some((7, 0)));
        assert!(diag.is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]
        #[test]
        fn sweep(args in proptest::collection::vec(prop::sample::select(vec![
                    "-a", "-b", "-c", "-ab", "-ba", "-bx", "-cz", "-x", "-", "--", "x", "y", "--help", "--he", "--h",
                    "--number=2", "--number", "--num", "--opt", "--opt=1", "--ver", "--verbose", "--verify", "--vers",
                    "--pre", "--pre=", "--p", "--=", "-help", "-pre", "-W", "-Wraw", "--raw=1", "-:", "-n", "-nfoo"]), 0..8),
                 os in prop::sample::select(vec!["ab:c::", "+ab:c::", "-ab:c::", ":ab:c::", "+:ab", "-:b:", "abW;n:", "", "hn:p"]),
                 entry in 0u8..3, opterr in 0i32..2, posixly in any::<bool>()) {
            let mut full = vec!["prog"];
            full.extend(args.iter().copied());
            let e = match entry { 0 => Entry::Getopt, 1 => Entry::Long, _ => Entry::LongOnly };
            compare(&full, os, e, opterr, posixly);
        }
    }
}
