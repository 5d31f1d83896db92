//! Message types (`enum xsd_sockmsg_type`), named as in `xs_wire.h`.
use xen_sys as x;

/// A message type as carried on the wire. Unknown values are representable,
/// because users of the xenbus node may send any value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MsgType(pub u32);

impl MsgType {
    pub const CONTROL: Self = Self(x::XS_CONTROL);
    pub const DIRECTORY: Self = Self(x::XS_DIRECTORY);
    pub const READ: Self = Self(x::XS_READ);
    pub const GET_PERMS: Self = Self(x::XS_GET_PERMS);
    pub const WATCH: Self = Self(x::XS_WATCH);
    pub const UNWATCH: Self = Self(x::XS_UNWATCH);
    pub const TRANSACTION_START: Self = Self(x::XS_TRANSACTION_START);
    pub const TRANSACTION_END: Self = Self(x::XS_TRANSACTION_END);
    pub const INTRODUCE: Self = Self(x::XS_INTRODUCE);
    pub const RELEASE: Self = Self(x::XS_RELEASE);
    pub const GET_DOMAIN_PATH: Self = Self(x::XS_GET_DOMAIN_PATH);
    pub const WRITE: Self = Self(x::XS_WRITE);
    pub const MKDIR: Self = Self(x::XS_MKDIR);
    pub const RM: Self = Self(x::XS_RM);
    pub const SET_PERMS: Self = Self(x::XS_SET_PERMS);
    pub const WATCH_EVENT: Self = Self(x::XS_WATCH_EVENT);
    pub const ERROR: Self = Self(x::XS_ERROR);
    pub const IS_DOMAIN_INTRODUCED: Self = Self(x::XS_IS_DOMAIN_INTRODUCED);
    pub const RESUME: Self = Self(x::XS_RESUME);
    pub const SET_TARGET: Self = Self(x::XS_SET_TARGET);
    pub const RESET_WATCHES: Self = Self(x::XS_RESET_WATCHES);
    pub const DIRECTORY_PART: Self = Self(x::XS_DIRECTORY_PART);
    pub const INVALID: Self = Self(x::XS_INVALID);

    /// The header name (`XS_READ`), or `None` for a value the headers do not name.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            x::XS_CONTROL => "XS_CONTROL",
            x::XS_DIRECTORY => "XS_DIRECTORY",
            x::XS_READ => "XS_READ",
            x::XS_GET_PERMS => "XS_GET_PERMS",
            x::XS_WATCH => "XS_WATCH",
            x::XS_UNWATCH => "XS_UNWATCH",
            x::XS_TRANSACTION_START => "XS_TRANSACTION_START",
            x::XS_TRANSACTION_END => "XS_TRANSACTION_END",
            x::XS_INTRODUCE => "XS_INTRODUCE",
            x::XS_RELEASE => "XS_RELEASE",
            x::XS_GET_DOMAIN_PATH => "XS_GET_DOMAIN_PATH",
            x::XS_WRITE => "XS_WRITE",
            x::XS_MKDIR => "XS_MKDIR",
            x::XS_RM => "XS_RM",
            x::XS_SET_PERMS => "XS_SET_PERMS",
            x::XS_WATCH_EVENT => "XS_WATCH_EVENT",
            x::XS_ERROR => "XS_ERROR",
            x::XS_IS_DOMAIN_INTRODUCED => "XS_IS_DOMAIN_INTRODUCED",
            x::XS_RESUME => "XS_RESUME",
            x::XS_SET_TARGET => "XS_SET_TARGET",
            x::XS_RESET_WATCHES => "XS_RESET_WATCHES",
            x::XS_DIRECTORY_PART => "XS_DIRECTORY_PART",
            _ => return None,
        })
    }
}
