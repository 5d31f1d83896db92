//! Pipes (`pipe2(2)`): a bounded byte queue between a read end and a write
//! end, with Linux's semantics for what programs can observe:
//!
//! * capacity [`PIPE_CAPACITY`] (Linux's default, 16 pages); a write of at
//!   most [`PIPE_BUF`] bytes is atomic (all or, when non-blocking and
//!   without room, `EAGAIN`); a larger blocking write returns when all of it
//!   is written, a larger non-blocking one writes what fits;
//! * a read returns what is there (at most the buffer), 0 once every write
//!   end is closed and the pipe is empty, `EAGAIN` when non-blocking and
//!   empty, and otherwise waits;
//! * a write with no read end left is `EPIPE` (there are no signals, so no
//!   `SIGPIPE`);
//! * `poll`: the read end is readable with data or without writers
//!   (`POLLHUP` then); the write end is writable with room (`POLLERR`
//!   without readers).
//!
//! # Memory
//! Bytes in the pipe are charged to the programs budget as they are
//! written; when the budget has no room the pipe counts as full (the
//! writer waits, or gets `EAGAIN`), so a pipe never makes an allocation
//! fail.
//!
//! # Concurrency
//! `state` (a `ThreadLock`, class `fs.pipe`) protects the buffer and the
//! end counts; held for one transfer, never across a wait. Waiters wait on
//! the devices' activity queue (`xenfs::ACTIVITY`), which every change
//! wakes, so `poll` over pipes and xenbus descriptors together works.
// Used by the programs layer (feature `programs`).
#![cfg_attr(not(feature = "programs"), allow(dead_code))]
use alloc::collections::VecDeque;
use alloc::sync::Arc;

use kcore::budget::Charge;
use vfs::Errno;

use crate::mm::budget::PROGRAMS;
use crate::sync::ThreadLock;
use crate::xenfs::ACTIVITY;

/// Bytes a pipe holds.
pub const PIPE_CAPACITY: usize = 65536;
/// Writes up to this size are atomic.
pub const PIPE_BUF: usize = 4096;

struct State {
    buf: VecDeque<u8>,
    charge: Charge,
    readers: u32,
    writers: u32,
    /// Bumped on every change, for `poll`.
    generation: u64,
}

/// A pipe, shared by its two ends.
pub struct Pipe {
    state: ThreadLock<State>,
}

/// One end of a pipe: the per-open state of its descriptor.
#[derive(Clone)]
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    write: bool,
}

/// A new pipe's (read end, write end), or `None` without memory.
pub fn new() -> Option<(PipeEnd, PipeEnd)> {
    let charge = PROGRAMS.try_charge(0).ok()?;
    let pipe = Arc::new(Pipe {
        state: ThreadLock::new(
            "fs.pipe",
            State { buf: VecDeque::new(), charge, readers: 1, writers: 1, generation: 0 },
        ),
    });
    Some((PipeEnd { pipe: pipe.clone(), write: false }, PipeEnd { pipe, write: true }))
}

impl State {
    fn changed(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// Room for more bytes, within the capacity and the budget.
    fn room(&mut self) -> usize {
        PIPE_CAPACITY.saturating_sub(self.buf.len())
    }

    /// Appends up to `data.len()` bytes that fit in the room and the budget
    /// (reserving the deque's memory first); returns how many.
    fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.room());
        if n == 0 {
            return 0;
        }
        let want = self.buf.len().saturating_add(n);
        if self.charge.bytes() < want && self.charge.try_grow(want - self.charge.bytes()).is_err() {
            return 0;
        }
        if self.buf.try_reserve(n).is_err() {
            return 0;
        }
        self.buf.extend(data.get(..n).unwrap_or_default());
        self.changed();
        n
    }
}

impl PipeEnd {
    /// `read(2)` on the read end.
    ///
    /// # Yields
    pub fn read(&self, buf: &mut [u8], nonblocking: bool, interrupted: &dyn Fn() -> bool) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            {
                let mut s = self.pipe.state.lock();
                if !s.buf.is_empty() {
                    let n = buf.len().min(s.buf.len());
                    for (d, b) in buf.iter_mut().zip(s.buf.drain(..n)) {
                        *d = b;
                    }
                    let left = s.buf.len();
                    s.charge.shrink_to(left);
                    if left == 0 {
                        s.buf = VecDeque::new();
                    }
                    s.changed();
                    drop(s);
                    ACTIVITY.wake_all();
                    return Ok(n);
                }
                if s.writers == 0 {
                    return Ok(0);
                }
                if nonblocking {
                    return Err(Errno::EAGAIN);
                }
            }
            if interrupted() {
                return Err(Errno::EINTR);
            }
            let gen = self.generation();
            ACTIVITY.wait_until(|| self.generation() != gen || interrupted());
        }
    }

    /// `write(2)` on the write end.
    ///
    /// # Yields
    pub fn write(&self, data: &[u8], nonblocking: bool, interrupted: &dyn Fn() -> bool) -> Result<usize, Errno> {
        if data.is_empty() {
            return Ok(0);
        }
        let mut done = 0usize;
        loop {
            {
                let mut s = self.pipe.state.lock();
                if s.readers == 0 {
                    return if done > 0 { Ok(done) } else { Err(Errno::EPIPE) };
                }
                let rest = data.get(done..).unwrap_or_default();
                // An atomic write goes in whole or not at all.
                let atomic = data.len() <= PIPE_BUF;
                if !atomic || s.room() >= rest.len() {
                    done += s.push(rest);
                }
                if done > 0 {
                    drop(s);
                    ACTIVITY.wake_all();
                    if done == data.len() || nonblocking {
                        return Ok(done);
                    }
                } else if nonblocking {
                    return Err(Errno::EAGAIN);
                }
            }
            if interrupted() {
                return if done > 0 { Ok(done) } else { Err(Errno::EINTR) };
            }
            let gen = self.generation();
            ACTIVITY.wait_until(|| self.generation() != gen || interrupted());
        }
    }

    /// The change counter (for `poll`'s wait).
    pub fn generation(&self) -> u64 {
        self.pipe.state.lock().generation
    }

    /// The `poll` mask of this end: read end `POLLIN|POLLRDNORM` with data,
    /// `POLLHUP` without writers; write end `POLLOUT|POLLWRNORM` with room,
    /// `POLLERR` without readers.
    pub fn poll(&self) -> u16 {
        use super::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
        let mut s = self.pipe.state.lock();
        if self.write {
            if s.readers == 0 {
                POLLERR
            } else if s.room() > 0 {
                POLLOUT | POLLWRNORM
            } else {
                0
            }
        } else {
            let mut m = if s.buf.is_empty() { 0 } else { POLLIN | POLLRDNORM };
            if s.writers == 0 {
                m |= POLLHUP;
            }
            m
        }
    }

    /// The description of this end ended (its last descriptor closed).
    pub fn close(&self) {
        {
            let mut s = self.pipe.state.lock();
            if self.write {
                s.writers = s.writers.saturating_sub(1);
            } else {
                s.readers = s.readers.saturating_sub(1);
                if s.readers == 0 {
                    // Nobody will read what is left.
                    s.buf = VecDeque::new();
                    s.charge.shrink_to(0);
                }
            }
            s.changed();
        }
        ACTIVITY.wake_all();
    }
}
