//! Error replies: `XS_ERROR` carries the errno *name* as a NUL-terminated
//! string (`xsd_errors[]` in `xs_wire.h`). New names are only ever appended.

/// An error named by xenstored, with Linux's errno number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms)]
pub enum XsErrno {
    EINVAL,
    EACCES,
    EEXIST,
    EISDIR,
    ENOENT,
    ENOMEM,
    ENOSPC,
    EIO,
    ENOTEMPTY,
    ENOSYS,
    EROFS,
    EBUSY,
    EAGAIN,
    EISCONN,
    E2BIG,
    EPERM,
}

/// The table in `xs_wire.h` order: (error, wire name, Linux errno number).
const TABLE: [(XsErrno, &str, i32); 16] = [
    (XsErrno::EINVAL, "EINVAL", 22),
    (XsErrno::EACCES, "EACCES", 13),
    (XsErrno::EEXIST, "EEXIST", 17),
    (XsErrno::EISDIR, "EISDIR", 21),
    (XsErrno::ENOENT, "ENOENT", 2),
    (XsErrno::ENOMEM, "ENOMEM", 12),
    (XsErrno::ENOSPC, "ENOSPC", 28),
    (XsErrno::EIO, "EIO", 5),
    (XsErrno::ENOTEMPTY, "ENOTEMPTY", 39),
    (XsErrno::ENOSYS, "ENOSYS", 38),
    (XsErrno::EROFS, "EROFS", 30),
    (XsErrno::EBUSY, "EBUSY", 16),
    (XsErrno::EAGAIN, "EAGAIN", 11),
    (XsErrno::EISCONN, "EISCONN", 106),
    (XsErrno::E2BIG, "E2BIG", 7),
    (XsErrno::EPERM, "EPERM", 1),
];

impl XsErrno {
    /// The name as it appears on the wire, without the NUL.
    pub fn name(self) -> &'static str {
        TABLE.iter().find(|e| e.0 == self).map(|e| e.1).unwrap_or("EINVAL")
    }

    /// The payload of an `XS_ERROR` reply carrying this error: the name and a NUL.
    pub fn payload(self) -> &'static [u8] {
        match self {
            XsErrno::EINVAL => b"EINVAL\0",
            XsErrno::EACCES => b"EACCES\0",
            XsErrno::EEXIST => b"EEXIST\0",
            XsErrno::EISDIR => b"EISDIR\0",
            XsErrno::ENOENT => b"ENOENT\0",
            XsErrno::ENOMEM => b"ENOMEM\0",
            XsErrno::ENOSPC => b"ENOSPC\0",
            XsErrno::EIO => b"EIO\0",
            XsErrno::ENOTEMPTY => b"ENOTEMPTY\0",
            XsErrno::ENOSYS => b"ENOSYS\0",
            XsErrno::EROFS => b"EROFS\0",
            XsErrno::EBUSY => b"EBUSY\0",
            XsErrno::EAGAIN => b"EAGAIN\0",
            XsErrno::EISCONN => b"EISCONN\0",
            XsErrno::E2BIG => b"E2BIG\0",
            XsErrno::EPERM => b"EPERM\0",
        }
    }

    /// Linux's errno number for this error.
    pub fn errno(self) -> i32 {
        TABLE.iter().find(|e| e.0 == self).map(|e| e.2).unwrap_or(22)
    }

    /// Parses the payload of an `XS_ERROR` reply. A trailing NUL is optional.
    /// Unknown names map to `EINVAL`, as Linux's `get_error` does.
    pub fn from_payload(payload: &[u8]) -> Self {
        let name = payload.split(|&b| b == 0).next().unwrap_or(b"");
        TABLE.iter().find(|e| e.1.as_bytes() == name).map(|e| e.0).unwrap_or(XsErrno::EINVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (e, name, _) in TABLE {
            assert_eq!(e.name(), name);
            assert_eq!(&e.payload()[..name.len()], name.as_bytes());
            assert_eq!(e.payload().last(), Some(&0));
            assert_eq!(XsErrno::from_payload(e.payload()), e);
            assert_eq!(XsErrno::from_payload(name.as_bytes()), e);
        }
        assert_eq!(XsErrno::from_payload(b"EWHATEVER\0"), XsErrno::EINVAL);
        assert_eq!(XsErrno::from_payload(b""), XsErrno::EINVAL);
        assert_eq!(XsErrno::ENOENT.errno(), 2);
        assert_eq!(XsErrno::EAGAIN.errno(), 11);
    }
}
