//! `xsbench-dom0`: the dom0 side of `make bench` (docs/bench.md), a static
//! program put into the bench run's dom0 initramfs as
//! `/harness/xsbench-dom0`.
//!
//! ```text
//! xsbench-dom0 time CMD [ARG...]       runs CMD (output inherited), then prints
//!                                      "xsbench-time elapsed_ns=<ns> rc=<rc>"
//! xsbench-dom0 serve DOMID NAME [S]    unpauses the (paused) domain and serves it
//!                                      until it is gone (or S seconds, default 600)
//! ```
//! `serve` watches the guest's `data/benchctl` and `@releaseDomain` before
//! it unpauses the domain, then prints, on dom0's console (the host
//! harness reads them; times are CLOCK_MONOTONIC ns since the unpause; the
//! mark lines are kept back until the domain is gone):
//! ```text
//! HARNESS: bench <name> ready unpause_to_ready_ns=<ns>       data/benchctl/ready was written
//! HARNESS: bench <name> mark <seq> <label> <start|end> t_ns=<ns> guest_ns=<ns> dom0_ns=<ns>
//!                                                            a mark; both domains' CPU time
//!                                                            (getdomaininfo), then ack = <seq>
//! HARNESS: bench <name> shutdown unpause_to_shutdown_ns=<ns> the guest shut itself down
//! HARNESS: bench <name> gone unpause_to_gone_ns=<ns>         the domain is dying or destroyed
//! HARNESS: bench <name> timeout after <s> s                  past S: `xl destroy` was run
//! HARNESS: error bench <name>: <what>
//! ```
//! A write of `data/benchctl/ping` = v is answered by writing
//! `data/benchctl/pong` = v (the watch round trip). Exit status of `serve`:
//! 0 once the domain is gone, 3 when it was destroyed at the time limit, 1
//! on an error (the domain is then destroyed).

mod domctl;
mod xs;

use std::process::Command;
use std::time::{Duration, Instant};

use domctl::{Domctl, DOMINF_DYING, DOMINF_SHUTDOWN};
use xs::Xs;

fn usage() -> ! {
    eprintln!("usage: xsbench-dom0 time CMD [ARG...] | serve DOMID NAME [SECONDS]");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("time") if args.len() >= 2 => {
            let t0 = Instant::now();
            let rc = match Command::new(&args[1]).args(&args[2..]).status() {
                Ok(s) => s.code().unwrap_or(-1),
                Err(e) => {
                    eprintln!("xsbench-dom0: cannot run {}: {e}", args[1]);
                    127
                }
            };
            println!("xsbench-time elapsed_ns={} rc={rc}", t0.elapsed().as_nanos());
            std::process::exit(rc);
        }
        Some("serve") if (3..=4).contains(&args.len()) => {
            let Ok(domid) = args[1].parse::<u16>() else { usage() };
            let name = &args[2];
            let secs = match args.get(3) {
                Some(s) => s.parse::<u64>().unwrap_or_else(|_| usage()),
                None => 600,
            };
            let mut kept = Vec::new();
            let r = serve(domid, name, Duration::from_secs(secs), &mut kept);
            for line in kept {
                println!("{line}");
            }
            match r {
                Ok(false) => {}
                Ok(true) => std::process::exit(3),
                Err(e) => {
                    println!("HARNESS: error bench {name}: {e}");
                    let _ = Command::new("xl").args(["destroy", name]).status();
                    std::process::exit(1);
                }
            }
        }
        _ => usage(),
    }
}

/// Serves the domain until it is gone; true when it had to be destroyed
/// at the time limit.
/// The mark lines are kept in `kept` (printed when it returns): printing
/// while the guest runs would put dom0's console work into its phases.
fn serve(domid: u16, name: &str, limit: Duration, kept: &mut Vec<String>) -> Result<bool, String> {
    let mut dc = Domctl::open()?;
    let mut xs = Xs::connect()?;
    let ctl = format!("/local/domain/{domid}/data/benchctl");
    let (ready, mark, ack, ping, pong) = (
        format!("{ctl}/ready"),
        format!("{ctl}/mark"),
        format!("{ctl}/ack"),
        format!("{ctl}/ping"),
        format!("{ctl}/pong"),
    );
    xs.watch(&ctl, "ctl")?;
    xs.watch("@releaseDomain", "rel")?;
    let t0 = Instant::now();
    dc.unpause(domid)?;
    let ns = |t: Instant| t.duration_since(t0).as_nanos();
    let (mut seen_ready, mut seen_shutdown, mut timed_out) = (false, false, false);
    let mut last_seq = String::new();
    loop {
        let ev = xs.next_event(500)?;
        let path = ev.as_ref().map(|(p, _)| String::from_utf8_lossy(p).into_owned()).unwrap_or_default();
        if !seen_ready && path == ready && xs.read(&ready)?.is_some() {
            seen_ready = true;
            println!("HARNESS: bench {name} ready unpause_to_ready_ns={}", ns(Instant::now()));
        } else if path == mark {
            let v = String::from_utf8_lossy(&xs.read(&mark)?.unwrap_or_default()).into_owned();
            let seq = v.split(' ').next().unwrap_or_default().to_string();
            if !seq.is_empty() && seq != last_seq {
                let guest = dc.info(domid)?.map_or(0, |i| i.cpu_ns);
                let dom0 = dc.info(0)?.map_or(0, |i| i.cpu_ns);
                let t = ns(Instant::now());
                kept.push(format!("HARNESS: bench {name} mark {v} t_ns={t} guest_ns={guest} dom0_ns={dom0}"));
                xs.write(&ack, seq.as_bytes())?;
                last_seq = seq;
            }
        } else if path == ping {
            if let Some(v) = xs.read(&ping)? {
                xs.write(&pong, &v)?;
            }
        }
        // On @releaseDomain, and whenever nothing happened for a while.
        if ev.is_none() || path == "@releaseDomain" {
            let info = dc.info(domid)?;
            let now = ns(Instant::now());
            match info {
                Some(i) if i.flags & DOMINF_DYING == 0 => {
                    if i.flags & DOMINF_SHUTDOWN != 0 && !seen_shutdown {
                        seen_shutdown = true;
                        println!("HARNESS: bench {name} shutdown unpause_to_shutdown_ns={now}");
                    }
                }
                _ => {
                    println!("HARNESS: bench {name} gone unpause_to_gone_ns={now}");
                    return Ok(timed_out);
                }
            }
        }
        if !timed_out && t0.elapsed() > limit {
            timed_out = true;
            println!("HARNESS: bench {name} timeout after {} s", limit.as_secs());
            let _ = Command::new("xl").args(["destroy", name]).status();
        }
        if timed_out && t0.elapsed() > limit + Duration::from_secs(30) {
            return Err("the domain did not go away after xl destroy".into());
        }
    }
}
