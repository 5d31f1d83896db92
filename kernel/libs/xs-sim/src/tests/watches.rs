//! Watches: registration, firing, paths, permissions, quota.

use super::*;
use crate::model::Event;
use crate::perms::{Perm, NONE, READ};
use crate::quota;

fn ev(c: ConnId, path: &str, token: &[u8]) -> Event {
    Event { conn: c, path: path.to_string(), token: token.to_vec() }
}

#[test]
fn ok_then_the_initial_event() {
    let (mut m, c) = domain(1);
    let out = m.request(c, MsgType::WATCH.0, 0, b"data/w\0tok\0");
    assert_eq!(out.result(), Ok(&b"OK\0"[..]));
    assert!(out.before.is_empty());
    assert_eq!(out.after, [ev(c, "data/w", b"tok")]);
    // Absolute and special paths fire with themselves; any @ name is taken.
    for p in ["/local/domain/1/data/w", "@releaseDomain", "@introduceDomain", "@bogus"] {
        let out = m.request(c, MsgType::WATCH.0, 0, &[p0(p), p0("t")].concat());
        assert_eq!(out.after, [ev(c, p, b"t")], "{p}");
    }
    // The token is bytes, empty allowed.
    let out = m.request(c, MsgType::WATCH.0, 0, b"data/w\0\xff\x01 x\0");
    assert_eq!(out.after, [ev(c, "data/w", b"\xff\x01 x")]);
    let out = m.request(c, MsgType::WATCH.0, 0, b"data/w\0\0");
    assert_eq!(out.after, [ev(c, "data/w", b"")]);
}

#[test]
fn registration_errors() {
    let (mut m, c) = domain(1);
    let w = MsgType::WATCH;
    assert_eq!(req(&mut m, c, w, b"data/w\0t\0"), ok());
    assert_eq!(req(&mut m, c, w, b"data/w\0t\0"), err(XsErrno::EEXIST));
    assert_eq!(req(&mut m, c, w, b"/local/domain/1/data/w\0t\0"), err(XsErrno::EEXIST), "same node");
    for bad in
        [&b"data/w\0t\x002\0"[..], b"data/w\0t", b"data/w", b"", b"\0t\0", b"data/bad path\0t\0", b"data//w\0t\0"]
    {
        assert_eq!(req(&mut m, c, w, bad), err(XsErrno::EINVAL), "{:?}", String::from_utf8_lossy(bad));
    }
    let long = format!("@{}", "x".repeat(2048));
    assert_eq!(req(&mut m, c, w, &[p0(&long), p0("t")].concat()), err(XsErrno::EINVAL));
    let un = MsgType::UNWATCH;
    assert_eq!(req(&mut m, c, un, b"data/w\0other\0"), err(XsErrno::ENOENT));
    assert_eq!(req(&mut m, c, un, b"data/w\0t\0x\0"), err(XsErrno::EINVAL));
    assert_eq!(req(&mut m, c, un, b"/local/domain/1/data/w\0t\0"), ok(), "matched absolute");
    assert_eq!(req(&mut m, c, un, b"data/w\0t\0"), err(XsErrno::ENOENT));
}

#[test]
fn the_130th_watch_is_e2big() {
    let (mut m, c) = domain(1);
    for i in 0..=quota::WATCHES {
        assert_eq!(req(&mut m, c, MsgType::WATCH, &[p0("data"), p0(&i.to_string())].concat()), ok(), "watch {i}");
    }
    assert_eq!(req(&mut m, c, MsgType::WATCH, b"data\0x\0"), err(XsErrno::E2BIG));
    assert_eq!(m.watches(c).len(), 129);
    req(&mut m, c, MsgType::UNWATCH, b"data\x000\0").unwrap();
    assert_eq!(req(&mut m, c, MsgType::WATCH, b"data\0x\0"), ok());
}

#[test]
fn changes_fire_watches_on_the_node_and_its_ancestors_before_the_reply() {
    let (mut m, c) = domain(1);
    for (p, t) in [("data/w", "rel"), ("/local/domain/1/data/w", "abs"), ("data", "sub"), ("data/w/deep", "deep")] {
        req(&mut m, c, MsgType::WATCH, &[p0(p), p0(t)].concat()).unwrap();
    }
    let out = m.request(c, MsgType::WRITE.0, 0, &pv("data/w", b"v"));
    assert_eq!(out.result(), Ok(&b"OK\0"[..]));
    assert_eq!(out.before, [ev(c, "data/w", b"rel"), ev(c, "/local/domain/1/data/w", b"abs"), ev(c, "data/w", b"sub")]);
    assert!(out.after.is_empty());
    let out = m.request(c, MsgType::WRITE.0, 0, &pv("data/ww", b"v"));
    assert_eq!(out.before, [ev(c, "data/ww", b"sub")], "a sibling with a common prefix is not a child");
    // MKDIR of an existing node fires nothing; of a new one, like a write.
    assert!(m.request(c, MsgType::MKDIR.0, 0, b"data/w\0").before.is_empty());
    assert_eq!(m.request(c, MsgType::MKDIR.0, 0, b"data/m\0").before, [ev(c, "data/m", b"sub")]);
    // Failed requests fire nothing.
    assert!(m.request(c, MsgType::WRITE.0, 0, &pv("data/w", &[0; 3000])).before.is_empty());
}

#[test]
fn removal_fires_exact_watches_below_and_every_watch_above() {
    let (mut m, c) = domain(1);
    req(&mut m, c, MsgType::WRITE, &pv("data/r/a/b", b"")).unwrap();
    req(&mut m, c, MsgType::WRITE, &pv("data/r/a/c", b"")).unwrap();
    for (p, t) in [("data/r/a/b", "b"), ("data/r/a/ghost", "ghost"), ("data", "top"), ("data/r/a", "a")] {
        req(&mut m, c, MsgType::WATCH, &[p0(p), p0(t)].concat()).unwrap();
    }
    let out = m.request(c, MsgType::RM.0, 0, b"data/r/a\0");
    assert_eq!(out.result(), Ok(&b"OK\0"[..]));
    // Children first (b, then c which nobody watches exactly), then a.
    assert_eq!(out.before, [ev(c, "data/r/a/b", b"b"), ev(c, "data/r/a", b"top"), ev(c, "data/r/a", b"a")]);
    // Removing a missing node fires nothing.
    assert!(m.request(c, MsgType::RM.0, 0, b"data/r/a\0").before.is_empty());
}

#[test]
fn events_go_only_where_the_node_or_its_parent_is_readable() {
    let (mut m, c) = domain(1);
    let d2 = m.connect(Who::domain(2));
    req(&mut m, c, MsgType::WATCH, b"/\0root\0").unwrap();
    req(&mut m, d2, MsgType::WATCH, b"/local/domain/1/data/p\0two\0").unwrap();
    // dom0's nodes: nobody unprivileged sees them change.
    assert!(m.tool_write("/tool/x", b"1").unwrap().is_empty());
    // Domain 1's node: domain 1 sees it, domain 2 does not.
    let evs = m.tool_write("/local/domain/1/data/p", b"1").unwrap();
    assert_eq!(evs, [ev(c, "/local/domain/1/data/p", b"root")]);
    // Giving domain 2 read access fires for it too (new permissions).
    let out = m.request(c, MsgType::SET_PERMS.0, 0, b"data/p\0n1\0r2\0");
    assert_eq!(out.before, [ev(c, "/local/domain/1/data/p", b"root"), ev(d2, "/local/domain/1/data/p", b"two")]);
    // Taking it away fires for it once more (old permissions).
    let out = m.request(c, MsgType::SET_PERMS.0, 0, b"data/p\0n1\0");
    assert_eq!(out.before, [ev(c, "/local/domain/1/data/p", b"root"), ev(d2, "/local/domain/1/data/p", b"two")]);
    let evs = m.tool_write("/local/domain/1/data/p", b"2").unwrap();
    assert_eq!(evs, [ev(c, "/local/domain/1/data/p", b"root")]);
}

#[test]
fn special_events_need_read_access_to_the_special_node() {
    let (mut m, c) = domain(1);
    req(&mut m, c, MsgType::WATCH, b"@releaseDomain\0rd\0").unwrap();
    req(&mut m, c, MsgType::WATCH, b"/\0root\0").unwrap();
    assert!(m.fire_special("@releaseDomain").is_empty(), "dom0-only by default");
    let d0 = m.connect(Who::TOOLSTACK);
    req(&mut m, d0, MsgType::WATCH, b"@releaseDomain\0tool\0").unwrap();
    assert_eq!(m.fire_special("@releaseDomain"), [ev(d0, "@releaseDomain", b"tool")]);
    let perms = [Perm { bits: NONE, id: 0 }, Perm { bits: READ, id: 1 }];
    let mut p = p0("@releaseDomain");
    p.extend(crate::perms::format(&perms));
    assert_eq!(req(&mut m, d0, MsgType::SET_PERMS, &p), ok());
    assert_eq!(
        m.fire_special("@releaseDomain"),
        [ev(c, "@releaseDomain", b"rd"), ev(c, "@releaseDomain", b"root"), ev(d0, "@releaseDomain", b"tool")]
    );
    assert!(m.fire_special("@introduceDomain").is_empty(), "its own permissions");
}

#[test]
fn duplicate_watches_on_two_connections_each_fire() {
    let mut m = Model::new();
    m.add_domain(1);
    let a = m.connect(Who::domain(1));
    let b = m.connect(Who::domain(1));
    req(&mut m, a, MsgType::WATCH, b"data/w\0t\0").unwrap();
    req(&mut m, b, MsgType::WATCH, b"data/w\0t\0").unwrap();
    let evs = m.tool_write("/local/domain/1/data/w", b"1").unwrap();
    assert_eq!(evs, [ev(a, "data/w", b"t"), ev(b, "data/w", b"t")]);
    m.disconnect(a);
    let evs = m.tool_write("/local/domain/1/data/w", b"2").unwrap();
    assert_eq!(evs, [ev(b, "data/w", b"t")]);
}
