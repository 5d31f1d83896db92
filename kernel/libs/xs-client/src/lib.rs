//! The xenstore client as a pure state machine: no threads, no waiting, no
//! I/O of its own.
//!
//! - [`ClientCore`] multiplexes requests over the ring: it allocates wire
//!   `req_id`s, keeps at most [`Config::max_in_flight`] requests outstanding
//!   (xenstored's per-domain quota), streams messages into the ring with
//!   [`xs_ring::write_some`], assembles incoming messages with
//!   [`xs_ring::MessageReader`], matches replies by `req_id`, routes watch
//!   events by token, and starts over after a ring reconnection.
//! - [`ops`] builds the payloads of the typed operations and parses their
//!   replies, including directory paging and the transaction retry rule.
//! - [`Mailbox`] is where replies and watch events are delivered for one
//!   subscriber (an open of the xenbus node, a kernel watch): the kernel's
//!   reader thread pushes, the subscriber takes, and the bounds and
//!   coalescing rules for events live there.
//!
//! Module graph (no cycles): `types` is the leaf; `ops`, `mailbox` and
//! `client` use it, and nothing uses `client` but the crate root.
//!
//! The kernel owns the locking: it wraps one `ClientCore` in its lock, calls
//! `pump_in` from its reader thread, `submit` + `pump_out` from requesters,
//! and wakes waiters named by `take_completed` / `take_woken_watches`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod client;
mod mailbox;
pub mod ops;
mod types;

pub use client::{
    charge_for, ClientCore, Config, Outgoing, Resumed, Stats, Submitted, QUEUED_OVERHEAD, REPLY_OVERHEAD, REPLY_RESERVE,
};
pub use mailbox::{Delivery, EventPush, Mailbox, MailboxStats, NoSlot, EVENT_OVERHEAD};
pub use types::{ClientError, Completion, Reply, Request, RequestId, WatchEvent, WatchId};

#[cfg(test)]
mod tests;
