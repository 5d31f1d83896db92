//! Asking dom0 for help: the small protocol between in-guest tests and the
//! harness's dom0 helper (tests/harness/dom0-init.sh, `dom0_helper`).
//!
//! The guest writes a request line to `data/harness/req` (relative to its
//! home, `/local/domain/<domid>`):
//! ```text
//! <seq> write <path> <value...>     dom0: xenstore-write <home>/<path> <value>
//! <seq> rm <path>                   dom0: xenstore-rm <home>/<path>
//! <seq> read <path>                 dom0: xenstore-read <home>/<path>
//! <seq> mkdir <path>                dom0: xenstore-write <home>/<path> ""
//! <seq> console <text...>           dom0: writes <text>\n to the guest's console pty
//! <seq> corrupt <command...>         dom0: ring-corruptor <domid> <command...> (docs/testing.md);
//!                                   the answer may never arrive
//! <seq> saverestore                 dom0: xl save, xl restore (this domain becomes a new one)
//! <seq> checkpoint                  dom0: xl save -c
//! <seq> migrate                     dom0: migration through a pipe to a new domain, same name
//! <seq> xlmigrate                   dom0: xl migrate to this host (fails)
//! ```
//! The last four answer in the home of the domain the guest is afterwards,
//! with the figures dom0 measured (`ok rc=0 save=1.02 restore=0.88 ...`).
//! `<seq>` increases with every request. The helper watches that node,
//! performs the action in dom0 and answers in `data/harness/rsp` with
//! `<seq> ok [<value>]` or `<seq> err <message>`. Paths are relative to the
//! guest's home so tests do not depend on the domain id; values are one
//! line of text. The guest waits for the answer with a watch on the reply.
use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::xenstore;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Sends one request to the dom0 helper and waits (10 s at most) for its
/// answer: `Ok(value)` or `Err(message)`.
///
/// # Yields
pub fn request(op: &str, args: &str) -> Result<String, String> {
    request_within(op, args, 10_000_000_000)
}

/// Asks dom0 to save and restore, checkpoint or migrate this domain (`op`:
/// `saverestore`, `checkpoint`, `migrate`, `xlmigrate`) and waits until the
/// answer arrives in the domain the guest is afterwards (at most 120 s of
/// the guest's own time: the time it spends saved does not count).
///
/// # Yields
pub fn lifecycle(op: &str) -> Result<String, String> {
    request_within(op, "", 120_000_000_000)
}

fn request_within(op: &str, args: &str, timeout_ns: u64) -> Result<String, String> {
    let seq = SEQ.fetch_add(1, Ordering::SeqCst) + 1;
    let w = xenstore::watch("data/harness/rsp", "harness").map_err(|e| format!("watch: {}", e))?;
    let line = format!("{} {} {}", seq, op, args);
    xenstore::write(0, "data/harness/req", line.as_bytes()).map_err(|e| format!("write request: {}", e))?;
    let deadline = crate::time::now_ns() + timeout_ns;
    loop {
        if w.next_event(deadline).is_none() {
            return Err(format!("no answer from the dom0 helper to '{}'", line));
        }
        let rsp = match xenstore::read_string(0, "data/harness/rsp") {
            Ok(r) => r,
            Err(_) => continue,
        };
        let mut it = rsp.splitn(3, ' ');
        if it.next() != Some(&*format!("{}", seq)) {
            continue;
        }
        return match it.next() {
            Some("ok") => Ok(String::from(it.next().unwrap_or(""))),
            _ => Err(String::from(it.next().unwrap_or("error"))),
        };
    }
}

/// Sends a request to the dom0 helper without waiting for its answer (for
/// requests after which the answer may never arrive: `corrupt`).
pub fn request_no_wait(op: &str, args: &str) -> Result<(), String> {
    let seq = SEQ.fetch_add(1, Ordering::SeqCst) + 1;
    let line = format!("{} {} {}", seq, op, args);
    xenstore::write(0, "data/harness/req", line.as_bytes()).map_err(|e| format!("write request: {}", e))
}

/// dom0 writes `value` at `path` (relative to the guest's home).
pub fn write(path: &str, value: &str) -> Result<(), String> {
    request("write", &format!("{} {}", path, value)).map(|_| ())
}

/// dom0 removes `path`.
pub fn rm(path: &str) -> Result<(), String> {
    request("rm", path).map(|_| ())
}

/// dom0 reads `path`.
pub fn read(path: &str) -> Result<String, String> {
    request("read", path)
}

/// dom0 types `text` and a newline on the guest's console.
pub fn console_input(text: &str) -> Result<(), String> {
    request("console", text).map(|_| ())
}
