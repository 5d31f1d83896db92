//! The lock-order checker (feature `lockdep`, on in the in-guest test
//! image): the kernel side of `kcore::lockdep`.
//!
//! It keeps the stack of spin locks held (one vCPU, and no spin lock is
//! held across a thread switch, so one stack serves every thread; the event
//! upcall pushes on top of the interrupted thread's locks and pops before
//! it returns, and its acquisitions are checked against its own context
//! only). Each acquisition adds "held class -> new class" edges to the
//! graph; the first acquisition that closes a cycle is printed:
//!
//! ```text
//! LOCKDEP: lock order inversion: 'b' taken at f.rs:21 while holding 'a' (taken at f.rs:20); earlier ...
//! ```
//!
//! Without the feature every function here is empty.
#[cfg(feature = "lockdep")]
mod imp {
    use core::panic::Location;
    use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};

    use kcore::lockdep::{Graph, Inversion, Site};

    use crate::arch::irq;

    const DEPTH: usize = 24;

    #[derive(Clone, Copy)]
    struct Held {
        class: usize,
        site: Site,
        addr: usize,
    }

    struct State {
        graph: Graph,
        held: [Option<Held>; DEPTH],
        depth: usize,
        /// Where the current context (thread or upcall) starts in `held`.
        base: usize,
        saved_bases: [usize; 4],
        nesting: usize,
        first: Option<Inversion>,
        reported: bool,
    }

    /// The checker's own lock: a raw spin lock taken with events masked (it
    /// must not check itself).
    static STATE: spin::Mutex<State> = spin::Mutex::new(State {
        graph: Graph::new(),
        held: [None; DEPTH],
        depth: 0,
        base: 0,
        saved_bases: [0; 4],
        nesting: 0,
        first: None,
        reported: false,
    });
    static INVERSIONS: AtomicU32 = AtomicU32::new(0);
    /// Where inversions are reported (set by the kernel's boot: this module
    /// is below the console and the log).
    static REPORTER: core::sync::atomic::AtomicPtr<()> = core::sync::atomic::AtomicPtr::new(core::ptr::null_mut());

    pub fn set_reporter(f: fn(&Inversion)) {
        REPORTER.store(f as *mut (), Ordering::Release);
    }

    fn site_of(l: &'static Location<'static>) -> Site {
        Site { file: l.file(), line: l.line() }
    }

    /// The graph index of `class`, cached in the lock (`cache` holds index
    /// + 1; 0 means not looked up yet).
    fn class_index(s: &mut State, class: &'static str, cache: &AtomicU8) -> Option<usize> {
        match cache.load(Ordering::Relaxed) {
            0 => {
                let i = s.graph.class(class)?;
                cache.store((i + 1) as u8, Ordering::Relaxed);
                Some(i)
            }
            n => Some(n as usize - 1),
        }
    }

    pub fn acquire(class: &'static str, cache: &AtomicU8, addr: usize, loc: &'static Location<'static>) {
        let was = irq::disable();
        let report = {
            let mut s = STATE.lock();
            let site = site_of(loc);
            let idx = class_index(&mut s, class, cache);
            let mut held: [(usize, Site); DEPTH] = [(0, site); DEPTH];
            let mut n = 0;
            for h in s.held.get(s.base..s.depth).unwrap_or(&[]).iter().flatten() {
                if let Some(slot) = held.get_mut(n) {
                    *slot = (h.class, h.site);
                    n += 1;
                }
            }
            let inv = match idx {
                Some(t) => s.graph.acquire_idx(held.get(..n).unwrap_or(&[]), t, site),
                None => None,
            };
            let d = s.depth;
            if let Some(slot) = s.held.get_mut(d) {
                *slot = Some(Held { class: idx.unwrap_or(usize::MAX), site, addr });
            }
            s.depth = (d + 1).min(DEPTH);
            match inv {
                Some(i) if !s.reported => {
                    s.reported = true;
                    s.first = Some(i);
                    INVERSIONS.fetch_add(1, Ordering::SeqCst);
                    Some(i)
                }
                Some(_) => {
                    INVERSIONS.fetch_add(1, Ordering::SeqCst);
                    None
                }
                None => None,
            }
        };
        irq::restore(was);
        if let Some(i) = report {
            // Printing takes the console lock: the report is made with the
            // checker's own lock released.
            let r = REPORTER.load(Ordering::Acquire);
            if !r.is_null() {
                // SAFETY: only `set_reporter` stores here, and it stores a
                // valid `fn(&Inversion)`.
                let f: fn(&Inversion) = unsafe { core::mem::transmute::<*mut (), fn(&Inversion)>(r) };
                f(&i);
            }
        }
    }

    pub fn release(addr: usize) {
        let was = irq::disable();
        {
            let mut s = STATE.lock();
            let top = s.depth;
            let base = s.base;
            // Usually the top; guards may be dropped out of order.
            let pos = (base..top).rev().find(|&i| s.held.get(i).copied().flatten().is_some_and(|h| h.addr == addr));
            if let Some(p) = pos {
                for i in p..top.saturating_sub(1) {
                    let next = s.held.get(i + 1).copied().flatten();
                    if let Some(slot) = s.held.get_mut(i) {
                        *slot = next;
                    }
                }
                if let Some(slot) = s.held.get_mut(top.saturating_sub(1)) {
                    *slot = None;
                }
                s.depth = top.saturating_sub(1);
            }
        }
        irq::restore(was);
    }

    pub fn enter_context() {
        let mut s = STATE.lock();
        let n = s.nesting;
        let base = s.base;
        if let Some(slot) = s.saved_bases.get_mut(n) {
            *slot = base;
        }
        s.nesting = n + 1;
        s.base = s.depth;
    }

    pub fn leave_context() {
        let mut s = STATE.lock();
        s.nesting = s.nesting.saturating_sub(1);
        let n = s.nesting;
        s.base = s.saved_bases.get(n).copied().unwrap_or(0);
    }

    pub fn held_names() -> alloc::string::String {
        let s = STATE.lock();
        let mut out = alloc::string::String::new();
        for h in s.held.get(..s.depth).unwrap_or(&[]).iter().flatten() {
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(s.graph.class_name(h.class).unwrap_or("?"));
            out.push_str(" at ");
            out.push_str(h.site.file);
            out.push(':');
            out.push_str(&alloc::format!("{}", h.site.line));
        }
        out
    }

    pub fn inversions() -> u32 {
        INVERSIONS.load(Ordering::SeqCst)
    }

    pub fn first_inversion() -> Option<Inversion> {
        STATE.lock().first
    }
}

#[cfg(not(feature = "lockdep"))]
mod imp {
    use core::panic::Location;
    use core::sync::atomic::AtomicU8;

    pub fn acquire(_class: &'static str, _cache: &AtomicU8, _addr: usize, _loc: &'static Location<'static>) {}
    pub fn release(_addr: usize) {}
    pub fn enter_context() {}
    pub fn leave_context() {}
    pub fn held_names() -> alloc::string::String {
        alloc::string::String::from("(lockdep off)")
    }
    pub fn inversions() -> u32 {
        0
    }
    pub fn set_reporter(_f: fn(&kcore::lockdep::Inversion)) {}
    pub fn first_inversion() -> Option<kcore::lockdep::Inversion> {
        None
    }
}

pub use imp::{acquire, enter_context, first_inversion, held_names, inversions, leave_context, release, set_reporter};

/// Whether the checker is built in.
pub const ENABLED: bool = cfg!(feature = "lockdep");
