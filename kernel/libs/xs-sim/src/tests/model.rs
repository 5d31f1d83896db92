//! Dispatch, arguments, permissions, quotas and directories.

use super::*;
use crate::quota;

#[test]
fn dispatch_order_enosys_then_eacces_then_unknown_tx() {
    let (mut m, c) = domain(1);
    for ty in [15u32, 16, 20, 23, 24, 30, 0xFFFF, u32::MAX] {
        assert_eq!(m.request(c, ty, 0xBAD, b"x\0").result(), Err(XsErrno::ENOSYS), "type {ty}");
    }
    for ty in [0u32, 8, 9, 17, 18, 19] {
        assert_eq!(m.request(c, ty, 0xBAD, b"x\0").result(), Err(XsErrno::EACCES), "type {ty}");
    }
    for ty in [1u32, 2, 3, 6, 7, 10, 11, 12, 13, 14, 21, 22] {
        assert_eq!(m.request(c, ty, 0xBAD, b"data\0").result(), Err(XsErrno::ENOENT), "type {ty}");
    }
    // WATCH and UNWATCH ignore tx_id.
    assert_eq!(req_tx(&mut m, c, MsgType::WATCH, 0xBAD, b"data\0t\0"), ok());
    assert_eq!(req_tx(&mut m, c, MsgType::UNWATCH, 0xBAD, b"data\0t\0"), ok());
    // A privileged connection may read everything.
    let d0 = m.connect(Who::TOOLSTACK);
    assert_eq!(req(&mut m, d0, MsgType::DIRECTORY, b"/\0"), Ok(b"tool\0local\0".to_vec()));
}

#[test]
fn one_argument_payloads_and_their_left_over_errno() {
    let (mut m, c) = domain(1);
    for ty in [MsgType::READ, MsgType::GET_PERMS, MsgType::DIRECTORY] {
        assert_eq!(req(&mut m, c, ty, b""), err(XsErrno::ENOENT), "{ty:?} empty (probe B6)");
        assert_eq!(req(&mut m, c, ty, b"data"), err(XsErrno::EINVAL), "{ty:?} no NUL (README)");
        assert_eq!(req(&mut m, c, ty, b"data\0data\0"), err(XsErrno::EINVAL), "{ty:?} two strings");
    }
    // MKDIR and RM find "ENOENT" and no name: ENOMEM.
    assert_eq!(req(&mut m, c, MsgType::MKDIR, b""), err(XsErrno::ENOMEM));
    assert_eq!(req(&mut m, c, MsgType::RM, b""), err(XsErrno::ENOMEM));
    assert_eq!(req(&mut m, c, MsgType::MKDIR, b"data/x"), err(XsErrno::EINVAL));
    // WRITE needs one NUL: the path; everything after it is the value.
    assert_eq!(req(&mut m, c, MsgType::WRITE, b""), err(XsErrno::EINVAL));
    assert_eq!(req(&mut m, c, MsgType::WRITE, b"data/w"), err(XsErrno::EINVAL));
    assert_eq!(req(&mut m, c, MsgType::WRITE, b"data/w\0a\0b"), ok());
    assert_eq!(req(&mut m, c, MsgType::READ, b"data/w\0"), Ok(b"a\0b".to_vec()));
    assert_eq!(req(&mut m, c, MsgType::WRITE, b"\0v"), err(XsErrno::EINVAL), "empty path");
}

#[test]
fn node_names() {
    let (mut m, c) = domain(1);
    for bad in ["data/bad path", "data//x", "data/x/", "data/\u{e9}", "@releaseDomain", "data/a!"] {
        assert_eq!(req(&mut m, c, MsgType::READ, &p0(bad)), err(XsErrno::EINVAL), "{bad}");
    }
    assert_eq!(req(&mut m, c, MsgType::WRITE, &pv("data/A-z_0@9", b"v")), ok());
    assert_eq!(req(&mut m, c, MsgType::READ, &p0("/local/domain/1/data/A-z_0@9")), Ok(b"v".to_vec()));
    // Length: at most 2048 bytes after /local/domain/<id>/.
    let long = format!("data/{}", "x".repeat(2048 - 5));
    assert_eq!(req(&mut m, c, MsgType::READ, &p0(&long)), err(XsErrno::ENOENT));
    let longer = format!("{long}y");
    assert_eq!(req(&mut m, c, MsgType::READ, &p0(&longer)), err(XsErrno::EINVAL));
}

#[test]
fn domain_path_uses_atoi() {
    let (mut m, c) = domain(1);
    let gdp = MsgType::GET_DOMAIN_PATH;
    assert_eq!(req(&mut m, c, gdp, b"7\0"), Ok(b"/local/domain/7\0".to_vec()));
    assert_eq!(req(&mut m, c, gdp, b"0\0"), Ok(b"/local/domain/0\0".to_vec()));
    assert_eq!(req(&mut m, c, gdp, b"12abc\0"), Ok(b"/local/domain/12\0".to_vec()));
    assert_eq!(req(&mut m, c, gdp, b"abc\0"), Ok(b"/local/domain/0\0".to_vec()));
    assert_eq!(req(&mut m, c, gdp, b"-1\0"), Ok(b"/local/domain/4294967295\0".to_vec()));
    assert_eq!(req(&mut m, c, gdp, b""), err(XsErrno::EINVAL));
    assert_eq!(req(&mut m, c, gdp, b"7"), err(XsErrno::EINVAL));
}

#[test]
fn an_unprivileged_domain_sees_its_home_and_what_it_may() {
    let (mut m, c) = domain(1);
    let read = MsgType::READ;
    // Root, /tool, /local: dom0's, no access; a missing node below says EACCES too.
    assert_eq!(req(&mut m, c, read, b"/\0"), err(XsErrno::EACCES));
    assert_eq!(req(&mut m, c, read, b"/tool/xenstored\0"), err(XsErrno::EACCES));
    assert_eq!(req(&mut m, c, read, b"/tool/nothing\0"), err(XsErrno::EACCES));
    assert_eq!(req(&mut m, c, read, b"/local/domain/2/data\0"), err(XsErrno::EACCES));
    // The home is readable, not writable.
    assert_eq!(req(&mut m, c, read, b"/local/domain/1\0"), EMPTY);
    assert_eq!(req(&mut m, c, MsgType::GET_PERMS, b"/local/domain/1\0"), Ok(b"n0\0r1\0".to_vec()));
    assert_eq!(req(&mut m, c, MsgType::DIRECTORY, b"/local/domain/1\0"), Ok(b"data\0".to_vec()));
    assert_eq!(req(&mut m, c, MsgType::WRITE, &pv("/local/domain/1", b"x")), err(XsErrno::EACCES));
    assert_eq!(req(&mut m, c, MsgType::MKDIR, b"/local/domain/1\0"), err(XsErrno::EACCES));
    assert_eq!(req(&mut m, c, MsgType::RM, b"/local/domain/1\0"), err(XsErrno::EACCES));
    assert_eq!(req(&mut m, c, MsgType::WRITE, &pv("sibling", b"x")), err(XsErrno::EACCES));
    assert_eq!(req(&mut m, c, read, b"sibling\0"), err(XsErrno::ENOENT), "the home lets it know");
    assert_eq!(req(&mut m, c, MsgType::WRITE, &pv("/tool/x", b"1")), err(XsErrno::EACCES));
    assert_eq!(req(&mut m, c, MsgType::RM, b"/\0"), err(XsErrno::EACCES));
    // data is its own; new nodes are too.
    assert_eq!(req(&mut m, c, MsgType::GET_PERMS, b"data\0"), Ok(b"n1\0".to_vec()));
    assert_eq!(req(&mut m, c, MsgType::WRITE, &pv("data/a/b", b"v")), ok());
    assert_eq!(req(&mut m, c, MsgType::GET_PERMS, b"data/a\0"), Ok(b"n1\0".to_vec()));
    // A node the toolstack creates under data inherits n1: the domain owns it.
    m.tool_write("/local/domain/1/data/t", b"x").unwrap();
    assert_eq!(req(&mut m, c, MsgType::GET_PERMS, b"data/t\0"), Ok(b"n1\0".to_vec()));
    assert_eq!(req(&mut m, c, MsgType::RM, b"data/t\0"), ok());
    // RM: a missing node under an existing parent is fine, a missing parent is not.
    assert_eq!(req(&mut m, c, MsgType::RM, b"data/zz\0"), ok());
    assert_eq!(req(&mut m, c, MsgType::RM, b"data/q/zz\0"), err(XsErrno::ENOENT));
    // It may even remove its data directory; then it can no longer write there.
    assert_eq!(req(&mut m, c, MsgType::RM, b"data\0"), ok());
    assert_eq!(req(&mut m, c, MsgType::WRITE, &pv("data/a", b"v")), err(XsErrno::EACCES));
}

#[test]
fn set_perms_rules() {
    let (mut m, c) = domain(1);
    let d2 = m.connect(Who::domain(2));
    let sp = MsgType::SET_PERMS;
    req(&mut m, c, MsgType::WRITE, &pv("data/p", b"v")).unwrap();
    assert_eq!(req(&mut m, d2, MsgType::READ, b"/local/domain/1/data/p\0"), err(XsErrno::EACCES));
    assert_eq!(req(&mut m, c, sp, b"data/p\0n1\0r2\0"), ok());
    assert_eq!(req(&mut m, c, MsgType::GET_PERMS, b"data/p\0"), Ok(b"n1\0r2\0".to_vec()));
    assert_eq!(req(&mut m, d2, MsgType::READ, b"/local/domain/1/data/p\0"), Ok(b"v".to_vec()));
    assert_eq!(req(&mut m, d2, MsgType::WRITE, &pv("/local/domain/1/data/p", b"w")), err(XsErrno::EACCES));
    assert_eq!(req(&mut m, d2, sp, b"/local/domain/1/data/p\0n2\0"), err(XsErrno::EACCES), "not the owner");
    // The owner may not give the node away (observed: SET_PERMS to owner 0 → EPERM).
    assert_eq!(req(&mut m, c, sp, b"data/p\0n0\0"), err(XsErrno::EPERM));
    assert_eq!(req(&mut m, c, sp, b"data/p\0b1\0"), ok(), "changing the owner's own bits is fine");
    assert_eq!(req(&mut m, c, sp, b"data/none\0n1\0"), err(XsErrno::ENOENT));
    assert_eq!(req(&mut m, c, sp, b"/tool\0n0\0"), err(XsErrno::EACCES));
    assert_eq!(req(&mut m, c, sp, b"data/p\0"), err(XsErrno::EINVAL), "no permission");
    assert_eq!(req(&mut m, c, sp, b"data/p\0x1\0"), err(XsErrno::EINVAL));
    assert_eq!(req(&mut m, c, sp, b"data/p\0n1\0r2\0r3\0r4\0r5\0r6\0"), err(XsErrno::ENOSPC), "6 entries");
    assert_eq!(req(&mut m, c, sp, b"data/p\0n1\0r2\0r3\0r4\0r5\0"), ok(), "5 entries");
    // Special nodes.
    assert_eq!(req(&mut m, c, sp, b"@releaseDomain\0n1\0"), err(XsErrno::EACCES));
    assert_eq!(req(&mut m, c, sp, b"@bogus\0n1\0"), err(XsErrno::EINVAL));
    assert_eq!(req(&mut m, c, MsgType::GET_PERMS, b"@releaseDomain\0"), err(XsErrno::EINVAL));
}

#[test]
fn entry_size_quota() {
    let (mut m, c) = domain(1);
    let w = MsgType::WRITE;
    let limit = quota::ENTRY_SIZE - 24 - 8 - 1;
    assert_eq!(limit, 2015);
    assert_eq!(req(&mut m, c, w, &pv("data/v", &vec![b'a'; limit])), ok());
    assert_eq!(req(&mut m, c, w, &pv("data/v", &vec![b'b'; limit + 1])), err(XsErrno::ENOSPC));
    assert_eq!(m.node("/local/domain/1/data/v").unwrap().value, vec![b'a'; limit], "kept");
    assert_eq!(req(&mut m, c, w, &pv("data/new", &vec![b'b'; limit + 1])), err(XsErrno::ENOSPC));
    assert!(m.node("/local/domain/1/data/new").is_none());
    // The toolstack has no quota.
    m.tool_write("/local/domain/1/data/v", &[b'c'; 4000]).unwrap();
    assert_eq!(req(&mut m, c, MsgType::READ, b"data/v\0").unwrap().len(), 4000);
    // A directory's record holds its child names: 19 names of 100 bytes fit, the 20th not.
    for i in 0..19 {
        let name = format!("data/dir/{i:0100}");
        assert_eq!(req(&mut m, c, MsgType::MKDIR, &p0(&name)), ok(), "child {i}");
    }
    assert_eq!(req(&mut m, c, MsgType::MKDIR, &p0(&format!("data/dir/{:0100}", 19))), err(XsErrno::ENOSPC));
    assert_eq!(m.node("/local/domain/1/data/dir").unwrap().children.len(), 19);
    assert!(m.node(&format!("/local/domain/1/data/dir/{:0100}", 19)).is_none());
}

#[test]
fn entry_count_quota() {
    let (mut m, c) = domain(1);
    assert_eq!(m.store().owned_by(1), 1, "data");
    for j in 0..40 {
        assert_eq!(req(&mut m, c, MsgType::MKDIR, &p0(&format!("data/d{j}"))), ok());
    }
    let mut made = 0;
    let failed = 'outer: {
        for k in 0..24 {
            for j in 0..40 {
                let p = format!("data/d{j}/n{k}");
                match req(&mut m, c, MsgType::WRITE, &pv(&p, b"")) {
                    Ok(_) => made += 1,
                    Err(e) => break 'outer (p, e),
                }
            }
        }
        panic!("no quota");
    };
    assert_eq!(made, quota::ENTRIES - 41);
    assert_eq!(failed, ("data/d39/n23".to_string(), XsErrno::ENOSPC));
    assert_eq!(m.store().owned_by(1), quota::ENTRIES);
    assert!(m.node("/local/domain/1/data/d39/n23").is_none());
    // An existing node can still be written, and the toolstack can create.
    assert_eq!(req(&mut m, c, MsgType::WRITE, &pv("data/d0/n0", b"x")), ok());
    m.tool_write("/local/domain/1/data/d39/n23", b"").unwrap();
    // Removing frees entries.
    assert_eq!(req(&mut m, c, MsgType::RM, b"data/d0\0"), ok());
    assert_eq!(m.store().owned_by(1), quota::ENTRIES + 1 - 25);
    assert_eq!(req(&mut m, c, MsgType::WRITE, &pv("data/d0/n0", b"")), ok());
}

#[test]
fn directories_keep_creation_order() {
    let (mut m, c) = domain(1);
    for n in ["b", "a", "c"] {
        req(&mut m, c, MsgType::WRITE, &pv(&format!("data/d/{n}"), b"")).unwrap();
    }
    assert_eq!(req(&mut m, c, MsgType::DIRECTORY, b"data/d\0"), Ok(b"b\0a\0c\0".to_vec()));
    req(&mut m, c, MsgType::RM, b"data/d/a\0").unwrap();
    req(&mut m, c, MsgType::MKDIR, b"data/d/a\0").unwrap();
    assert_eq!(req(&mut m, c, MsgType::DIRECTORY, b"data/d\0"), Ok(b"b\0c\0a\0".to_vec()));
    assert_eq!(req(&mut m, c, MsgType::DIRECTORY, b"data/d/a\0"), EMPTY);
    assert_eq!(req(&mut m, c, MsgType::DIRECTORY, b"data/none\0"), err(XsErrno::ENOENT));
}

#[test]
fn directory_part_carries_the_directory_generation() {
    let (mut m, c) = domain(1);
    for n in ["b", "a"] {
        req(&mut m, c, MsgType::WRITE, &pv(&format!("data/d/{n}"), b"")).unwrap();
    }
    let gen = m.node("/local/domain/1/data/d").unwrap().generation;
    let part = |m: &mut Model, off: &str| req(m, c, MsgType::DIRECTORY_PART, &[p0("data/d"), p0(off)].concat());
    assert_eq!(part(&mut m, "0"), Ok(format!("{gen}\0b\0a\0\0").into_bytes()));
    assert_eq!(part(&mut m, "2"), Ok(format!("{gen}\0a\0\0").into_bytes()));
    assert_eq!(part(&mut m, "4"), Ok(format!("{gen}\0\0").into_bytes()));
    assert_eq!(part(&mut m, "99"), Ok(format!("{gen}\0\0").into_bytes()));
    assert_eq!(part(&mut m, "-1"), Ok(format!("{gen}\0\0").into_bytes()), "atoi, then unsigned");
    // Writing a child's value does not change the directory; adding a child does.
    req(&mut m, c, MsgType::WRITE, &pv("data/d/a", b"v")).unwrap();
    assert_eq!(m.node("/local/domain/1/data/d").unwrap().generation, gen);
    req(&mut m, c, MsgType::MKDIR, b"data/d/c\0").unwrap();
    let gen2 = m.node("/local/domain/1/data/d").unwrap().generation;
    assert!(gen2 > gen);
    assert_eq!(part(&mut m, "0"), Ok(format!("{gen2}\0b\0a\0c\0\0").into_bytes()));
    let dp = MsgType::DIRECTORY_PART;
    assert_eq!(req(&mut m, c, dp, b"data/d\0"), err(XsErrno::EINVAL));
    assert_eq!(req(&mut m, c, dp, b"data/d\x000\x000\0"), err(XsErrno::EINVAL));
    assert_eq!(req(&mut m, c, dp, b"data/none\x000\0"), err(XsErrno::ENOENT));
}

#[test]
fn long_directories_are_e2big_and_come_in_parts() {
    let (mut m, c) = domain(1);
    let names: Vec<String> = (0..400).map(|i| format!("child-{i:05}")).collect();
    for n in &names {
        m.tool_mkdir(&format!("/local/domain/1/data/big/{n}")).unwrap();
    }
    assert_eq!(req(&mut m, c, MsgType::DIRECTORY, b"data/big\0"), err(XsErrno::E2BIG));
    let gen = m.node("/local/domain/1/data/big").unwrap().generation;
    let prefix = format!("{gen}\0").into_bytes();
    let mut got: Vec<u8> = Vec::new();
    let mut parts = 0;
    loop {
        let off = got.len().to_string();
        let r = req(&mut m, c, MsgType::DIRECTORY_PART, &[p0("data/big"), p0(&off)].concat()).unwrap();
        parts += 1;
        assert!(r.len() <= xs_wire::PAYLOAD_MAX);
        let body = r.strip_prefix(&prefix[..]).unwrap();
        if let Some(last) = body.strip_suffix(b"\0\0") {
            got.extend_from_slice(last);
            got.push(0);
            break;
        }
        // Whole names only: "<gen>\0" and 340 names of 12 bytes fit in 4096.
        assert_eq!(body.len(), 340 * 12);
        got.extend_from_slice(body);
    }
    assert_eq!(parts, 2);
    let want: Vec<u8> = names.iter().flat_map(|n| n.bytes().chain([0])).collect();
    assert_eq!(got, want);
}
