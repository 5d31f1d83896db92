//! The kernel's side of the built-in libc: [`guest_libc::abi::Sys`] over
//! the process and file layers.
//!
//! Every entry comes from program code on a program thread. On entry
//! events are unmasked (the program runs with them masked, because its
//! code may use the stack's red zone, which an event frame would
//! overwrite; inside a call the red zone is no longer live), and masked
//! again on the way out. A thread of a process that is exiting ends as
//! soon as it enters.
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use guest_libc::abi::{FileStat, PollFd, Process, Sys, ThreadData, ThreadStart};
use vfs::Errno;

use super::process::{self, end_current_thread, ExitStatus, ProgThread};
use crate::arch::irq;
use crate::sched::{self, WaitQueue};

/// The kernel's services, registered with the libc at boot.
pub static KERNEL_SYS: KernelSys = KernelSys;

/// See the module documentation.
pub struct KernelSys;

/// Events unmasked for the duration of a call.
struct Entered;

impl Entered {
    fn new() -> Entered {
        irq::enable();
        Entered
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        let _ = irq::disable();
    }
}

/// The calling thread's context; ends the thread when its process is
/// exiting (or when the caller is not a program thread, which cannot
/// happen: only program code calls the libc).
fn me() -> alloc::sync::Arc<ProgThread> {
    match process::current() {
        Some(pt) if !pt.proc.is_exiting() => pt,
        Some(pt) => {
            drop(pt);
            end_current_thread()
        }
        None => {
            crate::warn!("programs: a libc entry point was called outside a program thread");
            end_current_thread()
        }
    }
}

fn code(e: Errno) -> i32 {
    e.code()
}

fn path_str(path: &[u8]) -> Result<&str, i32> {
    // The VFS works on UTF-8 paths; a path that is not valid UTF-8 names
    // nothing in the tree.
    core::str::from_utf8(path).map_err(|_| Errno::ENOENT.code())
}

fn file_stat(s: vfs::Stat) -> FileStat {
    FileStat { ino: s.ino, mode: s.mode, nlink: u64::from(s.nlink), size: s.size as i64, rdev: 0 }
}

fn interrupted() -> bool {
    sched::interrupted()
}

/// Futex waiters wait here; every wake bumps the generation, so a waiter
/// also returns when its word changed and changed back (spurious returns
/// are allowed, lost wake-ups are not).
static FUTEX: WaitQueue = WaitQueue::new();
static FUTEX_GEN: AtomicU64 = AtomicU64::new(0);

impl Sys for KernelSys {
    fn open(&self, path: &[u8], flags: i32, mode: u32) -> Result<i32, i32> {
        let _e = Entered::new();
        let pt = me();
        let p = path_str(path)?;
        pt.proc.files.open_mode(p, flags as u32, mode).map_err(code)
    }

    fn close(&self, fd: i32) -> Result<(), i32> {
        let _e = Entered::new();
        me().proc.files.close(fd).map_err(code)
    }

    fn read(&self, fd: i32, buf: &mut [u8]) -> Result<usize, i32> {
        let _e = Entered::new();
        me().proc.files.read_interruptible(fd, buf, &interrupted).map_err(code)
    }

    fn write(&self, fd: i32, buf: &[u8]) -> Result<usize, i32> {
        let _e = Entered::new();
        me().proc.files.write_interruptible(fd, buf, &interrupted).map_err(code)
    }

    fn fcntl(&self, fd: i32, cmd: i32, arg: u64) -> Result<i32, i32> {
        let _e = Entered::new();
        let cmd = u32::try_from(cmd).map_err(|_| Errno::EINVAL.code())?;
        me().proc.files.fcntl(fd, cmd, arg as u32).map(|v| v as i32).map_err(code)
    }

    fn stat(&self, path: &[u8]) -> Result<FileStat, i32> {
        let _e = Entered::new();
        let _pt = me();
        crate::fs::stat(path_str(path)?).map(file_stat).map_err(code)
    }

    fn fstat(&self, fd: i32) -> Result<FileStat, i32> {
        let _e = Entered::new();
        me().proc.files.fstat(fd).map(file_stat).map_err(code)
    }

    fn isatty(&self, fd: i32) -> Result<bool, i32> {
        let _e = Entered::new();
        me().proc.files.isatty(fd).map_err(code)
    }

    fn dup2(&self, old: i32, new: i32) -> Result<i32, i32> {
        let _e = Entered::new();
        me().proc.files.dup2(old, new).map_err(code)
    }

    fn pipe2(&self, flags: i32) -> Result<[i32; 2], i32> {
        let _e = Entered::new();
        me().proc.files.pipe2(flags as u32).map_err(code)
    }

    fn socket(&self, domain: i32, ty: i32, protocol: i32) -> Result<i32, i32> {
        let _e = Entered::new();
        me().proc.files.socket(domain, ty, protocol).map_err(code)
    }

    fn connect(&self, fd: i32, addr: &[u8]) -> Result<(), i32> {
        let _e = Entered::new();
        me().proc.files.connect(fd, addr).map_err(code)
    }

    fn poll(&self, fds: &mut [PollFd], timeout_ms: i32) -> Result<usize, i32> {
        let _e = Entered::new();
        let pt = me();
        let mut set: alloc::vec::Vec<crate::fs::PollFd> = alloc::vec::Vec::new();
        set.try_reserve_exact(fds.len()).map_err(|_| Errno::ENOMEM.code())?;
        set.extend(fds.iter().map(|p| crate::fs::PollFd { fd: p.fd, events: p.events, revents: 0 }));
        let n = pt.proc.files.poll_interruptible(&mut set, i64::from(timeout_ms), &interrupted).map_err(code)?;
        for (d, s) in fds.iter_mut().zip(&set) {
            d.revents = s.revents;
        }
        Ok(n)
    }

    fn map_pages(&self, n: usize) -> Option<*mut u8> {
        let _e = Entered::new();
        me().proc.map_pages(n)
    }

    fn spawn(&self, start: ThreadStart, ctx: usize, stack_size: usize) -> Result<u64, i32> {
        let _e = Entered::new();
        let pt = me();
        let proc = pt.proc.clone();
        drop(pt);
        // Program stacks come from the stack region; a request beyond a
        // slot is capped (the libc's default is what glibc's would be).
        let _ = stack_size;
        let body: alloc::boxed::Box<dyn FnOnce() + Send> = alloc::boxed::Box::new(move || {
            start(ctx);
            end_current_thread()
        });
        process::spawn_thread(&proc, body).map(|t| u64::from(t.0)).map_err(code)
    }

    fn join(&self, tid: u64) -> Result<(), i32> {
        let _e = Entered::new();
        let pt = me();
        let tid = sched::ThreadId(u32::try_from(tid).map_err(|_| Errno::ESRCH.code())?);
        if tid == sched::current() {
            return Err(Errno::EDEADLK.code());
        }
        let proc = pt.proc.clone();
        drop(pt);
        loop {
            if !proc.threads().contains(&tid) {
                return Ok(());
            }
            if interrupted() {
                return Err(Errno::EINTR.code());
            }
            proc.thread_ended.wait_until(|| !proc.threads().contains(&tid) || interrupted());
        }
    }

    fn interrupt(&self, tid: u64) {
        let _e = Entered::new();
        let pt = me();
        if let Ok(t) = u32::try_from(tid) {
            let t = sched::ThreadId(t);
            // Only threads of the caller's process.
            if pt.proc.threads().contains(&t) {
                sched::interrupt(t);
            }
        }
    }

    fn interrupted(&self) -> bool {
        sched::interrupted()
    }

    fn clear_interrupt(&self) {
        sched::clear_interrupt()
    }

    fn current_tid(&self) -> u64 {
        u64::from(sched::current().0)
    }

    fn exit_thread(&self) -> ! {
        irq::enable();
        end_current_thread()
    }

    fn exit_process(&self, status: i32) -> ! {
        irq::enable();
        if let Some(pt) = process::current() {
            pt.proc.begin_exit(ExitStatus::Exited(status));
        }
        end_current_thread()
    }

    fn futex_wait(&self, word: &AtomicU32, expected: u32, deadline_ns: Option<u64>) -> Result<(), i32> {
        let _e = Entered::new();
        let _pt = me();
        let gen = FUTEX_GEN.load(Ordering::SeqCst);
        if word.load(Ordering::SeqCst) != expected {
            return Err(Errno::EAGAIN.code());
        }
        let woke = FUTEX.wait_until_deadline(
            || FUTEX_GEN.load(Ordering::SeqCst) != gen || word.load(Ordering::SeqCst) != expected || interrupted(),
            deadline_ns.unwrap_or(u64::MAX),
        );
        if !woke {
            return Err(Errno::ETIMEDOUT.code());
        }
        if interrupted() {
            return Err(Errno::EINTR.code());
        }
        Ok(())
    }

    fn futex_wake(&self, _word: &AtomicU32, _n: u32) {
        let _e = Entered::new();
        FUTEX_GEN.fetch_add(1, Ordering::SeqCst);
        FUTEX.wake_all();
    }

    fn now_ns(&self) -> u64 {
        crate::time::now_ns()
    }

    fn wallclock(&self) -> (u64, u32) {
        crate::time::wallclock()
    }

    fn thread_data(&self) -> *mut ThreadData {
        sched::with_prog(|c| c.data as *mut ThreadData).unwrap_or(core::ptr::null_mut())
    }

    fn process(&self) -> &Process {
        let pt = me();
        let p = &pt.proc.libc as *const Process;
        drop(pt);
        // SAFETY: the process outlives each of its threads (every thread's
        // scheduler context holds a reference to it), and the caller is one
        // of them: the reference is used only by that thread's libc code.
        unsafe { &*p }
    }

    fn console(&self, line: &[u8]) {
        let _e = Entered::new();
        let name = process::current().map(|pt| alloc::format!("[{}] ", pt.proc.id)).unwrap_or_default();
        crate::kprintln!("programs: {}{}", name, alloc::string::String::from_utf8_lossy(line));
    }
}
