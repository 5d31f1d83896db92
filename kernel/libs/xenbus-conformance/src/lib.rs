//! Conformance scenarios for the xenbus device: one plain-text scenario
//! runs on our node (inside the unikernel) and on Linux's
//! `/dev/xen/xenbus`; the two transcripts are compared byte for byte.
//!
//! - [`parse`] turns scenario text into a [`Scenario`] (grammar:
//!   `docs/conformance.md`); errors carry line numbers, nothing panics.
//! - [`Runner::run`] executes it against a host's [`FileApi`] and returns an
//!   [`Outcome`] whose transcript has one deterministic line per step.
//! - [`frame`] / [`split_frames`] put transcripts on a console and find
//!   them again; [`compare`], [`judge`] and [`report`] turn two hosts'
//!   transcripts into verdicts and a markdown report.
//! - [`gen`] writes random scenarios that are safe for Linux by
//!   construction and shrinks the ones on which the hosts differ.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

mod compare;
pub mod gen;
mod lex;
pub mod names;
mod run;
mod scenario;

pub use compare::{
    compare, frame, frame_done, judge, judge_outputs, judge_repeat, printable, report, split_frames, strip_seen, Diff,
    Judgement, Report, Verdict, BEGIN, DONE, END, PRINTABLE_MAX, REPEAT_SUFFIX,
};
pub use lex::quote;
pub use run::{FileApi, Outcome, RunConfig, Runner, SERVE_ACK, SERVE_CHUNK, SERVE_CTL};
pub use scenario::{
    eval, parse, Alt, Dom0Op, EvalError, Expect, Field, Lets, MsgSpec, ParseError, Scenario, SkipOn, Step, StepKind,
    Term, Vars, DEFAULT_QUIET_MS, DOMID_VAR, MAX_BYTES, MAX_PATTERNS, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY,
};

/// Host name of our node in `skip-on:` lines and configurations.
pub const HOST_OURS: &str = "ours";
/// Host name of Linux.
pub const HOST_LINUX: &str = "linux";
/// The xenbus device path on Linux.
pub const LINUX_DEVICE: &str = "/dev/xen/xenbus";
