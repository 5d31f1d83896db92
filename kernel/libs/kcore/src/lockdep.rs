//! The lock-order checker's bookkeeping (lockdep's idea, much reduced).
//!
//! Every lock belongs to a *class* (its name: all inboxes of the xenbus node
//! are one class, `xenbus.inbox`). When a thread takes a lock of class `B`
//! while it holds a lock of class `A`, the graph gets the edge `A -> B`,
//! remembering where both were taken. Taking `B` while holding `A` when the
//! graph already leads from `B` to `A` is an *inversion*: two code paths
//! take the same two classes in opposite orders, and could deadlock each
//! other. The first inversion is reported with both acquisition sites of the
//! new edge and of the first edge of the existing path.
//!
//! This module is pure data (fixed-size tables, no allocation, so the
//! allocator's own lock can be checked too); the kernel keeps the stack of
//! held locks and prints the report.
use core::fmt;

/// Where a lock was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Site {
    /// Source file.
    pub file: &'static str,
    /// Line.
    pub line: u32,
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Most lock classes the graph tracks; more are ignored (and counted).
pub const MAX_CLASSES: usize = 64;
/// Most edges with their sites; more edges still enter the reachability
/// sets but without sites.
pub const MAX_EDGES: usize = 256;

/// An edge `from -> to`: `to` was taken at `to_site` while `from`, taken at
/// `from_site`, was held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    /// The held class.
    pub from: &'static str,
    /// Where it was taken.
    pub from_site: Site,
    /// The class taken while it was held.
    pub to: &'static str,
    /// Where that happened.
    pub to_site: Site,
}

/// A detected inversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inversion {
    /// The acquisition that closes the cycle.
    pub new: Edge,
    /// The first edge of the existing path from `new.to` back to
    /// `new.from` (sites unknown when the edge table was full).
    pub earlier: Option<Edge>,
}

impl fmt::Display for Inversion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lock order inversion: '{}' taken at {} while holding '{}' (taken at {})",
            self.new.to, self.new.to_site, self.new.from, self.new.from_site
        )?;
        match self.earlier {
            Some(e) => write!(
                f,
                "; earlier '{}' was taken at {} while holding '{}' (taken at {})",
                e.to, e.to_site, e.from, e.from_site
            ),
            None => f.write_str("; the opposite order was seen earlier (sites not recorded)"),
        }
    }
}

/// The class graph.
#[derive(Debug)]
pub struct Graph {
    names: [&'static str; MAX_CLASSES],
    classes: usize,
    /// `succ[a]` has bit `b` set when `a -> b` is an edge.
    succ: [u64; MAX_CLASSES],
    edges: [Option<Edge>; MAX_EDGES],
    nedges: usize,
    /// Classes that did not fit.
    pub overflowed_classes: u32,
    /// Inversions seen (only the first is normally reported).
    pub inversions: u32,
}

impl Default for Graph {
    fn default() -> Self {
        Self::new()
    }
}

impl Graph {
    /// An empty graph.
    pub const fn new() -> Self {
        Graph {
            names: [""; MAX_CLASSES],
            classes: 0,
            succ: [0; MAX_CLASSES],
            edges: [None; MAX_EDGES],
            nedges: 0,
            overflowed_classes: 0,
            inversions: 0,
        }
    }

    /// The index of class `name`, registering it if new; `None` when the
    /// table is full.
    pub fn class(&mut self, name: &'static str) -> Option<usize> {
        if let Some(i) = self.names.get(..self.classes)?.iter().position(|n| *n == name) {
            return Some(i);
        }
        if self.classes >= MAX_CLASSES {
            self.overflowed_classes = self.overflowed_classes.saturating_add(1);
            return None;
        }
        let i = self.classes;
        *self.names.get_mut(i)? = name;
        self.classes += 1;
        Some(i)
    }

    fn reachable(&self, from: usize, to: usize) -> bool {
        let mut seen: u64 = 0;
        let mut frontier: u64 = 1u64 << from;
        while frontier != 0 {
            let i = frontier.trailing_zeros() as usize;
            frontier &= frontier - 1;
            if i == to {
                return true;
            }
            if seen & (1u64 << i) != 0 {
                continue;
            }
            seen |= 1u64 << i;
            frontier |= self.succ.get(i).copied().unwrap_or(0) & !seen;
        }
        false
    }

    /// The first edge on a path `from ->* to`, if the path exists.
    fn first_edge_of_path(&self, from: usize, to: usize) -> Option<Edge> {
        let mut next = self.succ.get(from).copied().unwrap_or(0);
        while next != 0 {
            let j = next.trailing_zeros() as usize;
            next &= next - 1;
            if j == to || self.reachable(j, to) {
                let (fname, tname) = (self.names.get(from)?, self.names.get(j)?);
                return self.edges.iter().flatten().find(|e| e.from == *fname && e.to == *tname).copied();
            }
        }
        None
    }

    /// Records that `taking` (class name) is being taken at `site` while the
    /// locks in `held` (class, site of acquisition; outermost first) are
    /// held. Returns the first inversion this acquisition closes, if any.
    /// Taking a class already held is not an ordering question and is
    /// ignored (two instances of one class, such as two inboxes).
    pub fn acquire(&mut self, held: &[(&'static str, Site)], taking: &'static str, site: Site) -> Option<Inversion> {
        let t = self.class(taking)?;
        let mut idx: [(usize, Site); 32] = [(usize::MAX, site); 32];
        let mut n = 0;
        for &(name, s) in held.iter().take(32) {
            if let (Some(i), Some(slot)) = (self.class(name), idx.get_mut(n)) {
                *slot = (i, s);
                n += 1;
            }
        }
        self.acquire_idx(idx.get(..n).unwrap_or(&[]), t, site)
    }

    /// [`Graph::acquire`] with class indices (from [`Graph::class`], which
    /// the kernel caches per lock). The common case, every edge already
    /// known, costs one bit test per held lock.
    pub fn acquire_idx(&mut self, held: &[(usize, Site)], t: usize, site: Site) -> Option<Inversion> {
        let mut found = None;
        let tname = *self.names.get(t)?;
        for &(h, hsite) in held {
            if h == t {
                continue;
            }
            let Some(succ) = self.succ.get(h).copied() else { continue };
            if succ & (1u64 << t) != 0 {
                continue;
            }
            let Some(&hname) = self.names.get(h) else { continue };
            let new = Edge { from: hname, from_site: hsite, to: tname, to_site: site };
            if self.reachable(t, h) {
                self.inversions = self.inversions.saturating_add(1);
                if found.is_none() {
                    found = Some(Inversion { new, earlier: self.first_edge_of_path(t, h) });
                }
                // Do not add the edge: the graph stays acyclic, so later
                // reports still find their paths.
                continue;
            }
            if let Some(s) = self.succ.get_mut(h) {
                *s |= 1u64 << t;
            }
            if let Some(slot) = self.edges.get_mut(self.nedges) {
                *slot = Some(new);
                self.nedges += 1;
            }
        }
        found
    }

    /// The name of class `i`.
    pub fn class_name(&self, i: usize) -> Option<&'static str> {
        self.names.get(..self.classes)?.get(i).copied()
    }

    /// Number of classes registered.
    pub fn class_count(&self) -> usize {
        self.classes
    }

    /// The edges recorded (with sites).
    pub fn edges(&self) -> impl Iterator<Item = &Edge> {
        self.edges.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(line: u32) -> Site {
        Site { file: "f.rs", line }
    }

    #[test]
    fn consistent_order_is_fine() {
        let mut g = Graph::new();
        assert_eq!(g.acquire(&[], "a", s(1)), None);
        assert_eq!(g.acquire(&[("a", s(1))], "b", s(2)), None);
        assert_eq!(g.acquire(&[("a", s(1)), ("b", s(2))], "c", s(3)), None);
        assert_eq!(g.acquire(&[("a", s(10))], "b", s(11)), None);
        assert_eq!(g.edges().count(), 3);
        assert_eq!(g.inversions, 0);
    }

    #[test]
    fn direct_inversion_names_both_sites() {
        let mut g = Graph::new();
        g.acquire(&[("a", s(1))], "b", s(2));
        let inv = g.acquire(&[("b", s(20))], "a", s(21)).unwrap();
        assert_eq!(inv.new, Edge { from: "b", from_site: s(20), to: "a", to_site: s(21) });
        assert_eq!(inv.earlier, Some(Edge { from: "a", from_site: s(1), to: "b", to_site: s(2) }));
        assert_eq!(
            alloc::format!("{}", inv),
            "lock order inversion: 'a' taken at f.rs:21 while holding 'b' (taken at f.rs:20); \
             earlier 'b' was taken at f.rs:2 while holding 'a' (taken at f.rs:1)"
        );
        assert_eq!(g.inversions, 1);
    }

    #[test]
    fn transitive_inversion() {
        let mut g = Graph::new();
        g.acquire(&[("a", s(1))], "b", s(2));
        g.acquire(&[("b", s(3))], "c", s(4));
        let inv = g.acquire(&[("c", s(5))], "a", s(6)).unwrap();
        assert_eq!(inv.earlier.unwrap().from, "a");
        assert_eq!(inv.earlier.unwrap().to, "b");
    }

    #[test]
    fn same_class_nesting_is_ignored() {
        let mut g = Graph::new();
        assert_eq!(g.acquire(&[("inbox", s(1))], "inbox", s(2)), None);
        assert_eq!(g.edges().count(), 0);
    }

    #[test]
    fn class_table_overflow_is_counted_not_fatal() {
        let mut g = Graph::new();
        const NAMES: [&str; 70] = {
            let mut n = ["x"; 70];
            let all = [
                "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11", "c12", "c13", "c14", "c15",
                "c16", "c17", "c18", "c19", "c20", "c21", "c22", "c23", "c24", "c25", "c26", "c27", "c28", "c29",
                "c30", "c31", "c32", "c33", "c34", "c35", "c36", "c37", "c38", "c39", "c40", "c41", "c42", "c43",
                "c44", "c45", "c46", "c47", "c48", "c49", "c50", "c51", "c52", "c53", "c54", "c55", "c56", "c57",
                "c58", "c59", "c60", "c61", "c62", "c63", "c64", "c65", "c66", "c67", "c68", "c69",
            ];
            let mut i = 0;
            while i < 70 {
                n[i] = all[i];
                i += 1;
            }
            n
        };
        for n in NAMES {
            g.acquire(&[], n, s(1));
        }
        assert_eq!(g.class_count(), MAX_CLASSES);
        assert_eq!(g.overflowed_classes, 6);
        assert_eq!(g.acquire(&[("c0", s(1))], "c69", s(2)), None);
    }
}
