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

#[test]
fn permissions_and_quotas_show_through_the_node() {
    let mut o = Open::new(&Xenstored::default());
    // The home is dom0's, readable by the domain; data is the domain's.
    o.send(&msg(3, 1, 0, &p0("/local/domain/1")));
    assert_eq!(o.read_all(), msg(3, 1, 0, b"n0\0r1\0"));
    o.send(&msg(READ, 2, 0, &p0("/")));
    assert_eq!(o.read_all(), err_reply(2, 0, "EACCES"));
    o.send(&msg(WRITE, 3, 0, &pv("data/p", b"v")));
    o.read_all();
    // The owner may not give a node away (observed: EPERM).
    o.send(&msg(14, 4, 0, b"data/p\0n0\0"));
    assert_eq!(o.read_all(), err_reply(4, 0, "EPERM"));
    o.send(&msg(14, 5, 0, b"data/p\0n1\0r0\0"));
    assert_eq!(o.read_all(), msg(14, 5, 0, b"OK\0"));
    // A leaf's value: 2015 bytes fit the entry quota, 2016 do not.
    o.send(&msg(WRITE, 6, 0, &pv("data/q", &[b'v'; crate::sim::VALUE_QUOTA])));
    assert_eq!(o.read_all(), msg(WRITE, 6, 0, b"OK\0"));
    o.send(&msg(WRITE, 7, 0, &pv("data/q", &[b'v'; crate::sim::VALUE_QUOTA + 1])));
    assert_eq!(o.read_all(), err_reply(7, 0, "ENOSPC"));
    // MKDIR and RM without a payload: ENOMEM (4.17's left-over errno path).
    o.send(&msg(12, 8, 0, b""));
    assert_eq!(o.read_all(), err_reply(8, 0, "ENOMEM"));
    // The toolstack can do what the domain cannot.
    o.xs.set_perms("/local/domain/1/data/p", "n0 r1");
    o.send(&msg(WRITE, 9, 0, &pv("data/p", b"w")));
    assert_eq!(o.read_all(), err_reply(9, 0, "EACCES"));
    o.send(&msg(READ, 10, 0, &p0("data/p")));
    assert_eq!(o.read_all(), msg(READ, 10, 0, b"v"));
}

#[test]
fn removal_fires_watches_on_existing_nodes_below_only() {
    let mut o = Open::new(&Xenstored::default());
    o.send(&msg(WRITE, 1, 0, &pv("data/r/a/b", b"")));
    o.send(&msg(WATCH, 2, 0, &pt(b"data/r/a/b", b"below")));
    o.send(&msg(WATCH, 3, 0, &pt(b"data/r/a/ghost", b"ghost")));
    o.read_all();
    o.xs.rm("/local/domain/1/data/r/a");
    assert_eq!(o.read_all(), event(b"data/r/a/b", b"below"), "no node, no event for the ghost");
}
