//! `bench=<spec>` on the command line: the `make bench` workload
//! (`xs_bench`, shared with the Linux runner) against this kernel's xenbus
//! node, opened through the file API as a program opens it, plus the
//! `client` phase through the kernel's own xenstore API. Then power off.
//!
//! After each phase this host also prints what the kernel did meanwhile
//! (docs/bench.md): `BENCH kstats phase=<label> ops=<n> hypercalls=<n>
//! evtchn_op=<n> sched_op=<n> vcpu_op=<n> xen_version=<n> multicall=<n> upcalls=<n>
//! poll_wakes=<n> switches=<n> idle_blocks=<n> clock_reads=<n>`, totals over the phase.
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use xen_sys as x;
use xs_bench::{Host, Spec};

use crate::arch::hypercall;
use crate::fs::{PollFd, Program, O_RDWR, POLLIN};
use crate::kprintln;

/// Kernel counters at a phase's start.
#[derive(Clone, Copy, Default)]
struct Counters {
    hypercalls: u64,
    evtchn_op: u64,
    sched_op: u64,
    vcpu_op: u64,
    xen_version: u64,
    multicall: u64,
    upcalls: u64,
    poll_wakes: u64,
    clock_reads: u64,
    switches: u64,
    idle_blocks: u64,
}

impl Counters {
    fn now() -> Self {
        let h = |nr: u32| hypercall::COUNTS.get(nr as usize).map_or(0, |c| c.load(Ordering::Relaxed));
        Counters {
            hypercalls: hypercall::total(),
            evtchn_op: h(x::__HYPERVISOR_event_channel_op),
            sched_op: h(x::__HYPERVISOR_sched_op),
            vcpu_op: h(x::__HYPERVISOR_vcpu_op),
            xen_version: h(x::__HYPERVISOR_xen_version),
            multicall: h(x::__HYPERVISOR_multicall),
            upcalls: crate::xen::evtchn::UPCALLS.load(Ordering::Relaxed),
            poll_wakes: crate::xen::evtchn::POLL_WAKES.load(Ordering::Relaxed),
            clock_reads: crate::arch::RDTSC_READS.load(Ordering::Relaxed),
            switches: crate::sched::SWITCHES.load(Ordering::Relaxed),
            idle_blocks: crate::sched::IDLE_BLOCKS.load(Ordering::Relaxed),
        }
    }
}

struct KernelHost {
    p: Program,
    fd: vfs::Fd,
    start: Counters,
}

impl Host for KernelHost {
    fn name(&self) -> &str {
        "ours"
    }

    fn write(&mut self, buf: &[u8]) -> Result<usize, i32> {
        self.p.write(self.fd, buf).map_err(|e| e.code())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, i32> {
        self.p.read(self.fd, buf).map_err(|e| e.code())
    }

    fn poll_in(&mut self, timeout_ms: u32) -> Result<bool, i32> {
        let mut set = [PollFd { fd: self.fd, events: POLLIN, revents: 0 }];
        let n = self.p.poll(&mut set, i64::from(timeout_ms)).map_err(|e| e.code())?;
        Ok(n > 0 && set[0].revents & POLLIN != 0)
    }

    fn now_ns(&mut self) -> u64 {
        crate::time::now_ns()
    }

    fn sleep_ms(&mut self, ms: u64) {
        crate::sched::sleep_ns(ms.saturating_mul(1_000_000));
    }

    fn print(&mut self, line: &str) {
        kprintln!("{}", line);
    }

    fn client_read(&mut self, path: &str, out: &mut Vec<u8>) -> Option<Result<(), i32>> {
        Some(match crate::xenstore::read(0, path) {
            Ok(v) => {
                out.extend_from_slice(&v);
                Ok(())
            }
            Err(_) => Err(vfs::Errno::EIO.code()),
        })
    }

    fn phase_start(&mut self) {
        self.start = Counters::now();
    }

    fn phase_stop(&mut self, label: &str, ops: u64) -> Option<String> {
        let (a, b) = (self.start, Counters::now());
        Some(alloc::format!(
            "BENCH kstats phase={} ops={} hypercalls={} evtchn_op={} sched_op={} vcpu_op={} xen_version={} multicall={} upcalls={} \
             poll_wakes={} switches={} idle_blocks={} clock_reads={}",
            label,
            ops,
            b.hypercalls - a.hypercalls,
            b.evtchn_op - a.evtchn_op,
            b.sched_op - a.sched_op,
            b.vcpu_op - a.vcpu_op,
            b.xen_version - a.xen_version,
            b.multicall - a.multicall,
            b.upcalls - a.upcalls,
            b.poll_wakes - a.poll_wakes,
            b.switches - a.switches,
            b.idle_blocks - a.idle_blocks,
            b.clock_reads - a.clock_reads
        ))
    }
}

/// Runs the workload `spec` (xs_bench's grammar) on the xenbus node.
pub fn run(spec: &str) {
    let spec = match Spec::parse(spec) {
        Ok(s) => s,
        Err(e) => {
            kprintln!("BENCH error phase=spec round=0 {}", e);
            return;
        }
    };
    let p = Program::new();
    let fd = match p.open("/dev/xen/xenbus", O_RDWR) {
        Ok(fd) => fd,
        Err(e) => {
            kprintln!("BENCH error phase=open round=0 errno {}", e.code());
            return;
        }
    };
    let mut host = KernelHost { p, fd, start: Counters::default() };
    xs_bench::run(&mut host, &spec);
    let _ = host.p.close(fd);
}
