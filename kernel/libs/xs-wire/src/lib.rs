//! The xenstore wire format (Xen `docs/misc/xenstore.txt`, `io/xs_wire.h`).
//!
//! Every message in either direction is a 16-byte header of four native-endian
//! (little-endian on x86) `u32` fields, `type`, `req_id`, `tx_id`, `len`,
//! followed by `len` payload bytes, at most [`PAYLOAD_MAX`]. Numbers and limits
//! come from the bindgen'd headers in `xen-sys`, not from hand-copied values.
//!
//! This crate only describes bytes: it has no state, no locks and no I/O.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod errors;
mod header;
mod types;

pub use errors::XsErrno;
pub use header::{MsgHeader, HEADER_LEN};
pub use types::MsgType;

/// Largest payload either side may send (`XENSTORE_PAYLOAD_MAX`).
pub const PAYLOAD_MAX: usize = xen_sys::XENSTORE_PAYLOAD_MAX as usize;
/// Longest absolute path xenstored accepts (`XENSTORE_ABS_PATH_MAX`).
pub const ABS_PATH_MAX: usize = xen_sys::XENSTORE_ABS_PATH_MAX as usize;
/// Longest relative path xenstored accepts (`XENSTORE_REL_PATH_MAX`).
pub const REL_PATH_MAX: usize = xen_sys::XENSTORE_REL_PATH_MAX as usize;

/// Builds a complete message (header followed by payload) into a new vector.
pub fn build_message(ty: MsgType, req_id: u32, tx_id: u32, payload: &[u8]) -> alloc::vec::Vec<u8> {
    let mut v = alloc::vec::Vec::with_capacity(HEADER_LEN + payload.len());
    let hdr = MsgHeader { ty: ty.0, req_id, tx_id, len: payload.len() as u32 };
    v.extend_from_slice(&hdr.to_bytes());
    v.extend_from_slice(payload);
    v
}

/// Splits a NUL-separated payload into its strings, without the NULs. A final
/// fragment that is not NUL-terminated is returned as well.
pub fn split_strings(payload: &[u8]) -> impl Iterator<Item = &[u8]> {
    let trimmed = payload.strip_suffix(b"\0").unwrap_or(payload);
    let empty = payload.is_empty();
    trimmed.split(|&b| b == 0).filter(move |_| !empty)
}

/// Parses the two strings of a `XS_WATCH`/`XS_UNWATCH` request or an
/// `XS_WATCH_EVENT` payload, `path\0token\0`, ignoring anything after the
/// token's NUL (a watch depth, say). `None` when either NUL is missing.
pub fn parse_path_token(payload: &[u8]) -> Option<(&[u8], &[u8])> {
    let p_end = payload.iter().position(|&b| b == 0)?;
    let rest = &payload[p_end + 1..];
    let t_end = rest.iter().position(|&b| b == 0)?;
    Some((&payload[..p_end], &rest[..t_end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_and_parse_round_trip() {
        let m = build_message(MsgType::READ, 7, 3, b"data/x");
        assert_eq!(&m[..16], &[2, 0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0, 6, 0, 0, 0]);
        let h = MsgHeader::from_bytes(&m).unwrap();
        assert_eq!(h, MsgHeader { ty: 2, req_id: 7, tx_id: 3, len: 6 });
        assert_eq!(&m[16..], b"data/x");
    }

    #[test]
    fn path_token_parsing() {
        assert_eq!(parse_path_token(b"a/b\0tok\0"), Some((&b"a/b"[..], &b"tok"[..])));
        assert_eq!(parse_path_token(b"a/b\0tok\x002\0"), Some((&b"a/b"[..], &b"tok"[..])));
        assert_eq!(parse_path_token(b"\0\0"), Some((&b""[..], &b""[..])));
        assert_eq!(parse_path_token(b"a/b\0tok"), None);
        assert_eq!(parse_path_token(b"a/b"), None);
        assert_eq!(parse_path_token(b""), None);
    }

    #[test]
    fn split_strings_cases() {
        let v: alloc::vec::Vec<&[u8]> = split_strings(b"a\0bc\0").collect();
        assert_eq!(v, [&b"a"[..], &b"bc"[..]]);
        assert_eq!(split_strings(b"").count(), 0);
        let v: alloc::vec::Vec<&[u8]> = split_strings(b"\0").collect();
        assert_eq!(v, [&b""[..]]);
    }
}
