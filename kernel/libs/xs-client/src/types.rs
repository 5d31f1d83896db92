//! The client's vocabulary, shared by [`crate::ClientCore`], [`crate::ops`]
//! and [`crate::Mailbox`]: handles, errors, requests, replies and events.
//! A leaf module: it imports nothing else of this crate.

use alloc::vec::Vec;
use core::fmt;

use kcore::budget::Charge;
use xs_ring::{Message, RingError};
use xs_wire::{MsgHeader, MsgType, XsErrno, HEADER_LEN};

/// Opaque handle of one submitted request. Never reused by a
/// [`crate::ClientCore`]; it is not the wire `req_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub(crate) u64);

/// Handle of one registered watch. Never reused by a [`crate::ClientCore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WatchId(pub(crate) u64);

impl WatchId {
    /// The number behind the handle (for logs and for the kernel's tables).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// Errors of the client layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// A payload longer than [`xs_wire::PAYLOAD_MAX`] (xenstored would drop
    /// the connection).
    PayloadTooLarge {
        /// The offending length.
        len: usize,
    },
    /// An argument cannot be encoded: a NUL inside a path or token, or a
    /// number that does not parse.
    InvalidArgument,
    /// A caller-built message whose header does not describe it (too short,
    /// or `len` differs from the bytes that follow the header).
    BadMessage,
    /// The ring was reset before the reply came; xenstored forgot the
    /// request (and any transaction). Retry from the start.
    Reconnected,
    /// xenstored answered with `XS_ERROR`.
    Xs(XsErrno),
    /// A reply whose payload does not have the documented shape.
    BadReply,
    /// The local request queue is full ([`crate::Config::max_queued`]), or
    /// the memory budget refused the request: nothing was sent.
    Busy,
    /// The connection to xenstored failed (a ring or protocol error from the
    /// other side): no reply will come, and new requests fail at once.
    ConnectionLost,
    /// The reply arrived but there was no memory to keep it; it was dropped.
    NoMemory,
    /// The ring itself is broken (reported once, by the call that found it;
    /// the connection is then lost).
    Ring(RingError),
}

impl From<XsErrno> for ClientError {
    fn from(e: XsErrno) -> Self {
        ClientError::Xs(e)
    }
}

impl ClientError {
    /// The errno a program gets for a request that failed this way (the
    /// xenbus node answers it as `XS_ERROR` with this name).
    pub fn errno(self) -> XsErrno {
        match self {
            ClientError::Xs(e) => e,
            ClientError::PayloadTooLarge { .. } => XsErrno::E2BIG,
            ClientError::InvalidArgument | ClientError::BadMessage => XsErrno::EINVAL,
            ClientError::Reconnected => XsErrno::EAGAIN,
            ClientError::Busy | ClientError::NoMemory => XsErrno::ENOMEM,
            ClientError::BadReply | ClientError::ConnectionLost | ClientError::Ring(_) => XsErrno::EIO,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::PayloadTooLarge { len } => write!(f, "xenstore payload too large: {len}"),
            ClientError::InvalidArgument => f.write_str("invalid xenstore argument"),
            ClientError::BadMessage => f.write_str("malformed xenstore message"),
            ClientError::Reconnected => f.write_str("xenstore connection was reset"),
            ClientError::Xs(e) => f.write_str(e.name()),
            ClientError::BadReply => f.write_str("malformed xenstore reply"),
            ClientError::Busy => f.write_str("xenstore request queue full"),
            ClientError::ConnectionLost => f.write_str("xenstore connection lost"),
            ClientError::NoMemory => f.write_str("no memory for the xenstore reply"),
            ClientError::Ring(e) => write!(f, "{e}"),
        }
    }
}

/// A reply from xenstored: header and payload in one buffer, exactly as
/// they came off the ring (except that the `req_id` of a raw request is
/// the caller's), with the budget charge that pays for it.
#[derive(Debug)]
pub struct Reply {
    header: MsgHeader,
    bytes: Vec<u8>,
    charge: Charge,
}

impl Clone for Reply {
    /// A copy of the bytes; the copy carries no charge.
    fn clone(&self) -> Self {
        Reply { header: self.header, bytes: self.bytes.clone(), charge: Charge::none() }
    }
}

impl PartialEq for Reply {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for Reply {}

impl Reply {
    /// Builds a reply from its parts (`header.len` is set to the payload
    /// length). Used by tests and simulated peers.
    pub fn new(header: MsgHeader, payload: Vec<u8>) -> Self {
        let m = Message::new(header, &payload);
        Reply { header: m.header, bytes: m.into_bytes(), charge: Charge::none() }
    }

    /// A reply from complete wire bytes (header and exactly `len` payload
    /// bytes, at most [`xs_wire::PAYLOAD_MAX`]); `None` if they are not one
    /// well-formed message. For simulated peers.
    pub fn from_wire(bytes: Vec<u8>) -> Option<Self> {
        let header = MsgHeader::from_bytes(&bytes)?;
        let len = header.len as usize;
        if len > xs_wire::PAYLOAD_MAX || bytes.len() != HEADER_LEN + len {
            return None;
        }
        Some(Reply { header, bytes, charge: Charge::none() })
    }

    /// Wraps a message read from the ring.
    pub(crate) fn from_message(m: Message, charge: Charge) -> Self {
        Reply { header: m.header, bytes: m.into_bytes(), charge }
    }

    /// The header.
    pub fn header(&self) -> &MsgHeader {
        &self.header
    }

    /// The message type (`XS_ERROR` for a failure).
    pub fn msg_type(&self) -> MsgType {
        MsgType(self.header.ty)
    }

    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        self.bytes.get(HEADER_LEN..).unwrap_or_default()
    }

    /// The payload on success, or the error xenstored named in `XS_ERROR`.
    pub fn result(&self) -> Result<&[u8], XsErrno> {
        if self.msg_type() == MsgType::ERROR {
            Err(XsErrno::from_payload(self.payload()))
        } else {
            Ok(self.payload())
        }
    }

    /// Header and payload as on the wire (what the xenbus device hands to a
    /// reader).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Rewrites the `req_id` in the header (in place, no copy).
    pub(crate) fn set_req_id(&mut self, req_id: u32) {
        self.header.req_id = req_id;
        if let Some(h) = self.bytes.get_mut(..HEADER_LEN) {
            h.copy_from_slice(&self.header.to_bytes());
        }
    }

    /// The wire bytes and the charge that pays for them.
    pub fn into_parts(self) -> (Vec<u8>, Charge) {
        (self.bytes, self.charge)
    }

    /// The payload, consuming the reply (copies the payload out).
    pub fn into_payload(self) -> Vec<u8> {
        self.payload().to_vec()
    }
}

/// What [`crate::ClientCore::take_reply`] hands back: the reply, or why
/// there is none.
pub type Completion = Result<Reply, ClientError>;

/// One watch event, as delivered to the watch's owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// The path that changed (relative if the watch path was relative).
    pub path: Vec<u8>,
    /// The token the owner gave to [`crate::ClientCore::register_watch`]
    /// (not the token used on the wire).
    pub token: Vec<u8>,
}

/// A request ready for [`crate::ClientCore::submit_request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Message type.
    pub ty: MsgType,
    /// Transaction id, 0 outside a transaction.
    pub tx_id: u32,
    /// Payload bytes (at most [`xs_wire::PAYLOAD_MAX`]).
    pub payload: Vec<u8>,
}

/// Appends `s` and a NUL, refusing strings that contain a NUL.
pub(crate) fn push_string(buf: &mut Vec<u8>, s: &[u8]) -> Result<(), ClientError> {
    if s.contains(&0) {
        return Err(ClientError::InvalidArgument);
    }
    buf.extend_from_slice(s);
    buf.push(0);
    Ok(())
}
