//! Scenarios: their syntax tree, the parser, and the evaluation of byte
//! expressions. The grammar is documented in `docs/conformance.md`.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::lex::{lex, strip_comment, Tok};
use crate::names;

/// Largest byte string one expression may produce (keeps garbage such as
/// `rep(4000000000, ...)` from exhausting memory).
pub const MAX_BYTES: usize = 1 << 20;

/// `O_RDONLY` (Linux x86_64).
pub const O_RDONLY: u32 = 0;
/// `O_WRONLY`.
pub const O_WRONLY: u32 = 1;
/// `O_RDWR`.
pub const O_RDWR: u32 = 2;
/// `O_NONBLOCK`.
pub const O_NONBLOCK: u32 = 0o4000;

/// Most messages one `read` step may list (`unordered { ... }`, `all { ... }`).
pub const MAX_PATTERNS: usize = 64;

/// The variable every scenario may use: the domain's own id, read from the
/// store before the first step (`domid` node of the domain's home).
pub const DOMID_VAR: &str = "domid";

/// A parsed scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Its name (the file name without `.scn`).
    pub name: String,
    /// `about:` lines, in order.
    pub about: Vec<String>,
    /// `deviation: <reason>`: the hosts are known to differ here.
    pub deviation: Option<String>,
    /// `skip-on: <host> <reason>` lines.
    pub skip_on: Vec<SkipOn>,
    /// `generated: <origin>`: written by the generator (its message reads
    /// are the generator's model of the node; a read that does not match on
    /// both hosts is a model miss, not a failure).
    pub generated: Option<String>,
    /// The steps, in file order.
    pub steps: Vec<Step>,
    /// Some step uses `$domid`.
    pub uses_domid: bool,
}

impl Scenario {
    /// The reason this scenario must not run on `host`, if it must not.
    pub fn skip_reason(&self, host: &str) -> Option<&str> {
        self.skip_on.iter().find(|s| s.host == host).map(|s| s.reason.as_str())
    }
}

/// A `skip-on:` header line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkipOn {
    /// Host name (`linux`, `ours`).
    pub host: String,
    /// Why.
    pub reason: String,
}

/// One step: its line number, its text (comment removed) and what it does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// 1-based line number of the step's first line.
    pub line: usize,
    /// The step as written, comment and surrounding blanks removed,
    /// continuation lines joined with one space.
    pub text: String,
    /// What it does.
    pub kind: StepKind,
}

/// What a step does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// `open <fd> [flags] [path=<path>]`.
    Open {
        /// Descriptor name.
        fd: String,
        /// `O_*` flags (Linux x86_64 values).
        flags: u32,
        /// Path, or `None` for the host's xenbus device.
        path: Option<String>,
    },
    /// `close <fd>`.
    Close {
        /// Descriptor name.
        fd: String,
    },
    /// `fcntl <fd> nonblock|block`.
    Fcntl {
        /// Descriptor name.
        fd: String,
        /// Turn `O_NONBLOCK` on (true) or off.
        nonblock: bool,
    },
    /// `sleep <ms>`.
    Sleep {
        /// Milliseconds.
        ms: u64,
    },
    /// `let <name> = <bytes>`.
    Let {
        /// Name.
        name: String,
        /// Value.
        bytes: Vec<Term>,
    },
    /// `write <fd> <bytes>`: one write() call.
    Write {
        /// Descriptor name.
        fd: String,
        /// What to write.
        bytes: Vec<Term>,
    },
    /// `read <fd> <count> [nonblock]`: one read() call.
    Read {
        /// Descriptor name.
        fd: String,
        /// Buffer size.
        count: usize,
        /// Make the descriptor non-blocking for this call only.
        nonblock: bool,
    },
    /// `read <fd> msg(...)` / `read <fd> unordered { msg(...) ; ... }`: read
    /// whole messages and match them.
    ReadMsgs {
        /// Descriptor name.
        fd: String,
        /// The messages expected.
        pats: Vec<MsgSpec>,
        /// Any order is accepted.
        unordered: bool,
    },
    /// `read <fd> all [{ msg(...) ; ... }] [quiet=<ms>]`: read whole
    /// messages until every listed one has arrived and then nothing more
    /// arrives for `quiet_ms`; any other messages are accepted too.
    ReadAll {
        /// Descriptor name.
        fd: String,
        /// Messages that must be among those read (any order).
        pats: Vec<MsgSpec>,
        /// How long a quiet descriptor is waited on before the read ends.
        quiet_ms: u64,
    },
    /// `either { ... } or { ... }`: the first alternative that holds.
    Either {
        /// The alternatives, in order.
        alts: Vec<Alt>,
    },
    /// `poll <fd>... [events=<mask>] [timeout=<ms>]`.
    Poll {
        /// Descriptor names.
        fds: Vec<String>,
        /// Requested events.
        events: u16,
        /// Timeout in ms (negative: infinite).
        timeout: i32,
    },
    /// `expect ...`: checks the result of the last operation.
    Expect(Expect),
    /// `dom0 ...`: the toolstack changes or reads the store.
    Dom0(Dom0Op),
}

/// One alternative of an `either` step: `expect` checks of the last
/// operation, then at most one message read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alt {
    /// Checks of the operation before the `either` step.
    pub expects: Vec<Expect>,
    /// A message read (`read <fd> msg(...)` or `read <fd> unordered {...}`):
    /// descriptor, patterns, any order.
    pub read: Option<(String, Vec<MsgSpec>, bool)>,
}

/// Checks of `expect` steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// `expect <n>` / `expect count <n>`: the return count.
    Count(u64),
    /// `expect errno <NAME>`.
    Errno(i32),
    /// `expect bytes <bytes>`: what the last read returned.
    Bytes(Vec<Term>),
    /// `expect msg(...)` / `expect unordered {...}`: the last read returned
    /// exactly these messages.
    Msgs {
        /// Messages.
        pats: Vec<MsgSpec>,
        /// Any order.
        unordered: bool,
    },
    /// `expect revents <mask>` / `expect revents A=<mask> B=<mask>`.
    Revents(Vec<(Option<String>, u16)>),
    /// `expect timeout`.
    Timeout,
    /// `expect ok`: the operation succeeded.
    Ok,
    /// `expect none <ms>`: nothing arrives on the operation's descriptors
    /// within that time (a poll; nothing is read).
    None(u64),
}

/// Operations of `dom0` steps (relative paths).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dom0Op {
    /// `dom0 write <path> <value>`.
    Write {
        /// Path.
        path: String,
        /// Value (one line of text).
        value: String,
    },
    /// `dom0 rm <path>`.
    Rm {
        /// Path.
        path: String,
    },
    /// `dom0 mkdir <path>`.
    Mkdir {
        /// Path.
        path: String,
    },
    /// `dom0 read <path> [expect <value>]`.
    Read {
        /// Path.
        path: String,
        /// Expected value.
        expect: Option<String>,
    },
    /// `dom0 save-restore` (or `dom0 save`): dom0 saves the domain
    /// (`xl save`) and restores it (`xl restore`); the scenario goes on in
    /// the restored domain, whose id is a new one.
    SaveRestore,
    /// `dom0 checkpoint`: dom0 saves the domain and lets it go on
    /// (`xl save -c`, a cancelled suspend).
    Checkpoint,
}

/// A term of a byte expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Term {
    /// Literal bytes (`"..."`, `hex:...`).
    Lit(Vec<u8>),
    /// `msg(type, req_id, tx_id, payload [, len=n])`.
    Msg(alloc::boxed::Box<MsgSpec>),
    /// `rep(n, bytes)`.
    Rep(usize, Vec<Term>),
    /// `u32(n)`: four little-endian bytes.
    U32(u32),
    /// A `let` name.
    Let(String),
    /// `$name`: the decimal digits of a bound variable.
    Var(String),
    /// `term[a..b]`.
    Slice(alloc::boxed::Box<Term>, Option<usize>, Option<usize>),
}

/// A message, to write or to match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgSpec {
    /// `type`.
    pub ty: Field,
    /// `req_id`.
    pub req: Field,
    /// `tx_id`.
    pub tx: Field,
    /// Payload.
    pub payload: Vec<Term>,
    /// The payload was written `_`: any payload (patterns only).
    pub any_payload: bool,
    /// `len=` override (default: the payload's length).
    pub len: Option<Field>,
}

/// A header field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// A number.
    Num(u32),
    /// `$name`: substituted, or bound on first sight in a pattern.
    Var(String),
    /// `_`: anything (patterns only).
    Any,
}

/// A scenario that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

// ---------------------------------------------------------------------------
// Evaluation

/// Variable bindings (`$tx1` = 17).
pub type Vars = BTreeMap<String, u32>;
/// `let` bindings.
pub type Lets = BTreeMap<String, Vec<Term>>;

/// Evaluation failed: an unbound variable or a bad size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvalError {
    /// `$name` has no value yet.
    Unbound(String),
    /// Anything else.
    Other(String),
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::Unbound(v) => write!(f, "variable ${v} is not bound"),
            EvalError::Other(m) => f.write_str(m),
        }
    }
}

fn field_value(f: &Field, vars: &Vars) -> Result<u32, EvalError> {
    match f {
        Field::Num(n) => Ok(*n),
        Field::Var(v) => vars.get(v).copied().ok_or_else(|| EvalError::Unbound(v.clone())),
        Field::Any => Err(EvalError::Other(String::from("'_' can only be used in a message to match"))),
    }
}

fn push_checked(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), EvalError> {
    if out.len().saturating_add(bytes.len()) > MAX_BYTES {
        return Err(EvalError::Other(alloc::format!("bytes longer than {MAX_BYTES}")));
    }
    out.extend_from_slice(bytes);
    Ok(())
}

/// Evaluates a byte expression.
pub fn eval(terms: &[Term], vars: &Vars, lets: &Lets) -> Result<Vec<u8>, EvalError> {
    let mut out = Vec::new();
    for t in terms {
        eval_term(t, vars, lets, &mut out, 0)?;
    }
    Ok(out)
}

fn eval_term(t: &Term, vars: &Vars, lets: &Lets, out: &mut Vec<u8>, depth: usize) -> Result<(), EvalError> {
    if depth > 32 {
        return Err(EvalError::Other(String::from("expression nested too deeply")));
    }
    match t {
        Term::Lit(b) => push_checked(out, b),
        Term::U32(n) => push_checked(out, &n.to_le_bytes()),
        Term::Var(v) => {
            let n = vars.get(v).ok_or_else(|| EvalError::Unbound(v.clone()))?;
            push_checked(out, n.to_string().as_bytes())
        }
        Term::Let(name) => {
            let terms = lets.get(name).ok_or_else(|| EvalError::Other(alloc::format!("'{name}' is not defined")))?;
            for t in terms {
                eval_term(t, vars, lets, out, depth + 1)?;
            }
            Ok(())
        }
        Term::Rep(n, terms) => {
            let mut one = Vec::new();
            for t in terms {
                eval_term(t, vars, lets, &mut one, depth + 1)?;
            }
            if one.len().saturating_mul(*n) > MAX_BYTES {
                return Err(EvalError::Other(alloc::format!("rep() result longer than {MAX_BYTES}")));
            }
            for _ in 0..*n {
                push_checked(out, &one)?;
            }
            Ok(())
        }
        Term::Msg(m) => {
            let mut payload = Vec::new();
            for t in &m.payload {
                eval_term(t, vars, lets, &mut payload, depth + 1)?;
            }
            let ty = field_value(&m.ty, vars)?;
            let req = field_value(&m.req, vars)?;
            let tx = field_value(&m.tx, vars)?;
            let len = match &m.len {
                Some(f) => field_value(f, vars)?,
                None => u32::try_from(payload.len()).map_err(|_| EvalError::Other(String::from("payload too long")))?,
            };
            let mut hdr = [0u8; 16];
            for (i, v) in [ty, req, tx, len].into_iter().enumerate() {
                if let Some(slot) = hdr.get_mut(i * 4..i * 4 + 4) {
                    slot.copy_from_slice(&v.to_le_bytes());
                }
            }
            push_checked(out, &hdr)?;
            push_checked(out, &payload)
        }
        Term::Slice(inner, a, b) => {
            let mut whole = Vec::new();
            eval_term(inner, vars, lets, &mut whole, depth + 1)?;
            let start = a.unwrap_or(0);
            let end = b.unwrap_or(whole.len());
            match whole.get(start..end) {
                Some(s) => push_checked(out, s),
                None => {
                    Err(EvalError::Other(alloc::format!("slice [{start}..{end}] is outside the {} bytes", whole.len())))
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Parsing

struct P<'a> {
    toks: &'a [Tok],
    pos: usize,
}

type PResult<T> = Result<T, String>;

fn parse_u64(w: &str) -> Option<u64> {
    let w: String = w.chars().filter(|&c| c != '_').collect();
    if let Some(h) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if !w.is_empty() && w.chars().all(|c| c.is_ascii_digit()) {
        w.parse().ok()
    } else {
        None
    }
}

fn is_ident(w: &str) -> bool {
    let mut c = w.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic()) && c.all(|d| d.is_ascii_alphanumeric() || d == '_')
}

const KEYWORDS: [&str; 4] = ["msg", "rep", "u32", "hex"];

impl<'a> P<'a> {
    fn peek(&self) -> Option<&'a Tok> {
        self.toks.get(self.pos)
    }
    fn peek2(&self) -> Option<&'a Tok> {
        self.toks.get(self.pos + 1)
    }
    fn next(&mut self) -> Option<&'a Tok> {
        let t = self.toks.get(self.pos);
        if t.is_some() {
            self.pos += 1;
        }
        t
    }
    fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }
    fn expect_tok(&mut self, want: &Tok) -> PResult<()> {
        match self.next() {
            Some(t) if t == want => Ok(()),
            Some(t) => Err(alloc::format!("expected {} but found {}", want.describe(), t.describe())),
            None => Err(alloc::format!("expected {} at the end of the line", want.describe())),
        }
    }
    fn word(&mut self, what: &str) -> PResult<&'a str> {
        match self.next() {
            Some(Tok::Word(w)) => Ok(w.as_str()),
            Some(t) => Err(alloc::format!("expected {what} but found {}", t.describe())),
            None => Err(alloc::format!("expected {what} at the end of the line")),
        }
    }
    fn number(&mut self, what: &str) -> PResult<u64> {
        let w = self.word(what)?;
        parse_u64(w).ok_or_else(|| alloc::format!("expected {what} (a number) but found '{w}'"))
    }
    fn u32(&mut self, what: &str) -> PResult<u32> {
        let n = self.number(what)?;
        u32::try_from(n).map_err(|_| alloc::format!("{what} {n} does not fit 32 bits"))
    }
    fn fd_name(&mut self) -> PResult<String> {
        let w = self.word("a descriptor name")?;
        if !is_ident(w) {
            return Err(alloc::format!("'{w}' is not a descriptor name (letters, digits, '_')"));
        }
        Ok(String::from(w))
    }
    fn end(&self) -> PResult<()> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(alloc::format!("unexpected {} after the end of the step", t.describe())),
        }
    }
    /// A path or value: a word or a string.
    fn text(&mut self, what: &str) -> PResult<String> {
        match self.next() {
            Some(Tok::Word(w)) => Ok(w.clone()),
            Some(Tok::Str(s)) => String::from_utf8(s.clone()).map_err(|_| alloc::format!("{what} is not UTF-8")),
            Some(t) => Err(alloc::format!("expected {what} but found {}", t.describe())),
            None => Err(alloc::format!("expected {what} at the end of the line")),
        }
    }

    fn field(&mut self, what: &str, pattern: bool, is_type: bool) -> PResult<Field> {
        match self.next() {
            Some(Tok::Var(v)) => Ok(Field::Var(v.clone())),
            Some(Tok::Word(w)) if w == "_" => {
                if pattern {
                    Ok(Field::Any)
                } else {
                    Err(String::from("'_' can only be used in a message to match"))
                }
            }
            Some(Tok::Word(w)) => {
                if let Some(n) = parse_u64(w) {
                    return u32::try_from(n)
                        .map(Field::Num)
                        .map_err(|_| alloc::format!("{what} {n} does not fit 32 bits"));
                }
                if is_type {
                    if let Some(n) = names::type_number(w) {
                        return Ok(Field::Num(n));
                    }
                    return Err(alloc::format!("unknown message type '{w}'"));
                }
                Err(alloc::format!(
                    "expected {what} (a number, $var{}) but found '{w}'",
                    if pattern { " or _" } else { "" }
                ))
            }
            Some(t) => Err(alloc::format!("expected {what} but found {}", t.describe())),
            None => Err(alloc::format!("expected {what} at the end of the line")),
        }
    }

    /// `msg( ... )`, after the word `msg`.
    fn msg(&mut self, pattern: bool, lets: &Lets) -> PResult<MsgSpec> {
        self.expect_tok(&Tok::LParen)?;
        let ty = self.field("the message type", pattern, true)?;
        self.expect_tok(&Tok::Comma)?;
        let req = self.field("req_id", pattern, false)?;
        self.expect_tok(&Tok::Comma)?;
        let tx = self.field("tx_id", pattern, false)?;
        let mut payload = Vec::new();
        let mut any_payload = false;
        let mut len = None;
        loop {
            match self.next() {
                Some(Tok::RParen) => break,
                Some(Tok::Comma) => {
                    if let (Some(Tok::Word(w)), Some(Tok::Eq)) = (self.peek(), self.peek2()) {
                        if w == "len" {
                            self.pos += 2;
                            if len.is_some() {
                                return Err(String::from("len= given twice"));
                            }
                            len = Some(self.field("len", pattern, false)?);
                            continue;
                        }
                    }
                    if !payload.is_empty() || any_payload {
                        return Err(String::from("a message has one payload (juxtapose terms to concatenate)"));
                    }
                    if let (Some(Tok::Word(w)), Some(Tok::RParen | Tok::Comma)) = (self.peek(), self.peek2()) {
                        if w == "_" {
                            if !pattern {
                                return Err(String::from("'_' can only be used in a message to match"));
                            }
                            self.pos += 1;
                            any_payload = true;
                            continue;
                        }
                    }
                    payload = self.terms(lets, pattern)?;
                    if payload.is_empty() {
                        return Err(String::from("empty payload after ',' (leave it out, or write \"\")"));
                    }
                }
                Some(t) => return Err(alloc::format!("expected ',' or ')' in msg() but found {}", t.describe())),
                None => return Err(String::from("msg( is not closed")),
            }
        }
        Ok(MsgSpec { ty, req, tx, payload, any_payload, len })
    }

    /// Terms up to the end of the line or a `,` `)` `;` `}` (not consumed).
    fn terms(&mut self, lets: &Lets, pattern: bool) -> PResult<Vec<Term>> {
        let mut out = Vec::new();
        while let Some(t) = self.peek() {
            if matches!(t, Tok::Comma | Tok::RParen | Tok::Semi | Tok::RBrace) {
                break;
            }
            out.push(self.term(lets, pattern)?);
        }
        Ok(out)
    }

    fn term(&mut self, lets: &Lets, pattern: bool) -> PResult<Term> {
        let atom = match self.next() {
            Some(Tok::Str(s)) => Term::Lit(s.clone()),
            Some(Tok::Var(v)) => Term::Var(v.clone()),
            Some(Tok::Word(w)) => {
                if let Some(h) = w.strip_prefix("hex:") {
                    let digits: Vec<char> = h.chars().filter(|&c| c != '_').collect();
                    if !digits.len().is_multiple_of(2) {
                        return Err(alloc::format!("hex:{h} has an odd number of digits"));
                    }
                    let mut b = Vec::new();
                    for pair in digits.chunks(2) {
                        let (Some(&a), Some(&c)) = (pair.first(), pair.get(1)) else { break };
                        match (a.to_digit(16), c.to_digit(16)) {
                            (Some(a), Some(c)) => b.push((a * 16 + c) as u8),
                            _ => return Err(alloc::format!("hex:{h} has a non-hex digit")),
                        }
                    }
                    Term::Lit(b)
                } else if w == "msg" && self.peek() == Some(&Tok::LParen) {
                    Term::Msg(alloc::boxed::Box::new(self.msg(pattern, lets)?))
                } else if w == "rep" && self.peek() == Some(&Tok::LParen) {
                    self.pos += 1;
                    let n = self.number("the repeat count")?;
                    let n = usize::try_from(n)
                        .ok()
                        .filter(|&n| n <= MAX_BYTES)
                        .ok_or_else(|| alloc::format!("repeat count {n} is too large"))?;
                    self.expect_tok(&Tok::Comma)?;
                    let inner = self.terms(lets, false)?;
                    if inner.is_empty() {
                        return Err(String::from("rep() needs bytes to repeat"));
                    }
                    self.expect_tok(&Tok::RParen)?;
                    Term::Rep(n, inner)
                } else if w == "u32" && self.peek() == Some(&Tok::LParen) {
                    self.pos += 1;
                    let n = self.u32("u32() value")?;
                    self.expect_tok(&Tok::RParen)?;
                    Term::U32(n)
                } else if is_ident(w) && !KEYWORDS.contains(&w.as_str()) {
                    if !lets.contains_key(w.as_str()) {
                        return Err(alloc::format!("'{w}' is not defined (bytes are \"text\", hex:.., msg(..), rep(..), u32(..), $var or a let name)"));
                    }
                    Term::Let(w.clone())
                } else {
                    return Err(alloc::format!("'{w}' is not bytes (write text as \"{w}\")"));
                }
            }
            Some(t) => return Err(alloc::format!("expected bytes but found {}", t.describe())),
            None => return Err(String::from("expected bytes at the end of the line")),
        };
        if self.peek() == Some(&Tok::LBrack) {
            self.pos += 1;
            let mut a = None;
            let mut b = None;
            if self.peek() != Some(&Tok::DotDot) {
                a = Some(self.number("a slice start")?);
            }
            self.expect_tok(&Tok::DotDot)?;
            if self.peek() != Some(&Tok::RBrack) {
                b = Some(self.number("a slice end")?);
            }
            self.expect_tok(&Tok::RBrack)?;
            let conv = |x: Option<u64>| -> PResult<Option<usize>> {
                x.map(|v| usize::try_from(v).map_err(|_| String::from("slice bound too large"))).transpose()
            };
            let (a, b) = (conv(a)?, conv(b)?);
            if let (Some(a), Some(b)) = (a, b) {
                if a > b {
                    return Err(alloc::format!("slice [{a}..{b}] runs backwards"));
                }
            }
            return Ok(Term::Slice(alloc::boxed::Box::new(atom), a, b));
        }
        Ok(atom)
    }

    /// `msg(...)` or `unordered { msg(...) ; ... }` as the rest of a step.
    fn msgs(&mut self, lets: &Lets) -> PResult<(Vec<MsgSpec>, bool)> {
        match self.next() {
            Some(Tok::Word(w)) if w == "msg" => {
                let m = self.msg(true, lets)?;
                Ok((alloc::vec![m], false))
            }
            Some(Tok::Word(w)) if w == "unordered" => Ok((self.brace_msgs(lets, "unordered")?, true)),
            Some(t) => Err(alloc::format!("expected msg(...) or unordered {{...}} but found {}", t.describe())),
            None => Err(String::from("expected msg(...) or unordered {...}")),
        }
    }

    /// `{ msg(...) ; msg(...) }` (the `{` not yet consumed).
    fn brace_msgs(&mut self, lets: &Lets, what: &str) -> PResult<Vec<MsgSpec>> {
        self.expect_tok(&Tok::LBrace)?;
        let mut pats = Vec::new();
        loop {
            match self.next() {
                Some(Tok::Word(w)) if w == "msg" => pats.push(self.msg(true, lets)?),
                Some(t) => return Err(alloc::format!("expected msg(...) in {what} {{}} but found {}", t.describe())),
                None => return Err(alloc::format!("{what} {{ is not closed")),
            }
            match self.next() {
                Some(Tok::Semi) => {}
                Some(Tok::RBrace) => break,
                Some(t) => return Err(alloc::format!("expected ';' or '}}' but found {}", t.describe())),
                None => return Err(alloc::format!("{what} {{ is not closed")),
            }
        }
        if pats.len() > MAX_PATTERNS {
            return Err(alloc::format!("{what} {{}} takes at most {MAX_PATTERNS} messages"));
        }
        Ok(pats)
    }

    /// The tokens of a `{ ... }` block (the `{` not yet consumed), without
    /// the braces.
    fn block(&mut self) -> PResult<&'a [Tok]> {
        self.expect_tok(&Tok::LBrace)?;
        let start = self.pos;
        let mut depth = 1usize;
        while let Some(t) = self.next() {
            match t {
                Tok::LBrace => depth += 1,
                Tok::RBrace => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(self.toks.get(start..self.pos - 1).unwrap_or(&[]));
                    }
                }
                _ => {}
            }
        }
        Err(String::from("'{' is not closed"))
    }

    fn mask(&mut self) -> PResult<u16> {
        let mut m = 0u16;
        loop {
            let w = self.word("a poll event name")?;
            let bit = match parse_u64(w) {
                Some(n) => u16::try_from(n).map_err(|_| alloc::format!("poll mask {n} does not fit 16 bits"))?,
                None => names::poll_bit(w).ok_or_else(|| alloc::format!("unknown poll event '{w}'"))?,
            };
            m |= bit;
            if self.peek() == Some(&Tok::Pipe) {
                self.pos += 1;
            } else {
                return Ok(m);
            }
        }
    }
}

/// What an operation step gives `expect` steps to check.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Open,
    Close,
    Fcntl,
    Write,
    Read,
    ReadMsgs,
    ReadAll,
    Poll,
    Dom0,
}

fn check_expect(e: &Expect, op: Option<OpKind>) -> PResult<()> {
    let Some(op) = op else {
        return Err(String::from("'expect' before any operation"));
    };
    let ok = match e {
        Expect::Count(_) => matches!(op, OpKind::Write | OpKind::Read | OpKind::Poll),
        Expect::Errno(_) => !matches!(op, OpKind::Dom0),
        Expect::Bytes(_) | Expect::Msgs { .. } => op == OpKind::Read,
        Expect::Revents(_) => op == OpKind::Poll,
        Expect::Timeout => {
            matches!(op, OpKind::Read | OpKind::ReadMsgs | OpKind::ReadAll | OpKind::Poll | OpKind::Dom0)
        }
        Expect::Ok => true,
        Expect::None(_) => !matches!(op, OpKind::Dom0 | OpKind::Close),
    };
    if ok {
        Ok(())
    } else {
        Err(String::from("this 'expect' does not apply to the previous operation"))
    }
}

/// Variables a pattern uses that it cannot bind: those inside `let` names
/// and slices (checked like the bytes of a write).
fn pattern_uses(m: &MsgSpec, lets: &Lets, out: &mut BTreeSet<String>) {
    for t in &m.payload {
        if let Term::Let(_) = t {
            used_vars(core::slice::from_ref(t), lets, out, 0);
        }
    }
}

/// True if the step names `$domid` anywhere (patterns included).
fn step_mentions_domid(kind: &StepKind) -> bool {
    fn terms(ts: &[Term]) -> bool {
        ts.iter().any(|t| match t {
            Term::Var(v) => v == DOMID_VAR,
            Term::Msg(m) => msg(m),
            Term::Rep(_, ts) => terms(ts),
            Term::Slice(t, _, _) => terms(core::slice::from_ref(t.as_ref())),
            Term::Let(_) | Term::Lit(_) | Term::U32(_) => false,
        })
    }
    fn field(f: &Field) -> bool {
        matches!(f, Field::Var(v) if v == DOMID_VAR)
    }
    fn msg(m: &MsgSpec) -> bool {
        field(&m.ty) || field(&m.req) || field(&m.tx) || m.len.as_ref().is_some_and(field) || terms(&m.payload)
    }
    fn expect(e: &Expect) -> bool {
        match e {
            Expect::Bytes(b) => terms(b),
            Expect::Msgs { pats, .. } => pats.iter().any(msg),
            _ => false,
        }
    }
    match kind {
        StepKind::Write { bytes, .. } | StepKind::Let { bytes, .. } => terms(bytes),
        StepKind::ReadMsgs { pats, .. } | StepKind::ReadAll { pats, .. } => pats.iter().any(msg),
        StepKind::Expect(e) => expect(e),
        StepKind::Either { alts } => alts
            .iter()
            .any(|a| a.expects.iter().any(expect) || a.read.as_ref().is_some_and(|(_, p, _)| p.iter().any(msg))),
        _ => false,
    }
}

/// Which `$variables` a pattern binds, and which are used.
fn pattern_vars(m: &MsgSpec, out: &mut BTreeSet<String>) {
    for f in [&m.ty, &m.req, &m.tx] {
        if let Field::Var(v) = f {
            out.insert(v.clone());
        }
    }
    if let Some(Field::Var(v)) = &m.len {
        out.insert(v.clone());
    }
    for t in &m.payload {
        if let Term::Var(v) = t {
            out.insert(v.clone());
        }
    }
}

fn used_vars(terms: &[Term], lets: &Lets, out: &mut BTreeSet<String>, depth: usize) {
    if depth > 32 {
        return;
    }
    for t in terms {
        match t {
            Term::Var(v) => {
                out.insert(v.clone());
            }
            Term::Msg(m) => {
                for f in [&m.ty, &m.req, &m.tx] {
                    if let Field::Var(v) = f {
                        out.insert(v.clone());
                    }
                }
                if let Some(Field::Var(v)) = &m.len {
                    out.insert(v.clone());
                }
                used_vars(&m.payload, lets, out, depth + 1);
            }
            Term::Rep(_, ts) => used_vars(ts, lets, out, depth + 1),
            Term::Slice(t, _, _) => used_vars(core::slice::from_ref(t.as_ref()), lets, out, depth + 1),
            Term::Let(name) => {
                if let Some(ts) = lets.get(name) {
                    used_vars(ts, lets, out, depth + 1);
                }
            }
            Term::Lit(_) | Term::U32(_) => {}
        }
    }
}

/// Checks that a pattern's payload only uses literal terms and variables
/// (no slices of variables: they could not be matched).
fn check_pattern_payload(m: &MsgSpec) -> PResult<()> {
    for t in &m.payload {
        if let Term::Slice(inner, _, _) = t {
            let mut vs = BTreeSet::new();
            used_vars(core::slice::from_ref(inner.as_ref()), &Lets::new(), &mut vs, 0);
            if !vs.is_empty() {
                return Err(String::from("a slice of a $variable cannot be matched"));
            }
        }
        if let Term::Rep(_, ts) = t {
            let mut vs = BTreeSet::new();
            used_vars(ts, &Lets::new(), &mut vs, 0);
            if !vs.is_empty() {
                return Err(String::from("rep() of a $variable cannot be matched"));
            }
        }
    }
    Ok(())
}

/// Parses a scenario. `name` becomes [`Scenario::name`].
pub fn parse(name: &str, text: &str) -> Result<Scenario, ParseError> {
    let mut sc = Scenario {
        name: String::from(name),
        about: Vec::new(),
        deviation: None,
        skip_on: Vec::new(),
        generated: None,
        steps: Vec::new(),
        uses_domid: false,
    };
    let mut lets = Lets::new();
    let mut open_fds: BTreeSet<String> = BTreeSet::new();
    let mut bound: BTreeSet<String> = BTreeSet::new();
    bound.insert(String::from(DOMID_VAR));
    let mut last_op: Option<OpKind> = None;

    // Join continuation lines.
    let mut logical: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let trimmed = raw.trim_end();
        let (cont, body) = match trimmed.strip_suffix('\\') {
            Some(b) if !strip_comment(trimmed).is_empty() && strip_comment(trimmed).ends_with('\\') => {
                (true, b.trim_end())
            }
            _ => (false, trimmed),
        };
        match pending.take() {
            Some((start, mut acc)) => {
                acc.push(' ');
                acc.push_str(body.trim());
                if cont {
                    pending = Some((start, acc));
                } else {
                    logical.push((start, acc));
                }
            }
            None => {
                if cont {
                    pending = Some((lineno, String::from(body)));
                } else {
                    logical.push((lineno, String::from(body)));
                }
            }
        }
    }
    if let Some((start, _)) = pending {
        return Err(ParseError { line: start, message: String::from("the last line ends with a '\\' continuation") });
    }

    for (line, raw) in logical {
        let err = |message: String| ParseError { line, message };
        let t = raw.trim();
        // Header lines: free text to the end of the line.
        let header = [("deviation:", 0), ("skip-on:", 1), ("about:", 2), ("generated:", 3)]
            .into_iter()
            .find(|(k, _)| t.starts_with(k));
        if let Some((key, which)) = header {
            if !sc.steps.is_empty() {
                return Err(err(alloc::format!("'{key}' must come before the first step")));
            }
            let rest = t.get(key.len()..).unwrap_or("").trim();
            match which {
                0 => {
                    if rest.is_empty() {
                        return Err(err(String::from("deviation: needs a reason")));
                    }
                    if sc.deviation.is_some() {
                        return Err(err(String::from("deviation: given twice")));
                    }
                    sc.deviation = Some(String::from(rest));
                }
                1 => {
                    let mut parts = rest.splitn(2, char::is_whitespace);
                    let host = parts.next().unwrap_or("").trim();
                    let reason = parts.next().unwrap_or("").trim();
                    if host.is_empty() || !host.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                        return Err(err(String::from("skip-on: needs a host name (linux, ours)")));
                    }
                    if reason.is_empty() {
                        return Err(err(String::from("skip-on: needs a reason after the host")));
                    }
                    sc.skip_on.push(SkipOn { host: String::from(host), reason: String::from(reason) });
                }
                3 => {
                    if rest.is_empty() || sc.generated.is_some() {
                        return Err(err(String::from("generated: needs an origin and is given once")));
                    }
                    sc.generated = Some(String::from(rest));
                }
                _ => sc.about.push(String::from(rest)),
            }
            continue;
        }
        let stripped = strip_comment(t);
        if stripped.is_empty() {
            continue;
        }
        let toks = lex(stripped).map_err(err)?;
        let mut p = P { toks: &toks, pos: 0 };
        let kw = p.word("a step keyword").map_err(err)?;
        let kind = parse_step(kw, &mut p, &lets).map_err(err)?;
        p.end().map_err(err)?;

        // Static checks.
        let use_fd = |fd: &str, open_fds: &BTreeSet<String>| -> Result<(), ParseError> {
            if open_fds.contains(fd) {
                Ok(())
            } else {
                Err(ParseError { line, message: alloc::format!("descriptor {fd} is not open here") })
            }
        };
        let mut uses = BTreeSet::new();
        match &kind {
            StepKind::Open { fd, .. } => {
                if open_fds.contains(fd) {
                    return Err(err(alloc::format!("descriptor {fd} is already open")));
                }
            }
            StepKind::Close { fd } => use_fd(fd, &open_fds)?,
            StepKind::Fcntl { fd, .. } | StepKind::Read { fd, .. } => use_fd(fd, &open_fds)?,
            StepKind::Write { fd, bytes } => {
                use_fd(fd, &open_fds)?;
                used_vars(bytes, &lets, &mut uses, 0);
            }
            StepKind::ReadMsgs { fd, pats, .. } | StepKind::ReadAll { fd, pats, .. } => {
                use_fd(fd, &open_fds)?;
                for m in pats {
                    check_pattern_payload(m).map_err(err)?;
                    pattern_uses(m, &lets, &mut uses);
                }
            }
            StepKind::Either { alts } => {
                for a in alts {
                    for e in &a.expects {
                        check_expect(e, last_op).map_err(err)?;
                        if matches!(e, Expect::None(_)) {
                            return Err(err(String::from("'expect none' cannot be an alternative")));
                        }
                        if let Expect::Bytes(b) = e {
                            used_vars(b, &lets, &mut uses, 0);
                        }
                    }
                    if let Some((fd, pats, _)) = &a.read {
                        use_fd(fd, &open_fds)?;
                        for m in pats {
                            check_pattern_payload(m).map_err(err)?;
                            pattern_uses(m, &lets, &mut uses);
                        }
                    }
                }
            }
            StepKind::Poll { fds, .. } => {
                for fd in fds {
                    use_fd(fd, &open_fds)?;
                }
            }
            StepKind::Expect(e) => {
                check_expect(e, last_op).map_err(err)?;
                if let Expect::Bytes(b) = e {
                    used_vars(b, &lets, &mut uses, 0);
                }
                if let Expect::Msgs { pats, .. } = e {
                    for m in pats {
                        check_pattern_payload(m).map_err(err)?;
                        pattern_uses(m, &lets, &mut uses);
                    }
                }
                if let (Expect::Revents(list), Some(Step { kind: StepKind::Poll { fds, .. }, .. })) =
                    (e, sc.steps.iter().rev().find(|s| !matches!(s.kind, StepKind::Expect(_))))
                {
                    for (name, _) in list {
                        match name {
                            Some(n) if !fds.contains(n) => {
                                return Err(err(alloc::format!("descriptor {n} is not in the poll")))
                            }
                            None if fds.len() != 1 => {
                                return Err(err(String::from("name the descriptors: expect revents A=IN B=0")))
                            }
                            _ => {}
                        }
                    }
                }
            }
            StepKind::Let { name, bytes } => {
                if KEYWORDS.contains(&name.as_str()) || !is_ident(name) {
                    return Err(err(alloc::format!("'{name}' cannot be a let name")));
                }
                used_vars(bytes, &lets, &mut uses, 0);
            }
            StepKind::Sleep { .. } | StepKind::Dom0(_) => {}
        }
        for v in &uses {
            if !bound.contains(v) {
                return Err(err(alloc::format!("${v} is used before any step binds it")));
            }
        }
        if uses.contains(DOMID_VAR) || step_mentions_domid(&kind) {
            sc.uses_domid = true;
        }
        // Catch size and slice errors now, with the line number.
        let check_eval = |b: &[Term], lets: &Lets| -> Result<(), ParseError> {
            match eval(b, &Vars::new(), lets) {
                Ok(_) | Err(EvalError::Unbound(_)) => Ok(()),
                Err(EvalError::Other(m)) => Err(ParseError { line, message: m }),
            }
        };
        match &kind {
            StepKind::Write { bytes, .. } | StepKind::Let { bytes, .. } => check_eval(bytes, &lets)?,
            StepKind::Expect(Expect::Bytes(b)) => check_eval(b, &lets)?,
            _ => {}
        }

        // State updates.
        match &kind {
            StepKind::Open { fd, .. } => {
                open_fds.insert(fd.clone());
            }
            StepKind::Close { fd } => {
                open_fds.remove(fd);
            }
            StepKind::Let { name, bytes } => {
                lets.insert(name.clone(), bytes.clone());
            }
            StepKind::ReadMsgs { pats, .. }
            | StepKind::ReadAll { pats, .. }
            | StepKind::Expect(Expect::Msgs { pats, .. }) => {
                for m in pats {
                    pattern_vars(m, &mut bound);
                }
            }
            // A variable bound in any alternative counts as bound; if the
            // alternative taken did not bind it, a later use is a runner error.
            StepKind::Either { alts } => {
                for a in alts {
                    if let Some((_, pats, _)) = &a.read {
                        for m in pats {
                            pattern_vars(m, &mut bound);
                        }
                    }
                    for e in &a.expects {
                        if let Expect::Msgs { pats, .. } = e {
                            for m in pats {
                                pattern_vars(m, &mut bound);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        last_op = match &kind {
            StepKind::Open { .. } => Some(OpKind::Open),
            StepKind::Close { .. } => Some(OpKind::Close),
            StepKind::Fcntl { .. } => Some(OpKind::Fcntl),
            StepKind::Write { .. } => Some(OpKind::Write),
            StepKind::Read { .. } => Some(OpKind::Read),
            StepKind::ReadMsgs { .. } => Some(OpKind::ReadMsgs),
            StepKind::ReadAll { .. } => Some(OpKind::ReadAll),
            StepKind::Poll { .. } => Some(OpKind::Poll),
            StepKind::Dom0(_) => Some(OpKind::Dom0),
            StepKind::Expect(_) => last_op,
            StepKind::Sleep { .. } | StepKind::Let { .. } | StepKind::Either { .. } => None,
        };
        sc.steps.push(Step { line, text: String::from(stripped), kind });
    }
    Ok(sc)
}

/// How long `read <fd> all` waits on a quiet descriptor by default.
pub const DEFAULT_QUIET_MS: u64 = 300;

/// One alternative of `either`: `expect` steps and at most one message read,
/// separated by `;`.
fn parse_alt(toks: &[Tok], lets: &Lets) -> PResult<Alt> {
    let mut alt = Alt { expects: Vec::new(), read: None };
    let mut parts: Vec<&[Tok]> = Vec::new();
    let mut depth = 0usize;
    let mut start = 0usize;
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::LBrace => depth += 1,
            Tok::RBrace => depth = depth.saturating_sub(1),
            Tok::Semi if depth == 0 => {
                parts.push(toks.get(start..i).unwrap_or(&[]));
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(toks.get(start..).unwrap_or(&[]));
    for part in parts {
        if part.is_empty() {
            return Err(String::from("an empty step in an alternative"));
        }
        if alt.read.is_some() {
            return Err(String::from("the message read must be the last step of an alternative"));
        }
        let mut sub = P { toks: part, pos: 0 };
        let kw = sub.word("expect or read")?;
        match parse_step(kw, &mut sub, lets)? {
            StepKind::Expect(e) => alt.expects.push(e),
            StepKind::ReadMsgs { fd, pats, unordered } => alt.read = Some((fd, pats, unordered)),
            _ => return Err(String::from("an alternative holds 'expect' steps and at most one message read")),
        }
        sub.end()?;
    }
    Ok(alt)
}

fn parse_step(kw: &str, p: &mut P<'_>, lets: &Lets) -> PResult<StepKind> {
    match kw {
        "open" => {
            let fd = p.fd_name()?;
            let mut access: Option<u32> = None;
            let mut flags = 0u32;
            let mut path = None;
            while let Some(t) = p.next() {
                match t {
                    Tok::Pipe => {}
                    Tok::Word(w) if w == "path" && p.peek() == Some(&Tok::Eq) => {
                        p.pos += 1;
                        path = Some(p.text("a path")?);
                    }
                    Tok::Word(w) => {
                        let f = w.strip_prefix("O_").unwrap_or(w);
                        let acc = match f {
                            "RDONLY" => Some(O_RDONLY),
                            "WRONLY" => Some(O_WRONLY),
                            "RDWR" => Some(O_RDWR),
                            "NONBLOCK" => {
                                flags |= O_NONBLOCK;
                                None
                            }
                            _ => {
                                return Err(alloc::format!(
                                    "unknown open flag '{w}' (RDONLY WRONLY RDWR NONBLOCK path=)"
                                ))
                            }
                        };
                        if let Some(a) = acc {
                            if access.is_some() {
                                return Err(String::from("more than one access mode"));
                            }
                            access = Some(a);
                        }
                    }
                    other => return Err(alloc::format!("unexpected {} in open", other.describe())),
                }
            }
            Ok(StepKind::Open { fd, flags: flags | access.unwrap_or(O_RDWR), path })
        }
        "close" => Ok(StepKind::Close { fd: p.fd_name()? }),
        "fcntl" => {
            let fd = p.fd_name()?;
            let w = p.word("nonblock or block")?;
            let nonblock = match w {
                "nonblock" => true,
                "block" => false,
                _ => return Err(alloc::format!("expected nonblock or block but found '{w}'")),
            };
            Ok(StepKind::Fcntl { fd, nonblock })
        }
        "sleep" => {
            let ms = p.number("milliseconds")?;
            if ms > 600_000 {
                return Err(String::from("sleep longer than 10 minutes"));
            }
            Ok(StepKind::Sleep { ms })
        }
        "let" => {
            let name = String::from(p.word("a name")?);
            p.expect_tok(&Tok::Eq)?;
            let bytes = p.terms(lets, false)?;
            if bytes.is_empty() {
                return Err(String::from("let needs bytes"));
            }
            Ok(StepKind::Let { name, bytes })
        }
        "write" => {
            let fd = p.fd_name()?;
            let bytes = p.terms(lets, false)?;
            if bytes.is_empty() {
                return Err(String::from("write needs bytes (write an empty string as \"\")"));
            }
            Ok(StepKind::Write { fd, bytes })
        }
        "read" => {
            let fd = p.fd_name()?;
            match p.peek() {
                Some(Tok::Word(w)) if w == "all" => {
                    p.pos += 1;
                    let mut pats = Vec::new();
                    let mut quiet_ms = DEFAULT_QUIET_MS;
                    if p.peek() == Some(&Tok::LBrace) {
                        pats = p.brace_msgs(lets, "all")?;
                    }
                    if let (Some(Tok::Word(w)), Some(Tok::Eq)) = (p.peek(), p.peek2()) {
                        if w == "quiet" {
                            p.pos += 2;
                            quiet_ms = p.number("milliseconds")?;
                            if quiet_ms > 60_000 {
                                return Err(String::from("quiet= longer than a minute"));
                            }
                        }
                    }
                    Ok(StepKind::ReadAll { fd, pats, quiet_ms })
                }
                Some(Tok::Word(w)) if w == "msg" || w == "unordered" => {
                    let (pats, unordered) = p.msgs(lets)?;
                    Ok(StepKind::ReadMsgs { fd, pats, unordered })
                }
                _ => {
                    let n = p.number("a byte count, msg(...) or unordered {...}")?;
                    let count = usize::try_from(n)
                        .ok()
                        .filter(|&c| c <= MAX_BYTES)
                        .ok_or_else(|| alloc::format!("read count {n} is too large"))?;
                    let mut nonblock = false;
                    if let Some(Tok::Word(w)) = p.peek() {
                        if w == "nonblock" {
                            p.pos += 1;
                            nonblock = true;
                        }
                    }
                    Ok(StepKind::Read { fd, count, nonblock })
                }
            }
        }
        "poll" => {
            let mut fds = Vec::new();
            let mut events = 0x001u16;
            let mut timeout = 0i32;
            while let Some(t) = p.next() {
                match t {
                    Tok::Word(w) if w == "events" && p.peek() == Some(&Tok::Eq) => {
                        p.pos += 1;
                        events = p.mask()?;
                    }
                    Tok::Word(w) if w == "timeout" && p.peek() == Some(&Tok::Eq) => {
                        p.pos += 1;
                        let w = p.word("a timeout")?;
                        timeout = if w == "-1" || w == "infinite" {
                            -1
                        } else {
                            let n = parse_u64(w).ok_or_else(|| alloc::format!("bad timeout '{w}'"))?;
                            i32::try_from(n)
                                .ok()
                                .filter(|&n| n <= 600_000)
                                .ok_or_else(|| String::from("timeout longer than 10 minutes"))?
                        };
                    }
                    Tok::Word(w) if is_ident(w) => {
                        if fds.contains(w) {
                            return Err(alloc::format!("descriptor {w} listed twice"));
                        }
                        fds.push(w.clone());
                    }
                    other => return Err(alloc::format!("unexpected {} in poll", other.describe())),
                }
            }
            if fds.is_empty() {
                return Err(String::from("poll needs at least one descriptor"));
            }
            if fds.len() > 16 {
                return Err(String::from("poll takes at most 16 descriptors"));
            }
            Ok(StepKind::Poll { fds, events, timeout })
        }
        "expect" => {
            let e = match p.peek() {
                Some(Tok::Word(w)) if parse_u64(w).is_some() => Expect::Count(p.number("a count")?),
                Some(Tok::Word(w)) => match w.as_str() {
                    "count" => {
                        p.pos += 1;
                        Expect::Count(p.number("a count")?)
                    }
                    "errno" => {
                        p.pos += 1;
                        let w = p.word("an errno name")?;
                        Expect::Errno(names::errno_number(w).ok_or_else(|| alloc::format!("unknown errno '{w}'"))?)
                    }
                    "bytes" => {
                        p.pos += 1;
                        let b = p.terms(lets, false)?;
                        if b.is_empty() {
                            return Err(String::from("expect bytes needs bytes"));
                        }
                        Expect::Bytes(b)
                    }
                    "msg" | "unordered" => {
                        let (pats, unordered) = p.msgs(lets)?;
                        Expect::Msgs { pats, unordered }
                    }
                    "revents" => {
                        p.pos += 1;
                        let mut list = Vec::new();
                        if let (Some(Tok::Word(_)), Some(Tok::Eq)) = (p.peek(), p.peek2()) {
                            while !p.at_end() {
                                let n = p.fd_name()?;
                                p.expect_tok(&Tok::Eq)?;
                                list.push((Some(n), p.mask()?));
                            }
                        } else {
                            list.push((None, p.mask()?));
                        }
                        Expect::Revents(list)
                    }
                    "timeout" => {
                        p.pos += 1;
                        Expect::Timeout
                    }
                    "ok" => {
                        p.pos += 1;
                        Expect::Ok
                    }
                    "none" => {
                        p.pos += 1;
                        let ms = p.number("milliseconds")?;
                        if ms > 600_000 {
                            return Err(String::from("expect none longer than 10 minutes"));
                        }
                        Expect::None(ms)
                    }
                    other => return Err(alloc::format!("unknown expectation '{other}'")),
                },
                _ => {
                    return Err(String::from(
                        "expect what? (a count, errno, bytes, msg, unordered, revents, timeout, ok, none)",
                    ))
                }
            };
            Ok(StepKind::Expect(e))
        }
        "either" => {
            let mut alts = Vec::new();
            loop {
                let body = p.block()?;
                alts.push(parse_alt(body, lets)?);
                match p.peek() {
                    Some(Tok::Word(w)) if w == "or" => p.pos += 1,
                    _ => break,
                }
            }
            if alts.len() < 2 {
                return Err(String::from("either needs at least two alternatives: either { ... } or { ... }"));
            }
            Ok(StepKind::Either { alts })
        }
        "dom0" => {
            let op = p.word("write, rm, mkdir, read, save-restore (save) or checkpoint")?;
            match op {
                "save-restore" | "save" => return Ok(StepKind::Dom0(Dom0Op::SaveRestore)),
                "checkpoint" => return Ok(StepKind::Dom0(Dom0Op::Checkpoint)),
                _ => {}
            }
            let path = p.text("a path")?;
            if path.is_empty() || path.starts_with('/') || path.contains(char::is_whitespace) {
                return Err(String::from("dom0 paths are relative, non-empty and have no blanks"));
            }
            let one_line = |v: String| -> PResult<String> {
                if v.contains(['\n', '\r', '\0']) {
                    Err(String::from("dom0 values are one line of text"))
                } else {
                    Ok(v)
                }
            };
            let op = match op {
                "write" => Dom0Op::Write { path, value: one_line(p.text("a value")?)? },
                "rm" => Dom0Op::Rm { path },
                "mkdir" => Dom0Op::Mkdir { path },
                "read" => {
                    let expect = if p.at_end() {
                        None
                    } else {
                        let w = p.word("expect")?;
                        if w != "expect" {
                            return Err(alloc::format!("expected 'expect' but found '{w}'"));
                        }
                        Some(one_line(p.text("a value")?)?)
                    };
                    Dom0Op::Read { path, expect }
                }
                other => return Err(alloc::format!("unknown dom0 operation '{other}'")),
            };
            Ok(StepKind::Dom0(op))
        }
        other => Err(alloc::format!("unknown step '{other}'")),
    }
}
