//! Name helpers.

use crate::path::*;

#[test]
fn canonical_names() {
    assert_eq!(canonicalize(7, "data/x"), "/local/domain/7/data/x");
    assert_eq!(canonicalize(7, "/abs"), "/abs");
    assert_eq!(canonicalize(7, "@releaseDomain"), "@releaseDomain");
    assert_eq!(canonicalize(7, ""), "/local/domain/7/");
    assert!(!is_valid_nodename("/local/domain/7/"));
    assert!(is_valid_nodename("/"));
    assert!(!is_valid_nodename(""));
    assert!(!is_valid_nodename("rel"));
}

#[test]
fn length_is_counted_after_the_domain_prefix() {
    let tail = "x".repeat(2048);
    assert!(is_valid_nodename(&format!("/local/domain/7/{tail}")));
    assert!(!is_valid_nodename(&format!("/local/domain/7/{tail}x")));
    assert!(is_valid_nodename(&format!("/local/domain/12345/{tail}")));
    // Six digits are not a domain prefix (%5u), so the whole name counts.
    assert!(!is_valid_nodename(&format!("/local/domain/123456/{tail}")));
    assert!(is_valid_nodename(&format!("/{}", "x".repeat(2047))));
    assert!(!is_valid_nodename(&format!("/{}", "x".repeat(2048))));
}

#[test]
fn parents_basenames_children() {
    assert_eq!(parent("/a/b/c"), "/a/b");
    assert_eq!(parent("/a"), "/");
    assert_eq!(parent("/"), "/");
    assert_eq!(basename("/a/b"), "b");
    assert!(is_child("/a/b", "/a"));
    assert!(is_child("/a", "/a"));
    assert!(!is_child("/ab", "/a"));
    assert!(is_child("@releaseDomain", "/"));
    assert!(!is_child("/a", "/a/b"));
}

#[test]
fn argument_parsing() {
    assert_eq!(onearg(b"x\0"), Ok(&b"x"[..]));
    assert_eq!(onearg(b"\0"), Ok(&b""[..]));
    assert_eq!(onearg(b""), Err(xs_wire::XsErrno::ENOENT));
    assert_eq!(onearg(b"x"), Err(xs_wire::XsErrno::EINVAL));
    assert_eq!(onearg(b"x\0y"), Err(xs_wire::XsErrno::EINVAL));
    assert_eq!(strings(b"a\0b\0c"), vec![&b"a"[..], b"b"]);
    assert_eq!(strings(b""), Vec::<&[u8]>::new());
    assert_eq!(atoi(b" -12x"), -12);
    assert_eq!(atoi(b"+3"), 3);
    assert_eq!(atoi(b"x3"), 0);
    assert_eq!(atoi(b"4294967297"), 1, "truncated to int");
    assert_eq!(atoi(b"99999999999999999999"), -1, "LONG_MAX truncated");
}
