//! The store as one request sees it: the global store, or a transaction's
//! copies over it; with the permission checks and the node-level operations
//! of C xenstored 4.17 (`get_node`, `errno_from_parents`, `construct_node`
//! / `create_node`, `rm_node`, `write_node`).

use xs_wire::XsErrno;

use crate::path::{basename, is_valid_nodename, parent};
use crate::perms::{perm_for, Perm, Who};
use crate::quota;
use crate::store::{Node, Store};
use crate::tx::{Access, Tx, TRANSACTION_NODES};

/// A change whose watches are to fire, with the permissions the watch check
/// needs, captured when it happened (for a removal, before the node went).
#[derive(Clone, Debug)]
pub struct Fire {
    /// The node's name (or an `@special` name).
    pub name: String,
    /// Only watches on exactly this name fire (nodes removed below the
    /// removed one); otherwise watches on it and its ancestors.
    pub exact: bool,
    /// The permissions before a permission change or transaction.
    pub old_perms: Option<Vec<Perm>>,
    /// The node's permissions.
    pub node_perms: Option<Vec<Perm>>,
    /// Its parent's permissions.
    pub parent_perms: Option<Vec<Perm>>,
}

impl Fire {
    /// Captures `name`'s permissions from `store` now.
    pub fn capture(store: &Store, name: &str, exact: bool, old_perms: Option<Vec<Perm>>) -> Fire {
        Fire {
            name: name.to_string(),
            exact,
            old_perms,
            node_perms: store.get(name).map(|n| n.perms.clone()),
            parent_perms: store.get(parent(name)).map(|n| n.perms.clone()),
        }
    }
}

/// One request's view.
pub struct View<'a> {
    store: &'a mut Store,
    tx: Option<&'a mut Tx>,
    who: Who,
    /// Changes whose watches fire (outside a transaction; inside one they
    /// are queued in the transaction until commit).
    pub fires: Vec<Fire>,
}

/// The name of child `c` of `dir`.
pub fn child_name(dir: &str, c: &str) -> String {
    if dir == "/" {
        format!("/{c}")
    } else {
        format!("{dir}/{c}")
    }
}

impl<'a> View<'a> {
    /// `who`'s view, inside `tx` if given.
    pub fn new(store: &'a mut Store, tx: Option<&'a mut Tx>, who: Who) -> Self {
        View { store, tx, who, fires: Vec::new() }
    }

    /// The access `who` has to a node with these permissions.
    pub fn perm(&self, perms: &[Perm]) -> u8 {
        perm_for(self.who, perms)
    }

    /// Reads a node (`read_node`). Inside a transaction the first read pins
    /// a copy and remembers the generation; `ENOSPC` when an unprivileged
    /// transaction would touch more than [`TRANSACTION_NODES`] nodes.
    pub fn read(&mut self, name: &str) -> Result<Option<Node>, XsErrno> {
        let Some(tx) = self.tx.as_deref_mut() else { return Ok(self.store.get(name).cloned()) };
        if let Some(a) = tx.find(name) {
            return Ok(a.node.clone());
        }
        if !self.who.privileged && tx.len() >= TRANSACTION_NODES {
            tx.fail = true;
            return Err(XsErrno::ENOSPC);
        }
        let g = self.store.get(name).cloned();
        tx.push(Access {
            name: name.to_string(),
            seen: g.as_ref().map(|n| n.generation),
            check: true,
            node: g.clone(),
            modified: false,
            fire: None,
            old_perms: g.as_ref().map(|n| n.perms.clone()),
        });
        Ok(g)
    }

    /// The access record of a first access that is a change (no check).
    fn touch(store: &Store, tx: &'_ mut Tx, name: &str) {
        if tx.find(name).is_none() {
            let g = store.get(name);
            tx.push(Access {
                name: name.to_string(),
                seen: g.map(|n| n.generation),
                check: false,
                node: g.cloned(),
                modified: false,
                fire: None,
                old_perms: g.map(|n| n.perms.clone()),
            });
        }
    }

    /// Writes a node (`write_node`): a new generation, then, if `quota` and
    /// the writer is unprivileged, the entry size check (`ENOSPC`, which
    /// also fails a transaction).
    pub fn write_node(&mut self, name: &str, mut node: Node, quota: bool) -> Result<(), XsErrno> {
        node.generation = self.store.next_generation();
        let over = quota && !self.who.privileged && node.record_size() >= quota::ENTRY_SIZE;
        match self.tx.as_deref_mut() {
            None if over => Err(XsErrno::ENOSPC),
            None => {
                self.store.put(name.to_string(), node);
                Ok(())
            }
            Some(tx) => {
                Self::touch(self.store, tx, name);
                if over {
                    tx.fail = true;
                    return Err(XsErrno::ENOSPC);
                }
                if let Some(a) = tx.find_mut(name) {
                    a.node = Some(node);
                    a.modified = true;
                }
                Ok(())
            }
        }
    }

    /// Removes one node (not its children).
    fn delete_node(&mut self, name: &str) {
        match self.tx.as_deref_mut() {
            None => {
                self.store.remove(name);
            }
            Some(tx) => {
                Self::touch(self.store, tx, name);
                if let Some(a) = tx.find_mut(name) {
                    a.node = None;
                    a.modified = true;
                }
            }
        }
    }

    /// Fires (outside a transaction) or queues (inside one,
    /// `queue_watches`: a non-exact firing wins over an exact one) the
    /// watches of a change of `name`.
    pub fn fire(&mut self, name: &str, exact: bool, old_perms: Option<Vec<Perm>>) {
        match self.tx.as_deref_mut() {
            None => self.fires.push(Fire::capture(self.store, name, exact, old_perms)),
            Some(tx) => match tx.find_mut(name) {
                Some(a) => a.fire = Some(a.fire.map_or(exact, |e| e && exact)),
                None => tx.fail = true,
            },
        }
    }

    /// Marks the transaction (if any) failed.
    fn fail_tx(&mut self) {
        if let Some(tx) = self.tx.as_deref_mut() {
            tx.fail = true;
        }
    }

    /// The node `name` if `who` has all of `want` on it (`get_node`);
    /// otherwise `EINVAL` for an invalid name, and `ENOENT` or `EACCES` as
    /// `errno_from_parents` decides.
    pub fn get_node(&mut self, name: &str, want: u8) -> Result<Node, XsErrno> {
        if !is_valid_nodename(name) {
            return Err(XsErrno::EINVAL);
        }
        let errnum = match self.read(name)? {
            Some(n) if self.perm(&n.perms) & want == want => return Ok(n),
            Some(_) => XsErrno::EACCES,
            None => XsErrno::ENOENT,
        };
        Err(self.errno_from_parents(name, errnum, want)?)
    }

    /// Hides what the nearest existing ancestor does not let `who` know:
    /// `errnum` if `who` has any of `want` there, else `EACCES`.
    fn errno_from_parents(&mut self, name: &str, errnum: XsErrno, want: u8) -> Result<XsErrno, XsErrno> {
        let mut p = name.to_string();
        loop {
            let q = parent(&p).to_string();
            if let Some(n) = self.read(&q)? {
                return Ok(if self.perm(&n.perms) & want != 0 { errnum } else { XsErrno::EACCES });
            }
            if q == "/" {
                return Ok(XsErrno::EACCES);
            }
            p = q;
        }
    }

    /// Creates `name` with `value`, and any missing ancestors
    /// (`create_node`). New nodes inherit their parent's permissions; an
    /// unprivileged creator becomes the owner. Checks, bottom up: the entry
    /// count quota before each new node, the entry size of each new node and
    /// finally of the existing parent. On failure nothing is left created.
    pub fn create(&mut self, name: &str, value: Vec<u8>) -> Result<(), XsErrno> {
        let mut missing = vec![name.to_string()];
        let mut pname = parent(name).to_string();
        let top = loop {
            match self.read(&pname)? {
                Some(n) => break n,
                None if pname == "/" => return Err(XsErrno::EIO),
                None => {
                    let up = parent(&pname).to_string();
                    missing.push(std::mem::replace(&mut pname, up));
                }
            }
        };
        // Top-down: the existing parent, then each new node.
        let mut chain: Vec<(String, Node)> = vec![(pname, top)];
        for n in missing.iter().rev() {
            let mut perms = match chain.last_mut() {
                Some((_, parent_node)) => {
                    parent_node.children.push(basename(n).to_string());
                    parent_node.perms.clone()
                }
                None => return Err(XsErrno::EIO),
            };
            if !self.who.privileged {
                if let Some(owner) = perms.first_mut() {
                    owner.id = self.who.domid;
                }
            }
            chain.push((n.clone(), Node::new(perms)));
        }
        if let Some((_, leaf)) = chain.last_mut() {
            leaf.value = value;
        }
        if let Some(tx) = self.tx.as_deref_mut() {
            tx.node_created = true;
        }
        // Bottom-up writes.
        let mut written: Vec<String> = Vec::new();
        for (i, (n, node)) in chain.iter().enumerate().rev() {
            let new = i > 0;
            let full = new && !self.who.privileged && self.store.owned_by(self.who.domid) >= quota::ENTRIES;
            let r = if full { Err(XsErrno::ENOSPC) } else { self.write_node(n, node.clone(), true) };
            if let Err(e) = r {
                if !written.is_empty() {
                    self.fail_tx();
                }
                for w in written {
                    self.delete_node(&w);
                }
                return Err(e);
            }
            written.push(n.clone());
        }
        Ok(())
    }

    /// Removes `name` and everything below it (`rm_node`): children first,
    /// each firing the watches on exactly its name, then `name` itself
    /// firing the watches on it and its ancestors; then its entry in the
    /// parent's child list (no size check).
    pub fn rm(&mut self, name: &str) -> Result<(), XsErrno> {
        let pname = parent(name).to_string();
        let Some(mut pnode) = self.read(&pname)? else { return Err(XsErrno::EINVAL) };
        self.delete_tree(name, name)?;
        let base = basename(name);
        let Some(i) = pnode.children.iter().position(|c| c == base) else { return Err(XsErrno::EIO) };
        pnode.children.remove(i);
        self.write_node(&pname, pnode, false)
    }

    fn delete_tree(&mut self, name: &str, root: &str) -> Result<(), XsErrno> {
        let Some(node) = self.read(name)? else { return Ok(()) };
        for c in &node.children {
            self.delete_tree(&child_name(name, c), root)?;
        }
        self.fire(name, name != root, None);
        self.delete_node(name);
        Ok(())
    }
}
