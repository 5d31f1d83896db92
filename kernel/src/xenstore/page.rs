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
        for (i, b) in data.iter().enumerate() {
            let idx = (offset + i) % xs_ring::RING_SIZE;
            // SAFETY: idx < RING_SIZE, the length of `req`.
            unsafe { core::ptr::write_volatile(addr_of_mut!((*self.intf).req[idx]), *b as core::ffi::c_char) };
        }
    }

    fn copy_from_rsp(&self, offset: usize, out: &mut [u8]) {
        for (i, b) in out.iter_mut().enumerate() {
            let idx = (offset + i) % xs_ring::RING_SIZE;
            // SAFETY: idx < RING_SIZE, the length of `rsp`.
            *b = unsafe { core::ptr::read_volatile(addr_of!((*self.intf).rsp[idx])) } as u8;
        }
    }
}
