//! `$domid` and own absolute paths: transcripts do not depend on the
//! domain id (two simulated domains with different ids give identical
//! transcripts), GET_PERMS of an own node can be written.

use xenbus_conformance::{compare, RunConfig, Runner};
use xenbus_conformance_check::{SimHost, DEVICE};

const SCN: &str = r#"
open A
write A msg(WRITE, 1, 0, "/local/domain/" $domid "/data/conf/d/x\0" "v")
read A msg(WRITE, 1, 0, "OK\0")
write A msg(GET_PERMS, 2, 0, "data/conf/d/x\0")
read A msg(GET_PERMS, 2, 0, "n" $domid "\0")
write A msg(GET_DOMAIN_PATH, 3, 0, $domid "\0")
read A msg(GET_DOMAIN_PATH, 3, 0, _)
write A msg(WATCH, 4, 0, "/local/domain/" $domid "/data/conf/d/x\0" "t\0")
read A all
close A
"#;

fn run(domid: u32) -> String {
    let mut h = SimHost::with_domid(domid, 5);
    let mut r = Runner::new(RunConfig::new("ours", DEVICE));
    let o = r.run_text(&mut h, "d", SCN);
    assert_eq!(o.failures, 0, "{}", o.transcript);
    o.transcript
}

#[test]
fn transcripts_do_not_name_the_domain() {
    let a = run(7);
    let b = run(1234);
    assert!(compare(&a, &b).is_empty(), "{a}\n{b}");
    assert!(a.contains("\" $domid \"/data/conf/d/x\\0\" \"v\") -> 46+1*len($domid)\n"), "{a}");
    assert!(a.contains("-> 03000000 02000000 00000000 <len $domid> 6e<$domid>00 ok\n"), "{a}");
    assert!(a.contains("-> 0a000000 03000000 00000000 <len> 2f6c6f63616c2f646f6d61696e2f<$domid>00 ok\n"), "{a}");
    assert!(a.contains("<len> 2f6c6f63616c2f646f6d61696e2f<$domid>2f646174612f636f6e662f642f780074"), "{a}");
    assert!(!a.contains("1234") && !b.contains("1234"));
}

#[test]
fn get_perms_replies_name_the_domain_canonically() {
    let scn = "open A\nwrite A msg(WRITE, 1, 0, \"data/conf/p/x\\0\" \"v\")\nread A msg(_, 1, _, _)\n\
write A msg(GET_PERMS, 2, 0, \"data/conf/p/x\\0\")\nread A msg(_, 2, _, _)\nclose A\n";
    let mut outs = Vec::new();
    for d in [7u32, 31] {
        let mut h = SimHost::with_domid(d, 5);
        let o = Runner::new(RunConfig::new("ours", DEVICE)).run_text(&mut h, "p", scn);
        outs.push(o.transcript);
    }
    assert!(compare(&outs[0], &outs[1]).is_empty(), "{}\n{}", outs[0], outs[1]);
    assert!(outs[0].contains("-> 03000000 02000000 00000000 <len> 6e<$domid>00 ok"), "{}", outs[0]);
}
