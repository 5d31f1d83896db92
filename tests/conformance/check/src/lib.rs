//! Host-only checks of conformance scenarios (`make conformance-check
//! SCENARIOS=<dir>`): every `*.scn` file of a directory is parsed, checked
//! against the rules that keep it safe on real Linux, and run against our
//! node's logic over a simulated xenstored ([`sim::SimHost`], the only
//! place that knows the simulator).
//!
//! What is an error (the check fails):
//! - the scenario does not parse, or its name cannot be a xenstore path
//!   component (letters, digits, `-`, `_`);
//! - a rule of `docs/conformance.md` 1.4 is broken: `read <fd> 0` with data
//!   queued (unless the scenario is skipped on Linux), a WATCH/UNWATCH
//!   written while a reply on the same descriptor is unread, a blocking
//!   read or infinite poll with nothing to come;
//! - an expectation does not hold, or the runner could not do a step
//!   (`ERROR`), in the simulated run. For a `generated:` scenario failed
//!   reads are model misses and only reported.
//!
//! What is a warning: a path `data/conf/<other>/...` of another scenario,
//! a `req_id` two scenarios of the directory use (the corpus conventions);
//! a write that changes bytes of a forwarded request's payload before that
//! request's reply is read (Linux 6.1 sends the payload from the
//! descriptor's buffer after write() returned, so Linux may send the new
//! bytes: docs/conformance.md 1.4).
//! Scenarios that use `dom0 save` run up to it: the simulation has no
//! save/restore, so their failures are reported, not counted.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod sim;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use xenbus_conformance::{parse, Dom0Op, Field, RunConfig, Runner, Scenario, StepKind, Term};

pub use sim::{SimHost, DEVICE};

/// The result of checking one scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioCheck {
    /// Scenario name (file stem).
    pub name: String,
    /// Problems that fail the check.
    pub errors: Vec<String>,
    /// Convention problems and notes.
    pub warnings: Vec<String>,
    /// The transcript of the simulated run (empty if it did not parse).
    pub transcript: String,
}

/// The result of checking a directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// One entry per `*.scn` file, in name order.
    pub scenarios: Vec<ScenarioCheck>,
}

impl CheckReport {
    /// Scenarios with at least one error.
    pub fn failed(&self) -> usize {
        self.scenarios.iter().filter(|s| !s.errors.is_empty()).count()
    }
}

/// Every `*.scn` file of a directory, sorted by name: (name, text).
pub fn scenarios_in(dir: &Path) -> std::io::Result<Vec<(String, String)>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "scn") {
            let name = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let text = String::from_utf8_lossy(&std::fs::read(&p)?).into_owned();
            v.push((name, text));
        }
    }
    v.sort();
    Ok(v)
}

/// True if a scenario name can be a xenstore path component.
pub fn name_is_path_safe(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn msg_reqs(terms: &[Term], lets: &BTreeMap<String, Vec<Term>>, out: &mut BTreeSet<u32>, depth: usize) {
    if depth > 32 {
        return;
    }
    for t in terms {
        match t {
            Term::Msg(m) => {
                if let Field::Num(n) = m.req {
                    out.insert(n);
                }
            }
            Term::Let(n) => {
                if let Some(ts) = lets.get(n) {
                    msg_reqs(ts, lets, out, depth + 1);
                }
            }
            Term::Slice(inner, _, _) => msg_reqs(std::slice::from_ref(inner.as_ref()), lets, out, depth + 1),
            _ => {}
        }
    }
}

/// The literal `req_id`s of the messages a scenario writes.
pub fn written_req_ids(sc: &Scenario) -> BTreeSet<u32> {
    let mut lets = BTreeMap::new();
    let mut reqs = BTreeSet::new();
    for s in &sc.steps {
        match &s.kind {
            StepKind::Let { name, bytes } => {
                lets.insert(name.clone(), bytes.clone());
            }
            StepKind::Write { bytes, .. } => msg_reqs(bytes, &lets, &mut reqs, 0),
            _ => {}
        }
    }
    reqs
}

/// Paths `data/conf/<x>/...` in the text that belong to another scenario.
pub fn foreign_paths(name: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(p) = rest.find("data/conf/") {
            let tail = rest.get(p + "data/conf/".len()..).unwrap_or("");
            // The directory itself, or something under it.
            let own = tail
                .strip_prefix(name)
                .is_some_and(|after| !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            if !own {
                out.push(format!("line {}: {}", i + 1, line.trim()));
                break;
            }
            rest = tail;
        }
    }
    out
}

/// True if the scenario has a `dom0 save` step.
pub fn uses_save(sc: &Scenario) -> bool {
    sc.steps.iter().any(|s| matches!(s.kind, StepKind::Dom0(Dom0Op::SaveRestore | Dom0Op::Checkpoint)))
}

/// Checks one scenario on a shared simulated host (as the real run does:
/// one domain, scenario after scenario).
pub fn check_scenario(host: &mut SimHost, runner: &mut Runner, name: &str, text: &str) -> ScenarioCheck {
    let mut c =
        ScenarioCheck { name: name.to_string(), errors: Vec::new(), warnings: Vec::new(), transcript: String::new() };
    if !name_is_path_safe(name) {
        c.errors.push(String::from("the name must be letters, digits, '-' and '_' (it becomes a xenstore path)"));
    }
    let sc = match parse(name, text) {
        Ok(sc) => sc,
        Err(e) => {
            c.errors.push(format!("parse error: {e}"));
            return c;
        }
    };
    for p in foreign_paths(name, text) {
        c.warnings.push(format!("path outside data/conf/{name}/: {p}"));
    }
    host.skipped_on_linux = sc.skip_reason(xenbus_conformance::HOST_LINUX).is_some();
    host.label = name.to_string();
    host.lint.clear();
    host.races.clear();
    host.hazards.clear();
    host.saw_save = false;
    let o = runner.run(host, &sc);
    c.transcript = o.transcript.clone();
    for l in &host.lint {
        c.errors.push(format!("Linux safety rule: {l}"));
    }
    if let Some(h) = host.hazards.first() {
        c.warnings.push(format!("xenstored hazard: {h}"));
    }
    if let Some(r) = host.races.first() {
        c.warnings.push(format!("Linux race (the transcript may differ between runs on Linux): {r}"));
    }
    let failed_lines: Vec<&str> = o
        .transcript
        .lines()
        .filter(|l| {
            l.ends_with("FAILED") || l.contains(" MISMATCH") || l.contains("-> TIMEOUT") || l.contains("-> ERROR")
        })
        .collect();
    if o.failures > 0 || o.transcript.contains("-> ERROR") {
        let what = format!("{} failed step(s) in the simulated run: {}", o.failures, failed_lines.join(" / "));
        if uses_save(&sc) {
            c.warnings.push(format!("uses dom0 save, which is not simulated; {what}"));
        } else if sc.generated.is_some() && !o.transcript.contains("-> ERROR") {
            c.warnings.push(format!("generator model misses: {what}"));
        } else {
            c.errors.push(what);
        }
    }
    if o.skipped {
        c.warnings.push(String::from("skipped on our node (skip-on: ours)"));
    }
    c
}

/// Checks every `*.scn` file of `dir` (one simulated domain for all, in
/// name order), then the corpus conventions across files.
pub fn check_dir(dir: &Path) -> std::io::Result<CheckReport> {
    let files = scenarios_in(dir)?;
    let mut host = SimHost::new();
    let mut runner = Runner::new(RunConfig::new(xenbus_conformance::HOST_OURS, DEVICE));
    let mut report = CheckReport::default();
    let mut owner: BTreeMap<u32, String> = BTreeMap::new();
    for (name, text) in &files {
        let mut c = check_scenario(&mut host, &mut runner, name, text);
        if let Ok(sc) = parse(name, text) {
            for r in written_req_ids(&sc) {
                // 0 and 0xffffffff are the extremes scenarios check on purpose.
                if r == 0 || r == 0xffff_ffff {
                    continue;
                }
                match owner.get(&r) {
                    Some(o) if o != name => c.warnings.push(format!("req_id {r:#x} is also used by {o}")),
                    _ => {
                        owner.insert(r, name.clone());
                    }
                }
            }
        }
        report.scenarios.push(c);
    }
    Ok(report)
}
