//! Pure logic of the kernel core, kept out of the kernel binary so that it
//! builds and is tested on the host: no hardware access, no locks.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod budget;
pub mod evtchn_scan;
pub mod lockdep;
pub mod sha256;
pub mod time;
pub mod timer_queue;
pub mod wait_list;
