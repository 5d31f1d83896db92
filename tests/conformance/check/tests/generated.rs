//! Generated scenarios against our node's logic over the simulated
//! xenstored: they parse, never break a Linux-safety rule, never make the
//! runner fail a step it could not do, and the generator's model of the
//! node mostly agrees with the node (few model misses).

use xenbus_conformance::gen::{generate, render, shrink_candidates, GenConfig};
use xenbus_conformance::{parse, RunConfig, Runner};
use xenbus_conformance_check::{check_scenario, SimHost, DEVICE};

#[test]
fn print_one() {
    let g = generate(1, 0, &GenConfig::default());
    println!("{}", render(&g));
}

#[test]
fn generated_scenarios_are_safe_and_mostly_predicted() {
    let cfg = GenConfig::default();
    let mut host = SimHost::new();
    let mut runner = Runner::new(RunConfig::new("ours", DEVICE));
    let mut misses = 0;
    let n = 600;
    let mut problems = Vec::new();
    for i in 0..n {
        let g = generate(1 + 2 * u64::from(i % 3), i / 3, &cfg);
        let text = render(&g);
        let name = g.name();
        if let Err(e) = parse(&name, &text) {
            problems.push(format!("{name}: {e}\n{text}"));
            continue;
        }
        let empty_before = host.empty_requests;
        let c = check_scenario(&mut host, &mut runner, &name, &text);
        if host.empty_requests != empty_before {
            problems.push(format!("{name}: a request without payload reached xenstored\n{text}"));
        }
        if !c.errors.is_empty() || c.warnings.iter().any(|w| w.contains("Linux race")) {
            problems.push(format!("{name}: {:?} {:?}\n{text}\n{}", c.errors, c.warnings, c.transcript));
        }
        if c.transcript.contains("end failed") {
            misses += 1;
            if misses < 4 {
                println!("MODEL MISS {name}\n{text}\n{}", c.transcript);
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.iter().take(3).cloned().collect::<Vec<_>>().join("\n\n"));
    println!("{misses} of {n} scenarios had model misses");
    assert!(misses * 20 <= n as usize, "{misses} model misses in {n}");
}

#[test]
fn shrink_candidates_render_valid_scenarios() {
    let cfg = GenConfig::default();
    for i in 0..20 {
        let g = generate(9, i, &cfg);
        let cands = shrink_candidates(&g);
        assert!(!cands.is_empty());
        for c in cands.iter().take(40) {
            assert!(c.actions.len() <= g.actions.len());
            let text = render(c);
            parse(&c.name(), &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert!(text.contains("shrunk from"));
        }
    }
}

#[test]
fn coverage_of_a_batch() {
    let cfg = GenConfig::default();
    let mut host = SimHost::new();
    let mut runner = Runner::new(RunConfig::new("ours", DEVICE));
    let n = 300;
    let feats = [
        ("WATCH", "msg(WATCH,"),
        ("UNWATCH", "msg(UNWATCH,"),
        ("TRANSACTION_START", "msg(TRANSACTION_START,"),
        ("tx var use", ", $t"),
        ("split write", "let m"),
        ("read all", " all {"),
        ("unordered", "unordered {"),
        ("poll", "\npoll "),
        ("dom0", "\ndom0 "),
        ("fcntl", "\nfcntl "),
        ("raw read", "\nread A 1"),
        ("nonblock read", " nonblock\n"),
        ("$domid", "$domid"),
        ("len=", "len="),
        ("oversize", "rep(4097"),
        ("close", "\nclose "),
    ];
    let mut counts = vec![0usize; feats.len()];
    let mut total_ms = 0u64;
    let mut lines = 0usize;
    for i in 0..n {
        let g = generate(2, i, &cfg);
        let text = render(&g);
        lines += text.lines().count();
        for (k, (_, needle)) in feats.iter().enumerate() {
            if text.contains(needle) {
                counts[k] += 1;
            }
        }
        let before = host.clock_ms();
        let _ = check_scenario(&mut host, &mut runner, &g.name(), &text);
        total_ms += host.clock_ms() - before;
    }
    for (k, (name, _)) in feats.iter().enumerate() {
        println!("{name:>20}: {} of {n}", counts[k]);
        assert!(counts[k] > 0, "no scenario has {name}");
    }
    println!(
        "average {} lines, {} ms of waiting (simulated clock) per scenario",
        lines / n as usize,
        total_ms / u64::from(n)
    );
}

#[test]
fn generated_transcripts_do_not_depend_on_domain_or_transaction_ids() {
    // Two hosts that differ only in the domain id (digit count too) and in
    // the transaction ids xenstored hands out: every generated transcript
    // must compare equal, or the real run would report a false mismatch.
    let cfg = GenConfig::default();
    let mut a = SimHost::with_domid(7, 1);
    let mut b = SimHost::with_domid(1234, 900);
    let mut ra = Runner::new(RunConfig::new("ours", DEVICE));
    let mut rb = Runner::new(RunConfig::new("ours", DEVICE));
    let mut bad = Vec::new();
    for i in 0..300 {
        let g = generate(11, i, &cfg);
        let text = render(&g);
        let ta = ra.run_text(&mut a, &g.name(), &text).transcript;
        let tb = rb.run_text(&mut b, &g.name(), &text).transcript;
        let d = xenbus_conformance::compare(&ta, &tb);
        if !d.is_empty() {
            bad.push(format!("{}: {:?}\n{text}", g.name(), d.first()));
        }
    }
    assert!(bad.is_empty(), "{} scenarios differ, first: {}", bad.len(), bad.first().cloned().unwrap_or_default());
}
