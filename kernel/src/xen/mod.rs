//! Typed, safe wrappers over Xen's interfaces: start_info, shared_info,
//! scheduler operations, memory management hypercalls, the PV console and
//! time. Everything that reads or writes memory shared with Xen or dom0 does
//! so with volatile accesses and the barriers the interface documents.
pub mod console;
pub mod evtchn;
pub mod mmu;
pub mod sched;
pub mod shared_info;
pub mod start_info;
pub mod time;
