//! Runs a parsed scenario against a [`FileApi`] and writes its transcript.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use crate::names::{self, errno_name, poll_mask_name};
use crate::scenario::{
    eval, parse, Dom0Op, EvalError, Expect, Field, Lets, MsgSpec, Scenario, Step, StepKind, Term, Vars, O_NONBLOCK,
    O_RDWR,
};

/// The file operations a host gives the runner. Errors are Linux x86_64
/// errno values (positive, e.g. 22 for `EINVAL`).
pub trait FileApi {
    /// open(2) with `O_*` flags (Linux x86_64 values); returns a descriptor.
    fn open(&mut self, path: &str, flags: u32) -> Result<i32, i32>;
    /// One read(2) of at most `buf.len()` bytes.
    fn read(&mut self, fd: i32, buf: &mut [u8]) -> Result<usize, i32>;
    /// One write(2).
    fn write(&mut self, fd: i32, buf: &[u8]) -> Result<usize, i32>;
    /// poll(2): `(fd, events, revents)`; fills `revents`, returns how many
    /// descriptors have non-zero `revents`. Negative timeout: infinite.
    fn poll(&mut self, fds: &mut [(i32, u16, u16)], timeout_ms: i32) -> Result<usize, i32>;
    /// close(2).
    fn close(&mut self, fd: i32) -> Result<(), i32>;
    /// fcntl(F_SETFL) turning `O_NONBLOCK` on or off.
    fn set_nonblock(&mut self, fd: i32, on: bool) -> Result<(), i32>;
    /// Sleeps.
    fn sleep_ms(&mut self, ms: u64);
    /// A monotonic clock in ms (only differences are used).
    fn now_ms(&mut self) -> u64;
}

/// How the runner behaves on one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunConfig {
    /// Host name, matched against `skip-on:` lines (`ours`, `linux`).
    pub host: String,
    /// Path of the xenbus device (`/dev/xen/xenbus`).
    pub device: String,
    /// How long a read step waits (with poll) for data before it records
    /// `TIMEOUT` instead of calling a read() that would block.
    pub guard_ms: u64,
    /// How long a `dom0` step waits for the dom0 helper's answer.
    pub dom0_timeout_ms: u64,
    /// How long a `dom0 save-restore` or `dom0 checkpoint` step waits (of
    /// the guest's own time: the time it is saved does not pass for it).
    pub lifecycle_timeout_ms: u64,
    /// Before each scenario, remove `data/conf/<name>` (not in the
    /// transcript), so earlier runs leave nothing behind.
    pub clean: bool,
}

impl RunConfig {
    /// Defaults: 3 s read guard, 10 s for dom0 steps, cleaning on.
    pub fn new(host: &str, device: &str) -> Self {
        Self {
            host: String::from(host),
            device: String::from(device),
            guard_ms: 3000,
            dom0_timeout_ms: 10_000,
            lifecycle_timeout_ms: 120_000,
            clean: true,
        }
    }
}

/// The result of one scenario on one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The transcript (newline-terminated lines).
    pub transcript: String,
    /// `expect` steps (and message reads) that did not hold.
    pub failures: usize,
    /// The scenario was skipped on this host (`skip-on:`).
    pub skipped: bool,
}

/// Runs scenarios on one host; keeps the dom0 request sequence number
/// across scenarios.
#[derive(Clone, Debug)]
pub struct Runner {
    cfg: RunConfig,
    seq: u32,
}

/// Largest payload a message read accepts from a header (bigger `len`
/// values are read only this far).
const MSG_READ_MAX: usize = 65536;
/// req_ids the runner uses on its own helper descriptors.
const HELPER_REQ: u32 = 0xC0F0_0000;

/// What the last operation gave, for `expect` steps.
#[derive(Clone, Debug, Default)]
struct Last {
    count: Option<u64>,
    errno: Option<i32>,
    timeout: bool,
    error: bool,
    data: Option<Vec<u8>>,
    revents: Vec<(String, u16)>,
}

/// Position in one descriptor's read stream (to find header fields).
#[derive(Clone, Debug, Default)]
struct Stream {
    hdr: [u8; 16],
    hdr_len: usize,
    ty: u32,
    plen: usize,
    left: usize,
}

struct Fd {
    real: i32,
    nonblock: bool,
    stream: Stream,
}

struct Ctx<'a, F: FileApi> {
    cfg: &'a RunConfig,
    seq: &'a mut u32,
    api: &'a mut F,
    name: &'a str,
    fds: BTreeMap<String, Fd>,
    vars: Vars,
    lets: Lets,
    lines: Vec<String>,
    /// A raw read whose rendering waits for the `expect` steps after it
    /// (they may bind variables the rendering uses): line index, fd, data.
    pending: Option<(usize, String, Vec<u8>)>,
    last: Last,
    failures: usize,
    /// A watch event arrived on the dom0 helper descriptor during the last
    /// helper call.
    helper_saw_event: bool,
}

impl Runner {
    /// A runner; dom0 sequence numbers start at 1000.
    pub fn new(cfg: RunConfig) -> Self {
        Self { cfg, seq: 1000 }
    }

    /// Sets the next dom0 request sequence number (the dom0 helper ignores
    /// a request whose number equals the previous one).
    pub fn set_seq(&mut self, seq: u32) {
        self.seq = seq;
    }

    /// The configuration.
    pub fn config(&self) -> &RunConfig {
        &self.cfg
    }

    /// Parses and runs scenario text. A parse error gives a transcript
    /// whose only step line is `PARSE-ERROR line <n>: <message>`.
    pub fn run_text<F: FileApi>(&mut self, api: &mut F, name: &str, text: &str) -> Outcome {
        match parse(name, text) {
            Ok(sc) => self.run(api, &sc),
            Err(e) => Outcome {
                transcript: format!("scenario {name}\nPARSE-ERROR {e}\nend parse-error\n"),
                failures: 1,
                skipped: false,
            },
        }
    }

    /// Runs a scenario. Never panics; descriptors it left open are closed
    /// at the end.
    pub fn run<F: FileApi>(&mut self, api: &mut F, sc: &Scenario) -> Outcome {
        let mut head = format!("scenario {}\n", sc.name);
        if let Some(d) = &sc.deviation {
            head.push_str(&format!("deviation: {d}\n"));
        }
        for s in &sc.skip_on {
            head.push_str(&format!("skip-on: {} {}\n", s.host, s.reason));
        }
        if let Some(reason) = sc.skip_reason(&self.cfg.host) {
            head.push_str(&format!("SKIPPED on {}: {}\nend skipped\n", self.cfg.host, reason));
            return Outcome { transcript: head, failures: 0, skipped: true };
        }
        let mut ctx = Ctx {
            cfg: &self.cfg,
            seq: &mut self.seq,
            api,
            name: &sc.name,
            fds: BTreeMap::new(),
            vars: Vars::new(),
            lets: Lets::new(),
            lines: Vec::new(),
            pending: None,
            last: Last::default(),
            failures: 0,
            helper_saw_event: false,
        };
        if ctx.cfg.clean {
            ctx.clean();
        }
        for step in &sc.steps {
            if !matches!(step.kind, StepKind::Expect(_)) {
                ctx.flush();
            }
            ctx.step(step);
        }
        ctx.flush();
        let open: Vec<i32> = ctx.fds.values().map(|f| f.real).collect();
        for fd in open {
            let _ = ctx.api.close(fd);
        }
        let failures = ctx.failures;
        let mut t = head;
        for l in &ctx.lines {
            t.push_str(l);
            t.push('\n');
        }
        if failures == 0 {
            t.push_str("end ok\n");
        } else {
            t.push_str(&format!("end failed={failures}\n"));
        }
        Outcome { transcript: t, failures, skipped: false }
    }
}

/// Hex of `b`, runs of 16 or more equal bytes written `(hh*n)`.
pub(crate) fn hex_runs(b: &[u8]) -> String {
    let mut s = String::new();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let run = b.get(i..).map(|r| r.iter().take_while(|&&x| x == c).count()).unwrap_or(1);
        if run >= 16 {
            s.push_str(&format!("({c:02x}*{run})"));
            i += run;
        } else {
            s.push_str(&format!("{c:02x}"));
            i += 1;
        }
    }
    s
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(off..off + 4) {
        w.copy_from_slice(s);
    }
    u32::from_le_bytes(w)
}

impl Stream {
    /// Renders bytes just read from this stream: header fields as 8 hex
    /// digits each, the payload as one hex word, ` | ` between messages.
    /// A complete `tx_id` field equal to a bound variable prints as
    /// `<$name>`; a whole TRANSACTION_START reply carrying a bound id prints
    /// its `len` as `<len $name>` and its payload as `<$name>00`.
    fn render(&mut self, data: &[u8], canon: &BTreeMap<u32, String>) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut i = 0;
        while i < data.len() {
            let rest = data.get(i..).unwrap_or(&[]);
            if self.hdr_len < 16 {
                if self.hdr_len == 0 && !parts.is_empty() {
                    parts.push(String::from("|"));
                }
                if self.hdr_len == 0 {
                    if let Some((tokens, used)) = canonical_start_reply(rest, canon) {
                        parts.extend(tokens);
                        i += used;
                        continue;
                    }
                }
                let take = (16 - self.hdr_len).min(rest.len());
                for (k, &b) in rest.iter().take(take).enumerate() {
                    if let Some(slot) = self.hdr.get_mut(self.hdr_len + k) {
                        *slot = b;
                    }
                }
                let mut pos = self.hdr_len;
                let end = self.hdr_len + take;
                while pos < end {
                    let field = pos / 4;
                    let fend = ((field + 1) * 4).min(end);
                    let complete = pos == field * 4 && fend == field * 4 + 4;
                    let v = u32_at(&self.hdr, field * 4);
                    let tok = match canon.get(&v) {
                        Some(n) if complete && field == 2 && v != 0 => format!("<${n}>"),
                        _ => hex_runs(self.hdr.get(pos..fend).unwrap_or(&[])),
                    };
                    parts.push(tok);
                    pos = fend;
                }
                self.hdr_len = end;
                i += take;
                if self.hdr_len == 16 {
                    self.ty = u32_at(&self.hdr, 0);
                    self.plen = u32_at(&self.hdr, 12) as usize;
                    self.left = self.plen;
                    if self.left == 0 {
                        self.hdr_len = 0;
                    }
                }
            } else {
                let take = self.left.min(rest.len());
                let chunk = rest.get(..take).unwrap_or(&[]);
                parts.push(hex_runs(chunk));
                self.left -= take;
                i += take;
                if self.left == 0 {
                    self.hdr_len = 0;
                }
            }
        }
        parts.join(" ")
    }
}

/// A whole TRANSACTION_START reply at the start of `b` whose payload is
/// the decimal id of a bound variable: its tokens with the `tx_id`, `len`
/// and payload canonicalised (`len` depends on the number of digits), and
/// its size.
fn canonical_start_reply(b: &[u8], canon: &BTreeMap<u32, String>) -> Option<(Vec<String>, usize)> {
    if b.len() < 16 || u32_at(b, 0) != names::TRANSACTION_START {
        return None;
    }
    let len = u32_at(b, 12) as usize;
    let payload = b.get(16..16 + len)?;
    let digits = payload.strip_suffix(&[0])?;
    let v = core::str::from_utf8(digits).ok()?.parse::<u32>().ok()?;
    if v == 0 || digits.first() == Some(&b'0') {
        return None;
    }
    let name = canon.get(&v)?;
    let tx = u32_at(b, 8);
    let tx_tok = match canon.get(&tx) {
        Some(n) if tx != 0 => format!("<${n}>"),
        _ => hex_runs(b.get(8..12).unwrap_or(&[])),
    };
    let toks = vec![
        hex_runs(b.get(0..4).unwrap_or(&[])),
        hex_runs(b.get(4..8).unwrap_or(&[])),
        tx_tok,
        format!("<len ${name}>"),
        format!("<${name}>00"),
    ];
    Some((toks, 16 + len))
}

/// A payload pattern piece.
enum Seg {
    Lit(Vec<u8>),
    Var(String),
}

fn segments(terms: &[Term], vars: &Vars, lets: &Lets) -> Result<Vec<Seg>, EvalError> {
    let mut out = Vec::new();
    for t in terms {
        match t {
            Term::Var(v) if !vars.contains_key(v) => out.push(Seg::Var(v.clone())),
            other => out.push(Seg::Lit(eval(core::slice::from_ref(other), vars, lets)?)),
        }
    }
    Ok(out)
}

fn match_field(f: &Field, got: u32, vars: &mut Vars) -> bool {
    match f {
        Field::Num(n) => *n == got,
        Field::Any => true,
        Field::Var(v) => match vars.get(v) {
            Some(&b) => b == got,
            None => {
                vars.insert(v.clone(), got);
                true
            }
        },
    }
}

/// Matches one whole message (header + payload) against a pattern, binding
/// unbound variables in `vars` (callers roll back on failure).
fn match_msg(p: &MsgSpec, msg: &[u8], vars: &mut Vars, lets: &Lets) -> bool {
    if msg.len() < 16 {
        return false;
    }
    let (ty, req, tx, len) = (u32_at(msg, 0), u32_at(msg, 4), u32_at(msg, 8), u32_at(msg, 12));
    if !(match_field(&p.ty, ty, vars) && match_field(&p.req, req, vars) && match_field(&p.tx, tx, vars)) {
        return false;
    }
    if let Some(f) = &p.len {
        if !match_field(f, len, vars) {
            return false;
        }
    }
    let payload = msg.get(16..).unwrap_or(&[]);
    let Ok(segs) = segments(&p.payload, vars, lets) else { return false };
    let mut rest = payload;
    for s in segs {
        match s {
            Seg::Lit(l) => match rest.strip_prefix(l.as_slice()) {
                Some(r) => rest = r,
                None => return false,
            },
            Seg::Var(v) => {
                if let Some(&b) = vars.get(&v) {
                    let txt = b.to_string();
                    match rest.strip_prefix(txt.as_bytes()) {
                        Some(r) => rest = r,
                        None => return false,
                    }
                } else {
                    let n = rest.iter().take_while(|c| c.is_ascii_digit()).count();
                    let val =
                        rest.get(..n).and_then(|d| core::str::from_utf8(d).ok()).and_then(|s| s.parse::<u32>().ok());
                    match val {
                        Some(val) if n > 0 => {
                            vars.insert(v, val);
                            rest = rest.get(n..).unwrap_or(&[]);
                        }
                        _ => return false,
                    }
                }
            }
        }
    }
    rest.is_empty()
}

/// Matches messages to patterns (in order, or any order), returning the
/// new bindings and, for each pattern, the index of its message.
fn match_all(
    pats: &[MsgSpec],
    msgs: &[Vec<u8>],
    unordered: bool,
    vars: &Vars,
    lets: &Lets,
) -> Option<(Vars, Vec<usize>)> {
    if pats.len() != msgs.len() {
        return None;
    }
    if !unordered {
        let mut v = vars.clone();
        for (p, m) in pats.iter().zip(msgs) {
            if !match_msg(p, m, &mut v, lets) {
                return None;
            }
        }
        return Some((v, (0..msgs.len()).collect()));
    }
    fn go(
        k: usize,
        pats: &[MsgSpec],
        msgs: &[Vec<u8>],
        used: &mut Vec<bool>,
        order: &mut Vec<usize>,
        vars: &Vars,
        lets: &Lets,
    ) -> Option<Vars> {
        let Some(p) = pats.get(k) else { return Some(vars.clone()) };
        for (i, m) in msgs.iter().enumerate() {
            if used.get(i).copied().unwrap_or(true) {
                continue;
            }
            let mut v = vars.clone();
            if match_msg(p, m, &mut v, lets) {
                if let Some(u) = used.get_mut(i) {
                    *u = true;
                }
                order.push(i);
                if let Some(done) = go(k + 1, pats, msgs, used, order, &v, lets) {
                    return Some(done);
                }
                order.pop();
                if let Some(u) = used.get_mut(i) {
                    *u = false;
                }
            }
        }
        None
    }
    let mut used = vec![false; msgs.len()];
    let mut order = Vec::new();
    go(0, pats, msgs, &mut used, &mut order, vars, lets).map(|v| (v, order))
}

/// Splits bytes into whole messages (None if they do not split exactly).
fn split_msgs(data: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.len() < 16 {
            return None;
        }
        let n = 16usize.checked_add(u32_at(rest, 12) as usize)?;
        out.push(rest.get(..n)?.to_vec());
        rest = rest.get(n..)?;
    }
    Some(out)
}

fn msg_bytes(ty: u32, req: u32, tx: u32, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + payload.len());
    for v in [ty, req, tx, payload.len() as u32] {
        m.extend_from_slice(&v.to_le_bytes());
    }
    m.extend_from_slice(payload);
    m
}

/// How reading an exact number of bytes ended.
enum ReadEnd {
    Done,
    Timeout,
    Errno(i32),
}

impl<'a, F: FileApi> Ctx<'a, F> {
    fn canon(&self) -> BTreeMap<u32, String> {
        let mut m = BTreeMap::new();
        for (k, &v) in &self.vars {
            m.entry(v).or_insert_with(|| k.clone());
        }
        m
    }

    fn push(&mut self, step: &Step, obs: &str) {
        self.lines.push(format!("L{} {} -> {}", step.line, step.text, obs));
    }

    fn flush(&mut self) {
        if let Some((idx, fd, data)) = self.pending.take() {
            let canon = self.canon();
            let txt = match self.fds.get_mut(&fd) {
                Some(f) => f.stream.render(&data, &canon),
                None => hex_runs(&data),
            };
            if let Some(line) = self.lines.get_mut(idx) {
                line.push_str(&txt);
            }
        }
    }

    fn fd(&self, name: &str) -> Result<i32, String> {
        self.fds.get(name).map(|f| f.real).ok_or_else(|| format!("ERROR descriptor {name} is not open"))
    }

    fn set_last_errno(&mut self, e: i32) -> String {
        self.last.errno = Some(e);
        format!("errno {}", errno_name(e))
    }

    /// Polls one descriptor for input until `deadline`; true if readable.
    fn wait_readable(&mut self, fd: i32, deadline: u64) -> Result<bool, i32> {
        loop {
            let now = self.api.now_ms();
            let left = deadline.saturating_sub(now);
            let mut p = [(fd, 0x001u16, 0u16)];
            let n = self.api.poll(&mut p, i32::try_from(left).unwrap_or(i32::MAX))?;
            if n > 0 {
                return Ok(true);
            }
            if self.api.now_ms() >= deadline || left == 0 {
                return Ok(false);
            }
        }
    }

    /// Reads exactly `n` bytes (polling first each time, never blocking past
    /// `deadline`).
    fn read_exact(&mut self, fd: i32, n: usize, deadline: u64, out: &mut Vec<u8>) -> ReadEnd {
        let target = out.len() + n;
        let mut zero_reads = 0;
        while out.len() < target {
            match self.wait_readable(fd, deadline) {
                Ok(true) => {}
                Ok(false) => return ReadEnd::Timeout,
                Err(e) => return ReadEnd::Errno(e),
            }
            let mut buf = vec![0u8; target - out.len()];
            match self.api.read(fd, &mut buf) {
                Ok(0) => {
                    zero_reads += 1;
                    if zero_reads > 3 {
                        return ReadEnd::Timeout;
                    }
                }
                Ok(k) => out.extend_from_slice(buf.get(..k).unwrap_or(&[])),
                Err(11) => {
                    zero_reads += 1;
                    if zero_reads > 100 {
                        return ReadEnd::Timeout;
                    }
                }
                Err(e) => return ReadEnd::Errno(e),
            }
        }
        ReadEnd::Done
    }

    /// Reads one whole message.
    fn read_msg(&mut self, fd: i32, deadline: u64, out: &mut Vec<u8>) -> ReadEnd {
        let start = out.len();
        match self.read_exact(fd, 16, deadline, out) {
            ReadEnd::Done => {}
            other => return other,
        }
        let len = out.get(start..).map(|h| u32_at(h, 12) as usize).unwrap_or(0);
        self.read_exact(fd, len.min(MSG_READ_MAX), deadline, out)
    }

    fn step(&mut self, step: &Step) {
        if !matches!(step.kind, StepKind::Expect(_)) {
            self.last = Last::default();
        }
        match &step.kind {
            StepKind::Let { name, bytes } => {
                self.lets.insert(name.clone(), bytes.clone());
            }
            StepKind::Sleep { ms } => {
                self.api.sleep_ms(*ms);
                self.push(step, "ok");
            }
            StepKind::Open { fd, flags, path } => {
                let p = path.clone().unwrap_or_else(|| self.cfg.device.clone());
                let obs = match self.api.open(&p, *flags) {
                    Ok(real) => {
                        self.fds.insert(
                            fd.clone(),
                            Fd { real, nonblock: flags & O_NONBLOCK != 0, stream: Stream::default() },
                        );
                        String::from("ok")
                    }
                    Err(e) => self.set_last_errno(e),
                };
                self.push(step, &obs);
            }
            StepKind::Close { fd } => {
                let obs = match self.fds.remove(fd) {
                    Some(f) => match self.api.close(f.real) {
                        Ok(()) => String::from("ok"),
                        Err(e) => self.set_last_errno(e),
                    },
                    None => self.error(format!("ERROR descriptor {fd} is not open")),
                };
                self.push(step, &obs);
            }
            StepKind::Fcntl { fd, nonblock } => {
                let obs = match self.fd(fd) {
                    Ok(real) => match self.api.set_nonblock(real, *nonblock) {
                        Ok(()) => {
                            if let Some(f) = self.fds.get_mut(fd) {
                                f.nonblock = *nonblock;
                            }
                            String::from("ok")
                        }
                        Err(e) => self.set_last_errno(e),
                    },
                    Err(m) => self.error(m),
                };
                self.push(step, &obs);
            }
            StepKind::Write { fd, bytes } => {
                let obs = match (self.fd(fd), eval(bytes, &self.vars, &self.lets)) {
                    (Err(m), _) => self.error(m),
                    (_, Err(e)) => self.error(format!("ERROR {e}")),
                    (Ok(real), Ok(b)) => match self.api.write(real, &b) {
                        Ok(n) => {
                            self.last.count = Some(n as u64);
                            n.to_string()
                        }
                        Err(e) => self.set_last_errno(e),
                    },
                };
                self.push(step, &obs);
            }
            StepKind::Read { fd, count, nonblock } => self.raw_read(step, fd, *count, *nonblock),
            StepKind::ReadMsgs { fd, pats, unordered } => self.read_msgs(step, fd, pats, *unordered),
            StepKind::Poll { fds, events, timeout } => {
                let mut set = Vec::new();
                for name in fds {
                    match self.fd(name) {
                        Ok(real) => set.push((real, *events, 0u16)),
                        Err(m) => {
                            let obs = self.error(m);
                            self.push(step, &obs);
                            return;
                        }
                    }
                }
                let obs = match self.api.poll(&mut set, *timeout) {
                    Ok(n) => {
                        self.last.count = Some(n as u64);
                        self.last.timeout = n == 0;
                        let mut s = format!("{n}:");
                        for (name, (_, _, rev)) in fds.iter().zip(&set) {
                            s.push_str(&format!(" {name}={}", poll_mask_name(*rev)));
                            self.last.revents.push((name.clone(), *rev));
                        }
                        s
                    }
                    Err(e) => self.set_last_errno(e),
                };
                self.push(step, &obs);
            }
            StepKind::Expect(e) => {
                let ok = self.check(e);
                if !ok {
                    self.failures += 1;
                }
                self.push(step, if ok { "ok" } else { "FAILED" });
            }
            StepKind::Dom0(op) => self.dom0(step, op),
        }
    }

    fn error(&mut self, m: String) -> String {
        self.last.error = true;
        self.failures += 1;
        m
    }

    fn raw_read(&mut self, step: &Step, fd: &str, count: usize, nonblock_once: bool) {
        let (real, fd_nonblock) = match self.fds.get(fd) {
            Some(f) => (f.real, f.nonblock),
            None => {
                let obs = self.error(format!("ERROR descriptor {fd} is not open"));
                self.push(step, &obs);
                return;
            }
        };
        let direct = fd_nonblock || nonblock_once;
        if !direct {
            let deadline = self.api.now_ms().saturating_add(self.cfg.guard_ms);
            match self.wait_readable(real, deadline) {
                Ok(true) => {}
                Ok(false) => {
                    self.last.timeout = true;
                    self.push(step, "TIMEOUT");
                    return;
                }
                Err(e) => {
                    let obs = self.set_last_errno(e);
                    self.push(step, &format!("poll {obs}"));
                    return;
                }
            }
        }
        let toggle = nonblock_once && !fd_nonblock;
        if toggle {
            if let Err(e) = self.api.set_nonblock(real, true) {
                let obs = self.set_last_errno(e);
                self.push(step, &format!("fcntl {obs}"));
                return;
            }
        }
        let mut buf = vec![0u8; count];
        let r = self.api.read(real, &mut buf);
        if toggle {
            let _ = self.api.set_nonblock(real, false);
        }
        match r {
            Ok(n) => {
                let data = buf.get(..n.min(count)).unwrap_or(&[]).to_vec();
                self.last.count = Some(data.len() as u64);
                self.last.data = Some(data.clone());
                if data.is_empty() {
                    self.push(step, "0");
                } else {
                    self.push(step, &format!("{}: ", data.len()));
                    self.pending = Some((self.lines.len() - 1, String::from(fd), data));
                }
            }
            Err(e) => {
                let obs = self.set_last_errno(e);
                self.push(step, &obs);
            }
        }
    }

    fn read_msgs(&mut self, step: &Step, fd: &str, pats: &[MsgSpec], unordered: bool) {
        let real = match self.fd(fd) {
            Ok(r) => r,
            Err(m) => {
                let obs = self.error(m);
                self.push(step, &obs);
                return;
            }
        };
        let deadline = self.api.now_ms().saturating_add(self.cfg.guard_ms);
        let mut data = Vec::new();
        let mut bounds = Vec::new();
        let mut end = ReadEnd::Done;
        for _ in pats {
            let start = data.len();
            end = self.read_msg(real, deadline, &mut data);
            if !matches!(end, ReadEnd::Done) {
                break;
            }
            bounds.push((start, data.len()));
        }
        let msgs: Vec<Vec<u8>> = bounds.iter().map(|&(a, b)| data.get(a..b).unwrap_or(&[]).to_vec()).collect();
        let matched = match end {
            ReadEnd::Done => match_all(pats, &msgs, unordered, &self.vars, &self.lets),
            _ => None,
        };
        if let Some((v, _)) = &matched {
            self.vars = v.clone();
        }
        let canon = self.canon();
        // Render in stream order (keeps the stream position right), then
        // reorder whole messages to pattern order for an unordered match.
        let mut rendered: Vec<String> = Vec::new();
        if let Some(f) = self.fds.get_mut(fd) {
            for m in &msgs {
                rendered.push(f.stream.render(m, &canon));
            }
            let tail = data.get(bounds.last().map(|b| b.1).unwrap_or(0)..).unwrap_or(&[]);
            if !tail.is_empty() {
                rendered.push(f.stream.render(tail, &canon));
            }
        }
        let obs = match (&end, &matched) {
            (ReadEnd::Done, Some((_, order))) => {
                let parts: Vec<String> = order.iter().map(|&i| rendered.get(i).cloned().unwrap_or_default()).collect();
                self.last.data = Some(data.clone());
                format!("{} ok", parts.join(" | "))
            }
            (ReadEnd::Done, None) => {
                self.failures += 1;
                self.last.data = Some(data.clone());
                format!("{} MISMATCH", rendered.join(" | "))
            }
            (ReadEnd::Timeout, _) => {
                self.failures += 1;
                self.last.timeout = true;
                if data.is_empty() {
                    String::from("TIMEOUT")
                } else {
                    format!("TIMEOUT after {} bytes: {}", data.len(), rendered.join(" | "))
                }
            }
            (ReadEnd::Errno(e), _) => {
                self.failures += 1;
                let e = *e;
                let o = self.set_last_errno(e);
                if data.is_empty() {
                    o
                } else {
                    format!("{o} after {} bytes: {}", data.len(), rendered.join(" | "))
                }
            }
        };
        self.push(step, &obs);
    }

    fn check(&mut self, e: &Expect) -> bool {
        let l = &self.last;
        match e {
            Expect::Count(n) => !l.error && l.errno.is_none() && l.count == Some(*n),
            Expect::Errno(n) => l.errno == Some(*n),
            Expect::Timeout => l.timeout,
            Expect::Ok => !l.error && l.errno.is_none() && !l.timeout,
            Expect::Revents(list) => {
                if l.errno.is_some() || l.error {
                    return false;
                }
                list.iter().all(|(name, mask)| match name {
                    Some(n) => l.revents.iter().any(|(k, r)| k == n && r == mask),
                    None => l.revents.first().is_some_and(|(_, r)| r == mask),
                })
            }
            Expect::Bytes(b) => match (eval(b, &self.vars, &self.lets), &l.data) {
                (Ok(want), Some(got)) => &want == got,
                _ => false,
            },
            Expect::Msgs { pats, unordered } => {
                let Some(got) = l.data.clone() else { return false };
                let Some(msgs) = split_msgs(&got) else { return false };
                match match_all(pats, &msgs, *unordered, &self.vars, &self.lets) {
                    Some((v, _)) => {
                        self.vars = v;
                        true
                    }
                    None => false,
                }
            }
        }
    }

    // ------------------------------------------------------------------
    // Helper descriptors (dom0 requests and cleaning)

    fn helper_open(&mut self) -> Result<i32, String> {
        let dev = self.cfg.device.clone();
        self.api.open(&dev, O_RDWR).map_err(|e| format!("helper open: {}", errno_name(e)))
    }

    /// Sends one request on a helper descriptor and reads messages until the
    /// reply with `req` arrives; returns (type, payload).
    fn helper_call(&mut self, h: i32, msg: &[u8], req: u32, deadline: u64) -> Result<(u32, Vec<u8>), String> {
        self.api.write(h, msg).map_err(|e| format!("helper write: {}", errno_name(e)))?;
        self.helper_saw_event = false;
        loop {
            let m = self.helper_next(h, deadline)?;
            if u32_at(&m, 0) != names::WATCH_EVENT && u32_at(&m, 4) == req {
                return Ok((u32_at(&m, 0), m.get(16..).unwrap_or(&[]).to_vec()));
            }
        }
    }

    /// Reads the next message on a helper descriptor, noting watch events.
    fn helper_next(&mut self, h: i32, deadline: u64) -> Result<Vec<u8>, String> {
        let mut m = Vec::new();
        match self.read_msg(h, deadline, &mut m) {
            ReadEnd::Done => {}
            ReadEnd::Timeout => return Err(String::from("TIMEOUT")),
            ReadEnd::Errno(e) => return Err(format!("helper read: {}", errno_name(e))),
        }
        if u32_at(&m, 0) == names::WATCH_EVENT {
            self.helper_saw_event = true;
        }
        Ok(m)
    }

    /// Removes `data/conf/<name>` on a helper descriptor; errors ignored.
    fn clean(&mut self) {
        let Ok(h) = self.helper_open() else { return };
        let mut p = format!("data/conf/{}", self.name).into_bytes();
        p.push(0);
        let deadline = self.api.now_ms().saturating_add(self.cfg.guard_ms);
        let _ = self.helper_call(h, &msg_bytes(names::RM, HELPER_REQ, 0, &p), HELPER_REQ, deadline);
        let _ = self.api.close(h);
    }

    /// One dom0 request through the harness protocol: `Ok(answer text after
    /// "ok")` or `Err(text)`; `Err("TIMEOUT")` when no answer came within
    /// `timeout_ms`.
    fn dom0_request(&mut self, line: &str, timeout_ms: u64) -> Result<String, String> {
        *self.seq = self.seq.wrapping_add(1);
        let seq = *self.seq;
        let h = self.helper_open()?;
        let r = self.dom0_on(h, seq, line, timeout_ms);
        let _ = self.api.close(h);
        r
    }

    fn dom0_on(&mut self, h: i32, seq: u32, line: &str, timeout_ms: u64) -> Result<String, String> {
        let deadline = self.api.now_ms().saturating_add(timeout_ms);
        let watch = msg_bytes(names::WATCH, HELPER_REQ + 1, 0, b"data/harness/rsp\0conformance\0");
        let (ty, body) = self.helper_call(h, &watch, HELPER_REQ + 1, deadline)?;
        if ty != names::WATCH {
            return Err(format!("helper watch: {}", String::from_utf8_lossy(&body).trim_end_matches('\0')));
        }
        let mut req = b"data/harness/req\0".to_vec();
        req.extend_from_slice(format!("{seq} {line}").as_bytes());
        let (ty, body) =
            self.helper_call(h, &msg_bytes(names::WRITE, HELPER_REQ + 2, 0, &req), HELPER_REQ + 2, deadline)?;
        if ty != names::WRITE {
            return Err(format!("helper write request: {}", String::from_utf8_lossy(&body).trim_end_matches('\0')));
        }
        let mut n = 3u32;
        loop {
            // Check the answer now and after every event on data/harness/rsp.
            n = n.wrapping_add(1);
            let rid = HELPER_REQ + n;
            let (ty, body) =
                self.helper_call(h, &msg_bytes(names::READ, rid, 0, b"data/harness/rsp\0"), rid, deadline)?;
            if ty == names::READ {
                let text = String::from_utf8_lossy(&body).into_owned();
                let mut it = text.splitn(3, ' ');
                if it.next() == Some(seq.to_string().as_str()) {
                    return match it.next() {
                        Some("ok") => Ok(String::from(it.next().unwrap_or(""))),
                        _ => Err(format!("err {}", it.next().unwrap_or(""))),
                    };
                }
            }
            // Wait for the next event (unless one came while reading).
            while !self.helper_saw_event {
                self.helper_next(h, deadline)?;
            }
        }
    }

    fn dom0(&mut self, step: &Step, op: &Dom0Op) {
        let (line, want) = match op {
            Dom0Op::Write { path, value } => (format!("write {path} {value}"), None),
            Dom0Op::Rm { path } => (format!("rm {path}"), None),
            Dom0Op::Mkdir { path } => (format!("mkdir {path}"), None),
            Dom0Op::Read { path, expect } => (format!("read {path}"), expect.clone()),
            Dom0Op::SaveRestore => (String::from("saverestore"), None),
            Dom0Op::Checkpoint => (String::from("checkpoint"), None),
        };
        let is_read = matches!(op, Dom0Op::Read { .. });
        // dom0 answers a save with its timings, which differ from run to
        // run: the transcript records only that it worked.
        let timeout = match op {
            Dom0Op::SaveRestore | Dom0Op::Checkpoint => self.cfg.lifecycle_timeout_ms,
            _ => self.cfg.dom0_timeout_ms,
        };
        let obs = match self.dom0_request(&line, timeout) {
            Ok(v) => {
                if is_read {
                    let mut s = format!("ok {}", quote(v.as_bytes()));
                    if let Some(w) = want {
                        if w == v {
                            s.push_str(" ok");
                        } else {
                            self.failures += 1;
                            s.push_str(" FAILED");
                        }
                    }
                    s
                } else {
                    String::from("ok")
                }
            }
            Err(t) if t == "TIMEOUT" => {
                self.last.timeout = true;
                if want.is_some() {
                    self.failures += 1;
                }
                t
            }
            Err(t) => {
                self.last.error = true;
                if want.is_some() {
                    self.failures += 1;
                }
                t
            }
        };
        self.push(step, &obs);
    }
}

/// Bytes as a double-quoted string with C escapes (`\0`, `\n`, `\xNN`).
pub fn quote(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b {
        match c {
            0 => s.push_str("\\0"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\r' => s.push_str("\\r"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}
