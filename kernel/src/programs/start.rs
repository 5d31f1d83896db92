//! How a program thread starts: its thread control block (what `%fs`
//! points to) and, for the main thread, the System V initial process stack
//! and the jump to the executable's entry point.
use alloc::boxed::Box;
use alloc::vec::Vec;

/// The thread control block, laid out as glibc's `tcbhead_t` where
/// glibc-compiled code looks: `%fs:0` is the block's own address (the
/// thread pointer), `%fs:0x10` its "self", `%fs:0x28` the stack-protector
/// canary and `%fs:0x30` the pointer guard. The libc's per-thread data
/// (errno, cancellation state) follows the header.
#[repr(C, align(64))]
pub struct Tcb {
    /// 0x00: the thread pointer (this block's address).
    pub tcb: u64,
    /// 0x08: the dynamic thread vector (no TLS here: 0).
    pub dtv: u64,
    /// 0x10: `self` (again this block).
    pub self_ptr: u64,
    /// 0x18: `multiple_threads`, 0x1c: `gscope_flag`.
    pub flags: [u32; 2],
    /// 0x20: `sysinfo`.
    pub sysinfo: u64,
    /// 0x28: the stack-protector canary.
    pub stack_guard: u64,
    /// 0x30: the pointer guard.
    pub pointer_guard: u64,
    /// 0x38..0x100: the rest of `tcbhead_t` (zero).
    pub rest: [u64; 25],
    /// The libc's per-thread data.
    pub data: guest_libc::abi::ThreadData,
}

impl Tcb {
    /// A control block with the process's canary and pointer guard; its
    /// self pointers are set once it is boxed. The caller has charged the
    /// programs budget for it (`size_of::<Tcb>()`), so the heap has room.
    pub fn new(canary: u64, guard: u64) -> Box<Tcb> {
        let mut b = Box::new(Tcb {
            tcb: 0,
            dtv: 0,
            self_ptr: 0,
            flags: [0; 2],
            sysinfo: 0,
            stack_guard: canary,
            pointer_guard: guard,
            rest: [0; 25],
            data: guest_libc::abi::ThreadData::new(),
        });
        let me = &*b as *const Tcb as u64;
        b.tcb = me;
        b.self_ptr = me;
        b
    }

    /// The thread pointer (the value for the `%fs` base).
    pub fn thread_pointer(&self) -> u64 {
        self as *const Tcb as u64
    }
}

const _: () = assert!(core::mem::offset_of!(Tcb, stack_guard) == 0x28);
const _: () = assert!(core::mem::offset_of!(Tcb, pointer_guard) == 0x30);
const _: () = assert!(core::mem::offset_of!(Tcb, data) >= 0x100);

/// 64 random bits from RDRAND, or (without it) a mix of the time-stamp
/// counter and Xen's clock.
pub fn random_u64() -> u64 {
    let has_rdrand = core::arch::x86_64::__cpuid(1).ecx & (1 << 30) != 0;
    if has_rdrand {
        for _ in 0..10 {
            let v: u64;
            let ok: u8;
            // SAFETY: RDRAND is present (CPUID.1:ECX.30); it only writes the
            // two output registers and the flags.
            unsafe {
                core::arch::asm!("rdrand {v}", "setc {ok}", v = out(reg) v, ok = out(reg_byte) ok, options(nomem, nostack));
            }
            if ok != 0 {
                return v;
            }
        }
    }
    // SAFETY: RDTSC reads the time-stamp counter; no memory is touched.
    let tsc = unsafe { core::arch::x86_64::_rdtsc() };
    let mut x = tsc ^ crate::time::now_ns().rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15;
    // splitmix64's finaliser.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The argument and environment strings of the initial stack,
/// NUL-terminated, in one block that does not move.
pub struct Strings {
    block: Box<[u8]>,
    argv: Vec<usize>,
    env: Vec<usize>,
}

impl Strings {
    /// Copies `argv` and `env` (an embedded NUL ends a string, as in C).
    pub fn new(argv: &[&str], env: &[&str]) -> Strings {
        let mut block = Vec::new();
        let offs = |list: &[&str], block: &mut Vec<u8>| -> Vec<usize> {
            list.iter()
                .map(|s| {
                    let at = block.len();
                    block.extend(s.bytes().take_while(|&b| b != 0));
                    block.push(0);
                    at
                })
                .collect()
        };
        let a = offs(argv, &mut block);
        let e = offs(env, &mut block);
        Strings { block: block.into_boxed_slice(), argv: a, env: e }
    }

    fn ptrs(&self, offs: &[usize]) -> Vec<u64> {
        let base = self.block.as_ptr() as u64;
        offs.iter().map(|&o| base + o as u64).collect()
    }

    /// `argv[i]` addresses.
    pub fn argv_ptrs(&self) -> Vec<u64> {
        self.ptrs(&self.argv)
    }

    /// `envp[i]` addresses.
    pub fn env_ptrs(&self) -> Vec<u64> {
        self.ptrs(&self.env)
    }
}

/// auxv keys.
const AT_NULL: u64 = 0;
const AT_PAGESZ: u64 = 6;
const AT_BASE: u64 = 7;
const AT_ENTRY: u64 = 9;
const AT_UID: u64 = 11;
const AT_EUID: u64 = 12;
const AT_GID: u64 = 13;
const AT_EGID: u64 = 14;
const AT_SECURE: u64 = 23;
const AT_RANDOM: u64 = 25;
const AT_EXECFN: u64 = 31;

/// The words of the initial process stack, from the address `%rsp` points
/// to upwards: `argc`, the `argv` pointers and NULL, the `envp` pointers
/// and NULL, then the auxiliary vector (key, value pairs ending with
/// `AT_NULL`). `random` points to 16 random bytes (`AT_RANDOM`).
pub fn initial_stack(argv: &[u64], envp: &[u64], entry: u64, random: u64) -> Vec<u64> {
    let mut w = Vec::with_capacity(argv.len() + envp.len() + 30);
    w.push(argv.len() as u64);
    w.extend_from_slice(argv);
    w.push(0);
    w.extend_from_slice(envp);
    w.push(0);
    let execfn = argv.first().copied().unwrap_or(0);
    for (k, v) in [
        (AT_PAGESZ, crate::mm::PAGE_SIZE),
        (AT_BASE, 0),
        (AT_ENTRY, entry),
        (AT_UID, 0),
        (AT_EUID, 0),
        (AT_GID, 0),
        (AT_EGID, 0),
        (AT_SECURE, 0),
        (AT_RANDOM, random),
        (AT_EXECFN, execfn),
        (AT_NULL, 0),
    ] {
        w.push(k);
        w.push(v);
    }
    w
}

/// Copies `words` to 16-byte-aligned memory below the current stack
/// pointer, points `%rsp` at it and jumps to `entry` with `%rdx` = 0 (no
/// `rtld_fini`) and the other argument registers cleared, as the Linux
/// kernel enters a program's `_start`. The calling Rust frames are
/// abandoned: the caller must own nothing that needs dropping.
///
/// # Safety
/// `entry` is the entry point of a loaded, relocated image whose data the
/// program's thread may use; `words` stays valid (the process keeps it)
/// until the copy is done; the thread is a program thread (its `%fs`
/// base and FPU state are its own) with events masked.
pub unsafe fn enter(words: *const u64, count: usize, entry: u64) -> ! {
    // SAFETY: see the function's contract. 512 bytes are left between the
    // current frame and the copy; nothing below the new %rsp is in use.
    unsafe {
        core::arch::asm!(
            "lea rax, [rsp - 512]",
            "mov rcx, r9",
            "shl rcx, 3",
            "sub rax, rcx",
            "and rax, -16",
            "mov rdi, rax",
            "mov rsi, r8",
            "mov rcx, r9",
            "cld",
            "rep movsq",
            "mov rsp, rax",
            "xor eax, eax",
            "xor ebx, ebx",
            "xor ecx, ecx",
            "xor edx, edx",
            "xor esi, esi",
            "xor edi, edi",
            "xor ebp, ebp",
            "xor r8d, r8d",
            "xor r9d, r9d",
            "xor r11d, r11d",
            "xor r12d, r12d",
            "xor r13d, r13d",
            "xor r14d, r14d",
            "xor r15d, r15d",
            "jmp r10",
            in("r8") words,
            in("r9") count,
            in("r10") entry,
            options(noreturn)
        )
    }
}
