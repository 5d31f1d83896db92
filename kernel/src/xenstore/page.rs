//! The xenstore ring page (`struct xenstore_domain_interface`), shared with
//! xenstored in dom0, as an `xs_ring::SharedPage`: every field is read and
//! written with volatile accesses; `xs_ring` places the barriers and
//! validates every index the other side publishes.
use core::ptr::{addr_of, addr_of_mut};
use xen_sys as x;

/// The mapped ring page.
pub struct XenstorePage {
    intf: *mut x::xenstore_domain_interface,
}

// SAFETY: the page stays mapped for the life of the guest; concurrent access
// by xenstored is what the volatile accesses and xs_ring's barriers handle.
unsafe impl Send for XenstorePage {}
// SAFETY: as above; the kernel serialises its own users with the client lock.
unsafe impl Sync for XenstorePage {}

impl XenstorePage {
    /// Wraps the page at `va`.
    ///
    /// # Safety
    /// `va` must map the xenstore page named by start_info (`store_mfn`).
    pub const unsafe fn new(va: u64) -> Self {
        Self { intf: va as *mut x::xenstore_domain_interface }
    }
}

/// A field of the ring page, for [`XenstorePage::poke`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    ReqCons,
    RspProd,
}

impl XenstorePage {
    /// Writes one of *xenstored's* fields, as a misbehaving dom0 could: for
    /// the adversary tests only.
    pub fn poke(&self, field: Field, value: u32) {
        // SAFETY: `intf` maps the ring page (see `new`); the u32 fields are
        // aligned; the write is volatile like every access to the page.
        unsafe {
            match field {
                Field::ReqCons => core::ptr::write_volatile(addr_of_mut!((*self.intf).req_cons), value),
                Field::RspProd => core::ptr::write_volatile(addr_of_mut!((*self.intf).rsp_prod), value),
            }
        }
    }
}

macro_rules! field_rw {
    ($get:ident, $field:ident) => {
        fn $get(&self) -> u32 {
            // SAFETY: `intf` maps the ring page (see `new`); u32 fields are
            // aligned; xenstored may write them at any time, hence volatile.
            unsafe { core::ptr::read_volatile(addr_of!((*self.intf).$field)) }
        }
    };
}

impl xs_ring::SharedPage for XenstorePage {
    field_rw!(req_cons, req_cons);
    field_rw!(req_prod, req_prod);
    field_rw!(rsp_cons, rsp_cons);
    field_rw!(rsp_prod, rsp_prod);
    field_rw!(server_features, server_features);
    field_rw!(connection, connection);
    field_rw!(error, error);

    fn set_req_prod(&self, v: u32) {
        // SAFETY: as in field_rw; the guest is the only writer of req_prod.
        unsafe { core::ptr::write_volatile(addr_of_mut!((*self.intf).req_prod), v) }
    }

    fn set_rsp_cons(&self, v: u32) {
        // SAFETY: as in field_rw; the guest is the only writer of rsp_cons.
        unsafe { core::ptr::write_volatile(addr_of_mut!((*self.intf).rsp_cons), v) }
    }

    fn set_connection(&self, v: u32) {
        // SAFETY: as in field_rw; the reconnection protocol lets the guest set it.
        unsafe { core::ptr::write_volatile(addr_of_mut!((*self.intf).connection), v) }
    }

    fn copy_to_req(&self, offset: usize, data: &[u8]) {
        // Callers keep offset + len within the ring; anything past its end is
        // not written (the old byte loop wrapped instead; neither happens).
        let n = data.len().min(xs_ring::RING_SIZE.saturating_sub(offset));
        let data = data.get(..n).unwrap_or_default();
        // SAFETY: `intf` maps the ring page (see `new`); `req` is RING_SIZE bytes.
        let base = unsafe { addr_of_mut!((*self.intf).req) }.cast::<u8>();
        // Eight bytes per volatile store (unaligned stores of a byte array),
        // then the tail byte by byte: a request is copied in a few steps.
        let mut chunks = data.chunks_exact(8);
        let mut at = offset;
        for c in &mut chunks {
            let mut v = [0u8; 8];
            v.copy_from_slice(c);
            // SAFETY: at + 8 <= offset + n <= RING_SIZE; [u8; 8] has alignment 1.
            unsafe { core::ptr::write_volatile(base.add(at).cast::<[u8; 8]>(), v) };
            at += 8;
        }
        for b in chunks.remainder() {
            // SAFETY: at < offset + n <= RING_SIZE.
            unsafe { core::ptr::write_volatile(base.add(at), *b) };
            at += 1;
        }
    }

    fn copy_from_rsp(&self, offset: usize, out: &mut [u8]) {
        let n = out.len().min(xs_ring::RING_SIZE.saturating_sub(offset));
        let out = out.get_mut(..n).unwrap_or_default();
        // SAFETY: `intf` maps the ring page (see `new`); `rsp` is RING_SIZE bytes.
        let base = unsafe { addr_of!((*self.intf).rsp) }.cast::<u8>();
        let mut chunks = out.chunks_exact_mut(8);
        let mut at = offset;
        for c in &mut chunks {
            // SAFETY: at + 8 <= offset + n <= RING_SIZE; [u8; 8] has alignment 1.
            c.copy_from_slice(&unsafe { core::ptr::read_volatile(base.add(at).cast::<[u8; 8]>()) });
            at += 8;
        }
        for b in chunks.into_remainder() {
            // SAFETY: at < offset + n <= RING_SIZE.
            *b = unsafe { core::ptr::read_volatile(base.add(at)) };
            at += 1;
        }
    }
}
