//! `xbdrive`: random differential conformance runs (`make
//! conformance-random`, docs/conformance.md).
//!
//! ```text
//! xbdrive gen --seed S --count N --out DIR [--first I]
//! xbdrive run --seed S --count N --ours NAME --linux NAME [--first I]
//!             [--shrink-budget K] [--timeout SECS]
//! ```
//!
//! `gen` writes the scenarios of a run as files (`g<S>-<index>.scn`).
//!
//! `run` runs in dom0 while both guests are in serve mode
//! (`conformance=serve`, `xbconform --serve`): for each scenario it hands the
//! text to the Linux guest, to ours, and to the Linux guest again through
//! the store ([`xenbus_conformance::Runner::serve`]), takes the transcripts
//! from xenconsoled's logs, and judges: a scenario whose two Linux
//! transcripts differ is set aside (unrepeatable); a mismatch is shrunk
//! (smaller candidates are tried, each on both hosts, Linux twice, until
//! none still differs or the budget is spent) and printed framed
//! `FOUND BEGIN <name>` ... `FOUND END <name>`. Lines for the harness start
//! with `RANDOM `; the last is
//! `RANDOM DONE seed=.. count=.. match=.. deviation=.. unrepeatable=..
//! mismatch=.. shrunk=.. error=.. model-misses=.. seconds=.. ours-seconds=..
//! linux-seconds=..`.

mod xs;

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use xenbus_conformance::gen::{generate, render, shrink_candidates, GenConfig, Generated};
use xenbus_conformance::{compare, judge_repeat, printable, split_frames, Verdict, SERVE_ACK, SERVE_CHUNK, SERVE_CTL};

use xs::Xs;

/// Bytes of scenario text per store node.
const CHUNK: usize = 2000;

struct Guest {
    name: String,
    home: String,
    log: PathBuf,
    k: u64,
    /// Seconds spent running scenarios on this guest.
    busy: f64,
}

struct Args {
    seed: u64,
    count: u32,
    first: u32,
    out: Option<PathBuf>,
    ours: String,
    linux: String,
    shrink_budget: usize,
    timeout: u64,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        seed: 1,
        count: 10,
        first: 0,
        out: None,
        ours: String::from("conf-ours"),
        linux: String::from("conf-linux"),
        shrink_budget: 120,
        timeout: 300,
    };
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or_else(|| format!("{k} needs a value"));
        let num = |s: String| s.parse::<u64>().map_err(|_| format!("bad number {s}"));
        match k.as_str() {
            "--seed" => a.seed = num(v()?)?,
            "--count" => a.count = num(v()?)? as u32,
            "--first" => a.first = num(v()?)? as u32,
            "--out" => a.out = Some(PathBuf::from(v()?)),
            "--ours" => a.ours = v()?,
            "--linux" => a.linux = v()?,
            "--shrink-budget" => a.shrink_budget = num(v()?)? as usize,
            "--timeout" => a.timeout = num(v()?)?,
            _ => return Err(format!("unknown argument {k}")),
        }
    }
    Ok(a)
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: xbdrive gen --seed S --count N --out DIR [--first I]\n       xbdrive run --seed S --count N --ours NAME --linux NAME [--first I] [--shrink-budget K] [--timeout SECS]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let cmd = args.next().unwrap_or_default();
    let a = match parse_args(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("xbdrive: {e}");
            return usage();
        }
    };
    match cmd.as_str() {
        "gen" => gen_files(&a),
        "run" => match run(&a) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                println!("RANDOM ABORT {e}");
                ExitCode::from(3)
            }
        },
        _ => usage(),
    }
}

fn gen_files(a: &Args) -> ExitCode {
    let Some(out) = &a.out else { return usage() };
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("xbdrive: {}: {e}", out.display());
        return ExitCode::from(2);
    }
    let cfg = GenConfig::default();
    for i in a.first..a.first.saturating_add(a.count) {
        let g = generate(a.seed, i, &cfg);
        let p = out.join(format!("{}.scn", g.name()));
        if let Err(e) = std::fs::write(&p, render(&g)) {
            eprintln!("xbdrive: {}: {e}", p.display());
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

/// The domain id of a running guest, by name (waits for it).
fn find_domain(xs: &mut Xs, name: &str, within: Duration) -> Result<u32, String> {
    let end = Instant::now() + within;
    loop {
        for d in xs.directory("/local/domain").unwrap_or_default() {
            if let Ok(id) = d.parse::<u32>() {
                if xs.read(&format!("/local/domain/{id}/name")).is_ok_and(|n| n == name.as_bytes()) {
                    return Ok(id);
                }
            }
        }
        if Instant::now() >= end {
            return Err(format!("no domain named {name}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn log_len(p: &PathBuf) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn log_from(p: &PathBuf, off: u64) -> String {
    let mut s = Vec::new();
    if let Ok(mut f) = std::fs::File::open(p) {
        if f.seek(SeekFrom::Start(off)).is_ok() {
            let _ = f.read_to_end(&mut s);
        }
    }
    String::from_utf8_lossy(&s).into_owned()
}

/// Waits until `ack` of the guest says `k`.
fn wait_ack(xs: &mut Xs, g: &Guest, want: &str, timeout: Duration) -> Result<(), String> {
    let end = Instant::now() + timeout;
    loop {
        if xs.read(&format!("{}/{SERVE_ACK}", g.home)).is_ok_and(|v| v == want.as_bytes()) {
            return Ok(());
        }
        let now = Instant::now();
        if now >= end {
            return Err(format!("{} did not acknowledge '{want}' within {} s", g.name, timeout.as_secs()));
        }
        // Wake on any event (the ack watch), or look again soon.
        let _ = xs.wait_event((end - now).min(Duration::from_millis(500)))?;
    }
}

/// Runs one scenario on one guest and returns its transcript.
fn run_on(xs: &mut Xs, g: &mut Guest, name: &str, text: &str, timeout: Duration) -> Result<String, String> {
    let t0 = Instant::now();
    g.k += 1;
    let bytes = text.as_bytes();
    let pieces: Vec<&[u8]> = if bytes.is_empty() { vec![&[][..]] } else { bytes.chunks(CHUNK).collect() };
    for (i, p) in pieces.iter().enumerate() {
        xs.write(&format!("{}/{SERVE_CHUNK}{i}", g.home), p)?;
    }
    let off = log_len(&g.log);
    xs.write(&format!("{}/{SERVE_CTL}", g.home), format!("{} run {name} {}", g.k, pieces.len()).as_bytes())?;
    wait_ack(xs, g, &g.k.to_string(), timeout)?;
    // The transcript is on the console; xenconsoled writes it to the log.
    let end_line = format!("{}{name}", xenbus_conformance::END);
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let t = log_from(&g.log, off);
        if t.lines().any(|l| l.trim_end_matches('\r').ends_with(&end_line)) {
            let frames = split_frames(&t);
            g.busy += t0.elapsed().as_secs_f64();
            return frames
                .into_iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t)
                .ok_or_else(|| format!("no transcript of {name} from {}", g.name));
        }
        if Instant::now() >= until {
            return Err(format!("the transcript of {name} never reached {}'s console log", g.name));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Hosts {
    xs: Xs,
    ours: Guest,
    linux: Guest,
    timeout: Duration,
}

/// Linux, ours, Linux again.
struct Three {
    linux: String,
    ours: String,
    linux2: String,
}

impl Hosts {
    fn three(&mut self, name: &str, text: &str) -> Result<Three, String> {
        let linux = run_on(&mut self.xs, &mut self.linux, name, text, self.timeout)?;
        let ours = run_on(&mut self.xs, &mut self.ours, name, text, self.timeout)?;
        let linux2 = run_on(&mut self.xs, &mut self.linux, name, text, self.timeout)?;
        Ok(Three { linux, ours, linux2 })
    }

    /// True if the candidate still shows a difference Linux repeats.
    fn still_differs(&mut self, g: &Generated) -> Result<bool, String> {
        let name = g.name();
        let text = render(g);
        let ours = run_on(&mut self.xs, &mut self.ours, &name, &text, self.timeout)?;
        let linux = run_on(&mut self.xs, &mut self.linux, &name, &text, self.timeout)?;
        let j = judge_repeat(&name, Some(&ours), Some(&linux), None);
        if j.verdict != Verdict::Mismatch {
            return Ok(false);
        }
        let linux2 = run_on(&mut self.xs, &mut self.linux, &name, &text, self.timeout)?;
        Ok(compare(&linux, &linux2).is_empty())
    }

    fn done(&mut self) {
        for g in [&mut self.ours, &mut self.linux] {
            g.k += 1;
            let _ = self.xs.write(&format!("{}/{SERVE_CTL}", g.home), format!("{} done", g.k).as_bytes());
        }
    }
}

fn print_diffs(name: &str, diffs: &[xenbus_conformance::Diff], what: &str) {
    for d in diffs.iter().take(4) {
        let show = |v: &Option<String>| match v {
            Some(v) => printable(v),
            None => String::from("(no such line)"),
        };
        println!(
            "RANDOM DIFF {name} {what} {} {} | ours/1: {} | linux/2: {}",
            d.key,
            d.step,
            show(&d.ours),
            show(&d.linux)
        );
    }
}

/// After a failure: the end of xenstored's trace (if it traces) and of
/// both guests' consoles, for diagnosis.
fn post_mortem(h: &Hosts) {
    std::thread::sleep(Duration::from_secs(20));
    let tail = |p: &str, n: usize| -> Vec<String> {
        let t = std::fs::read(p).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        let lines: Vec<String> = t.lines().map(String::from).collect();
        lines.get(lines.len().saturating_sub(n)..).unwrap_or(&[]).to_vec()
    };
    for l in tail("/var/log/xen/xenstored-trace.log", 60) {
        println!("RANDOM POSTMORTEM xenstored: {l}");
    }
    for g in [&h.ours, &h.linux] {
        for l in tail(&g.log.to_string_lossy(), 60) {
            println!("RANDOM POSTMORTEM {}: {l}", g.name);
        }
    }
}

/// Prints a transcript framed for the harness, which saves it.
fn dump(name: &str, label: &str, t: &str) {
    println!("TRANSCRIPT BEGIN {name} {label}");
    for l in t.lines() {
        println!("{l}");
    }
    println!("TRANSCRIPT END {name} {label}");
}

fn run(a: &Args) -> Result<bool, String> {
    let t0 = Instant::now();
    let mut xs = Xs::connect()?;
    let mut guests = Vec::new();
    for name in [&a.ours, &a.linux] {
        let id = find_domain(&mut xs, name, Duration::from_secs(120))?;
        let home = format!("/local/domain/{id}");
        xs.watch(&format!("{home}/{SERVE_ACK}"), &format!("ack-{name}"))?;
        guests.push(Guest {
            name: name.clone(),
            home,
            log: PathBuf::from(format!("/var/log/xen/console/guest-{name}.log")),
            k: 0,
            busy: 0.0,
        });
    }
    let (Some(linux), Some(ours)) = (guests.pop(), guests.pop()) else { return Err(String::from("no guests")) };
    let mut h = Hosts { xs, ours, linux, timeout: Duration::from_secs(a.timeout) };
    for g in [&h.ours, &h.linux] {
        println!("RANDOM guest {} is {}", g.name, g.home);
    }
    let home_o = h.ours.home.clone();
    let home_l = h.linux.home.clone();
    wait_ack(
        &mut h.xs,
        &Guest { name: a.ours.clone(), home: home_o, log: PathBuf::new(), k: 0, busy: 0.0 },
        "0 ready",
        Duration::from_secs(300),
    )?;
    wait_ack(
        &mut h.xs,
        &Guest { name: a.linux.clone(), home: home_l, log: PathBuf::new(), k: 0, busy: 0.0 },
        "0 ready",
        Duration::from_secs(300),
    )?;
    println!(
        "RANDOM start seed={} count={} first={} (both guests ready after {:.1} s)",
        a.seed,
        a.count,
        a.first,
        t0.elapsed().as_secs_f64()
    );
    let cfg = GenConfig::default();
    let (mut matched, mut deviation, mut unrep, mut mismatch, mut shrunk, mut errors, mut misses) =
        (0, 0, 0, 0, 0, 0, 0);
    let run_start = Instant::now();
    for i in a.first..a.first.saturating_add(a.count) {
        let g = generate(a.seed, i, &cfg);
        let name = g.name();
        let text = render(&g);
        let s0 = Instant::now();
        let three = match h.three(&name, &text) {
            Ok(t) => t,
            Err(e) => {
                println!("RANDOM {i} {name} error {e}");
                post_mortem(&h);
                h.done();
                return Err(format!("stopped at {name}: {e}"));
            }
        };
        let j = judge_repeat(&name, Some(&three.ours), Some(&three.linux), Some(&three.linux2));
        let secs = s0.elapsed().as_secs_f64();
        let model_miss = j.reason.as_deref().is_some_and(|r| r.contains("model"));
        misses += usize::from(model_miss);
        match j.verdict {
            Verdict::Match => {
                matched += 1;
                println!("RANDOM {i} {name} match{} ({secs:.1} s)", if model_miss { " (model miss)" } else { "" });
            }
            Verdict::Deviation => {
                deviation += 1;
                println!("RANDOM {i} {name} deviation ({secs:.1} s)");
            }
            Verdict::Unrepeatable => {
                unrep += 1;
                println!("RANDOM {i} {name} unrepeatable: set aside ({secs:.1} s)");
                print_diffs(&name, &j.diffs, "linux-vs-linux");
                dump(&name, "linux", &three.linux);
                dump(&name, "linux2", &three.linux2);
                dump(&name, "ours", &three.ours);
            }
            Verdict::Mismatch => {
                mismatch += 1;
                println!("RANDOM {i} {name} mismatch ({secs:.1} s); shrinking");
                print_diffs(&name, &j.diffs, "ours-vs-linux");
                dump(&name, "linux", &three.linux);
                dump(&name, "ours", &three.ours);
                let mut cur = g.clone();
                let mut runs = 0usize;
                'outer: loop {
                    let mut improved = false;
                    for c in shrink_candidates(&cur) {
                        if runs >= a.shrink_budget {
                            break 'outer;
                        }
                        runs += 1;
                        match h.still_differs(&c) {
                            Ok(true) => {
                                cur = c;
                                improved = true;
                                break;
                            }
                            Ok(false) => {}
                            Err(e) => {
                                println!("RANDOM {i} {name} shrink error {e}");
                                break 'outer;
                            }
                        }
                    }
                    if !improved {
                        break;
                    }
                }
                shrunk += 1;
                let text = render(&cur);
                let ours = run_on(&mut h.xs, &mut h.ours, &name, &text, h.timeout).unwrap_or_default();
                let linux = run_on(&mut h.xs, &mut h.linux, &name, &text, h.timeout).unwrap_or_default();
                let jj = judge_repeat(&name, Some(&ours), Some(&linux), None);
                println!(
                    "RANDOM {i} {name} shrunk from {} to {} actions in {runs} candidate runs ({} after shrinking)",
                    g.actions.len(),
                    cur.actions.len(),
                    jj.verdict.word()
                );
                print_diffs(&name, &jj.diffs, "shrunk");
                dump(&name, "shrunk-linux", &linux);
                dump(&name, "shrunk-ours", &ours);
                println!("FOUND BEGIN {name}");
                for l in text.lines() {
                    println!("{l}");
                }
                println!("FOUND END {name}");
            }
            Verdict::ExpectFailed | Verdict::Error => {
                errors += 1;
                dump(&name, "linux", &three.linux);
                dump(&name, "ours", &three.ours);
                println!("RANDOM {i} {name} {} ({secs:.1} s): {}", j.verdict.word(), j.reason.unwrap_or_default());
            }
        }
    }
    h.done();
    let secs = run_start.elapsed().as_secs_f64();
    println!(
        "RANDOM DONE seed={} count={} match={matched} deviation={deviation} unrepeatable={unrep} mismatch={mismatch} shrunk={shrunk} error={errors} model-misses={misses} seconds={secs:.0} ours-seconds={:.0} linux-seconds={:.0} per-minute={:.1}",
        a.seed,
        a.count,
        h.ours.busy,
        h.linux.busy,
        f64::from(a.count) * 60.0 / secs.max(0.001)
    );
    Ok(mismatch == 0 && errors == 0)
}
