//! Transactions: first-access copies, conflicts, quotas, failure.

use super::*;
use crate::quota;

const X: &str = "/local/domain/1/data/x";

#[test]
fn ids_count_up_and_the_quota_lets_eleven_through() {
    let (mut m, c) = domain(1);
    for want in 1..=quota::TRANSACTIONS as u32 + 1 {
        assert_eq!(start(&mut m, c), want);
    }
    assert_eq!(req(&mut m, c, MsgType::TRANSACTION_START, b"\0"), err(XsErrno::ENOSPC));
    assert_eq!(m.transactions(), 11);
    // Ids are per connection and skip live ones after a wrap.
    req_tx(&mut m, c, MsgType::TRANSACTION_END, 2, b"F\0").unwrap();
    m.set_next_transaction_id(c, 1);
    assert_eq!(start(&mut m, c), 2);
    m.set_next_transaction_id(c, u32::MAX);
    req_tx(&mut m, c, MsgType::TRANSACTION_END, 3, b"F\0").unwrap();
    assert_eq!(start(&mut m, c), u32::MAX);
}

#[test]
fn start_and_end_errors() {
    let (mut m, c) = domain(1);
    let t = start(&mut m, c);
    assert_eq!(req_tx(&mut m, c, MsgType::TRANSACTION_START, t, b"\0"), err(XsErrno::EBUSY));
    assert_eq!(req(&mut m, c, MsgType::TRANSACTION_START, b""), Ok(b"2\0".to_vec()), "empty payload (G14)");
    for bad in [&b"T"[..], b"X\0", b"T\0\0", b"", b"t\0", b"TF\0"] {
        assert_eq!(req_tx(&mut m, c, MsgType::TRANSACTION_END, t, bad), err(XsErrno::EINVAL), "{bad:?}");
    }
    assert_eq!(req(&mut m, c, MsgType::TRANSACTION_END, b"X\0"), err(XsErrno::EINVAL), "payload first (G8a)");
    assert_eq!(req(&mut m, c, MsgType::TRANSACTION_END, b"T\0"), err(XsErrno::ENOENT));
    assert_eq!(req_tx(&mut m, c, MsgType::TRANSACTION_END, t, b"F\0"), ok());
    assert_eq!(req_tx(&mut m, c, MsgType::TRANSACTION_END, t, b"F\0"), err(XsErrno::ENOENT), "gone");
}

#[test]
fn changes_are_private_until_commit() {
    let (mut m, c) = domain(1);
    let t = start(&mut m, c);
    assert_eq!(req_tx(&mut m, c, MsgType::WRITE, t, &pv("data/x", b"in")), ok());
    assert_eq!(req_tx(&mut m, c, MsgType::READ, t, b"data/x\0"), Ok(b"in".to_vec()));
    assert_eq!(req(&mut m, c, MsgType::READ, b"data/x\0"), err(XsErrno::ENOENT));
    assert_eq!(req_tx(&mut m, c, MsgType::DIRECTORY, t, b"data\0"), Ok(b"x\0".to_vec()));
    assert_eq!(req(&mut m, c, MsgType::DIRECTORY, b"data\0"), EMPTY);
    assert_eq!(req_tx(&mut m, c, MsgType::TRANSACTION_END, t, b"T\0"), ok());
    assert_eq!(req(&mut m, c, MsgType::READ, b"data/x\0"), Ok(b"in".to_vec()));
    // Abort discards.
    let t = start(&mut m, c);
    assert_eq!(req_tx(&mut m, c, MsgType::RM, t, b"data/x\0"), ok());
    assert_eq!(req_tx(&mut m, c, MsgType::READ, t, b"data/x\0"), err(XsErrno::ENOENT));
    assert_eq!(req_tx(&mut m, c, MsgType::TRANSACTION_END, t, b"F\0"), ok());
    assert_eq!(req(&mut m, c, MsgType::READ, b"data/x\0"), Ok(b"in".to_vec()));
}

#[test]
fn a_node_is_read_at_its_first_access_not_at_start() {
    let (mut m, c) = domain(1);
    m.tool_write(X, b"1").unwrap();
    let t = start(&mut m, c);
    m.tool_write(X, b"2").unwrap();
    assert_eq!(req_tx(&mut m, c, MsgType::READ, t, b"data/x\0"), Ok(b"2".to_vec()));
    m.tool_write("/local/domain/1/other", b"unrelated").unwrap();
    assert_eq!(req_tx(&mut m, c, MsgType::TRANSACTION_END, t, b"T\0"), ok(), "nothing it read changed");
}

#[test]
fn conflicts_are_eagain() {
    let (mut m, c) = domain(1);
    m.tool_write(X, b"1").unwrap();
    // Read, then changed outside.
    let t = start(&mut m, c);
    req_tx(&mut m, c, MsgType::READ, t, b"data/x\0").unwrap();
    m.tool_write(X, b"1").unwrap();
    assert_eq!(req_tx(&mut m, c, MsgType::TRANSACTION_END, t, b"T\0"), err(XsErrno::EAGAIN));
    assert_eq!(req_tx(&mut m, c, MsgType::TRANSACTION_END, t, b"F\0"), err(XsErrno::ENOENT), "G12");
    // Written (a write reads first), then changed outside.
    let t = start(&mut m, c);
    req_tx(&mut m, c, MsgType::WRITE, t, &pv("data/x", b"mine")).unwrap();
    m.tool_write(X, b"theirs").unwrap();
    assert_eq!(req_tx(&mut m, c, MsgType::TRANSACTION_END, t, b"T\0"), err(XsErrno::EAGAIN));
    assert_eq!(m.node(X).unwrap().value, b"theirs");
    // Read as missing, then created outside.
    let t = start(&mut m, c);
    assert_eq!(req_tx(&mut m, c, MsgType::READ, t, b"data/new\0"), err(XsErrno::ENOENT));
    m.tool_write("/local/domain/1/data/new", b"").unwrap();
    assert_eq!(req_tx(&mut m, c, MsgType::TRANSACTION_END, t, b"T\0"), err(XsErrno::EAGAIN));
    // Creating a node reads its parent: a sibling created outside conflicts.
    let t = start(&mut m, c);
    req_tx(&mut m, c, MsgType::WRITE, t, &pv("data/y", b"")).unwrap();
    m.tool_write("/local/domain/1/data/z", b"").unwrap();
    assert_eq!(req_tx(&mut m, c, MsgType::TRANSACTION_END, t, b"T\0"), err(XsErrno::EAGAIN));
    // Removed outside.
    let t = start(&mut m, c);
    req_tx(&mut m, c, MsgType::READ, t, b"data/x\0").unwrap();
    m.tool_rm(X).unwrap();
    assert_eq!(req_tx(&mut m, c, MsgType::TRANSACTION_END, t, b"T\0"), err(XsErrno::EAGAIN));
    // Two transactions: the second to commit loses.
    m.tool_write(X, b"0").unwrap();
    let a = start(&mut m, c);
    let b = start(&mut m, c);
    req_tx(&mut m, c, MsgType::WRITE, a, &pv("data/x", b"a")).unwrap();
    req_tx(&mut m, c, MsgType::WRITE, b, &pv("data/x", b"b")).unwrap();
    assert_eq!(req_tx(&mut m, c, MsgType::TRANSACTION_END, a, b"T\0"), ok());
    assert_eq!(req_tx(&mut m, c, MsgType::TRANSACTION_END, b, b"T\0"), err(XsErrno::EAGAIN));
    assert_eq!(m.node(X).unwrap().value, b"a");
    assert_eq!(m.transactions(), 0);
}

#[test]
fn a_failed_write_fails_the_commit_with_enomem() {
    let (mut m, c) = domain(1);
    let t = start(&mut m, c);
    assert_eq!(req_tx(&mut m, c, MsgType::WRITE, t, &pv("data/big", &[0; 2016])), err(XsErrno::ENOSPC));
    assert_eq!(req_tx(&mut m, c, MsgType::WRITE, t, &pv("data/ok", b"v")), ok());
    assert_eq!(req_tx(&mut m, c, MsgType::TRANSACTION_END, t, b"T\0"), err(XsErrno::ENOMEM));
    assert!(m.node("/local/domain/1/data/ok").is_none());
    // Abort is still fine.
    let t = start(&mut m, c);
    req_tx(&mut m, c, MsgType::WRITE, t, &pv("data/big", &[0; 2016])).unwrap_err();
    assert_eq!(req_tx(&mut m, c, MsgType::TRANSACTION_END, t, b"F\0"), ok());
}

#[test]
fn watches_fire_at_commit_before_the_ok() {
    let (mut m, c) = domain(1);
    m.tool_write("/local/domain/1/data/e", b"").unwrap();
    req(&mut m, c, MsgType::WATCH, b"data\0t\0").unwrap();
    let t = start(&mut m, c);
    let out = m.request(c, MsgType::WRITE.0, t, &pv("data/a/b", b"v"));
    assert!(out.before.is_empty(), "nothing fires inside");
    let out = m.request(c, MsgType::RM.0, t, b"data/e\0");
    assert!(out.before.is_empty());
    req_tx(&mut m, c, MsgType::WRITE, t, &pv("data/tmp", b"v")).unwrap();
    req_tx(&mut m, c, MsgType::RM, t, b"data/tmp\0").unwrap();
    req_tx(&mut m, c, MsgType::WRITE, t, &pv("data/k", b"v")).unwrap();
    let out = m.request(c, MsgType::TRANSACTION_END.0, t, b"T\0");
    assert_eq!(out.result(), Ok(&b"OK\0"[..]));
    let paths: Vec<&str> = out.before.iter().map(|e| e.path.as_str()).collect();
    // In the order of first access. A node created and removed inside is
    // nobody's to see (no permissions before or after): no event.
    assert_eq!(paths, ["data/a/b", "data/e", "data/k"]);
}

#[test]
fn reset_watches_drops_transactions_and_watches() {
    let (mut m, c) = domain(1);
    let t = start(&mut m, c);
    req(&mut m, c, MsgType::WATCH, b"data\0t\0").unwrap();
    assert_eq!(req(&mut m, c, MsgType::RESET_WATCHES, b""), ok());
    assert_eq!(m.transactions(), 0);
    assert!(m.watches(c).is_empty());
    assert_eq!(req_tx(&mut m, c, MsgType::TRANSACTION_END, t, b"F\0"), err(XsErrno::ENOENT));
}
