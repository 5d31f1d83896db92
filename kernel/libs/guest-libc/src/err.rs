//! The messages of glibc 2.36's `err`/`errx`/`warn`/`warnx` (and their `v`
//! forms), `__assert_fail`, `__stack_chk_fail`, `__chk_fail` and
//! `__libc_fatal`, and the derivation of `program_invocation_short_name`.
//!
//! # Contract
//!
//! glibc writes these messages to `stderr` with several `fprintf` calls; on
//! the unbuffered `stderr` each call is one `write(2)`. The functions here
//! return the calls' outputs in order ([`Pieces`]); the FFI layer writes each
//! non-empty piece with its own `write` (through [`crate::stdio`]'s
//! unbuffered stream or directly), then `exit`s or aborts. The user's format
//! is expanded by the caller with [`crate::printf`] (with the `errno` of the
//! call, so `%m` works) and passed in as bytes (`None` for a NULL format).
//!
//! # glibc behaviours reproduced (checked against the host glibc)
//!
//! * `warnx(fmt, ...)`: `"<prog>: "`, the formatted text, `"\n"`; with a NULL
//!   format `"<prog>: "` and `"\n"`.
//! * `warn(fmt, ...)`: `"<prog>: "`, the text, `": <strerror(errno)>\n"`;
//!   with a NULL format one piece `"<prog>: <strerror(errno)>\n"`. The errno
//!   is the one at entry (glibc saves it before printing).
//! * `err`/`errx` print as `warn`/`warnx` then call `exit(status)` (which
//!   flushes `stdout`).
//! * `__assert_fail(assertion, file, line, function)`: one piece
//!   `"<prog>: <file>:<line>: <function>: Assertion `<assertion>' failed.\n"`
//!   (no `"<prog>: "` when the program name is empty, no `"<function>: "`
//!   when it is NULL); then `abort()` (SIGABRT; `stdout` is not flushed).
//! * `__stack_chk_fail`: `"*** stack smashing detected ***: terminated\n"`,
//!   `__chk_fail`: `"*** buffer overflow detected ***: terminated\n"`, one
//!   `writev` to fd 2 each, then `abort()`. `__libc_fatal(msg)` writes `msg`.
//! * `program_invocation_short_name` (`__progname`) is what follows the last
//!   `/` of `argv[0]` (all of it when there is none); it is `""` when
//!   `argv[0]` is NULL.

use alloc::borrow::Cow;
use alloc::vec::Vec;

use crate::printf::{self, PrintfOptions};
use crate::strerror::strerror_into;

/// The outputs of consecutive `fprintf(stderr, ...)` calls. The program's
/// own bytes (its text, its name) are borrowed, not copied: their size is
/// the program's to choose, and copying them could exhaust the heap.
pub type Pieces<'a> = Vec<Cow<'a, [u8]>>;

/// `program_invocation_short_name` for `argv[0]` (None: NULL).
pub fn short_name(argv0: Option<&[u8]>) -> &[u8] {
    match argv0 {
        None => &[],
        Some(a) => match a.iter().rposition(|&b| b == b'/') {
            Some(i) => a.get(i + 1..).unwrap_or_default(),
            None => a,
        },
    }
}

/// `"<prog>: "` followed by `tail`, as one piece (one `fprintf`), with
/// room for `extra` more bytes; when the name is too big to copy, the name
/// and the rest as two pieces (the same bytes, written in two calls).
fn prefix<'a>(progname: &'a [u8], tail: &[u8], extra: usize) -> Vec<Cow<'a, [u8]>> {
    let mut p: Vec<u8> = Vec::new();
    if p.try_reserve_exact(progname.len() + 2 + tail.len() + extra).is_ok() {
        p.extend_from_slice(progname);
        p.extend_from_slice(b": ");
        p.extend_from_slice(tail);
        return alloc::vec![Cow::Owned(p)];
    }
    let mut rest = b": ".to_vec();
    rest.extend_from_slice(tail);
    alloc::vec![Cow::Borrowed(progname), Cow::Owned(rest)]
}

/// `vwarnx`: the pieces written to `stderr`.
pub fn warnx<'a>(progname: &'a [u8], text: Option<&'a [u8]>) -> Pieces<'a> {
    let mut v = prefix(progname, b"", 0);
    if let Some(t) = text {
        v.push(Cow::Borrowed(t));
    }
    v.push(Cow::Borrowed(b"\n"));
    v.retain(|p| !p.is_empty());
    v
}

/// `vwarn` with `errno` at entry.
pub fn warn<'a>(progname: &'a [u8], text: Option<&'a [u8]>, errno: i32) -> Pieces<'a> {
    let mut v;
    match text {
        Some(t) => {
            v = prefix(progname, b"", 0);
            v.push(Cow::Borrowed(t));
            let mut tail = b": ".to_vec();
            strerror_into(errno, &mut tail);
            tail.push(b'\n');
            v.push(Cow::Owned(tail));
        }
        None => {
            let mut tail = Vec::new();
            strerror_into(errno, &mut tail);
            tail.push(b'\n');
            v = prefix(progname, &tail, 0);
        }
    }
    v.retain(|p| !p.is_empty());
    v
}

/// The message of `__assert_fail` (written as one piece before `abort`).
pub fn assert_fail(progname: &[u8], assertion: &[u8], file: &[u8], line: u32, function: Option<&[u8]>) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(progname);
    if !progname.is_empty() {
        m.extend_from_slice(b": ");
    }
    m.extend_from_slice(file);
    m.push(b':');
    crate::strerror::push_unsigned(u64::from(line), &mut m);
    m.extend_from_slice(b": ");
    if let Some(f) = function {
        m.extend_from_slice(f);
        m.extend_from_slice(b": ");
    }
    m.extend_from_slice(b"Assertion `");
    m.extend_from_slice(assertion);
    m.extend_from_slice(b"' failed.\n");
    m
}

/// `__fortify_fail(msg)`'s message.
pub fn fortify_fail(msg: &[u8]) -> Vec<u8> {
    let mut m = b"*** ".to_vec();
    m.extend_from_slice(msg);
    m.extend_from_slice(b" ***: terminated\n");
    m
}

/// `__stack_chk_fail`'s message.
pub const STACK_SMASHING: &[u8] = b"*** stack smashing detected ***: terminated\n";
/// `__chk_fail`'s message (the `_chk` functions' overflow checks).
pub const BUFFER_OVERFLOW: &[u8] = b"*** buffer overflow detected ***: terminated\n";

/// Formats a user format for `warn`/`warnx` with the printf engine
/// (convenience for the FFI layer); a failed format yields what was produced
/// before the failure, as glibc writes it.
pub fn format_text<A: printf::Args + ?Sized>(fmt: &[u8], args: &mut A, errno: i32) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = printf::format(fmt, args, &mut out, &PrintfOptions { errno, ..Default::default() });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{in_child, ChildCall};
    use alloc::vec;

    extern crate std;

    fn progname() -> Vec<u8> {
        let a0 = std::env::args_os().next().map(|a| a.into_encoded_bytes());
        short_name(a0.as_deref()).to_vec()
    }

    #[test]
    fn short_names() {
        assert_eq!(short_name(Some(b"/usr/bin/xenstore-read")), b"xenstore-read");
        assert_eq!(short_name(Some(b"xenstore")), b"xenstore");
        assert_eq!(short_name(Some(b"dir/")), b"");
        assert_eq!(short_name(None), b"");
    }

    #[test]
    fn warn_family_matches_glibc() {
        let p = progname();
        let cases: Vec<(ChildCall, Vec<u8>, Option<i32>)> = vec![
            (
                ChildCall::Warnx(Some(b"could not write path %s".to_vec()), b"/a".to_vec()),
                warnx(&p, Some(b"could not write path /a")).concat(),
                None,
            ),
            (ChildCall::Warnx(None, Vec::new()), warnx(&p, None).concat(), None),
            (ChildCall::Warn(Some(b"xs_open".to_vec()), 2), warn(&p, Some(b"xs_open"), 2).concat(), None),
            (ChildCall::Warn(None, 13), warn(&p, None, 13).concat(), None),
            (
                ChildCall::Warn(Some(b"\ncould not access permissions for e".to_vec()), 2),
                warn(&p, Some(b"\ncould not access permissions for e"), 2).concat(),
                None,
            ),
            (
                ChildCall::Errx(1, b"Usage: %s <mode> [-h] [...]".to_vec()),
                warnx(&p, Some(b"Usage: %s <mode> [-h] [...]")).concat(),
                Some(1),
            ),
            (ChildCall::Err(3, b"xs_open".to_vec(), 110), warn(&p, Some(b"xs_open"), 110).concat(), Some(3)),
            (
                ChildCall::Assert(
                    b"len < INT_MAX/5".to_vec(),
                    b"xs_lib.c".to_vec(),
                    217,
                    Some(b"sanitise_value".to_vec()),
                ),
                assert_fail(&p, b"len < INT_MAX/5", b"xs_lib.c", 217, Some(b"sanitise_value")),
                Some(-6),
            ),
            (
                ChildCall::Assert(b"x".to_vec(), b"f.c".to_vec(), 0, None),
                assert_fail(&p, b"x", b"f.c", 0, None),
                Some(-6),
            ),
            (ChildCall::StackChk, STACK_SMASHING.to_vec(), Some(-6)),
            (ChildCall::ChkFail, BUFFER_OVERFLOW.to_vec(), Some(-6)),
        ];
        for (call, want, status) in cases {
            let (out, st) = in_child(&call);
            // The %s of the warnx case is filled by the child with its arg.
            let want = if let ChildCall::Errx(..) = call {
                let mut w = p.clone();
                w.extend_from_slice(b": Usage: ");
                w.extend_from_slice(&p);
                w.extend_from_slice(b" <mode> [-h] [...]\n");
                w
            } else {
                want
            };
            assert_eq!(
                alloc::string::String::from_utf8_lossy(&out),
                alloc::string::String::from_utf8_lossy(&want),
                "{call:?}"
            );
            assert_eq!(st, status.unwrap_or(0), "{call:?}");
        }
        assert_eq!(fortify_fail(b"buffer overflow detected"), BUFFER_OVERFLOW);
    }

    #[test]
    fn pieces_are_separate_writes() {
        let owned = |p: Pieces| p.into_iter().map(|c| c.into_owned()).collect::<Vec<_>>();
        assert_eq!(
            owned(warnx(b"xenstore-read", Some(b"couldn't read path /x"))),
            vec![b"xenstore-read: ".to_vec(), b"couldn't read path /x".to_vec(), b"\n".to_vec()]
        );
        assert_eq!(owned(warnx(b"p", Some(b""))), vec![b"p: ".to_vec(), b"\n".to_vec()]);
        assert_eq!(owned(warn(b"p", None, 0)), vec![b"p: Success\n".to_vec()]);
        assert_eq!(assert_fail(b"", b"x", b"a.c", 5, None), b"a.c:5: Assertion `x' failed.\n".to_vec());
    }
}
