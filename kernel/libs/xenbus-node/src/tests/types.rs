//! Other message types (probe table h) and XS_RESET_WATCHES.

use super::*;

#[test]
fn privileged_types_get_eacces_from_xenstored() {
    let mut o = Open::new(&Xenstored::default());
    for ty in [0u32, 8, 9, 17, 18, 19] {
        let m = msg(ty, 0x100 + ty, 0, b"x\0");
        assert_eq!(o.write(&m), Ok(m.len()));
        assert_eq!(o.read_all(), err_reply(0x100 + ty, 0, "EACCES"), "type {ty}");
    }
}

#[test]
fn invalid_and_unknown_types_get_enosys_from_xenstored() {
    let mut o = Open::new(&Xenstored::default());
    for ty in [15u32, 16, 20, 23, 24, 30, 0xFFFF, 0x8000_0002, u32::MAX] {
        let m = msg(ty, 7, 0, b"");
        assert_eq!(o.write(&m), Ok(16));
        assert_eq!(o.read_all(), err_reply(7, 0, "ENOSYS"), "type {ty:#x}");
    }
    assert_eq!(o.xs.submitted().len(), 9, "all forwarded as is");
}

#[test]
fn directory_part_get_perms_set_perms_domain_path_pass_through() {
    let mut o = Open::new(&Xenstored::default());
    o.send(&msg(11, 1, 0, &pv("data/a", b"1")));
    o.send(&msg(12, 2, 0, &p0("data/b")));
    o.read_all();
    o.send(&msg(22, 3, 0, b"data\0\x30\0"));
    let (h, p) = o.one();
    assert_eq!(h.ty, 22);
    assert!(p.ends_with(b"\0a\0b\0\0"), "{:?}", String::from_utf8_lossy(&p));
    o.send(&msg(1, 4, 0, &p0("data")));
    assert_eq!(o.read_all(), msg(1, 4, 0, b"a\0b\0"));
    o.send(&msg(1, 5, 0, &p0("data/a")));
    assert_eq!(o.read_all(), msg(1, 5, 0, b""), "empty directory: header alone");
    o.send(&msg(3, 6, 0, &p0("data/a")));
    assert_eq!(o.read_all(), msg(3, 6, 0, b"n1\0"));
    o.send(&msg(14, 7, 0, b"/tool\0n0\0"));
    assert_eq!(o.read_all(), err_reply(7, 0, "EACCES"));
    o.send(&msg(10, 8, 0, b"1\0"));
    assert_eq!(o.read_all(), msg(10, 8, 0, b"/local/domain/1\0"));
    o.send(&msg(WRITE, 9, 0, &pv("/tool/x", b"1")));
    assert_eq!(o.read_all(), err_reply(9, 0, "EACCES"));
}

#[test]
fn reset_watches_is_local_to_the_open() {
    let xs = Xenstored::default();
    let mut o = Open::new(&xs);
    let mut other = Open::new(&xs);
    o.send(&msg(WATCH, 1, 0, &pt(b"data/r", b"t")));
    other.send(&msg(WATCH, 1, 0, &pt(b"data/r", b"o")));
    o.send(&msg(START, 2, 0, b"\0"));
    o.read_all();
    other.read_all();
    let t = o.file.transaction_ids().next().unwrap();
    o.send(&msg(RESET, 0x21, 0, b""));
    assert_eq!(o.read_all(), hex("15000000 21000000 00000000 03000000 4f4b00"));
    assert!(xs.submitted().iter().all(|m| MsgHeader::from_bytes(m).unwrap().ty != RESET), "not forwarded");
    assert_eq!(xs.aborted(), [t]);
    assert_eq!(xs.transactions(), 0);
    assert_eq!(o.file.watch_count(), 0);
    // R5: the watch no longer fires; the other open's still does.
    xs.write("/local/domain/1/data/r", b"x");
    assert_eq!(o.poll(), 0);
    assert_eq!(other.read_all(), event(b"data/r", b"o"));
    // The transaction is gone for this open.
    o.send(&msg(END, 3, t, b"F\0"));
    assert_eq!(o.read_all(), err_reply(3, t, "ENOENT"));
    // UNWATCH afterwards is still OK.
    o.send(&msg(UNWATCH, 4, 0, &pt(b"data/r", b"t")));
    assert_eq!(o.read_all(), msg(UNWATCH, 4, 0, b"OK\0"));
}

#[test]
fn reset_watches_checks_tx_and_echoes_it() {
    let mut o = Open::new(&Xenstored::default());
    o.send(&msg(RESET, 1, 0x99, b""));
    assert_eq!(o.read_all(), err_reply(1, 0x99, "ENOENT"));
    o.send(&msg(START, 2, 0, b"\0"));
    o.read_all();
    let t = o.file.transaction_ids().next().unwrap();
    o.send(&msg(RESET, 3, t, b"anything"));
    assert_eq!(o.read_all(), msg(RESET, 3, t, b"OK\0"));
    assert_eq!(o.file.transaction_ids().count(), 0);
}

#[test]
fn reset_does_not_abort_a_tx_whose_end_is_in_flight() {
    let xs = Xenstored::default();
    let mut o = Open::new(&xs);
    o.send(&msg(START, 1, 0, b"\0"));
    o.read_all();
    let t = o.file.transaction_ids().next().unwrap();
    xs.hold(true);
    o.send(&msg(END, 2, t, b"T\0"));
    o.send(&msg(RESET, 3, 0, b""));
    assert!(xs.aborted().is_empty());
    xs.release_all();
    assert_eq!(o.read_all(), [msg(RESET, 3, 0, b"OK\0"), msg(END, 2, t, b"OK\0")].concat());
}
