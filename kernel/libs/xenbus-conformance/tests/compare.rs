//! Comparison, verdicts, framing and the markdown report.

use xenbus_conformance::{compare, frame, frame_done, judge, judge_outputs, printable, report, split_frames, Verdict};

const OURS: &str = "scenario s\nL2 open A -> ok\nL3 read A 4096 -> 5: 68656c6c6f\nend ok\n";

#[test]
fn identical_transcripts_match() {
    assert!(compare(OURS, OURS).is_empty());
    assert_eq!(judge("s", Some(OURS), Some(OURS)).verdict, Verdict::Match);
}

#[test]
fn a_differing_step_is_a_mismatch() {
    let linux = OURS.replace("5: 68656c6c6f", "TIMEOUT");
    let d = compare(OURS, &linux);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].key, "L3");
    assert_eq!(d[0].step, "read A 4096");
    assert_eq!(d[0].ours.as_deref(), Some("5: 68656c6c6f"));
    assert_eq!(d[0].linux.as_deref(), Some("TIMEOUT"));
    let j = judge("s", Some(OURS), Some(&linux));
    assert_eq!(j.verdict, Verdict::Mismatch);
    let r = report(&[j]);
    assert!(r.failed());
    assert!(r.markdown.contains("| s | mismatch | 1 differing step |"), "{}", r.markdown);
    assert!(r.markdown.contains("printable: `5: \"hello\"`"), "{}", r.markdown);
}

#[test]
fn missing_and_extra_lines() {
    let linux = "scenario s\nL2 open A -> ok\nend ok\nL9 close A -> ok\n";
    let d = compare(OURS, linux);
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].linux, None);
    assert_eq!(d[1].key, "L9");
    assert_eq!(d[1].ours, None);
}

#[test]
fn arrows_inside_strings_do_not_split() {
    let a = "scenario s\nL2 write A \"a -> b\" -> 7\nend ok\n";
    let b = "scenario s\nL2 write A \"a -> b\" -> errno EINVAL\nend ok\n";
    let d = compare(a, b);
    assert_eq!(d[0].step, "write A \"a -> b\"");
    assert_eq!(d[0].ours.as_deref(), Some("7"));
}

#[test]
fn deviations_and_skips() {
    let ours = format!("scenario s\ndeviation: known\n{}", &OURS["scenario s\n".len()..]);
    let linux = ours.replace("5: 68656c6c6f", "TIMEOUT");
    let j = judge("s", Some(&ours), Some(&linux));
    assert_eq!(j.verdict, Verdict::Deviation);
    assert_eq!(j.reason.as_deref(), Some("known"));
    assert_eq!(j.diffs.len(), 1);
    let same = judge("s", Some(&ours), Some(&ours));
    assert_eq!(same.verdict, Verdict::Deviation);
    assert!(same.reason.unwrap().contains("no difference"));
    let skipped = "scenario s\nskip-on: linux spins\nSKIPPED on linux: spins\nend skipped\n";
    let j = judge("s", Some(OURS), Some(skipped));
    assert_eq!(j.verdict, Verdict::Deviation);
    assert_eq!(j.reason.as_deref(), Some("skipped on linux: spins"));
    let r = report(&[j]);
    assert!(!r.failed());
    assert_eq!(r.deviations, 1);
}

#[test]
fn errors_and_expectation_failures() {
    assert_eq!(judge("s", None, Some(OURS)).verdict, Verdict::Error);
    assert_eq!(judge("s", Some(OURS), None).verdict, Verdict::Error);
    let pe = "scenario s\nPARSE-ERROR line 2: x\nend parse-error\n";
    assert_eq!(judge("s", Some(pe), Some(pe)).verdict, Verdict::Error);
    assert_eq!(judge("s", Some("scenario s\nL2 open A -> ok\n"), Some(OURS)).verdict, Verdict::Error);
    let f = "scenario s\nL2 open A -> ok\nL3 expect 1 -> FAILED\nend failed=1\n";
    let j = judge("s", Some(f), Some(f));
    assert_eq!(j.verdict, Verdict::ExpectFailed);
    assert_eq!(j.diffs[0].key, "L3");
    assert!(report(&[j]).failed());
}

#[test]
fn framing_round_trip_with_console_prefix() {
    let mut console = String::from("boot noise\n");
    for l in frame("one", OURS).lines().chain(frame("two", "scenario two\nend ok\n").lines()) {
        console.push_str(&format!("Gxb| {l}\n"));
    }
    console.push_str(&frame_done(2));
    let f = split_frames(&console);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0], ("one".to_string(), OURS.to_string()));
    assert_eq!(f[1].1, "scenario two\nend ok\n");
    let plain = format!("{}{}", frame("one", OURS), frame_done(1));
    let js = judge_outputs(&console, &plain);
    assert_eq!(js.len(), 2);
    assert_eq!(js[0].verdict, Verdict::Match);
    assert_eq!(js[1].verdict, Verdict::Error, "two has no Linux transcript");
}

#[test]
fn printable_decodes_fields_and_runs() {
    assert_eq!(
        printable("23: 10000000 01020000 <$tx1> 07000000 454e4f454e5400 ok"),
        "23: u32:16 u32:513 <$tx1> u32:7 \"ENOENT\\0\" ok"
    );
    assert_eq!(printable("(61*3)0a"), "\"aaa\\n\"");
    assert_eq!(printable("<$tx1>00"), "<$tx1>\"\\0\"");
}

#[test]
fn report_summary() {
    let a = judge("a", Some(OURS), Some(OURS));
    let b = judge("b", Some(OURS), Some(&OURS.replace("ok\nL3", "errno ENOENT\nL3")));
    let r = report(&[a, b]);
    assert_eq!((r.matched, r.mismatched), (1, 1));
    assert!(r.markdown.starts_with("# xenbus conformance"));
    assert!(r.markdown.contains("2 scenarios: 1 match, 1 mismatch"));
    assert!(r.markdown.contains("Result: **FAIL**"));
    assert!(r.markdown.contains("## b — mismatch"));
}

#[test]
fn seen_notes_are_not_compared() {
    use xenbus_conformance::strip_seen;
    assert_eq!(strip_seen("a | b ok seen=2,1"), "a | b ok");
    assert_eq!(strip_seen("ok \"seen=x\""), "ok \"seen=x\"");
    let a = "scenario s\nL2 read A unordered { } -> x | y ok seen=1,2\nend ok\n";
    let b = "scenario s\nL2 read A unordered { } -> x | y ok seen=2,1\nend ok\n";
    assert!(compare(a, b).is_empty());
    assert_eq!(compare(a, &b.replace("x | y", "y | x")).len(), 1);
}

#[test]
fn a_second_linux_run_that_differs_is_set_aside() {
    let l2 = OURS.replace("68656c6c6f", "68656c6c70");
    let ours = format!("CONFORMANCE BEGIN s\n{OURS}CONFORMANCE END s\n");
    let linux =
        format!("CONFORMANCE BEGIN s\n{OURS}CONFORMANCE END s\nCONFORMANCE BEGIN s@2\n{l2}CONFORMANCE END s@2\n");
    let js = judge_outputs(&ours, &linux);
    assert_eq!(js.len(), 1);
    assert_eq!(js[0].verdict, Verdict::Unrepeatable);
    assert!(!js[0].verdict.fails());
    let r = report(&js);
    assert_eq!(r.unrepeatable, 1);
    assert!(!r.failed());
    // Repeated identically: judged as usual.
    let linux =
        format!("CONFORMANCE BEGIN s\n{OURS}CONFORMANCE END s\nCONFORMANCE BEGIN s@2\n{OURS}CONFORMANCE END s@2\n");
    assert_eq!(judge_outputs(&ours, &linux)[0].verdict, Verdict::Match);
}

#[test]
fn generated_scenarios_turn_failed_reads_into_model_misses() {
    let t = "scenario g\ngenerated: seed 1\nL2 read A msg(READ, 1, 0, \"x\") -> 02000000 01000000 00000000 01000000 79 MISMATCH\nend failed=1\n";
    let j = judge("g", Some(t), Some(t));
    assert_eq!(j.verdict, Verdict::Match);
    assert!(j.reason.unwrap().contains("model"));
    let hand = t.replace("generated: seed 1\n", "");
    assert_eq!(judge("g", Some(&hand), Some(&hand)).verdict, Verdict::ExpectFailed);
}

#[test]
fn long_payloads_are_shortened_in_the_printable_column() {
    assert_eq!(printable("6461746100(61*4042)00"), "\"data\\0\"{a*4042}\"\\0\"");
    let long: String = (0..200u32).map(|i| format!("{:02x}", b'a' + (i % 26) as u8)).collect();
    let p = printable(&long);
    assert!(p.contains("...(200 bytes)..."), "{p}");
    assert!(p.len() < 160, "{p}");
    assert_eq!(printable("2f6c2f<$domid>00"), "\"/l/\"<$domid>\"\\0\"");
    assert_eq!(printable("<$tx1>00"), "<$tx1>\"\\0\"");
    assert_eq!(printable("<len $tx1>"), "<len $tx1>");
}
