//! Where replies and watch events wait between the kernel's xenstore reader
//! thread and the open they belong to.
//!
//! # Concurrency
//!
//! Plain data. The kernel keeps one `Inbox` per open behind a spin lock: the
//! reader thread takes it to push one item and then wakes the open's wait
//! queue; the open's callers take it only to [`Inbox::take`] the whole batch,
//! which they then pass to a [`crate::XenbusFile`] operation with the lock
//! released. Nothing here blocks or calls out.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::INBOX_EVENT_LIMIT;

/// Accounting size of a queued event beyond its path bytes (the item itself,
/// the header and the token the file will add are not known here; this keeps
/// a flood of events with empty paths bounded too).
const EVENT_OVERHEAD: usize = 32;

/// One item delivered by the reader thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// xenstored's answer to the request submitted with `cookie`: the
    /// complete message (16-byte header + `len` payload bytes) exactly as
    /// xenstored sent it, wire `req_id` included (the file restores the
    /// program's).
    Reply {
        /// The cookie given to [`crate::Backend::submit`].
        cookie: u64,
        /// Header and payload.
        msg: Vec<u8>,
    },
    /// A watch fired. `path` is xenstored's event path (the first string of
    /// the `XS_WATCH_EVENT` payload, without its NUL).
    WatchEvent {
        /// The id given to [`crate::Backend::watch`].
        watch_id: u64,
        /// The path that changed (or the watched path, for the initial firing).
        path: Vec<u8>,
    },
}

/// A FIFO of [`Incoming`] items for one open.
#[derive(Debug, Default)]
pub struct Inbox {
    items: VecDeque<Incoming>,
    /// Accounted bytes of the events in `items` (see `EVENT_OVERHEAD`).
    event_bytes: usize,
    /// Events refused by [`Inbox::push_event`] since this batch began.
    dropped_events: u64,
}

impl Inbox {
    /// An empty inbox.
    pub const fn new() -> Self {
        Self { items: VecDeque::new(), event_bytes: 0, dropped_events: 0 }
    }

    /// Appends a reply. Replies are never refused: each answers a request the
    /// program is owed an answer for, and their number is bounded by
    /// [`crate::MAX_IN_FLIGHT`].
    pub fn push_reply(&mut self, cookie: u64, msg: Vec<u8>) {
        self.items.push_back(Incoming::Reply { cookie, msg });
    }

    /// Appends a watch event, unless the events already waiting here exceed
    /// [`INBOX_EVENT_LIMIT`] bytes; then the event is dropped, counted, and
    /// `false` is returned.
    pub fn push_event(&mut self, watch_id: u64, path: Vec<u8>) -> bool {
        let size = path.len().saturating_add(EVENT_OVERHEAD);
        if self.event_bytes.saturating_add(size) > INBOX_EVENT_LIMIT {
            self.dropped_events = self.dropped_events.saturating_add(1);
            return false;
        }
        self.event_bytes = self.event_bytes.saturating_add(size);
        self.items.push_back(Incoming::WatchEvent { watch_id, path });
        true
    }

    /// Appends any item (dispatches to [`Inbox::push_reply`] or
    /// [`Inbox::push_event`]); `false` if an event was dropped.
    pub fn push(&mut self, item: Incoming) -> bool {
        match item {
            Incoming::Reply { cookie, msg } => {
                self.push_reply(cookie, msg);
                true
            }
            Incoming::WatchEvent { watch_id, path } => self.push_event(watch_id, path),
        }
    }

    /// Removes and returns the oldest item.
    pub fn pop(&mut self) -> Option<Incoming> {
        let item = self.items.pop_front()?;
        if let Incoming::WatchEvent { path, .. } = &item {
            let size = path.len().saturating_add(EVENT_OVERHEAD);
            self.event_bytes = self.event_bytes.saturating_sub(size);
        }
        Some(item)
    }

    /// Moves everything out, leaving this inbox empty (its drop count
    /// included). The kernel calls this under its spin lock and hands the
    /// result to the file.
    pub fn take(&mut self) -> Inbox {
        core::mem::take(self)
    }

    /// Number of waiting items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Events dropped at the inbox bound since this inbox was created or last
    /// taken.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// Returns the drop count and resets it (used by the file when draining).
    pub(crate) fn take_dropped(&mut self) -> u64 {
        core::mem::take(&mut self.dropped_events)
    }
}
