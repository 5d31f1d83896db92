//! Node names and argument strings, checked the way C xenstored 4.17 checks
//! them (`tools/xenstore/xenstored_core.c`: `is_valid_nodename`,
//! `canonicalize`, `get_parent`, `onearg`; `xenstored_watch.c`: `is_child`).

use xs_wire::{XsErrno, REL_PATH_MAX};

/// `/local/domain/<domid>`: a domain's home, the prefix of its relative paths.
pub fn home(domid: u32) -> String {
    format!("/local/domain/{domid}")
}

/// The absolute form of a name given by domain `domid`: absolute names and
/// `@special` names are kept, anything else is taken relative to the home.
pub fn canonicalize(domid: u32, name: &str) -> String {
    if name.starts_with('/') || name.starts_with('@') {
        name.to_string()
    } else {
        format!("{}/{name}", home(domid))
    }
}

/// Whether xenstored accepts `name` as a node: absolute, no trailing `/`
/// (except `/` itself), no `//`, only `[A-Za-z0-9/_@-]`, and at most
/// [`REL_PATH_MAX`] bytes after a leading `/local/domain/<id>/`.
pub fn is_valid_nodename(name: &str) -> bool {
    if !name.starts_with('/') {
        return false;
    }
    if name.len() > 1 && name.ends_with('/') {
        return false;
    }
    if name.contains("//") {
        return false;
    }
    if name.len() > local_prefix_len(name).saturating_add(REL_PATH_MAX) {
        return false;
    }
    name.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'/' | b'_' | b'@'))
}

/// Length of a leading `/local/domain/<id>/` (what
/// `sscanf(node, "/local/domain/%5u/%n", ...)` measures: the id is at most
/// five characters, a sign included), or 0.
fn local_prefix_len(name: &str) -> usize {
    const PREFIX: &str = "/local/domain/";
    let Some(rest) = name.strip_prefix(PREFIX) else { return 0 };
    let b = rest.as_bytes();
    let sign = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = b.iter().skip(sign).take(5 - sign).take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || b.get(sign + digits) != Some(&b'/') {
        return 0;
    }
    PREFIX.len() + sign + digits + 1
}

/// The parent of an absolute name (`/` for top-level names and for `/`).
pub fn parent(name: &str) -> &str {
    match name.get(1..).and_then(|tail| tail.rfind('/')) {
        Some(i) => name.get(..i + 1).unwrap_or("/"),
        None => "/",
    }
}

/// The last component of an absolute name.
pub fn basename(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Whether `child` is `parent` or below it (`/` is above everything,
/// special names included).
pub fn is_child(child: &str, parent: &str) -> bool {
    if parent == "/" {
        return true;
    }
    match child.strip_prefix(parent) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// The single argument of a one-argument request: the payload must be exactly
/// one NUL-terminated string.
///
/// C xenstored's `onearg()` returns NULL otherwise, and most handlers then
/// answer with whatever `errno` was left over. Measured on the harness's
/// xenstored 4.17: `ENOENT` for an empty payload (probe B6), `EINVAL` for a
/// payload without a NUL (README); every other malformed payload is taken to
/// behave like the second. Handlers that check for NULL themselves (END,
/// GET_DOMAIN_PATH) map the error to `EINVAL`.
pub fn onearg(payload: &[u8]) -> Result<&[u8], XsErrno> {
    if payload.is_empty() {
        return Err(XsErrno::ENOENT);
    }
    match payload.iter().position(|&b| b == 0) {
        Some(n) if n + 1 == payload.len() => Ok(payload.get(..n).unwrap_or(&[])),
        _ => Err(XsErrno::EINVAL),
    }
}

/// The NUL-terminated strings at the start of a payload (bytes after the
/// last NUL are not a string), as `get_strings()` sees them.
pub fn strings(payload: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = payload;
    while let Some(n) = rest.iter().position(|&b| b == 0) {
        out.push(rest.get(..n).unwrap_or(&[]));
        rest = rest.get(n + 1..).unwrap_or(&[]);
    }
    out
}

/// C's `atoi()` (glibc: `(int) strtol(s, NULL, 10)`): leading white space, an
/// optional sign, decimal digits; anything else ends the number; overflow
/// saturates in `long` and is then truncated to `int`.
pub fn atoi(s: &[u8]) -> i32 {
    let mut i = s.iter().take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')).count();
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut v: i64 = 0;
    for &c in s.iter().skip(i).take_while(|c| c.is_ascii_digit()) {
        let d = i64::from(c - b'0');
        v = if neg { v.saturating_mul(10).saturating_sub(d) } else { v.saturating_mul(10).saturating_add(d) };
    }
    v as i32
}

/// A name as text, or `EINVAL` (xenstored's valid names are ASCII).
pub fn text(name: &[u8]) -> Result<&str, XsErrno> {
    std::str::from_utf8(name).map_err(|_| XsErrno::EINVAL)
}
