//! Linux x86_64 errno values used by the engines.

/// Interrupted system call.
pub const EINTR: i32 = 4;
/// Bad file descriptor.
pub const EBADF: i32 = 9;
/// Resource temporarily unavailable.
pub const EAGAIN: i32 = 11;
/// Cannot allocate memory.
pub const ENOMEM: i32 = 12;
/// Invalid argument.
pub const EINVAL: i32 = 22;
/// No space left on device.
pub const ENOSPC: i32 = 28;
/// Broken pipe.
pub const EPIPE: i32 = 32;
/// Numerical result out of range.
pub const ERANGE: i32 = 34;
/// Value too large for defined data type.
pub const EOVERFLOW: i32 = 75;
/// Invalid or incomplete multibyte or wide character.
pub const EILSEQ: i32 = 84;
