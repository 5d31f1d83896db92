//! The runner: ready marker, setup, warm-up, then every phase of every
//! round between two dom0 marks, with one result line each.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use xs_wire::{MsgHeader, MsgType, HEADER_LEN};

use crate::spec::{Phase, Spec};
use crate::stream::{Oversized, Stream};
use crate::{Host, ACK, ACK_TIMEOUT_MS, KEY, MARK, PING, PONG, READY, SETTLE_MS, VALUE, WARMUP};

/// Watch token of the ack node.
const ACK_TOKEN: &[u8] = b"xsbench-ack";
/// Watch token of the pong node.
const PONG_TOKEN: &[u8] = b"xsbench-pong";
/// What xenstored answers to a WRITE, WATCH, ...
const OK: &[u8] = b"OK\0";

/// Why a phase (or the run) stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BenchError {
    /// The device call failed with this errno.
    Io(i32),
    /// xenstored answered `XS_ERROR` with this name.
    Xs(String),
    /// The device's answer was not what the protocol allows.
    Protocol(&'static str),
    /// Nothing arrived within the time allowed.
    Timeout(&'static str),
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Io(e) => write!(f, "errno {e}"),
            BenchError::Xs(e) => write!(f, "xenstored answered {e}"),
            BenchError::Protocol(w) => write!(f, "protocol: {w}"),
            BenchError::Timeout(w) => write!(f, "timeout: {w}"),
        }
    }
}

impl From<Oversized> for BenchError {
    fn from(_: Oversized) -> Self {
        BenchError::Protocol("a message header announces more than 4096 payload bytes")
    }
}

/// What a run did, for the caller's exit status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Result lines printed.
    pub results: u32,
    /// Error lines printed.
    pub errors: u32,
    /// Whether a dom0 bench tool answered the marks.
    pub dom0: bool,
}

/// What one phase measured.
struct Measured {
    ops: u64,
    ns: u64,
    /// Watch round trips: (min, median, max) latency.
    latency: Option<(u64, u64, u64)>,
}

/// Runs `spec` on `host`, printing the lines of docs/bench.md.
pub fn run<H: Host + ?Sized>(host: &mut H, spec: &Spec) -> Outcome {
    let line = format!("BENCH start host={} spec={}", host.name(), spec);
    host.print(&line);
    let mut r = Runner::new(host);
    if let Err(e) = r.write(READY, b"1") {
        r.error("ready", 0, &e);
        r.done();
        return r.outcome;
    }
    r.host.print("BENCH ready");
    if spec.ready_only() {
        r.done();
        return r.outcome;
    }
    if let Err(e) = r.setup() {
        r.error("setup", 0, &e);
        r.done();
        return r.outcome;
    }
    for round in 1..=spec.rounds {
        for phase in &spec.phases {
            let name = phase.name();
            match r.phase(phase, &name, round) {
                Ok(Some(m)) => r.result(&name, round, &m),
                Ok(None) => {}
                Err(e) => {
                    r.error(&name, round, &e);
                    if matches!(e, BenchError::Io(_) | BenchError::Protocol(_)) {
                        // The stream may be out of step: stop.
                        r.done();
                        return r.outcome;
                    }
                }
            }
        }
    }
    r.done();
    r.outcome
}

struct Runner<'h, H: Host + ?Sized> {
    host: &'h mut H,
    stream: Stream,
    /// The request being sent (reused).
    msg: Vec<u8>,
    next_req: u32,
    mark_seq: u32,
    /// None until the first mark: whether a dom0 tool answers.
    dom0: Option<bool>,
    ack_events: u32,
    pong_events: u32,
    /// When the last pong event was popped.
    pong_at: u64,
    outcome: Outcome,
    /// Lines kept back until the run ends ([`Runner::say`]).
    lines: Vec<String>,
}

/// What kind of message the stream delivered.
enum Kind {
    /// A watch event (counted by [`Runner::classify`]).
    Event,
    Reply,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum EventKind {
    Ack,
    Pong,
    Other,
}

impl<'h, H: Host + ?Sized> Runner<'h, H> {
    fn new(host: &'h mut H) -> Self {
        Runner {
            host,
            stream: Stream::new(),
            msg: Vec::with_capacity(HEADER_LEN + 64),
            next_req: 1,
            mark_seq: 0,
            dom0: None,
            ack_events: 0,
            pong_events: 0,
            pong_at: 0,
            outcome: Outcome::default(),
            lines: Vec::new(),
        }
    }

    /// Prints the lines kept back during the run, then the done line.
    fn done(&mut self) {
        self.outcome.dom0 = self.dom0 == Some(true);
        for line in core::mem::take(&mut self.lines) {
            self.host.print(&line);
        }
        let line = format!("BENCH done results={} errors={}", self.outcome.results, self.outcome.errors);
        self.host.print(&line);
    }

    /// Keeps a line for [`Runner::done`]: nothing is printed while phases
    /// run, because dom0 relays the console and that work would be
    /// measured in the next phase.
    fn say(&mut self, line: String) {
        self.lines.push(line);
    }

    fn error(&mut self, phase: &str, round: u32, e: &BenchError) {
        self.outcome.errors += 1;
        self.say(format!("BENCH error phase={phase} round={round} {e}"));
    }

    fn result(&mut self, phase: &str, round: u32, m: &Measured) {
        self.outcome.results += 1;
        let mut line = format!("BENCH result phase={phase} round={round} ops={} ns={}", m.ops, m.ns);
        if let Some((lo, med, hi)) = m.latency {
            line.push_str(&format!(" lat_min_ns={lo} lat_med_ns={med} lat_max_ns={hi}"));
        }
        self.say(line);
    }

    // ------------------------------------------------------------------
    // Messages

    /// Builds a request with payload `parts` into `self.msg`.
    fn build(&mut self, ty: MsgType, req_id: u32, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        self.msg.clear();
        let hdr = MsgHeader { ty: ty.0, req_id, tx_id: 0, len: len as u32 };
        self.msg.extend_from_slice(&hdr.to_bytes());
        for p in parts {
            self.msg.extend_from_slice(p);
        }
    }

    /// Writes `self.msg` (one message per write, as both devices want).
    fn send(&mut self) -> Result<(), BenchError> {
        let n = self.host.write(&self.msg).map_err(BenchError::Io)?;
        if n != self.msg.len() {
            return Err(BenchError::Protocol("short write"));
        }
        Ok(())
    }

    /// One blocking read into the stream.
    fn fill(&mut self) -> Result<(), BenchError> {
        let n = self.host.read(self.stream.spare()).map_err(BenchError::Io)?;
        if n == 0 {
            return Err(BenchError::Protocol("read returned 0 bytes"));
        }
        self.stream.commit(n);
        Ok(())
    }

    /// Classifies a popped message; events are counted here.
    fn classify(&mut self, m: &crate::stream::Msg) -> Kind {
        if m.header.ty != MsgType::WATCH_EVENT.0 {
            return Kind::Reply;
        }
        let kind = match xs_wire::parse_path_token(self.stream.payload(m)) {
            Some((_, t)) if t == ACK_TOKEN => EventKind::Ack,
            Some((_, t)) if t == PONG_TOKEN => EventKind::Pong,
            _ => EventKind::Other,
        };
        match kind {
            EventKind::Ack => self.ack_events += 1,
            EventKind::Pong => {
                self.pong_events += 1;
                self.pong_at = self.host.now_ns();
            }
            EventKind::Other => {}
        }
        Kind::Event
    }

    /// Sends one request and waits for its reply; returns the payload.
    fn request(&mut self, ty: MsgType, parts: &[&[u8]]) -> Result<Vec<u8>, BenchError> {
        let req_id = self.next_req;
        self.next_req = self.next_req.wrapping_add(1);
        self.build(ty, req_id, parts);
        self.send()?;
        loop {
            while let Some(m) = self.stream.pop()? {
                if let Kind::Event = self.classify(&m) {
                    continue;
                }
                if m.header.req_id != req_id {
                    return Err(BenchError::Protocol("a reply to no request in flight"));
                }
                let payload = self.stream.payload(&m).to_vec();
                if m.header.ty == MsgType::ERROR.0 {
                    return Err(BenchError::Xs(
                        String::from_utf8_lossy(payload.strip_suffix(b"\0").unwrap_or(&payload)).into(),
                    ));
                }
                if m.header.ty != ty.0 {
                    return Err(BenchError::Protocol("a reply of another type"));
                }
                return Ok(payload);
            }
            self.fill()?;
        }
    }

    fn write(&mut self, path: &str, value: &[u8]) -> Result<(), BenchError> {
        let r = self.request(MsgType::WRITE, &[path.as_bytes(), b"\0", value])?;
        if r != OK {
            return Err(BenchError::Protocol("WRITE answered without OK"));
        }
        Ok(())
    }

    fn read(&mut self, path: &str) -> Result<Vec<u8>, BenchError> {
        self.request(MsgType::READ, &[path.as_bytes(), b"\0"])
    }

    /// Pops what has arrived; only events may come unasked.
    fn drain_events(&mut self) -> Result<(), BenchError> {
        while let Some(m) = self.stream.pop()? {
            if let Kind::Reply = self.classify(&m) {
                return Err(BenchError::Protocol("a reply to no request in flight"));
            }
        }
        Ok(())
    }

    /// Waits until `have(self)` or `timeout_ms` passed; false on timeout.
    fn wait_for(&mut self, timeout_ms: u32, have: impl Fn(&Self) -> bool) -> Result<bool, BenchError> {
        let deadline = self.host.now_ns().saturating_add(u64::from(timeout_ms) * 1_000_000);
        loop {
            self.drain_events()?;
            if have(self) {
                return Ok(true);
            }
            let now = self.host.now_ns();
            if now >= deadline {
                return Ok(false);
            }
            let left = ((deadline - now) / 1_000_000).clamp(1, u64::from(timeout_ms)) as u32;
            if !self.host.poll_in(left).map_err(BenchError::Io)? {
                return Ok(false);
            }
            self.fill()?;
        }
    }

    // ------------------------------------------------------------------
    // Setup and marks

    /// The key, the control nodes and the two watches; waits for both
    /// watches' initial events so that none is taken for a later one.
    fn setup(&mut self) -> Result<(), BenchError> {
        self.write(KEY, VALUE)?;
        self.write(ACK, b"0")?;
        self.write(PONG, b"-")?;
        for (path, token) in [(ACK, ACK_TOKEN), (PONG, PONG_TOKEN)] {
            let r = self.request(MsgType::WATCH, &[path.as_bytes(), b"\0", token, b"\0"])?;
            if r != OK {
                return Err(BenchError::Protocol("WATCH answered without OK"));
            }
        }
        if !self.wait_for(ACK_TIMEOUT_MS, |s| s.ack_events > 0 && s.pong_events > 0)? {
            return Err(BenchError::Timeout("the watches' initial events"));
        }
        self.ack_events = 0;
        self.pong_events = 0;
        // Warm-up: the first requests of a run pay for allocations and
        // first-time work on both sides.
        self.depth(MsgType::READ, WARMUP, 1)?;
        self.host.sleep_ms(SETTLE_MS);
        Ok(())
    }

    /// Tells dom0's bench tool that `label` starts or ends (`edge`) and
    /// waits for its ack, so that it has sampled the CPU counters before
    /// the phase starts. Without an answer to the first mark, the run
    /// goes on without dom0 (and says so).
    fn mark(&mut self, label: &str, edge: &str) -> Result<(), BenchError> {
        self.mark_seq += 1;
        let seq = format!("{}", self.mark_seq);
        let value = format!("{seq} {label} {edge}");
        self.write(MARK, value.as_bytes())?;
        if self.dom0 == Some(false) {
            return Ok(());
        }
        loop {
            if !self.wait_for(ACK_TIMEOUT_MS, |s| s.ack_events > 0)? {
                if self.dom0.is_none() {
                    self.dom0 = Some(false);
                    self.say("BENCH note no dom0 bench tool answered the first mark: no CPU figures".into());
                    return Ok(());
                }
                return Err(BenchError::Timeout("dom0's ack of a mark"));
            }
            self.ack_events = 0;
            if self.read(ACK)? == seq.as_bytes() {
                self.dom0 = Some(true);
                return Ok(());
            }
        }
    }

    // ------------------------------------------------------------------
    // Phases

    fn phase(&mut self, phase: &Phase, name: &str, round: u32) -> Result<Option<Measured>, BenchError> {
        if let Phase::Client { .. } = phase {
            // Probe outside the marks: a host without its own client skips it.
            let mut out = Vec::new();
            match self.host.client_read(KEY, &mut out) {
                None => return Ok(None),
                Some(r) => r.map_err(BenchError::Io)?,
            }
        }
        let label = format!("{name}.{round}");
        self.mark(&label, "start")?;
        self.host.phase_start();
        let m = match phase {
            Phase::Read { n, depth } => self.depth(MsgType::READ, *n, *depth),
            Phase::Write { n, depth } => self.depth(MsgType::WRITE, *n, *depth),
            Phase::Watch { n } => self.watch(*n),
            Phase::Client { n } => self.client(*n),
            Phase::Idle { secs } => {
                let t0 = self.host.now_ns();
                self.host.sleep_ms(u64::from(*secs) * 1000);
                Ok(Measured { ops: 0, ns: self.host.now_ns().saturating_sub(t0), latency: None })
            }
        };
        if let Ok(m) = &m {
            if let Some(line) = self.host.phase_stop(&label, m.ops) {
                self.say(line);
            }
        }
        // The end mark is sent even after a failed phase whose stream is
        // still in step (an XS_ERROR answer, a timeout).
        if matches!(m, Ok(_) | Err(BenchError::Xs(_) | BenchError::Timeout(_))) {
            self.mark(&label, "end")?;
        }
        m.map(Some)
    }

    /// `n` READs or WRITEs of the key, at most `depth` in flight; every
    /// reply is checked (type, req_id answered once, payload).
    fn depth(&mut self, ty: MsgType, n: u32, depth: u32) -> Result<Measured, BenchError> {
        let write = ty == MsgType::WRITE;
        let base = self.next_req;
        self.next_req = self.next_req.wrapping_add(n);
        if write {
            self.build(ty, base, &[KEY.as_bytes(), b"\0", VALUE]);
        } else {
            self.build(ty, base, &[KEY.as_bytes(), b"\0"]);
        }
        let mut answered = vec![0u64; (n as usize).div_ceil(64)];
        let t0 = self.host.now_ns();
        let (mut sent, mut done) = (0u32, 0u32);
        while done < n {
            while sent < n && sent - done < depth {
                if let Some(id) = self.msg.get_mut(4..8) {
                    id.copy_from_slice(&base.wrapping_add(sent).to_le_bytes());
                }
                self.send()?;
                sent += 1;
            }
            self.fill()?;
            while let Some(m) = self.stream.pop()? {
                if let Kind::Event = self.classify(&m) {
                    continue;
                }
                let idx = m.header.req_id.wrapping_sub(base);
                if idx >= sent {
                    return Err(BenchError::Protocol("a reply to no request in flight"));
                }
                let (word, bit) = ((idx / 64) as usize, 1u64 << (idx % 64));
                match answered.get_mut(word) {
                    Some(w) if *w & bit == 0 => *w |= bit,
                    _ => return Err(BenchError::Protocol("a request answered twice")),
                }
                let payload = self.stream.payload(&m);
                if m.header.ty == MsgType::ERROR.0 {
                    let name = String::from_utf8_lossy(payload.strip_suffix(b"\0").unwrap_or(payload)).into();
                    return Err(BenchError::Xs(name));
                }
                let expected: &[u8] = if write { OK } else { VALUE };
                if m.header.ty != ty.0 || payload != expected {
                    return Err(BenchError::Protocol("a reply with the wrong type or payload"));
                }
                done += 1;
            }
        }
        Ok(Measured { ops: u64::from(n), ns: self.host.now_ns().saturating_sub(t0), latency: None })
    }

    /// `n` watch round trips: write `ping` = k; dom0's tool, watching it,
    /// writes `pong` = k; the time until the pong event is read.
    fn watch(&mut self, n: u32) -> Result<Measured, BenchError> {
        let mut lat = Vec::with_capacity(n as usize);
        let t_start = self.host.now_ns();
        for k in 0..n {
            let value = format!("{k}");
            self.pong_events = 0;
            let t0 = self.host.now_ns();
            self.write(PING, value.as_bytes())?;
            loop {
                if !self.wait_for(ACK_TIMEOUT_MS, |s| s.pong_events > 0)? {
                    return Err(BenchError::Timeout("the pong event"));
                }
                let t1 = self.pong_at;
                self.pong_events = 0;
                if self.read(PONG)? == value.as_bytes() {
                    lat.push(t1.saturating_sub(t0));
                    break;
                }
            }
        }
        let ns = self.host.now_ns().saturating_sub(t_start);
        lat.sort_unstable();
        let pick = |i: usize| lat.get(i).copied().unwrap_or(0);
        let latency = Some((pick(0), pick(lat.len() / 2), pick(lat.len().saturating_sub(1))));
        Ok(Measured { ops: u64::from(n), ns, latency })
    }

    /// `n` sequential READs through the host's in-kernel client.
    fn client(&mut self, n: u32) -> Result<Measured, BenchError> {
        let mut out = Vec::with_capacity(VALUE.len());
        let t0 = self.host.now_ns();
        for _ in 0..n {
            out.clear();
            match self.host.client_read(KEY, &mut out) {
                Some(Ok(())) => {}
                Some(Err(e)) => return Err(BenchError::Io(e)),
                None => return Err(BenchError::Protocol("the in-kernel client went away")),
            }
            if out != VALUE {
                return Err(BenchError::Protocol("the in-kernel client read another value"));
            }
        }
        Ok(Measured { ops: u64::from(n), ns: self.host.now_ns().saturating_sub(t0), latency: None })
    }
}
