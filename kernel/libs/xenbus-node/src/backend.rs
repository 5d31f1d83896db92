//! The calls a [`crate::XenbusFile`] makes downwards, to the kernel's xenstore
//! client (or, in tests, to the simulated xenstored in [`crate::sim`]).

use vfs::Errno;
use xs_wire::XsErrno;

/// What the file needs from xenstored. Implemented by the kernel over its
/// xenstore client, one value per open (it knows which [`crate::Inbox`] to
/// push this open's replies and events into).
///
/// Calls only go down: an implementation must never call back into the
/// `XenbusFile`. Replies and events come back up as [`crate::Incoming`] items
/// pushed into the open's inbox, from any thread, at any later time.
pub trait Backend {
    /// Forwards one complete request, `msg` = 16-byte header + payload, with
    /// the program's `req_id` and `tx_id` inside. The backend sends it under
    /// its own wire `req_id` and later pushes xenstored's answer, exactly one
    /// message (header + `len` payload bytes, as xenstored sent it), as
    /// [`crate::Incoming::Reply`] with this `cookie`. An error means nothing
    /// was sent and no reply will come (e.g. `ENOMEM`, or `EIO` when xenstore
    /// is unreachable); write() returns it.
    fn submit(&mut self, cookie: u64, msg: &[u8]) -> Result<(), Errno>;

    /// Registers a watch on `path` (as the program gave it, relative or
    /// absolute, never empty) under a kernel-unique token derived from
    /// `watch_id`, and returns when xenstored has answered. Events, including
    /// the initial firing, are pushed as [`crate::Incoming::WatchEvent`] with
    /// this `watch_id`; they may be pushed before this call returns.
    fn watch(&mut self, watch_id: u64, path: &[u8]) -> Result<(), XsErrno>;

    /// Removes the watch. After this returns no more events for `watch_id` are
    /// pushed; events already in the inbox may remain (the file drops them).
    /// xenstored's answer is not reported (Linux only logs it).
    fn unwatch(&mut self, watch_id: u64, path: &[u8]);

    /// Aborts (`XS_TRANSACTION_END` "F\0") transaction `tx_id`, which belongs
    /// to this open. Fire and forget: the answer is discarded. Used by close
    /// and by `XS_RESET_WATCHES`.
    fn abort_transaction(&mut self, tx_id: u32);

    /// The open is closing while request `cookie` is still unanswered. From
    /// now on the backend must not push that reply into the inbox but drop
    /// it itself; if `was_transaction_start` and the reply is not `XS_ERROR`,
    /// it must abort the transaction whose decimal id the reply carries, so
    /// that a program killed between START and its reply does not leak a
    /// transaction in xenstored (whose quota is 10 per domain). A reply for a
    /// cookie the backend no longer knows must be dropped, never a crash.
    fn abandon(&mut self, cookie: u64, was_transaction_start: bool);

    /// The connection's generation: it changes with every suspend of the
    /// domain (resumed in a new domain or cancelled), like Linux's
    /// `xb_dev_generation_id`. A transaction whose START was written in an
    /// earlier generation is ended here, not by xenstored: commit answers
    /// `XS_ERROR "EAGAIN"`, abort `"OK"` (spec 5.7). A backend whose domain
    /// never suspends keeps the default, 0.
    fn generation(&self) -> u64 {
        0
    }

    /// A transaction of this open whose START was written in generation
    /// `started_in`, before a suspend, is over for the program (the node
    /// answered its END, or the open is closing). If it still exists in
    /// xenstored (every suspend since was cancelled: the connection is the
    /// same) the backend aborts it, fire and forget, so that it does not
    /// hold one of the domain's transactions forever (Linux leaks it). After
    /// a restore it must do nothing: the transaction died with the old
    /// connection and its id may name another one now. The default does
    /// nothing.
    fn end_stale_transaction(&mut self, tx_id: u32, started_in: u64) {
        let _ = (tx_id, started_in);
    }
}
