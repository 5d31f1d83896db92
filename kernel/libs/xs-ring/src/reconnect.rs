//! The optional ring-reconnection handshake and the connection error field.
//!
//! Protocol rules implemented here (xenstore-ring.txt, "The ring reconnection
//! feature" and "The connection error feature"):
//!
//! - Reconnection may only be used when the server advertises
//!   `XENSTORE_SERVER_FEATURE_RECONNECTION` in `server_features`; the
//!   `connection` field is meaningless otherwise.
//! - The guest requests a reset by setting `connection` to
//!   `XENSTORE_RECONNECT` and signalling the event channel (the caller sends
//!   the signal). From then on it must ignore every field except
//!   `connection` until the server sets it back to `XENSTORE_CONNECTED`.
//!   The guest may also find `XENSTORE_RECONNECT` already set at start-up and
//!   must then wait the same way.
//! - When the server is done, both queues are empty, and all in-flight
//!   requests, watches and transactions of the connection are gone; the
//!   reset happened on a packet boundary.
//! - Only the guest sets `XENSTORE_RECONNECT`; only the server sets
//!   `XENSTORE_CONNECTED`.
//! - With `XENSTORE_SERVER_FEATURE_ERROR`, a non-zero `error` means the server
//!   stopped serving this connection.

use core::sync::atomic::{fence, Ordering};

use xen_sys::{
    XENSTORE_CONNECTED, XENSTORE_ERROR_NONE, XENSTORE_RECONNECT, XENSTORE_SERVER_FEATURE_ERROR,
    XENSTORE_SERVER_FEATURE_RECONNECTION,
};

use crate::SharedPage;

/// True when the server advertises the ring reconnection feature.
pub fn features_reconnection<P: SharedPage + ?Sized>(page: &P) -> bool {
    page.server_features() & XENSTORE_SERVER_FEATURE_RECONNECTION != 0
}

/// Asks the server to reset the ring: sets `connection` to
/// `XENSTORE_RECONNECT`. The caller must then signal the event channel and
/// wait for [`reconnect_done`]. Does nothing and returns `false` when the
/// server does not advertise the feature.
pub fn request_reconnect<P: SharedPage + ?Sized>(page: &P) -> bool {
    if !features_reconnection(page) {
        return false;
    }
    // Full fence: all our earlier ring accesses are complete before the
    // server can see the reconnect request and start resetting the queues.
    fence(Ordering::SeqCst);
    page.set_connection(XENSTORE_RECONNECT);
    true
}

/// True when the ring is usable: the server does not support reconnection
/// (the field is then not meaningful), or `connection` is
/// `XENSTORE_CONNECTED`. Used both to wait for the end of a reconnection and,
/// at start-up, to wait for one started by someone else.
pub fn reconnect_done<P: SharedPage + ?Sized>(page: &P) -> bool {
    if !features_reconnection(page) {
        return true;
    }
    let done = page.connection() == XENSTORE_CONNECTED;
    // Acquire fence: the read of `connection` happens before any later read
    // of the indices the server reset before setting it.
    fence(Ordering::Acquire);
    done
}

/// The server's connection error indicator when it advertises the error
/// feature and the field is non-zero; the value is only diagnostic.
pub fn server_error<P: SharedPage + ?Sized>(page: &P) -> Option<u32> {
    if page.server_features() & XENSTORE_SERVER_FEATURE_ERROR == 0 {
        return None;
    }
    match page.error() {
        XENSTORE_ERROR_NONE => None,
        e => Some(e),
    }
}
