//! The per-open state machine of the xenfs `xenbus` node (`/proc/xen/xenbus`,
//! `/dev/xen/xenbus`): a user program writes xenstore requests into it and
//! reads replies and watch events back, with the framing Linux 6.1's
//! `xenbus_dev_frontend.c` has. `docs/xenbus-abi.md` at the top of the project
//! describes the node as a program sees it; this crate implements it.
//!
//! # Shape
//!
//! [`XenbusFile`] is a pure state machine: no threads, no locks, no blocking.
//! Calls go *down*, data comes *up*:
//!
//! ```text
//!   read/write/poll/close ──► XenbusFile ──► Backend (submit, watch, unwatch, abort, abandon)
//!                                  ▲                         │
//!                                  │                    xenstored
//!                                  │                         │
//!                    Mailbox ◄── kernel xenstore reader thread (replies, watch events)
//! ```
//!
//! The reader thread never calls into a `XenbusFile`; it pushes
//! [`xs_client::Delivery`] items into the open's [`Mailbox`] (a type of the
//! client crate, one layer down) and wakes the open's wait queue. Every
//! operation of the file first drains the mailbox batch it is given and
//! applies the items in order (see [`XenbusFile::drain`]).
//!
//! # Concurrency (what the kernel must lock)
//!
//! - **One `XenbusFile` per open file description**, behind the kernel's
//!   sleeping lock. Every method takes `&mut self`, so that lock serialises
//!   write, read, poll and close of one open. It protects the partial request,
//!   the read queue, the transaction list, the watch list and the table of
//!   requests in flight. It may be held while a [`Backend`] call blocks
//!   (`watch`, `unwatch`): only this open's callers wait, because the reader
//!   thread never takes it (this is what keeps Linux's self-deadlock, spec
//!   §6.6, out).
//! - **The `Mailbox`**, behind a small lock shared by the reader thread
//!   (push) and the file's callers (take). It is held only to push one item or
//!   to take the whole batch, never across a `Backend` call.
//! - Cookie and watch ids come from one crate-wide atomic counter
//!   ([`next_id`]), so they are unique across all opens of the kernel.
//!
//! # Waiting
//!
//! The library never waits. A read on an empty queue returns `EAGAIN`; the
//! kernel returns that to an `O_NONBLOCK` caller, or sleeps on the file's wait
//! queue (woken by inbox pushes) and retries. [`XenbusFile::in_flight`] tells
//! the kernel whether a reply is still to come.
#![cfg_attr(not(any(test, feature = "sim")), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

mod backend;
mod file;
mod queue;

#[cfg(any(test, feature = "sim"))]
pub mod sim;

#[cfg(test)]
mod tests;

pub use backend::Backend;
pub use file::{next_id, FileStats, XenbusFile};
pub use xs_client::{Delivery, Mailbox};

/// Size of the partial-request buffer, header included (Linux:
/// `XENSTORE_PAYLOAD_MAX`). The largest payload a program can send is
/// therefore `WRITE_BUF_SIZE - 16` = 4080 bytes.
pub const WRITE_BUF_SIZE: usize = 4096;

/// Bound on unread bytes in one open's read queue (a deviation: Linux's queue
/// is unbounded). At or over it, new requests fail with `ENOBUFS`; a watch
/// event that would cross it is merged into an identical unread event if
/// there is one (coalesced), else dropped, and counted either way; replies
/// to requests already forwarded are always queued. See
/// [`XenbusFile::write`].
pub const QUEUE_LIMIT: usize = 64 * 1024;

/// Most forwarded requests one open may have in flight (reply not yet
/// arrived). A complete request written while this many are in flight fails
/// with `ENOBUFS`. Together with [`QUEUE_LIMIT`] it bounds an open's memory to
/// about `QUEUE_LIMIT + MAX_IN_FLIGHT * 4112` bytes.
pub const MAX_IN_FLIGHT: usize = 128;

/// Bound on the bytes of watch events waiting in one open's [`Mailbox`]
/// (the reader thread may push while the program never calls the file).
/// Events pushed past it are coalesced or dropped and counted; replies are
/// never dropped.
pub const MAILBOX_EVENT_LIMIT: usize = QUEUE_LIMIT;

/// `POLLIN`: there is data to read.
pub const POLLIN: u32 = 0x001;
/// `POLLRDNORM`: there is normal data to read (always together with `POLLIN`).
pub const POLLRDNORM: u32 = 0x040;
