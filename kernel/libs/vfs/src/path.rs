//! Path parsing and lexical normalisation.
//!
//! Paths are byte strings, as on Linux, without their terminating NUL (the
//! libc passes `strlen` bytes). A path handed to the VFS is checked:
//!
//! * a NUL byte inside → `EINVAL` (a C program cannot express one; from the
//!   kernel's own API it is a caller's error, not a path to cut short);
//! * empty → `ENOENT`;
//! * [`PATH_MAX`] bytes or more → `ENAMETOOLONG` (Linux's `PATH_MAX` of 4096
//!   counts the terminating NUL, so the longest accepted path is 4095 bytes);
//! * a component longer than [`NAME_MAX`] (255) bytes → `ENAMETOOLONG`.
//!
//! Repeated slashes are one separator; a path made only of slashes is the
//! root. A relative path is resolved against the working directory carried by
//! [`Path`] (`/` unless [`Path::at`] is used); the working directory must be
//! absolute (`EINVAL` otherwise) and is not subject to the length limit,
//! which applies to what the program passed.
//!
//! [`normalize`] is purely lexical. The tree's resolution (used by every
//! operation of [`crate::Tree`]) is stricter, like Linux: each component
//! before a `..` or another component must exist and be a directory, so
//! `/tmp/file/..` is `ENOTDIR` there although it normalises to `/tmp`.

use alloc::vec::Vec;

use crate::Errno;

/// Linux `PATH_MAX`: buffer size for a path including its terminating NUL.
pub const PATH_MAX: usize = 4096;
/// Linux `NAME_MAX`: the longest single component.
pub const NAME_MAX: usize = 255;

/// A path as a program passed it, plus the working directory that relative
/// paths are resolved against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Path<'a> {
    cwd: &'a [u8],
    path: &'a [u8],
}

impl<'a> Path<'a> {
    /// A path whose relative form resolves against `/`.
    pub fn new(path: &'a [u8]) -> Self {
        Path { cwd: b"/", path }
    }

    /// A path whose relative form resolves against `cwd`, which must be an
    /// absolute path (`EINVAL` at resolution otherwise). The kernel keeps each
    /// program's working directory as such a string (see [`normalize`]).
    pub fn at(cwd: &'a [u8], path: &'a [u8]) -> Self {
        Path { cwd, path }
    }

    /// The working directory relative paths resolve against.
    pub fn cwd(&self) -> &'a [u8] {
        self.cwd
    }

    /// The path itself, as given.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.path
    }
}

impl<'a> From<&'a [u8]> for Path<'a> {
    fn from(p: &'a [u8]) -> Self {
        Path::new(p)
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for Path<'a> {
    fn from(p: &'a [u8; N]) -> Self {
        Path::new(p)
    }
}

impl<'a> From<&'a str> for Path<'a> {
    fn from(p: &'a str) -> Self {
        Path::new(p.as_bytes())
    }
}

impl<'a> From<&'a alloc::string::String> for Path<'a> {
    fn from(p: &'a alloc::string::String) -> Self {
        Path::new(p.as_bytes())
    }
}

impl<'a> From<&'a Vec<u8>> for Path<'a> {
    fn from(p: &'a Vec<u8>) -> Self {
        Path::new(p)
    }
}

/// One component of a parsed path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component<'a> {
    /// `.`
    Dot,
    /// `..`
    DotDot,
    /// Any other name (non-empty, no `/`, at most [`NAME_MAX`] bytes).
    Name(&'a [u8]),
}

/// A syntactically checked path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// Starts with `/`.
    pub absolute: bool,
    /// The components, without empty ones.
    pub components: Vec<Component<'a>>,
    /// Ends with `/` after at least one component (the target must then be a
    /// directory).
    pub trailing_slash: bool,
}

fn until_nul(p: &[u8]) -> &[u8] {
    match p.iter().position(|&b| b == 0) {
        Some(i) => p.get(..i).unwrap_or(p),
        None => p,
    }
}

fn split(p: &[u8]) -> Result<Vec<Component<'_>>, Errno> {
    let mut out = Vec::new();
    for c in p.split(|&b| b == b'/') {
        match c {
            b"" => {}
            b"." => out.push(Component::Dot),
            b".." => out.push(Component::DotDot),
            name if name.len() > NAME_MAX => return Err(Errno::ENAMETOOLONG),
            name => out.push(Component::Name(name)),
        }
    }
    Ok(out)
}

/// Parses a path as a program gave it: `EINVAL` when it contains a NUL,
/// `ENOENT` when empty, `ENAMETOOLONG` when too long or when a component is
/// too long.
pub fn parse(path: &[u8]) -> Result<Parsed<'_>, Errno> {
    if path.contains(&0) {
        return Err(Errno::EINVAL);
    }
    let p = path;
    if p.is_empty() {
        return Err(Errno::ENOENT);
    }
    if p.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let components = split(p)?;
    Ok(Parsed {
        absolute: p.first() == Some(&b'/'),
        trailing_slash: !components.is_empty() && p.last() == Some(&b'/'),
        components,
    })
}

/// Parses a working directory: it must be absolute (`EINVAL` otherwise); no
/// length limit; a component longer than [`NAME_MAX`] is `ENAMETOOLONG`.
pub fn parse_cwd(cwd: &[u8]) -> Result<Vec<Component<'_>>, Errno> {
    let c = until_nul(cwd);
    if c.first() != Some(&b'/') {
        return Err(Errno::EINVAL);
    }
    split(c)
}

/// Lexically normalises `path` (relative ones against `cwd`) into the
/// canonical absolute form: `/` or `/a/b`, with no `.`, no `..` (`..` at the
/// root stays at the root), no repeated or trailing slash.
///
/// Errors: those of [`parse`] for `path`, those of [`parse_cwd`] for `cwd`
/// (only consulted when `path` is relative). Idempotent: normalising the
/// result again (against any cwd) yields the same bytes, provided the result
/// is itself shorter than [`PATH_MAX`].
pub fn normalize(cwd: &[u8], path: &[u8]) -> Result<Vec<u8>, Errno> {
    let parsed = parse(path)?;
    let mut stack: Vec<&[u8]> = Vec::new();
    let base = if parsed.absolute { Vec::new() } else { parse_cwd(cwd)? };
    for c in base.iter().chain(parsed.components.iter()) {
        match *c {
            Component::Dot => {}
            Component::DotDot => {
                stack.pop();
            }
            Component::Name(n) => stack.push(n),
        }
    }
    let mut out = Vec::new();
    if stack.is_empty() {
        out.push(b'/');
    }
    for n in stack {
        out.push(b'/');
        out.extend_from_slice(n);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(p: &str) -> Result<String, Errno> {
        normalize(b"/home/u", p.as_bytes()).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn normalisation() {
        assert_eq!(n("/").unwrap(), "/");
        assert_eq!(n("///").unwrap(), "/");
        assert_eq!(n("/a//b/").unwrap(), "/a/b");
        assert_eq!(n("/a/./b/.").unwrap(), "/a/b");
        assert_eq!(n("/a/../b").unwrap(), "/b");
        assert_eq!(n("/..").unwrap(), "/");
        assert_eq!(n("/../../x").unwrap(), "/x");
        assert_eq!(n("x/y").unwrap(), "/home/u/x/y");
        assert_eq!(n(".").unwrap(), "/home/u");
        assert_eq!(n("../../..").unwrap(), "/");
        assert_eq!(n("/a\0/b"), Err(Errno::EINVAL));
        assert_eq!(n(""), Err(Errno::ENOENT));
        assert_eq!(n("\0/a"), Err(Errno::EINVAL));
        assert_eq!(n("/tmp/x\0"), Err(Errno::EINVAL));
        assert_eq!(normalize(b"rel", b"x"), Err(Errno::EINVAL));
        assert_eq!(normalize(b"rel", b"/x").unwrap(), b"/x");
    }

    #[test]
    fn limits() {
        let name255 = "a".repeat(255);
        let name256 = "a".repeat(256);
        assert!(n(&format!("/{name255}")).is_ok());
        assert_eq!(n(&format!("/{name256}")), Err(Errno::ENAMETOOLONG));
        assert_eq!(n(&name256), Err(Errno::ENAMETOOLONG));
        let long_ok = format!("/{}", "b/".repeat(2047)); // 4095 bytes
        assert_eq!(long_ok.len(), 4095);
        assert!(n(&long_ok).is_ok());
        let too_long = format!("{long_ok}c"); // 4096 bytes
        assert_eq!(n(&too_long), Err(Errno::ENAMETOOLONG));
    }

    #[test]
    fn parse_flags() {
        let p = parse(b"/a/b/").unwrap();
        assert!(p.absolute && p.trailing_slash);
        assert_eq!(p.components, [Component::Name(b"a"), Component::Name(b"b")]);
        let p = parse(b"/").unwrap();
        assert!(p.absolute && !p.trailing_slash && p.components.is_empty());
        let p = parse(b"a/./..").unwrap();
        assert!(!p.absolute && !p.trailing_slash);
        assert_eq!(p.components, [Component::Name(b"a"), Component::Dot, Component::DotDot]);
    }
}
