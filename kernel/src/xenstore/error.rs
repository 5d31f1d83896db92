//! The error type of the kernel's xenstore API.
use xs_client::ClientError;
use xs_wire::XsErrno;

/// Errors of the kernel's xenstore API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XsError {
    /// xenstored answered `XS_ERROR` with this name.
    Xs(XsErrno),
    /// The ring was reset (reconnection) before the reply came; retry.
    Reconnected,
    /// No reply within the caller's deadline.
    Timeout,
    /// The connection is lost (a protocol error from the other side), or
    /// was never up.
    Closed,
    /// A bad argument (NUL in a path, oversize payload) or a malformed reply.
    Invalid,
    /// The memory budget refused the request (nothing was sent).
    NoMemory,
    /// The local request queue is full (nothing was sent).
    Busy,
}

impl From<ClientError> for XsError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Xs(x) => XsError::Xs(x),
            ClientError::Reconnected => XsError::Reconnected,
            ClientError::ConnectionLost | ClientError::Ring(_) => XsError::Closed,
            ClientError::Busy => XsError::Busy,
            ClientError::NoMemory => XsError::NoMemory,
            ClientError::PayloadTooLarge { .. }
            | ClientError::InvalidArgument
            | ClientError::BadMessage
            | ClientError::BadReply => XsError::Invalid,
        }
    }
}

impl core::fmt::Display for XsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            XsError::Xs(e) => f.write_str(e.name()),
            XsError::Reconnected => f.write_str("connection reset"),
            XsError::Timeout => f.write_str("timeout"),
            XsError::Closed => f.write_str("connection lost"),
            XsError::Invalid => f.write_str("invalid"),
            XsError::NoMemory => f.write_str("out of memory budget"),
            XsError::Busy => f.write_str("request queue full"),
        }
    }
}
