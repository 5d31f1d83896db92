use super::*;

fn cmd(env: &[&str], argv: &[&str], bg: bool) -> Command {
    Command {
        env: env.iter().map(|s| s.to_string()).collect(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        background: bg,
    }
}

#[test]
fn lists_and_background() {
    let l = parse("xenstore-write data/hello world; xenstore-read data/hello & xenstore-ls data").unwrap();
    assert_eq!(
        l,
        vec![
            cmd(&[], &["xenstore-write", "data/hello", "world"], false),
            cmd(&[], &["xenstore-read", "data/hello"], true),
            cmd(&[], &["xenstore-ls", "data"], false),
        ]
    );
    assert_eq!(parse("  ;; \n ; ").unwrap(), vec![]);
    assert_eq!(
        parse("a\nb&\nc").unwrap(),
        vec![cmd(&[], &["a"], false), cmd(&[], &["b"], true), cmd(&[], &["c"], false)]
    );
}

#[test]
fn quoting() {
    let l = parse(r#"w 'a b;c' "d \"e\" \\ \n" f\ g\; 'h'"i"j"#).unwrap();
    assert_eq!(l, vec![cmd(&[], &["w", "a b;c", "d \"e\" \\ \\n", "f g;", "hij"], false)]);
    assert_eq!(parse("w ''").unwrap(), vec![cmd(&[], &["w", ""], false)]);
    assert!(parse("w 'x").is_err());
    assert!(parse("w \"x").is_err());
    assert!(parse("w x\\").is_err());
}

#[test]
fn assignments_and_comments() {
    let l = parse("# a comment; not a command\nA=1 B_2=x=y prog C=3 # trailing\n").unwrap();
    assert_eq!(l, vec![cmd(&["A=1", "B_2=x=y"], &["prog", "C=3"], false)]);
    assert!(parse("A=1").is_err());
    assert!(parse("& x").is_err());
    assert!(!is_assignment("=x"));
    assert!(!is_assignment("1A=x"));
    assert!(!is_assignment("a-b=x"));
    assert!(is_assignment("_=x"));
    // '#' inside a word is not a comment.
    assert_eq!(parse("a#b").unwrap(), vec![cmd(&[], &["a#b"], false)]);
}

#[test]
fn escaping() {
    assert_eq!(escape(b"ab\\c d\n\x00\xff~"), "ab\\\\c\\x20d\\x0a\\x00\\xff~");
}

/// The harness's decoder, in Rust: undoes `escape`.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b[i + 1] == b'\\' {
                out.push(b'\\');
                i += 2;
            } else {
                out.push(u8::from_str_radix(&s[i + 2..i + 4], 16).unwrap());
                i += 4;
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn records_round_trip() {
    let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let r =
        Outcome { n: 7, status: 1, load_us: 5, run_us: 9, stdout: data.clone(), stderr: b"err\n".to_vec(), dropped: 0 };
    let lines = records(&r);
    assert_eq!(lines[0], "PROGRAM-RESULT 7 status=1 load_us=5 run_us=9 out=1000 err=4 dropped=0");
    assert_eq!(lines.last().unwrap(), "PROGRAM-END 7");
    let mut out = Vec::new();
    let mut err = Vec::new();
    for l in &lines[1..lines.len() - 1] {
        let mut p = l.splitn(4, ' ');
        assert_eq!(p.next(), Some("PROGRAM-DATA"));
        assert_eq!(p.next(), Some("7"));
        let tag = p.next().unwrap();
        let chunk = p.next().unwrap();
        assert!(chunk.len() <= CHUNK);
        assert!(!chunk.contains(' '));
        match tag {
            "out" => out.extend(unescape(chunk)),
            "err" => err.extend(unescape(chunk)),
            _ => panic!(),
        }
    }
    assert_eq!(out, data);
    assert_eq!(err, b"err\n");
    // Nothing to show: only the result and the end.
    let e = records(&Outcome { n: 1, ..Default::default() });
    assert_eq!(e.len(), 2);
}

#[test]
fn seconds() {
    assert_eq!(parse_seconds("1"), Some(1_000_000_000));
    assert_eq!(parse_seconds("0.5"), Some(500_000_000));
    assert_eq!(parse_seconds(".25"), Some(250_000_000));
    assert_eq!(parse_seconds("2."), Some(2_000_000_000));
    assert_eq!(parse_seconds(""), None);
    assert_eq!(parse_seconds("."), None);
    assert_eq!(parse_seconds("x"), None);
    assert_eq!(parse_seconds("1.x"), None);
    assert_eq!(parse_seconds("99999999999999999999"), None);
}

#[test]
fn variables() {
    let mut l = parse("X=${DOMID} chmod data/a n${DOMID} '${DOMID}${DOMID}' plain").unwrap();
    expand(&mut l, &[("DOMID", "7")]).unwrap();
    assert_eq!(l, vec![cmd(&["X=7"], &["chmod", "data/a", "n7", "77", "plain"], false)]);
    let mut bad = parse("a ${NOPE}").unwrap();
    assert!(expand(&mut bad, &[("DOMID", "7")]).is_err());
    let mut open = parse("a ${DOMID").unwrap();
    assert!(expand(&mut open, &[("DOMID", "7")]).is_err());
}
