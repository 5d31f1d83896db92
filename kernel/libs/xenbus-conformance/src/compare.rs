//! Framing transcripts on a console, comparing two hosts' transcripts and
//! rendering the markdown report.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::lex::quote;

/// First line of a framed transcript.
pub const BEGIN: &str = "CONFORMANCE BEGIN ";
/// Last line of a framed transcript.
pub const END: &str = "CONFORMANCE END ";
/// Line after all transcripts: `CONFORMANCE DONE <n>`.
pub const DONE: &str = "CONFORMANCE DONE ";

/// A transcript framed for a console:
/// `CONFORMANCE BEGIN <name>`, the transcript lines, `CONFORMANCE END <name>`.
pub fn frame(name: &str, transcript: &str) -> String {
    let mut s = format!("{BEGIN}{name}\n");
    for l in transcript.lines() {
        s.push_str(l);
        s.push('\n');
    }
    s.push_str(&format!("{END}{name}\n"));
    s
}

/// The closing line, `CONFORMANCE DONE <n>`.
pub fn frame_done(n: usize) -> String {
    format!("{DONE}{n}\n")
}

/// Finds framed transcripts in console output. Text before
/// `CONFORMANCE BEGIN` on the same line (a console prefix such as
/// `G<name>| `) is taken as the prefix of every line of that transcript and
/// removed. Unterminated frames are returned as far as they go.
pub fn split_frames(output: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(String, String, String)> = None; // name, prefix, text
    for line in output.lines() {
        let line = line.trim_end_matches('\r');
        if let Some((name, prefix, mut text)) = cur.take() {
            let body = line.strip_prefix(prefix.as_str()).unwrap_or(line);
            if body == format!("{END}{name}") {
                out.push((name, text));
            } else if let Some(i) = line.find(BEGIN) {
                out.push((name, text));
                let n = line.get(i + BEGIN.len()..).unwrap_or("").trim();
                cur = Some((String::from(n), String::from(line.get(..i).unwrap_or("")), String::new()));
            } else {
                text.push_str(body);
                text.push('\n');
                cur = Some((name, prefix, text));
            }
        } else if let Some(i) = line.find(BEGIN) {
            let n = line.get(i + BEGIN.len()..).unwrap_or("").trim();
            cur = Some((String::from(n), String::from(line.get(..i).unwrap_or("")), String::new()));
        }
    }
    if let Some((name, _, text)) = cur {
        out.push((name, text));
    }
    out
}

/// One step whose observations differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diff {
    /// `L<n>` for a step, else the kind of line (`end`, `header`).
    pub key: String,
    /// The step as written (empty for non-step lines).
    pub step: String,
    /// What our node gave (`None`: the line is missing).
    pub ours: Option<String>,
    /// What Linux gave.
    pub linux: Option<String>,
}

/// An observation without its trailing ` seen=<order>` note (the order in
/// which messages of an any-order read arrived: it may differ between runs
/// and hosts without making the transcripts differ).
pub fn strip_seen(obs: &str) -> &str {
    match obs.rfind(" seen=") {
        Some(i)
            if obs.get(i + 6..).is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_digit() || c == ',')) =>
        {
            obs.get(..i).unwrap_or(obs)
        }
        _ => obs,
    }
}

/// Splits a transcript line into (key, step text, observation).
fn split_line(line: &str) -> (String, String, String) {
    if let Some(rest) = line.strip_prefix('L') {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 {
            let key = format!("L{}", rest.get(..digits).unwrap_or(""));
            let body = rest.get(digits..).unwrap_or("").trim_start();
            // The first " -> " outside a string separates step and result.
            let mut in_str = false;
            let mut esc = false;
            for (i, c) in body.char_indices() {
                if in_str {
                    if esc {
                        esc = false;
                    } else if c == '\\' {
                        esc = true;
                    } else if c == '"' {
                        in_str = false;
                    }
                } else if c == '"' {
                    in_str = true;
                } else if body.get(i..).is_some_and(|r| r.starts_with(" -> ")) {
                    return (
                        key,
                        String::from(body.get(..i).unwrap_or("")),
                        String::from(strip_seen(body.get(i + 4..).unwrap_or(""))),
                    );
                }
            }
            return (key, String::from(body), String::new());
        }
    }
    let key = if line.starts_with("end") {
        String::from("end")
    } else if line.starts_with("PARSE-ERROR") {
        String::from("parse-error")
    } else if line.starts_with("SKIPPED") {
        String::from("skipped")
    } else {
        String::from(line.split(' ').next().unwrap_or(""))
    };
    (key, String::new(), String::from(line))
}

/// Compares two transcripts of the same scenario step by step (lines are
/// matched by their `L<n>` key, other lines by kind). Returns the steps
/// that differ, in our transcript's order, then the lines only Linux has.
pub fn compare(ours: &str, linux: &str) -> Vec<Diff> {
    let a: Vec<(String, String, String)> = ours.lines().map(split_line).collect();
    let b: Vec<(String, String, String)> = linux.lines().map(split_line).collect();
    let mut diffs = Vec::new();
    let mut seen = BTreeSet::new();
    for (k, step, obs) in &a {
        if !seen.insert(k.clone()) {
            continue;
        }
        match b.iter().find(|(kb, _, _)| kb == k) {
            Some((_, _, ob)) if ob == obs => {}
            Some((_, _, ob)) => diffs.push(Diff {
                key: k.clone(),
                step: step.clone(),
                ours: Some(obs.clone()),
                linux: Some(ob.clone()),
            }),
            None => diffs.push(Diff { key: k.clone(), step: step.clone(), ours: Some(obs.clone()), linux: None }),
        }
    }
    for (k, step, obs) in &b {
        if seen.insert(k.clone()) {
            diffs.push(Diff { key: k.clone(), step: step.clone(), ours: None, linux: Some(obs.clone()) });
        }
    }
    diffs
}

/// The verdict on one scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Identical transcripts, every expectation held.
    Match,
    /// Identical transcripts, but some expectation failed on both hosts
    /// (the scenario's expectations are wrong, or both hosts are).
    ExpectFailed,
    /// The transcripts differ and the scenario declares no deviation.
    Mismatch,
    /// A declared deviation (`deviation:`) or a scenario skipped on one host
    /// (`skip-on:`): differences are reported, not failed.
    Deviation,
    /// A transcript is missing, or the scenario did not parse.
    Error,
    /// Linux gave two different transcripts for the same scenario (a race
    /// the protocol allows): set aside, neither passed nor failed.
    Unrepeatable,
}

impl Verdict {
    /// The word the report uses.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Match => "match",
            Verdict::ExpectFailed => "expect-failed",
            Verdict::Mismatch => "mismatch",
            Verdict::Deviation => "deviation",
            Verdict::Error => "error",
            Verdict::Unrepeatable => "unrepeatable",
        }
    }

    /// True for the verdicts that make a conformance run fail.
    pub fn fails(self) -> bool {
        matches!(self, Verdict::ExpectFailed | Verdict::Mismatch | Verdict::Error)
    }
}

/// The judgement on one scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgement {
    /// Scenario name.
    pub name: String,
    /// Verdict.
    pub verdict: Verdict,
    /// Why (deviation or skip reason, error text).
    pub reason: Option<String>,
    /// Differing steps.
    pub diffs: Vec<Diff>,
}

fn header_value<'a>(t: &'a str, key: &str) -> Option<&'a str> {
    t.lines().find_map(|l| l.strip_prefix(key)).map(str::trim)
}

/// Judges one scenario from its two transcripts (`None`: the host produced
/// none).
pub fn judge(name: &str, ours: Option<&str>, linux: Option<&str>) -> Judgement {
    let mk = |verdict, reason: Option<String>, diffs| Judgement { name: String::from(name), verdict, reason, diffs };
    let (o, l) = match (ours, linux) {
        (Some(o), Some(l)) => (o, l),
        (None, _) => return mk(Verdict::Error, Some(String::from("no transcript from our node")), Vec::new()),
        (_, None) => return mk(Verdict::Error, Some(String::from("no transcript from Linux")), Vec::new()),
    };
    for (host, t) in [("ours", o), ("linux", l)] {
        if let Some(e) = header_value(t, "PARSE-ERROR") {
            return mk(Verdict::Error, Some(format!("parse error ({host}): {e}")), Vec::new());
        }
        if !t.lines().any(|x| x.starts_with("end")) {
            return mk(Verdict::Error, Some(format!("the {host} transcript is incomplete")), compare(o, l));
        }
    }
    for t in [o, l] {
        if let Some(s) = t.lines().find(|x| x.starts_with("SKIPPED on ")) {
            let why = s.strip_prefix("SKIPPED on ").unwrap_or(s);
            return mk(Verdict::Deviation, Some(format!("skipped on {why}")), Vec::new());
        }
    }
    let diffs = compare(o, l);
    let deviation = header_value(o, "deviation:").or_else(|| header_value(l, "deviation:")).map(String::from);
    if diffs.is_empty() {
        if let Some(d) = deviation {
            return mk(Verdict::Deviation, Some(format!("{d} (no difference observed)")), diffs);
        }
        if o.lines().any(|x| x.starts_with("end failed")) && header_value(o, "generated:").is_some() {
            return mk(
                Verdict::Match,
                Some(String::from("generated scenario: some reads did not match the generator's model on both hosts")),
                diffs,
            );
        }
        if o.lines().any(|x| x.starts_with("end failed")) {
            let failed: Vec<Diff> = o
                .lines()
                .map(split_line)
                .filter(|(_, _, obs)| {
                    obs.ends_with("FAILED") || obs.ends_with("MISMATCH") || obs.starts_with("TIMEOUT")
                })
                .map(|(k, step, obs)| Diff { key: k, step, ours: Some(obs.clone()), linux: Some(obs) })
                .collect();
            return mk(Verdict::ExpectFailed, Some(String::from("expectations failed on both hosts")), failed);
        }
        return mk(Verdict::Match, None, diffs);
    }
    match deviation {
        Some(d) => mk(Verdict::Deviation, Some(d), diffs),
        None => mk(Verdict::Mismatch, None, diffs),
    }
}

/// Suffix of the frame name of a scenario's second run on the same host
/// (`<name>@2`): see [`judge_repeat`].
pub const REPEAT_SUFFIX: &str = "@2";

/// Judges every scenario found in two console outputs (framed with
/// [`frame`]); scenarios are taken in the order of our output, then those
/// only Linux has. A Linux frame named `<name>@2` is a second run of
/// `<name>`: see [`judge_repeat`].
pub fn judge_outputs(ours: &str, linux: &str) -> Vec<Judgement> {
    let a = split_frames(ours);
    let b = split_frames(linux);
    let mut names: Vec<String> = a.iter().map(|(n, _)| n.clone()).collect();
    for (n, _) in &b {
        if !names.contains(n) && !n.ends_with(REPEAT_SUFFIX) {
            names.push(n.clone());
        }
    }
    names
        .iter()
        .map(|n| {
            let o = a.iter().find(|(k, _)| k == n).map(|(_, t)| t.as_str());
            let l = b.iter().find(|(k, _)| k == n).map(|(_, t)| t.as_str());
            let rn = format!("{n}{REPEAT_SUFFIX}");
            match b.iter().find(|(k, _)| *k == rn) {
                Some((_, l2)) => judge_repeat(n, o, l, Some(l2)),
                None => judge(n, o, l),
            }
        })
        .collect()
}

/// Judges a scenario Linux ran twice: if Linux's two transcripts differ,
/// the scenario is [`Verdict::Unrepeatable`] (set aside); otherwise as
/// [`judge`] with the first Linux transcript.
pub fn judge_repeat(name: &str, ours: Option<&str>, linux: Option<&str>, linux2: Option<&str>) -> Judgement {
    if let (Some(l1), Some(l2)) = (linux, linux2) {
        let d = compare(l1, l2);
        if !d.is_empty() {
            return Judgement {
                name: String::from(name),
                verdict: Verdict::Unrepeatable,
                reason: Some(String::from(
                    "Linux gave different transcripts in two runs (a race the protocol allows); set aside",
                )),
                diffs: d.into_iter().map(|x| Diff { key: x.key, step: x.step, ours: x.ours, linux: x.linux }).collect(),
            };
        }
    }
    judge(name, ours, linux)
}

/// Longest printable string [`printable`] shows whole; longer ones show
/// their start and end.
pub const PRINTABLE_MAX: usize = 96;

/// Decodes the hex words of an observation into a printable form: header
/// fields (8 hex digits) as `u32:<n>`, other hex words as quoted strings
/// with C escapes (runs of 16 or more equal bytes as `{<c>*<n>}`, and
/// strings longer than [`PRINTABLE_MAX`] shortened to their start and end,
/// as the hex column shortens runs); canonical markers such as `<$tx1>`
/// inside a word are kept; everything else unchanged.
pub fn printable(obs: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for w in obs.split(' ') {
        let (bytes, ok) = unhex(w);
        if ok && !w.is_empty() {
            if w.len() == 8 && !w.contains('(') {
                let mut b4 = [0u8; 4];
                b4.copy_from_slice(bytes.get(..4).unwrap_or(&[0; 4]));
                out.push(format!("u32:{}", u32::from_le_bytes(b4)));
            } else {
                out.push(short_quote(&bytes));
            }
        } else if w.contains('<') && !w.starts_with('<') || w.starts_with("<$") && w.len() > 2 && !w.ends_with('>') {
            out.push(mixed(w));
        } else {
            out.push(String::from(w));
        }
    }
    out.join(" ")
}

/// A word mixing hex with `<...>` markers: each hex piece decoded.
fn mixed(w: &str) -> String {
    let mut out = String::new();
    let mut rest = w;
    while !rest.is_empty() {
        match rest.find('<') {
            Some(0) => {
                let end = rest.find('>').map(|e| e + 1).unwrap_or(rest.len());
                out.push_str(rest.get(..end).unwrap_or(""));
                rest = rest.get(end..).unwrap_or("");
            }
            Some(i) => {
                let piece = rest.get(..i).unwrap_or("");
                let (b, ok) = unhex(piece);
                out.push_str(&if ok { short_quote(&b) } else { String::from(piece) });
                rest = rest.get(i..).unwrap_or("");
            }
            None => {
                let (b, ok) = unhex(rest);
                out.push_str(&if ok { short_quote(&b) } else { String::from(rest) });
                rest = "";
            }
        }
    }
    out
}

/// [`quote`] with runs of 16 or more equal bytes as `{<c>*<n>}` and long
/// strings shortened: `"<first 64>"...(<n> bytes)..."<last 24>"`.
fn short_quote(b: &[u8]) -> String {
    // Runs first.
    // (literal bytes, then a run of one byte, if any)
    type Piece = (Vec<u8>, Option<(u8, usize)>);
    let mut pieces: Vec<Piece> = Vec::new();
    let mut i = 0;
    let mut lit = Vec::new();
    while let Some(&c) = b.get(i) {
        let run = b.get(i..).map(|r| r.iter().take_while(|&&x| x == c).count()).unwrap_or(1);
        if run >= 16 {
            pieces.push((core::mem::take(&mut lit), Some((c, run))));
            i += run;
        } else {
            lit.push(c);
            i += 1;
        }
    }
    pieces.push((lit, None));
    let mut s = String::new();
    for (lit, run) in pieces {
        if !lit.is_empty() {
            if lit.len() > PRINTABLE_MAX {
                let head = lit.get(..64).unwrap_or(&[]);
                let tail = lit.get(lit.len() - 24..).unwrap_or(&[]);
                s.push_str(&format!("{}...({} bytes)...{}", quote(head), lit.len(), quote(tail)));
            } else {
                s.push_str(&quote(&lit));
            }
        }
        if let Some((c, n)) = run {
            let one = quote(&[c]);
            s.push_str(&format!("{{{}*{n}}}", one.trim_matches('"')));
        }
    }
    if s.is_empty() {
        s.push_str("\"\"");
    }
    s
}

/// Parses a hex word with `(hh*n)` runs; `ok` false if it is not one.
fn unhex(w: &str) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let b = w.as_bytes();
    let mut i = 0;
    let hv = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    while i < b.len() {
        if b.get(i) == Some(&b'(') {
            let Some(close) = w.get(i..).and_then(|r| r.find(')')) else { return (out, false) };
            let inner = w.get(i + 1..i + close).unwrap_or("");
            let mut parts = inner.splitn(2, '*');
            let byte = parts.next().and_then(|h| u8::from_str_radix(h, 16).ok());
            let n = parts.next().and_then(|n| n.parse::<usize>().ok());
            match (byte, n) {
                (Some(byte), Some(n)) if n <= 1 << 20 => out.extend(core::iter::repeat_n(byte, n)),
                _ => return (out, false),
            }
            i += close + 1;
        } else {
            match (b.get(i).copied().and_then(hv), b.get(i + 1).copied().and_then(hv)) {
                (Some(h), Some(l)) => out.push(h << 4 | l),
                _ => return (out, false),
            }
            i += 2;
        }
    }
    (out, true)
}

/// A rendered report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The markdown text.
    pub markdown: String,
    /// Scenarios set aside because Linux did not repeat itself.
    pub unrepeatable: usize,
    /// Scenarios that matched.
    pub matched: usize,
    /// Scenarios that matched but whose expectations failed on both hosts.
    pub expect_failed: usize,
    /// Scenarios that differ without a declared deviation.
    pub mismatched: usize,
    /// Declared deviations and skipped scenarios.
    pub deviations: usize,
    /// Missing or unparsable transcripts.
    pub errors: usize,
}

impl Report {
    /// True if the run should fail (any mismatch, error or expectation
    /// failure).
    pub fn failed(&self) -> bool {
        self.mismatched + self.errors + self.expect_failed > 0
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'")
}

/// Renders judgements as markdown: a summary table, then the details of
/// every scenario that is not a plain match.
pub fn report(js: &[Judgement]) -> Report {
    let count = |v: Verdict| js.iter().filter(|j| j.verdict == v).count();
    let mut r = Report {
        markdown: String::new(),
        matched: count(Verdict::Match),
        expect_failed: count(Verdict::ExpectFailed),
        mismatched: count(Verdict::Mismatch),
        deviations: count(Verdict::Deviation),
        errors: count(Verdict::Error),
        unrepeatable: count(Verdict::Unrepeatable),
    };
    let md = &mut r.markdown;
    md.push_str("# xenbus conformance: our node vs Linux 6.1\n\n");
    md.push_str(&format!(
        "{} scenarios: {} match, {} mismatch, {} deviation, {} expect-failed, {} error, {} unrepeatable (set aside). Result: **{}**.\n\n",
        js.len(),
        r.matched,
        r.mismatched,
        r.deviations,
        r.expect_failed,
        r.errors,
        r.unrepeatable,
        if r.mismatched + r.errors + r.expect_failed > 0 { "FAIL" } else { "PASS" }
    ));
    md.push_str("| scenario | verdict | note |\n|---|---|---|\n");
    for j in js {
        let note = match (&j.reason, j.diffs.len()) {
            (Some(r), 0) => cell(r),
            (Some(r), n) => format!("{} ({n} differing step{})", cell(r), if n == 1 { "" } else { "s" }),
            (None, 0) => String::new(),
            (None, n) => format!("{n} differing step{}", if n == 1 { "" } else { "s" }),
        };
        md.push_str(&format!("| {} | {} | {} |\n", j.name, j.verdict.word(), note));
    }
    for j in js.iter().filter(|j| j.verdict != Verdict::Match) {
        md.push_str(&format!("\n## {} — {}\n\n", j.name, j.verdict.word()));
        if let Some(reason) = &j.reason {
            md.push_str(&format!("{reason}\n\n"));
        }
        for d in &j.diffs {
            let title =
                if d.step.is_empty() { d.key.clone() } else { format!("{} `{}`", d.key, d.step.replace('`', "'")) };
            md.push_str(&format!("- {title}\n"));
            let show = |who: &str, v: &Option<String>| match v {
                Some(v) => format!(
                    "  - {who}: `{}`\n    printable: `{}`\n",
                    v.replace('`', "'"),
                    printable(v).replace('`', "'")
                ),
                None => format!("  - {who}: (no such line)\n"),
            };
            md.push_str(&show("ours ", &d.ours));
            md.push_str(&show("linux", &d.linux));
        }
    }
    r
}
