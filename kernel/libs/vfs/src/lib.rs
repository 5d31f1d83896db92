//! The in-memory VFS: path resolution, the node tree, open flags, the file
//! descriptor table and Linux errno values. Pure data structures: no locks,
//! no blocking; the kernel owns concurrency and waiting.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod errno;

pub use errno::Errno;
