//! Property tests: the parser and the runner never panic on any input.

use proptest::prelude::*;
use xenbus_conformance::{parse, printable, RunConfig, Runner};
use xenbus_conformance_check::{SimHost, DEVICE};

const PIECES: &[&str] = &[
    "open A",
    "open B NONBLOCK",
    "close A",
    "write A ",
    "read A ",
    "read B ",
    "poll A B ",
    "expect ",
    "let m = ",
    "dom0 write data/x ",
    "msg(",
    "READ",
    ", ",
    "0x10",
    "$tx1",
    "_",
    "\"",
    "\\0",
    "\\x",
    "hex:",
    "rep(",
    "u32(",
    ")",
    "[",
    "..",
    "]",
    "{",
    "}",
    ";",
    "unordered",
    "events=",
    "timeout=",
    "IN|OUT",
    "len=",
    "m",
    "\n",
    "#",
    "\\\n",
    "errno EINVAL",
    "bytes ",
    "revents ",
    "4096",
    "0",
    "deviation: x\n",
    "skip-on: linux y\n",
    "fcntl A nonblock",
    "sleep 1",
    "either { ",
    " } or { ",
    "expect none 10",
    "read A all",
    "read A all { msg(_, 1, _, _) } quiet=5",
    "$domid",
    "dom0 save",
    "generated: g\n",
    ", _)",
    "\"/local/domain/\" $domid \"/x\\0\"",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_bytes(s in ".{0,300}") {
        let _ = parse("p", &s);
    }

    #[test]
    fn parse_and_run_never_panic_on_grammar_soup(idx in proptest::collection::vec(0..PIECES.len(), 0..40)) {
        let text: String = idx.iter().map(|&i| PIECES[i]).collect();
        let mut runner = Runner::new(RunConfig::new("ours", DEVICE));
        let mut host = SimHost::new();
        let o = runner.run_text(&mut host, "soup", &text);
        prop_assert!(o.transcript.starts_with("scenario soup\n"));
        prop_assert!(o.transcript.ends_with('\n'));
    }

    #[test]
    fn printable_never_panics(s in ".{0,200}") {
        let _ = printable(&s);
    }
}
