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
//!
//! The kernel owns the locking: it wraps one `ClientCore` in its lock, calls
//! `pump_in` from its reader thread, `submit` + `pump_out` from requesters,
//! and wakes waiters named by `take_completed` / `take_woken_watches`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod client;
pub mod ops;

pub use client::{ClientCore, ClientError, Completion, Config, Reply, RequestId, Stats, WatchEvent, WatchId};

#[cfg(test)]
mod tests;
