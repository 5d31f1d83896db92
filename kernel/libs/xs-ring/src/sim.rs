//! An in-memory ring page and a deliberately naive server side, for tests.
//!
//! Protocol rules: the same ring layout and index rules as the real page
//! (free-running `u32` indices, byte `x` at `x mod 1024`), implemented byte
//! by byte and independently of [`crate::ring`], so that tests of the driver
//! do not check it against itself. All fields are atomics, so a server may
//! run on another thread; the server-side helpers place their own fences.

use alloc::vec::Vec;
use core::sync::atomic::{fence, AtomicU32, AtomicU8, Ordering::Relaxed, Ordering::SeqCst};

use crate::{ring_offset, SharedPage, RING_SIZE};

/// A ring page in ordinary memory.
#[derive(Debug)]
pub struct MemPage {
    req: [AtomicU8; RING_SIZE],
    rsp: [AtomicU8; RING_SIZE],
    req_cons: AtomicU32,
    req_prod: AtomicU32,
    rsp_cons: AtomicU32,
    rsp_prod: AtomicU32,
    server_features: AtomicU32,
    connection: AtomicU32,
    error: AtomicU32,
}

impl Default for MemPage {
    fn default() -> Self {
        Self::new()
    }
}

impl MemPage {
    /// An empty page with all indices 0.
    pub fn new() -> Self {
        Self::with_indices(0, 0)
    }

    /// An empty page whose request queue indices both start at `req` and
    /// response queue indices at `rsp`.
    pub fn with_indices(req: u32, rsp: u32) -> Self {
        Self {
            req: [const { AtomicU8::new(0) }; RING_SIZE],
            rsp: [const { AtomicU8::new(0) }; RING_SIZE],
            req_cons: AtomicU32::new(req),
            req_prod: AtomicU32::new(req),
            rsp_cons: AtomicU32::new(rsp),
            rsp_prod: AtomicU32::new(rsp),
            server_features: AtomicU32::new(0),
            connection: AtomicU32::new(0),
            error: AtomicU32::new(0),
        }
    }

    /// Sets every index of both queues at once (to simulate corruption).
    pub fn set_indices(&self, req_cons: u32, req_prod: u32, rsp_cons: u32, rsp_prod: u32) {
        self.req_cons.store(req_cons, Relaxed);
        self.req_prod.store(req_prod, Relaxed);
        self.rsp_cons.store(rsp_cons, Relaxed);
        self.rsp_prod.store(rsp_prod, Relaxed);
    }

    /// Server side: sets the `server_features` bitmap.
    pub fn set_server_features(&self, v: u32) {
        self.server_features.store(v, Relaxed);
    }

    /// Server side: writes `connection` (the server sets it back to 0).
    pub fn server_set_connection(&self, v: u32) {
        // Full: earlier index updates are visible before the new state.
        fence(SeqCst);
        self.connection.store(v, Relaxed);
    }

    /// Server side: writes the `error` indicator.
    pub fn set_error(&self, v: u32) {
        self.error.store(v, Relaxed);
    }

    /// Server side: completes a ring reconnection: empties both queues and
    /// sets `connection` back to `XENSTORE_CONNECTED`.
    pub fn server_reconnect(&self) {
        self.req_cons.store(self.req_prod.load(Relaxed), Relaxed);
        self.rsp_prod.store(self.rsp_cons.load(Relaxed), Relaxed);
        self.server_set_connection(xen_sys::XENSTORE_CONNECTED);
    }

    /// Server side: bytes in the request queue not yet consumed.
    pub fn server_pending(&self) -> usize {
        self.req_prod.load(Relaxed).wrapping_sub(self.req_cons.load(Relaxed)) as usize
    }

    /// Server side: free space in the response queue.
    pub fn server_space(&self) -> usize {
        let used = self.rsp_prod.load(Relaxed).wrapping_sub(self.rsp_cons.load(Relaxed)) as usize;
        RING_SIZE.saturating_sub(used)
    }

    /// Server side: consumes up to `max` bytes of the request queue, one byte
    /// at a time. Returns nothing if the indices are corrupt.
    pub fn server_read(&self, max: usize) -> Vec<u8> {
        let prod = self.req_prod.load(Relaxed);
        let cons = self.req_cons.load(Relaxed);
        let avail = prod.wrapping_sub(cons) as usize;
        if avail > RING_SIZE {
            return Vec::new();
        }
        // Acquire: data reads below come after the read of req_prod.
        fence(SeqCst);
        let mut out = Vec::new();
        let mut i = cons;
        while out.len() < avail.min(max) {
            if let Some(b) = self.req.get(ring_offset(i)) {
                out.push(b.load(Relaxed));
            }
            i = i.wrapping_add(1);
        }
        // Full: data reads complete before the space is handed back.
        fence(SeqCst);
        self.req_cons.store(i, Relaxed);
        out
    }

    /// Server side: produces as much of `data` as fits into the response
    /// queue, one byte at a time; returns how many bytes went in.
    pub fn server_write(&self, data: &[u8]) -> usize {
        let cons = self.rsp_cons.load(Relaxed);
        let prod = self.rsp_prod.load(Relaxed);
        let used = prod.wrapping_sub(cons) as usize;
        if used > RING_SIZE {
            return 0;
        }
        // Full: the read of rsp_cons comes before we overwrite the space.
        fence(SeqCst);
        let mut p = prod;
        let mut n = 0;
        for &b in data.iter().take(RING_SIZE - used) {
            if let Some(slot) = self.rsp.get(ring_offset(p)) {
                slot.store(b, Relaxed);
            }
            p = p.wrapping_add(1);
            n += 1;
        }
        // Release: data is visible before the new rsp_prod.
        fence(SeqCst);
        self.rsp_prod.store(p, Relaxed);
        n
    }
}

impl SharedPage for MemPage {
    fn req_cons(&self) -> u32 {
        self.req_cons.load(Relaxed)
    }
    fn req_prod(&self) -> u32 {
        self.req_prod.load(Relaxed)
    }
    fn set_req_prod(&self, v: u32) {
        self.req_prod.store(v, Relaxed)
    }
    fn rsp_cons(&self) -> u32 {
        self.rsp_cons.load(Relaxed)
    }
    fn rsp_prod(&self) -> u32 {
        self.rsp_prod.load(Relaxed)
    }
    fn set_rsp_cons(&self, v: u32) {
        self.rsp_cons.store(v, Relaxed)
    }
    fn copy_to_req(&self, offset: usize, data: &[u8]) {
        for (slot, &b) in self.req.iter().skip(offset).zip(data) {
            slot.store(b, Relaxed);
        }
    }
    fn copy_from_rsp(&self, offset: usize, out: &mut [u8]) {
        for (slot, b) in self.rsp.iter().skip(offset).zip(out.iter_mut()) {
            *b = slot.load(Relaxed);
        }
    }
    fn server_features(&self) -> u32 {
        self.server_features.load(Relaxed)
    }
    fn connection(&self) -> u32 {
        self.connection.load(Relaxed)
    }
    fn set_connection(&self, v: u32) {
        self.connection.store(v, Relaxed)
    }
    fn error(&self) -> u32 {
        self.error.load(Relaxed)
    }
}
