//! `strerror` and errno names, exactly as glibc 2.36 on Linux x86_64.
//!
//! * [`strerror`] / [`strerror_into`]: the message of `strerror(errnum)` in the
//!   C locale. Every errno in 0..=133 that Linux defines has its glibc text
//!   (0 is `"Success"`); 41 and 58 (unused numbers on x86_64), every number
//!   above 133 and every negative number give `"Unknown error N"` with `N`
//!   printed by `%d` (so `"Unknown error -5"`).
//! * [`errno_name`]: `strerrorname_np`, which `printf("%#m")` uses: the
//!   symbolic name (`"ENOENT"`), `"0"` for 0, `None` where glibc returns NULL.
//!   Where a number has two names (`EAGAIN`/`EWOULDBLOCK`, `EDEADLK`/
//!   `EDEADLOCK`, `EOPNOTSUPP`/`ENOTSUP`) glibc gives the first one.
//!
//! The texts were taken from the host's glibc 2.36 and are checked against it
//! by the host tests for every number in -5..=200.

use alloc::vec::Vec;

/// Names and messages for errno 0..=133 (`None`: no such errno on Linux x86_64).
static TABLE: [Option<(&str, &str)>; 134] = [
    Some(("0", "Success")),
    Some(("EPERM", "Operation not permitted")),
    Some(("ENOENT", "No such file or directory")),
    Some(("ESRCH", "No such process")),
    Some(("EINTR", "Interrupted system call")),
    Some(("EIO", "Input/output error")),
    Some(("ENXIO", "No such device or address")),
    Some(("E2BIG", "Argument list too long")),
    Some(("ENOEXEC", "Exec format error")),
    Some(("EBADF", "Bad file descriptor")),
    Some(("ECHILD", "No child processes")),
    Some(("EAGAIN", "Resource temporarily unavailable")),
    Some(("ENOMEM", "Cannot allocate memory")),
    Some(("EACCES", "Permission denied")),
    Some(("EFAULT", "Bad address")),
    Some(("ENOTBLK", "Block device required")),
    Some(("EBUSY", "Device or resource busy")),
    Some(("EEXIST", "File exists")),
    Some(("EXDEV", "Invalid cross-device link")),
    Some(("ENODEV", "No such device")),
    Some(("ENOTDIR", "Not a directory")),
    Some(("EISDIR", "Is a directory")),
    Some(("EINVAL", "Invalid argument")),
    Some(("ENFILE", "Too many open files in system")),
    Some(("EMFILE", "Too many open files")),
    Some(("ENOTTY", "Inappropriate ioctl for device")),
    Some(("ETXTBSY", "Text file busy")),
    Some(("EFBIG", "File too large")),
    Some(("ENOSPC", "No space left on device")),
    Some(("ESPIPE", "Illegal seek")),
    Some(("EROFS", "Read-only file system")),
    Some(("EMLINK", "Too many links")),
    Some(("EPIPE", "Broken pipe")),
    Some(("EDOM", "Numerical argument out of domain")),
    Some(("ERANGE", "Numerical result out of range")),
    Some(("EDEADLK", "Resource deadlock avoided")),
    Some(("ENAMETOOLONG", "File name too long")),
    Some(("ENOLCK", "No locks available")),
    Some(("ENOSYS", "Function not implemented")),
    Some(("ENOTEMPTY", "Directory not empty")),
    Some(("ELOOP", "Too many levels of symbolic links")),
    None, // 41
    Some(("ENOMSG", "No message of desired type")),
    Some(("EIDRM", "Identifier removed")),
    Some(("ECHRNG", "Channel number out of range")),
    Some(("EL2NSYNC", "Level 2 not synchronized")),
    Some(("EL3HLT", "Level 3 halted")),
    Some(("EL3RST", "Level 3 reset")),
    Some(("ELNRNG", "Link number out of range")),
    Some(("EUNATCH", "Protocol driver not attached")),
    Some(("ENOCSI", "No CSI structure available")),
    Some(("EL2HLT", "Level 2 halted")),
    Some(("EBADE", "Invalid exchange")),
    Some(("EBADR", "Invalid request descriptor")),
    Some(("EXFULL", "Exchange full")),
    Some(("ENOANO", "No anode")),
    Some(("EBADRQC", "Invalid request code")),
    Some(("EBADSLT", "Invalid slot")),
    None, // 58
    Some(("EBFONT", "Bad font file format")),
    Some(("ENOSTR", "Device not a stream")),
    Some(("ENODATA", "No data available")),
    Some(("ETIME", "Timer expired")),
    Some(("ENOSR", "Out of streams resources")),
    Some(("ENONET", "Machine is not on the network")),
    Some(("ENOPKG", "Package not installed")),
    Some(("EREMOTE", "Object is remote")),
    Some(("ENOLINK", "Link has been severed")),
    Some(("EADV", "Advertise error")),
    Some(("ESRMNT", "Srmount error")),
    Some(("ECOMM", "Communication error on send")),
    Some(("EPROTO", "Protocol error")),
    Some(("EMULTIHOP", "Multihop attempted")),
    Some(("EDOTDOT", "RFS specific error")),
    Some(("EBADMSG", "Bad message")),
    Some(("EOVERFLOW", "Value too large for defined data type")),
    Some(("ENOTUNIQ", "Name not unique on network")),
    Some(("EBADFD", "File descriptor in bad state")),
    Some(("EREMCHG", "Remote address changed")),
    Some(("ELIBACC", "Can not access a needed shared library")),
    Some(("ELIBBAD", "Accessing a corrupted shared library")),
    Some(("ELIBSCN", ".lib section in a.out corrupted")),
    Some(("ELIBMAX", "Attempting to link in too many shared libraries")),
    Some(("ELIBEXEC", "Cannot exec a shared library directly")),
    Some(("EILSEQ", "Invalid or incomplete multibyte or wide character")),
    Some(("ERESTART", "Interrupted system call should be restarted")),
    Some(("ESTRPIPE", "Streams pipe error")),
    Some(("EUSERS", "Too many users")),
    Some(("ENOTSOCK", "Socket operation on non-socket")),
    Some(("EDESTADDRREQ", "Destination address required")),
    Some(("EMSGSIZE", "Message too long")),
    Some(("EPROTOTYPE", "Protocol wrong type for socket")),
    Some(("ENOPROTOOPT", "Protocol not available")),
    Some(("EPROTONOSUPPORT", "Protocol not supported")),
    Some(("ESOCKTNOSUPPORT", "Socket type not supported")),
    Some(("EOPNOTSUPP", "Operation not supported")),
    Some(("EPFNOSUPPORT", "Protocol family not supported")),
    Some(("EAFNOSUPPORT", "Address family not supported by protocol")),
    Some(("EADDRINUSE", "Address already in use")),
    Some(("EADDRNOTAVAIL", "Cannot assign requested address")),
    Some(("ENETDOWN", "Network is down")),
    Some(("ENETUNREACH", "Network is unreachable")),
    Some(("ENETRESET", "Network dropped connection on reset")),
    Some(("ECONNABORTED", "Software caused connection abort")),
    Some(("ECONNRESET", "Connection reset by peer")),
    Some(("ENOBUFS", "No buffer space available")),
    Some(("EISCONN", "Transport endpoint is already connected")),
    Some(("ENOTCONN", "Transport endpoint is not connected")),
    Some(("ESHUTDOWN", "Cannot send after transport endpoint shutdown")),
    Some(("ETOOMANYREFS", "Too many references: cannot splice")),
    Some(("ETIMEDOUT", "Connection timed out")),
    Some(("ECONNREFUSED", "Connection refused")),
    Some(("EHOSTDOWN", "Host is down")),
    Some(("EHOSTUNREACH", "No route to host")),
    Some(("EALREADY", "Operation already in progress")),
    Some(("EINPROGRESS", "Operation now in progress")),
    Some(("ESTALE", "Stale file handle")),
    Some(("EUCLEAN", "Structure needs cleaning")),
    Some(("ENOTNAM", "Not a XENIX named type file")),
    Some(("ENAVAIL", "No XENIX semaphores available")),
    Some(("EISNAM", "Is a named type file")),
    Some(("EREMOTEIO", "Remote I/O error")),
    Some(("EDQUOT", "Disk quota exceeded")),
    Some(("ENOMEDIUM", "No medium found")),
    Some(("EMEDIUMTYPE", "Wrong medium type")),
    Some(("ECANCELED", "Operation canceled")),
    Some(("ENOKEY", "Required key not available")),
    Some(("EKEYEXPIRED", "Key has expired")),
    Some(("EKEYREVOKED", "Key has been revoked")),
    Some(("EKEYREJECTED", "Key was rejected by service")),
    Some(("EOWNERDEAD", "Owner died")),
    Some(("ENOTRECOVERABLE", "State not recoverable")),
    Some(("ERFKILL", "Operation not possible due to RF-kill")),
    Some(("EHWPOISON", "Memory page has hardware error")),
];

/// The largest errno with a message of its own.
pub const MAX_ERRNO: i32 = 133;

/// The fixed message for `errnum`, or `None` when glibc prints
/// `"Unknown error N"`.
pub fn strerror_static(errnum: i32) -> Option<&'static str> {
    let idx = usize::try_from(errnum).ok()?;
    TABLE.get(idx).copied().flatten().map(|(_, msg)| msg)
}

/// `strerrorname_np(errnum)`: the errno's symbolic name, `None` for NULL.
pub fn errno_name(errnum: i32) -> Option<&'static str> {
    let idx = usize::try_from(errnum).ok()?;
    TABLE.get(idx).copied().flatten().map(|(name, _)| name)
}

/// Appends glibc's `strerror(errnum)` text (no newline) to `out`.
pub fn strerror_into(errnum: i32, out: &mut Vec<u8>) {
    match strerror_static(errnum) {
        Some(msg) => out.extend_from_slice(msg.as_bytes()),
        None => {
            out.extend_from_slice(b"Unknown error ");
            push_decimal(errnum, out);
        }
    }
}

/// glibc's `strerror(errnum)` text as a new vector.
pub fn strerror(errnum: i32) -> Vec<u8> {
    let mut out = Vec::new();
    strerror_into(errnum, &mut out);
    out
}

/// Appends `v` in `%d` form.
pub(crate) fn push_decimal(v: i32, out: &mut Vec<u8>) {
    if v < 0 {
        out.push(b'-');
    }
    push_unsigned(u64::from(v.unsigned_abs()), out);
}

/// Appends `v` in `%u` form.
pub(crate) fn push_unsigned(mut v: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host;

    #[test]
    fn every_errno_matches_host_strerror() {
        for e in -5..=200 {
            assert_eq!(strerror(e), host::strerror(e), "errno {e}");
        }
    }

    #[test]
    fn every_errno_name_matches_host() {
        for e in -5..=200 {
            assert_eq!(errno_name(e).map(|s| s.as_bytes().to_vec()), host::strerrorname(e), "errno {e}");
        }
    }

    #[test]
    fn known_texts() {
        assert_eq!(strerror(0), b"Success");
        assert_eq!(strerror(2), b"No such file or directory");
        assert_eq!(strerror(11), b"Resource temporarily unavailable");
        assert_eq!(strerror(41), b"Unknown error 41");
        assert_eq!(strerror(134), b"Unknown error 134");
        assert_eq!(strerror(-1), b"Unknown error -1");
        assert_eq!(strerror(i32::MIN), b"Unknown error -2147483648");
        assert_eq!(errno_name(11), Some("EAGAIN"));
        assert_eq!(errno_name(0), Some("0"));
        assert_eq!(errno_name(58), None);
    }
}
