//! The 16-byte message header (`struct xsd_sockmsg`).

/// Size of the header on the wire.
pub const HEADER_LEN: usize = core::mem::size_of::<xen_sys::xsd_sockmsg>();
const _: () = assert!(HEADER_LEN == 16);

/// A decoded message header. Fields are kept as raw `u32`s: a header read from
/// a user or from the ring may carry any value, and validation is the reader's job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MsgHeader {
    /// Message type (`XS_*`); see [`crate::MsgType`].
    pub ty: u32,
    /// Opaque to xenstored, echoed in the reply.
    pub req_id: u32,
    /// Transaction id; 0 outside a transaction.
    pub tx_id: u32,
    /// Payload length in bytes.
    pub len: u32,
}

impl MsgHeader {
    /// Decodes the first 16 bytes of `b`; `None` if `b` is shorter.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let b: &[u8; HEADER_LEN] = b.get(..HEADER_LEN)?.try_into().ok()?;
        let f = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(Self { ty: f(0), req_id: f(4), tx_id: f(8), len: f(12) })
    }

    /// Encodes the header as it goes on the wire.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&self.ty.to_le_bytes());
        out[4..8].copy_from_slice(&self.req_id.to_le_bytes());
        out[8..12].copy_from_slice(&self.tx_id.to_le_bytes());
        out[12..16].copy_from_slice(&self.len.to_le_bytes());
        out
    }
}
