//! `xbcompare OURS.log LINUX.log REPORT.md`: reads the two guests' console
//! output (transcripts framed by `CONFORMANCE BEGIN/END`), compares them
//! scenario by scenario and step by step, writes the markdown report, prints
//! a summary, and exits 0 only when every scenario matched, is a listed
//! deviation, or was set aside because Linux did not repeat itself (a Linux
//! frame `<name>@2` is a second run of `<name>`).
use std::process::ExitCode;

use xenbus_conformance::{judge_outputs, report};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [ours, linux, out] = match <[String; 3]>::try_from(args) {
        Ok(a) => a,
        Err(_) => {
            eprintln!("usage: xbcompare OURS.log LINUX.log REPORT.md");
            return ExitCode::from(2);
        }
    };
    let read = |p: &str| match std::fs::read_to_string(p) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("xbcompare: cannot read {p}: {e}");
            None
        }
    };
    let (Some(a), Some(b)) = (read(&ours), read(&linux)) else { return ExitCode::from(2) };
    let js = judge_outputs(&a, &b);
    let r = report(&js);
    if let Err(e) = std::fs::write(&out, &r.markdown) {
        eprintln!("xbcompare: cannot write {out}: {e}");
        return ExitCode::from(2);
    }
    let failed: Vec<&str> = js.iter().filter(|j| j.verdict.fails()).map(|j| j.name.as_str()).collect();
    for j in &js {
        println!("{:<48} {}", j.name, j.verdict.word());
    }
    println!(
        "conformance: {} scenarios: {} match, {} deviation, {} unrepeatable on Linux (set aside), {} failing; report {}",
        js.len(),
        r.matched,
        r.deviations,
        r.unrepeatable,
        failed.len(),
        out
    );
    if failed.is_empty() && !js.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
