//! Transactions as C xenstored 4.17 runs them (`xenstored_transaction.c`).
//!
//! A transaction is not a snapshot taken at its start. The first access to
//! a node inside it reads the *current* global node (or its absence) and
//! pins a private copy; later accesses in the transaction use that copy, and
//! writes and removals change only the copy. Every node read this way has
//! its generation remembered (absent nodes remember "absent"). Commit
//! (`END "T\0"`) fails with `EAGAIN` if any of those nodes has a different
//! generation now (it was written, created or removed meanwhile), else it
//! writes every modified copy to the global store, each with a new
//! generation, and fires the watches of the modified nodes then. Because
//! writes read their node (and missing nodes their ancestors) first, a
//! transaction also conflicts with concurrent changes of what it wrote.
//!
//! Failures inside the transaction that xenstored cannot undo (an entry
//! over its size quota, a node created and then refused) mark it failed:
//! its commit then answers `ENOMEM`, as 4.17 does.

use std::collections::HashMap;

use crate::perms::Perm;
use crate::store::Node;

/// Most distinct nodes one transaction of an unprivileged domain may touch
/// (`quota_trans_nodes`).
pub const TRANSACTION_NODES: usize = 1024;

/// A node touched by a transaction.
#[derive(Clone, Debug)]
pub struct Access {
    /// The node's name.
    pub name: String,
    /// Its global generation at the first access (`None`: absent).
    pub seen: Option<u64>,
    /// Whether the commit checks `seen` (the first access was a read).
    pub check: bool,
    /// The transaction's copy (`None`: absent or removed).
    pub node: Option<Node>,
    /// Written or removed in the transaction.
    pub modified: bool,
    /// Fire watches at commit: `Some(exact)`.
    pub fire: Option<bool>,
    /// The permissions before the transaction, for the watch check.
    pub old_perms: Option<Vec<Perm>>,
}

/// One open transaction.
#[derive(Clone, Debug)]
pub struct Tx {
    /// Its id on the connection.
    pub id: u32,
    /// The generation taken at its start.
    pub generation: u64,
    accessed: Vec<Access>,
    index: HashMap<String, usize>,
    /// Something failed that cannot be undone: commit gives `ENOMEM`.
    pub fail: bool,
    /// A node was created in it (the commit checks the entry quota).
    pub node_created: bool,
}

impl Tx {
    /// A transaction with nothing touched yet.
    pub fn new(id: u32, generation: u64) -> Tx {
        Tx { id, generation, accessed: Vec::new(), index: HashMap::new(), fail: false, node_created: false }
    }

    /// The access record of `name`, if the transaction touched it.
    pub fn find(&self, name: &str) -> Option<&Access> {
        self.index.get(name).and_then(|&i| self.accessed.get(i))
    }

    /// The same, mutable.
    pub fn find_mut(&mut self, name: &str) -> Option<&mut Access> {
        let i = *self.index.get(name)?;
        self.accessed.get_mut(i)
    }

    /// Records a first access.
    pub fn push(&mut self, a: Access) {
        self.index.insert(a.name.clone(), self.accessed.len());
        self.accessed.push(a);
    }

    /// Every access, in order.
    pub fn accessed(&self) -> &[Access] {
        &self.accessed
    }

    /// Number of nodes touched.
    pub fn len(&self) -> usize {
        self.accessed.len()
    }

    /// True before the first access.
    pub fn is_empty(&self) -> bool {
        self.accessed.is_empty()
    }
}
