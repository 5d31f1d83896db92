//! Driver logic for the xenstore shared-memory ring (Xen
//! `docs/misc/xenstore-ring.txt`, `io/xs_wire.h`).
//!
//! The ring page (`struct xenstore_domain_interface`) holds two 1 KiB byte
//! queues: `req` (guest to server) and `rsp` (server to guest). Each queue has
//! a pair of free-running `u32` indices, a producer and a consumer, counted
//! modulo 2^32; the byte at stream offset `x` lives at `x mod 1024`. Indices
//! never start at a known value, and `prod - cons` (wrapping) must never
//! exceed 1024.
//!
//! This crate does no I/O of its own. The kernel implements [`SharedPage`]
//! over the real page with volatile accesses; tests implement it over plain
//! memory (`sim::MemPage`, with the `sim` feature). On top of it:
//!
//! - [`ring`]: [`write_some`] / [`read_some`] move bytes with the barriers the
//!   protocol needs and validate the indices;
//! - [`reader`]: [`MessageReader`] assembles xenstore messages (16-byte header
//!   plus payload) from the response byte stream;
//! - [`reconnect`]: the optional ring-reconnection handshake.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod reader;
pub mod reconnect;
pub mod ring;
#[cfg(any(test, feature = "sim"))]
pub mod sim;

pub use reader::{Message, MessageReader, Received};
pub use reconnect::{features_reconnection, reconnect_done, request_reconnect, server_error};
pub use ring::{
    read_some, request_space, response_pending, write_some, ReadOutcome, RingError, RingKind, WriteOutcome,
};

/// Size of each of the two byte queues (`XENSTORE_RING_SIZE`).
pub const RING_SIZE: usize = xen_sys::XENSTORE_RING_SIZE as usize;

/// `RING_SIZE` as a ring-index quantity.
pub(crate) const RING_SIZE_U32: u32 = xen_sys::XENSTORE_RING_SIZE;

// The masking below relies on the ring size being a power of two.
const _: () = assert!(RING_SIZE.is_power_of_two());

/// Position in a queue of the byte at free-running stream index `idx`
/// (`MASK_XENSTORE_IDX`).
#[inline]
pub fn ring_offset(idx: u32) -> usize {
    (idx & (RING_SIZE_U32 - 1)) as usize
}

/// Access to one xenstore ring page, seen from the guest.
///
/// The kernel implements this over the mapped page with volatile reads and
/// writes of the individual fields; tests implement it over ordinary memory.
/// Implementations perform plain accesses only: the memory barriers are
/// placed by the functions of this crate.
pub trait SharedPage {
    /// `req_cons`: how far the server has consumed the request queue.
    fn req_cons(&self) -> u32;
    /// `req_prod`: how far the guest has produced into the request queue.
    fn req_prod(&self) -> u32;
    /// Publishes a new `req_prod`.
    fn set_req_prod(&self, v: u32);
    /// `rsp_cons`: how far the guest has consumed the response queue.
    fn rsp_cons(&self) -> u32;
    /// `rsp_prod`: how far the server has produced into the response queue.
    fn rsp_prod(&self) -> u32;
    /// Publishes a new `rsp_cons`.
    fn set_rsp_cons(&self, v: u32);
    /// Copies `data` into `req[offset..offset + data.len()]`. Callers in this
    /// crate guarantee `offset + data.len() <= RING_SIZE`.
    fn copy_to_req(&self, offset: usize, data: &[u8]);
    /// Copies `rsp[offset..offset + out.len()]` into `out`. Callers in this
    /// crate guarantee `offset + out.len() <= RING_SIZE`.
    fn copy_from_rsp(&self, offset: usize, out: &mut [u8]);
    /// The `server_features` bitmap.
    fn server_features(&self) -> u32;
    /// The `connection` state field.
    fn connection(&self) -> u32;
    /// Writes the `connection` state field.
    fn set_connection(&self, v: u32);
    /// The `error` indicator field.
    fn error(&self) -> u32;
}

impl<P: SharedPage + ?Sized> SharedPage for &P {
    fn req_cons(&self) -> u32 {
        (**self).req_cons()
    }
    fn req_prod(&self) -> u32 {
        (**self).req_prod()
    }
    fn set_req_prod(&self, v: u32) {
        (**self).set_req_prod(v)
    }
    fn rsp_cons(&self) -> u32 {
        (**self).rsp_cons()
    }
    fn rsp_prod(&self) -> u32 {
        (**self).rsp_prod()
    }
    fn set_rsp_cons(&self, v: u32) {
        (**self).set_rsp_cons(v)
    }
    fn copy_to_req(&self, offset: usize, data: &[u8]) {
        (**self).copy_to_req(offset, data)
    }
    fn copy_from_rsp(&self, offset: usize, out: &mut [u8]) {
        (**self).copy_from_rsp(offset, out)
    }
    fn server_features(&self) -> u32 {
        (**self).server_features()
    }
    fn connection(&self) -> u32 {
        (**self).connection()
    }
    fn set_connection(&self, v: u32) {
        (**self).set_connection(v)
    }
    fn error(&self) -> u32 {
        (**self).error()
    }
}

#[cfg(test)]
mod tests;
