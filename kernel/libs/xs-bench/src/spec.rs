//! The workload specification: the value of `bench=` on the unikernel's
//! command line and the Linux runner's argument.
//!
//! ```text
//! spec   := "all" | "ready" | item ("," item)*
//! item   := "rounds:" R                 rounds of every phase (1..=10; default 1)
//!         | "read:" N ":" D ("/" D)*    N READs of one key, at most D in flight, for each D
//!         | "write:" N ":" D ("/" D)*   N WRITEs of one key, likewise
//!         | "watch:" N                  N watch round trips through dom0
//!         | "client:" N                 N sequential READs through the host's in-kernel client
//!         | "idle:" S                   S seconds doing nothing (CPU measured by dom0)
//! ```
//! `all` is [`DEFAULT_SPEC`]; `ready` only writes the ready marker and ends.
//! Numbers are decimal: N in 1..=[`MAX_OPS`], D in 1..=[`MAX_DEPTH`], S in
//! 1..=[`MAX_IDLE_SECS`]. Phases run in the order given, once per round.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// What `bench=all` means: the figures `make bench` reports.
pub const DEFAULT_SPEC: &str = "rounds:3,read:2000:1/4/16/64,write:2000:1,watch:200,client:2000,idle:10";

/// Most requests of one phase.
pub const MAX_OPS: u32 = 100_000;
/// Most requests in flight (the unikernel's node refuses more than 128 per
/// open with `ENOBUFS`).
pub const MAX_DEPTH: u32 = 128;
/// Longest idle phase.
pub const MAX_IDLE_SECS: u32 = 3600;
/// Most rounds.
pub const MAX_ROUNDS: u32 = 10;

/// One phase of a round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `n` READs of the benchmark key with at most `depth` in flight.
    Read {
        /// Requests.
        n: u32,
        /// Most in flight.
        depth: u32,
    },
    /// `n` WRITEs of the benchmark key with at most `depth` in flight.
    Write {
        /// Requests.
        n: u32,
        /// Most in flight.
        depth: u32,
    },
    /// `n` watch round trips: write `ping`, dom0 writes `pong`, the event arrives.
    Watch {
        /// Round trips.
        n: u32,
    },
    /// `n` sequential READs through the host's own in-kernel client.
    Client {
        /// Requests.
        n: u32,
    },
    /// `secs` seconds idle.
    Idle {
        /// Seconds.
        secs: u32,
    },
}

impl Phase {
    /// The phase's name in result lines and dom0 marks: `read-d<D>`,
    /// `write-d<D>`, `watch`, `client-read`, `idle`.
    pub fn name(&self) -> String {
        match self {
            Phase::Read { depth, .. } => alloc::format!("read-d{depth}"),
            Phase::Write { depth, .. } => alloc::format!("write-d{depth}"),
            Phase::Watch { .. } => String::from("watch"),
            Phase::Client { .. } => String::from("client-read"),
            Phase::Idle { .. } => String::from("idle"),
        }
    }
}

/// A parsed specification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// Rounds of the phases.
    pub rounds: u32,
    /// The phases of one round, in order (each depth of a `read:`/`write:`
    /// item is a phase of its own).
    pub phases: Vec<Phase>,
}

/// Why a specification was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    /// The offending item.
    pub item: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bench spec item '{}': {}", self.item, self.why)
    }
}

fn err(item: &str, why: &'static str) -> SpecError {
    SpecError { item: String::from(item), why }
}

fn number(item: &str, s: &str, max: u32) -> Result<u32, SpecError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(item, "not a decimal number"));
    }
    let v: u32 = s.parse().map_err(|_| err(item, "number too large"))?;
    if v == 0 || v > max {
        return Err(err(item, "number out of range"));
    }
    Ok(v)
}

impl Spec {
    /// Parses a specification (grammar in the module docs).
    pub fn parse(text: &str) -> Result<Spec, SpecError> {
        let text = match text {
            "all" => DEFAULT_SPEC,
            "ready" => return Ok(Spec { rounds: 1, phases: Vec::new() }),
            t => t,
        };
        let mut spec = Spec { rounds: 1, phases: Vec::new() };
        for item in text.split(',') {
            let mut parts = item.split(':');
            let key = parts.next().unwrap_or_default();
            let args: Vec<&str> = parts.collect();
            match (key, args.as_slice()) {
                ("rounds", [r]) => spec.rounds = number(item, r, MAX_ROUNDS)?,
                ("read" | "write", [n, depths]) => {
                    let n = number(item, n, MAX_OPS)?;
                    for d in depths.split('/') {
                        let depth = number(item, d, MAX_DEPTH)?;
                        spec.phases.push(if key == "read" {
                            Phase::Read { n, depth }
                        } else {
                            Phase::Write { n, depth }
                        });
                    }
                }
                ("watch", [n]) => spec.phases.push(Phase::Watch { n: number(item, n, MAX_OPS)? }),
                ("client", [n]) => spec.phases.push(Phase::Client { n: number(item, n, MAX_OPS)? }),
                ("idle", [s]) => spec.phases.push(Phase::Idle { secs: number(item, s, MAX_IDLE_SECS)? }),
                ("rounds" | "read" | "write" | "watch" | "client" | "idle", _) => {
                    return Err(err(item, "wrong number of ':' fields"))
                }
                _ => return Err(err(item, "unknown item")),
            }
        }
        if spec.phases.is_empty() {
            return Err(err(text, "no phase"));
        }
        Ok(spec)
    }

    /// True for `ready`: write the ready marker, nothing else.
    pub fn ready_only(&self) -> bool {
        self.phases.is_empty()
    }
}

impl fmt::Display for Spec {
    /// The canonical text (one item per phase), which parses back to `self`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ready_only() {
            return f.write_str("ready");
        }
        write!(f, "rounds:{}", self.rounds)?;
        for p in &self.phases {
            match p {
                Phase::Read { n, depth } => write!(f, ",read:{n}:{depth}")?,
                Phase::Write { n, depth } => write!(f, ",write:{n}:{depth}")?,
                Phase::Watch { n } => write!(f, ",watch:{n}")?,
                Phase::Client { n } => write!(f, ",client:{n}")?,
                Phase::Idle { secs } => write!(f, ",idle:{secs}")?,
            }
        }
        Ok(())
    }
}
