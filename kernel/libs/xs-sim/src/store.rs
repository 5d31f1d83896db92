//! The node store: every node with its value, permissions, children (in
//! creation order, as C xenstored keeps them) and generation.
//!
//! Generations: one global counter; every write of a node (its value, its
//! permissions or its list of children) gives the node the next value
//! (`access_node`). A transaction start takes one too. DIRECTORY_PART
//! answers with the directory node's generation, and transactions detect
//! conflicts by comparing generations (see [`crate::tx`]).

use std::collections::HashMap;

use crate::perms::{Perm, NONE};

/// Size of the fixed part of a node record (`struct xs_tdb_record_hdr`:
/// `u64` generation, three `u32` lengths, padded to 24).
pub const RECORD_HEADER: usize = 24;
/// Size of one stored permission (`struct xs_permissions`).
pub const PERM_SIZE: usize = 8;

/// One node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The value (raw bytes, no NUL).
    pub value: Vec<u8>,
    /// The permission list, never empty; entry 0 is the owner.
    pub perms: Vec<Perm>,
    /// Names of the children, in creation order.
    pub children: Vec<String>,
    /// Generation of the last write.
    pub generation: u64,
}

impl Node {
    /// An empty node with these permissions.
    pub fn new(perms: Vec<Perm>) -> Node {
        Node { value: Vec::new(), perms, children: Vec::new(), generation: 0 }
    }

    /// The owner's domain id.
    pub fn owner(&self) -> u32 {
        self.perms.first().map_or(0, |p| p.id)
    }

    /// The children as the DIRECTORY payload: each name NUL-terminated.
    pub fn child_list(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for c in &self.children {
            out.extend_from_slice(c.as_bytes());
            out.push(0);
        }
        out
    }

    /// The size of the node's database record, which the entry quota
    /// bounds: header, permissions, value and child list.
    pub fn record_size(&self) -> usize {
        let children: usize = self.children.iter().map(|c| c.len() + 1).sum();
        RECORD_HEADER + PERM_SIZE * self.perms.len() + self.value.len() + children
    }
}

/// All nodes, by absolute name.
#[derive(Clone, Debug)]
pub struct Store {
    nodes: HashMap<String, Node>,
    generation: u64,
    /// Number of nodes each domain owns (the entry quota counts them).
    owned: HashMap<u32, usize>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// A store with only `/`, owned by dom0, no access for anyone else.
    pub fn new() -> Store {
        let mut s = Store { nodes: HashMap::new(), generation: 0, owned: HashMap::new() };
        s.put("/".to_string(), Node::new(vec![Perm { bits: NONE, id: 0 }]));
        s
    }

    /// The node called `name`.
    pub fn get(&self, name: &str) -> Option<&Node> {
        self.nodes.get(name)
    }

    /// Takes the next generation.
    pub fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// The last generation handed out.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Stores `node` under `name` (replacing any node there), keeping the
    /// ownership counts.
    pub fn put(&mut self, name: String, node: Node) {
        *self.owned.entry(node.owner()).or_default() += 1;
        if let Some(old) = self.nodes.insert(name, node) {
            self.disown(old.owner());
        }
    }

    /// Removes the node called `name`.
    pub fn remove(&mut self, name: &str) -> Option<Node> {
        let old = self.nodes.remove(name)?;
        self.disown(old.owner());
        Some(old)
    }

    fn disown(&mut self, owner: u32) {
        if let Some(n) = self.owned.get_mut(&owner) {
            *n = n.saturating_sub(1);
        }
    }

    /// Number of nodes `domid` owns.
    pub fn owned_by(&self, domid: u32) -> usize {
        self.owned.get(&domid).copied().unwrap_or(0)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Never true: `/` always exists.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}
