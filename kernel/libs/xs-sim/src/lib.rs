//! A simulated C xenstored (Xen 4.17) for host tests: one model of the
//! daemon, with two front ends.
//!
//! - [`model::Model`]: the store (values, permissions, children in creation
//!   order, generations), connections with their watches and transactions,
//!   the quotas of an unprivileged domain ([`quota`]), and the answer to
//!   every request, error names included, as C xenstored 4.17 gives them.
//! - [`ring::RingXenstored`]: the daemon on the server side of an in-memory
//!   ring page, for the xenstore client's tests (`xs-client`).
//! - [`node::Xenstored`]: the daemon behind the xenbus node's backend, for
//!   the node's tests (`xenbus-node`, whose `sim` module implements its
//!   `Backend` trait over this) and the conformance runner.
//!
//! # What the model answers (C xenstored 4.17, `tools/xenstore`)
//!
//! Checked before any handler, in order: a type >= 23 or without handler
//! (15, 16, 20) → `ENOSYS`; a privileged type (0, 8, 9, 17, 18, 19) from a
//! domain → `EACCES`; an unknown non-zero `tx_id` (except on WATCH and
//! UNWATCH, which ignore it) → `ENOENT`. A reply over 4096 bytes → `E2BIG`.
//!
//! | request | answer |
//! |---|---|
//! | READ, GET_PERMS, DIRECTORY, MKDIR, RM | the payload must be one NUL-terminated name: empty → `ENOENT` (MKDIR, RM: `ENOMEM`), otherwise malformed → `EINVAL` (see [`path::onearg`]) |
//! | any node name | relative names are under `/local/domain/<domid>`; invalid (characters outside `[A-Za-z0-9/_@-]`, `//`, trailing `/`, too long) → `EINVAL` |
//! | READ, GET_PERMS, DIRECTORY | need read access; a missing node → `ENOENT` if the nearest existing ancestor grants read, else `EACCES` |
//! | WRITE, MKDIR | need write access to the node, or (creating it) to the nearest existing ancestor; new nodes inherit the parent's permissions, with the domain as owner; MKDIR of an existing node is OK and fires nothing |
//! | RM | needs write access; a missing node whose parent exists is OK; `/` → `EINVAL` |
//! | SET_PERMS | `name\0perm\0...`: no perm → `EINVAL`, more than 5 → `ENOSPC`, malformed → `EINVAL`; needs ownership (`EACCES`); a domain may not change the owner (`EPERM`); `@releaseDomain`/`@introduceDomain` need owner rights on the special node (`EACCES`), other `@` names → `EINVAL` |
//! | DIRECTORY_PART | `name\0offset\0`, exactly two strings, else `EINVAL`; reply `"<generation>\0"` + the whole names from `offset` that fit, then an empty string after the last |
//! | GET_DOMAIN_PATH | `"/local/domain/<atoi(arg)>\0"`; a malformed argument → `EINVAL` |
//! | WATCH | exactly `path\0token\0` (a depth argument too is `EINVAL`); invalid path → `EINVAL`, any `@` name accepted; same path and token again → `EEXIST`; quota → `E2BIG`; OK, then the initial event |
//! | UNWATCH | exactly two strings, else `EINVAL`; no such watch → `ENOENT` |
//! | TRANSACTION_START | inside a transaction → `EBUSY`; quota → `ENOSPC`; ids count up from 1, 0 skipped |
//! | TRANSACTION_END | payload exactly `"T\0"` or `"F\0"` (checked first) → else `EINVAL`; `tx_id` 0 → `ENOENT`; commit: `ENOMEM` (the transaction failed), `ENOSPC` (entry quota), `EAGAIN` (conflict, see [`tx`]) |
//! | RESET_WATCHES | drops every watch and transaction of the connection |
//!
//! Watches: a change of a node fires every watch on it or an ancestor, with
//! the node's name (relative to the home for a relative watch), for each
//! connection that can read the node or its parent (or could read it before
//! a permission change). A removal fires, for each node removed below the
//! removed one, the watches on exactly that node, and for the removed node
//! the watches on it and its ancestors. In a transaction, watches fire at
//! commit. Events fired by a request are sent before its reply.
//!
//! Simplifications: every domain id exists (no `XS_PERM_IGNORE`); no
//! memory quota, no write rate limit, no watch depth; `@` watch names and
//! tokens are bytes, names are UTF-8 (others → `EINVAL`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod model;
pub mod node;
pub mod path;
pub mod perms;
pub mod quota;
pub mod ring;
pub mod store;
pub mod tx;
pub mod view;

pub use model::{ConnId, Event, Model, Outcome, Watch};
pub use perms::{Perm, Who};
pub use ring::RingXenstored;

#[cfg(test)]
mod tests;
