//! `suspend`: the kernel across `xl save` + `xl restore`, `xl save -c` and
//! migration through a pipe, which the dom0 helper performs when a test
//! asks (`dom0::lifecycle`). Only `p2m_published` is in `tests=all`; the
//! others need dom0 to save the domain, so each runs in a guest check of
//! its own (tests/harness/test.py: save-restore, save-checkpoint,
//! migrate-pipe, save-restore-10, save-inflight).
//!
//! What a test sees across a save and restore: the kernel goes on where it
//! was (threads, timers, open descriptors, the node's queues), in a domain
//! with another id, on another xenstore connection, in a xenstore home
//! that libxl wrote afresh (what the guest wrote there before is gone).
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::xenbus::{err, event, msg, ok, open_xb, recv, rpc, send, setup_rm, tx_start, u32_at, watch, R};
use super::xenbus::{XS_READ, XS_TX_END, XS_WRITE};
use super::{dom0, metric, Failure, Test, TestResult};
use crate::fs::Program;
use crate::sched::sleep_ns;
use crate::sync::ThreadLock;
use crate::time::{now_ns, wallclock};
use crate::xen::evtchn::{Channel, EvtchnError};
use crate::xen::suspend;
use crate::xenstore::{self, MailboxHandle};
use crate::{check, check_bytes, check_eq, check_ok};

/// What the dom0 helper reported: `rc=0 save=1.23 restore=0.81 ... domid=7`.
struct Info(Vec<(String, String)>);

impl Info {
    fn parse(s: &str) -> Info {
        Info(
            s.split_ascii_whitespace()
                .filter_map(|kv| kv.split_once('=').map(|(k, v)| (String::from(k), String::from(v))))
                .collect(),
        )
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
    }

    /// A duration field in milliseconds (the helper reports seconds).
    fn ms(&self, k: &str) -> u64 {
        self.get(k).and_then(|v| v.parse::<f64>().ok()).map(|s| (s * 1000.0) as u64).unwrap_or(0)
    }
}

/// Asks dom0 to do `op` to this domain and waits until it runs again.
fn lifecycle(op: &str) -> R<Info> {
    crate::kprintln!("suspend test: asking dom0 for '{}'", op);
    match dom0::lifecycle(op) {
        Ok(v) => {
            crate::kprintln!("suspend test: dom0 did '{}': {}", op, v);
            Ok(Info::parse(&v))
        }
        Err(e) => Err(Failure { file: file!(), line: line!(), msg: format!("dom0 {}: {}", op, e) }),
    }
}

fn domid() -> R<String> {
    Ok(check_ok!(xenstore::read_string(0, "domid")))
}

fn wall_ns() -> u128 {
    let (s, n) = wallclock();
    s as u128 * 1_000_000_000 + n as u128
}

/// A thread that counts every 10 ms until stopped.
struct Counter {
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Counter {
    fn start() -> R<Counter> {
        let count = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (count.clone(), stop.clone());
        check_ok!(crate::sched::spawn("counter", move || {
            while !s.load(Ordering::SeqCst) {
                c.fetch_add(1, Ordering::SeqCst);
                sleep_ns(10_000_000);
            }
        }));
        Ok(Counter { count, stop })
    }

    fn get(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The guest's time, counter, domain and node state across `xl save` and
/// `xl restore` (the first case).
fn save_restore() -> TestResult {
    let p = Program::new();
    setup_rm("data/sr")?;
    // A watch registered through the node, with a reply left unread behind
    // it; a partial request on a second descriptor; a transaction on a third.
    let a = open_xb(&p)?;
    watch(&p, a, 1, "data/sr/w", b"tokA")?;
    let d0 = domid()?;
    let name0 = check_ok!(xenstore::read_string(0, "name"));
    send(&p, a, &msg(XS_READ, 2, 0, b"domid\0"))?;
    let b = open_xb(&p)?;
    let partial = msg(XS_READ, 3, 0, b"name\0");
    check_eq!(check_ok!(p.write(b, &partial[..10])), 10);
    let c = open_xb(&p)?;
    let t = tx_start(&p, c, 4)?;
    // An interdomain channel (to ourselves): gone after the restore.
    let ch_a = check_ok!(Channel::alloc_unbound(xen_sys::DOMID_SELF));
    let ch_b = check_ok!(Channel::bind_interdomain(xen_sys::DOMID_SELF, check_ok!(ch_a.port())));
    check_ok!(ch_b.send());
    // A timer armed before the save that fires after it.
    let fired = Arc::new(AtomicU64::new(0));
    let f2 = fired.clone();
    check_ok!(crate::sched::spawn("sr-timer", move || {
        sleep_ns(1_500_000_000);
        f2.store(now_ns(), Ordering::SeqCst);
    }));
    let counter = Counter::start()?;
    sleep_ns(50_000_000);
    let (t0, w0, c0) = (now_ns(), wall_ns(), counter.get());
    check!(c0 > 0, "the counter thread did not run");

    let info = lifecycle("saverestore")?;

    let (t1, w1) = (now_ns(), wall_ns());
    crate::kprintln!("suspend test: console output goes on after the restore");
    let d1 = domid()?;
    check!(d1 != d0, "still domain {} after the restore", d0);
    check_eq!(check_ok!(xenstore::read_string(0, "name")), name0);
    check_eq!(info.get("domid"), Some(d1.as_str()));
    // Time: monotonic never went back and did not count the saved time;
    // the wall clock did (it is the host's).
    check!(t1 >= t0, "monotonic time went back: {} then {}", t0, t1);
    let mono_ms = ((t1 - t0) / 1_000_000) as u128;
    let wall_ms = w1.saturating_sub(w0) / 1_000_000;
    let saved_ms = (info.ms("save") + info.ms("restore")) as u128;
    check!(wall_ms >= mono_ms, "wall clock advanced {} ms, monotonic {} ms", wall_ms, mono_ms);
    check!(wall_ms + 200 >= saved_ms, "wall clock advanced {} ms across a save+restore of {} ms", wall_ms, saved_ms);
    // The counter goes on; the timer fires; sleeping works.
    let c1 = counter.get();
    check!(c1 >= c0, "counter went back");
    sleep_ns(100_000_000);
    check!(counter.get() > c1, "the counter thread stopped after the restore");
    let deadline = now_ns() + 3_000_000_000;
    while fired.load(Ordering::SeqCst) == 0 && now_ns() < deadline {
        sleep_ns(10_000_000);
    }
    check!(fired.load(Ordering::SeqCst) != 0, "a timer armed before the save never fired");
    // xenstore: reads and writes on the new connection.
    check_ok!(xenstore::write(0, "data/sr/after", b"2"));
    check_eq!(check_ok!(xenstore::read(0, "data/sr/after")), b"2".to_vec());
    // The node: the unread reply is still there, then the watch fires once
    // on its re-registration (as on Linux), then on a dom0 write.
    check_bytes!(recv(&p, a)?, msg(XS_READ, 2, 0, d0.as_bytes()));
    check_bytes!(recv(&p, a)?, event("data/sr/w", b"tokA"));
    check_ok!(dom0::write("data/sr/w", "x"));
    check_bytes!(recv(&p, a)?, event("data/sr/w", b"tokA"));
    // The partial request completes on the new connection.
    send(&p, b, &partial[10..])?;
    check_bytes!(recv(&p, b)?, msg(XS_READ, 3, 0, name0.as_bytes()));
    // The transaction from before: commit answered by the node, as Linux does.
    check_bytes!(rpc(&p, c, &msg(XS_TX_END, 5, t, b"T\0"))?, err(5, t, "EAGAIN"));
    check_bytes!(rpc(&p, c, &msg(XS_TX_END, 6, t, b"T\0"))?, err(6, t, "ENOENT"));
    // The interdomain channel did not survive; the error says so.
    check_eq!(ch_b.send(), Err(EvtchnError::Stale));
    check_eq!(ch_a.close(), Err(EvtchnError::Stale));
    let s = xenstore::suspend::last();
    check!(s.quiescent, "requests were still in flight when the domain stopped");
    metric("suspend.save_ms", info.ms("save"), "ms");
    metric("suspend.restore_ms", info.ms("restore"), "ms");
    metric("suspend.wall_gap_ms", wall_ms as u64, "ms");
    metric("suspend.guest_time_ms", mono_ms as u64, "ms");
    Ok(())
}

/// `xl save -c`: the suspend is cancelled and the same domain goes on.
fn checkpoint() -> TestResult {
    let p = Program::new();
    setup_rm("data/cp")?;
    let a = open_xb(&p)?;
    watch(&p, a, 1, "data/cp/w", b"tokC")?;
    let c = open_xb(&p)?;
    let t = tx_start(&p, c, 2)?;
    let ch_a = check_ok!(Channel::alloc_unbound(xen_sys::DOMID_SELF));
    let ch_b = check_ok!(Channel::bind_interdomain(xen_sys::DOMID_SELF, check_ok!(ch_a.port())));
    check_ok!(xenstore::write(0, "data/cp/kept", b"yes"));
    let (d0, g0, cancels0) = (domid()?, xenstore::generation(), suspend::CANCELS.load(Ordering::SeqCst));
    let counter = Counter::start()?;
    sleep_ns(50_000_000);
    let c0 = counter.get();

    let info = lifecycle("checkpoint")?;

    check_eq!(domid()?, d0);
    check_eq!(suspend::CANCELS.load(Ordering::SeqCst), cancels0 + 1);
    check_eq!(xenstore::generation(), g0 + 1);
    // Same connection, same home: what was written is still there.
    check_eq!(check_ok!(xenstore::read(0, "data/cp/kept")), b"yes".to_vec());
    sleep_ns(100_000_000);
    check!(counter.get() > c0, "the counter thread stopped");
    // No re-registration after a cancelled suspend: no extra event.
    super::xenbus::barrier()?;
    super::xenbus::quiet(&p, a, 300)?;
    check_ok!(dom0::write("data/cp/w", "y"));
    check_bytes!(recv(&p, a)?, event("data/cp/w", b"tokC"));
    // Linux bumps the generation on a cancelled suspend too: the commit of
    // a transaction from before is answered EAGAIN by the node.
    check_bytes!(rpc(&p, c, &msg(XS_TX_END, 3, t, b"T\0"))?, err(3, t, "EAGAIN"));
    // The channel is still ours.
    check_ok!(ch_b.send());
    let _ = ch_b.close();
    let _ = ch_a.close();
    metric("suspend.checkpoint_ms", info.ms("took"), "ms");
    Ok(())
}

/// Migration through a pipe (`xl save` into a fifo that `xl restore` reads,
/// then `xl rename`): a new domain with a new id, the same name.
fn migrate() -> TestResult {
    let p = Program::new();
    setup_rm("data/mg")?;
    let a = open_xb(&p)?;
    watch(&p, a, 1, "data/mg/w", b"tokM")?;
    let (d0, name0) = (domid()?, check_ok!(xenstore::read_string(0, "name")));
    let counter = Counter::start()?;
    sleep_ns(50_000_000);
    let c0 = counter.get();

    let info = lifecycle("migrate")?;

    let d1 = domid()?;
    check!(d1 != d0, "still domain {} after the migration", d0);
    check_eq!(check_ok!(xenstore::read_string(0, "name")), name0);
    sleep_ns(100_000_000);
    check!(counter.get() > c0, "the counter thread stopped");
    check_bytes!(recv(&p, a)?, event("data/mg/w", b"tokM"));
    check_ok!(dom0::write("data/mg/w", "z"));
    check_bytes!(recv(&p, a)?, event("data/mg/w", b"tokM"));
    check_bytes!(rpc(&p, a, &msg(XS_WRITE, 9, 0, b"data/mg/after\0ok"))?, ok(XS_WRITE, 9, 0));
    metric("suspend.migrate_ms", info.ms("took"), "ms");
    Ok(())
}

/// Counts of the traffic threads of [`cycles`].
#[derive(Default)]
struct Traffic {
    ok: u64,
    /// A round trip a suspend came through (the home was rewritten).
    interrupted: u64,
    errors: Vec<String>,
}

static TRAFFIC_STOP: AtomicBool = AtomicBool::new(false);

fn kernel_traffic(t: Arc<ThreadLock<Traffic>>) {
    let mut i = 0u64;
    while !TRAFFIC_STOP.load(Ordering::SeqCst) {
        i += 1;
        let g = xenstore::generation();
        let v = format!("{i}");
        let r = xenstore::write(0, "data/cy/k", v.as_bytes()).and_then(|()| xenstore::read(0, "data/cy/k"));
        let moved = xenstore::generation() != g;
        let mut s = t.lock();
        match r {
            Ok(got) if got == v.as_bytes() => s.ok += 1,
            _ if moved => s.interrupted += 1,
            Ok(got) => s.errors.push(format!("read back {:?} after writing {}", String::from_utf8_lossy(&got), v)),
            Err(e) => s.errors.push(format!("{e}")),
        }
        drop(s);
        sleep_ns(2_000_000);
    }
}

fn node_traffic(t: Arc<ThreadLock<Traffic>>) {
    let p = Program::new();
    let Ok(fd) = open_xb(&p) else {
        t.lock().errors.push(String::from("cannot open the node"));
        return;
    };
    let mut req = 0x1000u32;
    while !TRAFFIC_STOP.load(Ordering::SeqCst) {
        req += 1;
        let r = rpc(&p, fd, &msg(XS_READ, req, 0, b"name\0"));
        let mut s = t.lock();
        match r {
            Ok(m) if u32_at(&m, 0) == XS_READ && u32_at(&m, 4) == req => s.ok += 1,
            Ok(m) => s.errors.push(format!("node reply {}", super::hexdump(&m))),
            Err(f) => s.errors.push(f.msg),
        }
        drop(s);
        sleep_ns(2_000_000);
    }
}

/// Ten save/restore cycles in a row with xenstore traffic running (kernel
/// requests and node requests).
fn cycles() -> TestResult {
    TRAFFIC_STOP.store(false, Ordering::SeqCst);
    let traffic = Arc::new(ThreadLock::new("ktest.traffic", Traffic::default()));
    let (t1, t2) = (traffic.clone(), traffic.clone());
    let k = check_ok!(crate::sched::spawn("traffic-xs", move || kernel_traffic(t1)));
    let n = check_ok!(crate::sched::spawn("traffic-node", move || node_traffic(t2)));
    let mut seen = Vec::new();
    let (mut save_ms, mut restore_ms) = (Vec::new(), Vec::new());
    for cycle in 0..10 {
        sleep_ns(300_000_000);
        let before = traffic.lock().ok;
        check!(before > 0 || cycle > 0, "no traffic before the first save");
        let d0 = domid()?;
        let info = lifecycle("saverestore")?;
        let d1 = domid()?;
        check!(d1 != d0, "cycle {}: still domain {}", cycle, d0);
        seen.push(d1);
        save_ms.push(info.ms("save"));
        restore_ms.push(info.ms("restore"));
        sleep_ns(300_000_000);
        let after = traffic.lock().ok;
        check!(after > before, "cycle {}: the traffic stopped ({} round trips)", cycle, after);
        let errors = traffic.lock().errors.clone();
        check!(errors.is_empty(), "cycle {}: traffic errors: {:?}", cycle, errors);
    }
    TRAFFIC_STOP.store(true, Ordering::SeqCst);
    crate::sched::join(k);
    crate::sched::join(n);
    let s = traffic.lock();
    check!(s.errors.is_empty(), "traffic errors: {:?}", s.errors);
    crate::kprintln!(
        "suspend test: 10 cycles, domains {:?}; {} round trips, {} spanning a suspend; save ms {:?}, restore ms {:?}",
        seen,
        s.ok,
        s.interrupted,
        save_ms,
        restore_ms
    );
    metric("suspend.cycles_round_trips", s.ok, "requests");
    metric("suspend.cycles_save_ms_max", save_ms.iter().copied().max().unwrap_or(0), "ms");
    metric("suspend.cycles_restore_ms_max", restore_ms.iter().copied().max().unwrap_or(0), "ms");
    Ok(())
}

/// Requests submitted by the test's own suspend hooks.
static INFLIGHT_MB: ThreadLock<Option<Arc<MailboxHandle>>> = ThreadLock::new("ktest.inflight", None);
/// How many requests the prepare hook puts on the ring, before the client
/// is held (the hooks are plain functions: they read these).
static ON_RING: AtomicU64 = AtomicU64::new(0);
/// How many requests the freeze hook submits while the client is held.
static HELD: AtomicU64 = AtomicU64::new(0);
/// Cookies (and req_ids) of the held requests start here.
const HELD_BASE: u64 = 100_000;

fn submit_reads(first: u64, n: u64) {
    let g = INFLIGHT_MB.lock();
    let Some(mb) = g.as_ref() else { return };
    for i in first..first + n {
        let m = msg(XS_READ, i as u32, 0, b"domid\0");
        let _ = xenstore::subscribe::submit_to(mb, i, &m);
    }
}

/// A suspend requested while xenstore requests are in flight: `on_ring` on
/// the ring when the suspend begins (submitted by a prepare hook that runs
/// before xenstore's), `held` more submitted while the client is held (by a
/// freeze hook, events masked, just before the hypercall). Every one gets
/// its reply: the first from the old domain's connection (the old domid),
/// the others from the new one (the new domid).
fn inflight_with(on_ring: u64, held_n: u64) -> TestResult {
    let mb = MailboxHandle::new(64 * 1024, &crate::mm::budget::XS_NODE, None);
    *INFLIGHT_MB.lock() = Some(mb.clone());
    ON_RING.store(on_ring, Ordering::SeqCst);
    HELD.store(held_n, Ordering::SeqCst);
    let id = check_ok!(suspend::register(suspend::Hooks {
        name: "ktest-inflight",
        prepare: Some(|| submit_reads(1, ON_RING.load(Ordering::SeqCst))),
        freeze: Some(|| submit_reads(HELD_BASE, HELD.load(Ordering::SeqCst))),
        ..suspend::Hooks::EMPTY
    })
    .map_err(|_| "no hook slot"));
    let d0 = domid()?;
    let r = lifecycle("saverestore");
    suspend::unregister(id);
    r?;
    let d1 = domid()?;
    check!(d1 != d0, "still domain {}", d0);
    let s = xenstore::suspend::last();
    let total = (on_ring + held_n) as usize;
    let deadline = now_ns() + 60_000_000_000;
    let mut got: Vec<(u64, Vec<u8>)> = Vec::new();
    while got.len() < total && now_ns() < deadline {
        let item = mb.lock().pop();
        match item {
            Some(xs_client::Delivery::Reply { cookie, reply }) => got.push((cookie, reply.bytes().to_vec())),
            Some(xs_client::Delivery::Failed { cookie, error }) => {
                return Err(Failure {
                    file: file!(),
                    line: line!(),
                    msg: format!("request {} failed with {}", cookie, error.name()),
                })
            }
            Some(_) => {}
            None => {
                mb.wait_queue().wait_until_deadline(|| !mb.lock().is_empty(), now_ns() + 100_000_000);
            }
        }
    }
    *INFLIGHT_MB.lock() = None;
    check_eq!(got.len(), total);
    got.sort_by_key(|g| g.0);
    for (cookie, m) in &got {
        let want = if *cookie < HELD_BASE { d0.as_bytes() } else { d1.as_bytes() };
        check_bytes!(m, msg(XS_READ, *cookie as u32, 0, want));
    }
    check!(s.in_flight_at_start > 0, "nothing was on the ring when the suspend began");
    let held = s.resumed.map(|r| r.held).unwrap_or(0);
    check!(held >= held_n as usize, "only {} requests were held across the suspend", held);
    crate::kprintln!(
        "suspend test: {} request(s) on the ring at the suspend (answered by domain {} before it stopped), {} held \
         across it (answered by domain {}), none lost",
        s.in_flight_at_start,
        d0,
        held,
        d1
    );
    metric("suspend.inflight_survived", total as u64, "requests");
    metric("suspend.inflight_on_ring_at_start", s.in_flight_at_start as u64, "requests");
    metric("suspend.inflight_held", held as u64, "requests");
    Ok(())
}

/// The case: 16 requests on the ring when the suspend begins, 48
/// more during it.
fn inflight() -> TestResult {
    inflight_with(16, 48)
}

/// The most: as many on the ring as xenstored's quota allows (20), and
/// 2000 more during the suspend (the local queue takes 4096).
fn inflight_max() -> TestResult {
    inflight_with(20, 2000)
}

/// The P2M tree libxc reads to save the domain is published in shared_info
/// and describes the P2M list exactly: frame list list -> frame lists ->
/// the P2M list's pages, and each entry there is the machine frame of its
/// pseudo-physical frame. (Runs in `tests=all`: no dom0 needed.)
fn p2m_published() -> TestResult {
    use crate::xen::p2m;
    let (max_pfn, fll_mfn) = check_ok!(crate::xen::shared_info::p2m_tree().ok_or("shared_info not mapped"));
    check_eq!(max_pfn, p2m::nr_pages());
    check!(fll_mfn != 0, "no frame list list published");
    let word = |mfn: u64, i: u64| -> u64 {
        let va = p2m::pfn_to_va(p2m::mfn_to_pfn(mfn));
        // SAFETY: `mfn` is a frame of this domain (checked by the caller
        // through the M2P round trip), mapped in the linear map; i < 512.
        unsafe { core::ptr::read_volatile((va as *const u64).add(i as usize)) }
    };
    let owned = |mfn: u64| p2m::pfn_to_mfn(p2m::mfn_to_pfn(mfn)) == mfn;
    check!(owned(fll_mfn), "the frame list list {:#x} is not this domain's", fll_mfn);
    let list_pages = p2m::nr_pages().div_ceil(p2m::PER_PAGE);
    let mut checked = 0u64;
    for page in 0..list_pages {
        let fl_mfn = word(fll_mfn, page / p2m::PER_PAGE);
        check!(fl_mfn != 0 && owned(fl_mfn), "frame list {} is {:#x}", page / p2m::PER_PAGE, fl_mfn);
        let leaf = word(fl_mfn, page % p2m::PER_PAGE);
        check!(leaf != 0 && owned(leaf), "P2M page {} is {:#x}", page, leaf);
        for k in 0..p2m::PER_PAGE {
            let pfn = page * p2m::PER_PAGE + k;
            if pfn >= p2m::nr_pages() {
                break;
            }
            check_eq!(word(leaf, k), p2m::pfn_to_mfn(pfn));
            checked += 1;
        }
    }
    check_eq!(checked, p2m::nr_pages());
    let names = suspend::registered();
    for want in ["time", "console", "mm", "evtchn", "timer", "xenstore", "shutdown"] {
        check!(names.contains(&want), "no '{}' suspend hooks in {:?}", want, names);
    }
    let pos = |n: &str| names.iter().position(|x| *x == n).unwrap_or(usize::MAX);
    check!(pos("time") < pos("mm") && pos("mm") < pos("evtchn") && pos("evtchn") < pos("xenstore"), "{:?}", names);
    Ok(())
}

/// `p2m::own_pfn`, which vets the ring frames start_info names after a
/// restore: this domain's frames map back (hint right or wrong); a frame
/// that is not ours, or past all RAM, is refused without a fault.
fn own_pfn_refuses_foreign_frames() -> TestResult {
    use crate::xen::p2m;
    let si = check_ok!(crate::xen::start_info::get().ok_or("no start_info"));
    let store = si.store_mfn();
    let pfn = p2m::mfn_to_pfn(store);
    check_eq!(p2m::own_pfn(store, pfn), Some(pfn));
    check_eq!(p2m::own_pfn(store, 0), Some(pfn));
    check_eq!(p2m::own_pfn(store, u64::MAX), Some(pfn));
    let last = p2m::nr_pages() - 1;
    check_eq!(p2m::own_pfn(p2m::pfn_to_mfn(last), 0), Some(last));
    // Machine frame 0 belongs to Xen, never to a PV guest; the others are
    // past any RAM (the M2P has no entry for them to read).
    for bogus in [0u64, 1 << 40, u64::MAX >> 12, u64::MAX] {
        check_eq!(p2m::own_pfn(bogus, pfn), None);
    }
    Ok(())
}

const T_LC: u64 = 180_000;

pub static TESTS: &[Test] = &[
    Test { suite: "suspend", name: "p2m_published", func: p2m_published, timeout_ms: 10_000, default: true },
    Test {
        suite: "suspend",
        name: "own_pfn_refuses_foreign_frames",
        func: own_pfn_refuses_foreign_frames,
        timeout_ms: 10_000,
        default: true,
    },
    Test { suite: "suspend", name: "save_restore", func: save_restore, timeout_ms: T_LC, default: false },
    Test { suite: "suspend", name: "checkpoint", func: checkpoint, timeout_ms: T_LC, default: false },
    Test { suite: "suspend", name: "migrate", func: migrate, timeout_ms: T_LC, default: false },
    Test { suite: "suspend", name: "cycles", func: cycles, timeout_ms: 600_000, default: false },
    Test { suite: "suspend", name: "inflight", func: inflight, timeout_ms: T_LC, default: false },
    Test { suite: "suspend", name: "inflight_max", func: inflight_max, timeout_ms: T_LC, default: false },
];
