//! Memory budgets: admission control for everything that user programs or
//! dom0 can make the kernel allocate.
//!
//! The kernel derives one [`Budget`] for the whole domain from its memory
//! (the heap size minus a reserve for the kernel's own structures), and one
//! budget per class of growable data (xenstore queues, VFS contents, thread
//! stacks, program memory), each with the global one as its parent. Every
//! queue or table that outside input can grow charges its bytes *before* it
//! allocates them; a charge that would cross a limit is refused, and the
//! caller turns the refusal into an errno (`ENOBUFS`/`ENOMEM`/`ENOSPC`) or a
//! protocol error. The heap therefore never runs out because of outside
//! input: the budgets are set below the heap size, with the reserve covering
//! the kernel itself and the allocator's fragmentation.
//!
//! A [`Charge`] is the receipt: it releases its bytes when dropped, so the
//! accounting follows the data it pays for (a reply's charge travels with
//! the reply until the program has read it).
//!
//! # Concurrency
//! Lock-free: the counters are atomics. The kernel runs on one vCPU, but a
//! charge may be taken or dropped in an event handler, so no lock is used.
use core::fmt;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// One budget: a limit, what is in use, and counters for diagnostics.
#[derive(Debug)]
pub struct Budget {
    name: &'static str,
    limit: AtomicUsize,
    used: AtomicUsize,
    peak: AtomicUsize,
    refused: AtomicU64,
    parent: Option<&'static Budget>,
}

/// A refused charge: which budget said no, and its state at that moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverBudget {
    /// The budget that refused (the class, or the global parent).
    pub budget: &'static str,
    /// Bytes asked for.
    pub asked: usize,
    /// Bytes in use then.
    pub used: usize,
    /// The limit.
    pub limit: usize,
}

impl fmt::Display for OverBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} budget exhausted: {} bytes asked, {} of {} in use",
            self.budget, self.asked, self.used, self.limit
        )
    }
}

/// A snapshot of a budget, for logs and `/proc/xen/xenbus-stats`-style files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// The budget's name.
    pub name: &'static str,
    /// Its limit in bytes.
    pub limit: usize,
    /// Bytes charged now.
    pub used: usize,
    /// The most ever charged at once.
    pub peak: usize,
    /// Charges refused since boot.
    pub refused: u64,
}

impl Budget {
    /// A budget with limit 0 (everything is refused until [`Budget::set_limit`]).
    pub const fn new(name: &'static str, parent: Option<&'static Budget>) -> Self {
        Budget {
            name,
            limit: AtomicUsize::new(0),
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            parent,
        }
    }

    /// The name given at creation.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Sets the limit. Bytes already charged stay charged even above it.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::SeqCst);
    }

    /// The limit in bytes.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::SeqCst)
    }

    /// Bytes charged now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }

    /// Bytes still available in this budget (its parent may have fewer).
    pub fn available(&self) -> usize {
        self.limit().saturating_sub(self.used())
    }

    /// A snapshot for diagnostics.
    pub fn usage(&self) -> Usage {
        Usage {
            name: self.name,
            limit: self.limit(),
            used: self.used(),
            peak: self.peak.load(Ordering::SeqCst),
            refused: self.refused.load(Ordering::SeqCst),
        }
    }

    /// Adds `bytes` to this budget alone if it stays within the limit.
    fn add_local(&self, bytes: usize) -> Result<(), OverBudget> {
        let limit = self.limit();
        let mut cur = self.used.load(Ordering::SeqCst);
        loop {
            let new = match cur.checked_add(bytes) {
                Some(n) if n <= limit => n,
                _ => {
                    self.refused.fetch_add(1, Ordering::SeqCst);
                    return Err(OverBudget { budget: self.name, asked: bytes, used: cur, limit });
                }
            };
            match self.used.compare_exchange(cur, new, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => {
                    self.peak.fetch_max(new, Ordering::SeqCst);
                    return Ok(());
                }
                Err(now) => cur = now,
            }
        }
    }

    fn sub_local(&self, bytes: usize) {
        let mut cur = self.used.load(Ordering::SeqCst);
        loop {
            let new = cur.saturating_sub(bytes);
            match self.used.compare_exchange(cur, new, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return,
                Err(now) => cur = now,
            }
        }
    }

    /// Charges `bytes` to this budget and every ancestor, or to none of
    /// them.
    fn add(&self, bytes: usize) -> Result<(), OverBudget> {
        if let Some(p) = self.parent {
            p.add(bytes)?;
        }
        if let Err(e) = self.add_local(bytes) {
            if let Some(p) = self.parent {
                p.sub(bytes);
            }
            return Err(e);
        }
        Ok(())
    }

    fn sub(&self, bytes: usize) {
        self.sub_local(bytes);
        if let Some(p) = self.parent {
            p.sub(bytes);
        }
    }

    /// Charges `bytes`; the returned [`Charge`] gives them back when dropped.
    pub fn try_charge(&'static self, bytes: usize) -> Result<Charge, OverBudget> {
        self.add(bytes)?;
        Ok(Charge { budget: Some(self), bytes })
    }

    /// Whether `bytes` more would be admitted now (this budget and its
    /// ancestors). Advisory: nothing is reserved.
    pub fn would_admit(&self, bytes: usize) -> bool {
        let mut b = Some(self);
        while let Some(x) = b {
            match x.used().checked_add(bytes) {
                Some(n) if n <= x.limit() => {}
                _ => return false,
            }
            b = x.parent;
        }
        true
    }
}

/// Bytes charged to a budget; released when dropped.
#[derive(Debug, Default)]
pub struct Charge {
    budget: Option<&'static Budget>,
    bytes: usize,
}

impl Charge {
    /// A charge of nothing (for data that is not budgeted).
    pub const fn none() -> Self {
        Charge { budget: None, bytes: 0 }
    }

    /// Bytes this charge holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Gives back all but `bytes` (no effect if it holds `bytes` or fewer).
    pub fn shrink_to(&mut self, bytes: usize) {
        if bytes < self.bytes {
            if let Some(b) = self.budget {
                b.sub(self.bytes - bytes);
            }
            self.bytes = bytes;
        }
    }

    /// Charges `more` bytes in addition, or nothing.
    pub fn try_grow(&mut self, more: usize) -> Result<(), OverBudget> {
        let Some(b) = self.budget else {
            return Ok(());
        };
        b.add(more)?;
        self.bytes = self.bytes.saturating_add(more);
        Ok(())
    }

    /// Splits `bytes` off into a charge of its own (at most what this one
    /// holds).
    pub fn split(&mut self, bytes: usize) -> Charge {
        let n = bytes.min(self.bytes);
        self.bytes -= n;
        Charge { budget: self.budget, bytes: n }
    }

    /// Takes over the bytes of `other` (which must be of the same budget;
    /// a charge of another budget is simply dropped, releasing its bytes).
    pub fn merge(&mut self, mut other: Charge) {
        let same = match (self.budget, other.budget) {
            (Some(a), Some(b)) => core::ptr::eq(a, b),
            (None, _) => {
                self.budget = other.budget;
                true
            }
            _ => false,
        };
        if same {
            self.bytes = self.bytes.saturating_add(other.bytes);
            other.bytes = 0;
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if let Some(b) = self.budget {
            if self.bytes > 0 {
                b.sub(self.bytes);
            }
        }
    }
}

/// How the kernel divides the domain's memory: the figures of
/// `docs/memory.md`, computed here so they are host-tested.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Bytes of heap at boot.
    pub heap: usize,
    /// Kept back for the kernel's own allocations and fragmentation.
    pub reserve: usize,
    /// All classes together (the global budget): `heap - reserve`.
    pub global: usize,
    /// xenstore: the client's request queue, replies and events waiting to
    /// be read, watch tables.
    pub xenstore: usize,
    /// The VFS: inodes, names and file data.
    pub vfs: usize,
    /// Thread stacks.
    pub stacks: usize,
    /// Programs: loaded images and their heaps.
    pub programs: usize,
}

impl Plan {
    /// The reserve: 512 KiB plus 1/16 of the heap.
    pub fn for_heap(heap: usize) -> Plan {
        let reserve = (512usize << 10).saturating_add(heap / 16).min(heap);
        let global = heap - reserve;
        // Each class may use at most this share of the global budget; the
        // shares add up to more than 100 % because no workload fills every
        // class at once, and the global budget still bounds the sum.
        let share = |num: usize, den: usize| global / den * num;
        Plan {
            heap,
            reserve,
            global,
            xenstore: share(1, 2),
            vfs: share(1, 2),
            stacks: share(3, 4),
            programs: share(3, 4),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;

    fn leak(name: &'static str, parent: Option<&'static Budget>, limit: usize) -> &'static Budget {
        let b: &'static Budget = Box::leak(Box::new(Budget::new(name, parent)));
        b.set_limit(limit);
        b
    }

    #[test]
    fn charge_and_release() {
        let b = leak("b", None, 100);
        let c = b.try_charge(60).unwrap();
        assert_eq!(b.used(), 60);
        assert_eq!(b.try_charge(41).unwrap_err(), OverBudget { budget: "b", asked: 41, used: 60, limit: 100 });
        let d = b.try_charge(40).unwrap();
        assert_eq!(b.used(), 100);
        drop(c);
        assert_eq!(b.used(), 40);
        drop(d);
        assert_eq!(b.usage(), Usage { name: "b", limit: 100, used: 0, peak: 100, refused: 1 });
    }

    #[test]
    fn parent_bounds_children() {
        let g = leak("global", None, 100);
        let a = leak("a", Some(g), 80);
        let b = leak("b", Some(g), 80);
        let ca = a.try_charge(70).unwrap();
        let e = b.try_charge(40).unwrap_err();
        assert_eq!(e.budget, "global");
        assert_eq!(b.used(), 0, "a refused charge leaves nothing behind");
        assert_eq!(g.used(), 70);
        let cb = b.try_charge(30).unwrap();
        assert_eq!(g.used(), 100);
        assert!(!a.would_admit(1));
        drop(ca);
        assert!(a.would_admit(70));
        assert!(!a.would_admit(81));
        drop(cb);
        assert_eq!((g.used(), a.used(), b.used()), (0, 0, 0));
    }

    #[test]
    fn child_refusal_rolls_back_parent() {
        let g = leak("global", None, 1000);
        let a = leak("a", Some(g), 10);
        assert_eq!(a.try_charge(11).unwrap_err().budget, "a");
        assert_eq!(g.used(), 0);
    }

    #[test]
    fn shrink_grow_split_merge() {
        let b = leak("b", None, 100);
        let mut c = b.try_charge(50).unwrap();
        c.shrink_to(20);
        assert_eq!(b.used(), 20);
        c.try_grow(70).unwrap();
        assert_eq!((c.bytes(), b.used()), (90, 90));
        assert!(c.try_grow(11).is_err());
        let s = c.split(30);
        assert_eq!((c.bytes(), s.bytes(), b.used()), (60, 30, 90));
        c.merge(s);
        assert_eq!((c.bytes(), b.used()), (90, 90));
        let big = c.split(1000);
        assert_eq!((c.bytes(), big.bytes()), (0, 90));
        drop(big);
        drop(c);
        assert_eq!(b.used(), 0);
        let mut n = Charge::none();
        n.try_grow(5).unwrap();
        assert_eq!(n.bytes(), 0);
    }

    #[test]
    fn overflowing_charge_is_refused() {
        let b = leak("b", None, usize::MAX);
        let _c = b.try_charge(usize::MAX - 1).unwrap();
        assert!(b.try_charge(2).is_err());
    }

    #[test]
    fn plan_figures() {
        let p = Plan::for_heap(3 << 20);
        assert_eq!(p.reserve, (512 << 10) + (3 << 20) / 16);
        assert_eq!(p.global, (3 << 20) - p.reserve);
        assert!(p.xenstore <= p.global && p.vfs <= p.global && p.stacks <= p.global);
        let tiny = Plan::for_heap(100);
        assert_eq!((tiny.reserve, tiny.global), (100, 0));
    }
}
