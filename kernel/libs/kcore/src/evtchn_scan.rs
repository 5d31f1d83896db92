//! Fair scanning of the 2-level event-channel pending bitmaps.
//!
//! Xen marks a port pending by setting its bit in `evtchn_pending[port/64]`,
//! then the word's bit in the vCPU's `evtchn_pending_sel`, then
//! `evtchn_upcall_pending`. The upcall takes the selector (atomic exchange
//! with 0) and visits, for each selected word, the bits that are pending and
//! not masked. To be fair, a scan resumes after the (word, bit) where the
//! previous one stopped, so a busy low-numbered port cannot starve the rest.
//!
//! [`Scanner`] holds only the resume position; the kernel supplies the
//! bitmaps through closures so this logic runs the same on the host.

/// Bits per selector/bitmap word.
pub const BITS: u32 = 64;

/// Number of ports of the 2-level ABI on x86_64.
pub const NR_PORTS: u32 = BITS * BITS;

/// Resume position of the round-robin scan: the port after the last one visited.
#[derive(Debug, Default, Clone, Copy)]
pub struct Scanner {
    cursor: u32,
}

impl Scanner {
    /// A scanner that starts at port 0.
    pub const fn new() -> Self {
        Self { cursor: 0 }
    }

    /// Visits ports that are pending and unmasked in the selected words, in
    /// port order starting after the last port visited by the previous scan
    /// and wrapping around, so every pending port is served once before any
    /// is served twice.
    ///
    /// `sel` is the selector taken from the vCPU. `word(i)` returns
    /// `pending[i] & !mask[i]` as it is now (re-read each time, since
    /// handlers run in between). `visit(port)` is called once per port
    /// found; it must clear the pending bit before handling the port. At
    /// most `budget` ports are visited. Returns the selector bits of words
    /// that may still hold pending ports (0 when the scan found none left).
    pub fn scan(
        &mut self,
        mut sel: u64,
        mut word: impl FnMut(u32) -> u64,
        mut visit: impl FnMut(u32),
        budget: u32,
    ) -> u64 {
        let mut left = budget;
        while sel != 0 {
            match self.find(&mut sel, &mut word) {
                None => break,
                Some(port) => {
                    if left == 0 {
                        break;
                    }
                    left -= 1;
                    visit(port);
                    self.cursor = (port + 1) % NR_PORTS;
                }
            }
        }
        sel
    }

    /// The first pending port at or after the cursor (wrapping), dropping
    /// from `sel` the words found empty.
    ///
    /// Order: the cursor's word from the cursor's bit up, then the other
    /// selected words in ascending order after it (wrapping), then the
    /// cursor's word again for its low bits. Only selected words are
    /// looked at: the selector is walked with `trailing_zeros`, not bit by
    /// bit, so a scan costs a few instructions per pending word.
    fn find(&self, sel: &mut u64, word: &mut impl FnMut(u32) -> u64) -> Option<u32> {
        let start_w = self.cursor / BITS;
        let start_b = self.cursor % BITS;
        let start_bit = 1u64 << start_w;
        if *sel & start_bit != 0 {
            let all = word(start_w);
            if all == 0 {
                *sel &= !start_bit;
            } else {
                let high = all & (u64::MAX << start_b);
                if high != 0 {
                    return Some(start_w * BITS + high.trailing_zeros());
                }
            }
        }
        // Bit k of `rest` is word (start_w + k) % 64; bit 0 (the start word) was handled above.
        let mut rest = sel.rotate_right(start_w) & !1;
        while rest != 0 {
            let k = rest.trailing_zeros();
            rest &= rest - 1;
            let w = (start_w + k) % BITS;
            let all = word(w);
            if all == 0 {
                *sel &= !(1u64 << w);
                continue;
            }
            return Some(w * BITS + all.trailing_zeros());
        }
        // Wrapped around: the start word's bits below the cursor (re-read, since
        // a handler may have set new ones).
        if *sel & start_bit != 0 {
            let all = word(start_w);
            if all != 0 {
                return Some(start_w * BITS + all.trailing_zeros());
            }
            *sel &= !start_bit;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// A simulated pending bitmap: visit clears the bit, like the kernel.
    fn run(scanner: &mut Scanner, pending: &mut [u64; 64], masked: &[u64; 64]) -> Vec<u32> {
        let mut sel = 0u64;
        for (i, w) in pending.iter().enumerate() {
            if *w != 0 {
                sel |= 1 << i;
            }
        }
        let mut seen = Vec::new();
        let cell = core::cell::RefCell::new(pending);
        let left = scanner.scan(
            sel,
            |w| cell.borrow()[w as usize] & !masked[w as usize],
            |p| {
                cell.borrow_mut()[(p / 64) as usize] &= !(1u64 << (p % 64));
                seen.push(p);
            },
            NR_PORTS,
        );
        assert_eq!(left, 0);
        seen
    }

    #[test]
    fn visits_every_pending_unmasked_port_once() {
        let mut pending = [0u64; 64];
        let mut masked = [0u64; 64];
        for p in [0u32, 1, 63, 64, 200, 4095, 1000] {
            pending[(p / 64) as usize] |= 1 << (p % 64);
        }
        masked[(1000 / 64) as usize] |= 1 << (1000 % 64);
        let mut s = Scanner::new();
        let mut seen = run(&mut s, &mut pending, &masked);
        seen.sort();
        assert_eq!(seen, [0, 1, 63, 64, 200, 4095]);
        // The masked port stays pending.
        assert_ne!(pending[(1000 / 64) as usize], 0);
    }

    #[test]
    fn order_is_port_order_from_the_cursor() {
        let mut pending = [0u64; 64];
        pending[0] = 0b111; // ports 0,1,2
        pending[1] = 0b11; // ports 64,65
        let mut s = Scanner::new();
        let seen = run(&mut s, &mut pending, &[0; 64]);
        assert_eq!(seen, [0, 1, 2, 64, 65]);
        // The next scan starts after 65 and wraps.
        pending[0] = 0b1;
        pending[2] = 0b1; // port 128
        assert_eq!(run(&mut s, &mut pending, &[0; 64]), [128, 0]);
    }

    #[test]
    fn resumes_after_last_port() {
        // Port 5 is always busy; port 9 must still be served on the next scan.
        let mut s = Scanner::new();
        let mut pending = [0u64; 64];
        pending[0] = 1 << 5;
        assert_eq!(run(&mut s, &mut pending, &[0; 64]), [5]);
        pending[0] = (1 << 5) | (1 << 9) | (1 << 2);
        let seen = run(&mut s, &mut pending, &[0; 64]);
        assert_eq!(seen[0], 9, "scan resumes after port 5");
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn no_port_starves() {
        // With one port re-raised after every visit, all others still get served.
        let mut s = Scanner::new();
        let mut pending = [0u64; 64];
        for p in [3u32, 70, 130, 700] {
            pending[(p / 64) as usize] |= 1 << (p % 64);
        }
        let mut served = alloc::collections::BTreeSet::new();
        let mut sel = 0;
        for (i, w) in pending.iter().enumerate() {
            if *w != 0 {
                sel |= 1 << i;
            }
        }
        let cell = core::cell::RefCell::new(&mut pending);
        let mut visits = 0;
        let left = s.scan(
            sel,
            |w| cell.borrow()[w as usize],
            |p| {
                visits += 1;
                let mut pb = cell.borrow_mut();
                pb[(p / 64) as usize] &= !(1u64 << (p % 64));
                served.insert(p);
                if p == 3 {
                    pb[0] |= 1 << 3; // busy port fires again, every time
                }
            },
            20,
        );
        assert!(served.contains(&70) && served.contains(&130) && served.contains(&700));
        assert_eq!(visits, 20, "the budget bounds a scan");
        assert_ne!(left, 0, "port 3 is still pending");
    }

    /// The scan order as first written: every one of the 65 positions
    /// (start word, the others, the start word again) checked bit by bit.
    /// The fast `find` must choose exactly the same ports.
    fn find_reference(cursor: u32, sel: &mut u64, word: &mut impl FnMut(u32) -> u64) -> Option<u32> {
        let (start_w, start_b) = (cursor / BITS, cursor % BITS);
        for i in 0..=BITS {
            let w = (start_w + i) % BITS;
            if *sel & (1u64 << w) == 0 {
                continue;
            }
            let all = word(w);
            if all == 0 {
                *sel &= !(1u64 << w);
                continue;
            }
            let bits = if i == 0 { all & (u64::MAX << start_b) } else { all };
            if bits != 0 {
                return Some(w * BITS + bits.trailing_zeros());
            }
        }
        None
    }

    proptest::proptest! {
        #[test]
        fn find_matches_the_reference(
            cursor in 0u32..NR_PORTS,
            sel in proptest::prelude::any::<u64>(),
            words in proptest::collection::vec(proptest::prelude::any::<u64>(), 64),
            sparse in proptest::collection::vec(0u32..NR_PORTS, 0..6),
            use_sparse in proptest::prelude::any::<bool>(),
        ) {
            // Dense random words, or a few ports (the usual case).
            let mut pending = [0u64; 64];
            if use_sparse {
                for p in &sparse {
                    pending[(p / 64) as usize] |= 1 << (p % 64);
                }
            } else {
                pending.copy_from_slice(&words);
            }
            let s = Scanner { cursor };
            let (mut sel_a, mut sel_b) = (sel, sel);
            let a = s.find(&mut sel_a, &mut |w| pending[w as usize]);
            let b = find_reference(cursor, &mut sel_b, &mut |w| pending[w as usize]);
            proptest::prop_assert_eq!(a, b);
            proptest::prop_assert_eq!(sel_a, sel_b, "the same empty words are dropped from the selector");
        }
    }
}
