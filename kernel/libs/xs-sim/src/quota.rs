//! C xenstored 4.17's default quotas for an unprivileged domain
//! (`xenstored_core.c`, `quota_*`), and how each one bites. Privileged
//! connections (dom0, the toolstack) have none.

/// Nodes one domain may own (`quota_nb_entry_per_domain`): creating a node
/// while the domain owns this many fails with `ENOSPC`.
pub const ENTRIES: usize = 1000;

/// Bound on a node's database record (`quota_max_entry_size`): a write that
/// makes a record (24-byte header, 8 bytes per permission, the value, the
/// child names each with a NUL) this big or bigger fails with `ENOSPC`.
/// With one permission, the largest value of a leaf is 2015 bytes. The
/// bound applies to the parent too: adding a child to a directory whose
/// record would reach it fails.
pub const ENTRY_SIZE: usize = 2048;

/// Watches one domain may have (`quota_nb_watch_per_domain`). 4.17 compares
/// with `>` before adding: the 129th watch is let through, the 130th fails
/// with `E2BIG` (not `ENOSPC`; later xenstoreds changed both).
pub const WATCHES: usize = 128;

/// Transactions one connection may have open (`quota_max_transaction`).
/// 4.17 compares with `>`: the 11th is let through, the 12th fails with
/// `ENOSPC` (measured in the test harness, see the README).
pub const TRANSACTIONS: usize = 10;

/// Entries in one permission list (`quota_nb_perms_per_node`): more fail
/// with `ENOSPC`.
pub const PERMS: usize = 5;

/// Requests of one domain xenstored works on at a time
/// (`quota_req_outstanding`). The real daemon stops reading the ring at this
/// many unanswered requests; the ring front end keeps reading and counts, so
/// that tests can check that a client never exceeds it.
pub const OUTSTANDING: usize = 20;
