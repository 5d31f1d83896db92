//! The workload of `make bench` (docs/bench.md), shared by both hosts: the
//! unikernel runs it against its own xenbus node (`bench=<spec>` on the
//! command line, kernel/src/bench.rs) and a static Linux program runs it
//! against Linux's `/dev/xen/xenbus` in a Linux PV domU
//! (tests/bench/linux-runner). Both go through the same [`Host`]
//! interface: write(2), a blocking read(2) and poll(2) on one open of the
//! device, a monotonic clock, sleeping and printing a line.
//!
//! # What a run does
//!
//! 1. writes `data/benchctl/ready` (the *ready marker*: dom0's bench tool
//!    times unpause → ready by its watch on it), and for the spec `ready`
//!    stops there;
//! 2. writes the key `data/bench/key` (32 bytes), registers watches on
//!    `data/benchctl/ack` and `data/benchctl/pong`, and warms up with
//!    [`WARMUP`] READs;
//! 3. runs each [`Phase`] of each round between two *marks*: it writes
//!    `data/benchctl/mark` = `<seq> <phase>.<round> start|end` and waits
//!    until dom0's tool has written `data/benchctl/ack` = `<seq>` (the tool
//!    samples both domains' CPU time first). The workload's own nodes are
//!    outside `data/benchctl`, so the tool sees no event of theirs.
//!
//! Every reply is checked (type, `req_id` answered exactly once, payload);
//! a wrong one stops the run with an error line.
//!
//! # Lines printed (the grammar the harness parses)
//!
//! ```text
//! BENCH start host=<host> spec=<canonical spec>
//! BENCH ready
//! BENCH result phase=<phase> round=<r> ops=<n> ns=<elapsed> [lat_min_ns=<ns> lat_med_ns=<ns> lat_max_ns=<ns>]
//! BENCH error phase=<phase> round=<r> <what>
//! BENCH note <text>
//! BENCH done results=<n> errors=<n>
//! ```
//! `<phase>` is `read-d<D>`, `write-d<D>`, `watch`, `client-read` or
//! `idle` ([`Phase::name`]); `ns` is the phase's wall time on the host's
//! clock. Everything after `BENCH ready` is kept back and printed when the
//! run ends (console output during a phase would make dom0 work inside
//! the next one); hosts add lines of their own through
//! [`Host::phase_stop`].
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

mod run;
mod spec;
mod stream;

#[cfg(test)]
mod tests;

pub use run::{run, BenchError, Outcome};
pub use spec::{Phase, Spec, SpecError, DEFAULT_SPEC, MAX_DEPTH, MAX_IDLE_SECS, MAX_OPS, MAX_ROUNDS};
pub use stream::{Msg, Oversized, Stream, READ_CHUNK};

use alloc::string::String;
use alloc::vec::Vec;

/// The key the READ and WRITE phases use (relative to the domain's home).
pub const KEY: &str = "data/bench/key";
/// Its value: 32 bytes.
pub const VALUE: &[u8] = b"0123456789abcdef0123456789abcdef";
/// The ready marker (written once, first).
pub const READY: &str = "data/benchctl/ready";
/// Where marks are written.
pub const MARK: &str = "data/benchctl/mark";
/// Where dom0's tool acknowledges a mark.
pub const ACK: &str = "data/benchctl/ack";
/// Written by the guest in the watch phase.
pub const PING: &str = "data/benchctl/ping";
/// Written by dom0's tool when `ping` changes.
pub const PONG: &str = "data/benchctl/pong";
/// How long the runner waits for dom0's ack of a mark, and for a pong.
pub const ACK_TIMEOUT_MS: u32 = 10_000;
/// READs before the first round (and then [`SETTLE_MS`] of rest): the first
/// phase after boot ran up to 40 % slower on both hosts without them
/// (measured under TCG: code translated for the first time, dom0's
/// leftovers from the domain's creation).
pub const WARMUP: u32 = 200;
/// Rest after the warm-up.
pub const SETTLE_MS: u64 = 1000;

/// What a host provides. All device calls are on one open of the host's
/// xenbus device, and follow Linux's `/dev/xen/xenbus` semantics: one
/// whole message per write(2), read(2) returns a byte stream of replies
/// and watch events and blocks while there is none. Errors are errno
/// values.
pub trait Host {
    /// `ours` or `linux` (the `host=` of the start line).
    fn name(&self) -> &str;
    /// write(2) of one whole message; returns the bytes taken.
    fn write(&mut self, buf: &[u8]) -> Result<usize, i32>;
    /// Blocking read(2): at least one byte, at most `buf.len()`.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, i32>;
    /// poll(2) for POLLIN for at most `timeout_ms`: whether a read would
    /// return data now.
    fn poll_in(&mut self, timeout_ms: u32) -> Result<bool, i32>;
    /// A monotonic clock in nanoseconds.
    fn now_ns(&mut self) -> u64;
    /// Sleeps at least `ms` milliseconds.
    fn sleep_ms(&mut self, ms: u64);
    /// Prints one line (the host adds the newline).
    fn print(&mut self, line: &str);
    /// One READ of `path` through the host's own in-kernel xenstore client
    /// (not the device), its value appended to `out`; `None` when the host
    /// has no such client (the `client` phase is then skipped).
    fn client_read(&mut self, path: &str, out: &mut Vec<u8>) -> Option<Result<(), i32>> {
        let _ = (path, out);
        None
    }
    /// Called right after the start mark of a phase was acknowledged.
    fn phase_start(&mut self) {}
    /// Called as soon as a phase ended (before its end mark): a line of the
    /// host's own about it, printed with the results when the run ends. A
    /// host prints nothing while a run is under way: dom0 relays the
    /// console, and that work would be measured in the next phase.
    fn phase_stop(&mut self, label: &str, ops: u64) -> Option<String> {
        let _ = (label, ops);
        None
    }
}
