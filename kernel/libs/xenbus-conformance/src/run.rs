//! Runs a parsed scenario against a [`FileApi`] and writes its transcript.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use crate::compare::frame;
use crate::lex::quote;
use crate::names::{self, errno_name, poll_mask_name};
use crate::scenario::{
    eval, parse, Alt, Dom0Op, EvalError, Expect, Field, Lets, MsgSpec, Scenario, Step, StepKind, Term, Vars, DOMID_VAR,
    O_NONBLOCK, O_RDWR,
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
    /// Defaults: 3 s read guard, 10 s for dom0 steps, 180 s for `dom0 save`,
    /// cleaning on.
    pub fn new(host: &str, device: &str) -> Self {
        Self {
            host: String::from(host),
            device: String::from(device),
            guard_ms: 3000,
            dom0_timeout_ms: 10_000,
            lifecycle_timeout_ms: 180_000,
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

/// Runs scenarios on one host; keeps the dom0 request sequence number and
/// the domain id across scenarios.
#[derive(Clone, Debug)]
pub struct Runner {
    cfg: RunConfig,
    seq: u32,
    domid: Option<u32>,
}

/// Largest payload a message read accepts from a header (bigger `len`
/// values are read only this far).
const MSG_READ_MAX: usize = 65536;
/// Most messages one `read <fd> all` step collects.
const READ_ALL_MAX: usize = 256;
/// req_ids the runner uses on its own helper descriptors.
const HELPER_REQ: u32 = 0xC0F0_0000;
/// Work limit of the search that assigns messages to patterns.
const MATCH_BUDGET: usize = 200_000;

/// Serve mode (see [`Runner::serve`]): the node dom0 writes commands to.
pub const SERVE_CTL: &str = "data/harness/ctl";
/// Serve mode: the node the runner acknowledges a command in.
pub const SERVE_ACK: &str = "data/harness/ack";
/// Serve mode: prefix of the nodes holding a scenario's text, in pieces
/// `data/harness/scn/0`, `.../1`, ...
pub const SERVE_CHUNK: &str = "data/harness/scn/";

/// What the last operation gave, for `expect` steps.
#[derive(Clone, Debug, Default)]
struct Last {
    count: Option<u64>,
    errno: Option<i32>,
    timeout: bool,
    error: bool,
    data: Option<Vec<u8>>,
    revents: Vec<(String, u16)>,
    /// Descriptors the operation used (for `expect none`).
    fds: Vec<String>,
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

impl Stream {
    /// True between two messages.
    fn at_boundary(&self) -> bool {
        self.hdr_len == 0
    }
}

struct Fd {
    real: i32,
    nonblock: bool,
    stream: Stream,
}

/// What rendering rewrites: bound transaction ids (by value, in `tx_id`
/// fields and START replies) and the domain id (in `/local/domain/<id>`).
struct Canon {
    tx: BTreeMap<u32, String>,
    domid: Option<u32>,
}

struct Ctx<'a, F: FileApi> {
    cfg: &'a RunConfig,
    seq: u32,
    domid: Option<u32>,
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
    /// The scenario uses `$domid` (re-read after `dom0 save`).
    uses_domid: bool,
}

impl Runner {
    /// A runner; dom0 sequence numbers start at 1000.
    pub fn new(cfg: RunConfig) -> Self {
        Self { cfg, seq: 1000, domid: None }
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

    fn ctx<'a, F: FileApi>(&'a self, api: &'a mut F, name: &'a str) -> Ctx<'a, F> {
        Ctx {
            cfg: &self.cfg,
            seq: self.seq,
            domid: self.domid,
            api,
            name,
            fds: BTreeMap::new(),
            vars: Vars::new(),
            lets: Lets::new(),
            lines: Vec::new(),
            pending: None,
            last: Last::default(),
            failures: 0,
            helper_saw_event: false,
            uses_domid: false,
        }
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
        if let Some(g) = &sc.generated {
            head.push_str(&format!("generated: {g}\n"));
        }
        if let Some(reason) = sc.skip_reason(&self.cfg.host) {
            head.push_str(&format!("SKIPPED on {}: {}\nend skipped\n", self.cfg.host, reason));
            return Outcome { transcript: head, failures: 0, skipped: true };
        }
        let (lines, failures, seq, domid) = {
            let mut ctx = self.ctx(api, &sc.name);
            ctx.uses_domid = sc.uses_domid;
            if ctx.cfg.clean {
                ctx.clean();
            }
            // `$domid` is bound for the scenarios that use it, and on real
            // runs (which clean) for every scenario, so replies that name
            // the domain print it as `<$domid>`.
            if sc.uses_domid || ctx.cfg.clean {
                ctx.bind_domid(false);
            }
            for step in &sc.steps {
                // A raw read is rendered once the `expect` steps after it
                // (which may bind variables) have run, and before anything
                // reads again.
                let keep = match &step.kind {
                    StepKind::Expect(_) => true,
                    StepKind::Either { alts } => alts.iter().all(|a| a.read.is_none()),
                    _ => false,
                };
                if !keep {
                    ctx.flush();
                }
                ctx.step(step);
            }
            ctx.flush();
            let open: Vec<i32> = ctx.fds.values().map(|f| f.real).collect();
            for fd in open {
                let _ = ctx.api.close(fd);
            }
            (core::mem::take(&mut ctx.lines), ctx.failures, ctx.seq, ctx.domid)
        };
        self.seq = seq;
        self.domid = domid;
        let mut t = head;
        for l in &lines {
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

    /// Serve mode: runs scenarios that dom0 hands over one at a time through
    /// the store, until dom0 says `done`. Each transcript is given to `out`
    /// framed ([`frame`]); returns how many scenarios ran.
    ///
    /// Protocol (paths relative to the domain's home): the runner watches
    /// [`SERVE_CTL`] and writes [`SERVE_ACK`] = `0 ready`. dom0 writes the
    /// scenario text in pieces to `data/harness/scn/0`, `/1`, ... and then
    /// `SERVE_CTL` = `<k> run <name> <pieces>`; the runner reads the pieces,
    /// runs the scenario, hands the transcript to `out` and writes
    /// `SERVE_ACK` = `<k>`. `<k> done` ends the loop (acknowledged the same
    /// way). `k` increases; a command whose `k` was already handled is
    /// ignored.
    pub fn serve<F: FileApi>(&mut self, api: &mut F, out: &mut dyn FnMut(&str)) -> Result<usize, String> {
        let h = {
            let mut c = self.ctx(api, "serve");
            let h = c.helper_open()?;
            let far = c.api.now_ms().saturating_add(600_000);
            let mut w = SERVE_CTL.as_bytes().to_vec();
            w.extend_from_slice(b"\0serve\0");
            let (ty, body) =
                c.helper_call(h, &msg_bytes(names::WATCH, HELPER_REQ + 0x100, 0, &w), HELPER_REQ + 0x100, far)?;
            if ty != names::WATCH {
                let _ = c.api.close(h);
                return Err(format!("serve watch: {}", String::from_utf8_lossy(&body).trim_end_matches('\0')));
            }
            c.store_write(h, SERVE_ACK, b"0 ready", far)?;
            h
        };
        let mut last_k: Option<u64> = None;
        let mut ran = 0usize;
        loop {
            // Wait for a command whose number is new.
            let (k, cmd) = {
                let mut c = self.ctx(api, "serve");
                let mut got = None;
                while got.is_none() {
                    let far = c.api.now_ms().saturating_add(24 * 3_600_000);
                    c.helper_saw_event = false;
                    if let Ok(v) = c.store_read(h, SERVE_CTL, far) {
                        let text = String::from_utf8_lossy(&v).into_owned();
                        let mut it = text.splitn(2, ' ');
                        if let (Some(Ok(k)), Some(rest)) = (it.next().map(str::parse::<u64>), it.next()) {
                            if last_k != Some(k) {
                                got = Some((k, String::from(rest)));
                                break;
                            }
                        }
                    }
                    while !c.helper_saw_event {
                        c.helper_next(h, far)?;
                    }
                }
                got.unwrap_or_default()
            };
            last_k = Some(k);
            let words: Vec<&str> = cmd.split_whitespace().collect();
            match words.as_slice() {
                ["run", name, pieces] => {
                    let n: usize = pieces.parse().unwrap_or(0);
                    let mut text = Vec::new();
                    {
                        let mut c = self.ctx(api, "serve");
                        let far = c.api.now_ms().saturating_add(60_000);
                        for i in 0..n {
                            match c.store_read(h, &format!("{SERVE_CHUNK}{i}"), far) {
                                Ok(v) => text.extend_from_slice(&v),
                                Err(e) => text.extend_from_slice(format!("\n# piece {i} unreadable: {e}\n").as_bytes()),
                            }
                        }
                    }
                    let text = String::from_utf8_lossy(&text).into_owned();
                    let o = self.run_text(api, name, &text);
                    out(&frame(name, &o.transcript));
                    ran += 1;
                }
                ["done"] => {
                    let mut c = self.ctx(api, "serve");
                    let far = c.api.now_ms().saturating_add(60_000);
                    let _ = c.store_write(h, SERVE_ACK, k.to_string().as_bytes(), far);
                    let _ = c.api.close(h);
                    return Ok(ran);
                }
                _ => {}
            }
            let mut c = self.ctx(api, "serve");
            let far = c.api.now_ms().saturating_add(60_000);
            c.store_write(h, SERVE_ACK, k.to_string().as_bytes(), far)?;
        }
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

/// A payload as one word, with every `/local/domain/<domid>` (followed by
/// `/`, NUL or the end) written `/local/domain/<$domid>`; `None` if there
/// is no such place.
fn domid_payload(p: &[u8], domid: Option<u32>) -> Option<String> {
    let d = domid?;
    let mut needle = b"/local/domain/".to_vec();
    needle.extend_from_slice(d.to_string().as_bytes());
    let mut out = String::new();
    let mut i = 0;
    let mut found = false;
    let mut from = 0;
    while i + needle.len() <= p.len() {
        let hit = p.get(i..i + needle.len()) == Some(needle.as_slice())
            && matches!(p.get(i + needle.len()), None | Some(b'/') | Some(0));
        if hit {
            found = true;
            out.push_str(&hex_runs(p.get(from..i + 14).unwrap_or(&[])));
            out.push_str("<$domid>");
            i += needle.len();
            from = i;
        } else {
            i += 1;
        }
    }
    if !found {
        return None;
    }
    out.push_str(&hex_runs(p.get(from..).unwrap_or(&[])));
    Some(out)
}

impl Stream {
    /// Renders bytes just read from this stream: header fields as 8 hex
    /// digits each, the payload as one hex word, ` | ` between messages.
    /// A complete `tx_id` field equal to a bound variable prints as
    /// `<$name>`; a whole TRANSACTION_START reply carrying a bound id prints
    /// its `len` as `<len $name>` and its payload as `<$name>00`; a whole
    /// message whose payload names `/local/domain/<domid>` prints `<len>`
    /// and `<$domid>` there.
    fn render(&mut self, data: &[u8], canon: &Canon) -> String {
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
                    if let Some((tokens, used)) = canonical_domid_msg(rest, canon) {
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
                    let tok = match canon.tx.get(&v) {
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

/// The tx_id token of a whole message header.
fn tx_token(b: &[u8], canon: &Canon) -> String {
    let tx = u32_at(b, 8);
    match canon.tx.get(&tx) {
        Some(n) if tx != 0 => format!("<${n}>"),
        _ => hex_runs(b.get(8..12).unwrap_or(&[])),
    }
}

/// A whole TRANSACTION_START reply at the start of `b` whose payload is
/// the decimal id of a bound variable: its tokens with the `tx_id`, `len`
/// and payload canonicalised (`len` depends on the number of digits), and
/// its size.
fn canonical_start_reply(b: &[u8], canon: &Canon) -> Option<(Vec<String>, usize)> {
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
    let name = canon.tx.get(&v)?;
    let toks = vec![
        hex_runs(b.get(0..4).unwrap_or(&[])),
        hex_runs(b.get(4..8).unwrap_or(&[])),
        tx_token(b, canon),
        format!("<len ${name}>"),
        format!("<${name}>00"),
    ];
    Some((toks, 16 + len))
}

/// A GET_PERMS reply (a list of `<letter><domid>\0` entries) with every
/// entry that names the domain written `<letter><$domid>`; `None` if it is
/// not such a list or names no such entry.
fn domid_perms(p: &[u8], domid: Option<u32>) -> Option<String> {
    let d = domid?.to_string();
    let entries: Vec<&[u8]> = p.strip_suffix(&[0])?.split(|&c| c == 0).collect();
    let mut out = String::new();
    let mut found = false;
    for e in entries {
        let (first, digits) = e.split_first()?;
        if !matches!(first, b'n' | b'r' | b'w' | b'b') || digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        if digits == d.as_bytes() {
            found = true;
            out.push_str(&format!("{first:02x}<$domid>00"));
        } else {
            out.push_str(&hex_runs(e));
            out.push_str("00");
        }
    }
    found.then_some(out)
}

/// A whole message at the start of `b` whose payload names the domain's own
/// path, or a GET_PERMS reply naming the domain: tokens with `<len>` and
/// `<$domid>`, and its size.
fn canonical_domid_msg(b: &[u8], canon: &Canon) -> Option<(Vec<String>, usize)> {
    if b.len() < 16 {
        return None;
    }
    let len = u32_at(b, 12) as usize;
    let payload = b.get(16..16usize.checked_add(len)?)?;
    let word = if u32_at(b, 0) == 3 {
        domid_perms(payload, canon.domid).or_else(|| domid_payload(payload, canon.domid))?
    } else {
        domid_payload(payload, canon.domid)?
    };
    let toks = vec![
        hex_runs(b.get(0..4).unwrap_or(&[])),
        hex_runs(b.get(4..8).unwrap_or(&[])),
        tx_token(b, canon),
        String::from("<len>"),
        word,
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
    if p.any_payload {
        return true;
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

/// Which side of the assignment must be complete.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cover {
    /// Every pattern and every message is used (same counts).
    Both,
    /// Every pattern is matched by a distinct message; messages may be left.
    Patterns,
    /// Every message is matched by a distinct pattern; patterns may be left.
    Messages,
}

/// Assigns messages to patterns (any order), binding variables. Returns the
/// new bindings and, for each pattern, the index of its message (`None` for
/// a pattern left unmatched under [`Cover::Messages`]). Tries the greedy
/// assignment first, then searches (bounded by [`MATCH_BUDGET`]).
fn assign(
    pats: &[MsgSpec],
    msgs: &[Vec<u8>],
    cover: Cover,
    vars: &Vars,
    lets: &Lets,
) -> Option<(Vars, Vec<Option<usize>>)> {
    match cover {
        Cover::Both if pats.len() != msgs.len() => return None,
        Cover::Patterns if pats.len() > msgs.len() => return None,
        Cover::Messages if msgs.len() > pats.len() => return None,
        _ => {}
    }
    struct S<'s> {
        pats: &'s [MsgSpec],
        msgs: &'s [Vec<u8>],
        lets: &'s Lets,
        budget: usize,
        of_pat: Vec<Option<usize>>,
        msg_used: Vec<bool>,
    }
    // Patterns drive the search (Both, Patterns): pattern k takes a message.
    fn by_pats(s: &mut S<'_>, k: usize, vars: &Vars) -> Option<Vars> {
        let Some(p) = s.pats.get(k) else { return Some(vars.clone()) };
        for i in 0..s.msgs.len() {
            if s.msg_used.get(i).copied().unwrap_or(true) {
                continue;
            }
            if s.budget == 0 {
                return None;
            }
            s.budget -= 1;
            let mut v = vars.clone();
            if match_msg(p, s.msgs.get(i).map(Vec::as_slice).unwrap_or(&[]), &mut v, s.lets) {
                set(&mut s.msg_used, i, true);
                setp(&mut s.of_pat, k, Some(i));
                if let Some(done) = by_pats(s, k + 1, &v) {
                    return Some(done);
                }
                set(&mut s.msg_used, i, false);
                setp(&mut s.of_pat, k, None);
            }
        }
        None
    }
    // Messages drive the search (Messages): message i takes a pattern.
    fn by_msgs(s: &mut S<'_>, i: usize, vars: &Vars) -> Option<Vars> {
        let Some(m) = s.msgs.get(i) else { return Some(vars.clone()) };
        for k in 0..s.pats.len() {
            if s.of_pat.get(k).copied().flatten().is_some() {
                continue;
            }
            if s.budget == 0 {
                return None;
            }
            s.budget -= 1;
            let mut v = vars.clone();
            if let Some(p) = s.pats.get(k) {
                if match_msg(p, m, &mut v, s.lets) {
                    setp(&mut s.of_pat, k, Some(i));
                    if let Some(done) = by_msgs(s, i + 1, &v) {
                        return Some(done);
                    }
                    setp(&mut s.of_pat, k, None);
                }
            }
        }
        None
    }
    fn set(v: &mut [bool], i: usize, x: bool) {
        if let Some(s) = v.get_mut(i) {
            *s = x;
        }
    }
    fn setp(v: &mut [Option<usize>], i: usize, x: Option<usize>) {
        if let Some(s) = v.get_mut(i) {
            *s = x;
        }
    }
    let mut s =
        S { pats, msgs, lets, budget: MATCH_BUDGET, of_pat: vec![None; pats.len()], msg_used: vec![false; msgs.len()] };
    let r = match cover {
        Cover::Messages => by_msgs(&mut s, 0, vars),
        _ => by_pats(&mut s, 0, vars),
    };
    r.map(|v| (v, s.of_pat))
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
    let (v, order) = assign(pats, msgs, Cover::Both, vars, lets)?;
    Some((v, order.into_iter().map(|o| o.unwrap_or(0)).collect()))
}

/// True if the messages read so far can still become a match of the
/// patterns (a prefix in order, or distinct patterns in any order).
fn could_match(pats: &[MsgSpec], msgs: &[Vec<u8>], unordered: bool, vars: &Vars, lets: &Lets) -> bool {
    if msgs.len() > pats.len() {
        return false;
    }
    if !unordered {
        let mut v = vars.clone();
        return pats.iter().zip(msgs).all(|(p, m)| match_msg(p, m, &mut v, lets));
    }
    assign(pats, msgs, Cover::Messages, vars, lets).is_some()
}

/// `seen=` annotation: for each message in arrival order, the 1-based
/// position it is printed at.
fn seen_note(printed_pos_of_arrival: &[usize]) -> String {
    let v: Vec<String> = printed_pos_of_arrival.iter().map(|p| (p + 1).to_string()).collect();
    format!(" seen={}", v.join(","))
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

/// How many times `$domid` is spelled out by these terms (rep() counts
/// its repetitions).
fn domid_uses(terms: &[Term], lets: &Lets, depth: usize) -> usize {
    if depth > 32 {
        return 0;
    }
    terms
        .iter()
        .map(|t| match t {
            Term::Var(v) if v == DOMID_VAR => 1,
            Term::Msg(m) => domid_uses(&m.payload, lets, depth + 1),
            Term::Rep(n, ts) => n.saturating_mul(domid_uses(ts, lets, depth + 1)),
            Term::Slice(..) => 0,
            Term::Let(name) => lets.get(name).map(|ts| domid_uses(ts, lets, depth + 1)).unwrap_or(0),
            _ => 0,
        })
        .fold(0usize, usize::saturating_add)
}

/// A pattern-guided rendering of a matched message whose payload pattern
/// names variables: `<len $a ...>` and the payload with each variable's
/// digits written `<$name>`. `None` when the payload does not line up.
fn pattern_render(p: &MsgSpec, msg: &[u8], vars: &Vars, lets: &Lets, canon: &Canon) -> Option<String> {
    if p.any_payload || !p.payload.iter().any(|t| matches!(t, Term::Var(_))) {
        return None;
    }
    let payload = msg.get(16..)?;
    let mut word = String::new();
    let mut names_used: Vec<&str> = Vec::new();
    let mut pos = 0usize;
    for t in &p.payload {
        match t {
            Term::Var(v) => {
                let digits = vars.get(v)?.to_string();
                if payload.get(pos..pos + digits.len()) != Some(digits.as_bytes()) {
                    return None;
                }
                pos += digits.len();
                word.push_str(&format!("<${v}>"));
                if !names_used.contains(&v.as_str()) {
                    names_used.push(v);
                }
            }
            other => {
                let b = eval(core::slice::from_ref(other), vars, lets).ok()?;
                if payload.get(pos..pos + b.len()) != Some(b.as_slice()) {
                    return None;
                }
                pos += b.len();
                word.push_str(&hex_runs(&b));
            }
        }
    }
    if pos != payload.len() {
        return None;
    }
    let lens: Vec<String> = names_used.iter().map(|n| format!("${n}")).collect();
    Some(format!(
        "{} {} {} <len {}> {}",
        hex_runs(msg.get(0..4)?),
        hex_runs(msg.get(4..8)?),
        tx_token(msg, canon),
        lens.join(" "),
        word
    ))
}

/// How reading an exact number of bytes ended.
enum ReadEnd {
    Done,
    Timeout,
    Errno(i32),
}

impl<'a, F: FileApi> Ctx<'a, F> {
    fn canon(&self) -> Canon {
        let mut tx = BTreeMap::new();
        for (k, &v) in &self.vars {
            if k != DOMID_VAR {
                tx.entry(v).or_insert_with(|| k.clone());
            }
        }
        Canon { tx, domid: self.vars.get(DOMID_VAR).copied() }
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

    /// The descriptor `name` names, or `None` after recording the step's
    /// failure (the descriptor is not open).
    fn fd_or_fail(&mut self, step: &Step, name: &str) -> Option<i32> {
        match self.fd(name) {
            Ok(r) => Some(r),
            Err(m) => {
                let obs = self.error(m);
                self.push(step, &obs);
                None
            }
        }
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
        // `expect` and `either` check the operation before them.
        if !matches!(step.kind, StepKind::Expect(_) | StepKind::Either { .. }) {
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
                        self.last.fds = vec![fd.clone()];
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
                self.last.fds = vec![fd.clone()];
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
                self.last.fds = vec![fd.clone()];
                let obs = match (self.fd(fd), eval(bytes, &self.vars, &self.lets)) {
                    (Err(m), _) => self.error(m),
                    (_, Err(e)) => self.error(format!("ERROR {e}")),
                    (Ok(real), Ok(b)) => match self.api.write(real, &b) {
                        Ok(n) => {
                            self.last.count = Some(n as u64);
                            self.count_text(n, bytes)
                        }
                        Err(e) => self.set_last_errno(e),
                    },
                };
                self.push(step, &obs);
            }
            StepKind::Read { fd, count, nonblock } => {
                self.last.fds = vec![fd.clone()];
                self.raw_read(step, fd, *count, *nonblock)
            }
            StepKind::ReadMsgs { fd, pats, unordered } => {
                self.last.fds = vec![fd.clone()];
                self.read_msgs(step, fd, pats, *unordered)
            }
            StepKind::ReadAll { fd, pats, quiet_ms } => {
                self.last.fds = vec![fd.clone()];
                self.read_all(step, fd, pats, *quiet_ms)
            }
            StepKind::Either { alts } => self.either(step, alts),
            StepKind::Poll { fds, events, timeout } => {
                self.last.fds = fds.clone();
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
            StepKind::Expect(Expect::None(ms)) => {
                let ok = self.expect_none(*ms);
                if !ok {
                    self.failures += 1;
                }
                self.push(step, if ok { "ok" } else { "FAILED" });
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

    /// A write count; when the bytes spell out `$domid`, the count is
    /// printed as `<n>+<k>*len($domid)` so it does not depend on the number
    /// of digits of the domain id.
    fn count_text(&self, n: usize, bytes: &[Term]) -> String {
        let k = domid_uses(bytes, &self.lets, 0);
        match (k, self.vars.get(DOMID_VAR)) {
            (0, _) | (_, None) => n.to_string(),
            (k, Some(d)) => {
                let digits = d.to_string().len().saturating_mul(k);
                match n.checked_sub(digits) {
                    Some(rest) => format!("{rest}+{k}*len($domid)"),
                    None => n.to_string(),
                }
            }
        }
    }

    fn error(&mut self, m: String) -> String {
        self.last.error = true;
        self.failures += 1;
        m
    }

    /// `expect none <ms>`: nothing becomes readable on the last operation's
    /// descriptors within `ms`.
    fn expect_none(&mut self, ms: u64) -> bool {
        let mut set: Vec<(i32, u16, u16)> = Vec::new();
        for name in self.last.fds.clone() {
            match self.fd(&name) {
                Ok(real) => set.push((real, 0x001, 0)),
                Err(_) => return false,
            }
        }
        if set.is_empty() {
            return false;
        }
        let deadline = self.api.now_ms().saturating_add(ms);
        loop {
            let left = deadline.saturating_sub(self.api.now_ms());
            match self.api.poll(&mut set, i32::try_from(left).unwrap_or(i32::MAX)) {
                Ok(0) => {
                    if left == 0 || self.api.now_ms() >= deadline {
                        return true;
                    }
                }
                Ok(_) => return false,
                Err(_) => return false,
            }
        }
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

    /// Renders whole messages in arrival order (advancing the stream), then
    /// returns their texts in `order` (indices into `msgs`); a matched
    /// pattern whose payload names variables guides its message's text.
    fn render_msgs(
        &mut self,
        fd: &str,
        msgs: &[Vec<u8>],
        tail: &[u8],
        guide: &[(usize, &MsgSpec)],
    ) -> (Vec<String>, Option<String>) {
        let canon = self.canon();
        let mut texts: Vec<String> = Vec::new();
        let mut tail_text = None;
        if let Some(f) = self.fds.get_mut(fd) {
            for m in msgs {
                texts.push(f.stream.render(m, &canon));
            }
            if !tail.is_empty() {
                tail_text = Some(f.stream.render(tail, &canon));
            }
        }
        for (i, p) in guide {
            if let (Some(m), Some(slot)) = (msgs.get(*i), texts.get_mut(*i)) {
                if let Some(t) = pattern_render(p, m, &self.vars, &self.lets, &canon) {
                    *slot = t;
                }
            }
        }
        (texts, tail_text)
    }

    fn read_msgs(&mut self, step: &Step, fd: &str, pats: &[MsgSpec], unordered: bool) {
        let Some(real) = self.fd_or_fail(step, fd) else { return };
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
        let tail = data.get(bounds.last().map(|b| b.1).unwrap_or(0)..).unwrap_or(&[]).to_vec();
        let guide: Vec<(usize, &MsgSpec)> = match &matched {
            Some((_, order)) => order.iter().zip(pats).map(|(&i, p)| (i, p)).collect(),
            None => Vec::new(),
        };
        let (rendered, tail_text) = self.render_msgs(fd, &msgs, &tail, &guide);
        let mut all_rendered = rendered.clone();
        all_rendered.extend(tail_text);
        let obs = match (&end, &matched) {
            (ReadEnd::Done, Some((_, order))) => {
                let parts: Vec<String> = order.iter().map(|&i| rendered.get(i).cloned().unwrap_or_default()).collect();
                self.last.data = Some(data.clone());
                let mut s = format!("{} ok", parts.join(" | "));
                if unordered && pats.len() > 1 {
                    // order[k] = arrival index of pattern k's message.
                    let mut pos_of_arrival = vec![0usize; order.len()];
                    for (k, &i) in order.iter().enumerate() {
                        if let Some(slot) = pos_of_arrival.get_mut(i) {
                            *slot = k;
                        }
                    }
                    s.push_str(&seen_note(&pos_of_arrival));
                }
                s
            }
            (ReadEnd::Done, None) => {
                self.failures += 1;
                self.last.data = Some(data.clone());
                format!("{} MISMATCH", all_rendered.join(" | "))
            }
            (ReadEnd::Timeout, _) => {
                self.failures += 1;
                self.last.timeout = true;
                if data.is_empty() {
                    String::from("TIMEOUT")
                } else {
                    format!("TIMEOUT after {} bytes: {}", data.len(), all_rendered.join(" | "))
                }
            }
            (ReadEnd::Errno(e), _) => {
                self.failures += 1;
                let e = *e;
                let o = self.set_last_errno(e);
                if data.is_empty() {
                    o
                } else {
                    format!("{o} after {} bytes: {}", data.len(), all_rendered.join(" | "))
                }
            }
        };
        self.push(step, &obs);
    }

    /// `read <fd> all [{...}] [quiet=<ms>]`: whole messages until every
    /// listed pattern is matched and then nothing arrives for `quiet` ms.
    /// Printed: the listed patterns' messages in pattern order, then the
    /// other replies by `req_id`, then the other watch events as they came.
    fn read_all(&mut self, step: &Step, fd: &str, pats: &[MsgSpec], quiet: u64) {
        let Some(real) = self.fd_or_fail(step, fd) else { return };
        // A message left half-read by an earlier raw read: finish it first.
        let mut prefix = Vec::new();
        let mut end = ReadEnd::Done;
        let guard_deadline = self.api.now_ms().saturating_add(self.cfg.guard_ms);
        let partial = self
            .fds
            .get(fd)
            .filter(|f| !f.stream.at_boundary())
            .map(|f| (f.stream.hdr, f.stream.hdr_len, f.stream.left));
        if let Some((hdr, hdr_len, left)) = partial {
            if hdr_len < 16 {
                end = self.read_exact(real, 16 - hdr_len, guard_deadline, &mut prefix);
                let mut whole = hdr.get(..hdr_len).unwrap_or(&[]).to_vec();
                whole.extend_from_slice(&prefix);
                let len = (u32_at(&whole, 12) as usize).min(MSG_READ_MAX);
                if matches!(end, ReadEnd::Done) && whole.len() == 16 {
                    end = self.read_exact(real, len, guard_deadline, &mut prefix);
                }
            } else {
                end = self.read_exact(real, left, guard_deadline, &mut prefix);
            }
        }
        let mut msgs: Vec<Vec<u8>> = Vec::new();
        let mut bound: Option<(Vars, Vec<Option<usize>>)> =
            if pats.is_empty() { Some((self.vars.clone(), Vec::new())) } else { None };
        let mut tail = Vec::new();
        while matches!(end, ReadEnd::Done) {
            if bound.is_none() {
                bound = assign(pats, &msgs, Cover::Patterns, &self.vars, &self.lets);
            }
            if msgs.len() >= READ_ALL_MAX {
                break;
            }
            let deadline = if bound.is_some() { self.api.now_ms().saturating_add(quiet) } else { guard_deadline };
            match self.wait_readable(real, deadline) {
                Ok(true) => {}
                Ok(false) => {
                    if bound.is_none() {
                        end = ReadEnd::Timeout;
                    }
                    break;
                }
                Err(e) => {
                    end = ReadEnd::Errno(e);
                    break;
                }
            }
            let mut m = Vec::new();
            let far = self.api.now_ms().saturating_add(self.cfg.guard_ms);
            end = self.read_msg(real, far, &mut m);
            if matches!(end, ReadEnd::Done) {
                msgs.push(m);
            } else {
                tail = m;
            }
        }
        // Render (prefix, then messages in arrival order).
        let canon = self.canon();
        let prefix_text =
            if prefix.is_empty() { None } else { self.fds.get_mut(fd).map(|f| f.stream.render(&prefix, &canon)) };
        let guide: Vec<(usize, &MsgSpec)> = match &bound {
            Some((_, of_pat)) => of_pat.iter().zip(pats).filter_map(|(i, p)| i.map(|i| (i, p))).collect(),
            None => Vec::new(),
        };
        if let Some((v, _)) = &bound {
            self.vars = v.clone();
        }
        let (texts, tail_text) = self.render_msgs(fd, &msgs, &tail, &guide);
        // Printing order.
        let mut order: Vec<usize> = Vec::new();
        if let Some((_, of_pat)) = &bound {
            order.extend(of_pat.iter().flatten().copied());
        }
        let mut replies: Vec<usize> = (0..msgs.len())
            .filter(|i| !order.contains(i) && msgs.get(*i).is_some_and(|m| u32_at(m, 0) != names::WATCH_EVENT))
            .collect();
        replies.sort_by_key(|&i| msgs.get(i).map(|m| u32_at(m, 4)).unwrap_or(0));
        order.extend(replies);
        let events: Vec<usize> = (0..msgs.len()).filter(|i| !order.contains(i)).collect();
        order.extend(events);
        let mut pos_of_arrival = vec![0usize; msgs.len()];
        for (k, &i) in order.iter().enumerate() {
            if let Some(slot) = pos_of_arrival.get_mut(i) {
                *slot = k;
            }
        }
        let mut parts: Vec<String> = Vec::new();
        parts.extend(prefix_text);
        parts.extend(order.iter().map(|&i| texts.get(i).cloned().unwrap_or_default()));
        parts.extend(tail_text);
        let body = if parts.is_empty() { String::from("none") } else { parts.join(" | ") };
        let seen = if msgs.len() > 1 { seen_note(&pos_of_arrival) } else { String::new() };
        self.last.count = Some(msgs.len() as u64);
        let obs = match end {
            ReadEnd::Done if bound.is_some() => format!("{}: {body}{seen}", msgs.len()),
            ReadEnd::Done => {
                self.failures += 1;
                format!("{}: {body} INCOMPLETE{seen}", msgs.len())
            }
            ReadEnd::Timeout => {
                self.failures += 1;
                self.last.timeout = true;
                format!("{}: {body} TIMEOUT{seen}", msgs.len())
            }
            ReadEnd::Errno(e) => {
                self.failures += 1;
                let o = self.set_last_errno(e);
                format!("{}: {body} {o}{seen}", msgs.len())
            }
        };
        self.push(step, &obs);
    }

    /// `either { ... } or { ... }`: an alternative of `expect` checks alone
    /// is taken when its checks hold; otherwise messages are read one at a
    /// time until one of the alternatives whose checks hold matches them all.
    fn either(&mut self, step: &Step, alts: &[Alt]) {
        let saved_vars = self.vars.clone();
        let mut candidates: Vec<usize> = Vec::new();
        for (i, a) in alts.iter().enumerate() {
            self.vars = saved_vars.clone();
            let holds = a.expects.iter().all(|e| self.check(e));
            if !holds {
                continue;
            }
            if a.read.is_none() {
                self.push(step, &format!("alt {} ok", i + 1));
                return;
            }
            candidates.push(i);
        }
        self.vars = saved_vars.clone();
        let Some(fd) = candidates.first().and_then(|&i| alts.get(i)).and_then(|a| a.read.as_ref()).map(|r| r.0.clone())
        else {
            self.failures += 1;
            self.push(step, "FAILED (no alternative holds)");
            return;
        };
        self.last.fds = vec![fd.clone()];
        let Some(real) = self.fd_or_fail(step, &fd) else { return };
        // Variables each candidate sees (its expects may have bound some).
        let mut cand_vars: Vec<(usize, Vars)> = Vec::new();
        for &i in &candidates {
            self.vars = saved_vars.clone();
            if let Some(a) = alts.get(i) {
                for e in &a.expects {
                    let _ = self.check(e);
                }
            }
            cand_vars.push((i, self.vars.clone()));
        }
        self.vars = saved_vars.clone();
        let deadline = self.api.now_ms().saturating_add(self.cfg.guard_ms);
        let mut msgs: Vec<Vec<u8>> = Vec::new();
        let mut tail = Vec::new();
        let mut chosen: Option<(usize, Vars, Vec<usize>)> = None;
        let mut end = ReadEnd::Done;
        loop {
            for (i, v) in &cand_vars {
                if let Some((_, pats, unordered)) = alts.get(*i).and_then(|a| a.read.as_ref()) {
                    if let Some((nv, order)) = match_all(pats, &msgs, *unordered, v, &self.lets) {
                        chosen = Some((*i, nv, order));
                        break;
                    }
                }
            }
            if chosen.is_some() {
                break;
            }
            let feasible = cand_vars.iter().any(|(i, v)| match alts.get(*i).and_then(|a| a.read.as_ref()) {
                Some((_, pats, unordered)) => {
                    msgs.len() < pats.len() && could_match(pats, &msgs, *unordered, v, &self.lets)
                }
                None => false,
            });
            if !feasible {
                break;
            }
            let mut m = Vec::new();
            end = self.read_msg(real, deadline, &mut m);
            if matches!(end, ReadEnd::Done) {
                msgs.push(m);
            } else {
                tail = m;
                break;
            }
        }
        let guide: Vec<(usize, &MsgSpec)> = match &chosen {
            Some((i, _, order)) => match alts.get(*i).and_then(|a| a.read.as_ref()) {
                Some((_, pats, _)) => order.iter().zip(pats).map(|(&m, p)| (m, p)).collect(),
                None => Vec::new(),
            },
            None => Vec::new(),
        };
        if let Some((_, v, _)) = &chosen {
            self.vars = v.clone();
        }
        let (texts, tail_text) = self.render_msgs(&fd, &msgs, &tail, &guide);
        let obs = match chosen {
            Some((i, _, order)) => {
                let parts: Vec<String> = order.iter().map(|&k| texts.get(k).cloned().unwrap_or_default()).collect();
                let unordered = alts.get(i).and_then(|a| a.read.as_ref()).is_some_and(|r| r.2);
                let mut s = format!("alt {}: {} ok", i + 1, parts.join(" | "));
                if unordered && order.len() > 1 {
                    let mut pos_of_arrival = vec![0usize; order.len()];
                    for (k, &m) in order.iter().enumerate() {
                        if let Some(slot) = pos_of_arrival.get_mut(m) {
                            *slot = k;
                        }
                    }
                    s.push_str(&seen_note(&pos_of_arrival));
                }
                s
            }
            None => {
                self.failures += 1;
                let mut all = texts;
                all.extend(tail_text);
                let body = all.join(" | ");
                match end {
                    ReadEnd::Done => format!("{body} MISMATCH"),
                    ReadEnd::Timeout => {
                        self.last.timeout = true;
                        if body.is_empty() {
                            String::from("TIMEOUT")
                        } else {
                            format!("TIMEOUT after: {body}")
                        }
                    }
                    ReadEnd::Errno(e) => {
                        let o = self.set_last_errno(e);
                        if body.is_empty() {
                            o
                        } else {
                            format!("{o} after: {body}")
                        }
                    }
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
            Expect::None(_) => false,
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
    // Helper descriptors (dom0 requests, cleaning, serve mode)

    fn helper_open(&mut self) -> Result<i32, String> {
        let dev = self.cfg.device.clone();
        self.api.open(&dev, O_RDWR).map_err(|e| format!("helper open: {}", errno_name(e)))
    }

    /// Sends one request on a helper descriptor and reads messages until the
    /// reply with `req` arrives; returns (type, payload).
    fn helper_call(&mut self, h: i32, msg: &[u8], req: u32, deadline: u64) -> Result<(u32, Vec<u8>), String> {
        self.api.write(h, msg).map_err(|e| format!("helper write: {}", errno_name(e)))?;
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

    /// XS_READ of a relative path on a helper descriptor.
    fn store_read(&mut self, h: i32, path: &str, deadline: u64) -> Result<Vec<u8>, String> {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        let (ty, body) =
            self.helper_call(h, &msg_bytes(names::READ, HELPER_REQ + 3, 0, &p), HELPER_REQ + 3, deadline)?;
        if ty == names::READ {
            Ok(body)
        } else {
            Err(String::from_utf8_lossy(&body).trim_end_matches('\0').into())
        }
    }

    /// XS_WRITE of a relative path on a helper descriptor.
    fn store_write(&mut self, h: i32, path: &str, value: &[u8], deadline: u64) -> Result<(), String> {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        p.extend_from_slice(value);
        let (ty, body) =
            self.helper_call(h, &msg_bytes(names::WRITE, HELPER_REQ + 4, 0, &p), HELPER_REQ + 4, deadline)?;
        if ty == names::WRITE {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&body).trim_end_matches('\0').into())
        }
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

    /// Binds `$domid` to the domain's id (the `domid` node of its home),
    /// reading it again when `refresh` is set or it is not known yet.
    fn bind_domid(&mut self, refresh: bool) {
        if refresh || self.domid.is_none() {
            let Ok(h) = self.helper_open() else { return };
            let deadline = self.api.now_ms().saturating_add(self.cfg.guard_ms);
            let v = self.store_read(h, "domid", deadline);
            let _ = self.api.close(h);
            self.domid = v.ok().and_then(|v| core::str::from_utf8(&v).ok().and_then(|s| s.trim().parse().ok()));
        }
        if let Some(d) = self.domid {
            self.vars.insert(String::from(DOMID_VAR), d);
        }
    }

    /// One dom0 request through the harness protocol: `Ok(answer text after
    /// "ok")` or `Err(text)`; `Err("TIMEOUT")` when no answer came.
    fn dom0_request(&mut self, line: &str, timeout_ms: u64) -> Result<String, String> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let h = self.helper_open()?;
        let r = self.dom0_on(h, seq, line, timeout_ms);
        let _ = self.api.close(h);
        r
    }

    fn dom0_on(&mut self, h: i32, seq: u32, line: &str, timeout_ms: u64) -> Result<String, String> {
        let deadline = self.api.now_ms().saturating_add(timeout_ms);
        let watch = msg_bytes(names::WATCH, HELPER_REQ + 1, 0, b"data/harness/rsp\0conformance\0");
        self.helper_saw_event = false;
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
        let mut n = 8u32;
        loop {
            // Check the answer now and after every event on data/harness/rsp.
            self.helper_saw_event = false;
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
        let lifecycle = matches!(op, Dom0Op::SaveRestore | Dom0Op::Checkpoint);
        let timeout = if lifecycle { self.cfg.lifecycle_timeout_ms } else { self.cfg.dom0_timeout_ms };
        let r = self.dom0_request(&line, timeout);
        if matches!(op, Dom0Op::SaveRestore) && (self.uses_domid || self.cfg.clean) {
            // The restored domain has a new id.
            self.bind_domid(true);
        }
        let obs = match r {
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
