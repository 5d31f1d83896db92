//! The scenario parser: every step kind, byte expressions, and errors with
//! line numbers.

use xenbus_conformance::{
    eval, parse, Dom0Op, Expect, Field, Lets, RunConfig, StepKind, Vars, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY,
};

fn kinds(text: &str) -> Vec<StepKind> {
    parse("t", text).unwrap_or_else(|e| panic!("{e}")).steps.into_iter().map(|s| s.kind).collect()
}

fn err(text: &str) -> (usize, String) {
    let e = parse("t", text).expect_err("should not parse");
    (e.line, e.message)
}

#[test]
fn every_step_kind() {
    let k = kinds(
        r#"
open A
open B RDONLY NONBLOCK
open C WRONLY|NONBLOCK path=/dev/other
fcntl A nonblock
fcntl A block
sleep 20
let m = msg(READ, 1, 0, "x\0")
write A m
write A m[0..5] hex:0a0B "t\n" u32(7) rep(3, "ab")
read A 4096
read A 0 nonblock
read A msg(ERROR, 1, 0, "ENOENT\0")
read A unordered { msg(WATCH, 2, 0, "OK\0") ; msg(WATCH_EVENT, _, _, "p\0t\0") }
expect ok
poll A B events=IN|OUT timeout=100
expect revents A=IN|RDNORM B=0
expect 1
expect timeout
poll A
expect revents IN
expect errno EINTR
expect ok
read A 16
expect bytes "ab" hex:00
expect msg(ERROR, 1, 0, "ENOENT\0")
dom0 write data/x "a value"
dom0 write data/y 12
dom0 rm data/x
dom0 mkdir data/z
dom0 read data/y expect 12
dom0 read data/y
close A
"#,
    );
    assert_eq!(k.len(), 32);
    assert_eq!(k[0], StepKind::Open { fd: "A".into(), flags: O_RDWR, path: None });
    assert_eq!(k[1], StepKind::Open { fd: "B".into(), flags: O_RDONLY | O_NONBLOCK, path: None });
    assert_eq!(k[2], StepKind::Open { fd: "C".into(), flags: O_WRONLY | O_NONBLOCK, path: Some("/dev/other".into()) });
    assert_eq!(k[3], StepKind::Fcntl { fd: "A".into(), nonblock: true });
    assert_eq!(k[5], StepKind::Sleep { ms: 20 });
    let StepKind::Write { bytes, .. } = &k[8] else { panic!() };
    let mut lets = Lets::new();
    if let StepKind::Let { name, bytes } = &k[6] {
        lets.insert(name.clone(), bytes.clone());
    }
    let b = eval(bytes, &Vars::new(), &lets).unwrap();
    assert_eq!(&b[..5], &[2, 0, 0, 0, 1]);
    assert_eq!(&b[5..], b"\x0a\x0bt\n\x07\0\0\0ababab");
    assert_eq!(k[9], StepKind::Read { fd: "A".into(), count: 4096, nonblock: false });
    assert_eq!(k[10], StepKind::Read { fd: "A".into(), count: 0, nonblock: true });
    let StepKind::ReadMsgs { pats, unordered: true, .. } = &k[12] else { panic!() };
    assert_eq!(pats.len(), 2);
    assert_eq!(pats[1].req, Field::Any);
    assert_eq!(k[14], StepKind::Poll { fds: vec!["A".into(), "B".into()], events: 0x5, timeout: 100 });
    assert_eq!(k[15], StepKind::Expect(Expect::Revents(vec![(Some("A".into()), 0x41), (Some("B".into()), 0)])));
    assert_eq!(k[16], StepKind::Expect(Expect::Count(1)));
    assert_eq!(k[17], StepKind::Expect(Expect::Timeout));
    assert_eq!(k[18], StepKind::Poll { fds: vec!["A".into()], events: 1, timeout: 0 });
    assert_eq!(k[20], StepKind::Expect(Expect::Errno(4)));
    assert_eq!(k[25], StepKind::Dom0(Dom0Op::Write { path: "data/x".into(), value: "a value".into() }));
    assert_eq!(k[29], StepKind::Dom0(Dom0Op::Read { path: "data/y".into(), expect: Some("12".into()) }));
    assert_eq!(k[31], StepKind::Close { fd: "A".into() });
}

#[test]
fn dom0_save_restore_and_checkpoint_steps() {
    let k = kinds("open A\ndom0 save-restore\ndom0 checkpoint\nclose A\n");
    assert_eq!(k[1], StepKind::Dom0(Dom0Op::SaveRestore));
    assert_eq!(k[2], StepKind::Dom0(Dom0Op::Checkpoint));
    assert_eq!(err("dom0 save-restore now\n").0, 1);
    assert_eq!(RunConfig::new("ours", "/dev/xen/xenbus").lifecycle_timeout_ms, 180_000);
}

#[test]
fn headers_and_line_numbers() {
    let sc = parse(
        "n",
        "# comment\nabout: what # not a comment\ndeviation: because\nskip-on: linux it spins\n\nopen A # trailing\n",
    )
    .unwrap();
    assert_eq!(sc.about, vec!["what # not a comment".to_string()]);
    assert_eq!(sc.deviation.as_deref(), Some("because"));
    assert_eq!(sc.skip_reason("linux"), Some("it spins"));
    assert_eq!(sc.skip_reason("ours"), None);
    assert_eq!(sc.steps[0].line, 6);
    assert_eq!(sc.steps[0].text, "open A");
}

#[test]
fn continuation_lines() {
    let sc = parse("n", "open A\nwrite A msg(READ, 1, 0, \\\n   \"x\\0\")\nclose A\n").unwrap();
    assert_eq!(sc.steps[1].line, 2);
    assert_eq!(sc.steps[1].text, "write A msg(READ, 1, 0, \"x\\0\")");
    assert_eq!(sc.steps[2].line, 4);
    assert_eq!(err("open A\nwrite A \\\n").0, 2);
}

#[test]
fn msg_fields_len_and_types() {
    let k = kinds(
        "open A\nwrite A msg(XS_TRANSACTION_END, 0x10, 0xdead, \"T\\0\", len=9)\nwrite A msg(0x80000002, 1, 2)\n",
    );
    let StepKind::Write { bytes, .. } = &k[1] else { panic!() };
    let b = eval(bytes, &Vars::new(), &Lets::new()).unwrap();
    assert_eq!(b, [7, 0, 0, 0, 0x10, 0, 0, 0, 0xad, 0xde, 0, 0, 9, 0, 0, 0, b'T', 0]);
    let StepKind::Write { bytes, .. } = &k[2] else { panic!() };
    assert_eq!(eval(bytes, &Vars::new(), &Lets::new()).unwrap(), [2, 0, 0, 0x80, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn variables_bind_before_use() {
    let ok = "open A\nread A msg(TRANSACTION_START, 1, 0, $tx1 \"\\0\")\nwrite A msg(READ, 2, $tx1, \"p\\0\" $tx1)\n";
    let sc = parse("v", ok).unwrap();
    let StepKind::Write { bytes, .. } = &sc.steps[2].kind else { panic!() };
    let mut vars = Vars::new();
    assert!(eval(bytes, &vars, &Lets::new()).is_err());
    vars.insert("tx1".into(), 17);
    let b = eval(bytes, &vars, &Lets::new()).unwrap();
    assert_eq!(&b[8..12], &17u32.to_le_bytes());
    assert_eq!(&b[16..], b"p\x0017");
    assert_eq!(
        err("open A\nwrite A msg(READ, 2, $tx9, \"p\\0\")\n"),
        (2, "$tx9 is used before any step binds it".into())
    );
}

#[test]
fn errors_carry_line_numbers() {
    let cases: &[(&str, usize, &str)] = &[
        ("open A\nfrobnicate A\n", 2, "unknown step"),
        ("write A \"x\"\n", 1, "not open"),
        ("open A\nopen A\n", 2, "already open"),
        ("open A\nwrite A msg(NOPE, 1, 0)\n", 2, "unknown message type"),
        ("open A\nwrite A msg(READ, 1)\n", 2, "expected ','"),
        ("open A\nwrite A msg(READ, 1, 0, \"x\"\n", 2, "not closed"),
        ("open A\nwrite A \"abc\n", 2, "unterminated"),
        ("open A\nwrite A hex:abc\n", 2, "odd number"),
        ("open A\nwrite A hex:zz\n", 2, "non-hex"),
        ("open A\nwrite A \"ab\"[1..5]\n", 2, "outside"),
        ("open A\nwrite A \"ab\"[2..1]\n", 2, "backwards"),
        ("open A\nwrite A rep(2000000, \"ab\")\n", 2, "too large"),
        ("open A\nwrite A rep(600000, \"ab\")\n", 2, "longer than"),
        ("open A\nwrite A nosuch\n", 2, "not defined"),
        ("open A\nwrite A msg(READ, _, 0)\n", 2, "'_'"),
        ("expect 1\n", 1, "before any operation"),
        ("open A\nexpect revents IN\n", 2, "does not apply"),
        ("open A\nwrite A \"x\"\nexpect bytes \"x\"\n", 3, "does not apply"),
        ("open A\npoll A B\n", 2, "not open"),
        ("open A\nopen B\npoll A B\nexpect revents IN\n", 4, "name the descriptors"),
        ("open A\nexpect errno ENOTHING\n", 2, "unknown errno"),
        ("open A\npoll A events=SOMETIMES\n", 2, "unknown poll event"),
        ("open A\nread A many\n", 2, "a number"),
        ("open A\nclose A extra\n", 2, "unexpected"),
        ("open A\nread A unordered { msg(READ, 1, 0) \n", 2, "not closed"),
        ("open A RDONLY WRONLY\n", 1, "more than one access mode"),
        ("open A\ndeviation: late\n", 2, "before the first step"),
        ("deviation:\n", 1, "needs a reason"),
        ("skip-on: linux\n", 1, "needs a reason"),
        ("dom0 write /abs x\n", 1, "relative"),
        ("dom0 frob data/x\n", 1, "unknown dom0"),
        ("dom0 write data/x \"a\\nb\"\n", 1, "one line"),
        ("sleep 99999999\n", 1, "10 minutes"),
        ("open A\nlet msg = \"x\"\n", 2, "cannot be a let name"),
        ("open A\nwrite A \"a\" . \"b\"\n", 2, "'.'"),
        ("open A\nwrite A msg(READ, 1, 0, \"x\", \"y\")\n", 2, "one payload"),
        ("open A\nwrite A msg(READ, 0x100000000, 0)\n", 2, "32 bits"),
    ];
    for (text, line, needle) in cases {
        let (l, m) = err(text);
        assert_eq!(l, *line, "{text:?}: {m}");
        assert!(m.contains(needle), "{text:?}: {m:?} lacks {needle:?}");
    }
}

#[test]
fn language_v2_steps() {
    let sc = parse(
        "v2",
        "generated: seed 1 index 2\nopen A\nwrite A msg(GET_PERMS, 1, 0, \"/local/domain/\" $domid \"/data\\0\")\n\
expect none 200\n\
either { expect errno EINVAL } or { read A msg(GET_PERMS, 1, 0, \"n\" $domid \"\\0\") }\n\
read A all\nread A all { msg(_, 2, _, _) ; msg(WATCH_EVENT, 0, 0, _) } quiet=50\n\
dom0 save\nclose A\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(sc.uses_domid);
    assert_eq!(sc.generated.as_deref(), Some("seed 1 index 2"));
    let k: Vec<StepKind> = sc.steps.into_iter().map(|s| s.kind).collect();
    assert_eq!(k[2], StepKind::Expect(Expect::None(200)));
    let StepKind::Either { alts } = &k[3] else { panic!("{:?}", k[3]) };
    assert_eq!(alts.len(), 2);
    assert_eq!(alts[0].expects, vec![Expect::Errno(22)]);
    assert!(alts[0].read.is_none());
    assert_eq!(alts[1].read.as_ref().map(|r| r.0.as_str()), Some("A"));
    assert_eq!(
        k[4],
        StepKind::ReadAll { fd: "A".into(), pats: vec![], quiet_ms: xenbus_conformance::DEFAULT_QUIET_MS }
    );
    let StepKind::ReadAll { pats, quiet_ms: 50, .. } = &k[5] else { panic!() };
    assert!(pats[0].any_payload && pats[1].any_payload);
    assert_eq!(pats[0].ty, Field::Any);
    assert_eq!(k[6], StepKind::Dom0(Dom0Op::SaveRestore));
    // No $domid: not flagged.
    assert!(!parse("n", "open A\n").unwrap().uses_domid);
}

#[test]
fn language_v2_errors() {
    let cases: &[(&str, usize, &str)] = &[
        ("open A\neither { expect ok }\n", 2, "at least two"),
        ("open A\neither { expect ok } or { close A }\n", 2, "at most one message read"),
        ("open A\neither { read A msg(READ, 1, 0) ; expect ok } or { expect ok }\n", 2, "last step"),
        ("open A\neither { expect ok } or { expect ok \n", 2, "not closed"),
        ("open A\neither { expect none 5 } or { expect ok }\n", 2, "cannot be an alternative"),
        ("open A\nclose A\nexpect none 10\n", 3, "does not apply"),
        ("dom0 write data/x 1\nexpect none 10\n", 2, "does not apply"),
        ("open A\nread A all quiet=100000\n", 2, "a minute"),
        ("open A\nwrite A msg(READ, 1, 0, _)\n", 2, "'_'"),
        ("open A\nread A msg(READ, 1, 0, _, _)\n", 2, "one payload"),
        ("generated:\n", 1, "origin"),
        ("open A\nread A unordered { msg(READ, 1, 0) ; }\n", 2, "expected msg"),
    ];
    for (text, line, needle) in cases {
        let (l, m) = err(text);
        assert_eq!(l, *line, "{text:?}: {m}");
        assert!(m.contains(needle), "{text:?}: {m:?} lacks {needle:?}");
    }
    // 64 messages may be listed, not 65.
    let pats = |n: usize| (0..n).map(|i| format!("msg(READ, {i}, 0, _)")).collect::<Vec<_>>().join(" ; ");
    assert!(parse("t", &format!("open A\nread A unordered {{ {} }}\n", pats(64))).is_ok());
    assert!(err(&format!("open A\nread A unordered {{ {} }}\n", pats(65))).1.contains("at most 64"));
}
