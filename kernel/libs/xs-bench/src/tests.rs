//! The workload against the simulated C xenstored through the real node
//! state machine (xenbus-node's `sim`), with dom0's bench tool simulated
//! in [`SimHost::write`]: a mark is acknowledged and a ping answered as
//! the tool does.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use vfs::Errno;
use xenbus_node::sim::{SimConn, Xenstored};
use xenbus_node::XenbusFile;
use xs_wire::{MsgHeader, MsgType, HEADER_LEN};

use crate::*;

struct SimHost {
    xs: Xenstored,
    conn: SimConn,
    file: XenbusFile,
    clock: u64,
    lines: Vec<String>,
    /// Simulate dom0's bench tool.
    dom0: bool,
    /// Mark values seen by the simulated tool.
    marks: Vec<String>,
    /// Lines printed when each mark arrived.
    printed_at_marks: Vec<usize>,
    /// Offer an in-kernel client.
    client: bool,
    /// Hold replies back and deliver them newest first at each read.
    reverse: bool,
}

impl SimHost {
    fn new() -> Self {
        let xs = Xenstored::new(1);
        let conn = xs.connect();
        SimHost {
            xs,
            conn,
            file: XenbusFile::new(),
            clock: 0,
            lines: Vec::new(),
            dom0: true,
            marks: Vec::new(),
            printed_at_marks: Vec::new(),
            client: false,
            reverse: false,
        }
    }

    fn path(&self, rel: &str) -> String {
        alloc::format!("{}/{}", self.xs.home(), rel)
    }

    fn results(&self) -> Vec<(String, u32, u64)> {
        self.lines
            .iter()
            .filter_map(|l| {
                let rest = l.strip_prefix("BENCH result ")?;
                let f: Vec<&str> = rest.split(' ').collect();
                let get = |k: &str| f.iter().find_map(|x| x.strip_prefix(k)).map(str::to_string);
                Some((get("phase=")?, get("round=")?.parse().ok()?, get("ops=")?.parse().ok()?))
            })
            .collect()
    }
}

impl Host for SimHost {
    fn name(&self) -> &str {
        "sim"
    }

    fn write(&mut self, buf: &[u8]) -> Result<usize, i32> {
        if self.reverse {
            self.xs.hold(true);
        }
        let r = self.file.write(&mut self.conn, buf).map_err(|e| e.code());
        let hdr = MsgHeader::from_bytes(buf).filter(|h| h.ty == MsgType::WRITE.0);
        if let (Some(_), true, Ok(_)) = (hdr, self.dom0, &r) {
            let payload = &buf[HEADER_LEN..];
            let nul = payload.iter().position(|&b| b == 0).unwrap();
            let (path, value) = (&payload[..nul], &payload[nul + 1..]);
            let value = String::from_utf8(value.to_vec()).unwrap();
            if path == MARK.as_bytes() {
                let seq = value.split(' ').next().unwrap().to_string();
                self.marks.push(value);
                self.printed_at_marks.push(self.lines.len());
                self.xs.write(&self.path(ACK), seq.as_bytes());
            } else if path == PING.as_bytes() {
                self.xs.write(&self.path(PONG), value.as_bytes());
            }
        }
        r
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, i32> {
        if self.reverse {
            self.xs.release_reversed();
        }
        self.conn.drain_into(&mut self.file);
        self.file.read(buf).map_err(|e| e.code())
    }

    fn poll_in(&mut self, _timeout_ms: u32) -> Result<bool, i32> {
        if self.reverse {
            self.xs.release_reversed();
        }
        self.conn.drain_into(&mut self.file);
        Ok(self.file.poll() != 0)
    }

    fn now_ns(&mut self) -> u64 {
        self.clock += 1000;
        self.clock
    }

    fn sleep_ms(&mut self, ms: u64) {
        self.clock += ms * 1_000_000;
    }

    fn print(&mut self, line: &str) {
        self.lines.push(line.to_string());
    }

    fn phase_stop(&mut self, label: &str, ops: u64) -> Option<String> {
        Some(alloc::format!("SIM stop {label} {ops}"))
    }

    fn client_read(&mut self, path: &str, out: &mut Vec<u8>) -> Option<Result<(), i32>> {
        if !self.client {
            return None;
        }
        Some(self.xs.read(&self.path(path)).map(|v| out.extend_from_slice(&v)).ok_or(2))
    }
}

#[test]
fn spec_all_is_the_default() {
    let s = Spec::parse("all").unwrap();
    assert_eq!(s, Spec::parse(DEFAULT_SPEC).unwrap());
    assert_eq!(s.rounds, 3);
    let names: Vec<String> = s.phases.iter().map(Phase::name).collect();
    assert_eq!(
        names,
        ["read-d1", "read-d4", "read-d16", "read-d64", "write-d1", "watch", "client-read", "idle"].map(String::from)
    );
    assert_eq!(s.phases[3], Phase::Read { n: 2000, depth: 64 });
    assert_eq!(s.phases[7], Phase::Idle { secs: 10 });
}

#[test]
fn spec_text_round_trips() {
    let s = Spec::parse("rounds:2,read:10:1/8,write:5:3,watch:4,client:6,idle:2").unwrap();
    assert_eq!(s.to_string(), "rounds:2,read:10:1,read:10:8,write:5:3,watch:4,client:6,idle:2");
    assert_eq!(Spec::parse(&s.to_string()).unwrap(), s);
    let r = Spec::parse("ready").unwrap();
    assert!(r.ready_only());
    assert_eq!(r.to_string(), "ready");
}

#[test]
fn spec_errors_name_the_item() {
    let e = |t: &str| Spec::parse(t).unwrap_err();
    assert_eq!(e("read:10"), SpecError { item: "read:10".into(), why: "wrong number of ':' fields" });
    assert_eq!(e("read:10:0"), SpecError { item: "read:10:0".into(), why: "number out of range" });
    assert_eq!(e("read:10:129").why, "number out of range");
    assert_eq!(e("read:100001:1").why, "number out of range");
    assert_eq!(e("read:1x:1").why, "not a decimal number");
    assert_eq!(e("read:99999999999:1").why, "number too large");
    assert_eq!(e("rounds:11,idle:1").why, "number out of range");
    assert_eq!(e("frobnicate:1").why, "unknown item");
    assert_eq!(e("rounds:2"), SpecError { item: "rounds:2".into(), why: "no phase" });
    assert_eq!(e("").why, "unknown item");
    assert_eq!(e("read:5:1/").why, "not a decimal number");
}

#[test]
fn stream_frames_split_anywhere() {
    let mut bytes = xs_wire::build_message(MsgType::READ, 7, 0, b"value");
    bytes.extend(xs_wire::build_message(MsgType::WATCH_EVENT, 0, 0, b"a\0tok\0"));
    bytes.extend(xs_wire::build_message(MsgType::WRITE, 8, 0, b""));
    for cut in 0..=bytes.len() {
        let mut s = Stream::new();
        s.push(&bytes[..cut]);
        let mut got = Vec::new();
        while let Some(m) = s.pop().unwrap() {
            got.push((m.header.ty, m.header.req_id, s.payload(&m).to_vec()));
        }
        s.push(&bytes[cut..]);
        while let Some(m) = s.pop().unwrap() {
            got.push((m.header.ty, m.header.req_id, s.payload(&m).to_vec()));
        }
        assert_eq!(
            got,
            [(2, 7, b"value".to_vec()), (15, 0, b"a\0tok\0".to_vec()), (11, 8, Vec::new())],
            "cut at {cut}"
        );
        assert_eq!(s.pending(), 0);
    }
}

#[test]
fn stream_refuses_an_oversized_header() {
    let mut s = Stream::new();
    s.push(&MsgHeader { ty: 2, req_id: 1, tx_id: 0, len: 4097 }.to_bytes());
    assert_eq!(s.pop(), Err(Oversized(4097)));
    let mut s = Stream::new();
    s.push(&MsgHeader { ty: 2, req_id: 1, tx_id: 0, len: 4096 }.to_bytes());
    assert_eq!(s.pop(), Ok(None));
}

#[test]
fn stream_reuses_its_buffer() {
    let mut s = Stream::new();
    let msg = xs_wire::build_message(MsgType::READ, 1, 0, &[7u8; 100]);
    for _ in 0..1000 {
        s.push(&msg);
        let m = s.pop().unwrap().unwrap();
        assert_eq!(s.payload(&m), &[7u8; 100][..]);
    }
    // Compaction keeps the buffer at one read's worth plus what is pending.
    assert!(s.spare().len() >= READ_CHUNK);
    assert_eq!(s.pending(), 0);
}

#[test]
fn ready_only_writes_the_marker() {
    let mut h = SimHost::new();
    let out = run(&mut h, &Spec::parse("ready").unwrap());
    assert_eq!(h.lines, ["BENCH start host=sim spec=ready", "BENCH ready", "BENCH done results=0 errors=0"]);
    assert_eq!(out, Outcome { results: 0, errors: 0, dom0: false });
    assert_eq!(h.xs.read(&h.path(READY)).unwrap(), b"1");
    assert_eq!(h.xs.submitted().len(), 1);
}

#[test]
fn full_run_with_dom0() {
    let mut h = SimHost::new();
    h.client = true;
    let spec = Spec::parse("rounds:2,read:5:1/3,write:4:2,watch:3,client:4,idle:1").unwrap();
    let out = run(&mut h, &spec);
    assert_eq!(out, Outcome { results: 12, errors: 0, dom0: true });
    let phases = ["read-d1", "read-d3", "write-d2", "watch", "client-read", "idle"];
    let ops = [5, 5, 4, 3, 4, 0];
    let want: Vec<(String, u32, u64)> =
        (1..=2).flat_map(|r| phases.iter().zip(ops).map(move |(p, o)| (p.to_string(), r, o))).collect();
    assert_eq!(h.results(), want);
    // Marks: a start and an end per phase, numbered in order.
    let mut marks = Vec::new();
    let mut seq = 0;
    for r in 1..=2 {
        for p in phases {
            for edge in ["start", "end"] {
                seq += 1;
                marks.push(alloc::format!("{seq} {p}.{r} {edge}"));
            }
        }
    }
    assert_eq!(h.marks, marks);
    // Requests through the device: ready, 3 setup writes, 200 warm-up READs;
    // per round 6 phases x 2 marks x (WRITE mark + READ ack), 5 + 5 READs,
    // 4 WRITEs, 3 x (WRITE ping + READ pong); the client phase goes around
    // the device, the watches are the node's own.
    assert_eq!(h.xs.submitted().len(), 1 + 3 + 200 + 2 * (6 * 2 * 2 + 5 + 5 + 4 + 3 * 2));
    assert_eq!(h.xs.read(&h.path(KEY)).unwrap(), VALUE);
    assert_eq!(h.xs.read(&h.path(PONG)).unwrap(), b"2");
    assert_eq!(
        h.lines.first().unwrap(),
        "BENCH start host=sim spec=rounds:2,read:5:1,read:5:3,write:4:2,watch:3,client:4,idle:1"
    );
    assert_eq!(h.lines.last().unwrap(), "BENCH done results=12 errors=0");
    // Nothing printed between ready and the end of the run (dom0 relays
    // the console); the host's own line of a phase comes just before its
    // result line.
    assert_eq!(h.printed_at_marks, [2; 24]);
    let at = |l: &str| h.lines.iter().position(|x| x.starts_with(l)).unwrap();
    assert_eq!(at("SIM stop write-d2.2 4") + 1, at("BENCH result phase=write-d2 round=2"));
    assert_eq!(h.lines.iter().filter(|l| l.starts_with("SIM stop")).count(), 12);
    // The watch phase reports its latencies; the idle phase its sleep.
    let watch = h.lines.iter().find(|l| l.starts_with("BENCH result phase=watch round=1")).unwrap();
    assert!(watch.contains(" lat_min_ns=") && watch.contains(" lat_med_ns=") && watch.contains(" lat_max_ns="));
    let idle = h.lines.iter().find(|l| l.starts_with("BENCH result phase=idle round=1")).unwrap();
    let ns: u64 = idle.rsplit("ns=").next().unwrap().parse().unwrap();
    assert!((1_000_000_000..1_000_100_000).contains(&ns), "{idle}");
}

#[test]
fn out_of_order_replies_are_matched() {
    let mut h = SimHost::new();
    h.reverse = true;
    let out = run(&mut h, &Spec::parse("read:40:16,write:40:7").unwrap());
    assert_eq!(out, Outcome { results: 2, errors: 0, dom0: true });
    assert_eq!(h.results(), [("read-d16".to_string(), 1, 40), ("write-d7".to_string(), 1, 40)]);
}

#[test]
fn without_dom0_the_run_goes_on_and_says_so() {
    let mut h = SimHost::new();
    h.dom0 = false;
    let out = run(&mut h, &Spec::parse("read:3:1,watch:2,client:2").unwrap());
    assert_eq!(out, Outcome { results: 1, errors: 1, dom0: false });
    assert!(h.lines.contains(&"BENCH note no dom0 bench tool answered the first mark: no CPU figures".to_string()));
    assert!(h.lines.contains(&"BENCH error phase=watch round=1 timeout: the pong event".to_string()));
    // Not offered by this host: no line at all.
    assert!(!h.lines.iter().any(|l| l.contains("client-read")));
    assert_eq!(h.results(), [("read-d1".to_string(), 1, 3)]);
}

#[test]
fn a_device_error_stops_the_run_with_a_line() {
    let mut h = SimHost::new();
    h.xs.fail_submit(Errno::ENOMEM, 1);
    let out = run(&mut h, &Spec::parse("read:3:1").unwrap());
    assert_eq!(out.errors, 1);
    assert_eq!(
        h.lines,
        [
            "BENCH start host=sim spec=rounds:1,read:3:1",
            "BENCH error phase=ready round=0 errno 12",
            "BENCH done results=0 errors=1"
        ]
    );
}

#[test]
fn an_xs_error_is_named() {
    let mut h = SimHost::new();
    // The key is dom0's and unreadable: every READ of it is refused.
    h.xs.write(&h.path(KEY), b"x");
    h.xs.set_perms(&h.path(KEY), "n0");
    let out = run(&mut h, &Spec::parse("read:3:1").unwrap());
    assert_eq!(out.errors, 1);
    assert!(
        h.lines.contains(&"BENCH error phase=setup round=0 xenstored answered EACCES".to_string()),
        "{:?}",
        h.lines
    );
}
