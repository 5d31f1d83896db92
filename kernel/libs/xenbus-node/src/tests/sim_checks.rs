//! The simulated xenstored itself answers like C xenstored for the cases the
//! other tests rely on.

use super::*;

#[test]
fn rm_semantics() {
    let mut o = Open::new(&Xenstored::default());
    o.send(&msg(WRITE, 1, 0, &pv("data/a/b/c", b"v")));
    o.read_all();
    // Parents were created.
    o.send(&msg(1, 2, 0, &p0("data/a")));
    assert_eq!(o.read_all(), msg(1, 2, 0, b"b\0"));
    // Missing node with an existing parent: OK; missing parent: ENOENT.
    o.send(&msg(RM, 3, 0, &p0("data/a/zz")));
    assert_eq!(o.read_all(), msg(RM, 3, 0, b"OK\0"));
    o.send(&msg(RM, 4, 0, &p0("data/q/zz")));
    assert_eq!(o.read_all(), err_reply(4, 0, "ENOENT"));
    o.send(&msg(RM, 5, 0, &p0("data/a")));
    assert_eq!(o.read_all(), msg(RM, 5, 0, b"OK\0"));
    assert_eq!(o.xs.read("/local/domain/1/data/a/b/c"), None);
    // Bad path characters.
    o.send(&msg(READ, 6, 0, &p0("data/bad path")));
    assert_eq!(o.read_all(), err_reply(6, 0, "EINVAL"));
}

#[test]
fn transactions_see_their_own_writes_and_commit_fires_watches() {
    let mut o = Open::new(&Xenstored::default());
    o.send(&msg(WATCH, 1, 0, &pt(b"data/t", b"w")));
    o.send(&msg(START, 2, 0, b"\0"));
    o.read_all();
    let t = o.file.transaction_ids().next().unwrap();
    o.send(&msg(WRITE, 3, t, &pv("data/t", b"x")));
    assert_eq!(o.read_all(), msg(WRITE, 3, t, b"OK\0"), "no event before commit");
    o.send(&msg(END, 4, t, b"T\0"));
    assert_eq!(o.read_all(), [event(b"data/t", b"w"), msg(END, 4, t, b"OK\0")].concat());
    // Abort discards.
    o.send(&msg(START, 5, 0, b"\0"));
    o.read_all();
    let t = o.file.transaction_ids().next().unwrap();
    o.send(&msg(RM, 6, t, &p0("data/t")));
    o.send(&msg(END, 7, t, b"F\0"));
    o.read_all();
    assert_eq!(o.xs.read("/local/domain/1/data/t").unwrap(), b"x");
}
