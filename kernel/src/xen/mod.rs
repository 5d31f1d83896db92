//! Typed, safe wrappers over Xen's interfaces: start_info, shared_info,
//! scheduler operations, memory management hypercalls, the P2M, the PV
//! console and time; and the suspend sequence with its hook registry
//! ([`suspend`]). Everything that reads or writes memory shared with Xen or dom0 does
//! so with volatile accesses and the barriers the interface documents.
pub mod console;
pub mod evtchn;
pub mod mmu;
pub mod p2m;
pub mod sched;
pub mod shared_info;
pub mod start_info;
pub mod suspend;
pub mod time;
