//! Finding the libraries a program needs, in ld.so's load order.

use alloc::string::String;
use alloc::vec::Vec;

use crate::elf::{Elf, Limits};
use crate::error::LoadError;
use crate::link::Builtins;

/// The default library search path (Debian's multiarch directories, in the
/// order ld.so searches them when no cache or `RUNPATH` applies).
pub const DEFAULT_SEARCH_PATH: &[&str] = &["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"];

/// One file of the load order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectFile<B> {
    /// The name to give [`Elf::parse`]: the program name for the executable,
    /// the `DT_NEEDED` string for a library.
    pub name: String,
    /// Where it was found (the executable's path as given).
    pub path: String,
    /// The file contents.
    pub bytes: B,
}

/// Collects the executable and every library it needs, directly or not, in
/// ld.so's order: breadth-first over `DT_NEEDED` (the executable, then its
/// needed libraries in order, then theirs, ...), each library once.
///
/// A needed name is skipped when the builtins provide it
/// ([`Builtins::provides_library`]) or when an object already in the list
/// answers to it (its name or `DT_SONAME`). A name containing `/` is opened
/// as is; any other is tried in each directory of `search_path` in turn.
/// `open(path)` returns the file's bytes, or `None` if there is no such file.
///
/// Every file is parsed (and so validated) on the way; the caller parses
/// them again for [`crate::link`], which is cheap.
pub fn load_order<B, F>(
    exe: ObjectFile<B>,
    limits: &Limits,
    builtins: &dyn Builtins,
    search_path: &[&str],
    mut open: F,
) -> Result<Vec<ObjectFile<B>>, LoadError>
where
    B: AsRef<[u8]>,
    F: FnMut(&str) -> Option<B>,
{
    // Per object: (soname, needed names), taken from one parse.
    let mut info: Vec<(Option<String>, Vec<String>)> = Vec::new();
    let describe = |f: &ObjectFile<B>| -> Result<(Option<String>, Vec<String>), LoadError> {
        let elf = Elf::parse(&f.name, f.bytes.as_ref(), limits)?;
        Ok((elf.soname().map(String::from), elf.needed().map(String::from).collect()))
    };
    if limits.max_objects == 0 {
        return Err(LoadError::TooManyObjects { limit: 0 });
    }
    info.push(describe(&exe)?);
    let mut files = Vec::from([exe]);

    let mut next = 0;
    while let Some((_, needed)) = info.get(next) {
        let needed = needed.clone();
        let needed_by = files.get(next).map(|f| f.name.clone()).unwrap_or_default();
        for name in needed {
            if builtins.provides_library(&name) {
                continue;
            }
            let known =
                |n: &str| files.iter().zip(&info).any(|(f, (soname, _))| f.name == n || soname.as_deref() == Some(n));
            if known(&name) {
                continue;
            }
            let candidates: Vec<String> = if name.contains('/') {
                Vec::from([name.clone()])
            } else {
                search_path.iter().map(|dir| alloc::format!("{}/{}", dir.trim_end_matches('/'), name)).collect()
            };
            let Some((path, bytes)) = candidates.iter().find_map(|p| open(p).map(|b| (p.clone(), b))) else {
                return Err(LoadError::LibraryNotFound { name, needed_by, searched: candidates });
            };
            let file = ObjectFile { name, path, bytes };
            let desc = describe(&file)?;
            // A file whose DT_SONAME is already loaded under another name is
            // the same library.
            if desc.0.as_deref().is_some_and(known) {
                continue;
            }
            if files.len() >= limits.max_objects {
                return Err(LoadError::TooManyObjects { limit: limits.max_objects });
            }
            files.push(file);
            info.push(desc);
        }
        next += 1;
    }
    Ok(files)
}
