//! `ring-corruptor`: a dom0 test tool that maps a guest's xenstore ring page
//! (`struct xenstore_domain_interface`, xen/include/public/io/xs_wire.h) and
//! writes bad indices or raw bytes into it, playing a misbehaving xenstored
//! for the guest's robustness tests.
//!
//! ```text
//! ring-corruptor [--frame <mfn>] <domid> show
//! ring-corruptor [--frame <mfn>] <domid> set <field> <value>
//! ring-corruptor [--frame <mfn>] <domid> add <field> <delta>
//! ring-corruptor [--frame <mfn>] <domid> inject-rsp <hex bytes...>
//! ```
//! The ring's frame comes from `xenstore-read
//! /local/domain/<domid>/store/ring-ref` (libxl writes the machine frame of
//! a PV guest's xenstore page there) unless `--frame` gives it. The page is
//! mapped through /dev/xen/privcmd (`IOCTL_PRIVCMD_MMAPBATCH_V2`). dom0
//! itself (domid 0) is refused.
//!
//! Every command prints one line on stdout (so that the harness's dom0
//! helper can pass it back in a one-line xenstore reply) and exits 0; any
//! error is one line on stderr, `ring-corruptor: <what failed>`, exit 1
//! (exit 2 for a bad command line, with the usage).
//!
//! - `show`: `domid=3 frame=0x1d2c3 req_cons=12 req_prod=12 rsp_cons=40
//!   rsp_prod=40 server_features=0x0 connection=0 error=0`.
//! - `set <field> <value>` and `add <field> <delta>`: `rsp_prod: 40 -> 65576`.
//!   `add` wraps around 2^32 as the indices do; a negative delta subtracts.
//! - `inject-rsp <hex bytes>`: copies the bytes into the rsp ring starting at
//!   ring offset `rsp_prod % 1024` (wrapping inside the ring), issues a full
//!   barrier, then advances `rsp_prod` by their count: `rsp: 16 bytes at
//!   rsp_prod 40 (ring offset 40); rsp_prod: 40 -> 56`. Bytes beyond the
//!   free space are written anyway (that is the point of the tool); the count
//!   is limited to the ring's 1024 bytes.
//!
//! The harness runs it for a guest that asks (the dom0 helper's `corrupt`
//! request); docs/testing.md, "The ring corruptor", has the protocol.
//!
//! Nothing here notifies the guest: it sees the change at its next look at
//! the ring (its next request, or the next event xenstored sends it). The
//! guest's xenstored may also see it and give up on the connection.

mod cli;
mod privcmd;

use std::process::{Command as Process, ExitCode};

use cli::{Command, Field, Invocation, RING_SIZE};
use privcmd::ForeignPage;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if matches!(args.as_slice(), ["-h"] | ["--help"]) {
        println!("{}", cli::USAGE);
        return ExitCode::SUCCESS;
    }
    let inv = match cli::parse(&args) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("ring-corruptor: {e}\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    match run(&inv) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ring-corruptor: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads `/local/domain/<domid>/store/ring-ref` with the xenstore tools.
fn ring_frame(domid: u16) -> Result<u64, String> {
    let path = format!("/local/domain/{domid}/store/ring-ref");
    let out = Process::new("xenstore-read")
        .arg(&path)
        .output()
        .map_err(|e| format!("cannot run xenstore-read (give the frame with --frame): {e}"))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        return Err(format!("xenstore-read {path} failed (is domain {domid} running?): {}", why.trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    cli::parse_u64(text.trim()).map_err(|_| format!("{path} is not a frame number: '{}'", text.trim()))
}

fn run(inv: &Invocation) -> Result<String, String> {
    let frame = match inv.frame {
        Some(f) => f,
        None => ring_frame(inv.domid)?,
    };
    let page = ForeignPage::map(inv.domid, frame)?;
    Ok(match &inv.command {
        Command::Show => {
            page.barrier();
            let fields: Vec<String> = Field::ALL
                .iter()
                .map(|f| match f {
                    Field::ServerFeatures => format!("{}={:#x}", f.name(), page.read_u32(f.offset())),
                    _ => format!("{}={}", f.name(), page.read_u32(f.offset())),
                })
                .collect();
            format!("domid={} frame={frame:#x} {}", inv.domid, fields.join(" "))
        }
        Command::Set(f, value) => {
            page.barrier();
            let old = page.read_u32(f.offset());
            page.write_u32(f.offset(), *value);
            page.barrier();
            format!("{}: {old} -> {value}", f.name())
        }
        Command::Add(f, delta) => {
            page.barrier();
            let old = page.read_u32(f.offset());
            let new = old.wrapping_add(*delta);
            page.write_u32(f.offset(), new);
            page.barrier();
            format!("{}: {old} -> {new}", f.name())
        }
        Command::InjectRsp(bytes) => {
            page.barrier();
            let prod = page.read_u32(Field::RspProd.offset());
            let start = prod % RING_SIZE;
            for (i, b) in (0u32..).zip(bytes) {
                let at = (start.wrapping_add(i) % RING_SIZE) as usize;
                page.write_u8(cli::rsp_ring_offset() + at, *b);
            }
            // The data must be visible before the index that publishes it.
            page.barrier();
            let count = u32::try_from(bytes.len()).map_err(|_| "too many bytes".to_string())?;
            let new = prod.wrapping_add(count);
            page.write_u32(Field::RspProd.offset(), new);
            page.barrier();
            format!("rsp: {} bytes at rsp_prod {prod} (ring offset {start}); rsp_prod: {prod} -> {new}", bytes.len())
        }
    })
}
