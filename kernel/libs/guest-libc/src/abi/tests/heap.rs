//! malloc, calloc, realloc, free through the C ABI.
use core::ffi::c_void;

use super::errno;
use super::mock::run;
use crate::abi::cstdlib::{calloc, free, malloc, malloc_usable_size, realloc};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn fill(p: *mut u8, n: usize, seed: u8) {
    for i in 0..n {
        // SAFETY: p is a live block of at least n bytes.
        unsafe { *p.add(i) = seed.wrapping_add(i as u8) };
    }
}

fn check(p: *const u8, n: usize, seed: u8) -> bool {
    // SAFETY: as in fill.
    (0..n).all(|i| unsafe { *p.add(i) } == seed.wrapping_add(i as u8))
}

#[test]
fn random_malloc_realloc_free_keep_contents_and_alignment() {
    let out = run(&["t"], &[], |proc| {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut live: Vec<(*mut u8, usize, u8)> = Vec::new();
        for step in 0..20000u32 {
            let r = rng.next();
            let size = match r % 10 {
                0 => (r >> 8) as usize % 70000,
                1..=3 => (r >> 8) as usize % 1024,
                _ => (r >> 8) as usize % 64,
            };
            match (r >> 40) % 4 {
                0 | 1 if live.len() < 400 => {
                    let p = malloc(size) as *mut u8;
                    assert!(!p.is_null(), "malloc({size}) at step {step}");
                    assert_eq!(p as usize % 16, 0);
                    let seed = step as u8;
                    fill(p, size, seed);
                    live.push((p, size, seed));
                }
                2 if !live.is_empty() => {
                    let i = (r >> 20) as usize % live.len();
                    let (p, n, seed) = live[i];
                    // SAFETY: a live block.
                    let q = unsafe { realloc(p as *mut c_void, size) } as *mut u8;
                    if size == 0 {
                        assert!(q.is_null());
                        live.swap_remove(i);
                        continue;
                    }
                    assert!(!q.is_null());
                    assert_eq!(q as usize % 16, 0);
                    assert!(check(q, n.min(size), seed), "realloc lost data at step {step}");
                    fill(q, size, seed);
                    live[i] = (q, size, seed);
                }
                _ if !live.is_empty() => {
                    let i = (r >> 20) as usize % live.len();
                    let (p, n, seed) = live.swap_remove(i);
                    assert!(check(p, n, seed), "block overwritten at step {step}");
                    // SAFETY: a live block.
                    unsafe {
                        assert!(malloc_usable_size(p as *mut c_void) >= n);
                        free(p as *mut c_void);
                    }
                }
                _ => {}
            }
        }
        for (p, n, seed) in live.drain(..) {
            assert!(check(p, n, seed));
            // SAFETY: a live block.
            unsafe { free(p as *mut c_void) };
        }
        proc.process.heap_usage()
    });
    let (used, mapped) = out.ret.unwrap();
    assert_eq!(used, 0, "everything freed");
    assert!(mapped > 0 && mapped < 64 << 20, "mapped {mapped}");
}

#[test]
fn edge_cases_follow_glibc() {
    let out = run(&["t"], &[], |_| {
        let a = malloc(0);
        let b = malloc(0);
        assert!(!a.is_null() && !b.is_null() && a != b);
        let z = calloc(100, 3) as *const u8;
        // SAFETY: 300 bytes.
        assert!((0..300).all(|i| unsafe { *z.add(i) } == 0));
        let over = calloc(usize::MAX / 2, 3);
        let e1 = errno();
        let huge = malloc(usize::MAX - 8);
        let e2 = errno();
        // SAFETY: blocks of ours; realloc(NULL) is malloc.
        let c = unsafe { realloc(core::ptr::null_mut(), 10) };
        // SAFETY: blocks of ours.
        unsafe {
            free(a);
            free(b);
            free(z as *mut c_void);
            free(c);
            free(core::ptr::null_mut());
        }
        (over.is_null(), e1, huge.is_null(), e2, c.is_null())
    });
    assert_eq!(out.ret, Some((true, 12, true, 12, false)));
}

#[test]
fn invalid_and_double_free_abort_with_glibcs_message() {
    for double in [false, true] {
        let out = run(&["t"], &[], move |_| {
            let p = malloc(32);
            // SAFETY: deliberately bad frees; the libc aborts.
            unsafe {
                if double {
                    free(p);
                    free(p);
                } else {
                    free((p as *mut u8).add(16) as *mut c_void);
                }
            }
        });
        assert_eq!(out.status, Some(134));
        assert_eq!(out.stderr, b"free(): invalid pointer\n");
    }
    let out = run(&["t"], &[], |_| {
        let mut local = [0u64; 4];
        // SAFETY: a pointer the heap never gave out.
        unsafe { free(local.as_mut_ptr().add(2) as *mut c_void) };
    });
    assert_eq!(out.status, Some(134));
}
