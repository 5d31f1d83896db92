//! The whole corpus against our node's logic (`XenbusFile` over the
//! simulated xenstored): every scenario parses, runs to completion with all
//! expectations holding, and obeys the rules that keep it safe on Linux.

use std::collections::BTreeMap;
use std::path::PathBuf;

use xenbus_conformance::{compare, judge, parse, RunConfig, Runner, StepKind, Verdict};
use xenbus_conformance_check::{foreign_paths, scenarios_in, written_req_ids, SimHost, DEVICE};

/// The repository's tests/conformance directory.
fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn corpus() -> Vec<(String, String)> {
    scenarios_in(&conformance_dir().join("scenarios")).unwrap()
}

/// Runs every scenario on one shared simulated host (as the real run does:
/// one domain, scenario after scenario).
fn run_all(host: &mut SimHost, runner: &mut Runner) -> Vec<(String, String, usize, Vec<String>)> {
    let mut out = Vec::new();
    for (name, text) in corpus() {
        let sc = parse(&name, &text).unwrap_or_else(|e| panic!("{name}: {e}"));
        host.skipped_on_linux = sc.skip_reason("linux").is_some();
        host.label = name.clone();
        host.lint.clear();
        let o = runner.run(host, &sc);
        out.push((name, o.transcript, o.failures, host.lint.clone()));
    }
    out
}

#[test]
fn corpus_is_big_enough_and_names_are_path_safe() {
    let c = corpus();
    assert!(c.len() >= 60, "only {} scenarios", c.len());
    for (name, _) in &c {
        assert!(
            name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'),
            "{name}: scenario names become xenstore paths"
        );
    }
}

#[test]
fn corpus_runs_clean_on_our_node() {
    let mut host = SimHost::new();
    let mut runner = Runner::new(RunConfig::new("ours", DEVICE));
    let mut problems = Vec::new();
    for (name, transcript, failures, lint) in run_all(&mut host, &mut runner) {
        if failures > 0 || transcript.contains("-> ERROR") {
            problems.push(format!("{name}: {failures} failed expectation(s)\n{transcript}"));
        }
        for l in lint {
            problems.push(l);
        }
        assert!(transcript.starts_with(&format!("scenario {name}\n")));
        assert!(transcript.ends_with("end ok\n"), "{name}:\n{transcript}");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Everything the scenarios opened was closed again.
    assert_eq!(host.open_count(), 0);
    assert_eq!(host.transactions(), 0, "transactions leaked");
    assert_eq!(host.watches(), 0, "watches leaked");
}

#[test]
fn transcripts_do_not_depend_on_domain_or_transaction_ids() {
    let mut a = SimHost::new();
    let mut b = SimHost::with_domid(42, 1000);
    let mut ra = Runner::new(RunConfig::new("ours", DEVICE));
    let mut rb = Runner::new(RunConfig::new("ours", DEVICE));
    rb.set_seq(77_000);
    let ta = run_all(&mut a, &mut ra);
    let tb = run_all(&mut b, &mut rb);
    for ((name, x, _, _), (_, y, _, _)) in ta.iter().zip(&tb) {
        let d = compare(x, y);
        assert!(d.is_empty(), "{name}: {d:#?}");
        assert_eq!(
            judge(name, Some(x), Some(y)).verdict,
            if x.contains("deviation:") { Verdict::Deviation } else { Verdict::Match },
            "{name}"
        );
    }
}

#[test]
fn skip_on_linux_and_deviations() {
    let mut runner = Runner::new(RunConfig::new("linux", DEVICE));
    let mut skipped = 0;
    let mut deviations = 0;
    for (name, text) in corpus() {
        let sc = parse(&name, &text).unwrap();
        deviations += usize::from(sc.deviation.is_some());
        if sc.skip_reason("linux").is_some() {
            skipped += 1;
            assert!(sc.deviation.is_some(), "{name}: a scenario skipped on Linux is a deviation");
            let mut host = SimHost::new();
            let o = runner.run(&mut host, &sc);
            assert!(o.skipped);
            assert!(o.transcript.contains("SKIPPED on linux: "), "{}", o.transcript);
            let ours = Runner::new(RunConfig::new("ours", DEVICE)).run(&mut SimHost::new(), &sc);
            let j = judge(&name, Some(&ours.transcript), Some(&o.transcript));
            assert_eq!(j.verdict, Verdict::Deviation);
        }
    }
    assert!(skipped >= 1);
    assert!(deviations >= 3);
}

#[test]
fn req_ids_are_distinct_across_scenarios() {
    let mut owner: BTreeMap<u32, String> = BTreeMap::new();
    for (name, text) in corpus() {
        let sc = parse(&name, &text).unwrap();
        for r in written_req_ids(&sc) {
            // 0 and 0xffffffff are the extremes scenario 04 checks.
            if r == 0 || r == 0xffff_ffff {
                continue;
            }
            if let Some(other) = owner.insert(r, name.clone()) {
                assert_eq!(other, name, "req_id {r:#x} used by {other} and {name}");
            }
        }
    }
}

#[test]
fn paths_stay_under_the_scenarios_own_directory() {
    for (name, text) in corpus() {
        let f = foreign_paths(&name, &text);
        assert!(f.is_empty(), "{name}: {f:?}");
    }
}

#[test]
fn the_failing_example_fails_against_a_linux_like_transcript() {
    let dir = conformance_dir().join("failing");
    let files = scenarios_in(&dir).unwrap();
    assert!(!files.is_empty());
    for (name, text) in files {
        let sc = parse(&name, &text).unwrap();
        assert!(sc.deviation.is_none());
        let ours = Runner::new(RunConfig::new("ours", DEVICE)).run(&mut SimHost::new(), &sc);
        assert_eq!(ours.failures, 0, "{}", ours.transcript);
        // What Linux gives: no reply, so the message read times out.
        let linux: String = ours
            .transcript
            .lines()
            .map(|l| {
                if l.contains(" read A msg(") {
                    format!("{} -> TIMEOUT", l.split(" -> ").next().unwrap())
                } else {
                    l.to_string()
                }
            })
            .map(|l| if l.starts_with("end") { "end failed=1".to_string() } else { l })
            .collect::<Vec<_>>()
            .join("\n");
        let j = judge(&name, Some(&ours.transcript), Some(&linux));
        assert_eq!(j.verdict, Verdict::Mismatch);
        assert!(xenbus_conformance::report(&[j]).failed());
    }
}

/// A Linux guest is suspended through its kernel's watch on
/// `control/shutdown`, which an `XS_RESET_WATCHES` through the device
/// removes: every scenario that asks dom0 to save or checkpoint the domain
/// must run (sort) before the first one that sends `XS_RESET_WATCHES`
/// (docs/conformance.md 1.7).
#[test]
fn suspending_scenarios_run_before_reset_watches() {
    let c = corpus();
    let names: Vec<&String> = c.iter().map(|(n, _)| n).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "the runners take scenarios in name order");
    let first_reset = c.iter().position(|(_, text)| text.to_ascii_uppercase().contains("RESET_WATCHES"));
    let suspending: Vec<usize> = c
        .iter()
        .enumerate()
        .filter(|(_, (name, text))| {
            parse(name, text).unwrap().steps.iter().any(|s| {
                matches!(
                    s.kind,
                    StepKind::Dom0(xenbus_conformance::Dom0Op::SaveRestore | xenbus_conformance::Dom0Op::Checkpoint)
                )
            })
        })
        .map(|(i, _)| i)
        .collect();
    assert!(suspending.len() >= 4, "the save/restore scenarios are missing");
    if let (Some(r), Some(&last)) = (first_reset, suspending.last()) {
        assert!(last < r, "{} suspends the domain after {} reset the watches", c[last].0, c[r].0);
    }
}
