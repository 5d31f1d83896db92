//! `xbcheck DIR [--verbose]`: parses, rule-checks and simulates every
//! `*.scn` scenario of DIR on the host (see the library docs); prints one
//! line per scenario and a summary; exits 0 only if no scenario has an
//! error (2 on usage or I/O errors).
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut dir: Option<PathBuf> = None;
    let mut verbose = false;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--verbose" | "-v" => verbose = true,
            _ if a.starts_with('-') || dir.is_some() => {
                eprintln!("usage: xbcheck DIR [--verbose]");
                return ExitCode::from(2);
            }
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let Some(dir) = dir else {
        eprintln!("usage: xbcheck DIR [--verbose]");
        return ExitCode::from(2);
    };
    let report = match xenbus_conformance_check::check_dir(&dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("xbcheck: cannot read {}: {e}", dir.display());
            return ExitCode::from(2);
        }
    };
    let mut warnings = 0;
    for s in &report.scenarios {
        let verdict = if s.errors.is_empty() { "ok" } else { "FAIL" };
        println!("{:<48} {verdict}", s.name);
        for e in &s.errors {
            println!("    error: {e}");
        }
        for w in &s.warnings {
            warnings += 1;
            println!("    warning: {w}");
        }
        if verbose || !s.errors.is_empty() {
            for l in s.transcript.lines() {
                println!("    | {l}");
            }
        }
    }
    let n = report.scenarios.len();
    println!(
        "conformance-check: {} scenarios in {}: {} ok, {} failing, {} warnings",
        n,
        dir.display(),
        n - report.failed(),
        report.failed(),
        warnings
    );
    if n == 0 {
        println!("conformance-check: no *.scn files in {}", dir.display());
        return ExitCode::FAILURE;
    }
    if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
