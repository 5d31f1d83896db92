//! Names of the numbers that appear in scenarios and transcripts: xenstore
//! message types (`xs_wire.h`), Linux x86_64 errno values and poll bits.

/// Message type names in `xs_wire.h` order (index = number), without the
/// `XS_` prefix. 20 was `XS_RESTRICT` (removed); 23..26 are newer than Xen
/// 4.17 but named for readability.
const TYPES: [&str; 27] = [
    "CONTROL",
    "DIRECTORY",
    "READ",
    "GET_PERMS",
    "WATCH",
    "UNWATCH",
    "TRANSACTION_START",
    "TRANSACTION_END",
    "INTRODUCE",
    "RELEASE",
    "GET_DOMAIN_PATH",
    "WRITE",
    "MKDIR",
    "RM",
    "SET_PERMS",
    "WATCH_EVENT",
    "ERROR",
    "IS_DOMAIN_INTRODUCED",
    "RESUME",
    "SET_TARGET",
    "RESTRICT",
    "RESET_WATCHES",
    "DIRECTORY_PART",
    "GET_FEATURE",
    "SET_FEATURE",
    "GET_QUOTA",
    "SET_QUOTA",
];

/// `XS_TRANSACTION_START`.
pub const TRANSACTION_START: u32 = 6;
/// `XS_WATCH`.
pub const WATCH: u32 = 4;
/// `XS_UNWATCH`.
pub const UNWATCH: u32 = 5;
/// `XS_WRITE`.
pub const WRITE: u32 = 11;
/// `XS_READ`.
pub const READ: u32 = 2;
/// `XS_RM`.
pub const RM: u32 = 13;
/// `XS_WATCH_EVENT`.
pub const WATCH_EVENT: u32 = 15;
/// `XS_ERROR`.
pub const ERROR: u32 = 16;

/// The number of a message type name (`READ`, `XS_READ`, `DEBUG`,
/// `INVALID`; case-insensitive).
pub fn type_number(name: &str) -> Option<u32> {
    let up = name.strip_prefix("XS_").or_else(|| name.strip_prefix("xs_")).unwrap_or(name);
    if up.eq_ignore_ascii_case("DEBUG") {
        return Some(0);
    }
    if up.eq_ignore_ascii_case("INVALID") {
        return Some(0xffff);
    }
    TYPES.iter().position(|t| t.eq_ignore_ascii_case(up)).map(|i| i as u32)
}

/// The name of a message type number, if it has one.
pub fn type_name(n: u32) -> Option<&'static str> {
    if n == 0xffff {
        return Some("INVALID");
    }
    TYPES.get(n as usize).copied()
}

/// Linux x86_64 errno values and names.
const ERRNOS: [(i32, &str); 40] = [
    (1, "EPERM"),
    (2, "ENOENT"),
    (3, "ESRCH"),
    (4, "EINTR"),
    (5, "EIO"),
    (6, "ENXIO"),
    (7, "E2BIG"),
    (9, "EBADF"),
    (11, "EAGAIN"),
    (12, "ENOMEM"),
    (13, "EACCES"),
    (14, "EFAULT"),
    (16, "EBUSY"),
    (17, "EEXIST"),
    (19, "ENODEV"),
    (20, "ENOTDIR"),
    (21, "EISDIR"),
    (22, "EINVAL"),
    (23, "ENFILE"),
    (24, "EMFILE"),
    (25, "ENOTTY"),
    (27, "EFBIG"),
    (28, "ENOSPC"),
    (29, "ESPIPE"),
    (30, "EROFS"),
    (31, "EMLINK"),
    (32, "EPIPE"),
    (34, "ERANGE"),
    (35, "EDEADLK"),
    (36, "ENAMETOOLONG"),
    (38, "ENOSYS"),
    (39, "ENOTEMPTY"),
    (40, "ELOOP"),
    (84, "EILSEQ"),
    (95, "EOPNOTSUPP"),
    (105, "ENOBUFS"),
    (106, "EISCONN"),
    (110, "ETIMEDOUT"),
    (125, "ECANCELED"),
    (512, "ERESTARTSYS"),
];

/// The name of a Linux errno (`"ENOENT"`), or `"E#<n>"` for one not in the
/// table.
pub fn errno_name(e: i32) -> alloc::string::String {
    match ERRNOS.iter().find(|(n, _)| *n == e) {
        Some((_, name)) => alloc::string::String::from(*name),
        None => alloc::format!("E#{e}"),
    }
}

/// The number of an errno name (`EWOULDBLOCK` is `EAGAIN`), or of `E#<n>`.
pub fn errno_number(name: &str) -> Option<i32> {
    if name == "EWOULDBLOCK" {
        return Some(11);
    }
    if let Some(n) = name.strip_prefix("E#") {
        return n.parse().ok();
    }
    ERRNOS.iter().find(|(_, s)| *s == name).map(|(n, _)| *n)
}

/// Poll bits (Linux x86_64 `poll.h`) in the order transcripts print them.
const POLL_BITS: [(u16, &str); 10] = [
    (0x001, "IN"),
    (0x002, "PRI"),
    (0x004, "OUT"),
    (0x008, "ERR"),
    (0x010, "HUP"),
    (0x020, "NVAL"),
    (0x040, "RDNORM"),
    (0x080, "RDBAND"),
    (0x100, "WRNORM"),
    (0x200, "WRBAND"),
];

/// The bit of a poll event name (`IN`, `POLLIN`, ...; case-insensitive).
pub fn poll_bit(name: &str) -> Option<u16> {
    let n = name.strip_prefix("POLL").unwrap_or(name);
    POLL_BITS.iter().find(|(_, s)| s.eq_ignore_ascii_case(n)).map(|(b, _)| *b)
}

/// A poll mask as transcripts print it: `IN|RDNORM`, `0` for none, unknown
/// bits as `0x...`.
pub fn poll_mask_name(mask: u16) -> alloc::string::String {
    use alloc::string::String;
    if mask == 0 {
        return String::from("0");
    }
    let mut out = String::new();
    let mut rest = mask;
    for (bit, name) in POLL_BITS {
        if mask & bit != 0 {
            if !out.is_empty() {
                out.push('|');
            }
            out.push_str(name);
            rest &= !bit;
        }
    }
    if rest != 0 {
        if !out.is_empty() {
            out.push('|');
        }
        out.push_str(&alloc::format!("{rest:#x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_round_trip() {
        for n in 0..27 {
            assert_eq!(type_number(type_name(n).unwrap()), Some(n));
        }
        assert_eq!(type_number("XS_WATCH"), Some(4));
        assert_eq!(type_number("debug"), Some(0));
        assert_eq!(type_number("INVALID"), Some(0xffff));
        assert_eq!(type_number("NOPE"), None);
    }

    #[test]
    fn errnos_and_polls() {
        assert_eq!(errno_name(22), "EINVAL");
        assert_eq!(errno_name(999), "E#999");
        assert_eq!(errno_number("E#999"), Some(999));
        assert_eq!(errno_number("EAGAIN"), Some(11));
        assert_eq!(errno_number("EWOULDBLOCK"), Some(11));
        assert_eq!(poll_mask_name(0x41), "IN|RDNORM");
        assert_eq!(poll_mask_name(0), "0");
        assert_eq!(poll_mask_name(0x1001), "IN|0x1000");
        assert_eq!(poll_bit("POLLOUT"), Some(4));
        assert_eq!(poll_bit("rdnorm"), Some(0x40));
    }
}
